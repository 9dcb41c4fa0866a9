"""One call that turns a pipeline result into the 3D photo in a Blender scene (CLI and UI share it).

Creates (and on a rebuild replaces) a "3D Photo" collection holding the photo object (torn mesh,
point cloud or displaced plane) and a camera whose intrinsics match the photo, animated by the
preset; sets the scene camera, frame range, fps, resolution and colour management. Objects the user
made are never touched: only datablocks tagged with :data:`.mesh.GENERATED_KEY` are removed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import bpy
import numpy as np

from ..core import geometry as geo
from ..core.depth import displacement_map
if TYPE_CHECKING:  # the pipeline imports Pillow/OpenCV: not needed to find or remove a build
    from ..core.pipeline import PipelineResult
from . import camera as bcam
from . import material as bmat
from . import render as brender
from . import stereo as bstereo
from .mesh import GENERATED_KEY, mesh_from_quads, new_object, points_mesh

COLLECTION_NAME = "3D Photo"
BACKGROUND_NAME = "3D Photo background"
EDGES_NAME = "3D Photo soft edges"
FOCUS_NAME = "3D Photo Focus"
#: custom property naming what a generated object is: "photo", "background", "edges", "camera"
ROLE_KEY = "depth3d_role"


@dataclass
class Built:
    """The objects :func:`build` created."""

    collection: "bpy.types.Collection"
    photo_object: "bpy.types.Object"
    camera_object: "bpy.types.Object"
    image: "bpy.types.Image"


def remove_generated() -> int:
    """Delete every object, mesh, camera, material, image, node group and collection this add-on
    generated earlier (tagged with GENERATED_KEY). Returns how many datablocks were removed."""
    removed = 0
    for coll in (bpy.data.objects, bpy.data.collections, bpy.data.meshes, bpy.data.cameras,
                 bpy.data.materials, bpy.data.images, bpy.data.node_groups, bpy.data.textures):
        for idb in [i for i in coll if i.get(GENERATED_KEY)]:
            coll.remove(idb)
            removed += 1
    return removed


def _tag(idb):
    idb[GENERATED_KEY] = True
    return idb


def _photo_mesh_object(result: "PipelineResult", coll, mat, img=None):
    """The photo mesh; with soft edges (a torn mesh whose near copies carry alpha ramps and
    ``settings.soft_edges``) the ramp faces go to a second object, "3D Photo soft edges", with an
    alpha-blended copy of the material, so the opaque rest keeps writing depth in EEVEE."""
    m = result.mesh
    soft = m.soft_faces() if (img is not None and getattr(result.settings, "soft_edges", False)) else None
    if soft is not None and soft.any():
        ramp, m = m.split(soft)
        me = _tag(mesh_from_quads(EDGES_NAME, geo.cv_to_blender(ramp.positions), ramp.faces,
                                  ramp.uvs, {"alpha": ramp.alpha}))
        me.materials.append(_tag(bmat.photo_material(EDGES_NAME, img, alpha_attribute="alpha")))
        new_object(EDGES_NAME, me, coll)[ROLE_KEY] = "edges"
    polys = None if m.poly_verts is None else (m.poly_verts, m.poly_sizes)
    me = _tag(mesh_from_quads("3D Photo", geo.cv_to_blender(m.positions), m.faces, m.uvs,
                              polygons=polys))
    me.materials.append(mat)
    ob = new_object("3D Photo", me, coll)
    ob[ROLE_KEY] = "photo"
    return ob


def _plane_object(result: "PipelineResult", coll, mat):
    """Flat grid at the focus depth + Subdivision (simple) + Displace by inverse depth (live)."""
    ob = _photo_mesh_object(result, coll, mat)
    H, W = result.Z.shape
    n = displacement_map(result.Z)  # inverse depth in [0, 1], 1 = near
    w = 1.0 / result.Z
    w_far, w_near = np.percentile(w, [0.5, 99.5])
    n_focus = (1.0 / result.scene.focus - w_far) / max(w_near - w_far, 1e-12)
    img = _tag(bmat.float_image("3D Photo displacement", n))
    tex = _tag(bpy.data.textures.new("3D Photo displacement", "IMAGE"))
    tex.image = img
    tex.extension = "EXTEND"
    gw = result.mesh.grid[0]
    cell_px = W / max(gw - 1, 1)
    levels = int(min(6, max(0, math.ceil(math.log2(max(cell_px / result.settings.step, 1.0))))))
    sub = ob.modifiers.new("Subdivision", "SUBSURF")
    sub.subdivision_type = "SIMPLE"
    sub.levels = sub.render_levels = levels
    disp = ob.modifiers.new("Displace", "DISPLACE")
    disp.texture = tex
    disp.texture_coords = "UV"
    disp.uv_layer = "UVMap"
    disp.direction = "NORMAL"
    disp.mid_level = float(n_focus)
    near, focus = result.scene.near, result.scene.focus
    disp.strength = float((focus - near) / max(1.0 - n_focus, 1e-3))
    return ob


def _points_object(result: "PipelineResult", coll):
    pos, col = result.points
    me = _tag(points_mesh("3D Photo points", geo.cv_to_blender(pos), col))
    # each point covers its pixel footprint: radius = 0.6 * step * Z / f (scene units)
    step = max(result.settings.step, math.sqrt(result.Z.size / max(1, len(pos))))
    radius = (0.6 * step * pos[:, 2] / result.K[0, 0]).astype(np.float32)
    attr = me.attributes.new("radius", "FLOAT", "POINT")
    attr.data.foreach_set("value", radius)
    ob = new_object("3D Photo", me, coll)
    ob[ROLE_KEY] = "photo"
    mat = _tag(bmat.point_material("3D Photo points"))
    ng = _tag(bpy.data.node_groups.new("3D Photo points", "GeometryNodeTree"))
    ng.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    ng.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    gi, go = ng.nodes.new("NodeGroupInput"), ng.nodes.new("NodeGroupOutput")
    rad = ng.nodes.new("GeometryNodeInputNamedAttribute")
    rad.data_type = "FLOAT"
    rad.inputs["Name"].default_value = "radius"
    m2p = ng.nodes.new("GeometryNodeMeshToPoints")
    setm = ng.nodes.new("GeometryNodeSetMaterial")
    setm.inputs["Material"].default_value = mat
    ng.links.new(gi.outputs[0], m2p.inputs["Mesh"])
    ng.links.new(rad.outputs["Attribute"], m2p.inputs["Radius"])
    ng.links.new(m2p.outputs["Points"], setm.inputs["Geometry"])
    ng.links.new(setm.outputs["Geometry"], go.inputs[0])
    mod = ob.modifiers.new("Points", "NODES")
    mod.node_group = ng
    return ob


def _background_object(result: PipelineResult, coll):
    """The filled background layer (core.background) as its own object "3D Photo background" in
    ``coll``: the band mesh behind the torn edges with its packed inpainted texture and the same
    unlit material as the photo. Returns the object, or None when there is no layer."""
    bg = getattr(result, "background", None)
    if bg is None or len(bg.mesh.faces) == 0:
        return None
    img = _tag(bmat.image_from_array("3D Photo background", bg.texture))
    mat = _tag(bmat.photo_material("3D Photo background", img))
    me = _tag(mesh_from_quads("3D Photo background", geo.cv_to_blender(bg.mesh.positions),
                              bg.mesh.faces, bg.mesh.uvs))
    me.materials.append(mat)
    ob = new_object(BACKGROUND_NAME, me, coll)
    ob[ROLE_KEY] = "background"
    return ob


def replace_background(built: Built, result: "PipelineResult") -> None:
    """Swap the background layer object for ``result.background`` (after the camera move changed,
    which changes the band the layer must cover)."""
    for ob in [o for o in built.collection.objects if _role(o) == "background"]:
        me = ob.data
        mats = list(me.materials) if me else []
        bpy.data.objects.remove(ob)
        for mat in mats:
            if mat is None:
                continue
            for node in mat.node_tree.nodes if mat.node_tree else []:
                img = getattr(node, "image", None)
                if img is not None and img.get(GENERATED_KEY):
                    bpy.data.images.remove(img)
            bpy.data.materials.remove(mat)
        if me is not None and me.users == 0:
            bpy.data.meshes.remove(me)
    _background_object(result, built.collection)


def build(result: "PipelineResult", *, scene=None, animate: bool = True) -> Built:
    """Put the 3D photo of ``result`` into ``scene`` (default: the context scene).

    Replaces what an earlier build generated; creates the camera at the photo's pose with matching
    intrinsics, makes it the scene camera and sets the render resolution, engine and the 'Standard'
    view transform. With ``animate`` it also keys the camera move (:func:`animate_camera`).

    Returns:
        :class:`Built` with the created collection, photo object, camera object and photo image.
    """
    scene = scene or bpy.context.scene
    remove_generated()
    s = result.settings
    coll = _tag(bpy.data.collections.new(COLLECTION_NAME))
    scene.collection.children.link(coll)
    img = _tag(bmat.image_from_array("3D Photo image", result.photo.rgb, result.photo.alpha))
    if s.mode == "points":
        ob = _points_object(result, coll)
    else:
        mat = _tag(bmat.photo_material("3D Photo", img))
        ob = (_plane_object(result, coll, mat) if s.mode == "plane"
              else _photo_mesh_object(result, coll, mat, img))
        _background_object(result, coll)

    cam = _tag(bpy.data.cameras.new("3D Photo Camera"))
    cam_obj = new_object("3D Photo Camera", cam, coll)
    scene.camera = cam_obj
    built = Built(coll, ob, cam_obj, img)
    if animate:
        animate_camera(built, result, scene=scene)
    else:
        wr, hr = result.render_size
        _set_camera(cam_obj, result)
        cam_obj.matrix_world = bcam.pose_matrix(np.zeros(3), np.eye(3))
        brender.configure(scene, engine=s.engine, width=wr, height=hr, fps=s.fps, frame_start=1,
                          frame_end=scene.frame_end)
        _set_stereo(scene, cam_obj, result)
    return built


def apply_camera_options(built: Built, result: "PipelineResult", *, scene=None) -> None:
    """Re-apply the camera options that need no rebuild -- depth of field and stereo 3D views
    (``result.settings``: dof_fstop, focus_depth, stereo, interaxial, convergence) -- to a
    built 3D photo (the UI's Render Video does this with the panel's current values)."""
    scene = scene or bpy.context.scene
    _set_focus(built.camera_object, result)
    _set_stereo(scene, built.camera_object, result)


def _set_stereo(scene, cam_obj, result: "PipelineResult") -> None:
    """Stereo 3D views for ``settings.stereo`` (:mod:`.stereo`; a single view without it)."""
    from ..core.pipeline import stereo_rig

    fmt = getattr(result.settings, "stereo", None)
    bstereo.configure_stereo(scene, cam_obj.data, fmt, stereo_rig(result) if fmt else None)


def _set_camera(cam_obj, result: "PipelineResult") -> None:
    cam = cam_obj.data
    wr, hr = result.render_size
    bcam.set_intrinsics(cam, result.K_render, wr, hr)
    # clip range around the scene's depth so nothing is cut, whatever the units
    cam.clip_start = float(max(1e-4, result.scene.near * 0.05))
    cam.clip_end = float(np.nanmax(result.Z) * 10.0)
    _set_focus(cam_obj, result)


def _set_focus(cam_obj, result: "PipelineResult") -> None:
    """Depth of field from ``settings.dof_fstop`` / ``focus_depth``: an empty "3D Photo Focus" on
    the photo camera's optical axis at the focus depth (the camera path's pivot by default) is
    the camera's focus object; without an f-stop the camera has no depth of field."""
    s = result.settings
    cam = cam_obj.data
    old = next((o for o in bpy.data.objects if o.get(ROLE_KEY) == "focus"), None)
    fstop = getattr(s, "dof_fstop", None)
    if not fstop:
        cam.dof.use_dof = False
        cam.dof.focus_object = None
        if old is not None:
            bpy.data.objects.remove(old)
        return
    depth = float(getattr(s, "focus_depth", None) or result.scene.focus)
    if old is None:
        old = _tag(bpy.data.objects.new(FOCUS_NAME, None))
        old[ROLE_KEY] = "focus"
        old.empty_display_type = "SPHERE"
        old.empty_display_size = 0.02 * depth
        (cam_obj.users_collection[0] if cam_obj.users_collection else
         bpy.context.scene.collection).objects.link(old)
    old.location = tuple(float(v) for v in geo.CV_TO_BLENDER @ np.array([0.0, 0.0, depth]))
    bcam.set_depth_of_field(cam, old, float(fstop))


