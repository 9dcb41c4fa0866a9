"""Batch memory and parallel speed (issue 11): peak RSS after 5 and after 50 photos in ONE process,
and the wall time of the same batch with --jobs 1 and --jobs 2.

Photos: 50 real pictures made from skimage.data photos (resized, cropped and flipped variants),
saved as JPEGs in a temporary folder. Depth: the tiny random Depth Anything model of
tests/tiny_model.py (no download), so the numbers measure the batch machinery, the mesh, the
background fill and the render, not a real model's inference (a real model is loaded once too).

Memory: the batch loop of :mod:`depth_addon.batch` (``run_item`` per photo, which removes each
photo's scene and purges orphan data) runs in this process; after photo 5 and photo 50 it reads the
peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``) and the current RSS (``/proc/self/status`` VmRSS).
Speed: ``python -m depth_addon FOLDER -o OUT/ --jobs J`` in a subprocess over the first
``--speed-photos`` photos, J = 1 and 2, wall time each and the ratio.

Usage:  python bench/bench_batch.py [--photos 50] [--speed-photos 8] [--resolution 160x106]
Prints a table; the issue's target is peak(50) / peak(5) <= 1.10.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="depth3d-bench-user-"))


def make_photos(folder: pathlib.Path, n: int, side: int = 320) -> list:
    """``n`` JPEG variants of skimage.data photos (crops, flips, sizes) in ``folder``.

    Returns:
        list of the written paths (photo000.jpg …), in name order.
    """
    import numpy as np
    import skimage.data
    from PIL import Image

    srcs = [np.asarray(f()) for f in (skimage.data.astronaut, skimage.data.coffee,
                                       skimage.data.chelsea, skimage.data.rocket)]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        a = srcs[k % 4]
        v = k // 4
        h, w = a.shape[:2]
        a = a[(v * 13) % (h // 4):, (v * 29) % (w // 4):]  # a different crop each round
        if v % 2:
            a = a[:, ::-1]
        im = Image.fromarray(np.ascontiguousarray(a))
        s = side - 8 * (v % 5)
        im.thumbnail((s, s))
        p = folder / f"photo{k:03d}.jpg"
        im.save(p, quality=90)
        paths.append(p)
    return paths


def rss_now_mb() -> float:
    with open("/proc/self/status") as fh:
        for ln in fh:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def memory(folder: pathlib.Path, model: pathlib.Path, out: pathlib.Path, opts: list, n: int):
    from depth_addon import batch, cli

    args = cli.build_parser().parse_args([str(folder), "-o", f"{out}/", "--model", str(model)]
                                         + opts)
    items = batch.collect(args.image, output=args.output, pattern=args.pattern)[:n]
    marks = {}
    t0 = time.perf_counter()
    for k, it in enumerate(items, 1):
        rec = batch.run_item(args, it)
        if rec["status"] != "done":
            raise SystemExit(f"{it.name}: {rec['status']} {rec['reason']}")
        if k in (1, 5, 10, 25, 50, n):
            import bpy
            marks[k] = (peak_mb(), rss_now_mb(), time.perf_counter() - t0,
                        len(bpy.data.objects), len(bpy.data.meshes), len(bpy.data.images),
                        len(bpy.data.scenes))
    return marks


def speed(folder: pathlib.Path, model: pathlib.Path, tmp: pathlib.Path, opts: list, jobs: int):
    out = tmp / f"speed_j{jobs}"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "depth_addon", str(folder), "-o", f"{out}/",
                        "--model", str(model), "--jobs", str(jobs)] + opts,
                       capture_output=True, text=True, env=env, cwd=ROOT)
    dt = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    if r.returncode != 0:
        raise SystemExit(f"--jobs {jobs} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return dt, cpu, r.stdout.strip().splitlines()[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=50)
    ap.add_argument("--speed-photos", type=int, default=8)
    ap.add_argument("--resolution", default="160x106")
    ap.add_argument("--seconds", default="1")
    ap.add_argument("--fps", default="8")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--inpaint", default="patchmatch", help="background fill of every photo")
    a = ap.parse_args()
    opts = ["--resolution", a.resolution, "--seconds", a.seconds, "--fps", a.fps, "-q",
            "--inpaint", a.inpaint]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="depth3d-bench-batch-"))
    from tests.tiny_model import make_tiny_depth_anything
    model = make_tiny_depth_anything(tmp / "tiny")
    photos = make_photos(tmp / "photos", a.photos)
    print(f"{len(photos)} photos (skimage.data variants, <= 320 px) in {tmp / 'photos'}; "
          f"render {a.resolution}, {a.seconds} s x {a.fps} fps, Workbench, --inpaint {a.inpaint}, "
          "tiny model; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    if not a.skip_speed:
        sp = tmp / "speed_in"
        sp.mkdir()
        for p in photos[:a.speed_photos]:
            os.symlink(p, sp / p.name)
        la0 = os.getloadavg()[0]
        t1, cpu1, s1 = speed(sp, model, tmp, opts, 1)
        t2, cpu2, s2 = speed(sp, model, tmp, opts, 2)
        print(f"\nspeed, {a.speed_photos} photos, wall time of the whole command "
              f"(model load and Blender start included); load average before {la0:.1f}")
        print(f"  --jobs 1: {t1:7.1f} s, CPU {cpu1:6.1f} s = {cpu1 / t1:.2f} cores busy   ({s1})")
        print(f"  --jobs 2: {t2:7.1f} s, CPU {cpu2:6.1f} s = {cpu2 / t2:.2f} cores busy   ({s2})")
        print(f"  speed-up --jobs 2 / --jobs 1: {t1 / t2:.2f}x  (load average now "
              f"{os.getloadavg()[0]:.1f})")
    if not a.skip_memory:
        marks = memory(tmp / "photos", model, tmp / "mem_out", opts, a.photos)
        print("\nmemory, one process (peak = ru_maxrss, now = VmRSS)")
        print("  after photo | peak MB |  now MB | elapsed s | objects meshes images scenes")
        for k, (pk, now, el, ob, me, im, sc) in sorted(marks.items()):
            print(f"  {k:11d} | {pk:7.0f} | {now:7.0f} | {el:9.1f} | {ob:7d} {me:6d} {im:6d} "
                  f"{sc:6d}")
        k5, kn = 5, max(marks)
        print(f"  peak after {kn} / peak after {k5}: {marks[kn][0] / marks[k5][0]:.3f} "
              f"(target <= 1.10); now: {marks[kn][1] / marks[k5][1]:.3f}")


if __name__ == "__main__":
    main()
