"""Benchmark: our stereo matcher against plain OpenCV SGBM on the Middlebury motorcycle pair.

Run: ``.venv/bin/python bench/bench_stereo.py``

Data: ``skimage.data.stereo_motorcycle()`` (Middlebury 2014, 1/4 size, 741x500) with ground-truth
disparity (inf = unknown). For every method: wall time (median of 5 runs), bad-2.0 (fraction of
ground-truth pixels with |d - gt| > 2 px, holes count as errors), EPE (mean |d - gt| over pixels that
have an estimate) and density (fraction of pixels with an estimate); ratios against (b).

(a)  depth_addon.core.stereo.match_disparity with its defaults (SGBM 3-way, padding, left-right
     check, WLS, background fill)
(a1) the same pipeline with MODE_HH4 instead of 3-way (the alternative the module rejected)
(a2) the same pipeline without the WLS filter (consistency check + background fill only)
(b)  the tutorials' plain cv2.StereoSGBM_create(numDisparities=16, blockSize=15) on grey images
(c)  plain SGBM_3WAY, numDisparities=64, blockSize=5, P1 = 8*3*5^2, P2 = 32*3*5^2, on colour images
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import cv2
import numpy as np
from skimage import data

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from depth_addon.core import stereo as st  # noqa: E402

RUNS = 5


def timed(fn):
    times, out = [], None
    for _ in range(RUNS):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def plain(matcher, a, b):
    raw = matcher.compute(a, b)
    d = raw.astype(np.float32) / 16.0
    d[raw < matcher.getMinDisparity() * 16] = np.nan  # invalid marker -> hole
    return d


def main() -> None:
    left, right, gt = data.stereo_motorcycle()
    gt = gt.astype(np.float32)
    h, w = gt.shape
    l8, r8 = left, right
    lg = cv2.cvtColor(left, cv2.COLOR_RGB2GRAY)
    rg = cv2.cvtColor(right, cv2.COLOR_RGB2GRAY)
    nd = st.default_num_disparities(w)
    bs = st.default_block_size(w, h)

    tutorial = cv2.StereoSGBM_create(numDisparities=16, blockSize=15)
    three_way = cv2.StereoSGBM_create(minDisparity=0, numDisparities=64, blockSize=5, P1=8 * 3 * 25,
                                      P2=32 * 3 * 25, mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY)

    methods = {
        "(a)  ours (default)": lambda: st.match_disparity(left, right).values,
        "(a1) ours, MODE_HH4": lambda: st._match(l8, r8, nd, bs, None, mode="hh4").disparity,
        "(a2) ours, no WLS": lambda: st._match(l8, r8, nd, bs, None, use_wls=False).disparity,
        "(b)  tutorial SGBM nd16 bs15": lambda: plain(tutorial, lg, rg),
        "(c)  SGBM_3WAY nd64 bs5": lambda: plain(three_way, left, right),
    }
    rows = {}
    for name, fn in methods.items():
        fn()  # warm-up
        t, d = timed(fn)
        rows[name] = dict(
            time=t,
            bad=st.bad_pixel_rate(d, gt, 2.0),
            epe=st.end_point_error(d, gt),
            density=float(np.mean(np.isfinite(d) & (d >= 0))),
        )

    print(f"motorcycle {w}x{h}, ours: numDisparities {nd}, blockSize {bs}; "
          f"median of {RUNS} runs; OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads")
    print(f"{'method':31s} {'time ms':>8s} {'bad-2.0':>8s} {'EPE px':>7s} {'density':>8s}"
          f"   {'x time':>7s} {'x bad':>6s} {'x EPE':>6s}   (ratios vs (b))")
    base = rows["(b)  tutorial SGBM nd16 bs15"]
    for name, r in rows.items():
        print(f"{name:31s} {r['time'] * 1000:8.1f} {r['bad']:8.4f} {r['epe']:7.3f} {r['density']:8.3f}"
              f"   {r['time'] / base['time']:7.2f} {r['bad'] / base['bad']:6.3f} "
              f"{r['epe'] / base['epe']:6.3f}")


if __name__ == "__main__":
    main()
