"""Render settings and rendering; every Blender 4.2 LTS / 5.x difference lives here.

- EEVEE's engine id: 'BLENDER_EEVEE_NEXT' in 4.2-4.x, 'BLENDER_EEVEE' in 5.0+.
- Video output: 5.0 needs ``image_settings.media_type = 'VIDEO'`` before ``file_format = 'FFMPEG'``
  (4.2 has no media_type).
- Frame progress comes from a ``render_write`` handler that is always removed again (bpy 4.2
  segfaults at exit when a Python handler is left after rendering).
FFmpeg ships inside Blender/bpy; no system ffmpeg is needed.
"""
from __future__ import annotations

import glob
import os
import shutil
import tempfile
from typing import Callable, Optional

import bpy

from ..core.errors import Cancelled, DepthAddonError

ENGINES = ("workbench", "eevee", "cycles")


def engine_id(engine: str) -> str:
    """Blender's engine identifier for 'workbench' / 'eevee' / 'cycles' on the running version.

    Raises:
        DepthAddonError: unknown engine name.
    """
    if engine == "workbench":
        return "BLENDER_WORKBENCH"
    if engine == "cycles":
        return "CYCLES"
    if engine == "eevee":
        return "BLENDER_EEVEE" if bpy.app.version >= (5, 0, 0) else "BLENDER_EEVEE_NEXT"
    raise DepthAddonError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")


def configure(scene: "bpy.types.Scene", *, engine: str, width: int, height: int, fps: int,
              frame_start: int, frame_end: int, samples: int = 16) -> None:
    """Resolution, frame range, fps, engine and colour management for showing a photo unlit.

    Sets the view transform to 'Standard' (AgX/Filmic would wash out the photo's colours), a black
    world, Workbench flat lighting with texture colours, and low sample counts (the material is an
    emission shader: noise-free with few samples).
    """
    r = scene.render
    r.engine = engine_id(engine)
    r.resolution_x, r.resolution_y, r.resolution_percentage = int(width), int(height), 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0
    r.fps, r.fps_base = int(fps), 1.0
    scene.frame_start, scene.frame_end = int(frame_start), int(frame_end)
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    scene.view_settings.gamma = 1.0
    r.film_transparent = False
    if scene.world is None:
        scene.world = bpy.data.worlds.new("3D Photo World")
    set_black_world(scene.world)
    sh = scene.display.shading
    sh.light = "FLAT"
    sh.color_type = "TEXTURE"
    # anti-aliasing: measured per 740x500 frame here: 8 samples ~1.1-1.9 s, FXAA ~0.5-0.8 s, off ~0.2 s;
    # the texture is filtered anyway, so FXAA only has to smooth silhouettes at tears
    scene.display.render_aa = "FXAA"
    if engine == "cycles":
        scene.cycles.samples = samples
        scene.cycles.use_denoising = False
        scene.cycles.device = "CPU"
        scene.render.use_persistent_data = True
    elif engine == "eevee":
        scene.eevee.taa_render_samples = samples


def set_black_world(world: "bpy.types.World") -> None:
    """Make whatever no surface covers render black in every engine.

    ``world.color`` only drives Workbench; Cycles and EEVEE render the world's node tree, whose
    Background node defaults to grey 0.05 (sRGB ~63). Both are set: the colour, and every
    Background node's colour to black with strength 0 (the node tree is created when missing).
    """
    world.color = (0.0, 0.0, 0.0)
    if bpy.app.version < (5, 0, 0) and not world.use_nodes:  # 5.0: always nodes (deprecated)
        world.use_nodes = True  # creates the default World Output + Background nodes
    nt = world.node_tree
    if nt is None:
        return
    backgrounds = [n for n in nt.nodes if n.type == "BACKGROUND"]
    if not backgrounds:
        bg = nt.nodes.new("ShaderNodeBackground")
        out = next((n for n in nt.nodes if n.type == "OUTPUT_WORLD"), None) \
            or nt.nodes.new("ShaderNodeOutputWorld")
        nt.links.new(bg.outputs["Background"], out.inputs["Surface"])
        backgrounds = [bg]
    for bg in backgrounds:
        bg.inputs["Color"].default_value = (0.0, 0.0, 0.0, 1.0)
        bg.inputs["Strength"].default_value = 0.0


