"""Stereo: split side-by-side pictures, match a rectified pair, turn disparity into metric depth.

Method (all through OpenCV's public APIs):

1. Semi-global matching, ``cv2.StereoSGBM`` in ``MODE_SGBM_3WAY`` (H. Hirschmüller, "Stereo
   Processing by Semiglobal Matching and Mutual Information", IEEE TPAMI 30(2), 2008; OpenCV's
   variant uses the Birchfield-Tomasi cost on block sums). ``MODE_HH4`` was measured as well
   (bench/bench_stereo.py): on the motorcycle pair bad-2.0 6.4 % vs 6.8 % but ~1.8x the time, and
   at 1482x1000 5x the time and 1.05 GB vs 0.12 GB peak memory (it keeps W*H*numDisparities
   costs), so the 3-way mode is used.
2. The left border strip that a matcher cannot search (the first ``numDisparities`` columns) is
   recovered by padding both images on the left before matching and cropping afterwards.
3. A right-view matcher (``cv2.ximgproc.createRightMatcher``) gives the right disparity map for a
   left-right consistency check; SGBM's own uniqueness test and speckle filter also mark pixels
   invalid.
4. The fast global smoother / weighted-least-squares filter (D. Min, S. Choi, J. Lu, B. Ham, K. Sohn,
   M. N. Do, "Fast Global Image Smoothing Based on Weighted Least Squares", IEEE TIP 23(12), 2014;
   OpenCV ``cv2.ximgproc.createDisparityWLSFilter``, see the ximgproc "Disparity map post-filtering"
   tutorial) smooths the map guided by the left photo and yields a confidence map. On the motorcycle
   pair it lowers bad-2.0 from ~9.5 % (consistency check + background fill only) to ~6.8 %.
5. Holes (pixels that failed the checks: occlusions, the unmatched border, textureless spots) are
   filled along rows from the BACKGROUND side: each hole takes the smaller disparity of its nearest
   valid neighbours left and right, and never more than that (the WLS estimate is used only when it
   is farther). Occluded pixels in the left view belong to the surface behind the occluder, so this
   keeps foreground objects from smearing into their surroundings.

Metrics (:func:`bad_pixel_rate`, :func:`end_point_error`) follow the Middlebury stereo evaluation
(D. Scharstein, R. Szeliski, IJCV 47, 2002; Scharstein et al., GCPR 2014).

Never imports bpy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .depth import DepthResult
from .errors import InputError, notice
from .progress import ProgressFn, report

MIN_SIZE = 32
"""Smallest accepted width and height of each view, in pixels."""

MIN_VALID_FRACTION = 0.05
"""Below this fraction of consistent matches a pair is rejected as not a stereo pair."""

SWAP_CHECK_FRACTION = 0.30
"""Below this fraction of consistent matches :func:`estimate_stereo` also tries the swapped pair."""

DISPARITY_STEP = 1.0 / 16.0
"""SGBM's sub-pixel step (pixels); also the smallest disparity a dense map may hold."""

_LR_TOLERANCE = 1.0  # pixels: left-right consistency tolerance
_WLS_LAMBDA = 4000.0  # measured on the motorcycle pair (2000..8000 within 0.3 points)
_WLS_SIGMA_COLOR = 1.0
_SOURCE = "stereo SGBM 3-way + WLS (OpenCV)"