def animate_camera(built: Built, result: "PipelineResult", *, scene=None) -> None:
    """Key the camera move of ``result.camera`` on frames 1..F and set the scene to render it.

    Clears earlier keys of the camera, sets intrinsics (with the overscan zoom), the scene camera,
    frame range 1..F, fps, resolution and engine.
    """
    scene = scene or bpy.context.scene
    s = result.settings
    cam_obj = built.camera_object
    cam_obj.animation_data_clear()
    cam_obj.data.animation_data_clear()
    _set_camera(cam_obj, result)
    wr, hr = result.render_size
    keys = result.camera
    # focal lengths are for the photo; scale to the render's horizontal fit (and overscan zoom)
    scale = result.K_render[0, 0] / result.K[0, 0] * result.photo.rgb.shape[1] / wr
    bcam.animate(cam_obj, keys.positions, keys.rotations, keys.focal_px * scale,
                 result.photo.rgb.shape[1])
    scene.camera = cam_obj
    brender.configure(scene, engine=s.engine, width=wr, height=hr, fps=s.fps, frame_start=1,
                      frame_end=len(keys.positions))
    _set_stereo(scene, cam_obj, result)
    scene.frame_set(1)


def _role(ob) -> str:
    """What a generated object is (:data:`ROLE_KEY`; older builds: from its type and name)."""
    role = ob.get(ROLE_KEY)
    if role:
        return str(role)
    if ob.type == "CAMERA":
        return "camera"
    if ob.name.startswith(BACKGROUND_NAME):
        return "background"
    return "edges" if ob.name.startswith(EDGES_NAME) else "photo"


def find_built(scene=None):
    """The :class:`Built` of the 3D photo in ``scene`` from an earlier :func:`build`, or None."""
    scene = scene or bpy.context.scene
    coll = next((c for c in bpy.data.collections if c.get(GENERATED_KEY)), None)
    if coll is None:
        return None
    cam = next((o for o in coll.objects if o.type == "CAMERA"), None)
    photo = next((o for o in coll.objects if _role(o) == "photo"), None)
    img = next((i for i in bpy.data.images if i.get(GENERATED_KEY) and i.name.startswith("3D Photo image")), None)
    if cam is None or photo is None:
        return None
    return Built(coll, photo, cam, img)
