"""Tests for depth_addon.core.images (no bpy).

Real photos: skimage's astronaut (512x512) and coffee (400x600). Bad and exotic files are made in
tmp_path with Pillow / OpenCV / raw bytes.
"""
from __future__ import annotations

import logging
import math
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

cv2 = pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")

from depth_addon.core import images as im_mod  # noqa: E402
from depth_addon.core.errors import InputError  # noqa: E402
from depth_addon.core.images import Photo, load_image, photo_from_array, to_uint8  # noqa: E402


@pytest.fixture(scope="module")
def astronaut():
    return skdata.astronaut()


@pytest.fixture(scope="module")
def coffee():
    return skdata.coffee()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _insert_png_chunk(png: bytes, kind: bytes, data: bytes) -> bytes:
    """Insert a chunk right after IHDR (8-byte signature + 25-byte IHDR chunk)."""
    return png[:33] + _png_chunk(kind, data) + png[33:]


# ------------------------------------------------------------------------------------------------
# bad inputs


def test_missing_file(tmp_path):
    p = tmp_path / "nope.jpg"
    with pytest.raises(InputError, match="no such file: .*nope.jpg"):
        load_image(p)


def test_directory(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        load_image(tmp_path)


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        load_image(p)


def test_non_image_file(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not a picture\n" * 20)
    with pytest.raises(InputError, match="is not an image Pillow can read") as ei:
        load_image(p)
    assert "\n" not in str(ei.value)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image(tmp_path, coffee, fmt):
    full = tmp_path / f"full.{fmt.lower()}"
    Image.fromarray(coffee).save(full, fmt)
    data = full.read_bytes()
    cut = tmp_path / f"cut.{fmt.lower()}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_image(cut)
    load_image(full)  # the intact file loads


def test_truncated_16bit_colour_png(tmp_path):
    a = (np.random.default_rng(0).random((64, 64, 3)) * 65535).astype(np.uint16)
    ok, buf = cv2.imencode(".png", a)
    data = buf.tobytes()
    p = tmp_path / "cut16.png"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_image(p)


@pytest.mark.parametrize("w,h", [(1, 1), (7, 100), (100, 5)])
def test_too_small(tmp_path, w, h):
    p = tmp_path / "tiny.png"
    Image.new("RGB", (w, h), (10, 20, 30)).save(p)
    with pytest.raises(InputError, match=f"is {w}x{h} px; a 3D photo needs at least 8x8"):
        load_image(p)


def test_8x8_is_enough(tmp_path):
    p = tmp_path / "small.png"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(p)
    assert load_image(p).rgb.shape == (8, 8, 3)


def test_absurd_size_refused_from_header(tmp_path):
    # A PNG whose header claims 40000x30000 (1.2 gigapixels): refused before any decoding.
    ihdr = struct.pack(">IIBBBBB", 40000, 30000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) \
        + _png_chunk(b"IEND", b"")
    p = tmp_path / "huge.png"
    p.write_bytes(png)
    with pytest.raises(InputError, match="40000x30000 .*refused"):
        load_image(p)


def test_pillow_bomb_limit_raised_and_restored(tmp_path, astronaut, monkeypatch):
    # With Pillow's limit far below the picture size Image.open alone would raise
    # DecompressionBombError; load_image must still load it and restore the limit.
    p = tmp_path / "a.png"
    Image.fromarray(astronaut).save(p)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(p)
    photo = load_image(p)
    assert photo.rgb.shape == (512, 512, 3)
    assert Image.MAX_IMAGE_PIXELS == 50_000


def test_heic_without_pillow_heif(tmp_path, monkeypatch):
    p = tmp_path / "phone.heic"
    p.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    monkeypatch.setattr(im_mod, "_heif_state", {"tried": True, "ok": False})
    with pytest.raises(InputError, match="install the 'pillow-heif' package"):
        load_image(p)


def test_heic_with_pillow_heif(tmp_path, coffee):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    p = tmp_path / "coffee.heic"
    Image.fromarray(coffee).save(p, quality=95)
    photo = load_image(p)
    assert photo.rgb.shape == coffee.shape
    assert np.abs(to_uint8(photo.rgb).astype(int) - coffee).mean() < 6


def test_max_pixels_too_small(tmp_path, coffee):
    p = tmp_path / "c.png"
    Image.fromarray(coffee).save(p)
    with pytest.raises(InputError, match="max_pixels"):
        load_image(p, max_pixels=10)


# ------------------------------------------------------------------------------------------------
# orientation


def test_exif_orientation_6_rotates_jpeg(tmp_path):
    h, w = 40, 60
    a = np.zeros((h, w, 3), np.uint8)
    a[:, :] = (0, 0, 255)
    a[:12, :12] = (255, 0, 0)  # red block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = tmp_path / "rot.jpg"
    Image.fromarray(a).save(p, exif=exif, quality=95)
    photo = load_image(p)
    assert photo.rgb.shape == (w, h, 3)
    assert photo.original_size == (h, w)
    # after a 90 degree clockwise turn the stored top-left is at the top-right
    tr, tl = photo.rgb[2, -3], photo.rgb[2, 2]
    assert tr[0] > 0.8 and tr[2] < 0.2, tr
    assert tl[2] > 0.8 and tl[0] < 0.2, tl


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_array_matches_pillow(orientation):
    a = np.random.default_rng(orientation).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    pil = Image.fromarray(a)
    exif = pil.getexif()
    exif[0x0112] = orientation
    pil.info["exif"] = exif.tobytes()
    ref = np.asarray(ImageOps.exif_transpose(pil))
    np.testing.assert_array_equal(im_mod._orient_array(a, orientation), ref)


def test_16bit_colour_png_keeps_precision_and_orientation(tmp_path):
    rng = np.random.default_rng(1)
    rgb16 = rng.integers(0, 65536, (30, 50, 3), dtype=np.uint16)
    ok, buf = cv2.imencode(".png", rgb16[:, :, ::-1].copy())  # OpenCV writes BGR
    exif = Image.Exif()
    exif[0x0112] = 6
    png = _insert_png_chunk(buf.tobytes(), b"eXIf", exif.tobytes()[6:])  # raw TIFF, no "Exif\0\0"
    p = tmp_path / "fötö16.png"  # non-ASCII name: the OpenCV path must cope
    p.write_bytes(png)
    photo = load_image(p)
    assert photo.bit_depth == 16
    expected = np.rot90(rgb16, -1)
    assert photo.rgb.shape == expected.shape
    np.testing.assert_array_equal(np.rint(photo.rgb * 65535).astype(np.uint16), expected)


# ------------------------------------------------------------------------------------------------
# bit depths and modes


def test_16bit_grey_png_keeps_precision(tmp_path):
    ramp = np.arange(64 * 1024, dtype=np.uint32).reshape(64, 1024)  # 0..65535, every value
    g16 = ramp.astype(np.uint16)
    p = tmp_path / "g16.png"
    Image.fromarray(g16).save(p)
    photo = load_image(p)
    assert photo.bit_depth == 16
    back = np.rint(photo.rgb[:, :, 1] * 65535).astype(np.uint16)
    np.testing.assert_array_equal(back, g16)
    assert len(np.unique(photo.rgb[:, :, 0])) > 256 * 100  # far beyond 8-bit precision


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_rgb_files(tmp_path, astronaut, ext):
    rgb16 = astronaut.astype(np.uint16) * 257 + 3  # low byte carries information
    p = tmp_path / f"a16{ext}"
    cv2.imwrite(str(p), rgb16[:, :, ::-1].copy())
    photo = load_image(p)
    assert photo.bit_depth == 16 and photo.alpha is None
    np.testing.assert_array_equal(np.rint(photo.rgb * 65535).astype(np.uint16), rgb16)


def test_rgba_alpha_is_separate(tmp_path, coffee):
    h, w = coffee.shape[:2]
    alpha = np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))
    p = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([coffee, alpha])).save(p)
    photo = load_image(p)
    assert photo.rgb.shape == (h, w, 3) and photo.alpha.shape == (h, w)
    assert photo.rgb.dtype == np.float32 and photo.alpha.dtype == np.float32
    np.testing.assert_array_equal(to_uint8(photo.rgb), coffee)  # colour untouched by alpha
    np.testing.assert_allclose(photo.alpha, alpha / 255.0, atol=1e-6)