# --------------------------------------------------------------------------------------------
# side-by-side pictures
# --------------------------------------------------------------------------------------------
def split_sbs(image: np.ndarray, order: str = "lr") -> tuple[np.ndarray, np.ndarray]:
    """Split one side-by-side stereo picture into its left and right views.

    Args:
        image: (H, W, C) or (H, W) array of any dtype; W must be even (two halves of W/2 columns).
        order: ``"lr"`` = parallel view (the left half is the left eye's view), ``"rl"`` =
            cross-eyed view (the left half is the right eye's view).

    Returns:
        ``(left, right)``: two C-contiguous copies of shape (H, W/2, C) (or (H, W/2)), same dtype,
        left eye first whatever ``order`` was.

    Raises:
        InputError: ``order`` is not "lr"/"rl", the array is not 2-D/3-D, the width is odd, or a
            half is smaller than :data:`MIN_SIZE` pixels.
    """
    if order not in ("lr", "rl"):
        raise InputError(f"unknown side-by-side order {order!r}: use 'lr' (parallel) or 'rl' (cross-eyed)")
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise InputError(f"a side-by-side picture must be (H, W) or (H, W, C), got shape {image.shape}")
    h, w = image.shape[:2]
    if w % 2:
        raise InputError(
            f"side-by-side picture is {w} px wide, an odd width: expected two halves of equal "
            f"width; crop one column"
        )
    half = w // 2
    if half < MIN_SIZE or h < MIN_SIZE:
        raise InputError(
            f"side-by-side picture is {w}x{h}: each view would be {half}x{h}, smaller than "
            f"{MIN_SIZE}x{MIN_SIZE} px"
        )
    a = np.ascontiguousarray(image[:, :half])
    b = np.ascontiguousarray(image[:, half:])
    return (a, b) if order == "lr" else (b, a)


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------
def _as_rgb8(image: np.ndarray, name: str) -> np.ndarray:
    """Return (H, W, 3) uint8 from uint8/uint16/float [0, 1] grey, RGB or RGBA input."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise InputError(f"{name} image must be (H, W, 3) RGB, got shape {np.asarray(image).shape}")
    if img.shape[2] == 4:
        img = img[:, :, :3]
    elif img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if img.dtype == np.uint8:
        out = img
    elif img.dtype == np.uint16:
        out = (img >> 8).astype(np.uint8)
    elif np.issubdtype(img.dtype, np.floating):
        if not np.all(np.isfinite(img)):
            raise InputError(f"{name} image has NaN or infinite values")
        out = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    else:
        raise InputError(f"{name} image has dtype {img.dtype}: expected uint8, uint16 or float in [0, 1]")
    return np.ascontiguousarray(out)


def _check_pair(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    l8 = _as_rgb8(left, "left")
    r8 = _as_rgb8(right, "right")
    (hl, wl), (hr, wr) = l8.shape[:2], r8.shape[:2]
    if (hl, wl) != (hr, wr):
        raise InputError(
            f"left is {wl}x{hl} but right is {wr}x{hr}: a stereo pair must have the same size; "
            f"crop or resize one"
        )
    if min(hl, wl) < MIN_SIZE:
        raise InputError(f"stereo images are {wl}x{hl}: each side must be at least {MIN_SIZE} px")
    diff = np.abs(l8.astype(np.int16) - r8.astype(np.int16)).mean()
    if diff < 0.5:
        raise InputError(
            "left and right images are identical: a stereo pair needs two photos taken from "
            "side-by-side positions"
        )
    return l8, r8


def default_num_disparities(width: int) -> int:
    """Disparity search range for a picture ``width`` pixels wide: about width/8, a multiple of 16.

    Consumer stereo (phones, 3D cameras, Middlebury) rarely exceeds 1/8 of the width in disparity;
    the motorcycle pair (741 px) peaks at 60 px and gets 96.
    """
    return max(16, int(math.ceil(width / 8.0 / 16.0)) * 16)


def default_block_size(width: int, height: int) -> int:
    """SGBM block size (odd, 3..9) from the picture size: 3 below ~1 MP-wide, growing with width.

    Measured on the motorcycle pair (741 px wide): 3 gives bad-2.0 ~2 points lower than 5 or 7.
    """
    b = 3 + 2 * int(max(width, height) // 1200)
    return int(min(9, b))


# --------------------------------------------------------------------------------------------
# matching
# --------------------------------------------------------------------------------------------
@dataclass
class _Match:
    disparity: np.ndarray  # (H, W) float32 dense, > 0
    valid: np.ndarray  # (H, W) bool
    confidence: np.ndarray  # (H, W) float32 [0, 1]
    valid_fraction: float
    num_disparities: int
    block_size: int


def _row_neighbours(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values of the nearest valid pixel to the left and to the right in each row (inf if none)."""
    h, w = values.shape
    cols = np.arange(w, dtype=np.int64)[None, :]
    idx_l = np.where(valid, cols, -1)
    np.maximum.accumulate(idx_l, axis=1, out=idx_l)
    left = np.where(idx_l >= 0, np.take_along_axis(values, np.maximum(idx_l, 0), axis=1), np.inf)
    idx_r = np.where(valid, cols, w)[:, ::-1]
    idx_r = np.minimum.accumulate(idx_r, axis=1)[:, ::-1]
    right = np.where(idx_r < w, np.take_along_axis(values, np.minimum(idx_r, w - 1), axis=1), np.inf)
    return left.astype(np.float32), right.astype(np.float32)


