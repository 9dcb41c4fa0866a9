"""The filled background layer behind torn depth edges and the motion budget (no bpy).

One concern per module: :mod:`.reveal` (torn edges, what a camera path reveals behind them),
:mod:`.surface` (the background's depth continued behind the foreground), :mod:`.fill` (its colour,
from background pixels only), :mod:`.budget` (how far the camera may move), :mod:`.layer` (all of
it in :func:`build_background`, and the layer's mesh).
"""
from .budget import (BUDGET_SAMPLES, MAX_BUDGET_ZOOM, STRETCH_MAX_PX, MotionBudget, crop_limit,
                     stretch_budget, stretch_limit, stretched_pairs)
from .fill import DEFAULT_METHOD, INPAINT_METHODS, inpaint_background, patchmatch_available
from .layer import LAYER_PULL, OVERLAP_PX, BackgroundLayer, build_background, layer_mesh
from .maps import WORK_MAX_PIXELS, work_scale
from .reveal import (LAYER_THRESHOLD_FACTOR, MIN_BAND_PX, TornEdges, auto_band_px, band_cap_px,
                     disocclusion_px, pair_disocclusion_px, reach_px, reveal_directions, sweep,
                     torn_edges)
from .surface import background_depth, far_slope

__all__ = [n for n in dir() if not n.startswith("_")]
