"""Depth / displacement / normal textures with sidecars (core/textures.py), no bpy.

Real data: the Middlebury 2014 motorcycle ground truth (skimage.data) turned into metric depth with
its calibration, so the round trip runs on a real scene's depth edges and range.
"""
from __future__ import annotations

import json
import logging
import sys

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")

from depth_addon.core import geometry as geo  # noqa: E402
from depth_addon.core import textures as tx  # noqa: E402
from depth_addon.core.depth import DepthResult, read_depth, sanitize  # noqa: E402
from depth_addon.core.errors import InputError  # noqa: E402

F, CX, CY, DOFFS, B = 994.978, 311.193, 254.877, 31.086, 0.193001  # motorcycle calibration


@pytest.fixture(scope="module")
def moto_depth():
    """(Z metres (500, 741) float32, K) from the ground-truth disparity (holes filled)."""
    _, _, gt = skdata.stereo_motorcycle()
    d, _ = sanitize(gt.astype(np.float32), "disparity")
    Z = (F * B / (d + DOFFS)).astype(np.float32)
    K = np.array([[F, 0, CX], [0, F, CY], [0, 0, 1.0]])
    return Z, K


def _result(Z, kind="metric", source="stereo SGBM 3-way (OpenCV)"):
    return DepthResult(values=Z, kind=kind, valid=np.ones(Z.shape, bool), source=source)


@pytest.mark.parametrize("ext", [".png", ".exr", ".npy"])
def test_sidecar_round_trip_gives_the_metric_depth_back(tmp_path, moto_depth, ext):
    Z, K = moto_depth
    path, side = tx.export_depth(tmp_path / f"depth{ext}", Z, K, metric=True, depth=_result(Z))
    assert side == path + ".json"
    meta = json.loads(open(side).read())
    for key in ("kind", "units", "near", "far", "encoding", "focal_length_px", "K", "fov_deg",
                "image_size", "source"):
        assert key in meta, key
    assert meta["kind"] == "metric depth" and meta["units"] == "m"
    assert meta["image_size"] == [741, 500] and meta["focal_length_px"] == pytest.approx(F)
    assert meta["near"] == pytest.approx(float(Z.min())) and meta["far"] == pytest.approx(float(Z.max()))
    assert meta["source"] == {"type": "stereo", "name": "stereo SGBM 3-way (OpenCV)",
                              "kind": "metric depth"}
    assert meta["fov_deg"]["horizontal"] == pytest.approx(2 * np.degrees(np.arctan(741 / 2 / F)))
    back = read_depth(path)  # kind auto: the sidecar decides
    assert back.kind == "metric" and np.allclose(back.K, K)
    if ext == ".png":
        enc = meta["encoding"]
        step = (enc["b"] - enc["a"]) / 65535  # one 16-bit step of 1/Z
        err = np.abs(1.0 / back.values.astype(np.float64) - 1.0 / Z.astype(np.float64))
        assert err.max() <= 0.5 * step * 1.001 + 1e-7
        # in depth: dZ = Z^2 d(1/Z): sub-millimetre at the motorcycle's 1.5..? m
        assert np.abs(back.values - Z).max() < 2e-3
    else:
        assert np.array_equal(back.values, Z)


def test_relative_depth_sidecar_says_so(tmp_path, moto_depth):
    Z, K = moto_depth
    model = _result(1.0 / Z, kind="inverse", source="depth-anything/Depth-Anything-V2-Small-hf")
    Zr = (Z / Z.min()).astype(np.float32)
    path, side = tx.export_depth(tmp_path / "rel.png", Zr, K, metric=False, depth=model,
                                 depth_range=6.0)
    meta = json.loads(open(side).read())
    assert meta["kind"] == "relative depth" and meta["units"] == "relative"
    assert meta["derived_from"] == "relative inverse depth" and meta["assumed_depth_range"] == 6.0
    assert meta["source"]["type"] == "model"
    back = read_depth(path)
    assert back.kind == "relative" and np.abs(back.values / Zr - 1).max() < 2e-3


def test_existing_sidecar_is_never_overwritten(tmp_path, moto_depth):
    Z, K = moto_depth
    side = tmp_path / "d.png.json"
    side.write_text("{\"mine\": true}")
    with pytest.raises(InputError, match=r"d\.png\.json exists; pass --overwrite"):
        tx.export_depth(tmp_path / "d.png", Z, K, metric=True)
    assert not (tmp_path / "d.png").exists() and side.read_text() == "{\"mine\": true}"
    tx.export_depth(tmp_path / "d.png", Z, K, metric=True, overwrite=True)
    assert json.loads(side.read_text())["kind"] == "metric depth"
    with pytest.raises(InputError, match=r"d\.png exists; pass --overwrite"):
        tx.export_depth(tmp_path / "d.png", Z, K, metric=True)


def test_exr_header_attributes(tmp_path, moto_depth):
    pytest.importorskip("OpenEXR")
    Z, K = moto_depth
    path, side = tx.export_depth(tmp_path / "d.exr", Z, K, metric=True, depth=_result(Z))
    attrs = tx.read_exr_attributes(path)
    assert attrs["kind"] == "metric depth" and attrs["units"] == "m"
    assert attrs["near"] == pytest.approx(float(Z.min()), rel=1e-6)
    assert np.allclose(np.asarray(attrs["K"]), K, rtol=1e-6)
    assert json.loads(attrs["sidecar"]) == json.loads(open(side).read())
    a = cv2.imread(path, cv2.IMREAD_UNCHANGED)  # still a plain float EXR for OpenCV
    assert a.dtype == np.float32 and np.array_equal(a, Z)


