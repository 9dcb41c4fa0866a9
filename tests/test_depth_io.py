"""Tests for depth_addon.core.depth: sanitize, read/write, to_depth, colormap, resize (no bpy).

Real data: skimage's Middlebury 2014 motorcycle ground-truth disparity (inf = unknown). Synthetic
maps are made in tmp_path with numpy / OpenCV.
"""
from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")

from depth_addon.core import depth as dp  # noqa: E402
from depth_addon.core.depth import (KINDS, DepthResult, colormap, read_depth,  # noqa: E402
                                    resize_depth, sanitize, to_depth, write_depth)
from depth_addon.core.errors import InputError  # noqa: E402


@pytest.fixture(scope="module")
def moto_disp():
    _, _, gt = skdata.stereo_motorcycle()
    return gt.astype(np.float32)


def _smooth_depth(h=48, w=64, seed=0):
    """A positive metric-like depth map: a tilted plane 1..5 m with a near box, plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    z = 1.0 + 4.0 * yy / (h - 1) + 0.01 * rng.random((h, w)).astype(np.float32)
    z[h // 4: h // 2, w // 4: w // 2] = 0.7
    return z.astype(np.float32)


def _messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "depth_addon"]


# ------------------------------------------------------------------------------------------------
# read_depth: bad inputs


def test_read_missing(tmp_path):
    with pytest.raises(InputError, match="no such file: .*gone.png"):
        read_depth(tmp_path / "gone.png")


def test_read_directory(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        read_depth(tmp_path)


def test_read_empty(tmp_path):
    p = tmp_path / "d.png"
    p.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        read_depth(p)


def test_read_unsupported_extension(tmp_path):
    p = tmp_path / "depth.jpg"
    p.write_bytes(b"\xff\xd8\xff")
    with pytest.raises(InputError, match=r"unsupported depth file type '\.jpg'; supported: "
                                         r"\.png, \.exr, \.npy, \.tif, \.tiff"):
        read_depth(p)


@pytest.mark.parametrize("ext", [".png", ".exr", ".tif"])
def test_read_garbage(tmp_path, ext):
    p = tmp_path / f"bad{ext}"
    p.write_bytes(b"definitely not a depth map" * 10)
    with pytest.raises(InputError, match="not a depth map OpenCV can read"):
        read_depth(p)


def test_read_truncated_png(tmp_path):
    ok, buf = cv2.imencode(".png", (np.random.default_rng(0).random((64, 64)) * 65535)
                           .astype(np.uint16))
    p = tmp_path / "cut.png"
    p.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(InputError, match="not a depth map OpenCV can read"):
        read_depth(p)


def test_read_npy_pickled_object_refused(tmp_path):
    p = tmp_path / "obj.npy"
    np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="not a readable .npy"):
        read_depth(p)
    q = tmp_path / "pickle.npy"
    q.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(InputError, match="not a readable .npy"):
        read_depth(q)


def test_read_bad_kind_and_shape(tmp_path):
    p = tmp_path / "d.npy"
    np.save(p, np.ones((8, 8), np.float32))
    with pytest.raises(InputError, match="unknown depth kind 'depthish'"):
        read_depth(p, "depthish")
    np.save(p, np.ones((6, 7, 8, 9), np.float32))
    with pytest.raises(InputError, match="expected \\(H, W\\)"):
        read_depth(p)


def test_read_all_nan(tmp_path):
    p = tmp_path / "nan.npy"
    np.save(p, np.full((10, 10), np.nan, np.float32))
    with pytest.raises(InputError, match="nan.npy: depth map has no usable values"):
        read_depth(p)


# ------------------------------------------------------------------------------------------------
# round trips


def test_png_round_trip_keeps_16bit_precision(tmp_path):
    z = _smooth_depth()
    path = write_depth(tmp_path / "d.png", z, kind="metric")
    assert path.endswith("d.png")
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.min() == 0 and raw.max() == 65535
    assert len(np.unique(raw)) > 1000  # far more levels than 8 bits
    res = read_depth(path)
    assert res.kind == "inverse" and res.valid.all()
    inv = 1.0 / z.astype(np.float64)
    expected = (inv - inv.min()) / (inv.max() - inv.min())
    err = np.abs(res.values / 65535.0 - expected).max()
    assert err <= 1.0 / 65535.0, err
    # white = near: the near box is the brightest region
    assert res.values[15, 20] > res.values[-1, 20]


def test_png_round_trip_inverse_kind(tmp_path):
    w = np.random.default_rng(3).normal(0.0, 3.0, (40, 50)).astype(np.float32)  # negative ok
    path = write_depth(tmp_path / "inv.png", w, kind="inverse")
    res = read_depth(path, "inverse")
    expected = (w.astype(np.float64) - w.min()) / (w.max() - w.min())
    assert np.abs(res.values / 65535.0 - expected).max() <= 1.0 / 65535.0


@pytest.mark.parametrize("ext", [".exr", ".npy"])
def test_float_round_trip_is_exact(tmp_path, ext):
    z = _smooth_depth(seed=5) * np.float32(1.2345678)
    path = write_depth(tmp_path / f"d{ext}", z, kind="metric")
    res = read_depth(path, "metric")
    assert res.values.dtype == np.float32
    np.testing.assert_array_equal(res.values, z)
    auto = read_depth(path)
    assert auto.kind == "relative"


def test_exr_keeps_nan_and_read_sanitizes(tmp_path):
    z = _smooth_depth()
    z[5:9, 5:9] = np.nan
    z[0, 0] = np.inf
    z[1, 1] = -2.0
    path = write_depth(tmp_path / "holes.exr", z, kind="metric")
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert np.isnan(raw[6, 6]) and np.isinf(raw[0, 0])  # the file is exact
    res = read_depth(path, "metric")
    assert np.isfinite(res.values).all() and (res.values > 0).all()
    assert not res.valid[6, 6] and not res.valid[0, 0] and not res.valid[1, 1]
    assert res.valid.sum() == z.size - 16 - 2


def test_auto_kind_from_dtype(tmp_path):
    p8 = tmp_path / "d8.png"
    cv2.imwrite(str(p8), np.tile(np.arange(64, dtype=np.uint8) * 4, (32, 1)))
    assert read_depth(p8).kind == "inverse"
    pt = tmp_path / "f.tif"
    cv2.imwrite(str(pt), _smooth_depth())
    r = read_depth(pt)
    assert r.kind == "relative"
    np.testing.assert_array_equal(r.values, _smooth_depth())
    pn = tmp_path / "i.npy"
    np.save(pn, np.arange(100, dtype=np.int32).reshape(10, 10))
    assert read_depth(pn).kind == "inverse"


def test_npy_with_singleton_axes(tmp_path):
    p = tmp_path / "model.npy"
    z = _smooth_depth()
    np.save(p, z[None, None])  # (1, 1, H, W) as models return it
    np.testing.assert_array_equal(read_depth(p, "metric").values, z)


def test_multichannel_takes_first_with_notice(tmp_path, caplog):
    h, w = 32, 40
    red = np.tile(np.arange(w, dtype=np.uint16) * 1000, (h, 1))
    rgb = np.dstack([red, np.zeros_like(red), np.full_like(red, 7)])
    p = tmp_path / "col.png"
    cv2.imwrite(str(p), rgb[:, :, ::-1].copy())  # OpenCV writes BGR
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        res = read_depth(p)
    np.testing.assert_array_equal(res.values, red.astype(np.float32))
    msgs = _messages(caplog)
    assert any("has 3 channels; using the first" in m and "colour-mapped" in m for m in msgs), msgs
    assert any("3 channels" in n for n in res.notes)


def test_grey_saved_as_rgb_gives_no_colourmap_warning(tmp_path, caplog):
    g = (np.random.default_rng(0).random((20, 30)) * 255).astype(np.uint8)
    p = tmp_path / "grey3.png"
    cv2.imwrite(str(p), np.dstack([g, g, g]))
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        read_depth(p)
    msgs = _messages(caplog)
    assert any("using the first" in m for m in msgs) and not any("colour-mapped" in m for m in msgs)


def test_read_with_size_resizes_with_notice(tmp_path, caplog):
    z = _smooth_depth(48, 64)
    p = write_depth(tmp_path / "small.npy", z, kind="metric")
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        res = read_depth(p, "metric", size=(128, 96))
    assert res.values.shape == (96, 128) and res.valid.shape == (96, 128)
    assert res.valid.dtype == bool
    msgs = _messages(caplog)
    assert "depth map is 64x48 but the photo is 128x96; resized the depth map" in msgs
    assert any("resized" in n for n in res.notes)
    assert res.values.min() >= z.min() - 1e-6 and res.values.max() <= z.max() + 1e-6
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        same = read_depth(p, "metric", size=(64, 48))
        read_depth(p, "metric", size=(100, 30))
    assert same.values.shape == (48, 64)
    msgs = _messages(caplog)
    assert len(msgs) == 1 and "aspect ratios differ" in msgs[0], msgs


# ------------------------------------------------------------------------------------------------
# write_depth errors


def test_write_refuses_existing_unless_overwrite(tmp_path):
    z = _smooth_depth()
    p = tmp_path / "d.npy"
    write_depth(p, z, kind="metric")
    with pytest.raises(InputError, match="exists; pass --overwrite to replace it"):
        write_depth(p, z * 2, kind="metric")
    np.testing.assert_array_equal(np.load(p), z)  # untouched
    write_depth(p, z * 2, kind="metric", overwrite=True)
    np.testing.assert_array_equal(np.load(p), z * 2)


def test_write_missing_folder_and_bad_ext(tmp_path):
    z = _smooth_depth()
    with pytest.raises(InputError, match="does not exist"):
        write_depth(tmp_path / "no" / "such" / "d.png", z, kind="metric")
    with pytest.raises(InputError, match="unsupported depth file type '.jpg'"):
        write_depth(tmp_path / "d.jpg", z, kind="metric")
    with pytest.raises(InputError, match=r"must be \(H, W\)"):
        write_depth(tmp_path / "d.npy", np.zeros((2, 3, 4)), kind="metric")
    with pytest.raises(InputError, match="no usable values"):
        write_depth(tmp_path / "d.png", np.full((4, 4), np.nan), kind="metric")


# ------------------------------------------------------------------------------------------------
# sanitize


def test_sanitize_fills_from_nearest_valid():
    v = np.ones((20, 40), np.float32)
    v[:, 20:] = 5.0
    v[:, 17:19] = np.nan  # a hole nearer to the left (1.0) side
    v[:, 21:23] = np.inf  # a hole nearer to the right (5.0) side
    v[3, 30] = -1.0
    out, valid = sanitize(v, "metric")
    assert out.dtype == np.float32 and valid.dtype == bool
    assert not valid[:, 17:19].any() and not valid[:, 21:23].any() and not valid[3, 30]
    assert valid.sum() == v.size - 20 * 4 - 1
    np.testing.assert_array_equal(out[:, 17:19], 1.0)  # no blending across the edge
    np.testing.assert_array_equal(out[:, 21:23], 5.0)
    assert out[3, 30] == 5.0
    np.testing.assert_array_equal(out[valid], v[valid])


def test_sanitize_inverse_keeps_zero_and_negative():
    v = np.linspace(-1, 1, 100, dtype=np.float32).reshape(10, 10)
    out, valid = sanitize(v, "inverse")
    assert valid.all()
    np.testing.assert_array_equal(out, v)
    out, valid = sanitize(v, "relative")
    assert valid.sum() == 50 and (out > 0).all()


def test_sanitize_refuses_almost_empty():
    v = np.full((100, 100), np.nan, np.float32)
    with pytest.raises(InputError, match=r"depth map has no usable values \(all NaN/inf/≤0\)"):
        sanitize(v, "metric")
    v[0, :50] = 2.0  # 0.5 % valid
    with pytest.raises(InputError, match="no usable values .*0.50 %"):
        sanitize(v, "metric")
    v[1, :60] = 2.0  # 1.1 % valid: accepted
    out, valid = sanitize(v, "metric")
    assert (out == 2.0).all() and valid.sum() == 110


def test_sanitize_real_disparity(moto_disp):
    out, valid = sanitize(moto_disp, "disparity")
    np.testing.assert_array_equal(valid, np.isfinite(moto_disp) & (moto_disp > 0))
    assert np.isfinite(out).all() and (out > 0).all()
    assert out.max() <= moto_disp[valid].max() and out.min() >= moto_disp[valid].min()


# ------------------------------------------------------------------------------------------------
# to_depth


@pytest.mark.parametrize("kind", KINDS)
def test_to_depth_positive_and_monotonic(kind):
    ramp = np.linspace(0.05, 10.0, 64 * 50, dtype=np.float32).reshape(50, 64)  # row-major ascending
    res = DepthResult(values=ramp, kind=kind, valid=np.ones_like(ramp, bool))
    z, metric = to_depth(res)
    assert z.dtype == np.float32 and z.shape == ramp.shape
    assert np.isfinite(z).all() and (z > 0).all()
    assert metric == (kind == "metric")
    d = np.diff(z.ravel().astype(np.float64))
    if kind in ("metric", "relative"):
        assert (d >= 0).all()
    else:
        assert (d <= 0).all()
    assert len(np.unique(z)) > 1000  # not collapsed


def test_to_depth_values():
    rng = np.random.default_rng(0)
    w = rng.random((60, 80)).astype(np.float32) * 3 + 2  # inverse with unknown shift
    z, _ = to_depth(DepthResult(w, "inverse", np.ones_like(w, bool)), depth_range=6.0)
    p1, p99 = np.percentile(w, [1, 99])
    assert z[w >= p99].max() == pytest.approx(1.0) and z.min() == pytest.approx(1.0)
    assert z[w <= p1].min() == pytest.approx(6.0) and z.max() == pytest.approx(6.0)
    rel = rng.random((60, 80)).astype(np.float32) * 10 + 0.5
    z, _ = to_depth(DepthResult(rel, "relative", np.ones_like(rel, bool)))
    assert np.percentile(z, 1) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(z * np.percentile(rel, 1), rel, rtol=1e-5)
    disp = rng.random((60, 80)).astype(np.float32) * 50 + 0.001
    z, _ = to_depth(DepthResult(disp, "disparity", np.ones_like(disp, bool)), depth_range=5.0)
    assert z.max() == pytest.approx(20.0, rel=1e-5)  # clipped at 4 * depth_range
    d99 = np.percentile(disp, 99)
    np.testing.assert_allclose(z[disp > d99 / 20], (d99 / disp)[disp > d99 / 20], rtol=1e-5)
    m = _smooth_depth()
    z, metric = to_depth(DepthResult(m, "metric", np.ones_like(m, bool)))
    assert metric and np.array_equal(z, m)


def test_to_depth_ignores_invalid_pixels_and_fills_garbage():
    w = np.tile(np.linspace(0.0, 1.0, 100, dtype=np.float32), (50, 1))
    valid = np.ones_like(w, bool)
    w[:, :10] = np.nan
    w[:, 10:20] = 1e6  # finite garbage marked invalid must not drive the percentiles
    valid[:, :20] = False
    z, _ = to_depth(DepthResult(w, "inverse", valid), depth_range=4.0)
    assert np.isfinite(z).all() and (z > 0).all()
    assert z[:, 20:].max() == pytest.approx(4.0, rel=0.05)
    disp = np.full((30, 30), 8.0, np.float32)
    disp[:5] = -1.0  # SGBM-style "no match"
    z, _ = to_depth(DepthResult(disp, "disparity", disp > 0))
    assert np.isfinite(z).all() and (z > 0).all() and np.allclose(z, 1.0)


def test_to_depth_bad_range_and_flat(caplog):
    v = np.ones((10, 10), np.float32)
    res = DepthResult(v, "inverse", np.ones_like(v, bool))
    with pytest.raises(InputError, match="depth range must be > 1"):
        to_depth(res, depth_range=1.0)
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        z, _ = to_depth(res)
    assert (z == 1.0).all() and any("flat" in m for m in _messages(caplog))


def test_to_depth_real_disparity(moto_disp):
    out, valid = sanitize(moto_disp, "disparity")
    z, metric = to_depth(DepthResult(out, "disparity", valid))
    assert not metric and (z > 0).all() and np.isfinite(z).all()
    # nearer (larger disparity) -> smaller depth, pixel by pixel
    order = np.argsort(out.ravel())
    assert (np.diff(z.ravel()[order].astype(np.float64)) <= 1e-6).all()


# ------------------------------------------------------------------------------------------------
# colormap and resize


@pytest.mark.parametrize("kind", KINDS)
def test_colormap_near_is_warm(kind):
    near_ness = np.tile(np.linspace(0.1, 1.0, 64, dtype=np.float32), (16, 1))  # right = near
    v = 1.0 / near_ness if kind in ("metric", "relative") else near_ness
    img = colormap(v, kind)
    assert img.dtype == np.uint8 and img.shape == (16, 64, 3)
    # Turbo's very ends are dark (purple-black, dark red): look a little inside them
    far, near = img[8, 6].astype(int), img[8, -7].astype(int)
    assert near[0] > near[2] + 50, near  # red dominates
    assert far[2] > far[0] + 50, far  # blue dominates


def test_colormap_marks_unusable_black():
    v = np.tile(np.linspace(1.0, 2.0, 20, dtype=np.float32), (10, 1))
    v[0, 0] = np.nan
    v[1, 1] = -1.0
    img = colormap(v, "metric")
    assert (img[0, 0] == 0).all() and (img[1, 1] == 0).all() and img[5, 5].any()
    with pytest.raises(InputError):
        colormap(v, "nope")


def test_resize_depth_scales_k_disparity_and_mask():
    d = np.tile(np.linspace(10, 20, 40, dtype=np.float32), (30, 1))
    valid = np.ones_like(d, bool)
    valid[:, :4] = False
    K = np.array([[50.0, 0, 19.5], [0, 50.0, 14.5], [0, 0, 1]])
    res = DepthResult(d, "disparity", valid, K=K, confidence=np.full_like(d, 0.5), notes=["x"])
    out = resize_depth(res, (80, 60))
    assert out.values.shape == (60, 80) and out.valid.shape == (60, 80)
    assert out.valid.dtype == bool and not out.valid[:, :8].any() and out.valid[:, 8:].all()
    assert out.values.max() == pytest.approx(40.0, rel=0.01)  # disparity doubles with the width
    np.testing.assert_allclose(out.K, [[100.0, 0, 39.5], [0, 100.0, 29.5], [0, 0, 1]])
    assert out.confidence.shape == (60, 80) and out.notes == ["x"] and out.notes is not res.notes
    assert res.values.shape == (30, 40)  # input untouched
    assert resize_depth(res, (40, 30)) is res
    with pytest.raises(InputError):
        resize_depth(res, (0, 10))


def test_resize_depth_downscale_keeps_range():
    z = _smooth_depth(96, 128)
    z[0, 0] = np.nan
    out = resize_depth(DepthResult(z, "metric", np.isfinite(z)), (32, 24))
    assert out.values.shape == (24, 32) and np.isfinite(out.values).all()
    assert np.nanmin(z) - 1e-6 <= out.values.min() and out.values.max() <= np.nanmax(z) + 1e-6


def test_module_sets_openexr_env():
    import os

    assert os.environ.get("OPENCV_IO_ENABLE_OPENEXR") == "1"
    assert dp.DEPTH_EXTS == (".png", ".exr", ".npy", ".tif", ".tiff")


# ------------------------------------------------------------------------------------------------
# negative, holed and flat maps (issue 11 item 3)

def test_read_negative_depth_refused(tmp_path):
    p = tmp_path / "neg.npy"
    np.save(p, np.linspace(-2, 3, 100 * 50, dtype=np.float32).reshape(50, 100))
    for kind in ("auto", "relative", "metric"):
        with pytest.raises(InputError, match="has negative values .* below 0"):
            read_depth(p, kind)
    assert read_depth(p, "inverse").kind == "inverse"  # a shifted inverse depth may be negative


def test_read_few_negative_and_flat_depth_noticed(tmp_path, caplog):
    z = _smooth_depth()
    z[:2, :2] = -1.0
    np.save(tmp_path / "few.npy", z)
    caplog.set_level(logging.INFO, logger="depth_addon")
    r = read_depth(tmp_path / "few.npy", "metric")
    assert r.values.min() > 0 and not r.valid[:2, :2].any()
    assert any("4 of its samples" in m and "filled" in m for m in _messages(caplog))
    np.save(tmp_path / "flat.npy", np.full((40, 60), 2.5, np.float32))
    read_depth(tmp_path / "flat.npy", "metric")
    assert any("is flat (every value is 2.5)" in m for m in _messages(caplog))
