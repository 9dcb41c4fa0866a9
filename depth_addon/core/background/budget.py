"""Motion budget: how far a preset may move before the 3D photo shows its seams.

The smallest of three limits, each found by bisection on the preset's ``amount``: holes
(:func:`stretch_budget`: the largest disocclusion still fits in the band -- the band cap when the
band is automatic), stretch (:func:`stretch_limit`: faces of the untorn mesh grow by at most
:data:`STRETCH_MAX_PX` beyond their plane over the sub-threshold steps the mesh did not tear) and
crop (:func:`crop_limit`: the overscan zoom that keeps the photo's border out of frame stays
within :data:`MAX_BUDGET_ZOOM`). No bpy here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import camera_path as cp
from .. import geometry as geo
from ..errors import InputError
from .reveal import TornEdges, disocclusion_px, pair_disocclusion_px

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
