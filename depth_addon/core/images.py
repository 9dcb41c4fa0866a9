"""Load and validate pictures: EXIF orientation, 8/16-bit, alpha, grey, palette, CMYK, HEIC.

Every loader returns a :class:`Photo` whose ``rgb`` is float32 in [0, 1] and still sRGB-encoded
(the numbers stored in the file divided by the type's maximum; no colour management is applied).

Decoding is done with Pillow. Pillow decodes 16-bit-per-channel *colour* PNG/TIFF to 8 bits, so
those files (recognised from the decoder's raw mode, e.g. ``RGB;16B``) are decoded with OpenCV's
``IMREAD_UNCHANGED`` instead and the EXIF orientation is applied to the array here.
HEIC/HEIF/AVIF need the optional ``pillow-heif`` package (registered on first use).
"""
from __future__ import annotations

import math
import os
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
from PIL import ExifTags, Image, ImageOps

from .errors import InputError, notice

#: Smallest picture (each side, pixels) a 3D photo can be made from.
MIN_SIDE = 8
#: Pictures with more pixels than this are refused outright (decoding alone would need > 3 GB).
MAX_DECODE_PIXELS = 1_000_000_000

#: Diagonal of the 36 x 24 mm film frame, the reference of "35 mm equivalent" focal lengths.
FILM_DIAGONAL_MM = math.hypot(36.0, 24.0)  # 43.2666 mm

_HEIF_EXTS = (".heic", ".heif", ".hif", ".avif")
_PIL_LIMIT_LOCK = threading.Lock()
_heif_state: dict = {"tried": False, "ok": False}

# EXIF tags (Exif 2.32 / CIPA DC-008 numbering).
_TAG_ORIENTATION = 0x0112
_TAG_FOCAL_LENGTH = 0x920A
_TAG_FOCAL_35MM = 0xA405
_TAG_FOCAL_PLANE_XRES = 0xA20E
_TAG_FOCAL_PLANE_UNIT = 0xA210
_RES_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # inch, cm, mm, micrometre


