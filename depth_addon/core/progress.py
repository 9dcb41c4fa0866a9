"""Progress reporting for long steps (model load, inference, mesh build, rendering).

A progress callback is ``fn(stage: str, fraction: float) -> None`` where ``fraction`` is in [0, 1]
(or ``-1.0`` when unknown). A callback may raise :class:`~depth_addon.core.errors.Cancelled` to stop
the work; every long loop calls it often enough for Cancel to be prompt.
"""
from __future__ import annotations

from typing import Callable, Optional

ProgressFn = Callable[[str, float], None]


def report(progress: Optional[ProgressFn], stage: str, fraction: float) -> None:
    """Call ``progress(stage, fraction)`` when a callback was given; no-op otherwise."""
    if progress is not None:
        progress(stage, float(fraction))