def set_output(scene: "bpy.types.Scene", path: str, kind: str) -> None:
    """Point the render output at ``path``: kind 'mp4' (H.264 in MP4) or 'png' (frames prefix)."""
    isf = scene.render.image_settings
    if kind == "mp4":
        if hasattr(isf, "media_type"):
            isf.media_type = "VIDEO"
        isf.file_format = "FFMPEG"
        ff = scene.render.ffmpeg
        ff.format = "MPEG4"
        ff.codec = "H264"
        ff.constant_rate_factor = "HIGH"
        ff.ffmpeg_preset = "GOOD"
        ff.audio_codec = "NONE"
        isf.color_mode = "RGB"
    elif kind == "png":
        if hasattr(isf, "media_type"):
            isf.media_type = "IMAGE"
        isf.file_format = "PNG"
        isf.color_mode = "RGB"
        isf.color_depth = "8"
    else:
        raise DepthAddonError(f"unknown output kind {kind!r}")
    scene.render.filepath = path
    scene.render.use_file_extension = True


def render_animation(scene: "bpy.types.Scene", out: str, kind: str, *,
                     progress: Optional[Callable[[str, float], None]] = None) -> list:
    """Render the scene's frame range to an MP4 file or a folder of PNG frames.

    The video is written under a temporary name in the target folder and renamed when complete,
    so a failed render never leaves a half-written file under the user's name.

    Args:
        out: for 'mp4' the file path; for 'png' an existing folder (frames frame_0001.png ...).
        kind: 'mp4' or 'png'.
        progress: called as progress("render", fraction) after each written frame.
    Returns:
        list of written file paths.
    Raises:
        DepthAddonError: if Blender wrote nothing; Cancelled if progress raised it.
    """
    n = scene.frame_end - scene.frame_start + 1
    r = scene.render
    w, h = r.resolution_x * r.resolution_percentage // 100, r.resolution_y * r.resolution_percentage // 100
    if kind == "mp4" and (w % 2 or h % 2):
        raise DepthAddonError(f"H.264 video needs an even width and height, the render is {w}x{h}; "
                              "change the resolution or its percentage")
    done = [0]
    cancelled = []

    def on_write(sc, *_args):
        done[0] += 1
        if progress is not None and not cancelled:
            try:
                progress("render", done[0] / n)
            except Cancelled as exc:  # cannot raise through Blender's render loop
                cancelled.append(exc)

    if kind == "mp4":
        tmpdir = tempfile.mkdtemp(prefix=".depth3d-", dir=os.path.dirname(os.path.abspath(out)))
        target = os.path.join(tmpdir, "video_")
    else:
        tmpdir = None
        target = os.path.join(os.path.abspath(out), "frame_####")
    user_path = scene.render.filepath  # restored afterwards: the temporary name is ours
    set_output(scene, target, kind)
    bpy.app.handlers.render_write.append(on_write)
    try:
        bpy.ops.render.render(animation=True, scene=scene.name)
    except RuntimeError as exc:  # Blender reports render errors as RuntimeError("Error: …")
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
        msg = str(exc).replace("Error: ", "").strip().splitlines()[0]
        raise DepthAddonError(f"Blender could not render: {msg}") from None
    finally:
        bpy.app.handlers.render_write.remove(on_write)
        scene.render.filepath = user_path
    if cancelled:
        raise cancelled[0]
    if kind == "mp4":
        written = sorted(glob.glob(os.path.join(tmpdir, "video_*")))
        if not written:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise DepthAddonError("Blender rendered no video file (is FFmpeg available in this build?)")
        os.replace(written[0], out)
        shutil.rmtree(tmpdir, ignore_errors=True)
        return [out]
    files = sorted(glob.glob(os.path.join(os.path.abspath(out), "frame_*.png")))
    if len(files) < n:
        raise DepthAddonError(f"Blender wrote {len(files)} of {n} frames to {out}")
    return files


def render_still(scene: "bpy.types.Scene", path: str, frame: int) -> str:
    """Render one frame to a PNG file at ``path`` (no handler involved)."""
    scene.frame_set(frame)
    set_output(scene, path, "png")
    scene.render.use_file_extension = False
    bpy.ops.render.render(write_still=True, scene=scene.name)
    return path
