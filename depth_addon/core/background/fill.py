"""Colour of the background behind the foreground, from background pixels only.

Methods (:data:`INPAINT_METHODS`):
- ``"patchmatch"``: exemplar-based completion with PatchMatch (Barnes et al., "PatchMatch:
  a randomized correspondence algorithm for structural image editing", SIGGRAPH 2009) through the
  ``pypatchmatch`` package: texture is copied from the background, not diffused. Depth-aware
  sources: the hole is split by background depth and each part may copy only from pixels of its
  own surface or farther (never the foreground, never a nearer surface, never the mixed pixels at
  an edge); within those, the patch distance is guided by each pixel's background surface (its
  depth and vertical slope, :func:`depth_guide`), so a floor's hole takes floor texture and a
  wall's wall texture even where the two meet at one depth. Where the sources are smooth (no texture to copy: a plain wall, a sky, a defocused
  background) the colour is diffused instead (Telea restricted to the same sources), blended by
  the sources' local texture. The default; falls back to Telea with a notice when the package is
  missing.
- ``"telea"``: Telea's fast marching method (J. Graphics Tools 2004), ``"ns"``: Navier-Stokes
  (Bertalmio, Bertozzi & Sapiro, CVPR 2001), both ``cv2.inpaint``; fast, smooth, blurred.
- ``"fsr"``: OpenCV contrib's frequency-selective reconstruction (Seiler et al., IEEE TIP 2015).
- ``"nearest"``: the nearest background-side colour alone (a baseline for the benchmarks).
No bpy here.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..errors import InputError
from .maps import _nearest

INPAINT_METHODS = ("patchmatch", "telea", "ns", "nearest", "fsr")
#: the default method: depth-guided PatchMatch with depth-aware sources (diffused where the
#: sources are smooth). Measured 2026-12-02 (README, "Fidelity"): on bench/bench_view_synthesis.py
#: (the real motorcycle pair) higher disoccluded PSNR than Telea, FLIP within 0.02 of it, as much
#: texture as the truth (sharpness ~0.9); on bench/bench_fidelity.py (Blender scenes with true
#: novel views) above Telea in PSNR and FLIP, also at 2x moves. Falls back to Telea, with a
#: notice, without pypatchmatch.
DEFAULT_METHOD = "patchmatch"
#: PatchMatch patch radius (patches of (2 r + 1)^2 pixels, at the fill's resolution)
PATCH_RADIUS = 2
#: PatchMatch runs on a copy with at most this many hole pixels (a coarser fill is upsampled,
#: each depth part from its own pixels; see _patchmatch). Its cost is ~25-50 us per hole pixel
#: here, growing with the crop's area too. Measured 2026-12-02 (bench_view_synthesis, seeds 0-2;
#: the example's build_background on a quiet machine): 40 k: 3.1 s, FLIP L->R 0.490 / R->L 0.474
#: (means); 35 k: 2.6 s, 0.480 / 0.485; 30 k: 2.3 s, 0.490 / 0.491; 25 k: 2.0 s, R->L 0.500
PATCH_MAX_HOLE_PIXELS = 35_000
#: the hole is split into at most this many parts by background depth (own sources each)
SOURCE_BINS = 4
#: a part copies from its own surface's depth range when that offers at least this many pixels
#: (and half the part's size), else from everything at its depth or farther
OWN_SOURCE_MIN_PX = 400
#: context kept around each part's hole for PatchMatch to copy from (fill px, and x band)
CONTEXT_MIN_PX = 24
CONTEXT_BAND_FACTOR = 1.0
#: texture test of the sources (fill resolution): high-pass sigma, neighbourhood sigma (px), and
#: the mean absolute high-pass, in grey levels, below which a surface counts as smooth (diffused
#: colour) and above which as textured (copied patches); 8-bit sensor noise and JPEG are ~1-2
TEXTURE_HP_SIGMA = 2.0
TEXTURE_SIGMA_PX = 8.0
TEXTURE_SMOOTH = 2.0
TEXTURE_RICH = 4.0
#: weight of the depth guide (:func:`depth_guide`) against the patches' colour distance in
#: ``pypatchmatch.inpaint_regularity`` (score = (w * guide + colour) / (1 + w)): a source on another
#: surface is taken only when no source of the pixel's own surface matches at all
GUIDE_WEIGHT = 30.0
#: guide units per unit of vertical log-inverse-depth slope (1/px): a floor 100 px below its
#: horizon (slope 0.01) differs from a wall by 0.4
GUIDE_SLOPE_SCALE = 40.0
#: the guide is quantised to levels this many depth thresholds wide (channel 0) and this many
#: guide units wide (channel 1: 0.1 = a slope of 0.0025 / px)
GUIDE_DEPTH_LEVEL = 2.0
GUIDE_SLOPE_LEVEL = 0.1
#: mixed pixels on the far side of an edge that are not used as inpainting source (work px)
FAR_MARGIN_PX = 1.5
#: inpainting neighbourhood radius of cv2.inpaint (work px)
INPAINT_RADIUS = 3


def patchmatch_available() -> bool:
    """True when the optional ``pypatchmatch`` package (and its native library) can be used."""
    try:
        from patchmatch import patch_match
        return bool(patch_match.patchmatch_available)
    except Exception:  # ImportError, or the native library failed to load
        return False


def inpaint_background(rgb: np.ndarray, hole: np.ndarray, aux: dict, band: float, *,
                       method: str = DEFAULT_METHOD, radius: float = INPAINT_RADIUS,
                       inv_depth: Optional[np.ndarray] = None, w_bg: Optional[np.ndarray] = None,
                       threshold: float = 0.0, notes: Optional[list] = None) -> np.ndarray:
    """Inpaint the background's colour behind the foreground, from the background side only.

    ``"patchmatch"`` copies texture with depth-aware sources (:func:`_patchmatch`); Telea (2004)
    fast marching or Navier-Stokes (Bertalmio et al. 2001) via ``cv2.inpaint``, or
    frequency-selective reconstruction (``"fsr"``, :func:`_fsr`: more texture, 10x slower) diffuse
    colour. For all of them the foreground next to the hole is first replaced by its nearest
    background-side colour and the mixed pixels on the far side of the edge are masked too, so
    only background pixels feed the fill. ``"nearest"`` returns that nearest background-side
    colour (no diffusion).

    Args:
        rgb: (h, w, 3) float32 sRGB in [0, 1] (working resolution).
        hole: (h, w) bool pixels to fill (from :func:`.surface.background_depth`).
        aux: the ``aux`` dict of :func:`.surface.background_depth`.
        band: band width in working pixels.
        method: one of :data:`INPAINT_METHODS`.
        radius: cv2.inpaint neighbourhood radius in pixels.
        inv_depth: (h, w) float32 inverse depth 1/Z of the photo, and ``w_bg``: (h, w) float32
            inverse background depth (valid on ``hole``); both needed by "patchmatch" (which
            otherwise takes every background pixel as a source).
        threshold: relative depth jump of the layer's edge test: a source pixel may be this much
            nearer than the hole's background and still count as the same surface.
        notes: a list that receives a notice when "patchmatch" falls back to Telea.
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
    if method == "patchmatch" and not patchmatch_available():
        if notes is not None:
            notes.append("pypatchmatch is not installed: the background is filled with Telea "
                         "(blurred); install it from the add-on's preferences or with "
                         "'pip install pypatchmatch' for textured fill")
        method = "telea"
    if method == "patchmatch":
        allowed = (~infront) & ~far_margin & ~hole
        res[hole] = _patchmatch(out, hole, hole | far_margin, allowed, inv_depth, w_bg,
                                threshold, band)[hole]
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


