"""Depth maps: the result type, conversions between kinds, and reading/writing depth files.

Kinds (the field's terms):
- ``"metric"``: depth Z along the optical axis in metres (larger = farther).
- ``"relative"``: depth Z up to an unknown scale (larger = farther).
- ``"inverse"``: relative inverse depth / disparity up to unknown scale and shift (larger = nearer);
  what Depth Anything and MiDaS output.
- ``"disparity"``: stereo disparity in pixels (larger = nearer); metric with f (px) and baseline (m).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

KINDS = ("metric", "relative", "inverse", "disparity")


@dataclass
class DepthResult:
    """A depth estimate aligned with the photo's pixel grid.

    Attributes:
        values: (H, W) float32 map of the given ``kind`` (see module doc); finite where ``valid``.
        kind: one of :data:`KINDS`.
        valid: (H, W) bool, True where ``values`` is a measurement (False = filled or unknown).
        K: (3, 3) float64 intrinsics of the photo in pixels (OpenCV convention: pixel centres at
            integer coordinates), or None when unknown (the pipeline then assumes a field of view).
        confidence: optional (H, W) float32 in [0, 1].
        source: short human-readable origin ("stereo SGBM", model id, file path).
        notes: notices produced while making it.
    """

    values: np.ndarray
    kind: str
    valid: np.ndarray
    K: Optional[np.ndarray] = None
    confidence: Optional[np.ndarray] = None
    source: str = ""
    notes: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown depth kind {self.kind!r}; expected one of {KINDS}")
        if self.values.ndim != 2:
            raise ValueError(f"depth values must be (H, W), got shape {self.values.shape}")
        if self.valid.shape != self.values.shape:
            raise ValueError("valid mask shape differs from depth shape")
