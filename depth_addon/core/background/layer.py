"""The filled background layer of a 3D photo: band, depth, colour and mesh in one call.

The second layer of a layered depth image (Shade et al., SIGGRAPH 1998 "Layered Depth Images"),
restricted, like 3D Photo Inpainting (Shih et al., CVPR 2020), to what the camera path can see
behind every depth edge, but with classical, fast methods instead of learned networks:
:mod:`.reveal` (edges, what the path reveals), :mod:`.surface` (background depth continued behind
the foreground), :mod:`.fill` (colour from the background only), then a grid mesh of the layer
placed a hair (:data:`LAYER_PULL`) in front of the main mesh's far surface, and :mod:`.budget`
(how far the move may go). No bpy here.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .. import camera_path as cp
from .. import geometry as geo
from ..errors import InputError
from .budget import MotionBudget, crop_limit, stretch_budget, stretch_limit
from .fill import DEFAULT_METHOD, INPAINT_METHODS, inpaint_background, patchmatch_available
from .maps import WORK_MAX_PIXELS, _check_depth, _nearest, work_scale
from .reveal import (LAYER_THRESHOLD_FACTOR, MAX_PATH_SAMPLES, MIN_BAND_PX, auto_band_px,
                     band_cap_px, disocclusion_px, pair_disocclusion_px, reach_px,
                     reveal_directions, torn_edges)
from .surface import background_depth

#: far-side overlap of the layer (work px): closes the seam with the main mesh's far surface
OVERLAP_PX = 2
#: the layer is moved this fraction of its depth towards the camera (in front of the main mesh's
#: far copy, which carries foreground texture under the near surface; still behind the foreground)
LAYER_PULL = 0.003


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
    #: notices raised while building (e.g. PatchMatch missing: filled with Telea)
    notes: list = field(default_factory=list)

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
                     band_px: Optional[int] = None, method: str = DEFAULT_METHOD, step: float = 2.0,
                     max_pixels: int = WORK_MAX_PIXELS, overscan: bool = True,
                     fill: bool = True, continue_slope: bool = True,
                     budget: Optional[MotionBudget] = None) -> BackgroundLayer:
    """Layer + inpaint + mesh the background behind every torn edge of a photo (module doc).

    Args:
        rgb: (H, W, 3) float sRGB in [0, 1] (the photo).
        Z: (H, W) float depth > 0 (scene units), finite everywhere.
        K: (3, 3) photo intrinsics in pixels.
        keys: camera path; sizes the automatic band (:func:`disocclusion_px`) and the budget.
        scene: near/far/focus of the scene (for the budget); default from Z.
        tear_threshold: the mesh's tear threshold (relative depth jump, > 0); the layer uses
            :data:`LAYER_THRESHOLD_FACTOR` x this.
        band_px: band width in photo pixels (>= 1): every torn edge's reach, in every direction,
            whatever the path (for camera moves of your own); or None = automatic: each edge
            reaches what the path reveals behind it, along the path's line when it has one
            (:func:`.reveal.reveal_directions`), the band capped by :func:`auto_band_px`
            (:data:`MIN_BAND_PX` without a path).
        method: inpainting method, one of :data:`INPAINT_METHODS`.
        step: photo pixels per layer vertex (converted to working pixels, at least 2).
        max_pixels: working-resolution cap (:func:`work_scale`).
        overscan: the render zooms in to keep the photo's border out of frame, so the budget's
            crop limit applies (:func:`crop_limit`).
        fill: False = only the band and the budget (no layer depth, colour or mesh: ``hole`` and
            ``layer_mask`` empty, no faces), for a first pass that only sizes the move.
        continue_slope: False = the background behind the foreground keeps its edge's depth
            (no slope; :func:`.surface.far_slope`).
        budget: the :class:`MotionBudget` of an earlier call with the same ``Z``, ``K``,
            ``keys.preset``, ``scene``, ``tear_threshold``, ``band_px``, ``max_pixels`` and
            ``overscan`` (the budget depends on nothing else: not on the move's amount), reused
            instead of bisecting again; None = computed here (when ``keys`` is given).
    Returns:
        :class:`BackgroundLayer`.
    Raises:
        InputError: shapes differ, bad depth, band_px < 1, unknown method, threshold <= 0.
    """
    import cv2

    t0 = time.perf_counter()
    notes: list = []
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
        reach, line = None, None  # explicit band: every edge reaches it, in every direction
        if band_px is None and keys is not None and len(edges):
            per = pair_disocclusion_px(edges, K, keys, scale=s, max_frames=MAX_PATH_SAMPLES)
            reach = np.maximum(reach_px(per), MIN_BAND_PX) * s  # working pixels
            line = reveal_directions(keys, K, (W, H))
        elif band_px is None:
            reach = np.full(len(edges), MIN_BAND_PX * s)  # no path: the mesh's own torn cells
        hole, w_bg, aux = background_depth(Zw, edges, band_w, thr, reach, directions=line,
                                           continue_slope=continue_slope)
        filled = inpaint_background(img, hole, aux, band_w, method=method,
                                    inv_depth=(1.0 / Zw).astype(np.float32), w_bg=w_bg,
                                    threshold=thr, notes=notes)
        overlap = ((~aux["infront"]) & (aux["d_far"] <= OVERLAP_PX)
                   & (aux["d_near"] <= OVERLAP_PX + 1.5))
        layer_mask = hole | overlap
        depth[layer_mask] = 1.0 / w_bg[layer_mask]
        mesh, tex, origin = layer_mesh(layer_mask, np.where(layer_mask, depth, Zw).astype(np.float32),
                                       filled, K, (W, H), scale=s, step=max(2, int(round(step * s))))
    else:
        hole = layer_mask = np.zeros(Zw.shape, bool)
        mesh, tex, origin = layer_mesh(layer_mask, depth, img, K, (W, H))

    if budget is None and keys is not None:
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
                           safe_amount=safe,
                           method=("telea" if method == "patchmatch" and not patchmatch_available()
                                   else method), n_edges=len(edges),
                           seconds=time.perf_counter() - t0, budget=budget, notes=notes)