def test_16bit_rgba_png(tmp_path):
    rng = np.random.default_rng(2)
    a = rng.integers(0, 65536, (20, 24, 4), dtype=np.uint16)
    p = tmp_path / "rgba16.png"
    cv2.imwrite(str(p), a[:, :, [2, 1, 0, 3]].copy())
    photo = load_image(p)
    np.testing.assert_array_equal(np.rint(photo.rgb * 65535).astype(np.uint16), a[:, :, :3])
    np.testing.assert_array_equal(np.rint(photo.alpha * 65535).astype(np.uint16), a[:, :, 3])


def test_greyscale_modes(tmp_path, astronaut):
    grey = np.asarray(Image.fromarray(astronaut).convert("L"))
    for mode, ext in [("L", "png"), ("LA", "png"), ("1", "png"), ("I", "tif"), ("F", "tif")]:
        src = Image.fromarray(grey)
        if mode == "F":
            src = Image.fromarray(grey.astype(np.float32) / 255.0)
        elif mode != "L":
            src = src.convert(mode)
        p = tmp_path / f"g_{mode}.{ext}"
        src.save(p)
        photo = load_image(p)
        assert photo.rgb.shape == (512, 512, 3), mode
        assert np.array_equal(photo.rgb[:, :, 0], photo.rgb[:, :, 2]), mode
        if mode in ("L", "LA", "F"):
            assert np.abs(photo.rgb[:, :, 0] * 255 - grey).max() < 0.01, mode
        assert (photo.alpha is not None) == (mode == "LA"), mode


