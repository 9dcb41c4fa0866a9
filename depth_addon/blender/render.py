"""Render settings and rendering; every Blender 4.2 LTS / 5.x difference lives here.

- EEVEE's engine id: 'BLENDER_EEVEE_NEXT' in 4.2-4.x, 'BLENDER_EEVEE' in 5.0+.
- Video output: 5.0 needs ``image_settings.media_type = 'VIDEO'`` before ``file_format = 'FFMPEG'``
  (4.2 has no media_type).
- Frame progress comes from a ``render_write`` handler that is always removed again (bpy 4.2
  segfaults at exit when a Python handler is left after rendering).
- Anti-aliasing (Workbench): on 5.x a compositor group that softens the pixels where the Z pass
  steps (the tear silhouettes; planes pass unchanged), FXAA on 4.2 (see :func:`set_antialiasing`
  for the measurements).
- Parallel rendering (:func:`render_animation` with ``jobs`` > 1, the bpy module only): the scene
  is saved to a temporary .blend and helper processes (:mod:`.render_worker`, started early by
  :func:`.helpers.start_helpers`) render it. A video: ``jobs`` helpers render every frame in
  order (each claims the next one) to SGI IRIS pictures while this process encodes them with
  Blender's own FFmpeg output (a sequencer image strip in a temporary scene) as each is done,
  waiting for the next in a ``render_pre`` handler. PNG frames: ``jobs - 1`` helpers render
  frame ranges while this process renders the first range. Every process that renders uses one
  llvmpipe raster thread and a glibc malloc that reuses its frame buffers (:data:`HELPER_ENV`),
  ~5 % less time per frame.
FFmpeg ships inside Blender/bpy; no system ffmpeg is needed.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional

import bpy

from ..core.errors import Cancelled, DepthAddonError
from ..core.files import view_paths
# the helper processes' side that needs no bpy (started before bpy is imported: see .helpers)
from .helpers import (_IDLE, HELPER_ENV, MAX_JOBS, PARALLEL_MIN_FRAMES,  # noqa: F401
                      default_jobs, finish_starting, parallel_available, planned_jobs,
                      start_helpers, stop_idle_helpers, tune_malloc)

ENGINES = ("workbench", "eevee", "cycles")
#: the compositor node group :func:`set_antialiasing` adds (tagged as generated)
AA_GROUP_NAME = "3D Photo anti-aliasing"
#: seconds a parallel render waits without a new frame before it gives up on a helper
STALL_TIMEOUT_S = 600.0
#: what a parallel render's processes write a video's frames as for the encode (see
#: :func:`_render_parallel` for the measurements)
VIDEO_FRAME_FORMAT = "IRIS"



#: render_animation calls in progress, and how many of them render in parallel processes (whose
#: frames are driven from Python, so a KeyboardInterrupt raised between frames stops them cleanly)
_ACTIVE = {"calls": 0, "parallel": 0}


#: helper processes of the parallel renders in progress (see :func:`kill_helpers`)
_HELPERS = []


def kill_helpers() -> None:
    """Kill the helper processes of a parallel render at once (for a caller that is about to end
    the process, e.g. a second Ctrl+C): nothing keeps rendering after the caller is gone."""
    for wk in list(_HELPERS) + list(_IDLE):
        try:
            wk.proc.kill()
        except OSError:
            pass


def rendering() -> tuple:
    """(a :func:`render_animation` is running, it renders in parallel processes): for a caller's
    signal handler, e.g. the batch's Ctrl+C."""
    return _ACTIVE["calls"] > 0, _ACTIVE["parallel"] > 0


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
    set_antialiasing(scene, engine)
    if engine == "cycles":
        scene.cycles.samples = samples
        scene.cycles.use_denoising = False
        scene.cycles.device = "CPU"
        scene.render.use_persistent_data = True
    elif engine == "eevee":
        scene.eevee.taa_render_samples = samples


#: the soften of :func:`set_antialiasing` is blended in where ``|Laplace(1/Z)| * Z`` (the
#: compositor's Laplace filter -- centre 1, its eight neighbours -1/8 -- on the inverse depth of
#: the Z pass, times the depth) rises from ``SOFTEN_EDGE[0]`` to ``SOFTEN_EDGE[1]``, at most
#: ``SOFTEN_EDGE[2]`` of it. The inverse depth of any plane is linear in pixel coordinates, so
#: the ratio is 0 on every plane however steeply it recedes (a floor up to the horizon, a wall to
#: its vanishing point); across a step from Z1 to Z2 > Z1 it is about 3/8 |1 - Z1 / Z2| on the
#: near side (scale-free). On the motorcycle scene at 1280x720 it is bimodal: smooth surfaces
#: peak near 1e-4 and end by ~0.002, tears lie in 0.01-0.3.
SOFTEN_EDGE = (0.005, 0.015, 0.5)
#: which anti-aliasing a "3D Photo anti-aliasing" group holds (older files: SMAA, no key); a
#: group with another value is rebuilt
_AA_METHOD_KEY = "depth3d_aa"
_AA_METHOD = "soften |Laplace(1/Z)|*Z %g-%g x%g" % SOFTEN_EDGE
#: the name of the view layer whose Z pass :func:`set_antialiasing` turned on (turned off again
#: when the group is removed)
_Z_PASS_KEY = "depth3d_z_pass_layer"


