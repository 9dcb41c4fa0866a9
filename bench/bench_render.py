"""Benchmark: render speed against DepthFlow 1.0.1 on the same photo + depth, in ONE run.

Run from the repo root: ``.venv/bin/python bench/bench_render.py [--quick] [--runs N]``

What it does (issue 12):
1. Installs DepthFlow 1.0.1 into its own venv (``/work/depthflow-venv``, or ``--depthflow-venv``)
   if it is missing: ``python3 -m venv …`` + ``pip install depthflow==1.0.1 torch==2.13.0`` (the
   torch pin keeps pip from pulling CUDA wheels); DepthFlow needs a system ``ffmpeg``
   (``apt-get install -y ffmpeg`` when running as root). A benchmark dependency only.
2. Exports the bundled example's photo (the motorcycle's left image, PNG) and its 16-bit depth
   (``python -m depth_addon --no-render --export-depth depth.png``: inverse depth, white = near,
   which is also what DepthFlow reads).
3. At 1280x720 and 640x360, 5 s x 30 fps, circle move, ALTERNATING DepthFlow and ours
   (A B A B A B, ``--runs`` each): DepthFlow = its Circle preset, headless
   (``bench/depthflow_circle.py``, DepthFlow's venv); ours =
   ``python -m depth_addon photo.png --depth depth.png --resolution WxH --seconds 5 --fps 30
   -o out.mp4``. Wall time of the whole command (process start to exit) is what counts; the
   medians and the ratio ours / DepthFlow are printed. Each output is checked: 150 frames,
   H.264, yuv420p (ffprobe).
4. The example from a cold process: ``python -m depth_addon -o parallax.mp4`` (goal <= 25 s).
5. Anti-aliasing quality (:data:`AA_CASES`): two 1280x720 frames (40, 110; the soften was
   tuned on them) and two 640x360 frames (75, 140; held out) of the same photo rendered as the
   command renders it (Workbench + the compositor's depth-edge soften), with compositor SMAA (the
   method before), Workbench FXAA, no AA and 5 samples, each compared with an 8-sample-AA render
   of the same frame over the pixels within 2 px of a depth jump (Sobel of log depth from the
   render's Z pass > 0.15, dilated 5x5): PSNR (rewards blur), FLIP (NVIDIA's perceptual
   difference, ``flip_evaluator`` LDR, lower = better) and sharpness (variance of the Laplacian
   over the reference's: 1.0 = as sharp as the 8-sample render, > 1 jagged, < 1 blurred); PSNR
   over all pixels too.
6. Where a frame's time goes (``--only-breakdown`` runs just this): the scene of each size saved,
   then frames rendered in one process as the helpers render them, and again with the picture
   write, the compositor (anti-aliasing), the size (1/10) and the meshes switched off in turn.

The machine is shared (another engineer's CPU-heavy jobs): alternating runs and comparing the
ratio within one run is the point; the load average is printed with each run.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DF_VENV = "/work/depthflow-venv"
DF_PINS = ["depthflow==1.0.1", "torch==2.13.0"]
SIZES = [(1280, 720), (640, 360)]
#: a line of the CLI's -v report: "  render         12.34 s"
STEP_LINE = re.compile(r"^  (\S.*?)\s+([\d.]+) s\b")


def log(msg: str) -> None:
    print(msg, flush=True)


def loadavg() -> str:
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


# -- setup ----------------------------------------------------------------------------------------

def ensure_ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    if os.geteuid() != 0:
        raise SystemExit("DepthFlow needs a system ffmpeg: apt-get install -y ffmpeg")
    log("installing ffmpeg (apt-get install -y ffmpeg) …")
    subprocess.run(["apt-get", "install", "-y", "-qq", "ffmpeg"], check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    return shutil.which("ffmpeg") or "ffmpeg"


def ensure_depthflow(venv: str) -> str:
    py = os.path.join(venv, "bin", "python")
    ok = os.path.exists(py) and subprocess.run(
        [py, "-c", "import depthflow, sys; sys.exit(depthflow.__version__ != '1.0.1')"],
        capture_output=True).returncode == 0
    if not ok:
        log(f"installing DepthFlow into {venv}: pip install {' '.join(DF_PINS)} …")
        if not os.path.exists(py):
            subprocess.run(["python3", "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q"] + DF_PINS, check=True)
    return py


def export_inputs(tmp: str) -> tuple:
    """The example's left photo as PNG and its 16-bit depth, exported by our CLI."""
    import cv2
    import skimage.data

    photo = os.path.join(tmp, "photo.png")
    depth = os.path.join(tmp, "depth.png")
    left, _right, _gt = skimage.data.stereo_motorcycle()
    cv2.imwrite(photo, cv2.cvtColor(left, cv2.COLOR_RGB2BGR))
    subprocess.run([sys.executable, "-m", "depth_addon", "--no-render", "--export-depth", depth,
                    "-q"], cwd=ROOT, check=True, capture_output=True)
    return photo, depth