def test_palette_with_transparency(tmp_path):
    pal = Image.new("P", (16, 12))
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    px = np.zeros((12, 16), np.uint8)
    px[:, 8:] = 1
    pal.putdata(px.ravel().tolist())
    pal.info["transparency"] = 1
    p = tmp_path / "pal.png"
    pal.save(p, transparency=1)
    photo = load_image(p)
    assert photo.rgb.shape == (12, 16, 3)
    np.testing.assert_allclose(photo.rgb[0, 0], [1, 0, 0])
    np.testing.assert_allclose(photo.rgb[0, -1], [0, 1, 0])
    assert photo.alpha is not None and photo.alpha[0, 0] == 1 and photo.alpha[0, -1] == 0


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG"])
def test_cmyk(tmp_path, coffee, fmt):
    p = tmp_path / f"cmyk.{fmt.lower()}"
    Image.fromarray(coffee).convert("CMYK").save(p, fmt)
    assert Image.open(p).mode == "CMYK"
    photo = load_image(p)
    assert photo.rgb.shape == coffee.shape
    err = np.abs(to_uint8(photo.rgb).astype(int) - coffee).mean()
    assert err < (0.01 if fmt == "TIFF" else 8), err


# ------------------------------------------------------------------------------------------------
# large pictures


def test_large_jpeg_downscaled_with_notice(tmp_path, astronaut, caplog):
    big = Image.fromarray(astronaut).resize((9000, 6000), Image.Resampling.NEAREST)
    p = tmp_path / "big.jpg"
    big.save(p, quality=85)
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        photo = load_image(p, max_pixels=10_000_000)
    h, w = photo.rgb.shape[:2]
    assert w * h <= 10_000_000
    assert w * h > 9_900_000  # not over-shrunk by the decoder's 1/2..1/8 steps
    assert abs(w / h - 1.5) < 0.001
    assert photo.original_size == (9000, 6000)
    assert photo.scale == pytest.approx(w / 9000)
    msgs = [r.getMessage() for r in caplog.records if r.name == "depth_addon"]
    assert any("photo is 9000x6000 (54 MP); downscaled to" in m for m in msgs), msgs
    # Same picture, full detail: close to an area reduction of the fully decoded file. (Reducing
    # too far in the decoder and upscaling back gives ~0.94 levels here; doing it right ~0.29.)
    with Image.open(p) as full:
        ref = cv2.resize(np.asarray(full.convert("RGB")), (w, h), interpolation=cv2.INTER_AREA)
    err = np.abs(to_uint8(photo.rgb).astype(int) - ref).mean()
    assert err < 0.6, err


