"""The background surface behind the foreground: which pixels it covers and at what depth.

Edge-aware, from the far side only: every pixel within the reach of a near seed (what the path
reveals there, :mod:`.reveal`) takes the background of its nearest far seed, *continued along that
surface's own slope*: a plane is linear in inverse depth over the image (w = a u + b v + c), so the
far side's inverse-depth gradient, measured on background pixels only, extends it behind the
foreground -- a floor keeps receding, a wall stays a wall. No bpy here.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .maps import _crop_box, _distance, _nearest
from .reveal import REACH_LEVEL_STEP, TornEdges, sweep
from .fill import INPAINT_RADIUS

#: torn pairs are grouped into at most this many bins of background depth (see background_depth)
DEPTH_BINS = 8
#: the continued background stays within these factors of the seed's inverse depth (a noisy
#: slope must not send it to infinity or through the camera)
SLOPE_MIN_RATIO = 1.0 / 1.3
SLOPE_MAX_RATIO = 1.3
#: the far side's slope is measured this many pixels or fewer from the far seed, on pixels at
#: least SLOPE_EDGE_GAP px from any edge pixel, averaged over a SLOPE_WINDOW x SLOPE_WINDOW box
SLOPE_REACH_PX = 8.0
SLOPE_EDGE_GAP = 3
SLOPE_WINDOW = 15


def background_depth(Z: np.ndarray, edges: TornEdges, band: float, threshold: float,
                     reach: Optional[np.ndarray] = None, *, continue_slope: bool = True,
                     directions: Optional[np.ndarray] = None):
    """Extend the background's depth behind the foreground from the far side of every edge.

    Each torn pair reaches ``reach`` working pixels into the foreground from its near pixel (how
    far the camera path looks behind that silhouette, :func:`pair_disocclusion_px`, capped at
    ``band``). Where the reaches of several edges overlap -- a thin handlebar in front of a shelf
    in front of a wall -- the pixel takes the *farthest* of their backgrounds: a ray that passes
    the silhouette of the deepest step travels to that far surface, and a nearer background there
    would leave it hitting nothing (a hole), while the deeper one only shows a little more
    background behind the shallow step. Pairs are grouped into :data:`DEPTH_BINS` bins of
    background depth; inside a bin every pixel takes the background of its nearest near seed
    (OpenCV's labelled distance transform, exact nearest-seed propagation), continued along the
    far surface's slope (:func:`far_slope`; clamped to [:data:`SLOPE_MIN_RATIO`,
    :data:`SLOPE_MAX_RATIO`] x the seed's inverse depth), then bins are merged
    farthest-wins. A pixel joins the hole only where that background is clearly *behind* it (by
    half the threshold), so it is never put on the wrong side and a steep plane gets no layer. The
    nearest-seed staircase is smoothed by a normalised Gaussian inside the hole.

    Args:
        Z: (h, w) float32 depth > 0 (working resolution, scene units).
        edges: its :class:`TornEdges`.
        band: band width in working pixels (> 0): the largest reach.
        threshold: the edge threshold used for ``edges`` (relative depth jump).
        reach: optional (E,) float per-pair reach in working pixels (default: ``band`` for all).
        continue_slope: False = one constant depth per seed (the far side's, no slope).
        directions: optional (4,) float (ux, uy, a_min, a_max), the line along which the path
            looks behind silhouettes (:func:`.reveal.reveal_directions`): each seed covers the
            segment swept along it up to its reach (:func:`.reveal.sweep`) instead of a disc.
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
    zero = np.zeros(len(edges), np.float32)
    gx_pair, gy_pair = (zero, zero) if not continue_slope or len(edges) == 0 else \
        far_slope(inv, edges, near_seed | far_seed)
    # in front of the background of the nearest far seed (its 3x3 farthest inverse depth, continued
    # along its slope: a floor that comes nearer below an edge is not in front of it)
    w_far = cv2.erode(inv, np.ones((3, 3), np.uint8)).ravel()
    gxf = np.zeros(n, np.float32)
    gyf = np.zeros(n, np.float32)
    gxf[edges.far], gyf[edges.far] = gx_pair, gy_pair
    fy, fx = np.divmod(nearest_far, w)
    yy, xx = np.mgrid[0:h, 0:w]
    w0 = w_far[nearest_far]
    w_cont = np.clip(w0 + gxf[nearest_far] * (xx - fx) + gyf[nearest_far] * (yy - fy),
                     SLOPE_MIN_RATIO * w0, SLOPE_MAX_RATIO * w0)
    infront = w_cont < inv * keep_behind
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
        gx_seed = np.zeros(n, np.float32)
        gy_seed = np.zeros(n, np.float32)
        gx_seed[edges.near[sel]] = gx_pair[sel]
        gy_seed[edges.near[sel]] = gy_pair[sel]
        r_seed = np.zeros(n)
        np.maximum.at(r_seed, edges.near[sel], r_all[sel])
        seeds = np.isfinite(wf_seed).reshape(h, w)
        y0, y1, x0, x1 = _crop_box(seeds, ext)
        sub = seeds[y0:y1, x0:x1]
        d, nearest = _nearest(sub)  # flat index inside the crop
        sy, sx = np.divmod(nearest, x1 - x0)
        g = (sy + y0) * w + (sx + x0)  # global flat index of the nearest near seed
        wf0 = wf_seed[g].astype(np.float32)
        # the far surface continued along its own slope from the seed (planes are linear in 1/Z)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        wf = wf0 + gx_seed[g] * (xx - sx - x0) + gy_seed[g] * (yy - sy - y0)
        wf = np.clip(wf, SLOPE_MIN_RATIO * wf0, SLOPE_MAX_RATIO * wf0).astype(np.float32)
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
            within |= sweep(sub & (level == lv), radius, directions)
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


def far_slope(inv: np.ndarray, edges: TornEdges, edge_px: np.ndarray):
    """The inverse-depth slope of the background surface next to every torn pair.

    A plane seen by a pinhole camera is linear in inverse depth over the image (w = a u + b v + c),
    so its gradient (a, b) continues it behind the foreground exactly. The gradient is taken by
    central differences of w = 1/Z on pixels at least :data:`SLOPE_EDGE_GAP` px from any edge
    pixel, averaged over a :data:`SLOPE_WINDOW` box of such pixels (a normalised box filter), and
    read on the far side of each pair: a few pixels beyond its far pixel, away from its near pixel
    (up to :data:`SLOPE_REACH_PX`; none valid there: slope 0).

    Args:
        inv: (h, w) float32 inverse depth 1/Z (working resolution).
        edges: :class:`.reveal.TornEdges` of that map (4-neighbour pairs).
        edge_px: (h, w) or (h*w,) bool pixels on either side of an edge (the near and far seeds).
    Returns:
        (gx, gy): (E,) float32 inverse depth per working pixel along x (columns) and y (rows).
    """
    import cv2

    h, w = inv.shape
    k = 2 * SLOPE_EDGE_GAP + 1
    valid = ~(cv2.dilate(edge_px.reshape(h, w).astype(np.uint8), np.ones((k, k), np.uint8)) > 0)
    valid[:, [0, -1]] = False
    valid[[0, -1], :] = False
    gx = np.zeros_like(inv)
    gy = np.zeros_like(inv)
    gx[:, 1:-1] = 0.5 * (inv[:, 2:] - inv[:, :-2])
    gy[1:-1, :] = 0.5 * (inv[2:, :] - inv[:-2, :])
    m = valid.astype(np.float32)
    box = (SLOPE_WINDOW, SLOPE_WINDOW)
    den = cv2.boxFilter(m, -1, box, normalize=False)
    ok = (valid & (den > 0.5)).ravel()
    sx = np.divide(cv2.boxFilter(gx * m, -1, box, normalize=False), den, out=np.zeros_like(gx),
                   where=den > 0.5).ravel()
    sy = np.divide(cv2.boxFilter(gy * m, -1, box, normalize=False), den, out=np.zeros_like(gy),
                   where=den > 0.5).ravel()
    ny, nx = np.divmod(edges.near, w)
    fy, fx = np.divmod(edges.far, w)
    dy, dx = fy - ny, fx - nx  # one step into the background
    out_x = np.zeros(len(edges), np.float32)
    out_y = np.zeros(len(edges), np.float32)
    todo = np.ones(len(edges), bool)
    for step in range(SLOPE_EDGE_GAP + 1, int(SLOPE_REACH_PX) + 1):
        y = np.clip(fy + step * dy, 0, h - 1)
        x = np.clip(fx + step * dx, 0, w - 1)
        idx = y * w + x
        hit = todo & ok[idx]
        out_x[hit], out_y[hit] = sx[idx[hit]], sy[idx[hit]]
        todo &= ~hit
        if not todo.any():
            break
    return out_x, out_y
