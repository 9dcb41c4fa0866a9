"""Benchmark: our stereo path against plain OpenCV SGBM on the Middlebury motorcycle pair.

Run: ``.venv/bin/python bench/bench_stereo.py``

Data: ``skimage.data.stereo_motorcycle()`` (Middlebury 2014, 1/4 size, 741x500) with ground-truth
disparity (inf = unknown). For every method: wall time (median and minimum of 5 runs after a
warm-up; the machine's load average is printed because other processes change it), bad-2.0
(fraction of ground-truth pixels with |d - gt| > 2 px; HOLES COUNT AS ERRORS), EPE (mean |d - gt|
over pixels that have an estimate) and density (fraction of pixels with an estimate); ratios
against (b).

Rectified pair:
(a)  depth_addon.core.stereo.estimate_stereo with its defaults (sparse probe: rectification check,
     swap check, disparity range; SGBM 3-way; background fill with a colour-guided estimate; 5x5
     median) -- the goal is bad-2.0 <= 10 % in <= 150 ms
(a1) the same with method="wls" (right matcher, left-right check, WLS filter)
(a2) the default pipeline's matcher with MODE_HH4 instead of 3-way (same range)
(b)  the tutorials' plain cv2.StereoSGBM_create(numDisparities=16, blockSize=15) on grey images
(c)  plain SGBM_3WAY, numDisparities=64, blockSize=5, P1 = 8*3*5^2, P2 = 32*3*5^2, on colour images
Swapped pair (right view given first; scored against the ground truth warped to the right view):
(s)  ours, default
Synthetically unrectified pair (right view rotated 1 deg about the centre, shifted down 3 px):
(u)  ours, default (detects the misalignment and rectifies: Hartley 1999)
(u1) ours with rectify="never"
(u2) tutorial SGBM, (u3) SGBM_3WAY nd64 bs5, on the unrectified pair
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

from depth_addon.core import rectify as rc  # noqa: E402
from depth_addon.core import stereo as st  # noqa: E402

RUNS = 5


def timed(fn):
    fn()  # warm-up
    times, out = [], None
    for _ in range(RUNS):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), out


def plain(matcher, a, b):
    raw = matcher.compute(a, b)
    d = raw.astype(np.float32) / 16.0
    d[raw < matcher.getMinDisparity() * 16] = np.nan  # invalid marker -> hole
    return d


def unrectify(img):
    h, w = img.shape[:2]
    M = cv2.getRotationMatrix2D((w / 2, h / 2), 1.0, 1.0)
    M[1, 2] += 3.0
    return cv2.warpAffine(img, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def gt_on_right_grid(gt):
    ys, xs = np.nonzero(np.isfinite(gt))
    xr = np.rint(xs - gt[ys, xs]).astype(int)
    ok = xr >= 0
    out = np.full_like(gt, np.inf)
    out[ys[ok], xr[ok]] = gt[ys[ok], xs[ok]]
    return out


def main() -> None:
    left, right, gt = data.stereo_motorcycle()
    gt = gt.astype(np.float32)
    h, w = gt.shape
    gray = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)  # noqa: E731
    ru = unrectify(right)
    probe = rc.probe_matches(gray(left), gray(right))
    min_d, nd = st.disparity_search_range(probe.dx, w)
    bs = st.default_block_size(w, h)

    tutorial = cv2.StereoSGBM_create(numDisparities=16, blockSize=15)
    three_way = cv2.StereoSGBM_create(minDisparity=0, numDisparities=64, blockSize=5, P1=8 * 3 * 25,
                                      P2=32 * 3 * 25, mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY)
    gt_r = gt_on_right_grid(gt)
    methods = {
        "(a)  ours (default)": (lambda: st.estimate_stereo(left, right).values, gt),
        "(a1) ours, method='wls'": (lambda: st.estimate_stereo(left, right, method="wls").values, gt),
        "(a2) ours' matcher, MODE_HH4": (lambda: st._match(left, right, min_d, nd, bs, None,
                                                           mode="hh4").disparity, gt),
        "(b)  tutorial SGBM nd16 bs15": (lambda: plain(tutorial, gray(left), gray(right)), gt),
        "(c)  SGBM_3WAY nd64 bs5": (lambda: plain(three_way, left, right), gt),
        "(s)  ours, swapped pair": (lambda: st.estimate_stereo(right, left).values, gt_r),
        "(u)  ours, unrectified (default)": (lambda: st.estimate_stereo(left, ru).values, gt),
        "(u1) ours, unrect., rectify=never": (lambda: st.estimate_stereo(left, ru,
                                                                         rectify="never").values, gt),
        "(u2) tutorial SGBM, unrectified": (lambda: plain(tutorial, gray(left), gray(ru)), gt),
        "(u3) SGBM_3WAY nd64 bs5, unrect.": (lambda: plain(three_way, left, ru), gt),
    }
    rows = {}
    for name, (fn, truth) in methods.items():
        t, tmin, d = timed(fn)
        rows[name] = dict(time=t, tmin=tmin, bad=st.bad_pixel_rate(d, truth, 2.0),
                          epe=st.end_point_error(d, truth),
                          density=float(np.mean(np.isfinite(d) & (d >= 0))))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"motorcycle {w}x{h}; ours: disparities {min_d}..{min_d + nd - 1} (from {len(probe)} "
          f"sparse matches), blockSize {bs}; median/min of {RUNS} runs; OpenCV {cv2.__version__}, "
          f"{cv2.getNumThreads()} threads, load average {load:.2f}")
    print(f"{'method':35s} {'ms med':>7s} {'ms min':>7s} {'bad-2.0':>8s} {'EPE px':>7s} "
          f"{'density':>8s}   {'x time':>7s} {'x bad':>6s} {'x EPE':>6s}   (ratios vs (b))")
    base = rows["(b)  tutorial SGBM nd16 bs15"]
    for name, r in rows.items():
        print(f"{name:35s} {r['time'] * 1000:7.1f} {r['tmin'] * 1000:7.1f} {r['bad']:8.4f} "
              f"{r['epe']:7.3f} {r['density']:8.3f}   {r['time'] / base['time']:7.2f} "
              f"{r['bad'] / base['bad']:6.3f} {r['epe'] / base['epe']:6.3f}")
    a = rows["(a)  ours (default)"]
    print(f"goal bad-2.0 <= 0.10 in <= 150 ms: bad {a['bad']:.4f} "
          f"{'met' if a['bad'] <= 0.10 else 'MISSED'}, time {a['time'] * 1000:.0f} ms "
          f"{'met' if a['time'] <= 0.150 else 'MISSED'} (min {a['tmin'] * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