def _fill_from_background(values: np.ndarray, valid: np.ndarray,
                          estimate: Optional[np.ndarray] = None) -> np.ndarray:
    """Fill ``~valid`` pixels along rows from the neighbour with the smaller disparity.

    Each hole gets ``min(left neighbour, right neighbour)``; when ``estimate`` (e.g. the WLS map,
    NaN where unknown) is given the hole gets ``min(estimate, that)``, i.e. the estimate is used
    only where it is farther than the background side. Rows without any valid pixel are filled from
    columns the same way, and anything left from the median of valid values.
    """
    values = values.astype(np.float32, copy=False)
    left, right = _row_neighbours(values, valid)
    fill = np.minimum(left, right)
    if estimate is not None:
        fill = np.where(np.isfinite(estimate), np.minimum(estimate, fill), fill)
    out = np.where(valid, values, fill).astype(np.float32)
    missing = ~np.isfinite(out)
    if missing.any():
        known = ~missing
        up, down = _row_neighbours(out.T, known.T)
        out = np.where(missing, np.minimum(up, down).T, out)
        missing = ~np.isfinite(out)
        if missing.any():
            finite = out[np.isfinite(out)]
            out[missing] = float(np.median(finite)) if finite.size else 1.0
    return out


def _left_right_check(disp_l: np.ndarray, disp_r_raw: np.ndarray, invalid_r: np.ndarray,
                      valid_l: np.ndarray) -> np.ndarray:
    """True where the left disparity d at x agrees with the right map at x - d (within 1 px)."""
    h, w = disp_l.shape
    xr = np.arange(w)[None, :] - np.rint(disp_l).astype(np.int64)
    inside = xr >= 0
    xr_c = np.clip(xr, 0, w - 1)
    d_r = -np.take_along_axis(disp_r_raw, xr_c, axis=1).astype(np.float32) / 16.0
    bad_r = np.take_along_axis(invalid_r, xr_c, axis=1)
    return valid_l & inside & ~bad_r & (np.abs(d_r - disp_l) <= _LR_TOLERANCE)


