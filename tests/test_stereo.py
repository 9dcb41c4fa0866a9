"""Tests for depth_addon.core.stereo (no bpy).

Real data: skimage's Middlebury 2014 motorcycle pair at 1/4 size with ground-truth disparity
(inf = unknown); calibration from its docstring. Synthetic data: a textured foreground square in
front of a textured background, where the occluded band and the disparities are known exactly.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")

from depth_addon.core import stereo as st  # noqa: E402
from depth_addon.core.errors import InputError  # noqa: E402

F_PX = 994.978
BASELINE_M = 0.193001
DOFFS = 31.086


@pytest.fixture(scope="module")
def moto():
    left, right, gt = skdata.stereo_motorcycle()
    return left, right, gt.astype(np.float32)


@pytest.fixture(scope="module")
def moto_result(moto):
    left, right, _ = moto
    return st.match_disparity(left, right)


def _texture(rng, h, w):
    n = rng.random((h, w, 3)).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), 1.2)
    n = (n - n.min()) / (n.max() - n.min())
    return (n * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def square_scene():
    """Background at disparity 8, a square at disparity 24 (x 100..160, y 30..90)."""
    rng = np.random.default_rng(1)
    h, w, db, df = 120, 240, 8, 24
    x0, x1, y0, y1 = 100, 160, 30, 90
    back = _texture(rng, h, w + db)
    front = _texture(rng, h, w + df)
    left = back[:, :w].copy()
    left[y0:y1, x0:x1] = front[y0:y1, x0:x1]
    right = back[:, db:w + db].copy()
    right[y0:y1, x0 - df:x1 - df] = front[y0:y1, x0:x1]
    gt = np.full((h, w), db, np.float32)
    gt[y0:y1, x0:x1] = df
    return dict(left=left, right=right, gt=gt, db=db, df=df, box=(x0, x1, y0, y1))


# ---------------------------------------------------------------------------- accuracy / density
def test_motorcycle_bad2_within_requirement(moto, moto_result):
    _, _, gt = moto
    bad = st.bad_pixel_rate(moto_result.values, gt, 2.0)
    # Issue requirement: <= 0.20 (holes count). Measured 0.068 with opencv 4.11; 0.12 guards
    # against regressions in the filter / fill.
    assert bad <= 0.20, bad
    assert bad <= 0.12, bad
    assert st.end_point_error(moto_result.values, gt) < 2.0


def test_output_is_dense_positive_disparity(moto, moto_result):
    left, _, _ = moto
    r = moto_result
    assert r.kind == "disparity" and r.K is None
    assert r.values.shape == left.shape[:2] and r.values.dtype == np.float32
    assert np.isfinite(r.values).all() and (r.values > 0).all()
    # some pixels failed the checks and were filled, most passed
    assert 0.6 < r.valid.mean() < 0.98
    assert r.confidence.shape == r.values.shape and r.confidence.dtype == np.float32
    assert r.confidence.min() >= 0.0 and r.confidence.max() <= 1.0
    assert (r.confidence[~r.valid] == 0).all() and r.confidence[r.valid].mean() > 0.5


def test_valid_pixels_are_more_accurate_than_filled(moto, moto_result):
    _, _, gt = moto
    d = moto_result.values.copy()
    known = np.isfinite(gt)
    err = np.abs(d - gt)
    bad_valid = (err > 2)[known & moto_result.valid].mean()
    bad_filled = (err > 2)[known & ~moto_result.valid].mean()
    assert bad_valid < 0.06 and bad_valid < bad_filled


def test_holes_are_filled_from_the_background(square_scene):
    s = square_scene
    x0, x1, y0, y1 = s["box"]
    db, df = s["db"], s["df"]
    r = st.match_disparity(s["left"], s["right"])
    band = (slice(y0 + 5, y1 - 5), slice(x0 - (df - db), x0 - 1))  # occluded in the right view
    assert r.valid[band].mean() < 0.3  # it really was a hole
    assert (np.abs(r.values[band] - db) <= 1.0).mean() > 0.9  # filled with the background
    strip = (slice(None), slice(0, db))  # left border: no match inside the right image
    assert (np.abs(r.values[strip] - db) <= 1.0).mean() > 0.9
    assert abs(np.median(r.values[y0 + 5:y1 - 5, x0 + 3:x1 - 3]) - df) < 0.5
    assert st.bad_pixel_rate(r.values, s["gt"]) < 0.02


def test_float_input_matches_uint8(square_scene):
    s = square_scene
    a = st.match_disparity(s["left"], s["right"])
    b = st.match_disparity(s["left"].astype(np.float32) / 255, s["right"].astype(np.float32) / 255)
    assert np.abs(a.values - b.values).mean() < 0.05


def test_progress_is_reported(square_scene):
    calls = []
    st.match_disparity(square_scene["left"], square_scene["right"],
                       progress=lambda stage, f: calls.append((stage, f)))
    fr = [f for _, f in calls]
    assert len(calls) >= 3 and all(0 <= f <= 1 for f in fr) and fr == sorted(fr) and fr[-1] == 1.0


def test_default_parameters_follow_image_size():
    assert st.default_num_disparities(741) == 96
    assert st.default_num_disparities(1920) == 240
    assert st.default_num_disparities(100) == 16
    assert st.default_block_size(741, 500) == 3
    assert st.default_block_size(4000, 3000) > 3


# ---------------------------------------------------------------------------- metric depth
def test_metric_depth_matches_calibration(moto):
    left, right, gt = moto
    r = st.estimate_stereo(left, right, focal_px=F_PX, baseline_m=BASELINE_M, doffs=DOFFS)
    assert r.kind == "metric"
    h, w = gt.shape
    np.testing.assert_allclose(r.K, [[F_PX, 0, (w - 1) / 2], [0, F_PX, (h - 1) / 2], [0, 0, 1]])
    assert np.isfinite(r.values).all() and (r.values > 0).all()
    z_gt = F_PX * BASELINE_M / (gt + DOFFS)
    m = r.valid & np.isfinite(gt)
    rel = np.abs(r.values[m] - z_gt[m]) / z_gt[m]
    assert np.median(rel) < 0.01
    assert 1.5 < np.median(r.values[m]) < 3.5  # metres: the motorcycle is ~2-3 m away


def test_estimate_without_baseline_is_disparity(square_scene):
    s = square_scene
    r = st.estimate_stereo(s["left"], s["right"])
    assert r.kind == "disparity" and r.K is None and not r.notes
    r2 = st.estimate_stereo(s["left"], s["right"], focal_px=500.0)
    assert r2.kind == "disparity" and r2.K[0, 0] == 500.0 and r2.K[0, 2] == (240 - 1) / 2


def test_disparity_to_depth_values_and_clipping():
    d = np.array([[10.0, 0.0, -5.0, np.nan]], np.float32)
    z = st.disparity_to_depth(d, 1000.0, 0.1, doffs=0.0)
    assert z.dtype == np.float32
    assert z[0, 0] == pytest.approx(10.0)
    assert np.isfinite(z[0, 1]) and z[0, 1] == pytest.approx(1000 * 0.1 * 16)  # clipped, not inf
    assert z[0, 2] == z[0, 1]
    assert np.isnan(z[0, 3])
    assert st.disparity_to_depth(np.array([10.0]), 1000.0, 0.1, doffs=10.0)[0] == pytest.approx(5.0)
    for f, b in [(0.0, 0.1), (-1.0, 0.1), (1000.0, 0.0), (1000.0, -0.2), (float("nan"), 0.1)]:
        with pytest.raises(InputError):
            st.disparity_to_depth(d, f, b)


# ---------------------------------------------------------------------------- errors
def test_sizes_differ_error(moto):
    left, right, _ = moto
    with pytest.raises(InputError, match=r"left is 741x500 but right is 740x500: a stereo pair must "
                                         r"have the same size; crop or resize one"):
        st.match_disparity(left, right[:, :740])


def test_too_small_error():
    img = np.zeros((20, 100, 3), np.uint8)
    with pytest.raises(InputError, match="at least 32"):
        st.match_disparity(img, img + 1)


def test_identical_images_error(moto):
    left, _, _ = moto
    with pytest.raises(InputError, match="identical"):
        st.match_disparity(left, left.copy())
    with pytest.raises(InputError, match="identical"):
        st.estimate_stereo(left, left.copy())


def test_flat_images_error():
    a = np.full((100, 160, 3), 100, np.uint8)
    b = np.full((100, 160, 3), 140, np.uint8)
    with pytest.raises(InputError, match="consistent stereo match"):
        st.match_disparity(a, b)
    with pytest.raises(InputError, match="consistent stereo match"):
        st.estimate_stereo(a, b)


def test_bad_parameters_error(square_scene):
    s = square_scene
    with pytest.raises(InputError):
        st.match_disparity(s["left"], s["right"], block_size=4)
    with pytest.raises(InputError):
        st.match_disparity(s["left"], s["right"], num_disparities=0)
    with pytest.raises(InputError):
        st.estimate_stereo(s["left"], s["right"], focal_px=-3.0)


# ---------------------------------------------------------------------------- swapped pair
def test_swapped_pair_is_detected(moto, moto_result, caplog):
    left, right, gt = moto
    plain = st.match_disparity(right, left)  # wrong order: few consistent matches
    assert plain.valid.mean() < 0.3
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        r = st.estimate_stereo(right, left)
    assert "left and right look swapped; swapped them" in r.notes
    assert "swapped" in caplog.text
    assert r.valid.mean() > 0.6
    # Values are on the grid of the image passed first (the true right view): its disparities
    # have about the same distribution as the true left view's.
    assert abs(np.median(r.values[r.valid]) - np.median(moto_result.values[moto_result.valid])) < 1.0
    known = np.isfinite(gt)
    assert np.isfinite(r.values).all() and (r.values > 0).all()
    # The true left view's pixel x appears at x - d in the right view: warp the ground truth there.
    h, w = gt.shape
    ys, xs = np.nonzero(known)
    xr = np.rint(xs - gt[ys, xs]).astype(int)
    ok = xr >= 0
    gt_right = np.full_like(gt, np.inf)
    gt_right[ys[ok], xr[ok]] = gt[ys[ok], xs[ok]]  # occluded collisions: last wins, rare
    bad = st.bad_pixel_rate(r.values, gt_right)
    assert bad < 0.12, bad


def test_correct_pair_is_not_swapped(moto_result):
    assert not moto_result.notes


# ---------------------------------------------------------------------------- side by side
def test_split_sbs_orders():
    left = np.zeros((40, 50, 3), np.uint8)
    right = np.full((40, 50, 3), 255, np.uint8)
    sbs = np.concatenate([left, right], axis=1)
    a, b = st.split_sbs(sbs, "lr")
    assert a.shape == (40, 50, 3) and (a == 0).all() and (b == 255).all()
    a, b = st.split_sbs(sbs, "rl")
    assert (a == 255).all() and (b == 0).all()
    assert a.flags["C_CONTIGUOUS"] and b.flags["C_CONTIGUOUS"]
    g = st.split_sbs(sbs[:, :, 0])
    assert g[0].shape == (40, 50)


def test_split_sbs_errors():
    with pytest.raises(InputError, match="odd"):
        st.split_sbs(np.zeros((40, 101, 3), np.uint8))
    with pytest.raises(InputError, match="smaller than"):
        st.split_sbs(np.zeros((40, 60, 3), np.uint8))
    with pytest.raises(InputError, match="order"):
        st.split_sbs(np.zeros((40, 100, 3), np.uint8), "ud")


# ---------------------------------------------------------------------------- metrics
def test_metrics():
    gt = np.array([[10.0, 10.0, 10.0, np.inf]])
    d = np.array([[10.5, 13.0, np.nan, 0.0]])
    assert st.bad_pixel_rate(d, gt) == pytest.approx(2 / 3)  # one wrong, one hole, inf skipped
    assert st.bad_pixel_rate(d, gt, threshold=5.0) == pytest.approx(1 / 3)
    assert st.end_point_error(d, gt) == pytest.approx((0.5 + 3.0) / 2)
    assert st.bad_pixel_rate(np.array([[-1.0, 10.0]]), np.array([[-1.0, 10.0]])) == 0.5
    with pytest.raises(InputError):
        st.bad_pixel_rate(d, gt[:, :3])
    with pytest.raises(InputError):
        st.end_point_error(d, np.full_like(gt, np.inf))
