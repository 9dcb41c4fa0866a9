"""depth_addon: photo / stereo pair -> depth -> torn 3D-photo mesh -> camera move -> parallax video.

register()/unregister() only. This module imports no torch/cv2/bpy at import time so that
``python -m depth_addon`` and the core work without Blender, and the add-on registers (and says
what is missing) when torch is absent. register() adds the sidebar (3D Viewport › Sidebar ›
"3D Photo"), the preferences, ``Scene.depth3d``, and the ``depth3d`` command-line command
(``blender -b -c depth3d …``, the same code as ``python -m depth_addon``).
"""
from __future__ import annotations

_cli_handle = None


def _classes():
    from . import operators, panels, prefs, props
    return prefs.CLASSES + props.CLASSES + operators.CLASSES + panels.CLASSES


def register() -> None:
    """Register classes, ``Scene.depth3d`` and the ``depth3d`` CLI command."""
    global _cli_handle
    import bpy

    from . import ids, prefs, props
    from .cli import blender_command

    prefs.add_site_packages_to_path()
    for cls in _classes():
        bpy.utils.register_class(cls)
    setattr(bpy.types.Scene, ids.SCENE_PROP, bpy.props.PointerProperty(type=props.DEPTH_PG_settings))
    if _cli_handle is None and hasattr(bpy.utils, "register_cli_command"):
        _cli_handle = bpy.utils.register_cli_command("depth3d", blender_command)


def unregister() -> None:
    """Undo :func:`register` (cancels a running job first)."""
    global _cli_handle
    import bpy

    from . import ids, jobs

    jobs.cancel_current()
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    if hasattr(bpy.types.Scene, ids.SCENE_PROP):
        delattr(bpy.types.Scene, ids.SCENE_PROP)
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