def _match(l8: np.ndarray, r8: np.ndarray, num_disparities: int, block_size: int,
           progress: Optional[ProgressFn], stage: str = "stereo", *, mode: str = "3way",
           use_wls: bool = True) -> _Match:
    """The matcher; ``mode`` ("3way" or "hh4") and ``use_wls`` exist for bench/bench_stereo.py."""
    import cv2  # local: the add-on registers without OpenCV

    modes = {"3way": cv2.STEREO_SGBM_MODE_SGBM_3WAY, "hh4": cv2.STEREO_SGBM_MODE_HH4}

    h, w = l8.shape[:2]
    nd = int(num_disparities)
    bs = int(block_size)
    channels = 3
    left_matcher = cv2.StereoSGBM_create(
        minDisparity=0,
        numDisparities=nd,
        blockSize=bs,
        P1=8 * channels * bs * bs,
        P2=32 * channels * bs * bs,
        disp12MaxDiff=1,
        uniquenessRatio=10,
        speckleWindowSize=max(50, int(round(100 * math.sqrt(h * w / 370_000.0)))),
        speckleRange=2,
        preFilterCap=63,
        mode=modes[mode],
    )
    right_matcher = cv2.ximgproc.createRightMatcher(left_matcher)

    # Pad on the left so the first nd columns can be searched too; cropped afterwards.
    lp = cv2.copyMakeBorder(l8, 0, 0, nd, 0, cv2.BORDER_REPLICATE)
    rp = cv2.copyMakeBorder(r8, 0, 0, nd, 0, cv2.BORDER_REPLICATE)

    report(progress, f"{stage}: matching left view", 0.05)
    raw_l = left_matcher.compute(lp, rp)
    report(progress, f"{stage}: matching right view", 0.40)
    raw_r = right_matcher.compute(rp, lp)
    if use_wls:
        report(progress, f"{stage}: WLS filtering", 0.70)
        wls = cv2.ximgproc.createDisparityWLSFilter(left_matcher)
        wls.setLambda(_WLS_LAMBDA)
        wls.setSigmaColor(_WLS_SIGMA_COLOR)
        raw_f = wls.filter(raw_l, lp, disparity_map_right=raw_r, right_view=rp)
        conf = wls.getConfidenceMap()
    else:
        raw_f = raw_l
        conf = np.full(raw_l.shape, 255.0, np.float32)

    raw_l = raw_l[:, nd:]
    raw_r = raw_r[:, nd:]
    raw_f = raw_f[:, nd:]
    conf = np.asarray(conf)[:, nd:]

    report(progress, f"{stage}: consistency check and hole filling", 0.85)
    valid_l = raw_l >= 0  # invalid = (minDisparity - 1) * 16 = -16
    disp_l = raw_l.astype(np.float32) / 16.0
    invalid_r = raw_r <= (right_matcher.getMinDisparity() - 1) * 16
    consistent = _left_right_check(disp_l, raw_r, invalid_r, valid_l)

    filtered = raw_f.astype(np.float32) / 16.0
    filtered_ok = raw_f >= 0
    filtered = np.where(filtered_ok, filtered, np.nan).astype(np.float32)
    valid = consistent & filtered_ok
    # Consistent pixels take the WLS value (smoothed, edge-aware); holes are filled from the
    # background side, using WLS only where it is farther than that side.
    disparity = _fill_from_background(np.where(valid, filtered, 0.0), valid,
                                      estimate=filtered if use_wls else None)
    disparity = np.maximum(disparity, DISPARITY_STEP).astype(np.float32)

    confidence = np.clip(conf.astype(np.float32) / 255.0, 0.0, 1.0)
    confidence = np.where(valid, confidence, 0.0).astype(np.float32)
    report(progress, f"{stage}: done", 1.0)
    return _Match(disparity, valid, confidence, float(valid.mean()), nd, bs)


def _resolve_params(width: int, height: int, num_disparities: Optional[int],
                    block_size: Optional[int]) -> tuple[int, int]:
    if num_disparities is None:
        nd = default_num_disparities(width)
    else:
        if int(num_disparities) != num_disparities or num_disparities <= 0:
            raise InputError(f"num_disparities must be a positive integer, got {num_disparities!r}")
        nd = int(math.ceil(int(num_disparities) / 16.0)) * 16
        if nd != num_disparities:
            notice(f"num_disparities {num_disparities} rounded up to {nd} (a multiple of 16)")
    if block_size is None:
        bs = default_block_size(width, height)
    else:
        if int(block_size) != block_size or block_size < 1 or block_size > 11 or block_size % 2 == 0:
            raise InputError(f"block_size must be an odd integer from 1 to 11, got {block_size!r}")
        bs = int(block_size)
    return nd, bs


