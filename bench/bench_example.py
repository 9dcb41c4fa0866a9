"""Benchmark: the bundled example, run exactly as a user runs it, Workbench (default) vs Cycles.

Run from the repo root: ``.venv/bin/python bench/bench_example.py``

Each run is ``<this python> -m depth_addon -o OUT.mp4 --overwrite -q [extra]`` in a fresh process
started in the repo root, with OUT.mp4 in a temporary folder: wall time of the whole command (process start, imports, stereo
matching, mesh, scene, render, MP4), frames and size parsed from the final 'wrote …' line and
checked against the MP4 with cv2.VideoCapture. A second run per engine with ``--no-render
--export-depth`` (same pipeline and scene build, nothing rendered) gives the fixed cost, so
(total - fixed) / frames estimates the render time per frame.

Layer + fill timing (issue 9's goal: ≤ 3 s for the example): the example with ``--no-render
--export-depth -v``, alternating the default fill (depth-guided PatchMatch) and ``--inpaint telea``,
``--fill-repeats`` times each (default 3); the 'background' line of the CLI's ``-v`` timing table
(``pipeline``'s layering + inpainting + motion budget + layer mesh) is printed, median and runs.
``--fill-only`` skips the renders.

Reference (NOT measured by this script): DepthFlow 1.0.1, measured earlier on this machine kind and
recorded in DESIGN.md.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import cv2  # noqa: E402

#: DepthFlow 1.0.1 on this machine kind, from DESIGN.md: (label, seconds, frames, width, height)
DEPTHFLOW = [("DepthFlow 1.0.1, 5 s x 30 fps, 1280x720", 72.9, 150, 1280, 720),
             ("DepthFlow 1.0.1, 5 s x 30 fps, 640x360", 20.5, 150, 640, 360)]

WROTE = re.compile(r"wrote (?P<out>.+?) — (?P<frames>\d+) frames (?P<w>\d+)x(?P<h>\d+) at "
                   r"(?P<fps>\d+) fps.*?, (?P<own>[\d.]+) s\s*$")


def run_cli(args: list, cwd: str = ROOT) -> tuple:
    cmd = [sys.executable, "-m", "depth_addon"] + args
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr[-3000:]}")
    last = [ln for ln in p.stdout.splitlines() if ln.startswith("wrote ")]
    if not last:
        raise RuntimeError(f"no 'wrote' line in:\n{p.stdout}\n{p.stderr[-2000:]}")
    return wall, last[-1], p.stderr


def probe_mp4(path: str) -> tuple:
    """(frames counted by decoding, frames the container claims, width, height, fps)."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise RuntimeError(f"cv2 cannot open {path}")
    claimed = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = cap.get(cv2.CAP_PROP_FPS)
    n = 0
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    cap.release()
    return n, claimed, w, h, fps


def bench(label: str, extra: list, tmp: str) -> dict:
    out = os.path.join(tmp, f"{label}.mp4")
    wall, line, _err = run_cli(["-o", out, "--overwrite", "-q"] + extra)
    m = WROTE.search(line)
    if not m:
        raise RuntimeError(f"cannot parse: {line}")
    frames, w, h = int(m["frames"]), int(m["w"]), int(m["h"])
    decoded, claimed, vw, vh, vfps = probe_mp4(out)
    fixed_wall, _line, _ = run_cli(["--no-render", "--export-depth",
                                    os.path.join(tmp, f"{label}_depth.npy"), "--overwrite", "-q"]
                                   + extra)
    r = dict(label=label, wall=wall, own=float(m["own"]), frames=frames, w=w, h=h,
             decoded=decoded, claimed=claimed, vw=vw, vh=vh, vfps=vfps, fixed=fixed_wall,
             line=line, size_mb=os.path.getsize(out) / 1e6)
    print(f"[{label}] {line}", flush=True)
    print(f"  wall {wall:.1f} s (the CLI's own count {r['own']:.1f} s); MP4 by cv2: {decoded} frames "
          f"decoded ({claimed} in the header), {vw}x{vh} at {vfps:g} fps, {r['size_mb']:.1f} MB; "
          f"same run without rendering: {fixed_wall:.1f} s", flush=True)
    if (decoded, vw, vh) != (frames, w, h):
        print(f"  MISMATCH: the 'wrote' line says {frames} frames {w}x{h}", flush=True)
    return r


BACKGROUND = re.compile(r"^\s*background\s+(?P<s>[\d.]+) s", re.M)


def fill_timings(tmp: str, repeats: int) -> None:
    """Median 'background' stage time of the example, default fill vs --inpaint telea."""
    import statistics

    runs = {"default (depth-guided PatchMatch)": [], "--inpaint telea": []}
    extra = {"default (depth-guided PatchMatch)": [], "--inpaint telea": ["--inpaint", "telea"]}
    for i in range(repeats):
        for name in runs:
            _wall, _line, err = run_cli(["--no-render", "--export-depth",
                                         os.path.join(tmp, f"fill{i}.npy"), "--overwrite", "-q",
                                         "-v"] + extra[name])
            m = BACKGROUND.search(err)
            if not m:
                raise RuntimeError(f"no 'background' line in the -v table:\n{err[-2000:]}")
            runs[name].append(float(m["s"]))
            print(f"  fill run {i + 1} {name}: background {runs[name][-1]:.2f} s "
                  f"(load {os.getloadavg()[0]:.2f})", flush=True)
    print()
    print("the example's layer + fill ('background' step of -v, 741x500, circle x1), goal <= 3 s")
    for name, ts in runs.items():
        print(f"  {name:<36} median {statistics.median(ts):.2f} s of "
              f"{', '.join(f'{t:.2f}' for t in ts)}")


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fill-only", action="store_true", help="only the layer + fill timings")
    ap.add_argument("--fill-repeats", type=int, default=3, metavar="N")
    args = ap.parse_args()
    print(f"load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_example_") as tmp:
        fill_timings(tmp, args.fill_repeats)
        if args.fill_only:
            return
        runs = [bench("workbench", [], tmp),
                bench("cycles", ["--engine", "cycles", "--seconds", "1"], tmp)]
    print()
    print("bundled example (motorcycle stereo pair), as a user runs it")
    hdr = (f"{'run':<44} {'frames':>6} {'size':>9} {'total s':>8} {'s/frame':>8} "
           f"{'render s/frame':>15} {'s/frame/MP':>10}")
    print(hdr)
    print("-" * len(hdr))
    for r in runs:
        per = r["wall"] / r["frames"]
        rend = max(0.0, r["wall"] - r["fixed"]) / r["frames"]
        mp = r["w"] * r["h"] / 1e6
        name = f"ours, {r['label']}" + (" (default)" if r["label"] == "workbench" else ", --seconds 1")
        print(f"{name:<44} {r['frames']:>6} {r['w']:>4}x{r['h']:<4} {r['wall']:>8.1f} {per:>8.3f} "
              f"{rend:>15.3f} {rend / mp:>10.3f}")
    for name, sec, frames, w, h in DEPTHFLOW:
        per = sec / frames
        print(f"{name:<44} {frames:>6} {w:>4}x{h:<4} {sec:>8.1f} {per:>8.3f} {'':>15} "
              f"{per / (w * h / 1e6):>10.3f}")
    print("DepthFlow rows: measured earlier on this machine kind (DESIGN.md), not in this run; its "
          "s/frame includes its own start-up.")
    print("render s/frame = (total - same command with --no-render --export-depth) / frames; "
          "s/frame/MP = render s/frame per megapixel of output (DepthFlow: total s/frame).")


if __name__ == "__main__":
    main()
