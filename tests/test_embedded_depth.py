"""Depth that phones store inside the photo (core/embedded.py), on files the tests write.

HEIC: skimage's chelsea photo + an 8-bit depth image attached as a HEIF auxiliary depth item with
a depth_representation_info SEI (tests/phone_depth_files.py; Debian's heif-info reads them the
same way). JPEG: the same photo with GDepth XMP (main APP1 packet, or extended XMP when large).
"""
from __future__ import annotations

import base64
import logging

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pillow_heif")
skdata = pytest.importorskip("skimage.data")

from depth_addon.core import embedded as emb  # noqa: E402
from depth_addon.core.errors import InputError  # noqa: E402
from depth_addon.core.images import load_image  # noqa: E402
from depth_addon.core.pipeline import Settings, estimate_depth, run  # noqa: E402
from tests.phone_depth_files import (corrupt_depth_image, encode_gdepth,  # noqa: E402
                                     write_gdepth_jpeg, write_heif_with_depth)

H, W = 300, 450  # chelsea cropped to an even width (HEVC 4:2:0)


@pytest.fixture(scope="module")
def chelsea():
    return np.ascontiguousarray(np.asarray(skdata.chelsea())[:H, :W])


def scene_depth(h=H, w=W):
    """Metric depth in metres: a floor-like ramp 1.5..3.5 m and a near box at 0.8 m."""
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    z = 3.5 - 2.0 * v / (h - 1)
    z[h // 5: h // 2, w // 6: w // 3] = 0.8
    return z


def _messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "depth_addon"]


# --------------------------------------------------------------------------------------------------
# HEIF