def _no_match_error(fraction: float) -> InputError:
    return InputError(
        f"only {fraction:.1%} of pixels found a consistent stereo match: the two images must be "
        f"rectified left and right views of the same scene with some texture"
    )


def match_disparity(left: np.ndarray, right: np.ndarray, *, num_disparities: Optional[int] = None,
                    block_size: Optional[int] = None,
                    progress: Optional[ProgressFn] = None) -> DepthResult:
    """Dense disparity of a rectified stereo pair on the left image's pixel grid.

    Semi-global matching (Hirschmüller 2008, OpenCV ``StereoSGBM`` in ``MODE_SGBM_3WAY``), a
    left-right consistency check with ``cv2.ximgproc.createRightMatcher``, the WLS filter
    (Min et al. 2014, ``cv2.ximgproc.createDisparityWLSFilter``) and hole filling from the
    background side (see the module doc).

    Args:
        left, right: (H, W, 3) RGB, uint8 or float32 in [0, 1] (grey (H, W), RGBA and uint16 are
            accepted too); rectified so that matching points lie on the same row, the right view's
            point at x - d for a left-view point at x.
        num_disparities: search range in pixels (disparities 0 .. n-1); rounded up to a multiple of
            16. Default :func:`default_num_disparities` (about width / 8).
        block_size: odd matching block size 1..11; default :func:`default_block_size`.
        progress: optional ``fn(stage, fraction)``; may raise ``Cancelled``.

    Returns:
        DepthResult with ``kind="disparity"``: ``values`` (H, W) float32 disparity in pixels,
        sub-pixel (1/16 px steps), DENSE: every pixel is finite and >= 1/16 px (pixels matched at
        disparity 0, i.e. at infinity, are raised to 1/16); ``valid`` (H, W) bool = passed SGBM's
        uniqueness test and the left-right check (False = filled); ``confidence`` (H, W) float32
        in [0, 1] from the WLS confidence map, 0 where not valid; ``K`` None.

    Raises:
        InputError: sizes differ, a side is < 32 px, bad dtype/shape, the two images are
            identical, fewer than 5 % of pixels match consistently (not a stereo pair, flat
            images, or a swapped pair — :func:`estimate_stereo` checks for swapping), or bad
            ``num_disparities`` / ``block_size``.
    """
    l8, r8 = _check_pair(left, right)
    h, w = l8.shape[:2]
    nd, bs = _resolve_params(w, h, num_disparities, block_size)
    m = _match(l8, r8, nd, bs, progress)
    if m.valid_fraction < MIN_VALID_FRACTION:
        raise _no_match_error(m.valid_fraction)
    return DepthResult(
        values=m.disparity,
        kind="disparity",
        valid=m.valid,
        K=None,
        confidence=m.confidence,
        source=f"{_SOURCE}, numDisparities {nd}, blockSize {bs}",
    )


