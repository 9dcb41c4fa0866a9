"""Tests for depth_addon.core.stereo (no bpy).

Real data: skimage's Middlebury 2014 motorcycle pair at 1/4 size with ground-truth disparity
(inf = unknown); calibration from its docstring. Synthetic data: a textured foreground square in
front of a textured background, where the occluded band and the disparities are known exactly.
The unrectified path is tested in tests/test_rectify.py.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("skimage.data")

from PIL import Image  # noqa: E402

from depth_addon.core import stereo as st  # noqa: E402
from depth_addon.core.depth import DepthResult  # noqa: E402
from depth_addon.core.errors import InputError  # noqa: E402
from depth_addon.core.images import FILM_DIAGONAL_MM, load_image  # noqa: E402

F_PX = 994.978
CX, CY = 311.193, 254.877
BASELINE_M = 0.193001
DOFFS = 31.086


@pytest.fixture(scope="module")
def moto_result(moto):
    left, right, _ = moto
    return st.estimate_stereo(left, right)


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


def _gt_filled(gt):
    known = np.isfinite(gt)
    return st._fill_from_background(np.where(known, gt, 0.0), known)


# ---------------------------------------------------------------------------- accuracy / density
def test_motorcycle_accuracy(moto, moto_result):
    _, _, gt = moto
    bad = st.bad_pixel_rate(moto_result.values, gt, 2.0)
    # Issue goal: <= 0.10 (holes count). Measured 0.066 with opencv 4.11; 0.085 guards the filter
    # and fill against regressions.
    assert bad <= 0.085, bad
    assert st.end_point_error(moto_result.values, gt) < 1.5
    assert not moto_result.notes  # rectified, right order: nothing to report


def test_wls_method_accuracy(moto):
    left, right, gt = moto
    r = st.estimate_stereo(left, right, method="wls")
    assert st.bad_pixel_rate(r.values, gt) <= 0.085 and "WLS" in r.source


def test_sparse_range_is_used(moto_result):
    # motorcycle disparities span 7..60 px: the sparse matches give a 64-wide range, not width/8
    lo, hi = (int(v) for v in moto_result.source.split("disparities ")[1].split(",")[0].split(".."))
    assert hi - lo + 1 == 64 and lo <= 7 and hi >= 60


def test_output_is_dense_positive_disparity(moto, moto_result):
    left, _, _ = moto
    r = moto_result
    assert r.kind == "disparity" and r.K is None
    assert r.values.shape == left.shape[:2] and r.values.dtype == np.float32
    assert np.isfinite(r.values).all() and (r.values > 0).all()
    assert 0.6 < r.valid.mean() < 0.98  # some pixels failed the checks and were filled
    c = r.confidence
    assert c.shape == r.values.shape and c.dtype == np.float32 and c.min() >= 0 and c.max() <= 1
    assert (c[~r.valid] == 0).all() and c[r.valid].mean() > 0.3


def test_confidence_ranks_errors(moto, moto_result):
    _, _, gt = moto
    err = np.abs(moto_result.values - gt) > 2
    known = np.isfinite(gt)
    c = moto_result.confidence
    hole, low, high = known & (c == 0), known & (c > 0) & (c < 0.25), known & (c >= 0.25)
    assert err[hole].mean() > err[low].mean() > err[high].mean()
    assert err[high].mean() < 0.05


def test_left_border_strip_is_filled(moto, moto_result):
    _, _, gt = moto
    strip = (slice(None), slice(0, 64))
    assert np.isfinite(moto_result.values[strip]).all()
    assert st.bad_pixel_rate(moto_result.values[strip], gt[strip]) < 0.15


def test_valid_pixels_are_more_accurate_than_filled(moto, moto_result):
    _, _, gt = moto
    known = np.isfinite(gt)
    err = np.abs(moto_result.values - gt) > 2
    bad_valid = err[known & moto_result.valid].mean()
    bad_filled = err[known & ~moto_result.valid].mean()
    assert bad_valid < 0.06 and bad_valid < bad_filled


def test_holes_are_filled_from_the_background(square_scene):
    s = square_scene
    x0, x1, y0, y1 = s["box"]
    db, df = s["db"], s["df"]
    r = st.match_disparity(s["left"], s["right"])
    band = (slice(y0 + 5, y1 - 5), slice(x0 - (df - db), x0 - 1))  # occluded in the right view
    assert r.valid[band].mean() < 0.5  # it really was a hole
    assert (np.abs(r.values[band] - db) <= 1.0).mean() > 0.9  # filled with the background
    strip = (slice(None), slice(0, db))  # left border: no match inside the right image
    assert (np.abs(r.values[strip] - db) <= 1.0).mean() > 0.9
    assert abs(np.median(r.values[y0 + 5:y1 - 5, x0 + 3:x1 - 3]) - df) < 0.5
    assert st.bad_pixel_rate(r.values, s["gt"]) < 0.03


def test_float_input_matches_uint8(square_scene):
    s = square_scene
    a = st.match_disparity(s["left"], s["right"])
    b = st.match_disparity(s["left"].astype(np.float32) / 255, s["right"].astype(np.float32) / 255)
    assert np.abs(a.values - b.values).mean() < 0.05


def test_progress_is_reported(moto):
    left, right, _ = moto
    calls = []
    st.estimate_stereo(left, right, progress=lambda stage, f: calls.append((stage, f)))
    fr = [f for _, f in calls]
    assert len(calls) >= 4 and all(0 <= f <= 1 for f in fr) and fr == sorted(fr) and fr[-1] == 1.0


def test_default_parameters_follow_image_size():
    assert st.default_num_disparities(741) == 96
    assert st.default_num_disparities(1920) == 240
    assert st.default_num_disparities(100) == 16
    assert st.default_block_size(741, 500) == 3
    assert st.default_block_size(4000, 3000) > 3


def test_disparity_search_range():
    dx = np.linspace(10, 58, 200)
    lo, nd = st.disparity_search_range(dx, 741)
    assert nd % 16 == 0 and nd == 64 and lo <= 3 and lo + nd - 1 >= 65
    assert st.disparity_search_range(None, 741) == (0, 96)  # no matches: width / 8
    assert st.disparity_search_range(dx[:5], 741) == (0, 96)
    assert st.disparity_search_range(dx, 741, 128) == (0, 128)  # the user's range
    lo, nd = st.disparity_search_range(np.linspace(-20, 5, 200), 400)  # converged pair
    assert lo < -20 and lo + nd > 5
    lo, nd = st.disparity_search_range(np.linspace(0.5, 3, 100), 400)  # far scene: starts at 0
    assert lo == 0 and nd == 16
    assert st.disparity_search_range(np.linspace(0, 5000, 100), 400)[1] == 192  # capped at W/2


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
    # a pixel of known disparity: Z = f B / (d + doffs)
    y, x = np.argwhere(m)[len(np.argwhere(m)) // 2]
    d = F_PX * BASELINE_M / r.values[y, x] - DOFFS
    assert abs(d - gt[y, x]) < 2.0


def test_metric_depth_with_exif_focal_length(tmp_path, moto):
    """A 35 mm-equivalent focal length in EXIF becomes pixels, then metres via f B / (d + doffs)."""
    left, right, gt = moto
    h, w = gt.shape
    f35 = int(round(F_PX / np.hypot(w, h) * FILM_DIAGONAL_MM))  # 48 mm
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = f35  # FocalLengthIn35mmFilm
    Image.fromarray(left).save(tmp_path / "l.png", exif=exif.tobytes())
    photo = load_image(tmp_path / "l.png")
    assert photo.focal_px == pytest.approx(f35 / FILM_DIAGONAL_MM * np.hypot(w, h))
    assert abs(photo.focal_px - F_PX) / F_PX < 0.01
    r = st.estimate_stereo(photo.rgb, right, focal_px=photo.focal_px, baseline_m=BASELINE_M,
                           doffs=DOFFS)
    z_gt = F_PX * BASELINE_M / (gt + DOFFS)
    m = r.valid & np.isfinite(gt)
    assert r.K[0, 0] == photo.focal_px
    assert np.median(np.abs(r.values[m] - z_gt[m]) / z_gt[m]) < 0.015


def test_estimate_without_baseline_is_disparity(square_scene):
    s = square_scene
    r = st.estimate_stereo(s["left"], s["right"])
    assert r.kind == "disparity" and r.K is None and not r.notes
    r2 = st.estimate_stereo(s["left"], s["right"], focal_px=500.0)
    assert r2.kind == "disparity" and r2.K[0, 0] == 500.0 and r2.K[0, 2] == (240 - 1) / 2
    r3 = st.estimate_stereo(s["left"], s["right"], baseline_m=0.1)
    assert r3.kind == "disparity" and any("baseline without a focal" in n for n in r3.notes)


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
    with pytest.raises(InputError, match="stereo match"):
        st.match_disparity(a, b)
    with pytest.raises(InputError, match="stereo match"):
        st.estimate_stereo(a, b)


def test_bad_parameters_error(square_scene):
    s = square_scene
    for kw in (dict(block_size=4), dict(num_disparities=0), dict(method="bm"),
               dict(min_disparity=1.5)):
        with pytest.raises(InputError):
            st.match_disparity(s["left"], s["right"], **kw)
    for kw in (dict(focal_px=-3.0), dict(rectify="maybe"), dict(swap="yes"), dict(method="sgm")):
        with pytest.raises(InputError):
            st.estimate_stereo(s["left"], s["right"], **kw)


# ---------------------------------------------------------------------------- swapped pair
def test_looks_swapped():
    assert st.looks_swapped(-np.linspace(5, 50, 100))
    assert not st.looks_swapped(np.linspace(5, 50, 100))
    assert not st.looks_swapped(None) and not st.looks_swapped(-np.ones(5))
    assert not st.looks_swapped(np.linspace(-10, 40, 100))  # a few negative: converged, not swapped


def _gt_on_right_grid(gt):
    """The true left view's pixel x appears at x - d in the right view: warp the ground truth."""
    known = np.isfinite(gt)
    ys, xs = np.nonzero(known)
    xr = np.rint(xs - gt[ys, xs]).astype(int)
    ok = xr >= 0
    out = np.full_like(gt, np.inf)
    out[ys[ok], xr[ok]] = gt[ys[ok], xs[ok]]  # occluded collisions: last wins, rare
    return out


