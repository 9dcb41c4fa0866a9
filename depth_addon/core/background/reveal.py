"""Torn depth edges and what a camera path reveals behind them.

1. Edges: the slope-aware test of :func:`..geometry.detect_tears` on the per-pixel depth at a
   working resolution, with a slightly lower threshold than the mesh's
   (:data:`LAYER_THRESHOLD_FACTOR`) so every edge the mesh tears has a layer behind it. Each torn
   neighbour pair gives a *near* seed and a *far* seed pixel (:func:`torn_edges`).
2. Reveal: the near and far 3D points of every torn pair are projected into every frame of the
   path and their separation measured (:func:`pair_disocclusion_px`, :func:`disocclusion_px`);
   :func:`reveal_mask` turns that into the pixels behind the foreground that some frame can see:
   each seed swept along the directions the path's sideways motion looks behind it (a swing
   reveals a horizontal strip, a circle a disc), not a disc of the largest reach.

No bpy here. Coordinates follow :mod:`..geometry` (OpenCV camera axes, pixel centres at integers).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .. import camera_path as cp
from .. import geometry as geo
from .maps import _check_depth, _distance

#: the layer's edge test uses this fraction of the mesh's tear threshold (covers every mesh tear)
LAYER_THRESHOLD_FACTOR = 0.75
#: the automatic band is capped at this fraction of the photo's longer side
BAND_CAP_FRACTION = 0.20
#: smallest band (photo px) even for a still camera: covers the mesh's own torn cells
MIN_BAND_PX = 4
#: at most this many torn pairs are projected per frame when sizing the band / budget
MAX_EDGE_SAMPLES = 20_000
#: per-pair reach of the layer is evaluated at most at this many frames of the path
MAX_PATH_SAMPLES = 48
#: reveal_directions: a path whose forward motion reveals more than this share of its sideways
#: motion at the corners, or whose sideways offsets leave a line by more than LINE_SHARE, is
#: taken to reveal a disc
RADIAL_SHARE = 0.15
LINE_SHARE = 0.05
#: a line-shaped reveal is widened by this many pixels on either side
LINE_MARGIN_PX = 2
#: per-edge reaches are rounded up to powers of this factor (one distance transform per level)
REACH_LEVEL_STEP = math.sqrt(2.0)


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
    rx, ry = (u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1]
    # all frames at once, in blocks of frames x pairs (about 1 M elements at a time)
    block = max(1, (1 << 20) // sel.size)
    for i in range(0, len(pos), block):
        c = pos[i:i + block, :, None]  # (F, 3, 1)
        ok = zn - c[:, 2] > 1e-9 * zn  # (F, S): the silhouette is in front of this camera
        s = (zf - c[:, 2]) / np.where(ok, zn - c[:, 2], 1.0)
        # the frame's ray through the silhouette meets the plane Z = z_far at X
        du = ((c[:, 0] + (rx * zn - c[:, 0]) * s) / zf - rx) * K[0, 0]
        dv = ((c[:, 1] + (ry * zn - c[:, 1]) * s) / zf - ry) * K[1, 1]
        out = np.maximum(out, np.where(ok, np.hypot(du, dv), 0.0).max(0))
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


def reveal_directions(keys: cp.CameraKeys, K: np.ndarray, photo_size: tuple, *,
                      max_frames: int = MAX_PATH_SAMPLES) -> Optional[np.ndarray]:
    """The line along which a camera path looks behind silhouettes, or None (every direction).

    A sideways camera offset (c_x, c_y) shows, next to a silhouette, background that the photo has
    at photo offset -(f_x c_x, f_y c_y) (1/Z_near - 1/Z_far) from it (:func:`disocclusion_px`):
    the direction is the same for every edge, only the length differs. A move forwards or back
    reveals radially instead, different at every pixel. So when the path's forward motion is
    small against its sideways motion (radial reveal below :data:`RADIAL_SHARE` of the sideways
    one at the picture's corners) and its sideways offsets lie on one line (the minor axis below
    :data:`LINE_SHARE` of the major one: swing, vertical), the reveal is a segment along that line,
    else (circle, dolly, Ken Burns) it is taken as a disc.

    Args:
        keys: the camera path (positions, scene units, camera axes of the photo).
        K: (3, 3) photo intrinsics in pixels; photo_size: (W, H) in pixels.
        max_frames: evaluate at most this many evenly spaced frames.
    Returns:
        None (a disc), or (4,) float64 (ux, uy, a_min, a_max): the unit direction in the photo
        (x right, y down) and the extent of the segment along it as fractions of a seed's reach
        (a_min <= 0 <= a_max, max(|a_min|, a_max) == 1).
    """
    pos = _frame_centres(keys, max_frames)
    if len(pos) == 0:
        return None
    o = -np.stack([K[0, 0] * pos[:, 0], K[1, 1] * pos[:, 1]], 1)
    lateral = np.hypot(o[:, 0], o[:, 1])
    if lateral.max() <= 0:
        return None
    W, H = photo_size
    corner = max(math.hypot(x - K[0, 2], y - K[1, 2]) for x in (0, W) for y in (0, H))
    if corner * np.abs(pos[:, 2]).max() > RADIAL_SHARE * lateral.max():
        return None
    # principal axis of the offsets (and the origin, where the path starts or passes)
    pts = np.vstack([o, [[0.0, 0.0]]])
    _, sv, vt = np.linalg.svd(pts, full_matrices=False)
    if len(sv) > 1 and sv[1] > LINE_SHARE * sv[0]:
        return None
    u = vt[0] / np.linalg.norm(vt[0])
    a = o @ u
    perp = np.abs(o @ np.array([-u[1], u[0]]))
    if perp.max() > LINE_SHARE * np.abs(a).max():
        return None
    scale = np.abs(a).max()
    return np.array([u[0], u[1], min(0.0, a.min() / scale), max(0.0, a.max() / scale)])


def sweep(seeds: np.ndarray, radius: float, line: Optional[np.ndarray] = None) -> np.ndarray:
    """Pixels a camera path can reveal from ``seeds``: a disc of ``radius`` around every seed, or
    with ``line`` (:func:`reveal_directions`) the segment from a_min to a_max x ``radius`` along
    (ux, uy), widened across it by :data:`LINE_MARGIN_PX` on either side (morphological dilation, OpenCV;
    an axis-aligned segment is a rectangle, which OpenCV dilates in time independent of size).

    Args:
        seeds: (h, w) bool seed pixels; radius: reach in pixels (>= 0).
        line: None or (4,) float (ux, uy, a_min, a_max).
    Returns:
        (h, w) bool covered pixels (the seeds included).
    """
    import cv2

    if line is None:
        return _distance(seeds) <= radius
    ux, uy, a0, a1 = (float(v) for v in line)
    m = LINE_MARGIN_PX
    # segment end points relative to the seed; the kernel is the set of offsets p - s covered
    p0 = np.array([a0 * radius * ux, a0 * radius * uy])
    p1 = np.array([a1 * radius * ux, a1 * radius * uy])
    # widened across the line only (the reach along it already has its margin, reach_px)
    across = np.array([abs(uy), abs(ux)]) > 1e-3
    lo = np.floor(np.minimum(p0, p1) + 1e-6).astype(int) - m * across
    hi = np.ceil(np.maximum(p0, p1) - 1e-6).astype(int) + m * across
    size = (hi - lo + 1)  # (kw, kh)
    if abs(ux) > 0.999 or abs(uy) > 0.999:
        kern = np.ones((size[1], size[0]), np.uint8)
    else:
        kern = np.zeros((size[1], size[0]), np.uint8)
        a = tuple(int(v) for v in np.rint(p0 - lo))
        b = tuple(int(v) for v in np.rint(p1 - lo))
        cv2.line(kern, a, b, 1, thickness=2 * m + 1)
    # dilation takes the max over kernel offsets k of src(p + k - anchor): reflect the offsets
    kern = kern[::-1, ::-1].copy()
    anchor = (int(hi[0]), int(hi[1]))  # where offset 0 lands after the reflection
    return cv2.dilate(seeds.astype(np.uint8), kern, anchor=anchor) > 0
