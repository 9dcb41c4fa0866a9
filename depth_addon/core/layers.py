"""A filled background layer behind every torn depth edge, and how far the camera may move.

Why: tearing the mesh at depth edges (:func:`.geometry.build_mesh`) removes the rubber sheet, but a
moving camera then looks *behind* the foreground, where the photo has no pixels: holes. This module
builds the second layer of a layered depth image (Shade et al., SIGGRAPH 1998 "Layered Depth
Images"), restricted, like 3D Photo Inpainting (Shih et al., CVPR 2020), to a band along every
depth edge, but with classical, fast filling instead of learned networks:

1. Edges: the slope-aware test of :func:`.geometry.detect_tears` on the per-pixel depth at a working
   resolution (at most :data:`WORK_MAX_PIXELS`), with a slightly lower threshold than the mesh's
   (:data:`LAYER_THRESHOLD_FACTOR`) so every edge the mesh tears has a layer behind it. Each torn
   neighbour pair gives a *near* seed and a *far* seed pixel.
2. Band: the largest disocclusion the camera path reveals, in photo pixels: the near and far 3D
   points of every torn pair are projected into every frame and their separation measured
   (:func:`disocclusion_px`), plus a margin, capped at :data:`BAND_CAP_FRACTION` of the long side.
3. Background depth (edge-aware, from the far side only): every pixel within the band of a near
   seed takes the inverse depth of its nearest far seed (exact nearest-seed propagation with
   OpenCV's labelled distance transform), smoothed by a normalised Gaussian inside the hole. The
   hole is where that propagated background is clearly *behind* the pixel (by half the
   threshold), so a pixel is never put on the wrong side and a steep ground plane gets no layer.
4. Colour: OpenCV inpainting, Telea's fast marching method (Telea, J. Graphics Tools 2004) or the
   Navier-Stokes method (Bertalmio, Bertozzi & Sapiro, CVPR 2001), run with background-side pixels
   as the only source: the near side just beyond the band is first overwritten with the colour of
   its nearest background-side pixel, and the 1-2 px of mixed (anti-aliased) pixels right at the
   edge are masked too, so no foreground colour can bleed into the fill. ``"fsr"`` uses OpenCV
   contrib's frequency-selective reconstruction instead (Seiler et al., IEEE TIP 2015): +1.2 dB
   on the disoccluded band in bench/bench_fidelity.py, about 10x slower than Telea. ``"nearest"``
   (that nearest-background colour alone) is kept as a cheap baseline for the benchmark.
5. Mesh: a grid mesh of the band only (a couple of pixels of overlap on the far side close the
   seam), textured with the inpainted crop, placed a hair (:data:`LAYER_PULL`) in front of the main
   mesh's far surface and well behind the foreground.

Motion budget (:class:`MotionBudget`): how far a preset may move before the 3D photo shows its
seams, as the smallest of three limits, each found by bisection on the preset's ``amount``:
holes (:func:`stretch_budget`: the largest disocclusion still fits in the band -- the band cap when
the band is automatic), stretch (:func:`stretch_limit`: faces of the untorn mesh grow by at most
:data:`STRETCH_MAX_PX` beyond their plane over the sub-threshold steps the mesh did not tear) and
crop (:func:`crop_limit`: the overscan zoom that keeps the photo's border out of frame stays
within :data:`MAX_BUDGET_ZOOM`).

No bpy here. Coordinates follow :mod:`.geometry` (OpenCV camera axes, pixel centres at integers).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import camera_path as cp
from . import geometry as geo
from .errors import InputError

INPAINT_METHODS = ("telea", "ns", "nearest", "fsr")
#: layering runs on a copy of the depth/photo with at most this many pixels (12 MP -> ~half size)
WORK_MAX_PIXELS = 3_000_000
#: the layer's edge test uses this fraction of the mesh's tear threshold (covers every mesh tear)
LAYER_THRESHOLD_FACTOR = 0.75
#: the automatic band is capped at this fraction of the photo's longer side
BAND_CAP_FRACTION = 0.10
#: smallest band (photo px) even for a still camera: covers the mesh's own torn cells
MIN_BAND_PX = 4
#: far-side overlap of the layer (work px): closes the seam with the main mesh's far surface
OVERLAP_PX = 2
#: mixed pixels on the far side of an edge that are not used as inpainting source (work px)
FAR_MARGIN_PX = 1.5
#: inpainting neighbourhood radius of cv2.inpaint (work px)
INPAINT_RADIUS = 3
#: the layer is moved this fraction of its depth towards the camera (in front of the main mesh's
#: far copy, which carries foreground texture under the near surface; still behind the foreground)
LAYER_PULL = 0.003
#: at most this many torn pairs are projected per frame when sizing the band / budget
MAX_EDGE_SAMPLES = 20_000
#: per-pair reach of the layer is evaluated at most at this many frames of the path
MAX_PATH_SAMPLES = 48
#: torn pairs are grouped into at most this many bins of background depth (see background_depth)
DEPTH_BINS = 8
#: per-edge reaches are rounded up to powers of this factor (one distance transform per level)
REACH_LEVEL_STEP = math.sqrt(2.0)
#: stretch limit of the motion budget: the untorn mesh's faces may grow by at most this many photo
#: pixels beyond what their own plane predicts (a rubber-sheet smear over a sub-threshold step) ...
STRETCH_MAX_PX = 4.0
#: ... counted at this quantile of all untorn neighbour pairs (one noisy pixel does not set it)
STRETCH_QUANTILE = 0.999
#: crop limit of the motion budget: the overscan zoom that keeps the photo's border out of frame
#: may reach this factor (1.2 = a sixth of the width and height cropped away)
MAX_BUDGET_ZOOM = 1.2
#: budget searches: path samples, relative tolerance of the bisection, stretch candidates
BUDGET_SAMPLES = 24
BUDGET_TOLERANCE = 0.01
STRETCH_CANDIDATES = 5_000


@dataclass
class TornEdges:
    """Torn neighbour pairs of a depth map (one entry per pair).

    Attributes:
        near: (E,) int64 flat indices of the near-side pixel of each pair.
        far: (E,) int64 flat indices of the far-side pixel.
        z_near: (E,) float32 depth of the near pixel (scene units).
        z_far: (E,) float32 depth of the far surface next to the pair: the farthest depth in the
            far pixel's 3x3 neighbourhood (robust to one blurred pixel on the edge).
        shape: (h, w) of the map the indices refer to.
    """

    near: np.ndarray
    far: np.ndarray
    z_near: np.ndarray
    z_far: np.ndarray
    shape: tuple

    def __len__(self) -> int:
        return int(self.near.size)


@dataclass
class MotionBudget:
    """How far a preset may move the camera, in its ``amount`` (parallax units), per limit.

    Attributes:
        holes: largest amount whose disocclusions fit the filled band (:func:`stretch_budget`).
        stretch: largest amount at which the untorn mesh's faces stretch by at most
            :data:`STRETCH_MAX_PX` beyond their plane (:func:`stretch_limit`).
        crop: largest amount whose overscan zoom stays within :data:`MAX_BUDGET_ZOOM`
            (:func:`crop_limit`; inf without overscan).
    Each is ``inf`` when that limit is never reached (up to the search's end).
    """

    holes: float
    stretch: float
    crop: float

    @property
    def amount(self) -> float:
        """The budget: the smallest of the three limits."""
        return min(self.holes, self.stretch, self.crop)

    @property
    def limit(self) -> str:
        """Which limit sets the budget: "holes", "stretch", "crop" or "none" (unbounded)."""
        if not math.isfinite(self.amount):
            return "none"
        return min((self.holes, "holes"), (self.stretch, "stretch"), (self.crop, "crop"))[1]


@dataclass
class BackgroundLayer:
    """The filled background layer of a 3D photo (see module doc).

    Attributes:
        mesh: :class:`.geometry.MeshData` of the band only, in the photo camera's OpenCV
            coordinates (scene units); its UVs address ``texture``. No faces if nothing tore.
        texture: (th, tw, 3) float32 sRGB in [0, 1]: the inpainted image cropped to the layer.
        texture_origin: (x0, y0) working-resolution pixel of the crop's top-left texel.
        hole: (h, w) bool at the working resolution: pixels where the layer continues behind the
            foreground (inpainted).
        layer_mask: (h, w) bool: hole plus the far-side overlap (the pixels the layer covers).
        depth: (h, w) float32 background depth (scene units) where ``layer_mask``, NaN elsewhere.
        scale: working-resolution pixels per photo pixel (<= 1).
        band_px: band width used, photo pixels (into the foreground from each torn edge).
        needed_px: largest disocclusion of the camera path, photo pixels (0 without a path).
        band_cap_px: cap of the automatic band, photo pixels.
        safe_amount: the motion budget (``budget.amount``): the largest preset ``amount`` whose
            disocclusions fit the band -- ``band_px`` when given, else the cap ``band_cap_px`` the
            automatic band may grow to --, whose untorn faces do not stretch and whose overscan
            crop stays moderate (inf without a camera path or when nothing limits it).
        budget: :class:`MotionBudget` with each limit (None without a camera path).
        method: inpainting method used.
        n_edges: torn neighbour pairs found at the working resolution.
        seconds: wall time of :func:`build_background`.
    """

    mesh: geo.MeshData
    texture: np.ndarray
    texture_origin: tuple
    hole: np.ndarray
    layer_mask: np.ndarray
    depth: np.ndarray
    scale: float
    band_px: int
    needed_px: float
    band_cap_px: int
    safe_amount: float
    method: str
    n_edges: int
    seconds: float
    budget: Optional[MotionBudget] = None

    def budget_text(self) -> str:
        """One line for the CLI and the panel: the safe motion and what limits it."""
        if not math.isfinite(self.safe_amount):
            return "safe motion: unbounded"
        why = {"holes": "the filled band", "stretch": "stretching faces",
               "crop": "the overscan crop"}.get(self.budget.limit if self.budget else "", "")
        return (f"safe motion x{self.safe_amount:.2g} of the default parallax"
                + (f" (limited by {why})" if why else ""))

    @property
    def holes_expected(self) -> bool:
        """True when the camera path reveals more than the band holds (holes will show)."""
        return self.needed_px > self.band_px


# ------------------------------------------------------------------------------------------------
# edges, band, budget

def torn_edges(Z: np.ndarray, threshold: float = geo.DEFAULT_TEAR_THRESHOLD) -> TornEdges:
    """Per-pixel torn neighbour pairs of a depth map, split into near and far side.

    Uses the slope-aware, non-maximum-suppressed test of :func:`.geometry.detect_tears` (a jump of
    inverse depth not explained by the local slope, relative to the nearer side).

    Args:
        Z: (h, w) float depth > 0, finite (scene units).
        threshold: relative depth jump that counts as an edge (> 0).
    Returns:
        :class:`TornEdges` (possibly empty).
    Raises:
        InputError: if Z is not a 2-D map of finite positive depths or threshold <= 0.
    """
    import cv2

    Z = _check_depth(Z)
    if not threshold > 0:
        raise InputError(f"edge threshold must be > 0, got {threshold}")
    h, w = Z.shape
    th, tv = geo.detect_tears(Z, threshold)
    idx = np.arange(h * w, dtype=np.int64).reshape(h, w)
    a = np.concatenate([idx[:, :-1][th], idx[:-1, :][tv]])
    b = np.concatenate([idx[:, 1:][th], idx[1:, :][tv]])
    zf = Z.ravel()
    a_near = zf[a] <= zf[b]
    near = np.where(a_near, a, b)
    far = np.where(a_near, b, a)
    zmax = cv2.dilate(Z, np.ones((3, 3), np.uint8)).ravel()
    return TornEdges(near=near, far=far, z_near=zf[near].astype(np.float32),
                     z_far=np.maximum(zmax[far], zf[far]).astype(np.float32), shape=(h, w))


def _sample_edges(edges: TornEdges, max_samples: int = MAX_EDGE_SAMPLES) -> np.ndarray:
    n = len(edges)
    if n <= max_samples:
        return np.arange(n)
    # keep the pairs with the largest relative jump first (they set the maximum), then a spread
    jump = 1.0 - edges.z_near / edges.z_far
    top = np.argsort(-jump)[: max_samples // 2]
    rest = np.linspace(0, n - 1, max_samples - top.size).astype(np.int64)
    return np.unique(np.concatenate([top, rest]))


def _frame_centres(keys: cp.CameraKeys, max_frames: int = MAX_PATH_SAMPLES) -> np.ndarray:
    pos = np.asarray(keys.positions, dtype=np.float64).reshape(-1, 3)
    if len(pos) > max_frames:
        pos = pos[np.unique(np.linspace(0, len(pos) - 1, max_frames).round().astype(np.int64))]
    return pos


def pair_disocclusion_px(edges: TornEdges, K: np.ndarray, keys: cp.CameraKeys, *,
                         scale: float = 1.0, sel: Optional[np.ndarray] = None,
                         max_frames: Optional[int] = None) -> np.ndarray:
    """Per torn pair, the widest strip of background (photo pixels) the camera path reveals next
    to its silhouette (see :func:`disocclusion_px` for the geometry).

    Args:
        edges: :class:`TornEdges` of a map at ``scale`` x the photo's size.
        K: (3, 3) photo intrinsics in pixels.
        keys: camera path; only ``positions`` are used.
        scale: working pixels per photo pixel of ``edges`` (<= 1).
        sel: optional (S,) int indices of the pairs to evaluate (default: all).
        max_frames: evaluate at most this many evenly spaced frames (default: every frame).
    Returns:
        (S,) float64 >= 0 photo pixels, the maximum over the evaluated frames.
    """
    sel = np.arange(len(edges)) if sel is None else np.asarray(sel)
    out = np.zeros(sel.size, np.float64)
    pos = (np.asarray(keys.positions, dtype=np.float64).reshape(-1, 3) if max_frames is None
           else _frame_centres(keys, max_frames))
    if sel.size == 0 or len(pos) == 0:
        return out
    h, w = edges.shape
    vv, uu = np.divmod(edges.near[sel], w)
    u = (uu + 0.5) / scale - 0.5  # working pixel centre -> photo pixel coordinates
    v = (vv + 0.5) / scale - 0.5
    zn = edges.z_near[sel].astype(np.float64)
    zf = edges.z_far[sel].astype(np.float64)
    ray = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], 1)
    pn = ray * zn[:, None]
    for c in pos:
        ok = zn - c[2] > 1e-9 * zn  # the silhouette is in front of this camera
        if not ok.any():
            continue
        s = (zf[ok] - c[2]) / (zn[ok] - c[2])
        X = c + (pn[ok] - c) * s[:, None]  # on the plane Z = z_far
        du = (X[:, 0] / zf[ok] - ray[ok, 0]) * K[0, 0]
        dv = (X[:, 1] / zf[ok] - ray[ok, 1]) * K[1, 1]
        out[ok] = np.maximum(out[ok], np.hypot(du, dv))
    return out


def disocclusion_px(edges: TornEdges, K: np.ndarray, keys: cp.CameraKeys, *,
                    scale: float = 1.0) -> float:
    """Largest strip of background, in photo pixels, that a camera path reveals behind the
    foreground at the torn edges (how wide the filled band must be).

    For every torn pair, with near point P_n and far point P_f on the same photo ray, and every
    frame's camera centre c: the frame's ray through P_n (the foreground silhouette) meets the far
    surface (locally the plane Z = Z_far) at X = c + (P_n - c) (Z_far - c_z) / (Z_near - c_z); the
    distance between X and P_f, measured in photo pixels (both projected with K), is the width of
    background the frame sees next to the silhouette that the photo did not. For a sideways move t
    it is f |t| (1/Z_near - 1/Z_far); rotation and zoom reveal nothing, so only the centres matter.

    Args:
        edges: :class:`TornEdges` of a map at ``scale`` x the photo's size.
        K: (3, 3) intrinsics of the photo in pixels.
        keys: camera path (:func:`.camera_path.camera_path`); only ``positions`` are used.
        scale: working pixels per photo pixel of ``edges`` (<= 1).
    Returns:
        float >= 0, photo pixels (0 for no edges or a still camera).
    """
    if len(edges) == 0 or len(keys.positions) == 0:
        return 0.0
    per = pair_disocclusion_px(edges, K, keys, scale=scale, sel=_sample_edges(edges))
    return float(per.max()) if per.size else 0.0


def band_cap_px(width: int, height: int) -> int:
    """Cap of the automatic band: :data:`BAND_CAP_FRACTION` of the longer side, photo pixels."""
    return max(MIN_BAND_PX, int(round(BAND_CAP_FRACTION * max(width, height))))


def reach_px(needed_px):
    """Band a disocclusion of ``needed_px`` photo pixels needs: 15 % + 2 px margin (float or
    array, photo pixels)."""
    return 1.15 * np.maximum(0.0, needed_px) + 2.0


def auto_band_px(needed_px: float, width: int, height: int) -> int:
    """Band for a disocclusion of ``needed_px``: :func:`reach_px`, at least :data:`MIN_BAND_PX`,
    at most :func:`band_cap_px` (photo pixels, int)."""
    want = int(math.ceil(reach_px(float(needed_px))))
    return int(min(max(MIN_BAND_PX, want), band_cap_px(width, height)))


def stretch_budget(edges: TornEdges, K: np.ndarray, preset: str, scene: cp.SceneDepth,
                   width: int, band_px: float, *, scale: float = 1.0, samples: int = BUDGET_SAMPLES,
                   max_amount: float = 20.0) -> float:
    """The largest motion ``amount`` of a preset whose disocclusions fit into ``band_px``.

    Bisection on :func:`disocclusion_px` of the preset sampled at ``samples`` points of its path
    (it grows monotonically, nearly linearly, with the amount).

    Args:
        edges: :class:`TornEdges` (working resolution ``scale``).
        K: (3, 3) photo intrinsics; preset: one of :data:`.camera_path.PRESETS`.
        scene: near/far/focus depths the preset is sized by; width: photo width in pixels.
        band_px: filled band width, photo pixels (> 0).
        max_amount: upper end of the search.
    Returns:
        amount >= 0 (``inf`` when no torn edge exists or the path reveals nothing up to
        ``max_amount``).
    Raises:
        InputError: unknown preset or band_px <= 0.
    """
    if preset not in cp.PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose one of: {', '.join(cp.PRESETS)}")
    if not band_px > 0:
        raise InputError(f"band width must be > 0 px, got {band_px}")
    if len(edges) == 0:
        return math.inf
    t = np.linspace(0.0, 1.0, samples)

    def need(a):
        return disocclusion_px(edges, K, cp.camera_path_at(preset, t, scene, K, width, amount=a),
                               scale=scale)

    return _bisect_amount(lambda a: need(a) <= band_px, max_amount)


def _bisect_amount(ok, max_amount: float) -> float:
    """Largest amount in [0, max_amount] with ok(amount) True (ok monotone; inf if ok(max))."""
    if ok(max_amount):
        return math.inf
    lo, hi = 0.0, max_amount
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        if ok(mid):
            lo = mid
        else:
            hi = mid
        if hi - lo < BUDGET_TOLERANCE * max(hi, 1e-3):
            break
    return lo


def stretched_pairs(Z: np.ndarray, threshold: float, quantile: float = STRETCH_QUANTILE,
                    max_pairs: int = STRETCH_CANDIDATES):
    """Untorn neighbour pairs whose inverse depth steps beyond the local slope, as pairs whose
    parallax against each other stretches the face between them.

    The unexplained step of a pair is r = min(|dw - g_left|, |dw - g_right|) / max(w_a, w_b) with
    dw the pair's difference of inverse depth w = 1/Z and g the differences two pixels to either
    side (a plane has none; see :mod:`.geometry`). Pairs with r >= ``threshold`` are left out:
    steps that large are what the mesh tears and the hole budget covers. (This one-step residual
    is a simpler cousin of :func:`.geometry.detect_tears`' three-step, non-maximum-suppressed
    test, so the two may disagree on a pair or two along a blurred edge.) Each untorn pair becomes a :class:`TornEdges` entry with
    z_near = its nearer depth and z_far = z_near / (1 - r), so :func:`pair_disocclusion_px` gives
    how far its face stretches beyond its plane.

    Args:
        Z: (h, w) float32 depth > 0; threshold: the mesh's tear threshold (relative jump).
        quantile: the pairs returned are the candidates for this quantile of all untorn pairs.
        max_pairs: at most this many candidates (the largest r * w first).
    Returns:
        (TornEdges of the candidates, k): the k-th largest stretch among them is the quantile;
        ``z_near``/``z_far`` in the units of Z, indices into the flattened (h, w) map.
    """
    w = 1.0 / Z.astype(np.float64)
    h, wd = Z.shape
    idx = np.arange(h * wd, dtype=np.int64).reshape(h, wd)
    near_l, far_l, r_l, wn_l = [], [], [], []
    n_total = 0
    for axis in (1, 0):
        d = np.diff(w, axis=axis)
        pw = [(0, 0), (0, 0)]
        pw[axis] = (2, 2)
        pad = np.pad(d, pw, mode="edge")
        sl = [slice(None), slice(None)]
        sl[axis] = slice(0, -4)
        left = pad[tuple(sl)]
        sl[axis] = slice(4, None)
        right = pad[tuple(sl)]
        a = w[:, :-1] if axis == 1 else w[:-1, :]
        b = w[:, 1:] if axis == 1 else w[1:, :]
        wmax = np.maximum(a, b)
        r = np.minimum(np.abs(d - left), np.abs(d - right)) / wmax
        ia = idx[:, :-1] if axis == 1 else idx[:-1, :]
        ib = idx[:, 1:] if axis == 1 else idx[1:, :]
        untorn = r < threshold
        n_total += int(untorn.sum())
        m = untorn & (r > 1e-6)
        near_l.append(np.where(a >= b, ia, ib)[m])
        far_l.append(np.where(a >= b, ib, ia)[m])
        r_l.append(r[m])
        wn_l.append(wmax[m])
    near, far = np.concatenate(near_l), np.concatenate(far_l)
    r, wn = np.concatenate(r_l), np.concatenate(wn_l)
    k = max(1, int(math.ceil((1.0 - quantile) * max(n_total, 1))))
    if len(r) > max(max_pairs, k):
        top = np.argpartition(-(r * wn), max(max_pairs, k) - 1)[:max(max_pairs, k)]
        near, far, r, wn = near[top], far[top], r[top], wn[top]
    zn = (1.0 / wn).astype(np.float32)
    edges = TornEdges(near=near, far=far, z_near=zn, z_far=(zn / (1.0 - r)).astype(np.float32),
                      shape=(h, wd))
    return edges, k


def stretch_limit(Z: np.ndarray, K: np.ndarray, preset: str, scene: cp.SceneDepth, width: int, *,
                  threshold: float = geo.DEFAULT_TEAR_THRESHOLD, scale: float = 1.0,
                  max_px: float = STRETCH_MAX_PX, samples: int = BUDGET_SAMPLES,
                  max_amount: float = 20.0) -> float:
    """The largest ``amount`` of a preset at which the untorn mesh stretches by at most ``max_px``.

    At amount a, every candidate of :func:`stretched_pairs` stretches by its
    :func:`pair_disocclusion_px` over the path; the :data:`STRETCH_QUANTILE` quantile of all
    untorn pairs must stay <= ``max_px``. Bisection (the stretch grows monotonically with a).

    Args:
        Z: (h, w) float32 depth > 0 at ``scale`` x the photo's size; K: (3, 3) photo intrinsics.
        preset, scene, width: as :func:`stretch_budget`; threshold: the mesh's tear threshold.
        max_px: stretch limit in photo pixels.
    Returns:
        amount >= 0 (inf when the limit is not reached up to ``max_amount``, or when fewer untorn
        pairs step than the quantile needs).
    Raises:
        InputError: unknown preset.
    """
    edges, k = stretched_pairs(Z, threshold)
    if len(edges) < k:
        return math.inf
    t = np.linspace(0.0, 1.0, samples)

    def ok(a):
        keys = cp.camera_path_at(preset, t, scene, K, width, amount=a)
        per = pair_disocclusion_px(edges, K, keys, scale=scale)
        return float(np.partition(per, len(per) - k)[len(per) - k]) <= max_px

    return _bisect_amount(ok, max_amount)


def crop_limit(Z: np.ndarray, K: np.ndarray, preset: str, scene: cp.SceneDepth, *,
               max_zoom: float = MAX_BUDGET_ZOOM, samples: int = BUDGET_SAMPLES,
               max_amount: float = 20.0) -> float:
    """The largest ``amount`` of a preset whose overscan zoom (:func:`.camera_path.overscan_zoom`,
    which keeps the photo's border out of every frame) stays <= ``max_zoom``.

    Args:
        Z: (H, W) float32 depth > 0 at the photo's size; K: (3, 3) photo intrinsics.
        preset, scene: as :func:`stretch_budget`; max_zoom: zoom factor limit (> 1).
    Returns:
        amount >= 0 (inf when not reached up to ``max_amount``).
    Raises:
        InputError: unknown preset.
    """
    t = np.linspace(0.0, 1.0, samples)
    W = Z.shape[1]

    def ok(a):
        keys = cp.camera_path_at(preset, t, scene, K, W, amount=a)
        return cp.overscan_zoom(Z, K, keys, max_zoom=max_zoom + 1.0) <= max_zoom

    return _bisect_amount(ok, max_amount)


# ------------------------------------------------------------------------------------------------
# layering

def _check_depth(Z) -> np.ndarray:
    Z = np.asarray(Z)
    if Z.ndim != 2 or min(Z.shape) < 2:
        raise InputError(f"depth must be an (H, W) array of at least 2x2, got shape {Z.shape}")
    Z = Z.astype(np.float32, copy=False)
    if not np.all(np.isfinite(Z)) or Z.min() <= 0:
        raise InputError("depth must be finite and positive everywhere (fill holes first)")
    return Z


def work_scale(width: int, height: int, max_pixels: int = WORK_MAX_PIXELS) -> float:
    """Working pixels per photo pixel (<= 1) so the working copy has at most ``max_pixels``."""
    n = width * height
    return 1.0 if n <= max_pixels else math.sqrt(max_pixels / n)


def _nearest(src_mask: np.ndarray):
    """(distance, flat index of the nearest True pixel) for every pixel (OpenCV's labelled
    Euclidean distance transform, 5x5 mask; Borgefors' chamfer approximation)."""
    import cv2

    h, w = src_mask.shape
    d, lab = cv2.distanceTransformWithLabels((~src_mask).astype(np.uint8), cv2.DIST_L2, 5,
                                             labelType=cv2.DIST_LABEL_PIXEL)
    lut = np.zeros(int(lab.max()) + 1, dtype=np.int64)
    lut[lab[src_mask]] = np.flatnonzero(src_mask)
    return d, lut[lab]


def _distance(src_mask: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.distanceTransform((~src_mask).astype(np.uint8), cv2.DIST_L2, 5)


def _crop_box(mask: np.ndarray, pad: float):
    ys, xs = np.nonzero(mask)
    p = int(math.ceil(pad)) + 1
    h, w = mask.shape
    return (max(0, ys.min() - p), min(h, ys.max() + p + 1), max(0, xs.min() - p), min(w, xs.max() + p + 1))


def background_depth(Z: np.ndarray, edges: TornEdges, band: float, threshold: float,
                     reach: Optional[np.ndarray] = None):
    """Extend the background's depth behind the foreground from the far side of every edge.

    Each torn pair reaches ``reach`` working pixels into the foreground from its near pixel (how
    far the camera path looks behind that silhouette, :func:`pair_disocclusion_px`, capped at
    ``band``). Where the reaches of several edges overlap -- a thin handlebar in front of a shelf
    in front of a wall -- the pixel takes the *farthest* of their backgrounds: a ray that passes
    the silhouette of the deepest step travels to that far surface, and a nearer background there
    would leave it hitting nothing (a hole), while the deeper one only shows a little more
    background behind the shallow step. Pairs are grouped into :data:`DEPTH_BINS` bins of
    background depth; inside a bin every pixel takes the background of its nearest near seed
    (OpenCV's labelled distance transform, exact nearest-seed propagation), then bins are merged
    farthest-wins. A pixel joins the hole only where that background is clearly *behind* it (by
    half the threshold), so it is never put on the wrong side and a steep plane gets no layer. The
    nearest-seed staircase is smoothed by a normalised Gaussian inside the hole.

    Args:
        Z: (h, w) float32 depth > 0 (working resolution, scene units).
        edges: its :class:`TornEdges`.
        band: band width in working pixels (> 0): the largest reach.
        threshold: the edge threshold used for ``edges`` (relative depth jump).
        reach: optional (E,) float per-pair reach in working pixels (default: ``band`` for all).
    Returns:
        (hole, w_bg, aux): hole (h, w) bool = pixels within their edge's reach that lie in front of
        its background by more than threshold / 2; w_bg (h, w) float32 inverse background depth
        (valid on ``hole``; original 1/Z elsewhere); aux: dict of intermediate maps (``d_near``,
        ``d_far``: distances to any near / far seed, ``infront``: pixels in front of a reachable
        background within ``band`` + the inpainting margin) for the colour step.
    """
    import cv2

    h, w = Z.shape
    inv = (1.0 / Z).astype(np.float32)
    n = h * w
    near_seed = np.zeros(n, bool)
    near_seed[edges.near] = True
    far_seed = np.zeros(n, bool)
    far_seed[edges.far] = True
    d_near = _distance(near_seed.reshape(h, w))
    d_far, nearest_far = _nearest(far_seed.reshape(h, w))
    keep_behind = 1.0 - 0.5 * threshold
    # in front of the background of the nearest far seed (its 3x3 farthest inverse depth)
    infront = cv2.erode(inv, np.ones((3, 3), np.uint8)).ravel()[nearest_far] < inv * keep_behind
    w_raw = np.full((h, w), np.inf, np.float32)  # farthest reachable background (inverse depth)
    if len(edges) == 0:
        return np.zeros((h, w), bool), inv.copy(), dict(d_near=d_near, d_far=d_far, infront=infront)
    r_all = np.full(len(edges), float(band)) if reach is None else np.minimum(reach, band)
    wf_all = (1.0 / edges.z_far).astype(np.float64)
    ext = band + INPAINT_RADIUS + 3.0
    qs = np.unique(np.quantile(wf_all, np.linspace(0.0, 1.0, DEPTH_BINS + 1)))
    bin_of = np.clip(np.searchsorted(qs, wf_all, side="right") - 1, 0, max(0, len(qs) - 2))
    for k in np.unique(bin_of):
        sel = np.flatnonzero(bin_of == k)
        # per near pixel: the farthest background and the largest reach among its pairs
        wf_seed = np.full(n, np.inf)
        np.minimum.at(wf_seed, edges.near[sel], wf_all[sel])
        r_seed = np.zeros(n)
        np.maximum.at(r_seed, edges.near[sel], r_all[sel])
        seeds = np.isfinite(wf_seed).reshape(h, w)
        y0, y1, x0, x1 = _crop_box(seeds, ext)
        sub = seeds[y0:y1, x0:x1]
        d, nearest = _nearest(sub)  # flat index inside the crop
        sy, sx = np.divmod(nearest, x1 - x0)
        g = (sy + y0) * w + (sx + x0)  # global flat index of the nearest near seed
        wf = wf_seed[g].astype(np.float32)
        behind = wf < inv[y0:y1, x0:x1] * keep_behind
        infront[y0:y1, x0:x1] |= behind & (d <= ext)
        # covered: within the reach of SOME seed of the bin (a union of discs, each seed's reach
        # rounded up to a level of REACH_LEVEL_STEP), not just of the nearest one
        r_sub = r_seed.reshape(h, w)[y0:y1, x0:x1]
        level = np.zeros(sub.shape, np.int16)
        level[sub] = np.ceil(np.log(np.maximum(r_sub[sub], 1.0)) / math.log(REACH_LEVEL_STEP))
        within = np.zeros(sub.shape, bool)
        for lv in np.unique(level[sub]):
            radius = min(float(REACH_LEVEL_STEP ** lv), float(band))
            within |= _distance(sub & (level == lv)) <= radius
        cov = behind & within
        view = w_raw[y0:y1, x0:x1]
        np.minimum(view, np.where(cov, wf, np.inf).astype(np.float32), out=view)
    hole = np.isfinite(w_raw)
    w_bg = inv.copy()
    if hole.any():
        m = hole.astype(np.float32)
        w_fill = np.where(hole, w_raw, 0.0).astype(np.float32)
        num = cv2.GaussianBlur(w_fill, (0, 0), 2.0)
        den = cv2.GaussianBlur(m, (0, 0), 2.0)
        sm = np.divide(num, den, out=w_fill.copy(), where=den > 1e-6)
        # never in front of the pixel's own "behind" limit
        w_bg[hole] = np.minimum(sm[hole], inv[hole] * keep_behind)
    return hole, w_bg, dict(d_near=d_near, d_far=d_far, infront=infront)


def inpaint_background(rgb: np.ndarray, hole: np.ndarray, aux: dict, band: float, *,
                       method: str = "telea", radius: float = INPAINT_RADIUS) -> np.ndarray:
    """Inpaint the background's colour behind the foreground, from the background side only.

    Telea (2004) fast marching or Navier-Stokes (Bertalmio et al. 2001) via ``cv2.inpaint``, or
    frequency-selective reconstruction (``"fsr"``, :func:`_fsr`: more texture, 10x slower); the
    foreground next to the hole is first replaced by its nearest background-side colour and the
    mixed pixels on the far side of the edge are masked too, so only background pixels feed the
    fill. ``"nearest"`` returns that nearest background-side colour (no diffusion).

    Args:
        rgb: (h, w, 3) float32 sRGB in [0, 1] (working resolution).
        hole: (h, w) bool pixels to fill (from :func:`background_depth`).
        aux: the ``aux`` dict of :func:`background_depth`.
        band: band width in working pixels.
        method: one of :data:`INPAINT_METHODS`.
        radius: cv2.inpaint neighbourhood radius in pixels.
    Returns:
        (h, w, 3) float32: ``rgb`` with the hole filled (all other pixels unchanged).
    Raises:
        InputError: unknown method.
    """
    import cv2

    if method not in INPAINT_METHODS:
        raise InputError(f"unknown inpainting method {method!r}; choose one of: "
                         f"{', '.join(INPAINT_METHODS)}")
    out = np.array(rgb, dtype=np.float32, copy=True)
    if not hole.any():
        return out
    d_near, d_far, infront = aux["d_near"], aux["d_far"], aux["infront"]
    reach = band + radius + 3.0
    far_margin = (~infront) & (d_far <= FAR_MARGIN_PX) & (d_near <= FAR_MARGIN_PX + 1.5)
    ring = infront & (d_near <= reach) & ~hole  # foreground just beyond the band
    source = (~infront) & ~far_margin & (d_far <= reach + 2.0)
    if not source.any():
        source = ~(infront | far_margin)
    if not source.any():
        return out
    _, nearest_src = _nearest(source)
    flat = out.reshape(-1, 3)
    # FSR reads whole blocks around the hole, not 3 px: hide every foreground pixel from it
    fill = (hole | (infront if method == "fsr" else ring)).ravel()
    flat[fill] = flat[nearest_src.ravel()[fill]]  # nearest background-side colour
    res = np.array(rgb, dtype=np.float32, copy=True)
    if method == "nearest":
        res[hole] = out[hole]
        return res
    # crop to the part that matters (cv2.inpaint works on the whole image it is given)
    ys, xs = np.nonzero(hole)
    pad = int(math.ceil(radius)) + 2
    y0, y1 = max(0, ys.min() - pad), min(hole.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(hole.shape[1], xs.max() + pad + 1)
    crop = np.clip(np.rint(out[y0:y1, x0:x1] * 255.0), 0, 255).astype(np.uint8)
    mask = (hole | far_margin)[y0:y1, x0:x1].astype(np.uint8)
    if method == "fsr":
        filled = _fsr(crop, mask)
    else:
        flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
        filled = cv2.inpaint(crop, mask, float(radius), flag).astype(np.float32) / 255.0
    hm = hole[y0:y1, x0:x1]
    res[y0:y1, x0:x1][hm] = filled[hm]
    return res


def _fsr(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Frequency-selective reconstruction (Seiler et al., "Resampling images to a regular grid
    from a non-regular subset of pixel positions using frequency selective reconstruction", IEEE
    TIP 2015; OpenCV contrib ``xphoto.inpaint`` with INPAINT_FSR_FAST) of the masked pixels:
    keeps more texture than Telea (+1.2 dB PSNR on the disoccluded band in
    bench/bench_fidelity.py) at about 20 us per hole pixel on this machine (10x Telea).

    Args:
        crop: (h, w, 3) uint8 picture; mask: (h, w) uint8, 1 = to fill.
    Returns:
        (h, w, 3) float32 in [0, 1] (only the masked pixels are new).
    """
    import cv2

    out = np.zeros_like(crop)
    cv2.xphoto.inpaint(crop, (1 - mask).astype(np.uint8), out, cv2.xphoto.INPAINT_FSR_FAST)  # 1 = known
    return out.astype(np.float32) / 255.0


def layer_mesh(layer_mask: np.ndarray, depth: np.ndarray, texture_rgb: np.ndarray, K: np.ndarray,
               photo_size: tuple, *, scale: float = 1.0, step: int = 2,
               threshold: Optional[float] = None):
    """Grid mesh of the cells that touch ``layer_mask`` (the band only), and its texture crop.

    Vertices sit on a grid every ``step`` working pixels (outer ones on the picture's border, as in
    :func:`.geometry.build_mesh`), take the layer depth (extended from the nearest layer pixel
    where a corner falls outside the mask), are pulled :data:`LAYER_PULL` towards the camera and
    unprojected along the photo's rays. By default every cell is kept, also where the layer steps
    between two backgrounds: a stretched face there sits behind the foreground and shows as a smear
    of inpainted background, while dropping it leaves a hole (measured on the bundled example: the
    dropped seam cells made 87 % of the uncovered pixels). With ``threshold`` (relative depth jump)
    such cells are left out.

    Args:
        layer_mask: (h, w) bool working-resolution pixels the layer must cover.
        depth: (h, w) float32 layer depth (> 0 where ``layer_mask``), scene units.
        texture_rgb: (h, w, 3) float32 inpainted image (working resolution).
        K: (3, 3) photo intrinsics; photo_size: (W, H) of the photo in pixels.
        scale: working pixels per photo pixel; step: grid spacing in working pixels (>= 1).
    Returns:
        (MeshData, texture (th, tw, 3) float32 crop the UVs address, (x0, y0) the crop's origin in
        working pixels).
    """
    import cv2

    h, w = layer_mask.shape
    W, H = photo_size
    step = max(1, int(step))
    empty = geo.MeshData(np.zeros((0, 3), np.float32), np.zeros((0, 4), np.int32),
                         np.zeros((0, 2), np.float32), (0, 0), 0, 0)
    if not layer_mask.any():
        return empty, np.zeros((1, 1, 3), np.float32), (0, 0)
    xs = np.unique(np.concatenate([np.arange(0, w, step), [w - 1]]))
    ys = np.unique(np.concatenate([np.arange(0, h, step), [h - 1]]))
    S = cv2.integral(layer_mask.astype(np.uint8))  # (h+1, w+1) int32
    y0, y1 = ys[:-1], ys[1:]
    x0, x1 = xs[:-1], xs[1:]
    cnt = (S[np.ix_(y1 + 1, x1 + 1)] - S[np.ix_(y0, x1 + 1)] - S[np.ix_(y1 + 1, x0)]
           + S[np.ix_(y0, x0)])
    keep = cnt > 0  # (gh-1, gw-1)
    # layer depth everywhere (nearest layer pixel) so corners outside the mask stay on the layer
    _, nearest = _nearest(layer_mask)
    zext = depth.ravel()[nearest].reshape(h, w)
    zg = zext[np.ix_(ys, xs)]
    wg = 1.0 / zg
    corners = np.stack([wg[:-1, :-1], wg[:-1, 1:], wg[1:, 1:], wg[1:, :-1]], 0)
    if threshold is not None:
        keep &= 1.0 - corners.min(0) / corners.max(0) <= threshold
    if not keep.any():
        return empty, np.zeros((1, 1, 3), np.float32), (0, 0)
    gh, gw = len(ys), len(xs)
    idx = np.arange(gh * gw, dtype=np.int64).reshape(gh, gw)
    ca, cb, cc, cd = idx[:-1, :-1][keep], idx[:-1, 1:][keep], idx[1:, 1:][keep], idx[1:, :-1][keep]
    quads = np.stack([ca, cd, cc, cb], 1)  # counter-clockwise seen from the camera
    used, inv_idx = np.unique(quads, return_inverse=True)
    quads = inv_idx.reshape(-1, 4).astype(np.int32)
    vr, vc = np.divmod(used, gw)
    xw = xs[vc].astype(np.float64)
    yw = ys[vr].astype(np.float64)
    z = zg[vr, vc].astype(np.float64) * (1.0 - LAYER_PULL)
    # working pixel -> photo pixel; outer vertices onto the picture's border
    u = (xw + 0.5) / scale - 0.5
    v = (yw + 0.5) / scale - 0.5
    u[vc == 0], u[vc == gw - 1] = -0.5, W - 0.5
    v[vr == 0], v[vr == gh - 1] = -0.5, H - 0.5
    pos = geo.unproject(u, v, z, K)
    # texture crop and UVs (working pixel coordinates of the vertices)
    xw_b = (u + 0.5) * scale - 0.5
    yw_b = (v + 0.5) * scale - 0.5
    cx0, cx1 = int(xs[vc].min()), int(xs[vc].max())
    cy0, cy1 = int(ys[vr].min()), int(ys[vr].max())
    tex = np.ascontiguousarray(texture_rgb[cy0:cy1 + 1, cx0:cx1 + 1], dtype=np.float32)
    th, tw = tex.shape[:2]
    uv = np.stack([(xw_b + 0.5 - cx0) / tw, 1.0 - (yw_b + 0.5 - cy0) / th], 1).astype(np.float32)
    mesh = geo.MeshData(positions=pos, faces=quads, uvs=np.clip(uv, 0.0, 1.0), grid=(gw, gh),
                        n_base_faces=int(keep.sum()), n_torn_cells=0)
    return mesh, tex, (cx0, cy0)


def build_background(rgb: np.ndarray, Z: np.ndarray, K: np.ndarray,
                     keys: Optional[cp.CameraKeys] = None, *,
                     scene: Optional[cp.SceneDepth] = None,
                     tear_threshold: float = geo.DEFAULT_TEAR_THRESHOLD,
                     band_px: Optional[int] = None, method: str = "telea", step: float = 2.0,
                     max_pixels: int = WORK_MAX_PIXELS, overscan: bool = True,
                     fill: bool = True) -> BackgroundLayer:
    """Layer + inpaint + mesh the background behind every torn edge of a photo (module doc).

    Args:
        rgb: (H, W, 3) float sRGB in [0, 1] (the photo).
        Z: (H, W) float depth > 0 (scene units), finite everywhere.
        K: (3, 3) photo intrinsics in pixels.
        keys: camera path; sizes the automatic band (:func:`disocclusion_px`) and the budget.
        scene: near/far/focus of the scene (for the budget); default from Z.
        tear_threshold: the mesh's tear threshold (relative depth jump, > 0); the layer uses
            :data:`LAYER_THRESHOLD_FACTOR` x this.
        band_px: band width in photo pixels (>= 1), or None = automatic from the camera path
            (:func:`auto_band_px`; :data:`MIN_BAND_PX` without a path).
        method: inpainting method, one of :data:`INPAINT_METHODS`.
        step: photo pixels per layer vertex (converted to working pixels, at least 2).
        max_pixels: working-resolution cap (:func:`work_scale`).
        overscan: the render zooms in to keep the photo's border out of frame, so the budget's
            crop limit applies (:func:`crop_limit`).
        fill: False = only the band and the budget (no layer depth, colour or mesh: ``hole`` and
            ``layer_mask`` empty, no faces), for a first pass that only sizes the move.
    Returns:
        :class:`BackgroundLayer`.
    Raises:
        InputError: shapes differ, bad depth, band_px < 1, unknown method, threshold <= 0.
    """
    import cv2

    t0 = time.perf_counter()
    Z = _check_depth(Z)
    rgb = np.asarray(rgb, dtype=np.float32)
    H, W = Z.shape
    if rgb.shape[:2] != (H, W) or rgb.ndim != 3 or rgb.shape[2] < 3:
        raise InputError(f"photo is {rgb.shape} but depth is {Z.shape}: they must match")
    if band_px is not None and not band_px >= 1:
        raise InputError(f"band width must be at least 1 px, got {band_px}")
    if method not in INPAINT_METHODS:
        raise InputError(f"unknown inpainting method {method!r}; choose one of: "
                         f"{', '.join(INPAINT_METHODS)}")
    if not (tear_threshold and tear_threshold > 0):
        raise InputError(f"tear threshold must be > 0, got {tear_threshold}")
    s = work_scale(W, H, max_pixels)
    if s < 1.0:
        size = (max(2, int(round(W * s))), max(2, int(round(H * s))))
        s = size[0] / W
        Zw = cv2.resize(Z, size, interpolation=cv2.INTER_NEAREST)  # keep steps sharp
        img = cv2.resize(rgb[..., :3], size, interpolation=cv2.INTER_AREA)
    else:
        Zw, img = Z, rgb[..., :3]
    thr = LAYER_THRESHOLD_FACTOR * tear_threshold
    edges = torn_edges(Zw, thr)

    needed = disocclusion_px(edges, K, keys, scale=s) if keys is not None else 0.0
    cap = band_cap_px(W, H)
    band = int(band_px) if band_px is not None else auto_band_px(needed, W, H)
    band_w = max(1.0, band * s)

    depth = np.full(Zw.shape, np.nan, np.float32)
    if fill:
        reach = None
        if keys is not None and len(edges):
            per = pair_disocclusion_px(edges, K, keys, scale=s, max_frames=MAX_PATH_SAMPLES)
            reach = np.maximum(reach_px(per), MIN_BAND_PX) * s  # working pixels
        hole, w_bg, aux = background_depth(Zw, edges, band_w, thr, reach)
        filled = inpaint_background(img, hole, aux, band_w, method=method)
        overlap = ((~aux["infront"]) & (aux["d_far"] <= OVERLAP_PX)
                   & (aux["d_near"] <= OVERLAP_PX + 1.5))
        layer_mask = hole | overlap
        depth[layer_mask] = 1.0 / w_bg[layer_mask]
        mesh, tex, origin = layer_mesh(layer_mask, np.where(layer_mask, depth, Zw).astype(np.float32),
                                       filled, K, (W, H), scale=s, step=max(2, int(round(step * s))))
    else:
        hole = layer_mask = np.zeros(Zw.shape, bool)
        mesh, tex, origin = layer_mesh(layer_mask, depth, img, K, (W, H))

    budget = None
    if keys is not None:
        sc = scene if scene is not None else cp.scene_depth(Z)
        limit = band if band_px is not None else cap  # automatic band: up to its cap
        holes = stretch_budget(edges, K, keys.preset, sc, W, limit, scale=s) if len(edges) else math.inf
        budget = MotionBudget(
            holes=holes,
            stretch=stretch_limit(Zw, K, keys.preset, sc, W, threshold=tear_threshold, scale=s),
            crop=crop_limit(Z, K, keys.preset, sc) if overscan else math.inf)
    safe = budget.amount if budget is not None else math.inf
    return BackgroundLayer(mesh=mesh, texture=tex, texture_origin=origin, hole=hole, layer_mask=layer_mask, depth=depth,
                           scale=s, band_px=band, needed_px=needed, band_cap_px=cap,
                           safe_amount=safe, method=method, n_edges=len(edges),
                           seconds=time.perf_counter() - t0, budget=budget)
