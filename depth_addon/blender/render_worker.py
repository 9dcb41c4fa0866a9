"""Helper process of a parallel render: render one frame range of a saved scene to PNG files.

Started by :func:`depth_addon.blender.render._render_parallel` as

    python render_worker.py SCENE.blend SCENE_NAME FIRST LAST OUT_DIR [PNG_COMPRESSION]

with the Python that runs the bpy module (``sys.executable``). It imports nothing but bpy (so it
works wherever the add-on package is installed, under any package name), opens the .blend, renders
frames FIRST..LAST of scene SCENE_NAME with that scene's own settings to
``OUT_DIR/frame_0001.png`` … (PNG compression 0 by default: an intermediate the parent encodes) and
exits 0. On any failure it prints one line ``depth3d-worker-error: …`` to stderr and exits 3, which
the parent turns into a DepthAddonError.
"""
from __future__ import annotations

import os
import sys

ERROR_TAG = "depth3d-worker-error:"


def render_range(blend: str, scene_name: str, first: int, last: int, out_dir: str,
                 compression: int = 0) -> int:
    """Render frames ``first..last`` of ``scene_name`` in ``blend``; returns frames written."""
    import bpy

    bpy.ops.wm.open_mainfile(filepath=blend, load_ui=False)
    scene = bpy.data.scenes.get(scene_name)
    if scene is None:
        raise RuntimeError(f"no scene {scene_name!r} in {blend}")
    win = getattr(bpy.context, "window", None)
    if win is not None:
        win.scene = scene
    scene.frame_start, scene.frame_end = int(first), int(last)
    isf = scene.render.image_settings
    if hasattr(isf, "media_type"):  # 5.0+
        isf.media_type = "IMAGE"
    isf.file_format = "PNG"
    isf.color_mode = "RGB"
    isf.color_depth = "8"
    isf.compression = int(compression)  # 1280x720: 44 ms per frame at 0, 100 ms at 15
    scene.render.filepath = os.path.join(out_dir, "frame_####")
    scene.render.use_file_extension = True
    bpy.ops.render.render(animation=True, scene=scene.name)
    return int(last) - int(first) + 1


def main(argv) -> int:
    try:
        blend, scene_name, first, last, out_dir = argv[:5]
        render_range(blend, scene_name, int(first), int(last), out_dir,
                     int(argv[5]) if len(argv) > 5 else 0)
    except BaseException as exc:  # noqa: BLE001 -- reported to the parent as one line
        msg = str(exc).replace("Error: ", "").strip().splitlines()
        print(f"{ERROR_TAG} {type(exc).__name__}: {msg[0] if msg else ''}", file=sys.stderr,
              flush=True)
        return 3
    return 0


if __name__ == "__main__":
    # bpy 4.2 segfaults at exit with handlers left; we add none. os._exit skips bpy's atexit
    # teardown, which costs time and can only add noise to the parent's log.
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
