"""Command line: ``python -m depth_addon …`` and ``blender -b -c depth3d …`` share this parser.

The CLI only parses, checks the output paths before any slow work, reports progress and errors,
and calls the same two functions the UI calls: :func:`depth_addon.core.pipeline.run` and
:func:`depth_addon.blender.scene.build` (then renders).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Optional, Sequence

from .core import camera_path as cp
from .core import geometry as geo
from .core.errors import DepthAddonError
from .core.files import VIEW_SUFFIXES, view_paths
from .core.monocular import DEFAULT_MODEL

EXAMPLE_NOTE = ("no IMAGE given: rendering the bundled example, the Middlebury 2014 motorcycle "
                "stereo pair from skimage.data (calibrated: metric depth)")
#: calibration of skimage.data.stereo_motorcycle() (its docstring; valid for the 1/4-size images)
MOTORCYCLE = dict(focal_px=994.978, baseline_m=0.193001, doffs=31.086)
VIDEO_EXTS = (".mp4",)
DEPTH_EXTS = (".png", ".exr", ".npy")


def build_parser(prog: str = "python -m depth_addon") -> argparse.ArgumentParser:
    """The argument parser (also used by ``blender -b -c depth3d``)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Turn a photo (monocular depth), a stereo pair or a photo + depth map into a "
                    "3D photo in Blender and render a parallax video. With no IMAGE it renders "
                    "the bundled Middlebury motorcycle stereo example.")
    p.add_argument("image", nargs="*", metavar="IMAGE",
                   help="photo (JPEG/PNG/TIFF/HEIC…); left image of a stereo pair; several photos "
                        "or folders make a batch (see 'many photos')")
    src = p.add_argument_group("depth source (default: monocular model)")
    src.add_argument("--right", help="right image of a stereo pair (an .mpo IMAGE holds both)")
    src.add_argument("--sbs", nargs="?", const="lr", choices=("lr", "rl"),
                     help="IMAGE is one side-by-side stereo image (lr = parallel, rl = cross-eyed)")
    src.add_argument("--rectify", default="auto", choices=("auto", "always", "never"),
                     help="rectify a stereo pair taken by hand (auto: when its rows do not line up)")
    src.add_argument("--swap", default="auto", choices=("auto", "yes", "no"),
                     help="stereo: are left and right swapped? auto detects it from matches (a "
                          "side-by-side image with everything behind the screen needs 'no')")
    src.add_argument("--fuse-mono", action="store_true",
                     help="stereo: fill occlusions and weak matches from the monocular --model")
    src.add_argument("--depth", help="use this depth map (.png 8/16-bit, .exr, .npy, .tif; its "
                                     "FILE.json sidecar when present), or 'embedded': the depth "
                                     "IMAGE carries (HEIC depth image, GDepth JPEG), used "
                                     "automatically when present unless --model is given")
    src.add_argument("--depth-kind", default="auto",
                     choices=("auto", "metric", "relative", "inverse", "disparity"),
                     help="what --depth holds (auto: its FILE.json sidecar when present, else "
                          "8/16-bit PNG = inverse depth, white near; float = depth)")
    src.add_argument("--model", default=None,
                     help="transformers depth model id or a local folder (default "
                          f"{DEFAULT_MODEL}); giving it ignores the depth IMAGE carries")
    src.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    cal = p.add_argument_group("camera")
    cal.add_argument("--focal-px", type=float, help="focal length in pixels (default: EXIF, else --fov)")
    cal.add_argument("--fov", type=float, default=geo.DEFAULT_FOV_DEG,
                     help="horizontal field of view in degrees when unknown (default %(default)s)")
    cal.add_argument("--baseline-m", type=float, help="stereo baseline in metres (metric depth)")
    cal.add_argument("--doffs", type=float, default=0.0,
                     help="stereo principal-point offset cx_right - cx_left in pixels")
    cal.add_argument("--depth-range", type=float, default=6.0,
                     help="far/near ratio given to relative depth (default %(default)s)")
    g = p.add_argument_group("geometry")
    g.add_argument("--mode", default="mesh", choices=("mesh", "points", "plane"),
                   help="torn mesh, point cloud, or plane + Subdivision + Displace modifiers")
    g.add_argument("--step", type=float, default=2.0, help="pixels per vertex (default %(default)s)")
    g.add_argument("--max-vertices", type=int, default=geo.DEFAULT_MAX_VERTICES)
    g.add_argument("--simplify", type=float, default=geo.DEFAULT_SIMPLIFY_PX, metavar="PX",
                   help="draw the flat parts of the torn mesh with merged faces that stray at "
                        "most PX output pixels from the full grid along the planned move (fewer "
                        "vertices per frame; default %(default)s, 0 = a quad per grid cell)")
    g.add_argument("--tear-threshold", type=float, default=geo.DEFAULT_TEAR_THRESHOLD,
                   help="relative depth jump that tears the mesh (default %(default)s)")
    g.add_argument("--no-tear", action="store_true", help="do not tear (rubber sheet)")
    g.add_argument("--no-fill", action="store_true",
                   help="no filled background layer behind torn edges (holes show when moving)")
    g.add_argument("--hard-edges", action="store_true",
                   help="no alpha ramp on the torn silhouettes (they fade over one mesh cell in "
                        "EEVEE and Cycles by default; Workbench always draws them hard)")
    g.add_argument("--band", type=int, metavar="PX",
                   help="width of the filled background band in photo pixels (default: auto, the "
                        "largest gap the camera move opens)")
    g.add_argument("--inpaint", default="patchmatch", choices=("patchmatch", "telea", "ns", "fsr"),
                   help="background colour: PatchMatch texture copied from the background's own "
                        "surface (falls back to telea without pypatchmatch), Telea (fastest, "
                        "smooth, blurred), Navier-Stokes, or frequency-selective reconstruction "
                        "(fsr) (default %(default)s)")
    a = p.add_argument_group("animation and render")
    a.add_argument("--preset", default="circle", help=f"camera move: {', '.join(cp.PRESETS)}")
    a.add_argument("--amount", type=float, default=1.0,
                   help="motion strength: 1 = the largest motion the depth supports (the motion "
                        "budget of a torn, filled mesh), else the default parallax")
    a.add_argument("--parallax-units", action="store_true",
                   help="read --amount in parallax units instead (1 = the nearest plane moves "
                        "2.5%% of the width against the focus plane)")
    a.add_argument("--seconds", type=float, default=4.0)
    a.add_argument("--fps", type=int, default=30)
    a.add_argument("--resolution", help="render size WxH (default: photo's aspect, long side ≤ 1280)")
    a.add_argument("--engine", default="workbench", choices=("workbench", "eevee", "cycles"))
    a.add_argument("--no-overscan", action="store_true",
                   help="do not zoom in to keep the photo's edges out of the frame")
    a.add_argument("--stereo", choices=cp.STEREO_FORMATS,
                   help="stereo 3D video of the 3D photo (Blender's Stereo 3D views): sbs = side "
                        "by side, twice as wide, left view on the left; tb = top-bottom, twice as "
                        "tall; sbs-half/tb-half squeezed to the normal size; anaglyph = red-cyan; "
                        "lr = two videos NAME_L.mp4 and NAME_R.mp4 (PNG frames: frame_0001_L.png, "
                        "frame_0001_R.png)")
    a.add_argument("--interaxial", type=float, metavar="B",
                   help="stereo camera separation in scene units (metres for metric depth; "
                        "default: the largest that keeps the nearest and farthest points within "
                        "3 %% of the width of on-screen parallax, the 1/30 rule)")
    a.add_argument("--convergence", default="focus", choices=cp.CONVERGENCE_CHOICES,
                   help="stereo zero-parallax plane: the nearest depth (everything behind the "
                        "screen), the focus depth (default) or the farthest")
    a.add_argument("--dof", type=float, metavar="F_STOP",
                   help="depth of field: the camera's f-stop (e.g. 2.8; physical with metric "
                        "depth), focused on --focus-depth; rendered by EEVEE and Cycles, not by "
                        "Workbench")
    a.add_argument("--focus-depth", type=float, metavar="Z",
                   help="depth the camera focuses on, scene units (metres for metric depth; "
                        "default: the scene's focus depth, where the camera move pivots)")
    a.add_argument("--render-jobs", type=int, default=0, metavar="N",
                   help="processes that render frame ranges in parallel (default 0 = one per CPU "
                        "core, at most 4; 1 = render in this process only)")
    out = p.add_argument_group("output")
    out.add_argument("-o", "--output", help="OUT.mp4, or a folder for PNG frames "
                                            "(default: <image>_3d.mp4 / parallax.mp4)")
    out.add_argument("--export-depth", help="also write the depth map (.png 16-bit, .exr, .npy) "
                                            "and its FILE.json sidecar (kind, units, encoding, K)")
    out.add_argument("--export-normals", metavar="FILE.png",
                     help="also write a camera-space normal map (16-bit PNG, OpenGL: +Y up, +Z "
                          "towards the camera, RGB = 0.5 + 0.5 n) and its sidecar")
    out.add_argument("--export-ply", help="also write the point cloud as PLY")
    out.add_argument("--save-blend", help="also save the scene as a .blend file")
    out.add_argument("--no-render", action="store_true", help="build and export, do not render")
    out.add_argument("--overwrite", action="store_true", help="replace existing output files")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    out.add_argument("-v", "--verbose", action="store_true",
                     help="print the time each step took (depth, geometry, background, scene "
                          "build, render, encode)")
    from . import batch
    batch.add_arguments(p)
    return p