def test_swapped_pair_is_detected(moto, moto_result, caplog):
    left, right, gt = moto
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        r = st.estimate_stereo(right, left)
    assert any("look swapped" in n and "swapped them" in n for n in r.notes)
    assert "swapped" in caplog.text
    assert r.kind == "disparity" and r.valid.mean() > 0.6
    assert np.isfinite(r.values).all() and (r.values > 0).all()
    # values are on the grid of the image passed first (the true right view)
    bad = st.bad_pixel_rate(r.values, _gt_on_right_grid(gt))
    assert bad < 0.12, bad


def test_swap_can_be_forced_off(moto):
    left, right, _ = moto
    r = st.estimate_stereo(right, left, swap=False)  # negative disparities are searched as such
    assert r.kind == "inverse" and any("up to scale and shift" in n for n in r.notes)
    assert not any("swapped" in n for n in r.notes)
    assert np.median(r.values[r.valid]) < 0


def test_correct_pair_is_not_swapped(moto_result):
    assert not any("swap" in n for n in moto_result.notes)


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


def test_sbs_both_orders_end_to_end(moto, moto_result):
    left, right, gt = moto
    a, b = st.split_sbs(np.concatenate([left[:, :740], right[:, :740]], axis=1), "lr")
    r = st.estimate_stereo(a, b)
    assert st.bad_pixel_rate(r.values, gt[:, :740]) < 0.085 and not r.notes
    cross = np.concatenate([right[:, :740], left[:, :740]], axis=1)
    a, b = st.split_sbs(cross, "rl")  # cross-eyed picture, read correctly
    assert (a == left[:, :740]).all() and not st.estimate_stereo(a, b).notes
    a, b = st.split_sbs(cross, "lr")  # cross-eyed picture read as parallel: swapped, fixed
    assert any("swapped" in n for n in st.estimate_stereo(a, b).notes)