def set_antialiasing(scene: "bpy.types.Scene", engine: str) -> str:
    """Anti-alias the silhouettes at tears as cheaply as Blender allows; returns the method used.

    The photo's texture is filtered anyway: only the tear silhouettes, where the depth jumps,
    need smoothing. On 5.x Workbench renders with its AA off and a "3D Photo anti-aliasing"
    compositor group of the scene's own softens exactly those pixels: its Render Layers node reads
    this scene's first view layer, whose Z pass (``use_pass_z``) is turned on -> Math 1/Z ->
    Filter 'Laplace' -> |x| -> x Z (:data:`SOFTEN_EDGE`) -> Map Range (clamped) -> the *Factor* of
    a Filter 'Soften' (3x3) of the image. Where the depth is a plane or smooth the factor is 0 and
    the pixel passes unchanged -- except in the frame's outermost pixels, where the compositor's
    filters repeat the border pixel, which a receding plane's depth does not continue (a light
    soften there: up to 15 levels in the floor test). Workbench writes 1e10 where nothing is
    (never inf), so the ratio stays finite: at a silhouette against the world both sides are
    softened, the world stays black. (Blender's Math divide returns 0 for a zero divisor:
    without the pass, no softening.) Nothing is raised: a scene this cannot handle (4.2, a
    compositor of the user's) gets Workbench FXAA.

    Measured on llvmpipe (2 cores, 2026-12-04), 1280x720 Workbench frames, against an 8-sample
    render of the same frame, on the pixels within 2 px of a depth jump (edge PSNR; FLIP, lower
    is better; Laplacian variance over the reference's, 1.0 = as sharp): motorcycle frames
    40/110 (tuned on): no AA 28.9/28.6 dB, FLIP 0.068/0.064, sharpness 3.1/3.0; compositor SMAA
    (the method before) 30.8/31.0 dB, 0.066/0.061, 1.8/1.6; this soften 32.7/32.4 dB,
    0.064/0.060, 1.08/0.98. Held out: a second photo (skimage coffee, curved silhouettes) frames
    75/140: SMAA 34.2/32.2 dB, soften 36.1/34.7 dB (FLIP equal: 0.044/0.043 both); the
    motorcycle at 640x360 frames 75/140: SMAA 29.6/28.5 dB, soften 31.8/30.5 dB, FLIP
    0.072/0.077 -> 0.069/0.071. Cost per 1280x720 frame (one process, 3 alternating runs of 15
    frames): +40-47 ms over no compositor and no Z pass, against +92-108 ms for SMAA (Workbench
    FXAA and 5 samples cost more again, see README's *Render speed*). SMAA also smooths texture
    edges and straightens the mesh's own stair-stepped tear outlines beyond what the 8-sample
    render shows. (A first version took |Sobel(Z)| / Z, which is not 0 on a plane seen at a grazing
    angle: it softened floors near the horizon.)

    The group is only installed when the scene has no compositor of its own (a user's node
    group is never replaced: Workbench FXAA is used then), and on 4.2 (whose compositor is the
    scene's own node tree) FXAA stays. EEVEE and Cycles anti-alias with their samples: the
    group is removed for them (and the Z pass turned off again if this function turned it on).

    Returns:
        'soften' (5.x Workbench), 'fxaa' or 'samples'.
    """
    from .mesh import GENERATED_KEY

    group = getattr(scene, "compositing_node_group", False)  # False: 4.x API (no such property)
    ours = group is not False and group is not None and bool(group.get(GENERATED_KEY))
    if engine != "workbench":
        if ours:
            scene.compositing_node_group = None
            _release_z_pass(scene)
        return "samples"
    if group is False or (group is not None and not ours):
        scene.display.render_aa = "FXAA"
        return "fxaa"
    if ours and group.users > 1 and _group_scene(group) not in (None, scene):
        ours = False  # shared with another scene (whose picture it reads): this one gets its own
    if not ours:
        group = bpy.data.node_groups.new(AA_GROUP_NAME, "CompositorNodeTree")
        group[GENERATED_KEY] = True
        group.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    layer = scene.view_layers[0]
    if not layer.use_pass_z:
        layer.use_pass_z = True
        scene[_Z_PASS_KEY] = layer.name
    if group.get(_AA_METHOD_KEY) != _AA_METHOD or _group_scene(group) is not scene:
        _build_soften_group(group, scene, layer)
    scene.display.render_aa = "OFF"
    scene.compositing_node_group = group
    scene.render.use_compositing = True
    return "soften"


