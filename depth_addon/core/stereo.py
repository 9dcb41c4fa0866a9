"""Stereo: any pair in, dense disparity with confidence (or metric depth) on the left picture out.

Inputs: two pictures, one side-by-side picture (:func:`split_sbs`, both orders) or an MPO file from
a stereo camera (:func:`load_mpo`). :func:`estimate_stereo` handles pairs that are rectified or not
and in either order; :func:`match_disparity` is the matcher alone, for a rectified pair in the
given order.

Method (all through OpenCV's public APIs):

1. Sparse matches first (:func:`depth_addon.core.rectify.probe_matches`: corners tracked with
   pyramidal Lucas-Kanade, ~10 ms). They decide whether the pair needs rectifying (vertical offsets
   over 1 px), whether left and right are swapped (most horizontal offsets negative: a swapped pair
   is fixed by mirroring both pictures, which turns it into a correct left/right pair, and
   mirroring the result back) and the disparity search range (1st..99th percentile plus a margin,
   instead of a fixed fraction of the width; fewer disparities = faster and fewer false matches).
2. Pairs that are not rectified are rectified without calibration (Hartley 1999; see
   :mod:`depth_addon.core.rectify`), matched in the rectified frame, and the result is resampled
   onto the left picture's grid through the left rectifying homography.
3. Semi-global matching, ``cv2.StereoSGBM`` in ``MODE_SGBM_3WAY`` (H. Hirschmüller, "Stereo
   Processing by Semiglobal Matching and Mutual Information", IEEE TPAMI 30(2), 2008; OpenCV's
   variant uses the Birchfield-Tomasi cost on block sums). ``MODE_HH4`` was measured too
   (bench/bench_stereo.py): no better on the motorcycle pair (bad-2.0 6.9 % vs 6.6 %) at ~1.8x
   the time, and at 1482x1000 5x the time and 1.05 GB vs 0.12 GB peak memory (it keeps
   W*H*numDisparities costs), so the 3-way mode is used.
   Penalties P1 = 8*3*b^2, P2 = 24*3*b^2 and pre-filter cap 15 were chosen on the motorcycle pair.
4. The left border strip a matcher cannot search (the first minDisparity + numDisparities columns)
   is recovered by padding both pictures on the left before matching and cropping afterwards.
5. Default refinement (``method="fast"``): pixels that fail SGBM's uniqueness test or its speckle
   filter are holes; holes are filled along rows from the BACKGROUND side (each hole takes the
   smaller disparity of its nearest valid neighbours left and right, or a colour-guided estimate
   when that is farther — the estimate is a normalised fast global smoother (D. Min, S. Choi, J.
   Lu, B. Ham, K. Sohn, M. N. Do, "Fast Global Image Smoothing Based on Weighted Least Squares",
   IEEE TIP 23(12), 2014; ``cv2.ximgproc.fastGlobalSmootherFilter``) of the valid disparities
   guided by the left picture at half size, so fills follow the picture's edges), then a 5x5
   median. Occluded pixels in the left view belong to the surface behind the occluder, so filling
   from the background keeps foreground objects from smearing into their surroundings.
   ``method="wls"`` adds a right-view matcher (``cv2.ximgproc.createRightMatcher``) for a
   left-right consistency check and the WLS disparity filter of the same paper
   (``cv2.ximgproc.createDisparityWLSFilter``): on the motorcycle pair bad-2.0 6.3 % vs 6.6 % at
   ~1.5x the time (110 vs 72 ms), so it is an option, not the default.
6. Confidence (0 for filled pixels): lowered where the left-only occlusion test fires (a pixel whose
   match in the right view is covered by a nearer pixel), near disparity discontinuities and in
   textureless areas (see :func:`_confidence`).
7. Optionally (:func:`fuse_monocular`) a monocular model's relative inverse depth is aligned to the
   disparity by a robust scale-and-shift fit on confident pixels (Huber IRLS) and fills holes and
   low-confidence pixels.
8. Metric depth ``Z = f * B / (d + doffs)`` (:func:`disparity_to_depth`).

Metrics (:func:`bad_pixel_rate`, :func:`end_point_error`) follow the Middlebury stereo evaluation
(D. Scharstein, R. Szeliski, IJCV 47, 2002; Scharstein et al., GCPR 2014).

Never imports bpy.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from . import rectify as rc
from .depth import DepthResult
from .errors import InputError, notice
from .progress import ProgressFn, report

MIN_SIZE = 32
"""Smallest accepted width and height of each view, in pixels."""

MIN_VALID_FRACTION = 0.05
"""Below this fraction of matched pixels a pair is rejected as not a stereo pair."""

SWAP_FRACTION = 0.6
"""A pair is taken as swapped when at least this fraction of its sparse disparities is negative
(and their median is below -0.5 px)."""

MIN_SPARSE = 12
"""Fewer sparse matches than this and the disparity range / swap checks are skipped."""

UNRELATED_CORNERS = 200
"""A textured left picture (this many SIFT keypoints) with fewer than :data:`MIN_SPARSE` matches in
the right one is refused as not a pair (low-texture pictures are matched anyway)."""

DISPARITY_STEP = 1.0 / 16.0
"""SGBM's sub-pixel step (pixels); also the smallest disparity a dense positive map may hold."""

RECTIFY_MODES = ("auto", "always", "never")
"""``rectify`` choices of :func:`estimate_stereo`."""

METHODS = ("fast", "wls")
"""``method`` choices: SGBM + background fill (default), or + right matcher, LR check and WLS."""

_P1, _P2, _PREFILTER_CAP = 8, 24, 15  # SGBM penalties per channel*b^2; measured on the motorcycle pair
_LR_TOLERANCE = 1.0  # pixels: left-right consistency tolerance
_WLS_LAMBDA = 4000.0  # measured on the motorcycle pair (2000..8000 within 0.3 points)
_WLS_SIGMA_COLOR = 1.0
_FGS_LAMBDA = 200.0  # colour-guided hole estimate (half size)
_FGS_SIGMA = 2.0
_SOURCE = "stereo SGBM 3-way (OpenCV)"