def _patchmatch(img: np.ndarray, hole: np.ndarray, synth: np.ndarray, allowed: np.ndarray,
                inv: Optional[np.ndarray], w_bg: Optional[np.ndarray], threshold: float,
                band: float, *, patch_radius: int = PATCH_RADIUS,
                max_hole_pixels: int = PATCH_MAX_HOLE_PIXELS, seed: int = 0) -> np.ndarray:
    """Exemplar-based completion of ``hole`` with PatchMatch (Barnes et al., SIGGRAPH 2009;
    the ``pypatchmatch`` package's ``inpaint`` with a ``global_mask`` of pixels that may not be
    copied; ``inpaint_regularity`` with the guide map of :func:`depth_guide` when depths are
    given), with depth-aware sources.

    The hole is split into up to :data:`SOURCE_BINS` parts by background inverse depth ``w_bg``,
    filled farthest first; a part may copy only from ``allowed`` pixels whose inverse depth is at
    most its nearest background's x (1 + threshold): its own surface or one farther away, never
    the foreground or a nearer surface (each connected piece of a part uses its own nearest
    background). Each piece runs on a crop of itself plus a context of max(:data:`CONTEXT_MIN_PX`,
    band) pixels (:func:`_crops`). Where the hole has more than ``max_hole_pixels`` pixels the
    completion runs on a downscaled copy (INTER_AREA; a pixel is a source only if all of it is;
    its background depth is the nearest over it) and each part is upsampled bilinearly from its
    own coarse pixels only, so no pixel mixes two surfaces' colours.

    Args:
        img: (h, w, 3) float32 sRGB in [0, 1], the foreground next to the hole already replaced
            by background colour.
        hole: (h, w) bool pixels the layer needs; synth: (h, w) bool pixels to synthesise
            (``hole`` plus the mixed pixels at the edge).
        allowed: (h, w) bool background pixels that may be copied.
        inv: (h, w) float32 inverse depth of the photo; w_bg: (h, w) float32 inverse background
            depth on ``hole`` (either None: no depth split).
        threshold: relative depth tolerance of "the same surface"; band: band width, pixels.
        patch_radius: patches of (2 r + 1)^2 pixels; seed: PatchMatch's random seed.
    Returns:
        (h, w, 3) float32: ``img`` with ``synth`` filled (pixels of a part with no source keep
        ``img``'s colour there, which is the nearest background colour).
    """
    import cv2
    from patchmatch import patch_match

    h, w = hole.shape
    n_hole = int(hole.sum())
    fs = min(1.0, math.sqrt(max_hole_pixels / max(n_hole, 1)))
    if fs < 1.0:
        size = (max(8, int(round(w * fs))), max(8, int(round(h * fs))))

        def down(m, full):  # full=True: all of the coarse pixel; False: any of it
            a = cv2.resize(m.astype(np.float32), size, interpolation=cv2.INTER_AREA)
            return a >= 0.999 if full else a > 0.001

        img_f = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        hole_f, synth_f, allowed_f = down(hole, False), down(synth, False), down(allowed, True)
        inv_f = None if inv is None else cv2.resize(inv, size, interpolation=cv2.INTER_AREA)
        wbg_f = None
        if w_bg is not None:
            # nearest (largest) background inverse depth over each coarse pixel's hole part
            wb = np.where(hole, w_bg, 0.0).astype(np.float32)
            k = max(1, int(math.ceil(1.0 / fs)))
            wbg_f = cv2.resize(cv2.dilate(wb, np.ones((k, k), np.uint8)), size,
                               interpolation=cv2.INTER_NEAREST)
            miss = hole_f & ~(wbg_f > 0)  # the sample fell just outside the hole: nearest one
            if miss.any() and (wbg_f > 0).any():
                wbg_f[miss] = wbg_f.ravel()[_nearest(wbg_f > 0)[1][miss]]
        band_f = band * fs
    else:
        img_f, hole_f, synth_f, allowed_f, inv_f, wbg_f, band_f = img, hole, synth, allowed, inv, w_bg, band
    hf, wf = hole_f.shape
    work = np.clip(np.rint(img_f * 255.0), 0, 255).astype(np.uint8)
    parts = [hole_f]
    limits = [np.inf]
    qs = None
    if inv_f is not None and wbg_f is not None:
        wb = wbg_f[hole_f]
        qs = np.unique(np.quantile(wb, np.linspace(0.0, 1.0, SOURCE_BINS + 1)))
        if len(qs) > 2:
            bins = np.clip(np.searchsorted(qs, wbg_f, side="right") - 1, 0, len(qs) - 2)
            parts = [hole_f & (bins == k) for k in range(len(qs) - 1)]
            limits = [float(wbg_f[p].max()) if p.any() else 0.0 for p in parts]
        else:
            qs = None
            limits = [float(wb.max())]
    ctx = int(math.ceil(max(CONTEXT_MIN_PX, CONTEXT_BAND_FACTOR * band_f))) + patch_radius
    patch_match.set_random_seed(seed)
    # farthest background first (smallest inverse depth): nearer parts may copy from it
    for part, lim in sorted(zip(parts, limits), key=lambda p: p[1]):
        if not part.any():
            continue
        for (y0, y1, x0, x1) in _crops(part, ctx):
            _fill_crop(work, part, synth_f, hole_f, allowed_f, inv_f, wbg_f, lim, threshold,
                       (y0, y1, x0, x1), patch_radius)
    out = np.array(img, dtype=np.float32, copy=True)
    res = work.astype(np.float32) / 255.0
    if fs < 1.0:
        coarse = res
        res = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
        if qs is not None:
            # each part is upsampled from its own coarse pixels only (the part's fill extended
            # by its nearest pixel, then bilinear), so no full-resolution pixel mixes the colours
            # of two surfaces at a part's border
            bins_full = np.clip(np.searchsorted(qs, w_bg, side="right") - 1, 0, len(qs) - 2)
            flat = coarse.reshape(-1, 3)
            for k, part in enumerate(parts):
                full = hole & (bins_full == k)
                if not full.any() or not part.any():
                    continue
                own = flat[_nearest(part)[1].ravel()].reshape(coarse.shape)
                res[full] = cv2.resize(own, (w, h), interpolation=cv2.INTER_LINEAR)[full]
    out[synth] = res[synth]
    return out