def _embedded_choice(args: argparse.Namespace) -> str:
    """Settings.embedded_depth: --depth embedded requires it, an explicit --model ignores it."""
    if args.depth == "embedded":
        return "require"
    return "ignore" if args.model else "auto"


def _resolution(text: Optional[str]):
    if not text:
        return None
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise DepthAddonError(f"--resolution must look like 1280x720, got {text!r}") from None


def _check_new_file(path: str, overwrite: bool, exts: Sequence[str], what: str) -> str:
    from .core.files import check_new_file
    return check_new_file(path, overwrite=overwrite, exts=exts, what=what)


def _check_output(path: str, overwrite: bool):
    """Return (absolute path, 'mp4' | 'png') after checking nothing of the user's is overwritten."""
    path = os.path.abspath(os.path.expanduser(path))
    ext = os.path.splitext(path)[1].lower()
    if ext in VIDEO_EXTS:
        return _check_new_file(path, overwrite, VIDEO_EXTS, "output video"), "mp4"
    if ext:
        raise DepthAddonError(f"unsupported output {path}: use OUT.mp4 or a folder for PNG frames")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise DepthAddonError(f"folder {parent} does not exist; create it or choose another output")
    from .core.files import check_writable_folder
    check_writable_folder(path if os.path.isdir(path) else parent)
    if os.path.isdir(path):
        frames = [f for f in os.listdir(path) if f.startswith("frame_") and f.endswith(".png")]
        if frames and not overwrite:
            raise DepthAddonError(f"{path} already holds {len(frames)} frame_*.png files; "
                                  "pass --overwrite to replace them")
    elif os.path.exists(path):
        raise DepthAddonError(f"{path} exists and is not a folder; pass OUT.mp4 or a folder")
    return path, "png"