@dataclass
class Photo:
    """A picture ready for depth estimation.

    Attributes:
        rgb: (H, W, 3) float32 in [0, 1], sRGB-encoded as stored in the file, upright (EXIF
            orientation applied) and possibly downscaled (see ``scale``).
        alpha: (H, W) float32 in [0, 1] (1 = opaque), or None when the picture has no alpha.
        path: the file it came from, or "" (``photo_from_array``).
        focal_px: focal length in pixels of ``rgb`` (already multiplied by ``scale``) read from
            EXIF, or None when the file does not say. See :func:`focal_from_exif`.
        original_size: (W, H) of the upright picture before any downscale.
        scale: new size / original size (1.0 when not downscaled).
        bit_depth: bits per sample in the file: 8, 16 or 32 (32 = float or 32-bit integer).
    """

    rgb: np.ndarray
    alpha: Optional[np.ndarray] = None
    path: str = ""
    focal_px: Optional[float] = None
    original_size: Tuple[int, int] = (0, 0)
    scale: float = 1.0
    bit_depth: int = 8

    @property
    def size(self) -> Tuple[int, int]:
        """(W, H) of ``rgb`` in pixels."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


# --------------------------------------------------------------------------------------------------
# public API


def load_image(path, *, max_pixels: int = 40_000_000) -> Photo:
    """Load a picture file as a :class:`Photo`.

    Args:
        path: file path (str or os.PathLike). JPEG, PNG (8/16-bit), TIFF (8/16-bit, float), WebP,
            BMP, GIF (first frame) and anything else Pillow reads; HEIC/HEIF/AVIF when
            ``pillow-heif`` is installed.
        max_pixels: if the upright picture has more than this many pixels it is downscaled (aspect
            kept) so that W*H <= max_pixels, with a notice. JPEGs are first reduced by the
            decoder (``Image.draft``: DCT scaling by 1/2, 1/4 or 1/8, never below the target),
            then every picture is resized to the target by area averaging (``cv2.INTER_AREA``)
            on its native samples (8-bit, 16-bit or float), before conversion to float.

    Returns:
        Photo with ``rgb`` (H, W, 3) float32 in [0, 1]; ``alpha`` (H, W) float32 or None.
        Grey (L, LA, I, I;16, F) is replicated to three channels; palette goes through RGBA (so
        transparency survives); CMYK is converted to RGB by Pillow (naive, no ICC profile).

    Raises:
        InputError: missing file ("no such file: PATH"), a directory, an empty file, a file
            Pillow cannot identify, a truncated/corrupt image (full decode is forced), a picture
            smaller than 8x8 px, a picture over 1 gigapixel, HEIC without pillow-heif, or
            ``max_pixels`` < 64.
    """
    path = os.fspath(path)
    if max_pixels < MIN_SIDE * MIN_SIDE:
        raise InputError(f"max_pixels must be at least {MIN_SIDE * MIN_SIDE}, got {max_pixels}")
    _check_file(path)
    ext = os.path.splitext(path)[1].lower()
    if ext in _HEIF_EXTS and not _register_heif():
        raise InputError(
            f"{path} is a {ext[1:].upper()} picture; install the 'pillow-heif' package to read it "
            "(pip install pillow-heif), or convert it to JPEG/PNG")

    try:
        with _pillow_pixel_limit(MAX_DECODE_PIXELS):  # Pillow's bomb check runs in open()
            im = Image.open(path)
    except Image.DecompressionBombError as exc:  # only above 2 GP, or a patched limit
        raise InputError(f"{path} is too large to decode safely ({_short(exc)})") from None
    except Exception as exc:  # UnidentifiedImageError (an OSError), SyntaxError, ValueError ...
        hint = _heif_hint(path)
        raise InputError(f"{path} is not an image Pillow can read ({_short(exc)}){hint}") from None
    try:
        return _load_opened(im, path, max_pixels)
    finally:
        im.close()


def photo_from_array(arr, name: str = "array") -> Photo:
    """Wrap a numpy picture as a :class:`Photo` (no orientation, no downscale, no EXIF).

    Args:
        arr: (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA array; uint8 (/255), uint16
            (/65535), bool, or float (taken as already in [0, 1]; values outside are clipped).
        name: used in error messages only.

    Returns:
        Photo with ``path`` "" and ``focal_px`` None.

    Raises:
        InputError: wrong shape or dtype, non-finite floats, or smaller than 8x8.
    """
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise InputError(f"{name} has shape {a.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    if a.dtype == np.uint8:
        f, bits = a.astype(np.float32) / 255.0, 8
    elif a.dtype == np.uint16:
        f, bits = a.astype(np.float32) / 65535.0, 16
    elif a.dtype == np.bool_:
        f, bits = a.astype(np.float32), 8
    elif np.issubdtype(a.dtype, np.floating):
        f, bits = a.astype(np.float32), 32
        if not np.all(np.isfinite(f)):
            raise InputError(f"{name} contains NaN or infinite values")
        if f.size and (f.min() < 0.0 or f.max() > 1.0):
            notice(f"{name} has values outside [0, 1] ({f.min():.3g}..{f.max():.3g}); clipped")
            f = np.clip(f, 0.0, 1.0)
    else:
        raise InputError(f"{name} has dtype {a.dtype}; expected uint8, uint16, bool or float")
    h, w = f.shape[:2]
    _check_min_size(name, w, h)
    rgb, alpha = _split_channels(f)
    return Photo(rgb=rgb, alpha=alpha, path="", focal_px=None, original_size=(w, h), scale=1.0,
                 bit_depth=bits)


def to_uint8(rgb) -> np.ndarray:
    """Convert a picture to (H, W, 3) uint8 for display or saving.

    Args:
        rgb: (H, W, 3) or (H, W) float in [0, 1] (clipped; NaN -> 0), uint8 (returned as is), or
            uint16 (rounded to 8 bits).

    Returns:
        (H, W, 3) uint8, C-contiguous.

    Raises:
        InputError: any other shape or dtype.
    """
    a = np.asarray(rgb)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise InputError(f"expected an (H, W, 3) picture, got shape {a.shape}")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == np.uint16:
        return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        f = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        return (np.clip(f, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    raise InputError(f"cannot convert a {a.dtype} picture to 8 bits")


def focal_from_exif(exif: Optional[Image.Exif], size: Tuple[int, int]) -> Optional[float]:
    """Focal length in pixels from EXIF tags, for an upright picture of ``size`` (W, H).

    Order of preference:

    1. ``FocalLengthIn35mmFilm`` (f35, mm). The 35 mm-equivalent focal length keeps the picture's
       angle of view on a 36 x 24 mm frame; we use the *diagonal* convention (the "crop factor"
       is the ratio of diagonals): ``f_px = f35 / 43.27 mm * hypot(W, H)``. It is independent of
       later resizing, which is why it is preferred.
    2. ``FocalLength`` (mm) with ``FocalPlaneXResolution`` / ``FocalPlaneResolutionUnit`` (pixels
       per unit on the sensor): ``f_px = f_mm * xres / unit_mm``. Only right if the file still has
       the sensor's pixel count, so it is used only when (1) is missing.

    Returns None when neither is present or the values are implausible (f35 outside 4..3000 mm).
    """
    if exif is None:
        return None
    try:
        ifd = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # malformed EXIF must never stop a photo from loading
        return None
    w, h = size

    def num(tag):
        v = ifd.get(tag, exif.get(tag))
        try:
            v = float(v)
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        return v if math.isfinite(v) and v > 0 else None

    f35 = num(_TAG_FOCAL_35MM)
    if f35 is not None and 4.0 <= f35 <= 3000.0:
        return f35 / FILM_DIAGONAL_MM * math.hypot(w, h)
    f_mm, xres = num(_TAG_FOCAL_LENGTH), num(_TAG_FOCAL_PLANE_XRES)
    unit = ifd.get(_TAG_FOCAL_PLANE_UNIT, 2)
    if f_mm is not None and xres is not None and unit in _RES_UNIT_MM:
        f_px = f_mm * xres / _RES_UNIT_MM[unit]
        if 0.05 * max(w, h) <= f_px <= 50.0 * max(w, h):
            return f_px
    return None


# --------------------------------------------------------------------------------------------------
# internals


def _load_opened(im: Image.Image, path: str, max_pixels: int) -> Photo:
    w0, h0 = im.size
    if w0 * h0 > MAX_DECODE_PIXELS:
        raise InputError(f"{path} is {w0}x{h0} ({w0 * h0 / 1e6:.0f} MP); pictures over "
                         f"{MAX_DECODE_PIXELS // 1_000_000} MP are refused, downscale it first")
    _check_min_size(path, w0, h0)
    # Pillow decodes 16-bit colour to 8 bits: such files are decoded by OpenCV instead. Decide
    # before getexif(), which for PNG decodes the pixels and drops the tile.
    high_colour = (any(s in _rawmode(im) for s in (";16", ";32"))
                   and im.mode in ("RGB", "RGBA", "LA", "PA"))
    try:
        if high_colour:  # EXIF from the header chunks only: no wasted 8-bit decode
            exif = Image.Exif()
            if im.info.get("exif"):
                exif.load(im.info["exif"])
        else:
            exif = im.getexif()
    except Exception:
        exif = None
    orientation = _orientation(exif)
    upright = (h0, w0) if orientation in (5, 6, 7, 8) else (w0, h0)
    target = _target_size(upright, max_pixels)

    if high_colour:
        arr, bits = _decode_cv2(path)
        arr = _orient_array(arr, orientation)
    else:
        frames = int(getattr(im, "n_frames", 1) or 1)
        if frames > 1 and im.format in ("GIF", "PNG", "WEBP"):  # animated (APNG, GIF, WebP)
            notice(f"{os.path.basename(path)} is animated ({frames} frames); using the first frame")
        if target is not None and im.format == "JPEG":
            # The decoder scales by 1/2..1/8 while decoding: far less memory and time.
            dw, dh = (target[1], target[0]) if orientation in (5, 6, 7, 8) else target
            im.draft(None, (dw, dh))
        try:
            im.load()
        except MemoryError:
            raise InputError(f"{path} ({w0}x{h0}) is too large to decode in memory") from None
        except Exception as exc:  # OSError "image file is truncated", zlib.error, SyntaxError ...
            raise InputError(f"{path} is truncated or corrupt ({_short(exc)})") from None
        if target is not None:
            # Box-reduce by a whole factor first (never below the target), so that no full-size
            # copy of a huge picture is made after decoding (exif_transpose, numpy, convert).
            sw, sh = (target[1], target[0]) if orientation in (5, 6, 7, 8) else target
            k = int(min(im.size[0] / sw, im.size[1] / sh))
            if k >= 2 and im.mode in ("L", "LA", "RGB", "RGBA", "CMYK", "P", "I", "F", "I;16"):
                try:
                    src = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info
                                     else "RGB") if im.mode == "P" else im
                    reduced = src.reduce(k)
                    reduced.info = dict(im.info)
                    reduced.format = im.format
                    im.close()
                    im = reduced
                except (ValueError, NotImplementedError):  # a mode reduce() does not support
                    pass
        if im.mode == "CMYK":
            notice(f"{os.path.basename(path)} is CMYK; converted to RGB")
        try:
            im = ImageOps.exif_transpose(im)
        except Exception:  # bad orientation data: keep the stored orientation
            pass
        arr, bits = _pil_to_array(im, path)
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        notice(f"{os.path.basename(path)} is stored rotated/mirrored (EXIF orientation "
               f"{orientation}); turned upright to {upright[0]}x{upright[1]}")

    if target is not None and arr.shape[1::-1] != target:
        import cv2  # imported lazily: loading small pictures needs no OpenCV

        # Area averaging: a proper anti-aliased reduction for any factor, on the native dtype
        # (uint8 / uint16 / float32) and several times faster than Pillow's Lanczos here.
        arr = cv2.resize(arr, target, interpolation=cv2.INTER_AREA)
    arr = _to_unit_float(arr)
    h, w = arr.shape[:2]
    scale = 1.0
    if target is not None:
        h, w = arr.shape[:2]
        scale = w / upright[0]
        notice(f"photo is {upright[0]}x{upright[1]} ({_mp(upright[0] * upright[1])}); "
               f"downscaled to {w}x{h} ({_mp(w * h)}) for depth")
    rgb, alpha = _split_channels(arr)
    focal = focal_from_exif(exif, upright)  # in original pixels ...
    if focal is not None:
        focal *= scale  # ... then on the (possibly downscaled) grid of ``rgb``
    return Photo(rgb=rgb, alpha=alpha, path=path, focal_px=focal, original_size=upright,
                 scale=float(scale), bit_depth=bits)


def _mp(n: int) -> str:
    return f"{n / 1e6:.0f} MP" if n >= 10e6 else f"{n / 1e6:.1f} MP"


def _check_file(path: str) -> None:
    if not path:
        raise InputError("no picture file given")
    if os.path.isdir(path):
        raise InputError(f"{path} is a directory, not a picture file")
    if not os.path.exists(path):
        raise InputError(f"no such file: {path}")
    try:
        size = os.path.getsize(path)
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise InputError(f"cannot read {path} ({exc.strerror or exc})") from None
    if size == 0:
        raise InputError(f"{path} is an empty file (0 bytes)")


def _check_min_size(name: str, w: int, h: int) -> None:
    if w < MIN_SIDE or h < MIN_SIDE:
        raise InputError(f"{name} is {w}x{h} px; a 3D photo needs at least {MIN_SIDE}x{MIN_SIDE}")


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:160]


def _heif_hint(path: str) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(32)
    except OSError:
        return ""
    if head[4:8] == b"ftyp" and not _register_heif():
        return "; it looks like HEIC/HEIF/AVIF: install 'pillow-heif' to read it"
    return ""


def _register_heif() -> bool:
    """Register pillow-heif's opener once; True if HEIC/HEIF can be read."""
    if not _heif_state["tried"]:
        _heif_state["tried"] = True
        try:
            import pillow_heif  # optional dependency

            pillow_heif.register_heif_opener()
            _heif_state["ok"] = True
        except Exception:
            _heif_state["ok"] = False
    return _heif_state["ok"]


@contextmanager
def _pillow_pixel_limit(limit: int):
    """Temporarily raise Pillow's decompression-bomb limit so that big-but-legit photos open.

    Pillow raises DecompressionBombError above 2 x ``Image.MAX_IMAGE_PIXELS`` (default 89.5 MP) and
    warns above it. We set the limit to ``limit`` (Pillow's error only above 2 x ``limit``), silence
    the warning, and restore the previous value afterwards. Our own header check in
    :func:`load_image` refuses anything above ``limit`` with an InputError before decoding; the lock
    keeps concurrent loads consistent.
    """
    with _PIL_LIMIT_LOCK:
        old = Image.MAX_IMAGE_PIXELS
        if old is not None and old < limit:
            Image.MAX_IMAGE_PIXELS = limit
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS = old


def _orientation(exif) -> int:
    try:
        o = int(exif.get(_TAG_ORIENTATION, 1)) if exif is not None else 1
    except (TypeError, ValueError):
        return 1
    return o if 1 <= o <= 8 else 1


def _orient_array(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an (H, W[, C]) array, as ImageOps.exif_transpose does."""
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:
        a = np.swapaxes(a, 0, 1)
    elif orientation == 6:
        a = np.rot90(a, -1)
    elif orientation == 7:
        a = np.swapaxes(a, 0, 1)[::-1, ::-1]
    elif orientation == 8:
        a = np.rot90(a, 1)
    return np.ascontiguousarray(a)


def _target_size(size: Tuple[int, int], max_pixels: int) -> Optional[Tuple[int, int]]:
    """(W, H) with W*H <= max_pixels and the same aspect, or None if ``size`` already fits."""
    w, h = size
    if w * h <= max_pixels:
        return None
    s = math.sqrt(max_pixels / (w * h))
    tw, th = max(MIN_SIDE, int(w * s)), max(MIN_SIDE, int(h * s))
    while tw * th > max_pixels and max(tw, th) > MIN_SIDE:  # guard against float rounding
        if tw * h >= th * w:
            tw -= 1
        else:
            th -= 1
    return tw, th


def _rawmode(im: Image.Image) -> str:
    try:
        args = im.tile[0][3] if im.tile else ""
    except Exception:
        return ""
    if isinstance(args, tuple):
        args = args[0] if args else ""
    return args if isinstance(args, str) else ""


def _decode_cv2(path: str) -> Tuple[np.ndarray, int]:
    """Decode 16-bit colour PNG/TIFF with OpenCV: ((H, W, C) RGB(A) uint8/uint16/float32, bits)."""
    import cv2

    try:
        buf = np.fromfile(path, dtype=np.uint8)  # np.fromfile: works with non-ASCII paths
        a = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except (OSError, cv2.error) as exc:
        raise InputError(f"{path} is truncated or corrupt ({_short(exc)})") from None
    if a is None:
        raise InputError(f"{path} is truncated or corrupt (OpenCV could not decode it)")
    if a.ndim == 3 and a.shape[2] == 3:
        a = a[:, :, ::-1]
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, [2, 1, 0, 3]]
    if a.dtype in (np.uint8, np.uint16):
        return a, (8 if a.dtype == np.uint8 else 16)
    f = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(f, 0.0, 1.0), 32


def _to_8bit_mode(im: Image.Image) -> Image.Image:
    """Convert any 8-bit Pillow mode to L, LA, RGB or RGBA (alpha kept)."""
    if im.mode == "P" or im.mode == "PA":
        return im.convert("RGBA")
    if im.mode == "1":
        return im.convert("L")
    if im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return im.convert("RGB")
    return im


def _pil_to_array(im: Image.Image, path: str) -> Tuple[np.ndarray, int]:
    """A loaded Pillow image -> ((H, W[, 2|3|4]) uint8 / uint16 / float32 array, bit depth).

    uint8 and uint16 arrays hold the file's samples; float32 arrays are already in [0, 1].
    """
    mode = im.mode
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), 16
    if mode == "I":
        a = np.asarray(im)
        if a.size and a.min() >= 0 and a.max() <= 65535:  # 16-bit data in a 32-bit container
            return a.astype(np.uint16), 16
        return np.clip(a.astype(np.float64) / 2147483647.0, 0.0, 1.0).astype(np.float32), 32
    if mode == "F":
        a = np.asarray(im).astype(np.float32)
        if not np.all(np.isfinite(a)):
            notice(f"{path} has NaN/infinite samples; set to 0")
            a = np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=0.0)
        if a.size and (a.min() < 0.0 or a.max() > 1.0):
            notice(f"{path} has float samples outside [0, 1] ({a.min():.3g}..{a.max():.3g}); "
                   "clipped")
        return np.clip(a, 0.0, 1.0), 32
    im = _to_8bit_mode(im)
    if im.mode not in ("L", "LA", "RGB", "RGBA"):
        try:
            im = im.convert("RGBA" if "A" in im.mode else "RGB")
        except Exception as exc:
            raise InputError(f"{path} uses the unsupported image mode {mode} ({_short(exc)})") \
                from None
    return np.asarray(im), 8


def _to_unit_float(a: np.ndarray) -> np.ndarray:
    """uint8 / uint16 samples -> float32 in [0, 1] (one allocation); float32 passes through."""
    if a.dtype == np.uint8:
        f = a.astype(np.float32)
        f /= 255.0
        return f
    if a.dtype == np.uint16:
        f = a.astype(np.float32)
        f /= 65535.0
        return f
    return np.clip(a.astype(np.float32, copy=False), 0.0, 1.0)


def _split_channels(a: np.ndarray) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """(H, W[, C]) float32 -> ((H, W, 3) contiguous float32, (H, W) alpha or None)."""
    if a.ndim == 2:
        return np.ascontiguousarray(np.repeat(a[:, :, None], 3, axis=2), dtype=np.float32), None
    c = a.shape[2]
    if c == 1:
        return _split_channels(a[:, :, 0])
    if c == 2:  # grey + alpha
        rgb, _ = _split_channels(a[:, :, 0])
        return rgb, np.ascontiguousarray(a[:, :, 1], dtype=np.float32)
    rgb = np.ascontiguousarray(a[:, :, :3], dtype=np.float32)
    alpha = np.ascontiguousarray(a[:, :, 3], dtype=np.float32) if c >= 4 else None
    return rgb, alpha
