"""Shared map helpers of the background layer: input checks, working resolution, distance
transforms (no bpy; OpenCV camera axes, pixel centres at integers)."""
from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

#: layering runs on a copy of the depth/photo with at most this many pixels (12 MP -> ~half size)
WORK_MAX_PIXELS = 3_000_000


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