# --------------------------------------------------------------------------------------------
# disparity -> depth
# --------------------------------------------------------------------------------------------
def disparity_to_depth(disparity: np.ndarray, focal_px: float, baseline_m: float,
                       doffs: float = 0.0) -> np.ndarray:
    """Metric depth from disparity: ``Z = f * B / (d + doffs)`` (pinhole, rectified pair).

    Args:
        disparity: (H, W) (any shape) disparity in pixels.
        focal_px: focal length f in pixels (> 0), of the rectified images at their current size.
        baseline_m: distance B between the two camera centres in metres (> 0).
        doffs: x-difference of the principal points in pixels, as Middlebury defines it
            (``cx1 - cx0``, right minus left); 0 for pairs rectified to a common principal point.

    Returns:
        float32 array of the same shape: depth Z along the optical axis in metres. Where
        ``d + doffs`` is not positive (at or beyond infinity, or invalid markers) the denominator is
        clipped to 1/16 px (SGBM's sub-pixel step), so those pixels get the large but finite depth
        ``16 * f * B`` instead of +inf or a negative depth. NaN disparities stay NaN.

    Raises:
        InputError: ``focal_px`` or ``baseline_m`` is not a positive finite number, or ``doffs`` is
            not finite.
    """
    f = float(focal_px)
    b = float(baseline_m)
    if not (math.isfinite(f) and f > 0):
        raise InputError(f"focal length must be a positive number of pixels, got {focal_px!r}")
    if not (math.isfinite(b) and b > 0):
        raise InputError(f"baseline must be a positive distance in metres, got {baseline_m!r}")
    if not math.isfinite(float(doffs)):
        raise InputError(f"doffs must be a finite number of pixels, got {doffs!r}")
    d = np.asarray(disparity, dtype=np.float64) + float(doffs)
    with np.errstate(invalid="ignore"):
        denom = np.where(np.isnan(d), np.nan, np.maximum(d, DISPARITY_STEP))
    return (f * b / denom).astype(np.float32)


def _intrinsics(focal_px: float, width: int, height: int) -> np.ndarray:
    return np.array(
        [[focal_px, 0.0, (width - 1) / 2.0], [0.0, focal_px, (height - 1) / 2.0], [0.0, 0.0, 1.0]],
        dtype=np.float64,
    )