# ---------------------------------------------------------------------------- MPO
@pytest.fixture()
def mpo_file(tmp_path, moto):
    left, right, _ = moto
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 48
    path = tmp_path / "pair.mpo"
    # (Pillow 13 writes a single-frame JPEG when exif is an Exif object; bytes work)
    Image.fromarray(left).save(path, format="MPO", save_all=True, quality=95, exif=exif.tobytes(),
                               append_images=[Image.fromarray(right)])
    return path


def test_mpo_frames_are_left_and_right(mpo_file, moto):
    left, right, gt = moto
    assert st.is_mpo(mpo_file)
    a, b = st.load_mpo(mpo_file)
    assert a.rgb.shape == b.rgb.shape == left.shape and a.rgb.dtype == np.float32
    assert np.abs(a.rgb * 255 - left).mean() < 3 and np.abs(b.rgb * 255 - right).mean() < 3
    assert a.focal_px == pytest.approx(48 / FILM_DIAGONAL_MM * np.hypot(741, 500))
    r = st.estimate_stereo(a.rgb, b.rgb)
    assert st.bad_pixel_rate(r.values, gt) < 0.10  # JPEG-compressed frames


def test_mpo_errors(tmp_path, moto):
    left, _, _ = moto
    Image.fromarray(left).save(tmp_path / "one.jpg")
    assert not st.is_mpo(tmp_path / "one.jpg") and not st.is_mpo(tmp_path / "missing.mpo")
    with pytest.raises(InputError, match="not a stereo MPO"):
        st.load_mpo(tmp_path / "one.jpg")
    with pytest.raises(InputError, match="no such file"):
        st.load_mpo(tmp_path / "missing.mpo")