def test_large_16bit_downscaled_by_area(tmp_path, caplog):
    a = np.tile(np.linspace(0, 65535, 400).astype(np.uint16), (200, 1))
    p = tmp_path / "wide16.png"
    Image.fromarray(a).save(p)
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        photo = load_image(p, max_pixels=20_000)
    h, w = photo.rgb.shape[:2]
    assert w * h <= 20_000 and (w, h) == (200, 100)
    assert photo.bit_depth == 16
    assert len(np.unique(photo.rgb[0, :, 0])) == w  # still smooth, not quantised to 8 bits
    assert any("downscaled to 200x100" in r.getMessage() for r in caplog.records)


def test_small_picture_not_downscaled(tmp_path, coffee, caplog):
    p = tmp_path / "c.jpg"
    Image.fromarray(coffee).save(p)
    with caplog.at_level(logging.INFO, logger="depth_addon"):
        photo = load_image(p)
    assert photo.scale == 1.0 and photo.original_size == (600, 400)
    assert not any("downscaled" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------------------------
# EXIF focal length


def test_focal_from_35mm_equivalent(tmp_path, astronaut):
    # A square picture: the diagonal convention (435.6 px) differs from a long-side one (369.8).
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 26  # FocalLengthIn35mmFilm
    p = tmp_path / "f.jpg"
    Image.fromarray(astronaut).save(p, exif=exif)
    photo = load_image(p)
    assert photo.focal_px == pytest.approx(26 / math.hypot(36, 24) * math.hypot(512, 512))
    photo_small = load_image(p, max_pixels=60_000)  # focal follows the downscale
    assert photo_small.focal_px == pytest.approx(photo.focal_px * photo_small.scale, rel=1e-6)


def test_focal_from_focal_plane_resolution(tmp_path, coffee):
    exif = Image.Exif()
    ifd = exif.get_ifd(0x8769)
    ifd[0x920A] = 4.0  # FocalLength, mm
    ifd[0xA20E] = 150.0  # FocalPlaneXResolution: pixels per unit
    ifd[0xA210] = 4  # unit: mm
    p = tmp_path / "fp.jpg"
    Image.fromarray(coffee).save(p, exif=exif)
    assert load_image(p).focal_px == pytest.approx(600.0)


def test_no_exif_no_focal(tmp_path, coffee):
    p = tmp_path / "plain.png"
    Image.fromarray(coffee).save(p)
    assert load_image(p).focal_px is None


# ------------------------------------------------------------------------------------------------
# arrays


def test_photo_from_array_dtypes_and_shapes(astronaut):
    p8 = photo_from_array(astronaut)
    assert isinstance(p8, Photo) and p8.rgb.dtype == np.float32 and p8.bit_depth == 8
    np.testing.assert_array_equal(to_uint8(p8.rgb), astronaut)
    p16 = photo_from_array(astronaut.astype(np.uint16) * 257)
    np.testing.assert_allclose(p16.rgb, p8.rgb, atol=1e-6)
    assert p16.bit_depth == 16
    grey = photo_from_array(astronaut[:, :, 0])
    assert grey.rgb.shape == (512, 512, 3)
    rgba = photo_from_array(np.dstack([astronaut, np.full(astronaut.shape[:2], 128, np.uint8)]))
    assert rgba.alpha.shape == (512, 512) and rgba.alpha[0, 0] == pytest.approx(128 / 255)
    f = photo_from_array(astronaut / 255.0)
    np.testing.assert_allclose(f.rgb, p8.rgb, atol=1e-6)
    assert f.original_size == (512, 512) and f.path == ""


@pytest.mark.parametrize("arr,words", [
    (np.zeros((10, 10, 2), np.uint8), "shape"),
    (np.zeros((10, 10), np.int32), "dtype"),
    (np.full((10, 10), np.nan, np.float32), "NaN"),
    (np.zeros((4, 10, 3), np.uint8), "4 px; a 3D photo needs at least 8x8"),
])
def test_photo_from_array_errors(arr, words):
    with pytest.raises(InputError, match=words):
        photo_from_array(arr, name="test")


def test_to_uint8():
    x = np.array([[[0.0, 0.5, 1.0], [2.0, -1.0, np.nan]]] * 8, np.float32)
    u = to_uint8(x)
    assert u.dtype == np.uint8 and u.shape == x.shape
    np.testing.assert_array_equal(u[0], [[0, 128, 255], [255, 0, 0]])
    np.testing.assert_array_equal(to_uint8(np.full((2, 2, 3), 65535, np.uint16)), 255)
    with pytest.raises(InputError):
        to_uint8(np.zeros((4, 4, 5), np.float32))


# --- issue 11 item 3: notices where a picture is changed, huge non-JPEG pictures ----------------

def test_cmyk_animated_and_rotated_pictures_are_noticed(tmp_path, coffee, caplog):
    caplog.set_level(logging.INFO, logger="depth_addon")
    pil = Image.fromarray(coffee)
    pil.convert("CMYK").save(tmp_path / "c.jpg")
    pil.save(tmp_path / "a.gif", save_all=True, append_images=[pil.transpose(Image.FLIP_TOP_BOTTOM)])
    exif = Image.Exif()
    exif[0x0112] = 8
    pil.save(tmp_path / "r.jpg", exif=exif.tobytes())
    load_image(str(tmp_path / "c.jpg"))
    load_image(str(tmp_path / "a.gif"))
    p = load_image(str(tmp_path / "r.jpg"))
    assert p.rgb.shape[:2] == (coffee.shape[1], coffee.shape[0])  # upright: portrait
    msgs = [r.getMessage() for r in caplog.records if r.name == "depth_addon"]
    assert "c.jpg is CMYK; converted to RGB" in msgs
    assert "a.gif is animated (2 frames); using the first frame" in msgs
    assert any(m.startswith("r.jpg is stored rotated/mirrored (EXIF orientation 8)") for m in msgs)


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P"])
def test_big_png_is_box_reduced_to_the_target(tmp_path, astronaut, mode):
    """Non-JPEG pictures over max_pixels: reduced by a whole factor right after decoding, then
    resized to exactly the target; colours kept."""
    big = Image.fromarray(astronaut).resize((2048, 1536))
    big = big.convert(mode) if mode != "P" else big.convert("P", palette=Image.ADAPTIVE)
    big.save(tmp_path / "big.png")
    p = load_image(str(tmp_path / "big.png"), max_pixels=100_000)
    h, w = p.rgb.shape[:2]
    assert w * h <= 100_000 and abs(w / h - 4 / 3) < 0.01 and w >= 360
    ref = np.asarray(big.convert("RGB").resize((w, h), Image.BOX), np.float32) / 255
    assert np.abs(p.rgb - ref).mean() < 0.03
    assert (p.alpha is not None) == (mode == "RGBA")