def _group_scene(group):
    rl = next((n for n in group.nodes if n.bl_idname == "CompositorNodeRLayers"), None)
    return None if rl is None else rl.scene


def _release_z_pass(scene) -> None:
    name = scene.get(_Z_PASS_KEY)
    if name is not None:
        layer = scene.view_layers.get(name)
        if layer is not None:
            layer.use_pass_z = False
        del scene[_Z_PASS_KEY]


def _build_soften_group(group, scene, layer) -> None:
    """(Re)fill our compositor group with the depth-edge soften of :func:`set_antialiasing`,
    reading ``layer`` of ``scene``."""
    group.nodes.clear()
    nodes, link = group.nodes, group.links.new
    out = nodes.new("NodeGroupOutput")
    layers = nodes.new("CompositorNodeRLayers")
    layers.scene = scene
    layers.layer = layer.name
    inverse = nodes.new("ShaderNodeMath")
    inverse.operation = "DIVIDE"
    inverse.inputs[0].default_value = 1.0
    inverse.label = "1 / Z"
    laplace = nodes.new("CompositorNodeFilter")
    laplace.inputs["Type"].default_value = "Laplace"
    laplace.label = "depth steps (0 on planes)"
    size = nodes.new("ShaderNodeMath")
    size.operation = "ABSOLUTE"
    ratio = nodes.new("ShaderNodeMath")
    ratio.operation = "MULTIPLY"
    ratio.label = "|Laplace(1/Z)| * Z"
    ramp = nodes.new("ShaderNodeMapRange")
    ramp.clamp = True
    lo, hi, most = SOFTEN_EDGE
    ramp.inputs["From Min"].default_value, ramp.inputs["From Max"].default_value = lo, hi
    ramp.inputs["To Min"].default_value, ramp.inputs["To Max"].default_value = 0.0, most
    soften = nodes.new("CompositorNodeFilter")
    soften.inputs["Type"].default_value = "Soften"
    soften.label = "soften the silhouettes"
    for node, x, y in ((layers, -900, 0), (inverse, -650, -200), (laplace, -450, -200),
                       (size, -250, -200), (ratio, -50, -200), (ramp, 150, -200),
                       (soften, 400, 0), (out, 620, 0)):
        node.location = (x, y)
    link(layers.outputs["Depth"], inverse.inputs[1])
    link(inverse.outputs["Value"], laplace.inputs["Image"])
    link(laplace.outputs["Image"], size.inputs[0])
    link(size.outputs["Value"], ratio.inputs[0])
    link(layers.outputs["Depth"], ratio.inputs[1])
    link(ratio.outputs["Value"], ramp.inputs["Value"])
    link(ramp.outputs["Result"], soften.inputs["Factor"])
    link(layers.outputs["Image"], soften.inputs["Image"])
    link(soften.outputs["Image"], out.inputs[0])
    group[_AA_METHOD_KEY] = _AA_METHOD


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


