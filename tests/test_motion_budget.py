"""amount = 1.0 means the largest motion the filled background band supports (no bpy)."""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from depth_addon.core import pipeline


def _scene(tmp_path):
    rng = np.random.default_rng(3)
    rgb = rng.random((120, 180, 3)).astype(np.float32)
    Z = np.full((120, 180), 4.0, np.float32)
    Z[30:90, 60:120] = 2.0  # a box in front of a wall
    np.save(tmp_path / "d.npy", Z)
    return rgb, str(tmp_path / "d.npy")


def _run(tmp_path, **kw):
    rgb, d = _scene(tmp_path)
    s = pipeline.Settings(depth_kind="metric", seconds=1, fps=12, step=1, **kw)
    return pipeline.run(rgb, depth=d, settings=s)


def test_amount_one_is_the_largest_safe_motion(tmp_path):
    ref = _run(tmp_path, amount=1.0, amount_is_budget=False)
    budget = ref.background.safe_amount
    assert math.isfinite(budget) and budget > 0
    r = _run(tmp_path, amount=1.0)
    assert r.parallax_amount == pytest.approx(min(budget, pipeline.BUDGET_MAX))
    assert not r.background.holes_expected  # the band covers what this move reveals
    half = _run(tmp_path, amount=0.5)
    assert half.parallax_amount == pytest.approx(r.parallax_amount / 2)
    assert half.background.needed_px < r.background.needed_px


def test_beyond_the_budget_a_notice_says_holes_will_show(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        ok = _run(tmp_path, amount=1.0, band_px=4)
        assert not ok.background.holes_expected  # 1.0 = what a 4 px band can fill
        r = _run(tmp_path, amount=3.0, band_px=4)  # three times that
    assert r.background.holes_expected
    assert any("holes will show" in m for m in caplog.messages)


def test_without_a_layer_amount_is_in_parallax_units(tmp_path):
    r = _run(tmp_path, amount=0.7, fill_background=False)
    assert r.background is None and r.parallax_amount == pytest.approx(0.7)
    pts = _run(tmp_path, amount=0.7, mode="points")
    assert pts.parallax_amount == pytest.approx(0.7)