# ---------------------------------------------------------------------------- monocular fusion
def test_fit_scale_shift_is_robust():
    rng = np.random.default_rng(0)
    x = rng.random(5000)
    y = 40.0 * x + 7.0 + rng.normal(0, 0.2, x.size)
    y[:1000] += rng.uniform(-30, 30, 1000)  # 20 % gross outliers
    s, t, sigma, inl = st.fit_scale_shift(x, y)
    assert s == pytest.approx(40.0, rel=0.01) and t == pytest.approx(7.0, abs=0.2)
    assert sigma < 0.5 and 0.7 < inl < 0.9
    with pytest.raises(InputError):
        st.fit_scale_shift(np.ones(10), np.arange(10.0))


def test_fusion_with_a_synthetic_monocular_map(moto, moto_result):
    """'Monocular' = ground truth mapped by a known scale/shift, blurred, with noise."""
    _, _, gt = moto
    rng = np.random.default_rng(0)
    s0, t0 = 0.02, -0.3
    mono = cv2.GaussianBlur(_gt_filled(gt) * s0 + t0, (0, 0), 1.0)
    mono = (mono + rng.normal(0, 0.004, mono.shape)).astype(np.float32)
    mono_small = cv2.resize(mono, (370, 250), interpolation=cv2.INTER_AREA)  # any size is accepted
    stereo = DepthResult(values=moto_result.values, kind="disparity", valid=moto_result.valid,
                         confidence=moto_result.confidence)
    fused = st.fuse_monocular(stereo, mono_small)
    note = fused.notes[-1]
    assert note.startswith("fused with monocular depth")
    s = float(note.split("= ")[1].split(" x")[0])
    assert s == pytest.approx(1 / s0, rel=0.03)
    b_st, b_fu = st.bad_pixel_rate(stereo.values, gt), st.bad_pixel_rate(fused.values, gt)
    assert b_fu < b_st - 0.01, (b_st, b_fu)  # holes now follow the (true) monocular edges
    keep = moto_result.confidence >= 0.25
    assert np.array_equal(fused.values[keep], stereo.values[keep])  # confident stereo untouched


def test_fusion_inside_estimate_stereo(moto):
    left, right, gt = moto
    mono = DepthResult(values=(F_PX * BASELINE_M / (_gt_filled(gt) + DOFFS)).astype(np.float32),
                       kind="metric", valid=np.ones(gt.shape, bool))  # depth: inverted inside
    r = st.estimate_stereo(left, right, mono=mono, focal_px=F_PX, baseline_m=BASELINE_M,
                           doffs=DOFFS)
    assert r.kind == "metric" and any("fused with monocular" in n for n in r.notes)
    assert "monocular fill" in r.source


def test_fusion_refuses_a_contradicting_map(moto, moto_result, caplog):
    _, _, gt = moto
    stereo = DepthResult(values=moto_result.values, kind="disparity", valid=moto_result.valid,
                         confidence=moto_result.confidence)
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        out = st.fuse_monocular(stereo, -_gt_filled(gt))  # nearer = smaller: wrong direction
    assert "skipped" in out.notes[-1] and "skipped" in caplog.text
    assert np.array_equal(out.values, stereo.values)
    with pytest.raises(InputError):
        st.fuse_monocular(DepthResult(values=stereo.values, kind="metric", valid=stereo.valid),
                          gt)
    with pytest.raises(InputError):
        st.fuse_monocular(stereo, np.zeros((2, 3, 4)))


def test_fusion_plumbing_with_the_tiny_model(moto, tiny_model_dir):
    """The tiny random model's output is meaningless; this checks shapes, kinds and notes."""
    from depth_addon.core.monocular import estimate_monocular

    left, right, _ = moto
    mono = estimate_monocular(left, str(tiny_model_dir), device="cpu")
    assert mono.kind == "inverse"
    r = st.estimate_stereo(left, right, mono=mono)
    assert r.values.shape == left.shape[:2] and np.isfinite(r.values).all()
    assert any("monocular" in n for n in r.notes)  # fused, or skipped with the reason


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


def test_pipeline_swap_setting_reaches_the_matcher(moto):
    """Settings.swap (CLI --swap, panel 'Swapped Views'): 'no' keeps a swapped pair as given,
    'yes' swaps a correct one; an unknown value is refused before any work."""
    from depth_addon.core import pipeline
    from depth_addon.core.errors import InputError

    left, right, _ = moto

    def notes(first, second, swap):
        s = pipeline.Settings(swap=swap, seconds=1, fps=2, mode="points", step=8)
        return pipeline.estimate_depth(pipeline.load_photo(first), right=second, settings=s).notes

    assert not any("swapped" in n for n in notes(right, left, "no"))
    assert any("swapped as requested" in n for n in notes(left, right, "yes"))
    assert any("look swapped" in n for n in notes(right, left, "auto"))
    with pytest.raises(InputError, match="swap"):
        pipeline.Settings(swap="maybe").validate()