def estimate_stereo(left: np.ndarray, right: np.ndarray, *, focal_px: Optional[float] = None,
                    baseline_m: Optional[float] = None, doffs: float = 0.0,
                    num_disparities: Optional[int] = None,
                    progress: Optional[ProgressFn] = None) -> DepthResult:
    """Depth (or disparity) of a rectified stereo pair, with a check for a swapped pair.

    Runs the matcher of :func:`match_disparity`. When fewer than 30 % of pixels match
    consistently it also matches the mirrored pair (both images flipped horizontally: a swapped
    pair, mirrored, is a correct left/right pair) and keeps the result with more consistent matches,
    flipped back so that ``values`` stay on the grid of the image passed as ``left``; when the
    mirrored one wins it reports ``notice("left and right look swapped; swapped them")``.

    Args:
        left, right: as for :func:`match_disparity`.
        focal_px: focal length in pixels of these images (optional).
        baseline_m: camera baseline in metres (optional; used only with ``focal_px``).
        doffs: principal-point offset in pixels (see :func:`disparity_to_depth`).
        num_disparities: as for :func:`match_disparity`.
        progress: optional ``fn(stage, fraction)``.

    Returns:
        DepthResult on the ``left`` image's grid:
        - with ``focal_px`` and ``baseline_m``: ``kind="metric"``, values in metres (dense, finite,
          > 0), ``K`` = [[f, 0, (W-1)/2], [0, f, (H-1)/2], [0, 0, 1]];
        - otherwise ``kind="disparity"`` in pixels, ``K`` from ``focal_px`` or None.
        ``valid``/``confidence`` as for :func:`match_disparity`; ``notes`` holds the notices.

    Raises:
        InputError: as :func:`match_disparity` (also when neither order matches), or a non-positive
            ``focal_px`` / ``baseline_m``.
    """
    if focal_px is not None and not (math.isfinite(float(focal_px)) and float(focal_px) > 0):
        raise InputError(f"focal length must be a positive number of pixels, got {focal_px!r}")
    if baseline_m is not None and not (math.isfinite(float(baseline_m)) and float(baseline_m) > 0):
        raise InputError(f"baseline must be a positive distance in metres, got {baseline_m!r}")
    l8, r8 = _check_pair(left, right)
    h, w = l8.shape[:2]
    nd, bs = _resolve_params(w, h, num_disparities, None)
    notes: list[str] = []

    def sub(lo: float, hi: float) -> Optional[ProgressFn]:
        if progress is None:
            return None
        return lambda stage, frac: progress(stage, lo + (hi - lo) * max(0.0, frac))

    m = _match(l8, r8, nd, bs, sub(0.0, 0.9))
    if m.valid_fraction < SWAP_CHECK_FRACTION:
        mm = _match(np.ascontiguousarray(l8[:, ::-1]), np.ascontiguousarray(r8[:, ::-1]), nd, bs,
                    sub(0.9, 0.98), stage="stereo (swapped)")
        if mm.valid_fraction > max(1.5 * m.valid_fraction, MIN_VALID_FRACTION):
            m = _Match(
                np.ascontiguousarray(mm.disparity[:, ::-1]),
                np.ascontiguousarray(mm.valid[:, ::-1]),
                np.ascontiguousarray(mm.confidence[:, ::-1]),
                mm.valid_fraction, nd, bs,
            )
            msg = "left and right look swapped; swapped them"
            notice(msg)
            notes.append(msg)
    if m.valid_fraction < MIN_VALID_FRACTION:
        raise _no_match_error(m.valid_fraction)

    source = f"{_SOURCE}, numDisparities {nd}, blockSize {bs}"
    K = _intrinsics(float(focal_px), w, h) if focal_px is not None else None
    if focal_px is not None and baseline_m is not None:
        values = disparity_to_depth(m.disparity, float(focal_px), float(baseline_m), doffs)
        kind = "metric"
    else:
        if baseline_m is not None:
            msg = "a baseline without a focal length cannot give metric depth; kept disparity"
            notice(msg)
            notes.append(msg)
        values = m.disparity
        kind = "disparity"
    report(progress, "stereo: done", 1.0)
    return DepthResult(values=values, kind=kind, valid=m.valid, K=K, confidence=m.confidence,
                       source=source, notes=notes)


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------
def _metric_inputs(disparity: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = np.asarray(disparity, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if d.shape != g.shape:
        raise InputError(f"disparity has shape {d.shape} but ground truth has shape {g.shape}")
    known = np.isfinite(g)
    if not known.any():
        raise InputError("ground truth has no finite pixels")
    return d, g, known


def bad_pixel_rate(disparity: np.ndarray, gt: np.ndarray, threshold: float = 2.0) -> float:
    """Middlebury "bad-T" rate: fraction of ground-truth pixels whose disparity is wrong by > T px.

    Args:
        disparity: (H, W) estimated disparity in pixels; NaN/inf or negative (OpenCV's invalid
            marker) = no estimate.
        gt: (H, W) true disparity in pixels; non-finite = unknown (not counted).
        threshold: error threshold T in pixels (2.0 for "bad-2.0").

    Returns:
        float in [0, 1]: among pixels with finite ``gt``, the fraction where ``|d - gt| > T`` OR
        ``d`` has no estimate (holes count as errors, so sparse maps are not flattered).

    Raises:
        InputError: shapes differ or ``gt`` has no finite pixel.
    """
    d, g, known = _metric_inputs(disparity, gt)
    has = np.isfinite(d) & (d >= 0)
    with np.errstate(invalid="ignore"):
        wrong = ~has | (np.abs(d - g) > float(threshold))
    return float((wrong & known).sum() / known.sum())


def end_point_error(disparity: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute disparity error (EPE) in pixels over pixels with finite ``gt`` and an estimate.

    Args:
        disparity: (H, W) estimated disparity in pixels; NaN/inf or negative = no estimate
            (skipped; report density or :func:`bad_pixel_rate` alongside).
        gt: (H, W) true disparity in pixels; non-finite = unknown.

    Returns:
        float, pixels; NaN when no pixel has both.

    Raises:
        InputError: shapes differ or ``gt`` has no finite pixel.
    """
    d, g, known = _metric_inputs(disparity, gt)
    both = known & np.isfinite(d) & (d >= 0)
    if not both.any():
        return float("nan")
    return float(np.mean(np.abs(d[both] - g[both])))
