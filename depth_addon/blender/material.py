"""Photo images and unlit materials that show the photo's exact colours.

An Emission shader of strength 1 with the scene's view transform 'Standard' reproduces the texture's
sRGB values exactly in EEVEE and Cycles; Workbench shows the same texture with flat lighting and
colour type 'TEXTURE' (set in :mod:`.render`).
"""
from __future__ import annotations

import bpy
import numpy as np


def image_from_array(name: str, rgb: np.ndarray, alpha: np.ndarray | None = None, *,
                     pack: bool = True) -> "bpy.types.Image":
    """A Blender image holding an sRGB picture.

    Args:
        name: datablock name.
        rgb: (H, W, 3) float32 in [0, 1], sRGB-encoded, row 0 at the top (as in files).
        alpha: optional (H, W) float32 in [0, 1].
        pack: pack the pixels into the .blend (PNG) so a saved file is self-contained.
    Returns:
        an 8-bit sRGB image (Blender stores rows bottom-up; this flips them).
    """
    h, w = rgb.shape[:2]
    img = bpy.data.images.new(name, width=w, height=h, alpha=alpha is not None)
    # colour space first: changing it later regenerates the buffer and drops the pixels
    img.colorspace_settings.name = "sRGB"
    rgba = np.ones((h, w, 4), np.float32)
    rgba[..., :3] = rgb
    if alpha is not None:
        rgba[..., 3] = alpha
    img.pixels.foreach_set(np.ascontiguousarray(rgba[::-1]).ravel())
    if pack:
        img.pack()
    return img


def float_image(name: str, values: np.ndarray) -> "bpy.types.Image":
    """A single-channel float image (non-colour data) for displacement, row 0 at the top.

    Args:
        values: (H, W) float32 (any range; Displace reads the value as is).
    """
    h, w = values.shape
    img = bpy.data.images.new(name, width=w, height=h, alpha=False, float_buffer=True)
    img.colorspace_settings.name = "Non-Color"  # before the pixels (see image_from_array)
    rgba = np.ones((h, w, 4), np.float32)
    rgba[..., :3] = values[::-1, :, None]
    img.pixels.foreach_set(rgba.ravel())
    img.pack()
    return img


def _nodes_material(name: str):
    mat = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        mat.use_nodes = True
    nt = mat.node_tree
    nt.nodes.clear()
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    return mat, nt, out


def photo_material(name: str, image: "bpy.types.Image",
                   alpha_attribute: str | None = None) -> "bpy.types.Material":
    """Unlit material: Image Texture (UVMap) -> Emission (strength 1) -> output.

    The image node is the active node so Workbench's 'TEXTURE' colour shows it too.

    Args:
        name: datablock name; image: the photo (sRGB).
        alpha_attribute: name of a float point attribute holding per-vertex opacity in [0, 1];
            when given, a Mix Shader blends Transparent BSDF -> Emission by it and the material
            renders BLENDED in EEVEE (sorted alpha blending, smooth at 16 samples where
            DITHERED is noisy; 'blend_method' on 4.2). Cycles blends it exactly; Workbench ignores
            shader transparency and draws the faces opaque.
    """
    mat, nt, out = _nodes_material(name)
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.image = image
    tex.interpolation = "Linear"
    tex.extension = "EXTEND"
    em = nt.nodes.new("ShaderNodeEmission")
    em.inputs["Strength"].default_value = 1.0
    nt.links.new(tex.outputs["Color"], em.inputs["Color"])
    if alpha_attribute is None:
        nt.links.new(em.outputs["Emission"], out.inputs["Surface"])
    else:
        attr = nt.nodes.new("ShaderNodeAttribute")
        attr.attribute_type = "GEOMETRY"
        attr.attribute_name = alpha_attribute
        clear = nt.nodes.new("ShaderNodeBsdfTransparent")
        mix = nt.nodes.new("ShaderNodeMixShader")
        nt.links.new(attr.outputs["Fac"], mix.inputs[0])
        nt.links.new(clear.outputs["BSDF"], mix.inputs[1])
        nt.links.new(em.outputs["Emission"], mix.inputs[2])
        nt.links.new(mix.outputs["Shader"], out.inputs["Surface"])
        if hasattr(mat, "surface_render_method"):
            mat.surface_render_method = "BLENDED"
        if bpy.app.version < (4, 2, 0) and hasattr(mat, "blend_method"):
            mat.blend_method = "BLEND"
    nt.nodes.active = tex
    return mat


def point_material(name: str) -> "bpy.types.Material":
    """Unlit material coloured by the "Col" attribute (for point clouds)."""
    mat, nt, out = _nodes_material(name)
    attr = nt.nodes.new("ShaderNodeAttribute")
    attr.attribute_name = "Col"
    em = nt.nodes.new("ShaderNodeEmission")
    nt.links.new(attr.outputs["Color"], em.inputs["Color"])
    nt.links.new(em.outputs["Emission"], out.inputs["Surface"])
    return mat