class _Progress:
    """tqdm bars per stage on stderr (one line per stage when not a terminal); also measures how
    long each stage took (:attr:`seconds`, stage name -> seconds, in the order first seen)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.stage = None
        self.bar = None
        self.seconds = {}
        self._since = None

    def _clock(self, stage: Optional[str]) -> None:
        now = time.perf_counter()
        if self.stage is not None and self._since is not None:
            self.seconds[self.stage] = self.seconds.get(self.stage, 0.0) + now - self._since
        self._since = now

    def __call__(self, stage: str, fraction: float) -> None:
        if stage != self.stage:
            self._clock(stage)
        if self.quiet:
            self.stage = stage
            return
        if stage != self.stage:
            self.close()
            from tqdm import tqdm
            self.stage = stage
            self.bar = tqdm(total=100, desc=f"{stage:>14}", file=sys.stderr, leave=True,
                            bar_format="{desc}: {percentage:3.0f}%|{bar:30}| {elapsed}",
                            mininterval=0.5)
        if fraction >= 0 and self.bar is not None:
            self.bar.n = int(round(100 * min(1.0, fraction)))
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def finish(self) -> None:
        """Stop the clock of the current stage."""
        self._clock(None)
        self.stage = None
        self.close()


#: -v groups the pipeline's stages under these names (stereo / model stages count as depth)
_STEP_OF = {"load image": "load image", "build geometry": "geometry",
            "fill background": "background", "build scene": "scene build", "render": "render",
            "encode": "encode"}


def timing_table(seconds: dict, total: float, frames: int = 0, jobs: int = 0) -> str:
    """The -v report: one line per step, in pipeline order, and the total."""
    steps = {}
    for stage, sec in seconds.items():
        step = _STEP_OF.get(stage, "depth")
        steps[step] = steps.get(step, 0.0) + sec
    order = ["load image", "depth", "geometry", "background", "scene build", "render", "encode"]
    lines = [f"  {k:<12} {steps[k]:7.2f} s" for k in order if k in steps]
    if frames and "render" in steps:
        i = [k for k in order if k in steps].index("render")
        lines[i] += (f" ({frames} frames, {steps['render'] / frames:.3f} s per frame, "
                     f"{jobs or 1} process{'es' if jobs > 1 else ''})")
    lines.append(f"  {'total':<12} {total:7.2f} s (command, after imports)")
    return "timings:\n" + "\n".join(lines)


class _BlenderLogToDevNull:
    """Send file descriptor 1 to /dev/null while Blender renders: its per-frame "Saved: …" /
    "Video append frame" lines would bury the progress bar and the final line on stdout."""

    def __enter__(self):
        sys.stdout.flush()
        try:
            self._saved = os.dup(1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.close(devnull)
        except OSError:  # no real stdout (embedded): leave it alone
            self._saved = None
        return self

    def __exit__(self, *exc):
        if self._saved is not None:
            sys.stdout.flush()
            os.dup2(self._saved, 1)
            os.close(self._saved)
        return False


class _NoticeHandler(logging.Handler):
    def emit(self, record):
        print(f"notice: {record.getMessage()}", file=sys.stderr)


def run(args: argparse.Namespace) -> str:
    """Execute parsed arguments; returns the final summary line. Raises DepthAddonError."""
    from .core.pipeline import Settings

    settings = Settings(
        mode=args.mode, model=args.model or DEFAULT_MODEL, device=args.device,
        depth_kind=args.depth_kind, embedded_depth=_embedded_choice(args),
        depth_range=args.depth_range, fov_deg=args.fov, focal_px=args.focal_px,
        baseline_m=args.baseline_m, doffs=args.doffs, sbs=args.sbs, step=args.step,
        rectify=args.rectify, swap=args.swap, fuse_mono=args.fuse_mono,
        max_vertices=args.max_vertices, simplify_px=args.simplify,
        tear_threshold=None if args.no_tear else args.tear_threshold,
        preset=args.preset, amount=args.amount, seconds=args.seconds, fps=args.fps,
        resolution=_resolution(args.resolution), engine=args.engine, overscan=not args.no_overscan,
        fill_background=not args.no_fill, band_px=args.band, inpaint=args.inpaint,
        soft_edges=not args.hard_edges, dof_fstop=args.dof, focus_depth=args.focus_depth,
        stereo=args.stereo, interaxial=args.interaxial, convergence=args.convergence,
        amount_is_budget=not args.parallax_units)
    settings.validate()
    if args.focus_depth is not None and args.dof is None:
        raise DepthAddonError("--focus-depth needs --dof F_STOP (the depth of field's aperture)")
    if args.dof is not None and args.engine == "workbench":
        print("notice: Workbench does not render depth of field; add --engine eevee (or cycles) "
              "to see it (the camera keeps the setting in a saved .blend)", file=sys.stderr)

    image, right = (args.image[0] if args.image else None) if isinstance(args.image, list) \
        else args.image, args.right
    if image is None:
        if args.right or args.depth or args.sbs:
            raise DepthAddonError("--right/--depth/--sbs need an IMAGE")
        import skimage.data
        print(f"notice: {EXAMPLE_NOTE}", file=sys.stderr)
        image, right, _gt = skimage.data.stereo_motorcycle()
        for k, v in MOTORCYCLE.items():
            if getattr(settings, k) in (None, 0.0):
                setattr(settings, k, v)
    elif not os.path.exists(os.path.expanduser(image)):
        raise DepthAddonError(f"no such file: {image}")
    if args.right and args.depth:
        raise DepthAddonError("give either --right (stereo) or --depth (existing depth map), not both")
    if args.sbs and args.right:
        raise DepthAddonError("--sbs splits IMAGE into left/right; do not also give --right")

    # decide and check every output before slow work starts
    render = not args.no_render
    out = kind = None
    if render:
        if args.output:
            out = args.output
        else:
            stem = os.path.splitext(os.path.basename(image))[0] if isinstance(image, str) else "parallax"
            out = "parallax.mp4" if stem == "parallax" else f"{stem}_3d.mp4"
        out, kind = _check_output(out, args.overwrite)
        if args.stereo == "lr" and kind == "mp4":  # two videos, NAME_L.mp4 and NAME_R.mp4
            for view_out in view_paths(out, VIEW_SUFFIXES):
                _check_output(view_out, args.overwrite)
        elif args.stereo == "lr":
            print("notice: --stereo lr writes each frame twice, frame_0001_L.png and "
                  "frame_0001_R.png, into the folder", file=sys.stderr)
    if (args.interaxial is not None or args.convergence != "focus") and not args.stereo:
        raise DepthAddonError("--interaxial/--convergence need --stereo FORMAT")
    from .core import textures
    depth_out = args.export_depth and textures.check_texture_targets(
        args.export_depth, DEPTH_EXTS, "depth file", args.overwrite)
    normals_out = args.export_normals and textures.check_texture_targets(
        args.export_normals, textures.NORMAL_EXTS, "normal map", args.overwrite)
    ply_out = args.export_ply and _check_new_file(args.export_ply, args.overwrite, (".ply",), "PLY file")
    blend_out = args.save_blend and _check_new_file(args.save_blend, args.overwrite, (".blend",),
                                                    ".blend file")
    if ply_out and settings.mode != "points":
        raise DepthAddonError("--export-ply needs --mode points")
    if args.render_jobs < 0:
        raise DepthAddonError(f"--render-jobs must be 0 (auto) or more, got {args.render_jobs}")
    if not (render or depth_out or normals_out or ply_out or blend_out):
        raise DepthAddonError("--no-render given but nothing to export: add --export-depth, "
                              "--export-normals, --export-ply or --save-blend")

    progress = _Progress(args.quiet)
    render_timings = {}
    t0 = time.perf_counter()
    from .blender import helpers
    helpers.tune_malloc()  # this process's arrays reuse freed memory (see there)
    try:
        if render:
            # the helper processes start now and import bpy while the pipeline below computes;
            # this process imports bpy after the pipeline, on this thread (importing it on a
            # thread beside the pipeline deadlocked: bpy's library initialisers take the GIL
            # inside dlopen, as numpy's backtrace() does on another thread), so Blender's
            # ~0.4 GB is not added to the pipeline's peak memory
            helpers.start_helpers(settings.n_frames, args.render_jobs, kind)
        from .core import pipeline
        result = pipeline.run(image, right=right,
                              depth=None if args.depth == "embedded" else args.depth,
                              settings=settings, progress=progress)
        written = []
        texture_kw = dict(metric=result.metric, depth=result.depth, overwrite=args.overwrite,
                          source_type="file" if args.depth not in (None, "embedded") else None)
        if depth_out:
            written += textures.export_depth(depth_out, result.Z, result.K,
                                             depth_range=settings.depth_range, **texture_kw)
        if normals_out:
            written += textures.export_normals(normals_out, result.Z, result.K, **texture_kw)
        if ply_out:
            geo.write_ply(ply_out, geo.cv_to_blender(result.points[0]), result.points[1],
                          overwrite=args.overwrite)
            written.append(ply_out)
        progress("build scene", 0.0)
        if render:
            helpers.finish_starting()  # no thread of ours beside the import of bpy
        import bpy

        from .blender import scene as bscene
        # a scene of its own: whatever the startup file or the user's file holds stays untouched
        # (and out of the picture: bpy's default cube would otherwise surround the camera)
        scene = bpy.data.scenes.new("3D Photo")
        if getattr(bpy.context, "window", None) is not None:
            bpy.context.window.scene = scene
        bscene.build(result, scene=scene)
        progress("build scene", 1.0)
        if blend_out:
            import bpy
            bpy.ops.wm.save_as_mainfile(filepath=blend_out, copy=True)
            written.append(blend_out)
        if render:
            from .blender import render as brender
            if kind == "png":
                os.makedirs(out, exist_ok=True)
            with _BlenderLogToDevNull():
                files = brender.render_animation(scene, out, kind, progress=progress,
                                                 jobs=args.render_jobs, timings=render_timings)
            written[:0] = files if kind == "mp4" else [out]
    finally:
        progress.finish()
        helpers = sys.modules.get(__package__ + ".blender.helpers")
        if helpers is not None:  # helpers started for a render that did not happen
            helpers.stop_idle_helpers()
    if args.verbose:
        print(timing_table(progress.seconds, time.perf_counter() - t0,
                           frames=settings.n_frames if render else 0,
                           jobs=render_timings.get("jobs", 0)), file=sys.stderr)
    wr, hr = result.render_size
    units = "m" if result.metric else "scene units"
    geo_txt = (f"{len(result.mesh.positions):,} vertices, {result.mesh.n_torn_cells:,} torn cells"
               if result.mesh is not None else f"{len(result.points[0]):,} points")
    bg = result.background
    if bg is not None:  # filled band and motion budget (core/background/)
        geo_txt += (f", background band {bg.band_px} px for a {bg.needed_px:.0f} px reveal, "
                    f"{bg.budget_text()}")
    if settings.stereo:
        from .core.pipeline import stereo_rig
        rig = stereo_rig(result)
        geo_txt += (f", stereo {settings.stereo}: interaxial {rig.interaxial:.3g} {units}"
                    f"{' (3 % parallax rule)' if rig.auto else ''}, zero parallax at "
                    f"{rig.convergence:.3g} {units}, parallax near {rig.near_parallax_px:+.1f} px "
                    f"/ far {rig.far_parallax_px:+.1f} px")
    return (f"wrote {', '.join(written)} — {settings.n_frames} frames {wr}x{hr} at {settings.fps} fps, "
            f"{settings.preset} x{settings.amount:g} (parallax x{result.parallax_amount:.2g}, "
            f"zoom {result.zoom:.3f}), depth {result.scene.near:.3g}–"
            f"{result.scene.far:.3g} {units} ({result.depth.source or result.depth.kind}), "
            f"{geo_txt}, {time.perf_counter() - t0:.1f} s")


def main(argv: Optional[Sequence[str]] = None, prog: str = "python -m depth_addon") -> int:
    """Entry point; returns the process exit code (0 ok, 1 some batch items failed, 2 user error,
    130 interrupted)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    from . import batch
    if batch.is_batch(args):  # several photos, a folder, or -o DIR/ (see batch.add_arguments)
        return batch.main(args, sys.argv[1:] if argv is None else list(argv), prog)
    log = logging.getLogger("depth_addon")
    handler = _NoticeHandler()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        print(run(args))
        return 0
    except DepthAddonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # last resort for a file system that fails mid-run: one line, no traceback
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    finally:
        log.removeHandler(handler)


def blender_command(argv: Sequence[str]) -> int:
    """Handler for ``blender -b -c depth3d …`` (registered with bpy.utils.register_cli_command)."""
    try:
        return main(list(argv), prog="blender -b -c depth3d")
    except SystemExit as exc:  # argparse --help / usage errors
        return int(exc.code or 0)
