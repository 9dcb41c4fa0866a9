"""Drive the add-on as a user gets it: install the built zip into a sandboxed Blender user folder
and click through the panel's operators on real pictures (run by test_extension.py in a fresh
process: ``python drive_installed_addon.py ZIP WORKDIR MODEL_DIR [--hide-torch]``).

Prints one JSON object with what happened at each step; the test asserts on it.
"""
from __future__ import annotations

import json
import os
import sys

if "--hide-torch" in sys.argv:  # a fresh Blender: numpy only, no PyTorch/transformers/OpenCV/Pillow
    for name in ("torch", "transformers", "cv2", "PIL"):
        sys.modules[name] = None

import bpy  # noqa: E402

ZIP, WORK, MODEL = sys.argv[1], sys.argv[2], sys.argv[3]
MODULE = "bl_ext.user_default.depth_addon"
out: dict = {"blender": bpy.app.version_string}


def op(name, **kw):
    """Call bpy.ops.depth.<name>; returns (result set, error text)."""
    try:
        return sorted(getattr(bpy.ops.depth, name)(**kw)), ""
    except RuntimeError as exc:  # an operator that reported ERROR in background mode
        return ["CANCELLED"], str(exc)


bpy.ops.wm.read_factory_settings(use_empty=True)
out["install"] = sorted(bpy.ops.extensions.package_install_files(
    filepath=ZIP, repo="user_default", enable_on_install=True))
addon = sys.modules[MODULE]
out["registered"] = hasattr(bpy.types.Scene, "depth3d")
scene = bpy.context.scene
props = scene.depth3d

if "--hide-torch" in sys.argv:
    from importlib import import_module
    ops_mod = import_module(MODULE + ".operators")
    props.source = "PHOTO"
    props.image_path = os.path.join(WORK, "photo.jpg")
    out["why_not_estimate"] = ops_mod.why_not("depth.estimate", bpy.context)
    out["estimate"] = op("estimate")
    out["install_deps"] = op("install_dependencies", what="ML")
    prefs_mod = import_module(MODULE + ".prefs")
    out["install_cmd"] = prefs_mod.install_command("/tmp/target", "ML")
    out["missing"] = prefs_mod.missing_modules()
    print("RESULT " + json.dumps(out))
    sys.exit(0)

# 1) photo + existing depth map -> mesh -> camera -> video, exports
props.source = "DEPTH"
props.image_path = os.path.join(WORK, "photo.jpg")
props.depth_path = os.path.join(WORK, "depth.npy")
props.depth_kind = "metric"
out["estimate_depth_file"] = op("estimate")
out["preview"] = bpy.data.images.get("3D Photo depth") is not None
out["build"] = op("build")
ob = bpy.data.objects.get("3D Photo")
out["mesh_vertices"] = len(ob.data.vertices) if ob else 0
props.preset, props.seconds, props.fps = "SWING", 0.5, 4
out["animate"] = op("animate_camera")
out["frame_range"] = [scene.frame_start, scene.frame_end]
props.amount = 2.0  # a bigger move needs a wider band: the layer is rebuilt, not duplicated
out["animate_more"] = op("animate_camera")
out["background_objects"] = len([o for o in bpy.data.objects if o.name.startswith("3D Photo background")])
from importlib import import_module  # noqa: E402
out["budget"] = import_module(MODULE + ".operators").budget_text(bpy.context)
out["active_camera"] = scene.camera.name if scene.camera else None
scene.render.filepath = os.path.join(WORK, "photo.mp4")
scene.render.resolution_percentage = 50  # 225x150: H.264 needs even sizes -> clear error
out["render_odd"] = op("render_video")
scene.render.resolution_percentage = 40
out["render"] = op("render_video")
out["video_exists"] = os.path.exists(os.path.join(WORK, "photo.mp4"))
out["render_again"] = op("render_video")  # must refuse to overwrite
out["export_depth"] = op("export_depth", filepath=os.path.join(WORK, "d.exr"))
out["export_displacement"] = op("export_displacement", filepath=os.path.join(WORK, "disp.png"))
out["export_depth_again"] = op("export_depth", filepath=os.path.join(WORK, "d.exr"))
out["export_normals"] = op("export_normals", filepath=os.path.join(WORK, "n.png"))
out["export_depth_overwrite"] = op("export_depth", filepath=os.path.join(WORK, "d.exr"),
                                   overwrite=True)

# rebuilding replaces the previous result, not the user's other objects
user = bpy.data.objects.new("user object", bpy.data.meshes.new("user"))
scene.collection.objects.link(user)
props.mode = "PLANE"
out["build_plane"] = op("build")
out["objects_after_rebuild"] = sorted(o.name for o in bpy.data.objects)
out["plane_modifiers"] = [m.type for m in bpy.data.objects["3D Photo"].modifiers]

# 2) stereo pair -> point cloud -> PLY
props.source, props.mode = "STEREO", "POINTS"
props.image_path = os.path.join(WORK, "left.png")
props.right_path = os.path.join(WORK, "right.png")
props.focal_px, props.baseline_m, props.doffs = 994.978, 0.193001, 31.086
props.step = 4.0
out["estimate_stereo"] = op("estimate")
out["stereo_status"] = props.status
out["build_points"] = op("build")
out["export_ply"] = op("export_ply", filepath=os.path.join(WORK, "cloud.ply"))
props.mode = "MESH"
out["build_stereo_mesh"] = op("build")
props.preset, props.seconds, props.fps = "CIRCLE", 0.75, 4
out["animate_stereo"] = op("animate_camera")
scene.render.filepath = os.path.join(WORK, "stereo.mp4")
out["render_stereo"] = op("render_video")
# stereo 3D output and depth of field from the panel, applied by Render Video without a rebuild
props.stereo, props.dof_fstop = "sbs", 2.8
scene.render.filepath = os.path.join(WORK, "stereo_sbs.mp4")
out["render_sbs"] = op("render_video")
out["sbs_dof"] = [bool(scene.camera.data.dof.use_dof), scene.camera.data.dof.aperture_fstop]
props.stereo = "lr"
scene.render.filepath = os.path.join(WORK, "stereo_lr.mp4")
out["render_lr"] = op("render_video")
out["render_lr_again"] = op("render_video")  # must refuse to overwrite the _L / _R files
props.stereo, props.dof_fstop = "NONE", 0.0

# 3) photo -> monocular model (a tiny random Depth Anything in a folder, loaded like a download)
props.source = "PHOTO"
props.image_path = os.path.join(WORK, "photo.jpg")
props.model = "CUSTOM"
props.custom_model = MODEL
out["estimate_mono"] = op("estimate")
out["mono_status"] = props.status
out["unload"] = op("unload_model")

# 4) bad input: the same message as the command line
props.image_path = os.path.join(WORK, "missing.jpg")
out["estimate_missing"] = op("estimate")
props.model = "CUSTOM"
props.custom_model = "someone/not-a-real-depth-model"
props.image_path = os.path.join(WORK, "photo.jpg")
out["estimate_offline"] = op("estimate")

# 5) unregister cleanly, register again
bpy.ops.preferences.addon_disable(module=MODULE)
out["after_disable"] = hasattr(bpy.types.Scene, "depth3d")
bpy.ops.preferences.addon_enable(module=MODULE)
out["after_enable"] = hasattr(bpy.types.Scene, "depth3d")
print("RESULT " + json.dumps(out))
