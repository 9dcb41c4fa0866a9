"""All settings of the sidebar in one PropertyGroup on the scene (``Scene.depth3d``).

:func:`to_settings` turns it into the core's :class:`~depth_addon.core.pipeline.Settings`, the
same dataclass the CLI fills from its arguments: the UI and the CLI drive one pipeline.
"""

import bpy
from bpy.props import (BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)

from .core import camera_path as cp
from .core import geometry as geo
from .core.monocular import DEFAULT_MODEL, KNOWN_MODELS

SOURCES = [
    ("PHOTO", "Photo", "One photo; depth from a monocular model"),
    ("STEREO", "Stereo Pair", "Left and right photos of a rectified stereo pair (or one side-by-side image)"),
    ("DEPTH", "Photo + Depth Map", "A photo and a depth map you already have"),
]
MODEL_ITEMS = [("PREFS", "Default (Preferences)", "The default model set in the add-on's preferences")]
MODEL_ITEMS += [(mid, label, f"{mid} ({licence})") for mid, (label, licence, _m) in KNOWN_MODELS.items()]
MODEL_ITEMS.append(("CUSTOM", "Custom id or folder", "Any transformers depth-estimation model id or a local folder"))
PRESET_ITEMS = [(p.upper().replace("-", "_"), p.replace("-", " ").title(),
                 ("loops seamlessly" if p in cp.LOOP_PRESETS else "one-way move")) for p in cp.PRESETS]
MODES = [
    ("MESH", "Mesh (torn)", "Perspective-correct mesh torn at depth edges"),
    ("POINTS", "Point Cloud", "One coloured point per sample (Geometry Nodes); exports PLY"),
    ("PLANE", "Displaced Plane", "Plane + Subdivision + Displace modifiers (non-destructive)"),
]