# -- runs -----------------------------------------------------------------------------------------

def timed(cmd: list, cwd: str = ROOT) -> tuple:
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-2000:]}\n"
                           f"{p.stderr[-3000:]}")
    return wall, p


def probe(path: str) -> dict:
    """codec, pix_fmt, size and decoded frame count of the first video stream (ffprobe)."""
    p = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                        "-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames",
                        "-of", "json", path], capture_output=True, text=True, check=True)
    s = json.loads(p.stdout)["streams"][0]
    return dict(codec=s["codec_name"], pix_fmt=s["pix_fmt"], w=int(s["width"]),
                h=int(s["height"]), frames=int(s["nb_read_frames"]))


def run_depthflow(df_py: str, photo: str, depth: str, out: str, w: int, h: int, seconds: float,
                  fps: int) -> float:
    if os.path.exists(out):
        os.remove(out)
    wall, _ = timed([df_py, os.path.join(ROOT, "bench", "depthflow_circle.py"), photo, depth, out,
                     str(w), str(h), str(fps), str(seconds)])
    return wall


def run_ours(photo: str, depth: str, out: str, w: int, h: int, seconds: float, fps: int,
             extra=()) -> tuple:
    wall, p = timed([sys.executable, "-m", "depth_addon", photo, "--depth", depth,
                     "--resolution", f"{w}x{h}", "--seconds", f"{seconds:g}", "--fps", str(fps),
                     "-o", out, "--overwrite", "-q", "-v"] + list(extra))
    steps = {}
    for ln in p.stderr.splitlines():
        m = STEP_LINE.match(ln)
        if m:
            steps[m[1]] = float(m[2])
    return wall, steps


def check_video(path: str, w: int, h: int, frames: int, who: str) -> str:
    info = probe(path)
    ok = (info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["w"] == w
          and info["h"] == h and info["frames"] == frames)
    text = (f"{who}: {info['codec']} {info['pix_fmt']} {info['w']}x{info['h']} "
            f"{info['frames']} frames")
    if not ok:
        text += f"  <-- EXPECTED h264 yuv420p {w}x{h} {frames} frames"
    return text


# -- edge PSNR (runs in a subprocess that imports bpy) --------------------------------------------

#: the anti-aliasing comparisons: (label, width, height, frames). The soften's thresholds were
#: tuned on the first (1280x720, frames 40 and 110); the second (640x360, other frames) was not
#: looked at while tuning
AA_CASES = [("tuned on", 1280, 720, "40,110"), ("held out", 640, 360, "75,140")]