# --------------------------------------------------------------------------------------------
# side-by-side pictures and MPO files
# --------------------------------------------------------------------------------------------
def split_sbs(image: np.ndarray, order: str = "lr") -> tuple[np.ndarray, np.ndarray]:
    """Split one side-by-side stereo picture into its left and right views.

    Args:
        image: (H, W, C) or (H, W) array of any dtype; W must be even (two halves of W/2 columns).
        order: ``"lr"`` = parallel view (the left half is the left eye's view), ``"rl"`` =
            cross-eyed view (the left half is the right eye's view).

    Returns:
        ``(left, right)``: two C-contiguous copies of shape (H, W/2, C) (or (H, W/2)), same dtype,
        left eye first whatever ``order`` was. (If the order is wrong anyway,
        :func:`estimate_stereo` notices the swapped pair and fixes it.)

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


def is_mpo(path: Union[str, os.PathLike]) -> bool:
    """True when ``path`` is a multi-picture (MPO) file with at least two frames.

    Reads the header only (Pillow); any unreadable file gives False (the normal loader reports it).
    """
    from PIL import Image

    try:
        with Image.open(os.fspath(path)) as im:
            return im.format == "MPO" and getattr(im, "n_frames", 1) >= 2
    except Exception:
        return False


def load_mpo(path: Union[str, os.PathLike], *, max_pixels: int = 40_000_000):
    """Read the first two frames of an MPO file (Fujifilm W1/W3, Nintendo 3DS, ...) as left, right.

    Stereo cameras store the left view first (CIPA DC-007 "Multi-Picture Format": the individual
    images of a multi-view set are ordered left to right); :func:`estimate_stereo` still checks the
    order from the disparities.

    Args:
        path: the .mpo file.
        max_pixels: as :func:`depth_addon.core.images.load_image` (each frame).

    Returns:
        ``(left, right)``: two :class:`~depth_addon.core.images.Photo` objects (float32 RGB in
        [0, 1], EXIF orientation applied, ``focal_px`` from each frame's EXIF when present).

    Raises:
        InputError: the file is missing/unreadable, not an MPO, has fewer than two frames, or a
            frame cannot be decoded.
    """
    from PIL import Image

    from .images import _check_file, _load_opened

    path = os.fspath(path)
    _check_file(path)
    try:
        im = Image.open(path)
    except Exception as exc:
        raise InputError(f"{path} is not an image Pillow can read ({exc})") from None
    try:
        n = getattr(im, "n_frames", 1)
        if im.format != "MPO" or n < 2:
            raise InputError(f"{path} is not a stereo MPO file (format {im.format}, {n} frame(s)); "
                             "give the right view with --right or a side-by-side picture with --sbs")
        photos = []
        for i in (0, 1):
            try:
                im.seek(i)
                im.load()
                frame = im.copy()  # a plain image of this frame, with its own EXIF in .info
            except Exception as exc:
                raise InputError(f"{path}: frame {i + 1} of the MPO file cannot be decoded "
                                 f"({exc})") from None
            photos.append(_load_opened(frame, path, max_pixels))
        return photos[0], photos[1]
    finally:
        im.close()


# --------------------------------------------------------------------------------------------
# input checks and parameters
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
    import cv2

    diff = cv2.norm(l8, r8, cv2.NORM_L1) / float(l8.size)
    if diff < 0.5:
        raise InputError(
            "left and right images are identical: a stereo pair needs two photos taken from "
            "side-by-side positions"
        )
    return l8, r8


def _gray(rgb8: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb8, cv2.COLOR_RGB2GRAY)


def default_num_disparities(width: int) -> int:
    """Disparity search range when nothing better is known: about width/8, a multiple of 16.

    Consumer stereo (phones, 3D cameras, Middlebury) rarely exceeds 1/8 of the width in disparity;
    the motorcycle pair (741 px) peaks at 60 px and gets 96. Used when the sparse matches are too
    few to estimate the range (see :func:`disparity_search_range`).
    """
    return max(16, int(math.ceil(width / 8.0 / 16.0)) * 16)


def default_block_size(width: int, height: int) -> int:
    """SGBM block size (odd, 3..9) from the picture size: 3 below ~1 MP-wide, growing with width.

    Measured on the motorcycle pair (741 px wide): 3 gives bad-2.0 ~0.5-2 points lower than 5 or 7.
    """
    b = 3 + 2 * int(max(width, height) // 1200)
    return int(min(9, b))


def disparity_search_range(dx: Optional[np.ndarray], width: int,
                           num_disparities: Optional[int] = None) -> tuple[int, int]:
    """SGBM's ``(minDisparity, numDisparities)`` from sparse disparities.

    Args:
        dx: (N,) horizontal disparities x_left - x_right of sparse matches in pixels, or None.
        width: picture width in pixels.
        num_disparities: a range the user fixed (pixels, rounded up to a multiple of 16), or None.

    Returns:
        ``(min_d, nd)`` ints: disparities ``min_d .. min_d + nd - 1`` are searched; ``nd`` is a
        multiple of 16, at least 16 and at most width/2 (rounded to 16). From the matches: their
        1st..99th percentile widened by ``max(3 px, 10 % of the span, 1 % of the width)`` on each
        side (sparse features miss textureless far background and thin near parts), centred in the
        rounded range and never below 0 when the matches are all non-negative. With fewer than
        :data:`MIN_SPARSE` matches: ``(0, default_num_disparities(width))``. With
        ``num_disparities``: that many, starting at 0 (or at the matches' low end if it is
        negative).
    """
    cap = max(16, int(width // 2) // 16 * 16)
    have = dx is not None and len(dx) >= MIN_SPARSE
    if num_disparities is not None:
        lo = float(np.percentile(dx, 1)) if have else 0.0
        return (int(math.floor(lo)) if lo < 0 else 0), int(num_disparities)
    if not have:
        return 0, min(cap, default_num_disparities(width))
    p_lo, p_hi = (float(v) for v in np.percentile(dx, [1.0, 99.0]))
    margin = max(3.0, 0.10 * (p_hi - p_lo), 0.01 * width)
    lo, hi = p_lo - margin, p_hi + margin
    span = hi - lo + 1.0  # disparities lo..hi inclusive
    nd = min(cap, max(16, int(math.ceil(span / 16.0)) * 16))
    min_d = int(math.floor(lo - max(0.0, nd - span) / 2.0))
    if min_d + nd - 1 < hi and nd >= span:
        min_d = int(math.ceil(hi)) - nd + 1
    if p_lo >= 0:
        min_d = max(0, min_d)
    return min_d, nd


def _resolve_params(width: int, height: int, num_disparities: Optional[int],
                    block_size: Optional[int]) -> tuple[Optional[int], int]:
    nd = None
    if num_disparities is not None:
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


# --------------------------------------------------------------------------------------------
# matching
# --------------------------------------------------------------------------------------------
@dataclass
class _Match:
    disparity: np.ndarray  # (H, W) float32 dense
    valid: np.ndarray  # (H, W) bool
    confidence: np.ndarray  # (H, W) float32 [0, 1]
    valid_fraction: float  # valid AND textured: pixels really measured
    min_disparity: int
    num_disparities: int
    block_size: int


def _row_neighbours(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values of the nearest valid pixel to the left and to the right in each row (inf if none)."""
    h, w = values.shape
    flat = np.ascontiguousarray(values, dtype=np.float32).ravel()
    cols = np.arange(w, dtype=np.int32)[None, :]
    base = (np.arange(h, dtype=np.int64) * w)[:, None]
    idx = np.where(valid, cols, -1).astype(np.int32)
    np.maximum.accumulate(idx, axis=1, out=idx)
    left = flat[base + np.maximum(idx, 0)]
    left[idx < 0] = np.inf
    idx = np.where(valid, cols, w).astype(np.int32)[:, ::-1]
    idx = np.minimum.accumulate(idx, axis=1)[:, ::-1]
    right = flat[base + np.minimum(idx, w - 1)]
    right[idx >= w] = np.inf
    return left, right


def _fill_from_background(values: np.ndarray, valid: np.ndarray,
                          estimate: Optional[np.ndarray] = None) -> np.ndarray:
    """Fill ``~valid`` pixels along rows from the neighbour with the smaller disparity.

    Each hole gets ``min(left neighbour, right neighbour)``; when ``estimate`` (e.g. a smoothed map,
    NaN where unknown) is given the hole gets ``min(estimate, that)``, i.e. the estimate is used
    only where it is farther than the background side. Rows without any valid pixel are filled from
    columns the same way, and anything left from the median of valid values.
    """
    values = values.astype(np.float32, copy=False)
    left, right = _row_neighbours(values, valid)
    fill = np.minimum(left, right)
    if estimate is not None:
        with np.errstate(invalid="ignore"):
            fill = np.where(np.isfinite(estimate), np.minimum(estimate, fill), fill)
    out = np.where(valid, values, fill).astype(np.float32)
    missing = ~np.isfinite(out)
    if missing.any():
        known = ~missing
        up, down = _row_neighbours(np.ascontiguousarray(out.T), np.ascontiguousarray(known.T))
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
    inside = (xr >= 0) & (xr < w)
    xr_c = np.clip(xr, 0, w - 1)
    d_r = -np.take_along_axis(disp_r_raw, xr_c, axis=1).astype(np.float32) / 16.0
    bad_r = np.take_along_axis(invalid_r, xr_c, axis=1)
    return valid_l & inside & ~bad_r & (np.abs(d_r - disp_l) <= _LR_TOLERANCE)


def _occluded(disp: np.ndarray, valid: np.ndarray, tol: float = 0.5) -> np.ndarray:
    """Left-view occlusion test from the left map alone: pixel x (disparity d) is occluded when
    some valid pixel x' > x on its row lands at x' - d' <= x - d - tol in the right view (a nearer
    surface covers its match)."""
    h, w = disp.shape
    xs = np.arange(w, dtype=np.float32)[None, :]
    xr = np.where(valid, xs - disp, np.inf).astype(np.float32)
    m = np.minimum.accumulate(xr[:, ::-1], axis=1)[:, ::-1]
    later = np.empty_like(m)
    later[:, :-1] = m[:, 1:]
    later[:, -1] = np.inf
    return valid & (later < xr - tol)


def _edge_estimate(l8: np.ndarray, disp: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Colour-guided dense estimate of the valid disparities (normalised fast global smoother on
    a half-size copy, Min et al. 2014); NaN where no valid pixel is near."""
    import cv2

    h, w = disp.shape
    size = (max(8, w // 2), max(8, h // 2))
    guide = cv2.resize(l8, size, interpolation=cv2.INTER_AREA)
    vd = np.dstack([np.where(valid, disp, 0.0), valid]).astype(np.float32)
    vd = cv2.resize(vd, size, interpolation=cv2.INTER_AREA)
    sm = cv2.ximgproc.fastGlobalSmootherFilter(guide, vd, _FGS_LAMBDA, _FGS_SIGMA)
    num, den = sm[:, :, 0], sm[:, :, 1]
    est = np.where(den > 0.02, num / np.maximum(den, 1e-6), np.nan).astype(np.float32)
    return cv2.resize(est, (w, h), interpolation=cv2.INTER_LINEAR)


def _texture(l8: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1]: ``min(1, g / 8)`` with ``g`` the mean grey-level gradient magnitude
    (|Sobel x| + |Sobel y|, divided by 8: grey levels per pixel on a 0..255 scale) over 5x5."""
    import cv2

    g = _gray(l8)
    gx = cv2.convertScaleAbs(cv2.Sobel(g, cv2.CV_16S, 1, 0, ksize=3), alpha=0.125)
    gy = cv2.convertScaleAbs(cv2.Sobel(g, cv2.CV_16S, 0, 1, ksize=3), alpha=0.125)
    tex = cv2.blur(cv2.add(gx, gy), (5, 5)).astype(np.float32) * (1.0 / 8.0)
    return np.minimum(tex, 1.0)


def _confidence(l8: np.ndarray, disp: np.ndarray, valid: np.ndarray,
                texture: Optional[np.ndarray] = None) -> np.ndarray:
    """(H, W) float32 in [0, 1]: 0 where not valid; else the product of
    - 0.25 where :func:`_occluded` fires (the match is covered by a nearer surface), else 1;
    - ``exp(-(s / 2 px)^2)`` with ``s`` the disparity spread (max - min) in the 5x5 neighbourhood
      beyond 1 px (depth discontinuities: which side a pixel belongs to is uncertain);
    - :func:`_texture` (textureless areas match by propagation only; 0 on flat areas).

    On the motorcycle pair bad-2.0 is 23 % on filled pixels (0), 11 % below 0.25 and 2-4 % above."""
    import cv2

    occ = _occluded(disp, valid)
    k = np.ones((5, 5), np.uint8)
    spread = np.maximum(cv2.dilate(disp, k) - cv2.erode(disp, k) - 1.0, 0.0)
    edge = np.exp(-np.square(spread * 0.5))
    tex = _texture(l8) if texture is None else texture
    c = np.where(occ, 0.25, 1.0).astype(np.float32) * edge * tex
    return np.where(valid, c, 0.0).astype(np.float32)


def _sgbm(min_d: int, nd: int, bs: int, h: int, w: int):
    import cv2

    return cv2.StereoSGBM_create(
        minDisparity=int(min_d),
        numDisparities=int(nd),
        blockSize=int(bs),
        P1=_P1 * 3 * bs * bs,
        P2=_P2 * 3 * bs * bs,
        disp12MaxDiff=1,
        uniquenessRatio=10,
        speckleWindowSize=max(50, int(round(100 * math.sqrt(h * w / 370_000.0)))),
        speckleRange=2,
        preFilterCap=_PREFILTER_CAP,
        mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY,
    )


def _match(l8: np.ndarray, r8: np.ndarray, min_d: int, nd: int, bs: int,
           progress: Optional[ProgressFn], stage: str = "stereo", *, method: str = "fast",
           left_ok: Optional[np.ndarray] = None, right_ok: Optional[np.ndarray] = None,
           mode: str = "3way") -> _Match:
    """Match a rectified pair: SGBM + (fast) background fill + median, or (wls) LR check + WLS.

    ``left_ok`` / ``right_ok``: (H, W) bool masks of real picture content (rectified pairs); pixels
    outside, or whose match falls outside, are holes. ``mode`` ("3way"/"hh4") exists for the bench.
    """
    import cv2

    h, w = l8.shape[:2]
    matcher = _sgbm(min_d, nd, bs, h, w)
    if mode == "hh4":
        matcher.setMode(cv2.STEREO_SGBM_MODE_HH4)
    # Pad so the first min_d + nd columns (and, for negative disparities, the last -min_d) can be
    # searched too; cropped afterwards.
    pl, pr = max(0, min_d + nd), max(0, -min_d)
    lp = cv2.copyMakeBorder(l8, 0, 0, pl, pr, cv2.BORDER_REPLICATE)
    rp = cv2.copyMakeBorder(r8, 0, 0, pl, pr, cv2.BORDER_REPLICATE)

    report(progress, f"{stage}: matching", 0.05)
    raw_l = matcher.compute(lp, rp)
    raw = raw_l[:, pl:pl + w]
    valid = raw >= min_d * 16  # invalid marker = (min_d - 1) * 16
    disp = raw.astype(np.float32) / 16.0
    conf_wls = None
    if method == "wls":
        report(progress, f"{stage}: matching right view", 0.40)
        right_matcher = cv2.ximgproc.createRightMatcher(matcher)
        raw_r_full = right_matcher.compute(rp, lp)
        report(progress, f"{stage}: WLS filtering", 0.70)
        wls = cv2.ximgproc.createDisparityWLSFilter(matcher)
        wls.setLambda(_WLS_LAMBDA)
        wls.setSigmaColor(_WLS_SIGMA_COLOR)
        raw_f = wls.filter(raw_l, lp, disparity_map_right=raw_r_full, right_view=rp)[:, pl:pl + w]
        conf_wls = np.asarray(wls.getConfidenceMap())[:, pl:pl + w].astype(np.float32) / 255.0
        raw_r = raw_r_full[:, pl:pl + w]
        invalid_r = raw_r <= (right_matcher.getMinDisparity() - 1) * 16
        valid = _left_right_check(disp, raw_r, invalid_r, valid)
        filtered_ok = raw_f >= min_d * 16
        filtered = np.where(filtered_ok, raw_f.astype(np.float32) / 16.0, np.nan).astype(np.float32)
        valid &= filtered_ok
        disp = np.where(valid, filtered, disp)
    if left_ok is not None:
        valid &= left_ok
    if right_ok is not None:
        xr = np.clip(np.rint(np.arange(w)[None, :] - disp).astype(np.int64), -1, w)
        inside = (xr >= 0) & (xr < w)
        valid &= inside & np.take_along_axis(right_ok, np.clip(xr, 0, w - 1), axis=1)

    report(progress, f"{stage}: hole filling", 0.85)
    texture = _texture(l8)
    if method == "wls":
        dense = _fill_from_background(np.where(valid, disp, 0.0), valid, estimate=filtered)
        confidence = np.where(valid, np.clip(conf_wls, 0.0, 1.0), 0.0).astype(np.float32)
    else:
        est = _edge_estimate(l8, disp, valid)
        dense = _fill_from_background(np.where(valid, disp, 0.0), valid, estimate=est)
        dense = cv2.medianBlur(dense, 5)
        confidence = _confidence(l8, dense, valid, texture)
    if min_d >= 0:
        dense = np.maximum(dense, DISPARITY_STEP)
    report(progress, f"{stage}: matched", 1.0)
    # Flat areas "match" anywhere (SGBM propagates into them): they do not count as matched.
    measured = float(np.mean(valid & (texture > 0.05)))
    return _Match(dense.astype(np.float32), valid, confidence, measured, min_d, nd, bs)


def _no_match_error(fraction: float) -> InputError:
    return InputError(
        f"only {fraction:.1%} of pixels found a stereo match: the two images must be left and "
        f"right views of the same scene with some texture"
    )


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise InputError(f"unknown stereo method {method!r}; choose one of: {', '.join(METHODS)}")


def match_disparity(left: np.ndarray, right: np.ndarray, *, num_disparities: Optional[int] = None,
                    min_disparity: Optional[int] = None, block_size: Optional[int] = None,
                    method: str = "fast", progress: Optional[ProgressFn] = None) -> DepthResult:
    """Dense disparity of a RECTIFIED pair in the given order, on the left image's pixel grid.

    Semi-global matching (Hirschmüller 2008, OpenCV ``StereoSGBM`` in ``MODE_SGBM_3WAY``) and hole
    filling from the background side; ``method="wls"`` adds a left-right consistency check and the
    WLS filter (Min et al. 2014). No rectification and no swap check: see :func:`estimate_stereo`.

    Args:
        left, right: (H, W, 3) RGB, uint8 or float32 in [0, 1] (grey (H, W), RGBA and uint16 are
            accepted too); rectified so that matching points lie on the same row, the right view's
            point at x - d for a left-view point at x.
        num_disparities: search range in pixels; rounded up to a multiple of 16. Default: from
            sparse matches (:func:`disparity_search_range`), else about width / 8.
        min_disparity: smallest disparity searched (pixels, may be negative); default from the
            sparse matches (0 when ``num_disparities`` is given and the matches are non-negative).
        block_size: odd matching block size 1..11; default :func:`default_block_size`.
        method: "fast" (default) or "wls" (see :data:`METHODS`).
        progress: optional ``fn(stage, fraction)``; may raise ``Cancelled``.

    Returns:
        DepthResult with ``kind="disparity"``: ``values`` (H, W) float32 disparity in pixels,
        sub-pixel (1/16 px steps before filtering), DENSE: every pixel is finite; when the searched
        range is non-negative every value is >= 1/16 px (pixels matched at infinity are raised
        to 1/16). ``valid`` (H, W) bool = a match passed the checks (False = filled); ``confidence``
        (H, W) float32 in [0, 1], 0 where not valid; ``K`` None; ``source`` names the parameters.

    Raises:
        InputError: sizes differ, a side is < 32 px, bad dtype/shape, the two images are
            identical, fewer than 5 % of pixels match (not a stereo pair, flat images), or bad
            ``num_disparities`` / ``min_disparity`` / ``block_size`` / ``method``.
    """
    _check_method(method)
    l8, r8 = _check_pair(left, right)
    h, w = l8.shape[:2]
    nd, bs = _resolve_params(w, h, num_disparities, block_size)
    if min_disparity is not None and int(min_disparity) != min_disparity:
        raise InputError(f"min_disparity must be an integer, got {min_disparity!r}")
    if nd is not None and min_disparity is not None:
        min_d = int(min_disparity)
    else:
        probe = rc.probe_matches(_gray(l8), _gray(r8))
        min_d, nd = disparity_search_range(probe.dx if len(probe) else None, w, nd)
        if min_disparity is not None:
            min_d = int(min_disparity)
    m = _match(l8, r8, min_d, nd, bs, progress, method=method)
    if m.valid_fraction < MIN_VALID_FRACTION:
        raise _no_match_error(m.valid_fraction)
    return DepthResult(values=m.disparity, kind="disparity", valid=m.valid, K=None,
                       confidence=m.confidence, source=_source(m, method))


def _source(m: _Match, method: str, extra: str = "") -> str:
    return (f"{_SOURCE}{' + WLS' if method == 'wls' else ''}, disparities {m.min_disparity}.."
            f"{m.min_disparity + m.num_disparities - 1}, blockSize {m.block_size}{extra}")


# --------------------------------------------------------------------------------------------
# the whole stereo path
# --------------------------------------------------------------------------------------------
def looks_swapped(dx: Optional[np.ndarray]) -> bool:
    """True when sparse disparities say left and right are swapped.

    Args:
        dx: (N,) horizontal disparities x_first - x_second of sparse matches, pixels (or None).

    Returns:
        True when there are at least :data:`MIN_SPARSE` of them, at least :data:`SWAP_FRACTION` are
        negative and their median is below -0.5 px. (A correctly ordered pair of parallel cameras
        has no negative disparity. A picture prepared for viewing with its stereo window in front of
        everything also has mostly negative disparities; pass ``swap=False`` to
        :func:`estimate_stereo` for those.)
    """
    if dx is None or len(dx) < MIN_SPARSE:
        return False
    return bool(np.mean(dx < 0) >= SWAP_FRACTION and np.median(dx) < -0.5)


def _rectify(probe: rc.Matches, lg: np.ndarray, rg: np.ndarray, size: tuple) -> rc.Rectification:
    """Rectify from the probe's tracks; if that fails, from SIFT matches (slower, more robust)."""
    if len(probe) >= 3 * rc.MIN_MATCHES:
        try:
            return rc.rectify_uncalibrated(probe, size)
        except InputError:
            pass
    return rc.rectify_uncalibrated(rc.feature_matches(lg, rg), size)


def estimate_stereo(left: np.ndarray, right: np.ndarray, *, focal_px: Optional[float] = None,
                    baseline_m: Optional[float] = None, doffs: float = 0.0,
                    num_disparities: Optional[int] = None, block_size: Optional[int] = None,
                    rectify: str = "auto", swap: Optional[bool] = None, method: str = "fast",
                    mono=None, progress: Optional[ProgressFn] = None) -> DepthResult:
    """Depth (or disparity) of any stereo pair, on the grid of the picture passed as ``left``.

    Steps: sparse matches (:func:`depth_addon.core.rectify.probe_matches`); rectification when the
    rows are misaligned (Hartley 1999, :func:`depth_addon.core.rectify.rectify_uncalibrated`);
    swapped views detected from mostly negative sparse disparities and fixed by mirroring both
    pictures (the result is mirrored back, so it stays on ``left``'s grid); disparity range from the
    sparse matches; matching as :func:`match_disparity`; optional fusion with a monocular map
    (:func:`fuse_monocular`); metric conversion ``Z = f B / (d + doffs)``.

    Args:
        left, right: (H, W, 3) RGB pictures of the same size (as :func:`match_disparity`).
        focal_px: focal length in pixels of these pictures (optional; EXIF gives it, see
            :func:`depth_addon.core.images.focal_from_exif`).
        baseline_m: camera baseline in metres (optional; used only with ``focal_px``).
        doffs: principal-point offset in pixels (see :func:`disparity_to_depth`).
        num_disparities: search range in pixels (default: from the sparse matches).
        block_size: SGBM block size (default from the picture size).
        rectify: "auto" (rectify when the sparse matches are more than
            :data:`~depth_addon.core.rectify.RECTIFY_TOLERANCE_PX` off vertically), "always" or
            "never".
        swap: None = detect, True = the pair is known to be swapped, False = never swap.
        method: "fast" (default) or "wls" (see :data:`METHODS`).
        mono: optional monocular estimate for the LEFT picture: (h, w) relative inverse depth
            (larger = nearer, any size, resized) or a DepthResult of kind "inverse"/"disparity"/
            "metric"/"relative"; see :func:`fuse_monocular`.
        progress: optional ``fn(stage, fraction)``.

    Returns:
        DepthResult on ``left``'s grid, dense (every value finite):
        - with ``focal_px`` and ``baseline_m``: ``kind="metric"``, values in metres (> 0), ``K`` =
          [[f, 0, (W-1)/2], [0, f, (H-1)/2], [0, 0, 1]];
        - otherwise ``kind="disparity"`` in pixels (> 0), or ``kind="inverse"`` when the
          disparities reach zero or below (converged cameras / a picture's stereo window: depth is
          then known only up to scale and shift); ``K`` from ``focal_px`` or None.
        ``valid``/``confidence`` as :func:`match_disparity`; ``notes`` holds the notices
        (swapped, rectified, fused ...).

    Raises:
        InputError: as :func:`match_disparity`; a pair that needs rectification but cannot be
            rectified (too few matches, vertical or forward camera motion, too much distortion —
            the message says which); bad ``rectify``/``swap``/``method``; non-positive
            ``focal_px`` / ``baseline_m``.
    """
    if focal_px is not None and not (math.isfinite(float(focal_px)) and float(focal_px) > 0):
        raise InputError(f"focal length must be a positive number of pixels, got {focal_px!r}")
    if baseline_m is not None and not (math.isfinite(float(baseline_m)) and float(baseline_m) > 0):
        raise InputError(f"baseline must be a positive distance in metres, got {baseline_m!r}")
    if rectify not in RECTIFY_MODES:
        raise InputError(f"unknown rectify mode {rectify!r}; choose one of: {', '.join(RECTIFY_MODES)}")
    if swap not in (None, True, False):
        raise InputError(f"swap must be None (detect), True or False, got {swap!r}")
    _check_method(method)
    l8, r8 = _check_pair(left, right)
    h, w = l8.shape[:2]
    nd_user, bs = _resolve_params(w, h, num_disparities, block_size)
    notes: list[str] = []

    def say(msg: str) -> None:
        notice(msg)
        notes.append(msg)

    def sub(lo: float, hi: float) -> Optional[ProgressFn]:
        if progress is None:
            return None
        return lambda stage, frac: progress(stage, lo + (hi - lo) * max(0.0, frac))

    report(progress, "stereo: sparse matches", 0.0)
    lg, rg = _gray(l8), _gray(r8)
    sparse = rc.probe_matches(lg, rg)
    need = rectify == "always"
    if rectify == "never" and len(sparse) < MIN_SPARSE and sparse.tried >= UNRELATED_CORNERS:
        # a rectified pair (as --rectify never says) matches along its rows: nothing matched
        raise InputError(
            f"the two pictures do not seem to show the same scene: only {len(sparse)} of "
            f"{sparse.tried} points of the left picture were found along the rows of the right one")
    if rectify == "auto":
        if len(sparse) < 3 * MIN_SPARSE:
            feats = rc.feature_matches(lg, rg)
            if len(feats) > len(sparse):
                sparse = feats
        if len(sparse) >= MIN_SPARSE:
            mis = rc.vertical_misalignment(sparse)
            need = mis > rc.RECTIFY_TOLERANCE_PX
        elif sparse.tried >= UNRELATED_CORNERS:
            raise InputError(
                f"the two pictures do not seem to show the same scene: only {len(sparse)} of "
                f"{sparse.tried} points of the left picture were found in the right one")
        else:
            say(f"only {len(sparse)} point matches between left and right: could not check that "
                f"the pair is rectified; assumed it is")
    rect = None
    if need:
        report(progress, "stereo: rectifying", 0.05)
        try:
            rect = _rectify(sparse, lg, rg, (w, h))
        except InputError as exc:
            mis = rc.vertical_misalignment(sparse)
            hint = ("" if rectify == "always" or mis > 4.0 else
                    f" (its rows are {mis:.1f} px apart; if the pair is already rectified, turn "
                    f"rectification off)")
            raise InputError(f"{exc}{hint}") from None
        dx = rect.disparity
        say(f"pair was not rectified (rows {rc.vertical_misalignment(sparse):.1f} px apart): "
            f"rectified from {len(rect.matches)} point matches, rows now within "
            f"{rect.vertical_error:.2f} px")
    else:
        dx = sparse.dx if len(sparse) else None

    swapped = looks_swapped(dx) if swap is None else bool(swap)
    if swapped:
        # A swapped pair, mirrored, is a correct left/right pair (of the mirrored scene).
        l8, r8 = np.ascontiguousarray(l8[:, ::-1]), np.ascontiguousarray(r8[:, ::-1])
        if rect is not None:
            rect = rc.rectify_uncalibrated(rect.matches.mirrored(w), (w, h))
            dx = rect.disparity
        elif dx is not None:
            dx = -dx
        say("left and right look swapped (most disparities were negative); swapped them"
            if swap is None else "left and right swapped as requested")

    min_d, nd = disparity_search_range(dx, w, nd_user)
    if rect is not None:
        lr8, rr8, lok, rok = rect.warp(l8, r8)
        m = _match(lr8, rr8, min_d, nd, bs, sub(0.1, 0.9), method=method, left_ok=lok, right_ok=rok)
        valid = rect.to_left(m.valid, fill=0) & (rect.to_left(lok, fill=0))
        disp = rect.to_left(m.disparity, fill=np.nan)
        conf = rect.to_left(m.confidence, fill=0.0)
        known = np.isfinite(disp)
        if not known.all():
            disp = _fill_from_background(np.where(known, disp, 0.0), known)
        conf = np.where(valid, conf, 0.0).astype(np.float32)
        if min_d >= 0:
            disp = np.maximum(disp, DISPARITY_STEP)
        measured = float(np.mean(valid & (_texture(l8) > 0.05)))
        m = _Match(disp.astype(np.float32), valid, conf, measured, min_d, nd, bs)
    else:
        m = _match(l8, r8, min_d, nd, bs, sub(0.05, 0.9), method=method)
    if swapped:
        m = _Match(np.ascontiguousarray(m.disparity[:, ::-1]), np.ascontiguousarray(m.valid[:, ::-1]),
                   np.ascontiguousarray(m.confidence[:, ::-1]), m.valid_fraction, min_d, nd, bs)
    if m.valid_fraction < MIN_VALID_FRACTION:
        raise _no_match_error(m.valid_fraction)

    extra = (", rectified (Hartley)" if rect is not None else "") + (", swapped" if swapped else "")
    result = DepthResult(values=m.disparity, kind="disparity", valid=m.valid, K=None,
                         confidence=m.confidence, source=_source(m, method, extra), notes=notes)
    if mono is not None:
        report(progress, "stereo: fusing with monocular depth", 0.92)
        result = fuse_monocular(result, mono)
        notes = result.notes  # the fusion's copy: earlier notes + its own

    K = _intrinsics(float(focal_px), w, h) if focal_px is not None else None
    values, kind = result.values, "disparity"
    if focal_px is not None and baseline_m is not None:
        values = disparity_to_depth(values, float(focal_px), float(baseline_m), doffs)
        kind = "metric"
    else:
        if baseline_m is not None:
            say("a baseline without a focal length cannot give metric depth; kept disparity")
        ref = values[result.valid] if result.valid.any() else values.ravel()
        if float(np.percentile(ref, 1.0)) <= 0.5:
            kind = "inverse"
            say("disparities reach zero or below (converged cameras, or a picture aligned for "
                "viewing): depth is known up to scale and shift only; treated as relative inverse "
                "depth")
    report(progress, "stereo: done", 1.0)
    return DepthResult(values=values.astype(np.float32), kind=kind, valid=result.valid, K=K,
                       confidence=result.confidence, source=result.source, notes=notes)


# --------------------------------------------------------------------------------------------
# monocular fusion
# --------------------------------------------------------------------------------------------
def fit_scale_shift(x: np.ndarray, y: np.ndarray, weights: Optional[np.ndarray] = None, *,
                    iterations: int = 20, huber_k: float = 1.345) -> tuple[float, float, float, float]:
    """Robust fit ``y ~ s * x + t`` by iteratively reweighted least squares with Huber's loss.

    The residual scale is re-estimated each round as 1.4826 * the median absolute residual
    (P. J. Huber, "Robust Estimation of a Location Parameter", Ann. Math. Stat. 35, 1964;
    k = 1.345 gives 95 % efficiency for Gaussian noise). Used to align a monocular relative inverse
    depth (unknown scale and shift, Ranftl et al. TPAMI 2022) to stereo disparity.

    Args:
        x, y: (N,) samples (any float dtype), N >= 2.
        weights: optional (N,) non-negative prior weights (e.g. stereo confidence).
        iterations: maximum IRLS rounds (stops earlier when s and t change by < 1e-6 relative).
        huber_k: Huber threshold in units of the residual scale.

    Returns:
        ``(s, t, sigma, inlier_fraction)``: scale, shift, robust residual scale (units of y) and the
        fraction of samples within ``huber_k * sigma``.

    Raises:
        InputError: fewer than 2 samples, mismatched shapes, or x is constant.
    """
    x = np.asarray(x, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    if x.shape != y.shape or x.size < 2:
        raise InputError(f"a scale-and-shift fit needs two equal-length samples of >= 2 values, "
                         f"got {x.size} and {y.size}")
    w0 = np.ones_like(x) if weights is None else np.asarray(weights, np.float64).ravel()
    if not np.ptp(x) > 0:
        raise InputError("monocular map is constant over the confident stereo pixels: cannot fit")
    A = np.column_stack([x, np.ones_like(x)])
    wts = w0.copy()
    s = t = 0.0
    sigma = 0.0
    for i in range(max(1, iterations)):
        sw = np.sqrt(wts)
        (s_new, t_new), *_ = np.linalg.lstsq(A * sw[:, None], y * sw, rcond=None)
        r = y - (s_new * x + t_new)
        sigma = 1.4826 * float(np.median(np.abs(r))) + 1e-12
        u = np.abs(r) / (huber_k * sigma)
        wts = w0 * np.where(u <= 1.0, 1.0, 1.0 / np.maximum(u, 1e-12))
        done = i > 0 and abs(s_new - s) <= 1e-6 * (abs(s) + 1e-12) and abs(t_new - t) <= 1e-6 * (abs(t) + 1)
        s, t = float(s_new), float(t_new)
        if done:
            break
    r = y - (s * x + t)
    return s, t, float(sigma), float(np.mean(np.abs(r) <= huber_k * sigma))


def _mono_inverse(mono, shape: tuple) -> np.ndarray:
    import cv2

    if isinstance(mono, DepthResult):
        v = np.asarray(mono.values, np.float32)
        if mono.kind in ("metric", "relative"):
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where(v > 0, 1.0 / v, np.nan).astype(np.float32)
    else:
        v = np.asarray(mono, np.float32)
    if v.ndim != 2:
        raise InputError(f"monocular map must be (H, W), got shape {v.shape}")
    if v.shape != shape:
        v = cv2.resize(v, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return v


def fuse_monocular(stereo: DepthResult, mono, *, min_confidence: float = 0.25,
                   max_samples: int = 200_000) -> DepthResult:
    """Fill holes and low-confidence pixels of a stereo disparity map from a monocular estimate.

    The monocular map m (relative inverse depth, larger = nearer) is aligned to the disparity d by
    a robust fit ``d ~ s m + t`` (:func:`fit_scale_shift`, weights = stereo confidence) on pixels
    that are valid with confidence >= ``min_confidence``; then every pixel gets
    ``a d + (1 - a)(s m + t)`` with ``a = min(1, confidence / min_confidence)``: confident stereo is
    kept, holes (occlusions, the border strip) and textureless pixels take the aligned monocular
    value, which follows the picture's edges instead of the row-wise background fill.

    Args:
        stereo: DepthResult of kind "disparity" (pixels) with ``confidence`` (e.g. from
            :func:`match_disparity`).
        mono: (h, w) array of relative inverse depth of the same (left) picture (any size;
            resized bilinearly), or a DepthResult ("inverse"/"disparity" used as is,
            "metric"/"relative" inverted).
        min_confidence: confidence from which stereo is trusted fully (0..1).
        max_samples: the fit uses at most this many pixels (an even subsample).

    Returns:
        A new DepthResult (kind "disparity", same ``valid``/``confidence``/``K``) with a note giving
        s, t and the residual. When fewer than 1 % of pixels (or 100) are confident, or the fit has
        s <= 0 (the monocular map disagrees with stereo), ``stereo`` is returned unchanged with a
        notice saying why.

    Raises:
        InputError: ``stereo`` is not a disparity map, or the monocular map has a bad shape.
    """
    if stereo.kind != "disparity":
        raise InputError(f"fusion needs a stereo disparity map, got kind {stereo.kind!r}")
    d = np.asarray(stereo.values, np.float32)
    conf = (np.asarray(stereo.confidence, np.float32) if stereo.confidence is not None
            else stereo.valid.astype(np.float32))
    m = _mono_inverse(mono, d.shape)
    use = stereo.valid & (conf >= min_confidence) & np.isfinite(m) & np.isfinite(d)
    n = int(use.sum())
    notes = list(stereo.notes)

    def unchanged(why: str) -> DepthResult:
        msg = f"monocular fusion skipped: {why}"
        notice(msg)
        return DepthResult(values=d, kind="disparity", valid=stereo.valid, K=stereo.K,
                           confidence=stereo.confidence, source=stereo.source, notes=notes + [msg])

    if n < max(100, 0.01 * d.size):
        return unchanged(f"only {n} confident stereo pixels to align the monocular map to")
    idx = np.flatnonzero(use)
    if idx.size > max_samples:
        idx = idx[:: int(math.ceil(idx.size / max_samples))]
    try:
        s, t, sigma, inl = fit_scale_shift(m.ravel()[idx], d.ravel()[idx], conf.ravel()[idx])
    except InputError as exc:
        return unchanged(str(exc))
    if not s > 0:
        return unchanged(f"the monocular map runs against the stereo disparities (scale {s:.3g})")
    aligned = s * np.where(np.isfinite(m), m, np.nanmedian(m)) + t
    a = np.clip(conf / max(min_confidence, 1e-6), 0.0, 1.0)
    fused = (a * d + (1.0 - a) * aligned).astype(np.float32)
    if float(d.min()) > 0:
        fused = np.maximum(fused, DISPARITY_STEP)
    msg = (f"fused with monocular depth: disparity = {s:.4g} x mono + {t:.4g} (Huber fit on {idx.size} "
           f"confident px, residual {sigma:.2f} px, {inl:.0%} inliers); {np.mean(a < 1):.0%} of "
           f"pixels took monocular values")
    notice(msg)
    return DepthResult(values=fused, kind="disparity", valid=stereo.valid, K=stereo.K,
                       confidence=stereo.confidence, source=stereo.source + " + monocular fill",
                       notes=notes + [msg])


# --------------------------------------------------------------------------------------------
# disparity -> depth
# --------------------------------------------------------------------------------------------
def disparity_to_depth(disparity: np.ndarray, focal_px: float, baseline_m: float,
                       doffs: float = 0.0) -> np.ndarray:
    """Metric depth from disparity: ``Z = f * B / (d + doffs)`` (pinhole, rectified pair).

    Args:
        disparity: (H, W) (any shape) disparity in pixels.
        focal_px: focal length f in pixels (> 0), of the rectified images at their current size
            (EXIF focal lengths in mm are converted by
            :func:`depth_addon.core.images.focal_from_exif`).
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