class DEPTH_PG_settings(bpy.types.PropertyGroup):
    """Settings of the 3D Photo sidebar (stored in the .blend with the scene)."""

    source: EnumProperty(name="Source", items=SOURCES, default="PHOTO")
    image_path: StringProperty(name="Photo", subtype="FILE_PATH",
                               description="Photo file (JPEG, PNG, TIFF, HEIC …)")
    image: PointerProperty(name="Photo Image", type=bpy.types.Image,
                           description="Use an image already in the .blend instead of a file")
    right_path: StringProperty(name="Right", subtype="FILE_PATH",
                               description="Right image of the stereo pair")
    right_image: PointerProperty(name="Right Image", type=bpy.types.Image)
    sbs: EnumProperty(name="Layout", items=[
        ("NONE", "Two Images", "Left and right are separate images"),
        ("lr", "Side by Side", "One image: left view on the left (parallel)"),
        ("rl", "Cross-eyed", "One image: left view on the right (cross-eyed)")], default="NONE")
    use_embedded_depth: BoolProperty(
        name="Use Depth in Photo", default=True,
        description="When the photo carries its own depth (a HEIC depth image from an iPhone "
                    "Portrait photo, a GDepth JPEG from Android), use it instead of the model")
    depth_path: StringProperty(name="Depth Map", subtype="FILE_PATH",
                               description="Depth map file (.png 8/16-bit, .exr, .npy, .tif)")
    depth_kind: EnumProperty(name="Depth Kind", items=[
        ("auto", "Auto", "Integer PNG = inverse depth (white near); float = depth"),
        ("metric", "Metric Depth (m)", ""), ("relative", "Relative Depth", ""),
        ("inverse", "Inverse Depth / Disparity (white near)", ""),
        ("disparity", "Disparity (px)", "")], default="auto")

    model: EnumProperty(name="Model", items=MODEL_ITEMS, default="PREFS")
    custom_model: StringProperty(name="Model Id or Folder", subtype="NONE",
                                 description="Hugging Face id or a folder holding a downloaded model")
    device: EnumProperty(name="Device", items=[
        ("PREFS", "From Preferences", ""), ("auto", "Auto", "CUDA, then MPS, then CPU"),
        ("cpu", "CPU", ""), ("cuda", "CUDA", ""), ("mps", "Apple MPS", "")], default="PREFS")
    max_side: IntProperty(name="Resolution", default=0, min=0, max=4096, subtype="PIXEL",
                          description="Longest side of the model's input (0 = the model's own size)")
    focal_px: FloatProperty(name="Focal Length (px)", default=0.0, min=0.0,
                            description="Focal length in pixels (0 = EXIF, else the field of view)")
    fov_deg: FloatProperty(name="Field of View", default=geo.DEFAULT_FOV_DEG, min=5.0, max=160.0,
                           description="Horizontal field of view (degrees) when the focal length is unknown")
    baseline_m: FloatProperty(name="Baseline (m)", default=0.0, min=0.0, precision=4,
                              description="Stereo baseline in metres (0 = relative depth)")
    doffs: FloatProperty(name="doffs (px)", default=0.0,
                         description="Principal-point offset between the stereo cameras, in pixels")
    rectify: EnumProperty(name="Rectify", items=[
        ("auto", "Auto", "Rectify when the pair's rows do not line up (photos taken by hand)"),
        ("always", "Always", ""), ("never", "Never", "The pair is already rectified")], default="auto")
    swap: EnumProperty(name="Swapped Views", items=[
        ("auto", "Auto", "Detect swapped left/right views from the matches"),
        ("yes", "Swapped", "The right image is the left view"),
        ("no", "Not Swapped", "Never swap (e.g. a side-by-side image with everything behind "
                              "the screen)")], default="auto")
    fuse_mono: BoolProperty(name="Fill with Monocular Model", default=False,
                            description="Fill occlusions and weak stereo matches from the depth model")

    mode: EnumProperty(name="Build", items=MODES, default="MESH")
    step: FloatProperty(name="Pixels per Vertex", default=2.0, min=1.0, max=64.0)
    max_vertices: IntProperty(name="Max Vertices", default=geo.DEFAULT_MAX_VERTICES, min=1000)
    simplify_px: FloatProperty(name="Simplify (px)", default=geo.DEFAULT_SIMPLIFY_PX, min=0.0,
                               max=8.0, precision=2,
                               description="Draw the flat parts of the torn mesh with merged faces "
                                           "that stray at most this many output pixels from the "
                                           "full grid along the planned camera move (fewer "
                                           "vertices per frame); 0 = a quad per grid cell")
    use_tear: BoolProperty(name="Tear at Depth Edges", default=True)
    tear_threshold: FloatProperty(name="Tear Threshold", default=geo.DEFAULT_TEAR_THRESHOLD,
                                  min=0.001, max=1.0, precision=3,
                                  description="Relative depth jump (beyond the local slope) that tears")

    fill_background: BoolProperty(name="Fill Background", default=True,
                                  description="A filled background layer behind every torn edge "
                                              "(no holes when the camera moves)")
    soft_edges: BoolProperty(name="Soft Edges", default=True,
                             description="Fade torn silhouettes out over one mesh cell (alpha "
                                         "blended in EEVEE and Cycles; Workbench draws them hard)")
    band_px: IntProperty(name="Band (px)", default=0, min=0, max=4096, subtype="PIXEL",
                         description="Width of the filled band (0 = what the camera move reveals)")
    inpaint: EnumProperty(name="Inpainting", items=[
        ("patchmatch", "PatchMatch", "Copies background texture from the background's own surface "
         "(Barnes et al. 2009; falls back to Telea without pypatchmatch)"),
        ("telea", "Telea", "Fast marching (Telea 2004): fast, smooth, blurred"),
        ("ns", "Navier-Stokes", "Bertalmio et al. 2001"),
        ("fsr", "Frequency-Selective", "Keeps more texture; about 10x slower (Seiler et al. 2015)")],
                          default="patchmatch")

    preset: EnumProperty(name="Camera Move", items=PRESET_ITEMS, default="CIRCLE")
    amount: FloatProperty(name="Amount", default=1.0, min=0.0, soft_max=4.0,
                          description="Motion strength: 1 = the largest motion the filled background "
                                      "supports (torn mesh); otherwise the near plane moves 2.5 % of the width")
    amount_is_budget: BoolProperty(name="Amount Relative to Safe Motion", default=True,
                                   description="Off: amount in parallax units (1 = near plane moves "
                                               "2.5 % of the width)")
    seconds: FloatProperty(name="Duration (s)", default=4.0, min=0.1, soft_max=60.0)
    fps: IntProperty(name="FPS", default=30, min=1, max=240)
    overscan: BoolProperty(name="Hide Edges (Overscan)", default=True,
                           description="Zoom in just enough that the photo's border stays out of frame")
    dof_fstop: FloatProperty(name="Depth of Field (f-stop)", default=0.0, min=0.0, soft_max=22.0,
                             description="Camera f-stop, 0 = off; EEVEE and Cycles render it, "
                                         "Workbench does not")
    focus_depth: FloatProperty(name="Focus Depth", default=0.0, min=0.0, subtype="DISTANCE",
                               description="Depth the camera focuses on (0 = the scene's focus "
                                           "depth, where the camera move pivots)")
    stereo: EnumProperty(name="Stereo 3D", items=[
        ("NONE", "Off", "A flat video"),
        ("sbs", "Side by Side", "One video twice as wide, left view on the left"),
        ("sbs-half", "Side by Side (Half)", "Both views squeezed into the normal width"),
        ("tb", "Top-Bottom", "One video twice as tall, left view on top"),
        ("tb-half", "Top-Bottom (Half)", "Both views squeezed into the normal height"),
        ("anaglyph", "Anaglyph (Red-Cyan)", "Red from the left view, green and blue from the right"),
        ("lr", "Left + Right Files", "Two videos, NAME_L and NAME_R")], default="NONE")
    interaxial: FloatProperty(name="Interaxial", default=0.0, min=0.0, subtype="DISTANCE",
                              description="Stereo camera separation (0 = the largest that keeps "
                                          "the on-screen parallax within 3 % of the width)")
    convergence: EnumProperty(name="Convergence", items=[
        ("near", "Near", "Zero parallax at the nearest depth: everything behind the screen"),
        ("focus", "Focus", "Zero parallax at the focus depth"),
        ("far", "Far", "Zero parallax at the farthest depth: everything in front of the screen")],
        default="focus")
    engine: EnumProperty(name="Engine", items=[
        ("workbench", "Workbench", "Fastest"), ("eevee", "EEVEE", ""), ("cycles", "Cycles", "")],
        default="workbench")

    # state shown by the panel (not user settings)
    status: StringProperty(name="Status", default="", options={"SKIP_SAVE"})
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR",
                            options={"SKIP_SAVE"})
    running: BoolProperty(default=False, options={"SKIP_SAVE"})