@pytest.mark.parametrize("rep,name", [(2, "uniform Z"), (0, "uniform inverse Z")])
def test_heif_metric_depth_reaches_depth_result(tmp_path, chelsea, rep, name):
    zn, zf = 0.5, 4.0
    z = scene_depth(H // 2, W // 2)  # phones store depth at a lower resolution
    t = (z - zn) / (zf - zn) if rep == 2 else (1 / z - 1 / zf) / (1 / zn - 1 / zf)
    q = np.rint(t * 255).astype(np.uint8)
    p = tmp_path / "portrait.heic"
    write_heif_with_depth(p, chelsea, q, rep_type=rep, z_near=zn, z_far=zf)
    photo = load_image(p)
    res = estimate_depth(photo, settings=Settings())
    assert res.kind == "metric" and res.values.shape == (H, W)
    assert res.source == f"embedded HEIF depth image ({name}, 0.5-4 m)"
    big = scene_depth()
    inner = np.ones((H, W), bool)  # away from the box's resampled edges
    inner[H // 5 - 3: H // 2 + 3, W // 6 - 3: W // 3 + 3] = False
    inner[H // 5 + 3: H // 2 - 3, W // 6 + 3: W // 3 - 3] = True
    step = (zf - zn) / 255 if rep == 2 else None
    err = np.abs(res.values - big)[inner]
    if rep == 2:
        assert err.max() < 1.5 * step
    else:  # inverse Z steps are coarser far away: compare in 1/Z
        assert np.abs(1 / res.values - 1 / big)[inner].max() < 1.5 * (1 / zn - 1 / zf) / 255


def test_heif_10_bit_depth_keeps_the_full_range(tmp_path, chelsea):
    zn, zf = 0.5, 4.0
    z = scene_depth(H // 2, W // 2)
    v10 = np.rint((z - zn) / (zf - zn) * 1023).astype(np.uint16)
    p = tmp_path / "deep.heic"
    write_heif_with_depth(p, chelsea, v10 << 6, rep_type=2, z_near=zn, z_far=zf)
    res = estimate_depth(load_image(p), settings=Settings())
    assert res.kind == "metric"
    assert res.values.min() == pytest.approx(0.8, abs=0.5 * 3.5 / 1023)
    assert res.values.max() == pytest.approx(3.5, abs=0.5 * 3.5 / 1023)


def test_heif_disparity_without_baseline_is_disparity(tmp_path, chelsea):
    z = scene_depth(H // 2, W // 2)
    d = 1.0 / z  # disparity-like, larger = nearer
    dmin, dmax = float(d.min()), float(d.max())
    q = np.rint((d - dmin) / (dmax - dmin) * 255).astype(np.uint8)
    p = tmp_path / "disp.heic"
    write_heif_with_depth(p, chelsea, q, rep_type=1, d_min=dmin, d_max=dmax)
    res = estimate_depth(load_image(p), settings=Settings())
    assert res.kind == "disparity" and res.source.startswith("embedded HEIF depth image "
                                                             "(uniform disparity")
    # resized to the photo like pixel disparities (x width ratio 2): the ratios are the file's
    assert res.values.min() == pytest.approx(2 * dmin, rel=1e-3)
    assert res.values.max() == pytest.approx(2 * dmax, rel=1e-3)
    assert res.values[H // 3, W // 4] == pytest.approx(2 / 0.8, rel=0.02)  # the near box


def test_apple_disparity_is_metric_inverse_depth(tmp_path, chelsea):
    """An iPhone's disparity is 1/Z in 1/m (AVDepthData): metric depth, as far as Apple documents."""
    z = scene_depth(H // 2, W // 2)
    d = 1.0 / z
    dmin, dmax = float(d.min()), float(d.max())
    q = np.rint((d - dmin) / (dmax - dmin) * 255).astype(np.uint8)
    p = tmp_path / "IMG_0001.heic"
    write_heif_with_depth(p, chelsea, q, rep_type=1, d_min=dmin, d_max=dmax, make="Apple")
    res = estimate_depth(load_image(p), settings=Settings())
    assert res.kind == "metric" and "in 1/m (Apple)" in res.source, res.source
    assert res.values.min() == pytest.approx(0.8, rel=0.01)
    assert res.values.max() == pytest.approx(3.5, rel=0.01)


def test_heif_range_free_inverse_depth_is_inverse(tmp_path, chelsea):
    q = np.tile(np.linspace(0, 255, W // 2).astype(np.uint8), (H // 2, 1))
    p = tmp_path / "inv.heic"
    write_heif_with_depth(p, chelsea, q, rep_type=0)
    res = estimate_depth(load_image(p), settings=Settings())
    assert res.kind == "inverse" and "no range" in res.source
    assert res.values[:, -1].mean() > res.values[:, 0].mean()


def _square(h, w, stored_top_left=True):
    """uint8 map: 255 in a square near the top-left corner (of the stored picture), else 0."""
    a = np.zeros((h, w), np.uint8)
    a[h // 10: h // 10 + h // 4, w // 10: w // 10 + h // 4] = 255
    return a


@pytest.mark.parametrize("depth_rotated", [False, True])
def test_heif_rotated_photo_keeps_depth_and_colour_aligned(tmp_path, depth_rotated):
    # stored (sensor) pixels: a white square top-left in colour, the near square in the same place
    mark = _square(H, W)
    rgb = np.repeat(np.where(mark > 0, 250, 20).astype(np.uint8)[:, :, None], 3, axis=2)
    near = _square(H // 2, W // 2)  # near = small Z: q low for uniform Z
    q = np.where(near > 0, 10, 240).astype(np.uint8)
    p = tmp_path / "rot.heic"
    write_heif_with_depth(p, rgb, q, rep_type=2, z_near=0.5, z_far=4.0, orientation=6,
                          depth_orientation=6 if depth_rotated else 1)
    photo = load_image(p)
    assert photo.rgb.shape[:2] == (W, H)  # EXIF 6 / irot: portrait
    res = estimate_depth(photo, settings=Settings())
    assert res.values.shape == (W, H)
    white = photo.rgb[:, :, 0] > 0.5
    nearer = res.values < 2.0
    overlap = (white & nearer).sum() / max(white.sum(), 1)
    assert overlap > 0.9, overlap
    assert any("rotated like the photo" in n for n in res.notes) != depth_rotated


def test_heif_transform_semantics_match_pillow_heif(chelsea):
    """_apply_heif_transforms reproduces pillow-heif's own decoding for all EXIF orientations."""
    import io

    import pillow_heif

    from tests.phone_depth_files import _exif_orientation

    g = np.zeros((32, 48), np.uint8)
    g[:8, :12] = 255
    g[20:, 36:] = 128
    for o in range(1, 9):
        hf = pillow_heif.from_bytes(mode="L", size=(48, 32), data=g.tobytes())
        if o != 1:
            hf[0].info["exif"] = _exif_orientation(o)
        buf = io.BytesIO()
        hf.save(buf, quality=-1)
        back = pillow_heif.open_heif(io.BytesIO(buf.getvalue()))[0]
        decoded = np.asarray(back.to_pillow()).astype(int)
        mine = emb._apply_heif_transforms(g, emb._orientation_transforms(back)).astype(int)
        assert mine.shape == decoded.shape and np.abs(mine - decoded).max() <= 2, o


def test_unreadable_heif_depth_falls_back_to_the_model(tmp_path, chelsea, tiny_model_dir, caplog):
    q = np.full((H // 2, W // 2), 100, np.uint8)
    p = tmp_path / "broken.heic"
    write_heif_with_depth(p, chelsea, q, rep_type=2, z_near=0.5, z_far=4.0)
    corrupt_depth_image(p)
    photo = load_image(p)  # the colour still decodes
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        res = estimate_depth(photo, settings=Settings(model=str(tiny_model_dir)))
    assert res.kind == "inverse" and res.source == str(tiny_model_dir)
    msgs = _messages(caplog)
    assert any("cannot decode its HEIF depth image" in m and "using the depth model" in m
               for m in msgs), msgs
    with pytest.raises(InputError, match="cannot decode its HEIF depth image"):
        estimate_depth(photo, settings=Settings(embedded_depth="require"))


def test_invalid_heif_range_falls_back(tmp_path, chelsea, tiny_model_dir, caplog):
    p = tmp_path / "range.heic"
    write_heif_with_depth(p, chelsea, np.full((40, 60), 9, np.uint8), rep_type=2, z_near=4.0,
                          z_far=0.5)
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        res = estimate_depth(load_image(p), settings=Settings(model=str(tiny_model_dir)))
    assert res.source == str(tiny_model_dir)
    assert any("invalid depth range" in m for m in _messages(caplog))


def test_model_override_ignores_embedded_depth(tmp_path, chelsea, tiny_model_dir):
    p = tmp_path / "portrait.heic"
    write_heif_with_depth(p, chelsea, np.full((40, 60), 9, np.uint8), rep_type=2, z_near=0.5,
                          z_far=4.0)
    res = estimate_depth(load_image(p), settings=Settings(model=str(tiny_model_dir),
                                                          embedded_depth="ignore"))
    assert res.source == str(tiny_model_dir)


def test_require_without_embedded_depth(tmp_path, chelsea):
    p = tmp_path / "plain.jpg"
    Image.fromarray(chelsea).save(p)
    with pytest.raises(InputError, match="carries no depth of its own"):
        estimate_depth(load_image(p), settings=Settings(embedded_depth="require"))
    assert emb.has_embedded_depth(p) is None


def test_bad_embedded_setting():
    with pytest.raises(InputError, match="embedded depth must be one of"):
        Settings(embedded_depth="maybe").validate()


# --------------------------------------------------------------------------------------------------
# GDepth JPEG


@pytest.mark.parametrize("fmt,bits,extended", [("RangeInverse", 8, False),
                                               ("RangeLinear", 16, None)])
def test_gdepth_jpeg_reaches_depth_result(tmp_path, chelsea, fmt, bits, extended):
    near, far = 0.6, 5.0
    z = scene_depth()
    if bits == 16:  # sensor noise (1 cm): the 16-bit PNG is > 64 KB -> extended XMP
        z = z + 0.01 * np.random.default_rng(0).random(z.shape)
    png = encode_gdepth(z, fmt, near, far, bits=bits)
    p = tmp_path / "lensblur.jpg"
    write_gdepth_jpeg(p, chelsea, png, fmt=fmt, near=near, far=far, extended=extended)
    data = p.read_bytes()
    assert (b"HasExtendedXMP" in data) == (len(base64.b64encode(png)) > 60000)
    if bits == 16:
        assert b"HasExtendedXMP" in data
    assert emb.has_embedded_depth(p) == "gdepth"
    res = estimate_depth(load_image(p), settings=Settings())
    assert res.kind == "metric" and res.values.shape == (H, W)
    assert res.source == f"embedded GDepth depth map ({fmt}, {near:g}-{far:g} m)"
    top = 2 ** bits - 1
    if fmt == "RangeInverse":  # one code step in d_n at depth z is dz = z^2 (far-near)/(far near)
        tol = 0.6 * z ** 2 * (far - near) / (far * near) / top
    else:
        tol = 0.6 * (far - near) / top
    assert np.all(np.abs(res.values - z) <= tol + 1e-6)


def test_gdepth_units_mm_and_rotated_jpeg(tmp_path):
    # stored JPEG pixels (landscape) with EXIF orientation 6: shown as portrait
    mark = _square(H, W)
    rgb = np.repeat(np.where(mark > 0, 250, 20).astype(np.uint8)[:, :, None], 3, axis=2)
    z_mm = np.where(_square(H // 3, W // 3) > 0, 700.0, 2500.0)  # mm, stored orientation
    png = encode_gdepth(z_mm, "RangeLinear", 500.0, 3000.0)
    p = tmp_path / "rot.jpg"
    write_gdepth_jpeg(p, rgb, png, fmt="RangeLinear", near=500.0, far=3000.0, orientation=6,
                      units="mm")
    photo = load_image(p)
    assert photo.rgb.shape[:2] == (W, H)
    res = estimate_depth(photo, settings=Settings())
    assert res.kind == "metric" and res.values.shape == (W, H)
    assert 0.69 < res.values.min() < 0.72 and 2.4 < res.values.max() < 2.6  # metres
    white = photo.rgb[:, :, 0] > 0.5
    overlap = (white & (res.values < 1.5)).sum() / white.sum()
    assert overlap > 0.9, overlap


@pytest.mark.parametrize("case,message", [
    ("bad64", "not valid base64"),
    ("nonear", "GDepth:Near is missing"),
    ("badfmt", "unknown GDepth:Format"),
    ("notimage", "is not a readable image"),
    ("noext", "extended XMP"),
])
def test_broken_gdepth_falls_back_with_a_notice(tmp_path, chelsea, tiny_model_dir, caplog,
                                                case, message):
    png = encode_gdepth(scene_depth(60, 90), "RangeInverse", 1.0, 5.0)
    p = tmp_path / f"{case}.jpg"
    kw = dict(fmt="RangeInverse", near=1.0, far=5.0)
    if case == "bad64":
        kw["data_b64"] = "!!!not base64!!!"
    elif case == "notimage":
        kw["data_b64"] = base64.b64encode(b"definitely not a PNG").decode()
    elif case == "badfmt":
        kw["fmt"] = "RangeCubic"
    write_gdepth_jpeg(p, chelsea, png, extended=(case == "noext"), **kw)
    data = p.read_bytes()
    if case == "nonear":
        data = data.replace(b"GDepth:Near='1.0'", b"GDepth:Nxar='1.0'")
    elif case == "noext":  # drop the extended XMP segment(s): the main packet still points to it
        i = data.index(b"http://ns.adobe.com/xmp/extension/")
        n = int.from_bytes(data[i - 2:i], "big")
        data = data[:i - 4] + data[i - 2 + n:]
    p.write_bytes(data)
    photo = load_image(p)
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        res = estimate_depth(photo, settings=Settings(model=str(tiny_model_dir)))
    assert res.source == str(tiny_model_dir)
    assert any(message in m and "using the depth model" in m for m in _messages(caplog)), \
        _messages(caplog)


def test_gdepth_depth_reaches_the_mesh(tmp_path, chelsea):
    """pipeline.run: the mesh's vertex depths are the embedded metric depths."""
    near, far = 0.6, 5.0
    z = scene_depth()
    p = tmp_path / "lensblur.jpg"
    write_gdepth_jpeg(p, chelsea, encode_gdepth(z, "RangeInverse", near, far), near=near, far=far)
    result = run(str(p), settings=Settings(seconds=0.2, fps=5, fill_background=False))
    assert result.metric and result.depth.source.startswith("embedded GDepth")
    zs = result.mesh.positions[:, 2]  # OpenCV camera frame: z = depth
    assert zs.min() == pytest.approx(0.8, rel=0.02) and zs.max() == pytest.approx(3.5, rel=0.02)