def edge_psnr_main(blend: str, frames: str) -> None:
    """Render frames of the saved scene with several AA settings; print JSON results."""
    import bpy
    import cv2
    import flip_evaluator
    import numpy as np

    sys.path.insert(0, ROOT)
    from depth_addon.blender import render as brender

    bpy.ops.wm.open_mainfile(filepath=blend)
    sc = bpy.data.scenes["3D Photo"]
    brender.init_gpu()
    tmp = os.path.dirname(blend)
    default_group = sc.compositing_node_group

    def shot(name, aa, group, z=False):
        sc.display.render_aa = aa
        sc.compositing_node_group = group
        sc.render.use_compositing = group is not None
        path = os.path.join(tmp, f"aa_{name}.png")
        isf = sc.render.image_settings
        isf.file_format = "PNG"
        isf.color_mode, isf.color_depth = ("BW", "16") if z else ("RGB", "8")
        sc.render.filepath = path
        sc.render.use_file_extension = False
        t = time.perf_counter()
        bpy.ops.render.render(write_still=True, scene=sc.name)
        return cv2.imread(path, -1).astype(np.float64), time.perf_counter() - t

    def group_of(node_type, **inputs):
        g = bpy.data.node_groups.new(f"bench {node_type}", "CompositorNodeTree")
        g.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        go, rl = g.nodes.new("NodeGroupOutput"), g.nodes.new("CompositorNodeRLayers")
        node = g.nodes.new(node_type)
        for k, v in inputs.items():
            node.inputs[k].default_value = v
        g.links.new(rl.outputs["Depth" if node_type == "ShaderNodeMapRange" else "Image"],
                    node.inputs[0 if node_type == "ShaderNodeMapRange" else "Image"])
        g.links.new(node.outputs[0], go.inputs[0])
        return g

    # the Z pass of the same frame, through a compositor group (depth 0..ZMAX -> 0..1)
    zmax = float(sc.camera.data.clip_end)
    sc.view_layers[0].use_pass_z = True
    zg = group_of("ShaderNodeMapRange", **{"From Min": 0.0, "From Max": zmax, "To Min": 0.0,
                                           "To Max": 1.0})
    smaa = group_of("CompositorNodeAntiAliasing", Threshold=0.05)  # the method before 2026-12-04
    default_aa = sc.display.render_aa if default_group is None else "OFF"
    cases = [("ours (default: depth-edge soften)", default_aa, default_group),
             ("compositor SMAA (before)", "OFF", smaa), ("Workbench FXAA", "FXAA", None),
             ("no AA", "OFF", None), ("5 samples", "5", None)]
    res = {"frames": [], "size": [sc.render.resolution_x, sc.render.resolution_y], "cases": {}}

    def gray(img):
        return cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2GRAY)

    for frame in [int(f) for f in frames.split(",")]:
        sc.frame_set(frame)
        z, _ = shot("depth", "OFF", zg, z=True)
        lz = np.log(z / 65535.0 * zmax + 1e-6)
        grad = np.hypot(cv2.Sobel(lz, cv2.CV_64F, 1, 0, ksize=3),
                        cv2.Sobel(lz, cv2.CV_64F, 0, 1, ksize=3))
        mask = cv2.dilate((grad > 0.15).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        ref, t_ref = shot("ref8", "8", None)
        lap_ref = cv2.Laplacian(gray(ref), cv2.CV_64F)[mask].var()
        res["frames"].append({"frame": frame, "mask_percent": float(mask.mean() * 100),
                              "ref_s": t_ref})
        for name, aa, group in cases:
            tag = name.split(" (")[0].replace(" ", "_")
            shot(tag, aa, group)  # warm
            img, dt = shot(tag, aa, group)
            err = (img - ref) ** 2
            fmap = np.asarray(flip_evaluator.evaluate(
                np.ascontiguousarray(ref[..., ::-1] / 255.0, np.float32),
                np.ascontiguousarray(img[..., ::-1] / 255.0, np.float32), "LDR")[0])
            sharp = cv2.Laplacian(gray(img), cv2.CV_64F)[mask].var() / max(lap_ref, 1e-12)
            res["cases"].setdefault(name, []).append({
                "edge_db": 10 * np.log10(255.0 ** 2 / max(float(err[mask].mean()), 1e-12)),
                "all_db": 10 * np.log10(255.0 ** 2 / max(float(err.mean()), 1e-12)),
                "flip_edge": float(fmap[mask].mean()), "sharpness": float(sharp), "still_s": dt})
    print("EDGE_PSNR " + json.dumps(res))


def edge_psnr(photo: str, depth: str, tmp: str, w: int, h: int, frames: str) -> dict:
    blend = os.path.join(tmp, f"aa_scene_{w}x{h}.blend")
    subprocess.run([sys.executable, "-m", "depth_addon", photo, "--depth", depth, "--resolution",
                    f"{w}x{h}", "--seconds", "5", "--fps", "30", "--no-render", "--save-blend",
                    blend, "--overwrite", "-q"], cwd=ROOT, check=True, capture_output=True)
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--edge-psnr-worker", blend,
                        frames], cwd=ROOT, capture_output=True, text=True)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("EDGE_PSNR ")]
    if p.returncode != 0 or not line:
        raise RuntimeError(f"edge PSNR failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    return json.loads(line[-1][len("EDGE_PSNR "):])


# -- where a frame's time goes (runs in a subprocess that imports bpy) -----------------------------

#: frames rendered per variant and round of the breakdown (after 3 warm-up frames)
BREAKDOWN_FRAMES = 20
#: rounds of the breakdown's variants (the fastest round of each variant is reported)
BREAKDOWN_ROUNDS = 2


def breakdown_main(blend: str) -> None:
    """Render frames of the saved scene in this one process as the command's helpers do (stills
    in ``render.VIDEO_FRAME_FORMAT``), then with parts switched off; print JSON ms per frame for
    each variant."""
    import bpy

    sys.path.insert(0, ROOT)
    from depth_addon.blender import render as brender
    from depth_addon.blender import render_worker as rw

    bpy.ops.wm.open_mainfile(filepath=blend, load_ui=False)
    sc = bpy.data.scenes["3D Photo"]
    brender.init_gpu()
    fmt = brender.VIDEO_FRAME_FORMAT
    rw.setup_png(sc, 0, fmt)
    sc.render.use_file_extension = False
    tmp = os.path.dirname(blend)

    def per_frame(write=True, n=BREAKDOWN_FRAMES):
        t = time.perf_counter()
        for f in range(1, n + 1):
            sc.frame_set(f)
            sc.render.filepath = os.path.join(tmp, f"bd_{f:04d}{rw.FRAME_EXT[fmt]}")
            bpy.ops.render.render(write_still=write, scene=sc.name)
        return (time.perf_counter() - t) / n * 1000.0

    per_frame(n=3)  # warm-up: shaders, caches
    res = {"size": [sc.render.resolution_x, sc.render.resolution_y], "format": fmt,
           "corners": sum(len(o.data.loops) for o in sc.objects if o.type == "MESH"),
           "vertices": sum(len(o.data.vertices) for o in sc.objects if o.type == "MESH")}
    w, h = sc.render.resolution_x, sc.render.resolution_y
    meshes = [o for o in sc.objects if o.type == "MESH"]

    def variant(name):  # each variant's settings from scratch
        full = name in ("as rendered", "no picture written")
        sc.render.use_compositing = full
        sc.view_layers[0].use_pass_z = full  # the Z pass is read for the anti-aliasing only
        small = name.startswith("1/10")
        sc.render.resolution_x = max(2, w // 10) // 2 * 2 if small else w
        sc.render.resolution_y = max(2, h // 10) // 2 * 2 if small else h
        for o in meshes:
            o.hide_render = "no meshes" in name
        return per_frame(write=name == "as rendered")

    names = ["as rendered", "no picture written", "no compositor (no AA)", "1/10 size, no AA",
             "1/10 size, no meshes", "no meshes, no AA"]
    # the variants in turn, BREAKDOWN_ROUNDS times; the fastest round of each counts (the
    # differences between variants are a few ms: one slow round would swamp them)
    for _ in range(BREAKDOWN_ROUNDS):
        for name in names:
            t = variant(name)
            res[name] = min(res.get(name, t), t)
    print("BREAKDOWN " + json.dumps(res))


def breakdown(photo: str, depth: str, tmp: str, w: int, h: int) -> dict:
    blend = os.path.join(tmp, f"bd_scene_{w}x{h}.blend")
    subprocess.run([sys.executable, "-m", "depth_addon", photo, "--depth", depth, "--resolution",
                    f"{w}x{h}", "--seconds", "5", "--fps", "30", "--no-render", "--save-blend",
                    blend, "--overwrite", "-q"], cwd=ROOT, check=True, capture_output=True)
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--breakdown-worker", blend],
                       cwd=ROOT, capture_output=True, text=True)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("BREAKDOWN ")]
    if p.returncode != 0 or not line:
        raise RuntimeError(f"breakdown failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    return json.loads(line[-1][len("BREAKDOWN "):])


def log_breakdown(b: dict) -> None:
    w, h = b["size"]
    full, nowrite, noaa = b["as rendered"], b["no picture written"], b["no compositor (no AA)"]
    small, small_empty, empty = b["1/10 size, no AA"], b["1/10 size, no meshes"], b["no meshes, no AA"]
    parts = [(f"picture write ({b.get('format', 'BMP')}, colour management)", full - nowrite),
             ("compositor anti-aliasing (depth-edge soften)", nowrite - noaa),
             (f"mesh work that does not scale with size ({b['vertices']:,} vertices, "
              f"{b['corners']:,} corners: llvmpipe vertex stage, draw setup)", small - small_empty),
             ("mesh pixels (raster, texture)", (noaa - empty) - (small - small_empty)),
             ("empty frame (clear, read-back, render pipeline)", empty)]
    log(f"where a {w}x{h} frame's time goes, one process, the fastest of {BREAKDOWN_ROUNDS} rounds "
        f"of {BREAKDOWN_FRAMES} frames per variant "
        f"(a parallel render's processes each take ~1.3-1.4x this, sharing 2 cores):")
    log("| part | ms per frame | share |")
    log("|---|---|---|")
    for name, v in parts:
        log(f"| {name} | {v:.1f} | {v / full * 100:.0f} % |")
    log(f"| all (as the command renders) | {full:.1f} | 100 % |")


# -- main -----------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one run each, 640x360 only, no example")
    ap.add_argument("--runs", type=int, default=3, help="alternating runs per side and size")
    ap.add_argument("--sizes", default=None, help="e.g. 1280x720,640x360")
    ap.add_argument("--depthflow-venv", default=DF_VENV)
    ap.add_argument("--no-example", action="store_true")
    ap.add_argument("--no-psnr", action="store_true")
    ap.add_argument("--no-breakdown", action="store_true",
                    help="skip the per-frame cost breakdown")
    ap.add_argument("--only-breakdown", action="store_true",
                    help="only the per-frame cost breakdown (no DepthFlow, no timed runs)")
    ap.add_argument("--edge-psnr-worker", nargs=2, metavar=("BLEND", "FRAMES"), help=argparse.SUPPRESS)
    ap.add_argument("--breakdown-worker", metavar="BLEND", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.edge_psnr_worker:
        edge_psnr_main(args.edge_psnr_worker[0], args.edge_psnr_worker[1])
        return
    if args.breakdown_worker:
        breakdown_main(args.breakdown_worker)
        return
    sys.path.insert(0, ROOT)
    runs = 1 if args.quick else args.runs
    sizes = SIZES if not args.sizes else [tuple(int(v) for v in s.split("x"))
                                          for s in args.sizes.split(",")]
    if args.quick and not args.sizes:
        sizes = [(640, 360)]
    seconds, fps = 5.0, 30
    frames = int(round(seconds * fps))

    if args.only_breakdown:
        tmp = tempfile.mkdtemp(prefix="bench_render_")
        log(f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
            f"load {loadavg()}")
        photo, depth = export_inputs(tmp)
        for (w, h) in sizes:
            log_breakdown(breakdown(photo, depth, tmp, w, h))
        shutil.rmtree(tmp, ignore_errors=True)
        return
    ensure_ffmpeg()
    df_py = ensure_depthflow(args.depthflow_venv)
    tmp = tempfile.mkdtemp(prefix="bench_render_")
    log(f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"load {loadavg()}, temp {tmp}")
    photo, depth = export_inputs(tmp)
    results = {}
    checks = []
    for (w, h) in sizes:
        df_times, our_times, our_steps = [], [], []
        for i in range(runs):
            out_df = os.path.join(tmp, f"df_{w}x{h}.mp4")
            t = run_depthflow(df_py, photo, depth, out_df, w, h, seconds, fps)
            df_times.append(t)
            log(f"{w}x{h} run {i + 1}: DepthFlow {t:6.1f} s  (load {loadavg()})")
            out_us = os.path.join(tmp, f"ours_{w}x{h}.mp4")
            t, steps = run_ours(photo, depth, out_us, w, h, seconds, fps)
            our_times.append(t)
            our_steps.append(steps)
            log(f"{w}x{h} run {i + 1}: ours      {t:6.1f} s  (load {loadavg()})  "
                + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()))
        checks.append(check_video(out_df, w, h, frames, f"DepthFlow {w}x{h}"))
        checks.append(check_video(out_us, w, h, frames, f"ours      {w}x{h}"))
        results[(w, h)] = (df_times, our_times, our_steps)

    example = []
    if not (args.quick or args.no_example):
        for i in range(runs):
            out = os.path.join(tmp, "parallax.mp4")
            if os.path.exists(out):
                os.remove(out)
            t, _ = timed([sys.executable, "-m", "depth_addon", "-o", out, "-q"], cwd=ROOT)
            example.append(t)
            log(f"example run {i + 1}: {t:.1f} s  (load {loadavg()})")
        info = probe(out)
        checks.append(check_video(out, info["w"], info["h"], info["frames"], "example"))

    psnrs = []
    if not (args.quick or args.no_psnr):
        psnrs = [(label, edge_psnr(photo, depth, tmp, w, h, frames))
                 for label, w, h, frames in AA_CASES]
    breakdowns = []
    if not (args.quick or args.no_breakdown):
        breakdowns = [breakdown(photo, depth, tmp, w, h) for (w, h) in sizes]

    log("")
    log(f"## Render speed, {time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} cores, "
        f"no GPU (llvmpipe); 5 s x 30 fps, circle, photo + 16-bit depth; wall time of the whole "
        f"command, {runs} alternating run(s) each")
    log("")
    log("| size | DepthFlow 1.0.1 (median) | ours (median) | ours / DepthFlow | runs DepthFlow | runs ours |")
    log("|---|---|---|---|---|---|")
    for (w, h), (dft, ot, _st) in results.items():
        md, mo = statistics.median(dft), statistics.median(ot)
        log(f"| {w}x{h} | {md:.1f} s | {mo:.1f} s | **{mo / md:.2f}** | "
            f"{', '.join(f'{t:.1f}' for t in dft)} | {', '.join(f'{t:.1f}' for t in ot)} |")
    for (w, h), (_d, _o, st) in results.items():
        keys = [k for k in ("load image", "depth", "geometry", "background", "scene build",
                            "render", "encode", "total") if any(k in s for s in st)]
        med = {k: statistics.median([s.get(k, 0.0) for s in st]) for k in keys}
        log(f"ours {w}x{h}, median per step (-v): " + ", ".join(f"{k} {v:.1f} s" for k, v in med.items()))
    if example:
        log(f"example `python -m depth_addon -o parallax.mp4`, cold process: median "
            f"{statistics.median(example):.1f} s ({', '.join(f'{t:.1f}' for t in example)}; goal <= 25 s)")
    for c in checks:
        log("video check: " + c)
    for label, psnr in psnrs:
        fr = psnr["frames"]
        names = " / ".join(str(f["frame"]) for f in fr)
        masks = " / ".join(f"{f['mask_percent']:.1f}" for f in fr)
        log(f"anti-aliasing ({label}), frames {names} at {psnr['size'][0]}x{psnr['size'][1]} vs "
            f"an 8-sample render of the same frame ({masks} % of the pixels are within 2 px of a "
            f"depth jump):")
        log("| AA | edge PSNR | edge FLIP (lower = better) | edge sharpness (1 = as the reference) "
            "| all-pixel PSNR | still render |")
        log("|---|---|---|---|---|---|")

        def per(c, k, fmt):
            return " / ".join(fmt.format(x[k]) for x in c)
        for name, c in psnr["cases"].items():
            log(f"| {name} | {per(c, 'edge_db', '{:.2f}')} dB | {per(c, 'flip_edge', '{:.4f}')} | "
                f"{per(c, 'sharpness', '{:.2f}')} | {per(c, 'all_db', '{:.2f}')} dB | "
                f"{per(c, 'still_s', '{:.2f}')} s |")
    for b in breakdowns:
        log_breakdown(b)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