def test_exr_without_openexr_still_gets_a_sidecar(tmp_path, moto_depth, monkeypatch, caplog):
    Z, K = moto_depth
    monkeypatch.setitem(sys.modules, "OpenEXR", None)  # import fails
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        path, side = tx.export_depth(tmp_path / "d.exr", Z, K, metric=True)
    assert any("no EXR header attributes" in r.getMessage() for r in caplog.records)
    assert np.array_equal(read_depth(path).values, Z)


@pytest.mark.parametrize("ext", [".png", ".exr"])
def test_displacement_texture_round_trip(tmp_path, moto_depth, ext):
    Z, K = moto_depth
    path, side = tx.export_displacement(tmp_path / f"disp{ext}", Z, K, metric=True)
    meta = json.loads(open(side).read())
    assert meta["kind"] == "displacement (normalised inverse depth)"
    a, b = meta["encoding"]["a"], meta["encoding"]["b"]
    back = read_depth(path)
    w = 1.0 / Z.astype(np.float64)
    inside = (w >= a) & (w <= b)  # not clipped by the 0.5 / 99.5 percentiles
    err = np.abs(1.0 / back.values - w)[inside]
    assert err.max() <= (0.5 * (b - a) / 65535 * 1.001 + 1e-7 if ext == ".png" else 1e-6)


def _plane_depth(n_cv, d, K, size):
    """Z of the plane n . P = d (OpenCV camera frame) on a (W, H) grid."""
    w, h = size
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = (u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1]
    return (d / (n_cv[0] * x + n_cv[1] * y + n_cv[2])).astype(np.float32)


def test_normals_of_a_tilted_plane_in_opengl_convention():
    K = geo.intrinsics_from_fov(160, 120, 60.0)
    n_cv = np.array([0.3, -0.4, -0.866])  # faces the camera (-z in OpenCV), tilted right and up
    n_cv /= np.linalg.norm(n_cv)
    Z = _plane_depth(n_cv, -2.0, K, (160, 120))
    assert Z.min() > 0
    n = tx.normal_map(Z, K)
    expected = np.array([n_cv[0], -n_cv[1], -n_cv[2]])  # OpenGL: +Y up, +Z towards the camera
    assert np.abs(n - expected).max() < 1e-4
    assert expected[2] > 0 and expected[1] > 0  # towards the camera, and up


def test_normals_do_not_bend_at_a_depth_edge():
    K = geo.intrinsics_from_fov(120, 80, 60.0)
    Z = np.full((80, 120), 3.0, np.float32)
    Z[:, 60:] = 1.0  # fronto-parallel planes at 1 m and 3 m
    n = tx.normal_map(Z, K)
    assert np.abs(n - [0, 0, 1]).max() < 1e-5


def test_normal_map_png_encoding(tmp_path, moto_depth):
    Z, K = moto_depth
    path, side = tx.export_normals(tmp_path / "n.png", Z, K, metric=True)
    bgr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert bgr.dtype == np.uint16 and bgr.shape == (500, 741, 3)
    n = 2.0 * bgr[:, :, ::-1].astype(np.float64) / 65535 - 1.0
    assert np.allclose(n, tx.normal_map(Z, K), atol=2e-5)
    meta = json.loads(open(side).read())
    assert "OpenGL" in meta["encoding"]["convention"] and "+Y up" in meta["encoding"]["convention"]
    with pytest.raises(InputError, match="normal map"):
        read_depth(path)
    with pytest.raises(InputError, match="must end in .png"):
        tx.export_normals(tmp_path / "n.exr", Z, K)


def test_bad_sidecars(tmp_path, moto_depth, caplog):
    Z, K = moto_depth
    path, side = tx.export_depth(tmp_path / "d.npy", Z, K, metric=True)
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        r = read_depth(path, "relative")  # an explicit kind wins over the sidecar
    assert r.kind == "relative" and any("sidecar" in m.getMessage() for m in caplog.records)
    open(side, "w").write("{not json")
    with pytest.raises(InputError, match="not a readable JSON sidecar"):
        read_depth(path)
    open(side, "w").write(json.dumps({"hello": 1}))
    with pytest.raises(InputError, match="not a depth_addon sidecar"):
        read_depth(path)
    tx.export_depth(tmp_path / "e.npy", Z, K, metric=True)
    np.save(tmp_path / "e.npy", Z[:100])  # the file changed, the sidecar did not
    with pytest.raises(InputError, match="sidecar belongs to another file"):
        read_depth(tmp_path / "e.npy")


def test_sidecar_depth_is_resized_with_its_K(tmp_path, moto_depth):
    Z, K = moto_depth
    path, _ = tx.export_depth(tmp_path / "d.exr", Z, K, metric=True)
    back = read_depth(path, size=(370, 250))
    assert back.values.shape == (250, 370) and back.K[0, 0] == pytest.approx(F * 370 / 741)
