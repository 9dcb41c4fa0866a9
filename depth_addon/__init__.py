"""depth_addon: photo / stereo pair -> depth -> torn 3D-photo mesh -> camera move -> parallax video.

register()/unregister() only. This module imports no torch/cv2/bpy at import time so that
``python -m depth_addon`` and the core can be used without Blender, and the add-on registers even
when torch is missing. Inside Blender (``blender -b -c depth3d …``) register() adds the ``depth3d``
command-line command, which runs the same code as ``python -m depth_addon``.
"""
from __future__ import annotations

_cli_handle = None


def register() -> None:
    """Register the add-on's Blender classes and the ``depth3d`` CLI command."""
    global _cli_handle
    import bpy

    from .cli import blender_command

    if _cli_handle is None and hasattr(bpy.utils, "register_cli_command"):
        _cli_handle = bpy.utils.register_cli_command("depth3d", blender_command)


def unregister() -> None:
    """Undo :func:`register`."""
    global _cli_handle
    import bpy

    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