def model_name(props, prefs=None) -> str:
    """Model id or folder chosen in the panel ('Default' = the preferences' default model)."""
    if props.model == "PREFS":
        return (getattr(prefs, "default_model", "") or DEFAULT_MODEL).strip()
    if props.model == "CUSTOM":
        return bpy.path.abspath(props.custom_model.strip()) if props.custom_model.startswith("//") \
            else props.custom_model.strip()
    return props.model


def to_settings(props, prefs=None):
    """The core Settings for the panel's properties (``prefs``: the add-on preferences or None)."""
    from .core.pipeline import Settings

    device = props.device
    if device == "PREFS":
        device = getattr(prefs, "device", "auto") if prefs is not None else "auto"
    cache = getattr(prefs, "cache_dir", "") if prefs is not None else ""
    return Settings(
        mode=props.mode.lower(), model=model_name(props, prefs), device=device,
        max_side=props.max_side or None, cache_dir=bpy.path.abspath(cache) if cache else None,
        depth_kind=props.depth_kind, fov_deg=props.fov_deg, focal_px=props.focal_px or None,
        embedded_depth="auto" if props.use_embedded_depth else "ignore",
        baseline_m=props.baseline_m or None, doffs=props.doffs,
        sbs=None if props.source != "STEREO" or props.sbs == "NONE" else props.sbs,
        step=props.step, max_vertices=props.max_vertices, simplify_px=props.simplify_px,
        tear_threshold=props.tear_threshold if props.use_tear else None,
        preset=props.preset.lower().replace("_", "-"), amount=props.amount, seconds=props.seconds,
        fps=props.fps, engine=props.engine, overscan=props.overscan, rectify=props.rectify, swap=props.swap,
        fuse_mono=props.fuse_mono and props.source == "STEREO",
        fill_background=props.fill_background, band_px=props.band_px or None, inpaint=props.inpaint,
        soft_edges=props.soft_edges,
        dof_fstop=props.dof_fstop or None, focus_depth=props.focus_depth or None,
        stereo=None if props.stereo == "NONE" else props.stereo,
        interaxial=props.interaxial or None, convergence=props.convergence,
        amount_is_budget=props.amount_is_budget)


CLASSES = (DEPTH_PG_settings,)