class _QuietGLProbe:
    """Drop the ``EGL Error (0x3009): EGL_BAD_MATCH`` lines Blender prints on a render that works.

    Where they come from: headless Blender (GHOST_SystemHeadless::createOffscreenContext) asks EGL
    for an OpenGL 4.6 core context first and steps down (4.5, 4.4 …) until one is created; every
    refused version is printed by GHOST_ContextEGL's error check as EGL_BAD_MATCH. Mesa's llvmpipe
    (22.3, Debian 12) offers 4.5, so each of the three offscreen contexts the first render creates
    prints one line (``MESA_GL_VERSION_OVERRIDE=4.4`` makes it six, ``=4.6`` none -- but claiming
    a version the driver does not implement is worse than a noisy log). The lines cannot be
    switched off from Python, so the first GPU use of the process (:func:`init_gpu`) runs with C's
    stderr (fd 2) sent to a temporary file, and everything in it except exactly these lines is
    written back to stderr.
    """

    LINE = re.compile(r"^EGL Error \(0x3009\): EGL_BAD_MATCH\b")

    def __enter__(self):
        sys.stderr.flush()
        self._file = tempfile.TemporaryFile()
        try:
            self._saved = os.dup(2)
            os.dup2(self._file.fileno(), 2)
        except OSError:
            self._saved = None
        return self

    def __exit__(self, *exc):
        if self._saved is not None:
            sys.stderr.flush()
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._file.seek(0)
            text = self._file.read().decode("utf-8", "replace")
            kept = [ln for ln in text.splitlines(keepends=True) if not self.LINE.match(ln)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
        self._file.close()
        return False


_gpu_ready = []


def init_gpu() -> None:
    """Create Blender's GPU contexts and a frame's shaders now, with a tiny Workbench render of a
    temporary scene (~0.1-0.15 s; :func:`.render_worker.warm_up_gpu`), hiding the harmless EGL
    probe lines (:class:`_QuietGLProbe`). Only in background mode (the UI has its contexts already); once per
    process."""
    if _gpu_ready or not bpy.app.background:
        return
    _gpu_ready.append(True)
    from .render_worker import warm_up_gpu

    try:
        with _QuietGLProbe():
            warm_up_gpu()
    except RuntimeError:
        pass  # a real render reports its own error


def _render_size(scene):
    r = scene.render
    return (r.resolution_x * r.resolution_percentage // 100,
            r.resolution_y * r.resolution_percentage // 100)


def _blender_error(exc: RuntimeError) -> DepthAddonError:
    msg = str(exc).replace("Error: ", "").strip().splitlines()
    return DepthAddonError(f"Blender could not render: {msg[0] if msg else exc}")


def render_animation(scene: "bpy.types.Scene", out: str, kind: str, *,
                     progress: Optional[Callable[[str, float], None]] = None,
                     jobs: int = 1, timings: Optional[dict] = None) -> list:
    """Render the scene's frame range to an MP4 file or a folder of PNG frames.

    The video is written under a temporary name in the target folder and renamed when complete,
    so a failed render never leaves a half-written file under the user's name.

    Args:
        out: for 'mp4' the file path; for 'png' an existing folder (frames frame_0001.png ...).
        kind: 'mp4' or 'png'.
        progress: called as progress("render", fraction) after each written frame (in a parallel
            render: frames written by all processes), then progress("encode", fraction) (a
            parallel video: once, 1.0, at the end; its encode runs beside the render).
        jobs: processes to render with (1: this process only; 0: :func:`default_jobs`, or 1
            below :data:`PARALLEL_MIN_FRAMES` frames); a parallel video is rendered by ``jobs``
            helpers while this process encodes, PNG frames by ``jobs - 1`` and this process. More than one needs the bpy module
            (``sys.executable`` must import bpy) and background mode; otherwise, or with fewer
            than 2 frames per process, it renders in this process.
        timings: if given, filled with seconds spent per step ("render", "encode") and the
            number of processes used ("jobs").
    Returns:
        list of written file paths.
    Raises:
        DepthAddonError: if Blender wrote nothing or a helper process failed; Cancelled if
        progress raised it (helper processes are stopped first).
    """
    n = scene.frame_end - scene.frame_start + 1
    w, h = _render_size(scene)
    if kind == "mp4" and (w % 2 or h % 2):
        raise DepthAddonError(f"H.264 video needs an even width and height, the render is {w}x{h}; "
                              "change the resolution or its percentage")
    timings = timings if timings is not None else {}
    jobs = planned_jobs(n, jobs)
    parallel = jobs > 1 and parallel_available()
    _ACTIVE["calls"] += 1
    _ACTIVE["parallel"] += int(parallel)
    try:
        if progress is not None:
            progress("render", 0.0)
        if not (parallel and kind == "mp4"):  # a parallel video: this process only encodes
            _init_gpu_for(parallel)
        if parallel:
            timings["jobs"] = jobs
            _tune_malloc()
            return _render_parallel(scene, out, kind, jobs, progress, timings)
        timings["jobs"] = 1
        t0 = time.perf_counter()
        files = _render_single(scene, out, kind, progress)
        timings["render"] = time.perf_counter() - t0
        return files
    finally:
        _ACTIVE["calls"] -= 1
        _ACTIVE["parallel"] -= int(parallel)
        stop_idle_helpers()  # started by start_helpers but not needed (fewer jobs, one process)


def _init_gpu_for(parallel: bool) -> None:
    if parallel and not _gpu_ready:
        # this process's GL context is made now: one llvmpipe raster thread, like the helpers
        # (only the first render of a process decides; the user's own setting wins)
        os.environ.setdefault("LP_NUM_THREADS", HELPER_ENV["LP_NUM_THREADS"])
    init_gpu()


def _tune_malloc() -> bool:
    """Background mode only: :func:`.helpers.tune_malloc` for this process (the settings of
    :data:`HELPER_ENV`), so the render buffers of each frame come from the heap instead of fresh
    zeroed pages. Returns whether it was applied."""
    if not bpy.app.background:
        return False
    return tune_malloc()


def _render_single(scene, out: str, kind: str, progress) -> list:
    from . import render_worker as rw

    n = scene.frame_end - scene.frame_start + 1
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
        raise _blender_error(exc) from None
    finally:
        bpy.app.handlers.render_write.remove(on_write)
        scene.render.filepath = user_path
    if cancelled:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
        raise cancelled[0]
    if kind == "mp4":
        written = sorted(glob.glob(os.path.join(tmpdir, "video_*")))
        if not written:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise DepthAddonError("Blender rendered no video file (is FFmpeg available in this build?)")
        suffixes = rw.view_suffixes(scene)
        finals = view_paths(out, suffixes)
        if len(suffixes) > 1:  # one video per view: Blender names them video_…_L.mp4, …_R.mp4
            by_view = {sfx: [f for f in written if os.path.splitext(f)[0].endswith(sfx)]
                       for sfx in suffixes}
            if any(len(v) != 1 for v in by_view.values()):
                shutil.rmtree(tmpdir, ignore_errors=True)
                raise DepthAddonError(f"Blender wrote {len(written)} video files for "
                                      f"{len(suffixes)} views")
            for sfx, final in zip(suffixes, finals):
                os.replace(by_view[sfx][0], final)
        else:
            os.replace(written[0], out)
        shutil.rmtree(tmpdir, ignore_errors=True)
        return finals
    files = sorted(glob.glob(os.path.join(os.path.abspath(out), "frame_*.png")))
    views = len(rw.view_suffixes(scene))
    if len(files) < n * views:
        raise DepthAddonError(f"Blender wrote {len(files)} of {n * views} frames to {out}")
    return files


def split_frames(first: int, last: int, jobs: int) -> list:
    """``jobs`` contiguous ranges (a, b) covering first..last, sizes differing by at most one."""
    n = last - first + 1
    jobs = max(1, min(jobs, n))
    size, extra = divmod(n, jobs)
    ranges, a = [], first
    for i in range(jobs):
        b = a + size + (1 if i < extra else 0) - 1
        ranges.append((a, b))
        a = b + 1
    return ranges


def frame_orders(first: int, last: int, jobs: int) -> list:
    """The order in which each of ``jobs`` processes goes through the frames: process p renders
    its own contiguous range (:func:`split_frames`) upwards, then the other ranges downwards from
    their ends (p+1, p+2, … wrapping), so when it runs out of work it takes frames from the far
    end of someone else's range without meeting them head-on; claims (render_worker.claim) make
    sure each frame is rendered once."""
    ranges = split_frames(first, last, jobs)
    orders = []
    for p in range(len(ranges)):
        a, b = ranges[p]
        order = list(range(a, b + 1))
        for q in range(1, len(ranges)):
            c, d = ranges[(p + q) % len(ranges)]
            order.extend(range(d, c - 1, -1))
        orders.append(order)
    return orders


class _Worker:
    """One helper process rendering frames to PNG or IRIS (see :mod:`.render_worker`)."""

    def __init__(self, blend: str, scene_name: str, order: list, frames_dir: str, log: str,
                 compression: int = 0, file_format: str = "PNG"):
        from . import render_worker as rw

        self.first_frames = order[:1]
        self.log = log
        args = [blend, scene_name, rw.format_order(order), frames_dir, str(int(compression)),
                file_format]
        self._idle = None
        while _IDLE:  # one that start_helpers started (a dead one is dropped)
            idle = _IDLE.pop()
            if idle.give(args):
                self._idle, self.log, self._log, self.proc = idle, idle.log, idle.log_file, idle.proc
                return
            idle.release()
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "render_worker.py")
        self._log = open(log, "wb")
        # its temp directory (Blender's session folder) inside the render's, removed with it
        env = {**HELPER_ENV, **os.environ, "TMPDIR": os.path.dirname(blend)}
        self.proc = subprocess.Popen([sys.executable, script] + args, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=os.path.dirname(blend), env=env)

    def failed(self) -> Optional[str]:
        """None while running or after success; else what went wrong (from its log)."""
        code = self.proc.poll()
        if code is None or code == 0:
            return None
        self._log.flush()
        try:
            with open(self.log, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            text = ""
        from .render_worker import ERROR_TAG
        tagged = [ln[len(ERROR_TAG):].strip() for ln in text.splitlines() if ln.startswith(ERROR_TAG)]
        if tagged:
            why = tagged[-1]
        else:
            tail = [ln for ln in text.splitlines() if ln.strip()][-3:]
            why = f"exit code {code}" + (": " + " | ".join(tail) if tail else "")
        return (f"helper render process (pid {self.proc.pid}, starting at frame "
                f"{self.first_frames[0]}) failed: {why}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        if self._idle is not None:
            self._idle.close_log()
        else:
            self._log.close()


def _count_frames(folder: str, ext: str = ".png") -> int:
    try:
        return sum(1 for e in os.scandir(folder) if e.name.startswith("frame_") and e.name.endswith(ext))
    except OSError:
        return 0


def _stand_in(src: str, dst: str) -> None:
    """Make ``dst`` a copy of the picture ``src`` (a hard link where possible), atomically."""
    tmp = dst + ".stand-in"
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _render_parallel(scene, out: str, kind: str, jobs: int, progress, timings: dict) -> list:
    """See :func:`render_animation`: frames shared out among ``jobs`` processes (IRIS for a video,
    encoded by this process as they are done; PNG for PNG frames, this process rendering too)."""
    from . import render_worker as rw

    first, last = scene.frame_start, scene.frame_end
    n = last - first + 1
    out = os.path.abspath(out)
    # frames go to a temporary folder on the output's file system (PNG: renamed into place)
    parent = os.path.dirname(out) if kind == "mp4" else out
    work = tempfile.mkdtemp(prefix=".depth3d-", dir=parent)
    frames_dir = os.path.join(work, "frames")
    os.makedirs(frames_dir)
    user = (scene.render.filepath, scene.render.use_file_extension, scene.frame_current)
    isf = scene.render.image_settings
    # restored afterwards (this process renders PNG stills); media_type first, as it resets the rest
    user_isf = [(k, getattr(isf, k)) for k in ("media_type", "file_format", "color_mode",
                                               "color_depth", "compression") if hasattr(isf, k)]
    workers = []
    t0 = time.perf_counter()
    try:
        blend = os.path.join(work, "scene.blend")
        # the scene and everything it uses (packed images, world, compositor group), quietly:
        # save_as_mainfile would print "Info: Saved copy …" on stdout and write the whole file
        bpy.data.libraries.write(blend, {scene}, compress=False)
        # a video: the helpers render every frame, in order, each taking the next unclaimed one,
        # while this process encodes the frames as they are done (so the encode runs beside the
        # render instead of after it); PNG frames: this process renders its share too
        stream = kind == "mp4"
        orders = ([list(range(first, last + 1))] * jobs if stream
                  else frame_orders(first, last, jobs))
        # frames that are only encoded: SGI IRIS (.rgb, Blender's own reader and writer). Measured
        # 2026-12-04 at 1280x720, one process, 30 frames: the write costs BMP 27-44 ms (median
        # 39), IRIS 19-28 ms (24); reading them back in the encode BMP 17-19 ms per frame (OIIO's
        # BMP reader goes pixel by pixel), IRIS 13-15 ms; TIFF and Targa were no better, PNG at
        # compression 0 worse. The encoded video is bit-identical for all of them. (2026-12-02,
        # 640x360: BMP +9-12 ms, PNG 0 +14-21 ms.) The user's PNG frames keep compression 15.
        file_format, compression = (VIDEO_FRAME_FORMAT, 0) if kind == "mp4" else ("PNG", 15)
        ext = rw.FRAME_EXT[file_format]
        finish_starting()  # every helper start_helpers will start is in _IDLE now
        for i, order in enumerate(orders if stream else orders[1:], 1):
            workers.append(_Worker(blend, scene.name, order, frames_dir,
                                   os.path.join(work, f"worker{i}.log"), compression, file_format))
            _HELPERS.append(workers[-1])

        def check():
            for wk in workers:
                why = wk.failed()
                if why:
                    raise DepthAddonError(why)

        suffixes = rw.view_suffixes(scene)

        def report():
            if progress is not None:
                progress("render", _count_frames(frames_dir, ext) / (n * len(suffixes)))

        def between_frames():
            check()
            report()

        per_view = [[view_paths(rw.frame_path(frames_dir, f, ext), [sfx])[0]
                     for f in range(first, last + 1)] for sfx in suffixes]
        if stream:
            rendered = []

            def wait_for(index):  # the encode is about to read frame first + index
                try:
                    wait_done(index)
                except BaseException:
                    # stopped (an error, Cancelled, Ctrl+C): the encode still reads every frame
                    # after this one (see encode_frames), and a missing or half-written IRIS
                    # picture crashes Blender's reader (bpy 5.0.1): the helpers are stopped and
                    # the first frame stands in for the rest (the video is thrown away)
                    for wk in workers:
                        if wk.proc.poll() is None:
                            wk.proc.kill()
                            wk.proc.wait()
                    if index:
                        for files in per_view:
                            for f in files[index:]:
                                _stand_in(files[0], f)
                    raise

            def wait_done(index):
                frame = first + index
                marker = rw.frame_path(frames_dir, frame, rw.DONE_EXT)
                since = time.perf_counter()
                while not os.path.exists(marker):
                    check()
                    if all(wk.proc.poll() is not None for wk in workers):
                        check()
                        if not os.path.exists(marker):  # every helper exited without it
                            raise DepthAddonError(
                                f"parallel render wrote {_count_frames(frames_dir, rw.DONE_EXT)} "
                                f"of {n} frames (missing frame {frame})")
                    if time.perf_counter() - since > STALL_TIMEOUT_S:
                        raise DepthAddonError(f"helper render processes wrote no frame for "
                                              f"{STALL_TIMEOUT_S:.0f} s; stopped them")
                    time.sleep(0.005)
                report()
                if frame == last and not rendered:
                    rendered.append(time.perf_counter() - t0)

            result = []
            for files, final in zip(per_view, view_paths(out, suffixes)):
                tmp_video = os.path.join(work, "video.mp4")
                wait_for(0)  # the encode reads the first frame's size before it starts
                encode_frames(files, tmp_video, fps=scene.render.fps,
                              fps_base=scene.render.fps_base, like=scene, before_frame=wait_for)
                result.append(final)
                os.replace(tmp_video, final)
            check()
            if progress is not None:
                progress("encode", 1.0)
            timings["render"] = rendered[0] if rendered else time.perf_counter() - t0
            timings["encode"] = time.perf_counter() - t0 - timings["render"]
            return result
        rw.setup_png(scene, compression, file_format)
        try:
            rw.render_frames(scene, orders[0], frames_dir, on_frame=between_frames, ext=ext)
        except RuntimeError as exc:
            raise _blender_error(exc) from None
        last_count, last_change = -1, time.perf_counter()
        while any(wk.proc.poll() is None for wk in workers):
            check()
            count = _count_frames(frames_dir, ext)
            if count != last_count:
                last_count, last_change = count, time.perf_counter()
                report()
            elif time.perf_counter() - last_change > STALL_TIMEOUT_S:
                raise DepthAddonError(f"helper render processes wrote no frame for "
                                      f"{STALL_TIMEOUT_S:.0f} s; stopped them")
            time.sleep(0.05)
        check()
        report()
        # one picture per frame and view ("_L"/"_R" when the views go to separate files)
        missing = [f for files in per_view for f in files if not os.path.exists(f)]
        if missing:
            total = n * len(suffixes)
            raise DepthAddonError(f"parallel render wrote {total - len(missing)} of {total} "
                                  f"frames (missing {os.path.basename(missing[0])} …)")
        timings["render"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        result = []
        for files in per_view:
            for f in files:
                dst = os.path.join(out, os.path.basename(f))
                os.replace(f, dst)
                result.append(dst)
        timings["encode"] = time.perf_counter() - t1
        return result
    finally:
        for wk in workers:
            wk.stop()
            if wk in _HELPERS:
                _HELPERS.remove(wk)
        for k, v in user_isf:
            try:
                setattr(isf, k, v)
            except (TypeError, ValueError):  # e.g. a colour depth the restored format lacks
                pass
        scene.render.filepath, scene.render.use_file_extension = user[0], user[1]
        if scene.frame_current != user[2]:
            scene.frame_set(user[2])
        shutil.rmtree(work, ignore_errors=True)


#: the sequencer's memory cache (MB, ``Preferences.system.memory_cache_limit``) while
#: :func:`encode_frames` runs in background mode: the smallest (see there)
ENCODE_CACHE_MB = 1


def encode_frames(files: list, path: str, *, fps: int, fps_base: float = 1.0, like=None,
                  progress: Optional[Callable[[str, float], None]] = None,
                  before_frame: Optional[Callable[[int], None]] = None) -> str:
    """Encode picture frames (PNG, IRIS or BMP, one folder, sRGB, in order) to an H.264 MP4 with
    Blender's own FFmpeg output: a temporary scene whose sequencer holds one image strip of
    ``files``, rendered with the 'Standard' view transform so the pixels pass through unchanged.

    ``files[0]`` must exist when it is called; ``before_frame(i)`` (if given) is called before
    ``files[i]`` is read (a ``render_pre`` handler), so the others may still be being written
    and ``before_frame`` waits for each. What ``progress`` or ``before_frame`` raises
    (Cancelled, DepthAddonError, KeyboardInterrupt) stops the waiting, the rest of the encode
    runs through without it (Blender cannot stop an animation render from a handler) and it is
    raised afterwards. In background mode the sequencer's memory cache preference is
    :data:`ENCODE_CACHE_MB` while it runs (restored after). Returns ``path``."""
    if not files:
        raise DepthAddonError("no frames to encode")
    folder = os.path.dirname(files[0])
    probe = bpy.data.images.load(files[0], check_existing=False)
    try:
        w, h = probe.size
    finally:
        bpy.data.images.remove(probe)
    enc = bpy.data.scenes.new(".depth3d encode")
    done = [0]
    cancelled = []
    # the sequencer caches every frame it reads and every frame it renders (up to the
    # preference's 4 GB by default), each in fresh memory: in background mode the cache is kept
    # at its smallest while this encode runs, so each frame's buffers reuse the last one's
    # memory (the preference is restored after). Measured 2026-12-04, 150 frames encoded beside
    # a parallel render, this process: 640x360 minor page faults 37.8 k -> 4.6 k, CPU 1.26 ->
    # 0.83 s (kernel 0.64 -> 0.12 s), memory +146 -> +17 MB; 1280x720 CPU 4.12 -> 2.53 s (kernel
    # 2.09 -> 0.22 s), memory +577 -> +54 MB. The whole command, alternating, frames identical:
    # 640x360 9.67 -> 8.78 s (medians of 8), 1280x720 20.57 -> 20.08 s (medians of 4). (Turning
    # the editor's use_cache_raw / use_cache_final off instead crashes bpy 5.0.1 here.)
    sysprefs = bpy.context.preferences.system
    user_cache_mb = sysprefs.memory_cache_limit

    def on_write(sc, *_args):
        if sc != enc:
            return
        done[0] += 1
        if progress is not None and not cancelled:
            try:
                progress("encode", done[0] / len(files))
            except Cancelled as exc:
                cancelled.append(exc)

    def on_pre(sc, *_args):
        if sc != enc or cancelled or before_frame is None:
            return
        try:
            before_frame(sc.frame_current - enc.frame_start)
        except BaseException as exc:  # noqa: B036 -- raised again after the render
            cancelled.append(exc)

    try:
        if bpy.app.background:
            sysprefs.memory_cache_limit = ENCODE_CACHE_MB
        r = enc.render
        r.resolution_x, r.resolution_y, r.resolution_percentage = int(w), int(h), 100
        r.pixel_aspect_x = r.pixel_aspect_y = 1.0
        r.fps, r.fps_base = int(fps), float(fps_base)
        enc.frame_start, enc.frame_end = 1, len(files)
        if like is not None:
            enc.display_settings.display_device = like.display_settings.display_device
        enc.view_settings.view_transform = "Standard"
        enc.view_settings.look = "None"
        enc.view_settings.exposure = 0.0
        enc.view_settings.gamma = 1.0
        enc.sequencer_colorspace_settings.name = "sRGB"
        r.use_sequencer = True
        r.use_compositing = False
        ed = enc.sequence_editor_create()
        strips = ed.strips if hasattr(ed, "strips") else ed.sequences  # 5.0 / 4.2
        strip = strips.new_image("frames", files[0], channel=1, frame_start=1)
        for f in files[1:]:
            if os.path.dirname(f) != folder:
                raise DepthAddonError("encode_frames needs all frames in one folder")
            strip.elements.append(os.path.basename(f))
        strip.colorspace_settings.name = "sRGB"
        set_output(enc, os.path.join(os.path.dirname(path), ".encode_"), "mp4")
        # measured for 150 PNG frames at 640x360: GOOD 16-17 ms per frame, REALTIME 6 ms (the file
        # 12 % larger at the same CRF); in a parallel render this pass shares the cores with the
        # helpers' render
        r.ffmpeg.ffmpeg_preset = "REALTIME"
        bpy.app.handlers.render_write.append(on_write)
        bpy.app.handlers.render_pre.append(on_pre)
        try:
            bpy.ops.render.render(animation=True, scene=enc.name)
        except RuntimeError as exc:
            raise _blender_error(exc) from None
        finally:
            bpy.app.handlers.render_write.remove(on_write)
            bpy.app.handlers.render_pre.remove(on_pre)
        written = sorted(glob.glob(os.path.join(os.path.dirname(path), ".encode_*")))
        if cancelled:  # stopped: what was encoded is not the video
            for f in written:
                os.remove(f)
            raise cancelled[0]
        if not written:
            raise DepthAddonError("Blender encoded no video file (is FFmpeg available in this build?)")
        os.replace(written[0], path)
    finally:
        bpy.data.scenes.remove(enc)
        if sysprefs.memory_cache_limit != user_cache_mb:
            sysprefs.memory_cache_limit = user_cache_mb
    if cancelled:
        raise cancelled[0]
    return path


def render_still(scene: "bpy.types.Scene", path: str, frame: int) -> str:
    """Render one frame to a PNG file at ``path`` (no handler involved)."""
    init_gpu()
    scene.frame_set(frame)
    set_output(scene, path, "png")
    scene.render.use_file_extension = False
    bpy.ops.render.render(write_still=True, scene=scene.name)
    return path
