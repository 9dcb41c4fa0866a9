"""Benchmark: how much of each rendered frame no surface covers (holes), on the bundled example.

Run from the repo root: ``.venv/bin/python bench/bench_coverage.py [--frames N]``

The Middlebury motorcycle pair (skimage.data) goes through the same pipeline as
``python -m depth_addon`` (stereo depth, torn mesh, camera move with amount 1 = the stretch budget);
the scene is built with :func:`depth_addon.blender.scene.build` and rendered with Workbench on a
transparent film at N evenly spaced frames of each preset. A pixel whose alpha is below 0.99 is
one where the camera ray met no surface: in a normal render it shows the world colour (the black
specks and patches of a torn 3D photo). Reported per preset and method: uncovered pixels as a
share of the frame (mean and worst frame), the largest uncovered blob in pixels, and the layer's
vertex count. Baseline in the same run: the torn mesh without the background layer, on the same
camera move.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="bench-coverage-user-"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

PRESETS = ("circle", "swing", "vertical", "dolly-zoom")
#: the filled run plans the move (amount 1 = stretch budget); the baseline then renders the same
#: move without the layer (its parallax amount passed in parallax units)
METHODS = (("torn + filled layer", dict()),
           ("torn, holes (baseline)", dict(fill_background=False, amount_is_budget=False)))


def uncovered(path: str):
    """(share of pixels with alpha < 0.99, largest 8-connected blob in px) of an RGBA PNG."""
    im = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if im is None or im.ndim != 3 or im.shape[2] != 4:
        raise RuntimeError(f"{path}: expected an RGBA PNG")
    holes = (im[..., 3] < 252).astype(np.uint8)
    n, _lab, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=8)
    blob = int(stats[1:, cv2.CC_STAT_AREA].max()) if n > 1 else 0
    return float(holes.mean()), blob


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12, help="frames rendered per preset")
    args = ap.parse_args()

    import bpy
    import skimage.data

    from depth_addon.blender import render as brender
    from depth_addon.blender import scene as bscene
    from depth_addon.cli import MOTORCYCLE
    from depth_addon.core import pipeline as pl

    left, right, _gt = skimage.data.stereo_motorcycle()
    brender.init_gpu()  # GPU contexts first, without the harmless EGL_BAD_MATCH probe lines
    out_dir = tempfile.mkdtemp(prefix="bench-coverage-")
    print(f"bundled example {left.shape[1]}x{left.shape[0]}, Workbench, {args.frames} frames per "
          f"preset, amount 1 (motion budget)")
    print(f"{'preset':<11} {'method':<24} {'uncovered mean':>14} {'worst frame':>11} "
          f"{'largest blob':>12} {'layer verts':>11} {'pipeline s':>10}")
    totals = {m: [] for m, _ in METHODS}
    for preset in PRESETS:
        parallax = None
        for label, kw in METHODS:
            s = pl.Settings(preset=preset, **MOTORCYCLE, **kw)
            if parallax is not None:
                s.amount = parallax
            t = time.perf_counter()
            res = pl.run(left, right=right, settings=s)
            t_pipe = time.perf_counter() - t
            parallax = res.parallax_amount
            bpy.ops.wm.read_factory_settings(use_empty=True)
            sc = bpy.context.scene
            bscene.build(res, scene=sc)
            sc.render.film_transparent = True
            n = len(res.camera.positions)
            shares, blobs = [], []
            for f in np.unique(np.linspace(1, n, args.frames).round().astype(int)):
                p = os.path.join(out_dir, f"{preset}_{len(shares)}.png")
                sc.frame_set(int(f))
                brender.set_output(sc, p, "png")
                sc.render.use_file_extension = False
                sc.render.image_settings.color_mode = "RGBA"
                bpy.ops.render.render(write_still=True, scene=sc.name)
                share, blob = uncovered(p)
                shares.append(share)
                blobs.append(blob)
            totals[label] += shares
            verts = len(res.background.mesh.positions) if res.background is not None else 0
            print(f"{preset:<11} {label:<24} {100 * np.mean(shares):>13.3f}% "
                  f"{100 * max(shares):>10.3f}% {max(blobs):>12d} {verts:>11,d} {t_pipe:>10.2f}")
    ours, base = (np.mean(totals[m]) for m, _ in METHODS)
    print(f"all presets: uncovered {100 * ours:.3f}% of pixels with the layer vs "
          f"{100 * base:.3f}% without ({base / max(ours, 1e-9):.0f}x fewer)")


if __name__ == "__main__":
    main()
