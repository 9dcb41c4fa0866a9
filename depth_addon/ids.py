"""Every Blender identifier of the add-on in one place (one prefix: ``depth`` / ``DEPTH_``)."""

PREFIX = "depth"
CATEGORY = "3D Photo"  # sidebar tab

OT_ESTIMATE = "depth.estimate"
OT_CANCEL = "depth.cancel"
OT_UNLOAD = "depth.unload_model"
OT_BUILD = "depth.build"
OT_ANIMATE = "depth.animate_camera"
OT_RENDER = "depth.render_video"
OT_EXPORT_DEPTH = "depth.export_depth"
OT_EXPORT_DISPLACEMENT = "depth.export_displacement"
OT_EXPORT_NORMALS = "depth.export_normals"
OT_EXPORT_PLY = "depth.export_ply"
OT_INSTALL = "depth.install_dependencies"

PT_MAIN = "DEPTH_PT_main"
PT_SOURCE = "DEPTH_PT_source"
PT_DEPTH = "DEPTH_PT_depth"
PT_BUILD = "DEPTH_PT_build"
PT_CAMERA = "DEPTH_PT_camera"
PT_OUTPUT = "DEPTH_PT_output"

SCENE_PROP = "depth3d"  # bpy.types.Scene.depth3d

DEPTH_PREVIEW_IMAGE = "3D Photo depth"  # colormapped depth shown in the Image Editor