def _crops(part: np.ndarray, ctx: int) -> list:
    """Boxes (y0, y1, x0, x1) covering ``part`` plus ``ctx`` pixels of context: one per connected
    group of the part dilated by ``ctx`` (PatchMatch's cost grows with the crop's area, so
    separate pieces of a hole are not filled inside one box spanning the picture)."""
    import cv2

    h, w = part.shape
    k = 2 * ctx + 1
    grown = cv2.dilate(part.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    boxes = []
    for i in range(1, n):
        x, y, bw, bh = stats[i, :4]
        boxes.append((int(y), int(min(h, y + bh)), int(x), int(min(w, x + bw))))
    return boxes


def _fill_crop(work, part, synth_f, hole_f, allowed_f, inv_f, wbg_f, lim, threshold, box,
               patch_radius):
    """PatchMatch-fill ``part`` inside ``box`` = (y0, y1, x0, x1) of ``work`` ((h, w, 3) uint8,
    in place), with the sources of :func:`_patchmatch`: allowed pixels of this piece's own
    background surface or a farther one."""
    import cv2
    from patchmatch import patch_match

    y0, y1, x0, x1 = box
    pb = part[y0:y1, x0:x1]
    hb = hole_f[y0:y1, x0:x1]
    src = allowed_f[y0:y1, x0:x1]
    if inv_f is not None and np.isfinite(lim):
        lim = float(wbg_f[y0:y1, x0:x1][pb].max())  # this piece's nearest background
        # its own surface or a farther one, never a nearer one ...
        src = src & (inv_f[y0:y1, x0:x1] <= lim * (1.0 + threshold))
        # ... preferably its own (floor texture on the floor, wall texture on the wall)
        lo = float(wbg_f[y0:y1, x0:x1][pb].min()) / (1.0 + 2.0 * threshold)
        own = src & (inv_f[y0:y1, x0:x1] >= lo)
        if int(own.sum()) >= max(OWN_SOURCE_MIN_PX, int(pb.sum()) // 2):
            src = own
    todo = pb | (synth_f[y0:y1, x0:x1] & ~hb)
    if int(src.sum()) < (2 * patch_radius + 1) ** 2:
        # no source of this surface nearby: the colour of the nearest pixel anywhere that is of
        # this surface or farther (the placeholder colour may be a nearer surface's)
        cand = allowed_f if inv_f is None or not np.isfinite(lim) else \
            allowed_f & (inv_f <= lim * (1.0 + threshold))
        if cand.any():
            flat = work.reshape(-1, 3)
            idx = _nearest(cand)[1][y0:y1, x0:x1][pb]
            ys, xs = np.nonzero(pb)
            flat[(ys + y0) * work.shape[1] + xs + x0] = flat[idx]
        return
    crop = np.ascontiguousarray(work[y0:y1, x0:x1])
    # smooth sources (a plain wall, a sky, a defocused background) have no texture to copy and
    # PatchMatch would patch them together from mismatched shades: there the fill diffuses the
    # sources' colour instead (Telea, with every pixel that is not a source masked, so it is
    # depth-aware too), blended by the local texture of the sources around each hole pixel
    w_tex = _texture_weight(crop, src, pb)
    smooth = cv2.inpaint(crop, (~src | todo).astype(np.uint8), float(INPAINT_RADIUS),
                         cv2.INPAINT_TELEA)
    if float(w_tex.max()) <= 0.0:
        work[y0:y1, x0:x1][pb] = smooth[pb]
        return
    gmask = (~src & ~todo).astype(np.uint8)
    if inv_f is not None and wbg_f is not None:
        # depth-guided patch distance: a hole pixel prefers sources of its own background
        # surface (same depth and slope: floor texture on the floor, wall texture on the wall)
        guide = depth_guide(inv_f[y0:y1, x0:x1], wbg_f[y0:y1, x0:x1], hb, src, threshold)
        filled = patch_match.inpaint_regularity(crop, todo.astype(np.uint8), guide,
                                                global_mask=gmask, patch_size=patch_radius,
                                                guide_weight=GUIDE_WEIGHT)
    else:
        filled = patch_match.inpaint(crop, todo.astype(np.uint8), global_mask=gmask,
                                     patch_size=patch_radius)
    wt = w_tex[pb][:, None]
    work[y0:y1, x0:x1][pb] = np.clip(np.rint(wt * filled[pb] + (1.0 - wt) * smooth[pb]), 0,
                                     255).astype(np.uint8)


def _texture_weight(crop: np.ndarray, src: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Weight of the copied texture (1) against the diffused colour (0) at each pixel: the mean
    absolute high-pass (grey minus its Gaussian blur, sigma :data:`TEXTURE_HP_SIGMA`) of the
    source pixels within ~:data:`TEXTURE_SIGMA_PX` of it (normalised convolution; the crop's
    mean where no source is near), mapped linearly from :data:`TEXTURE_SMOOTH` grey levels (0: a
    noise-level surface) to :data:`TEXTURE_RICH` (1).

    Args:
        crop: (h, w, 3) uint8; src: (h, w) bool source pixels; where: (h, w) bool pixels wanted.
    Returns:
        (h, w) float32 in [0, 1] (0 outside ``where``).
    """
    import cv2

    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    hp = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), TEXTURE_HP_SIGMA))
    s = src.astype(np.float32)
    if TEXTURE_HP_SIGMA > 0:  # the high-pass of a source pixel next to a non-source is not its own
        s *= cv2.erode(src.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(np.float32)
    num = cv2.GaussianBlur(hp * s, (0, 0), TEXTURE_SIGMA_PX)
    den = cv2.GaussianBlur(s, (0, 0), TEXTURE_SIGMA_PX)
    mean = float((hp * s).sum() / s.sum()) if s.sum() > 0 else 0.0
    energy = np.where(den > 1e-3, num / np.maximum(den, 1e-3), mean)
    w = np.clip((energy - TEXTURE_SMOOTH) / (TEXTURE_RICH - TEXTURE_SMOOTH), 0.0, 1.0)
    return np.where(where, w, 0.0).astype(np.float32)


def depth_guide(inv: np.ndarray, w_bg: np.ndarray, hole: np.ndarray, src: np.ndarray,
                threshold: float) -> np.ndarray:
    """Guide map of the depth-guided PatchMatch: each pixel's background surface as two numbers,
    so the patch distance prefers sources on the hole pixel's own surface.

    Channel 0 is the background's log inverse depth (``w_bg`` on the hole, the photo's ``inv``
    elsewhere), mapped linearly over the crop's hole and source pixels to [0, 0.45] (a range of at
    least 2 thresholds) and quantised to levels :data:`GUIDE_DEPTH_LEVEL` thresholds wide;
    channel 1 is its vertical slope d ln(w)/dy per pixel (Sobel of the Gaussian-smoothed map,
    sigma 2 px) x :data:`GUIDE_SLOPE_SCALE` + 0.2, quantised to :data:`GUIDE_SLOPE_LEVEL` and
    clipped to [0, 0.45]: a plane receding towards the horizon (a floor) has a positive slope, a
    wall facing the camera none, so the two are told apart where their depths meet. Within one
    level the guide is equal and the patches' colour alone decides. The values stay below 0.5 because
    ``pypatchmatch.inpaint_regularity`` compares its map periodically (a difference d > 0.5 counts
    as 1 - d); channel 2 is unused (0). The idea of guiding the patch distance by the surface a
    pixel lies on is that of Huang, Kang, Ahuja & Kopf, "Image completion using planar structure
    guidance" (SIGGRAPH 2014), with the surfaces read from the depth map instead of detected.

    Args:
        inv: (h, w) float32 inverse depth of the photo (> 0); w_bg: (h, w) float32 inverse
            background depth (used on ``hole``); hole, src: (h, w) bool hole and source pixels.
        threshold: relative depth tolerance of "the same surface" (> 0).
    Returns:
        (h, w, 3) float32 guide map in [0, 0.45].
    """
    import cv2

    g = np.log(np.maximum(np.where(hole, w_bg, inv), 1e-9)).astype(np.float32)
    use = hole | src
    lo, hi = (float(g[use].min()), float(g[use].max())) if use.any() else (0.0, 1.0)
    span = max(hi - lo, 2.0 * math.log1p(max(threshold, 1e-3)))
    out = np.zeros(g.shape + (3,), np.float32)
    # quantised, so that pixels of one surface (within the tolerance, and a noisy estimated
    # depth's jitter) have the same guide and their patches are matched by colour alone; a
    # continuous guide lets the jitter pick the sources and the fill turns into a mosaic
    q0 = 0.45 * GUIDE_DEPTH_LEVEL * math.log1p(max(threshold, 1e-3)) / span
    c0 = np.rint(0.45 * (g - lo) / span / q0) * q0
    slope = cv2.Sobel(cv2.GaussianBlur(g, (0, 0), 2.0), cv2.CV_32F, 0, 1, ksize=3) / 8.0
    c1 = np.rint((0.2 + GUIDE_SLOPE_SCALE * slope) / GUIDE_SLOPE_LEVEL) * GUIDE_SLOPE_LEVEL
    out[..., 0] = np.clip(c0, 0.0, 0.45)
    out[..., 1] = np.clip(c1, 0.0, 0.45)
    return out
