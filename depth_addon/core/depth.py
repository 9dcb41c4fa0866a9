"""Depth maps: the result type, conversions between kinds, and reading/writing depth files.

Kinds (the field's terms):
- ``"metric"``: depth Z along the optical axis in metres (larger = farther).
- ``"relative"``: depth Z up to an unknown scale (larger = farther).
- ``"inverse"``: relative inverse depth / disparity up to unknown scale and shift (larger = nearer);
  what Depth Anything and MiDaS output.
- ``"disparity"``: stereo disparity in pixels (larger = nearer); metric with f (px) and baseline (m).

This module also cleans maps (:func:`sanitize`: NaN/inf/non-positive samples are filled from the
nearest valid pixel), converts any kind to positive depth Z (:func:`to_depth`), previews maps
(:func:`colormap`), resamples them (:func:`resize_depth`) and reads/writes ``.png`` (16-bit inverse
depth, white = near), ``.exr`` and ``.npy`` (float32 as is) and reads ``.tif``/``.tiff``.
"""
from __future__ import annotations

import os

# OpenCV only reads EXR when this is set. OpenCV 4.11 reads it at the first EXR access, but older
# builds read it when cv2 is imported, so set it before our ``import cv2``; an explicit user
# setting (e.g. "0") is respected.
os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")

from dataclasses import dataclass, field, replace  # noqa: E402
from typing import Optional, Tuple  # noqa: E402

import numpy as np  # noqa: E402


class _LazyCV2:
    """OpenCV imported on first use, so DepthResult (and the add-on's UI) import without it."""

    def __getattr__(self, name):
        import cv2 as _cv2

        return getattr(_cv2, name)


cv2 = _LazyCV2()

from .errors import InputError, notice  # noqa: E402
from .files import check_new_file  # noqa: E402

KINDS = ("metric", "relative", "inverse", "disparity")


@dataclass
class DepthResult:
    """A depth estimate aligned with the photo's pixel grid.

    Attributes:
        values: (H, W) float32 map of the given ``kind`` (see module doc); finite where ``valid``.
        kind: one of :data:`KINDS`.
        valid: (H, W) bool, True where ``values`` is a measurement (False = filled or unknown).
        K: (3, 3) float64 intrinsics of the photo in pixels (OpenCV convention: pixel centres at
            integer coordinates), or None when unknown (the pipeline then assumes a field of view).
        confidence: optional (H, W) float32 in [0, 1].
        source: short human-readable origin ("stereo SGBM", model id, file path).
        notes: notices produced while making it.
    """

    values: np.ndarray
    kind: str
    valid: np.ndarray
    K: Optional[np.ndarray] = None
    confidence: Optional[np.ndarray] = None
    source: str = ""
    notes: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown depth kind {self.kind!r}; expected one of {KINDS}")
        if self.values.ndim != 2:
            raise ValueError(f"depth values must be (H, W), got shape {self.values.shape}")
        if self.valid.shape != self.values.shape:
            raise ValueError("valid mask shape differs from depth shape")


# --------------------------------------------------------------------------------------------------
# cleaning, conversion, preview

#: Depth file extensions :func:`read_depth` and :func:`write_depth` understand.
DEPTH_EXTS = (".png", ".exr", ".npy", ".tif", ".tiff")
#: Below this fraction of usable pixels a depth map is refused.
MIN_VALID_FRACTION = 0.01
_POSITIVE_KINDS = ("metric", "relative", "disparity")


def _check_kind(kind: str, allow_auto: bool = False) -> None:
    ok = KINDS + (("auto",) if allow_auto else ())
    if kind not in ok:
        raise InputError(f"unknown depth kind {kind!r}; expected one of {', '.join(ok)}")


def _usable(values: np.ndarray, kind: str) -> np.ndarray:
    """(H, W) bool: finite, and > 0 for kinds where zero or negative values mean nothing."""
    ok = np.isfinite(values)
    if kind in _POSITIVE_KINDS:
        with np.errstate(invalid="ignore"):
            ok &= values > 0
    return ok


def fill_nearest(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Give every pixel where ``valid`` is False the value of its nearest valid pixel.

    Args:
        values: (H, W) float array; only entries where ``valid`` is True are read.
        valid: (H, W) bool, at least one True.

    Returns:
        (H, W) float32 copy; valid pixels unchanged.

    Method: ``cv2.distanceTransformWithLabels`` with ``DIST_LABEL_PIXEL`` labels every pixel with
    its nearest valid pixel (Borgefors' chamfer approximation of Euclidean distance, 5x5 mask);
    a lookup table maps labels to values. Unlike ``cv2.inpaint`` (Telea) it never blends depths
    across an edge -- blending invents intermediate surfaces that become rubber sheets in the
    mesh --, keeps exact float values (no 8-bit normalised copy) and is O(H*W) for any hole size.
    """
    out = np.asarray(values, dtype=np.float32).copy()
    valid = np.asarray(valid, dtype=bool)
    if valid.all():
        return out
    if not valid.any():
        raise InputError("depth map has no usable values to fill from")
    seeds = np.where(valid, 0, 255).astype(np.uint8)  # zero pixels are the label sources
    _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    lut = np.zeros(int(labels.max()) + 1, dtype=np.float32)
    lut[labels[valid]] = out[valid]
    return lut[labels]


def sanitize(values, kind: str) -> Tuple[np.ndarray, np.ndarray]:
    """Mark unusable depth samples invalid and fill them from their nearest valid neighbour.

    Args:
        values: (H, W) numeric array of the given ``kind``.
        kind: one of :data:`KINDS`. NaN and +/-inf are always invalid; for ``"metric"``,
            ``"relative"`` and ``"disparity"`` values <= 0 are invalid too (no depth, or the
            "no match" codes of stereo matchers). ``"inverse"`` maps have an unknown shift, so
            zero and negative values are legitimate there.

    Returns:
        (values (H, W) float32 finite everywhere, valid (H, W) bool). Filling: :func:`fill_nearest`.

    Raises:
        InputError: unknown kind, not 2-D, not numeric, or fewer than 1 % usable pixels
            ("depth map has no usable values ...").
    """
    _check_kind(kind)
    v = np.asarray(values)
    if v.ndim != 2:
        raise InputError(f"depth map must be (H, W), got shape {v.shape}")
    if not (np.issubdtype(v.dtype, np.integer) or np.issubdtype(v.dtype, np.floating)):
        raise InputError(f"depth map has dtype {v.dtype}; expected integers or floats")
    v = v.astype(np.float32)
    valid = _usable(v, kind)
    n = int(valid.sum())
    what = "NaN/inf/≤0" if kind in _POSITIVE_KINDS else "NaN/inf"
    if n == 0:
        raise InputError(f"depth map has no usable values (all {what})")
    if n < MIN_VALID_FRACTION * v.size:
        raise InputError(f"depth map has no usable values (only {100.0 * n / v.size:.2f} % of "
                         f"pixels are usable; the rest is {what})")
    if n < v.size:
        v = fill_nearest(v, valid)
    return v, valid


def to_depth(result: DepthResult, *, depth_range: float = 6.0) -> Tuple[np.ndarray, bool]:
    """Convert any depth result to positive depth Z along the optical axis.

    Args:
        result: a DepthResult. Only pixels that are ``valid``, finite (and > 0 for metric,
            relative and disparity) drive the percentiles; other unusable pixels are filled with
            :func:`fill_nearest` first.
        depth_range: far / near ratio (> 1) assumed for maps whose scale and shift are unknown.

    Returns:
        (Z (H, W) float32 > 0, is_metric). Per kind:

        - ``"metric"``: Z = values (metres), is_metric True.
        - ``"relative"``: Z = values / p1, so the 1st percentile (the near content) is 1.0.
        - ``"disparity"`` (zero shift, Z proportional to 1/d): Z = d_ref / max(d, d_ref / (4 *
          depth_range)) with d_ref the 99th percentile of d; near content ~ 1, the far clip at
          4 * depth_range. Metric depth needs f and the baseline (see ``stereo``).
        - ``"inverse"`` (unknown scale *and* shift, as MiDaS / Depth Anything): w is mapped
          linearly so that its 1st / 99th percentiles become 1/depth_range / 1 (clipped outside),
          then Z = 1 / w: near ~ 1, far ~ depth_range scene units. Any affine-invariant inverse
          depth needs such an assumed range (cf. Ranftl et al., "Towards Robust Monocular Depth
          Estimation", TPAMI 2022, which defines the scale-and-shift ambiguity).

        Z is non-decreasing in the values for metric/relative and non-increasing for inverse and
        disparity.

    Raises:
        InputError: unknown kind, depth_range <= 1, or no usable pixels.
    """
    _check_kind(result.kind)
    if not (np.isfinite(depth_range) and depth_range > 1.0):
        raise InputError(f"depth range must be > 1 (far / near), got {depth_range}")
    kind = result.kind
    v = np.asarray(result.values, dtype=np.float32)
    usable = _usable(v, kind)
    ref = usable & np.asarray(result.valid, dtype=bool)
    if not ref.any():
        ref = usable
    if not ref.any():
        raise InputError("depth map has no usable values (all NaN/inf/≤0)")
    if not usable.all():
        v = fill_nearest(v, usable)
    if kind == "metric":
        return v.copy(), True
    if kind == "relative":
        p1 = float(np.percentile(v[ref], 1.0))
        return (v / p1).astype(np.float32), False
    if kind == "disparity":
        d_ref = float(np.percentile(v[ref], 99.0))
        d = np.maximum(v, d_ref / (4.0 * depth_range))
        return (d_ref / d).astype(np.float32), False
    lo, hi = (float(x) for x in np.percentile(v[ref], [1.0, 99.0]))
    if not hi > lo:
        notice("depth map is flat (1st and 99th percentiles are equal); using a constant depth")
        return np.ones_like(v, dtype=np.float32), False
    t = np.clip((v - lo) / (hi - lo), 0.0, 1.0)
    w = 1.0 / depth_range + t * (1.0 - 1.0 / depth_range)
    return (1.0 / w).astype(np.float32), False


def _nearness(values: np.ndarray, kind: str) -> np.ndarray:
    """Larger = nearer, NaN where unusable: 1/Z for depth kinds, values for inverse/disparity."""
    v = np.asarray(values, dtype=np.float32)
    ok = _usable(v, kind)
    with np.errstate(divide="ignore", invalid="ignore"):
        n = 1.0 / v if kind in ("metric", "relative") else v.copy()
    n[~ok] = np.nan
    return n


def colormap(values, kind: str) -> np.ndarray:
    """Colour preview of a depth map (OpenCV's Turbo colormap, near = warm/red, far = blue).

    Args:
        values: (H, W) map of the given kind.
        kind: one of :data:`KINDS`. Depth kinds are shown as 1/Z (inverse depth spreads colours
            where the eye looks: the near content).

    Returns:
        (H, W, 3) uint8 RGB; the 1st..99th percentiles of the usable values span the colormap;
        unusable pixels (NaN/inf, <= 0 for depth kinds) are black.

    Raises:
        InputError: unknown kind or not 2-D.
    """
    _check_kind(kind)
    v = np.asarray(values)
    if v.ndim != 2:
        raise InputError(f"depth map must be (H, W), got shape {v.shape}")
    n = _nearness(v, kind)
    ok = np.isfinite(n)
    out = np.zeros(v.shape + (3,), dtype=np.uint8)
    if not ok.any():
        return out
    lo, hi = (float(x) for x in np.percentile(n[ok], [1.0, 99.0]))
    t = np.clip((n - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.full_like(n, 0.5)
    u8 = (np.nan_to_num(t, nan=0.0) * 255.0 + 0.5).astype(np.uint8)
    rgb = cv2.applyColorMap(u8, cv2.COLORMAP_TURBO)[:, :, ::-1]
    out[ok] = rgb[ok]
    return out


def resize_depth(result: DepthResult, size: Tuple[int, int]) -> DepthResult:
    """Resample a depth result to ``size`` = (W, H) pixels (silent; callers give notices).

    Values use ``cv2.INTER_AREA`` when both sides shrink (no aliasing) and ``cv2.INTER_LINEAR``
    otherwise; unusable values are filled first so NaN does not spread. ``valid`` is resized with
    nearest neighbour, ``confidence`` linearly. Disparities (pixels) are multiplied by the width
    ratio; K is rescaled for the pixel-centre convention (u' = (u + 0.5) * s - 0.5).

    Returns:
        A new DepthResult (the input is not modified); the same object if the size already matches.

    Raises:
        InputError: size not two positive integers, or no usable values.
    """
    try:
        w, h = (int(x) for x in size)
    except (TypeError, ValueError):
        raise InputError(f"depth size must be (width, height), got {size!r}") from None
    if w < 1 or h < 1:
        raise InputError(f"depth size must be positive, got {w}x{h}")
    h0, w0 = result.values.shape
    if (w, h) == (w0, h0):
        return result
    sx, sy = w / w0, h / h0
    interp = cv2.INTER_AREA if (sx < 1.0 and sy < 1.0) else cv2.INTER_LINEAR
    v = np.asarray(result.values, dtype=np.float32)
    finite = np.isfinite(v)
    if not finite.all():
        v = fill_nearest(v, finite)
    values = cv2.resize(v, (w, h), interpolation=interp)
    if result.kind == "disparity":
        values = values * np.float32(sx)
    valid = cv2.resize(np.asarray(result.valid, dtype=np.uint8), (w, h),
                       interpolation=cv2.INTER_NEAREST).astype(bool)
    conf = None
    if result.confidence is not None:
        conf = np.clip(cv2.resize(np.asarray(result.confidence, dtype=np.float32), (w, h),
                                  interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    K = None
    if result.K is not None:
        K = np.array(result.K, dtype=np.float64, copy=True)
        K[0, 0] *= sx
        K[0, 1] *= sx
        K[1, 1] *= sy
        K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
        K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return replace(result, values=values.astype(np.float32), valid=valid, K=K, confidence=conf,
                   notes=list(result.notes))


# --------------------------------------------------------------------------------------------------
# files


def _check_ext(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in DEPTH_EXTS:
        raise InputError(f"{path}: unsupported depth file type {ext or '(no extension)'!r}; "
                         f"supported: {', '.join(DEPTH_EXTS)}")
    return ext


def _read_raw(path: str, ext: str) -> Tuple[np.ndarray, bool]:
    """(the file's samples as stored: (H, W), (H, W, C) or any npy array; True if BGR order)."""
    if ext == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except Exception as exc:  # ValueError (pickled / bad header), OSError, EOFError
            raise InputError(f"{path} is not a readable .npy depth map ({exc})") from None
        if not isinstance(a, np.ndarray):
            raise InputError(f"{path} does not hold a single array")
        return a, False
    try:
        buf = np.fromfile(path, dtype=np.uint8)  # works with non-ASCII paths, unlike cv2.imread
        a = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else "cv2.error"
        if ext == ".exr" and "OPENEXR" in str(exc).upper():
            raise InputError(f"cannot read {path}: OpenCV's EXR reader is disabled "
                             "(set OPENCV_IO_ENABLE_OPENEXR=1)") from None
        raise InputError(f"{path} is not a depth map OpenCV can read ({msg})") from None
    except OSError as exc:
        raise InputError(f"cannot read {path} ({exc})") from None
    if a is None and ext in (".tif", ".tiff"):
        a = _read_tiff_pillow(path)
        if a is not None:
            return a, False
    if a is None:
        raise InputError(f"{path} is not a depth map OpenCV can read (corrupt, truncated or not "
                         f"a {ext[1:].upper()} file)")
    return a, True


def _read_tiff_pillow(path: str) -> Optional[np.ndarray]:
    try:
        from PIL import Image

        with Image.open(path) as im:
            im.load()
            return np.asarray(im)
    except Exception:
        return None


def _first_channel(a: np.ndarray, bgr: bool, path: str, notes: list) -> np.ndarray:
    if a.ndim > 2:
        a = np.squeeze(a)
        if a.ndim == 2:
            return a
    if a.ndim == 2:
        return a
    if a.ndim != 3:
        raise InputError(f"{path} holds a {a.ndim}-D array {a.shape}; expected (H, W)")
    if a.shape[2] <= 4:
        chans = [a[:, :, i] for i in range(a.shape[2])]
        if bgr and a.shape[2] in (3, 4):
            chans[0], chans[2] = chans[2], chans[0]  # OpenCV gives BGR(A): first = red
    elif a.shape[0] <= 4:
        chans = [a[i] for i in range(a.shape[0])]
    else:
        raise InputError(f"{path} holds an array of shape {a.shape}; expected (H, W)")
    msg = f"depth map {os.path.basename(path)} has {len(chans)} channels; using the first"
    if len(chans) >= 3 and not (np.array_equal(chans[0], chans[1])
                                and np.array_equal(chans[0], chans[2])):
        msg += " (the colour channels differ: is this a colour-mapped preview, not a depth map?)"
    _note(notes, msg)
    return chans[0]


def _check_negative(raw: np.ndarray, kind: str, name: str, notes: list) -> None:
    """A depth (or disparity) map with many negative samples is not one: refuse it, clearly."""
    with np.errstate(invalid="ignore"):
        neg = int(np.count_nonzero(raw < 0))
    if neg == 0:
        return
    finite = raw[np.isfinite(raw)] if np.issubdtype(raw.dtype, np.floating) else raw
    lo, hi = float(finite.min()), float(finite.max())
    share = 100.0 * neg / raw.size
    if neg >= MIN_VALID_FRACTION * raw.size:
        hint = ("if larger values are nearer (inverse depth with a shift), pass --depth-kind inverse"
                if kind != "disparity" else "a disparity must be >= 0")
        raise InputError(f"depth map {name} has negative values ({lo:.3g}..{hi:.3g}, {share:.0f} % "
                         f"below 0) but {kind} depth must be > 0; {hint}")


def _note(notes: list, msg: str) -> None:
    notes.append(msg)
    notice(msg)


def read_depth(path, kind: str = "auto", *,
               size: Optional[Tuple[int, int]] = None) -> DepthResult:
    """Read a depth map file.

    Formats: ``.png`` (8/16-bit, read with ``cv2.IMREAD_UNCHANGED``), ``.tif``/``.tiff``
    (integer or float; Pillow as fallback), ``.exr`` (float; OpenCV's OpenEXR codec), ``.npy``
    (``allow_pickle=False``). Integer samples are returned as raw counts (0..255 / 0..65535) as
    float32 -- e.g. a metric PNG in millimetres must be divided by 1000 by the caller.
    Multi-channel files: the first channel (red) is used, with a notice.

    Args:
        path: file path.
        kind: one of :data:`KINDS`, or ``"auto"``: a file with a sidecar ``FILE.json`` written
            by :mod:`depth_addon.core.textures` is decoded as the sidecar says
            (:func:`depth_addon.core.textures.read_depth_with_sidecar`: metric depth and K come
            back); otherwise integer files (8/16-bit PNG/TIFF, integer npy)
            -> ``"inverse"``, the usual convention of depth maps exported from MiDaS / Depth
            Anything (white = near); float files (EXR, float TIFF/npy) -> ``"relative"`` depth
            (larger = farther). Give the kind explicitly when the file says otherwise (a sidecar
            is then ignored, with a notice).
        size: (W, H) of the photo; if the map differs it is resized (:func:`resize_depth`) with a
            notice.

    Returns:
        DepthResult with ``values`` (H, W) float32 cleaned by :func:`sanitize`, ``valid`` (H, W)
        bool, ``K`` None, ``source`` the path and ``notes`` the notices given.

    Raises:
        InputError: missing file, a directory, empty file, unsupported extension, unreadable or
            corrupt file, wrong array shape, unknown kind, fewer than 1 % usable values, an
            invalid sidecar.
    """
    path = os.fspath(path)
    _check_kind(kind, allow_auto=True)
    if os.path.isdir(path):
        raise InputError(f"{path} is a directory, not a depth map file")
    if not os.path.exists(path):
        raise InputError(f"no such file: {path}")
    ext = _check_ext(path)
    if os.path.getsize(path) == 0:
        raise InputError(f"{path} is an empty file (0 bytes)")
    from .textures import read_depth_with_sidecar, read_sidecar, sidecar_path

    meta = read_sidecar(path) if os.path.isfile(sidecar_path(path)) else None
    if meta is not None:
        if kind == "auto":
            return read_depth_with_sidecar(path, meta, size=size)
        notice(f"{os.path.basename(path)}: depth kind {kind!r} given, so its sidecar "
               f"{os.path.basename(sidecar_path(path))} is ignored")
    notes: list = []
    raw = _first_channel(*_read_raw(path, ext), path, notes)
    if raw.dtype == np.bool_ or not (np.issubdtype(raw.dtype, np.integer)
                                     or np.issubdtype(raw.dtype, np.floating)):
        raise InputError(f"{path} holds {raw.dtype} values; expected integers or floats")
    if kind == "auto":
        kind = "inverse" if np.issubdtype(raw.dtype, np.integer) else "relative"
    name = os.path.basename(path)
    if kind in _POSITIVE_KINDS:
        _check_negative(raw, kind, name, notes)
    try:
        values, valid = sanitize(raw, kind)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    n_bad = int(valid.size - valid.sum())
    if n_bad:
        _note(notes, f"depth map {name}: {n_bad} of its samples ({100.0 * n_bad / valid.size:.2g} %) are "
                     f"{'NaN/inf/≤0' if kind in _POSITIVE_KINDS else 'NaN/inf'}; "
                     f"filled from their neighbours")
    if kind != "inverse" and float(values.max()) == float(values.min()):  # inverse: to_depth says it
        _note(notes, f"depth map {name} is flat (every value is {float(values.min()):.6g}): "
                     f"the 3D photo is a flat plane, with no parallax")
    result = DepthResult(values=values, kind=kind, valid=valid, source=path, notes=notes)
    if size is not None:
        w, h = (int(x) for x in size)
        h0, w0 = values.shape
        if (w, h) != (w0, h0):
            msg = f"depth map is {w0}x{h0} but the photo is {w}x{h}; resized the depth map"
            if abs(w0 / h0 - w / h) > 0.01 * (w / h):
                msg += " (the aspect ratios differ: it is stretched)"
            result = resize_depth(result, (w, h))
            _note(result.notes, msg)
    return result


def write_depth(path, values, *, kind: str, overwrite: bool = False) -> str:
    """Write a depth map file; the format follows the extension.

    - ``.png``: 16-bit greyscale of *inverse* depth (1/Z for metric/relative, the values
      themselves for inverse/disparity), min..max of the finite values mapped to 0..65535 so
      white = near -- the convention of exported MiDaS / Depth Anything maps, so
      ``read_depth(path)`` gives it back as ``"inverse"`` (scale and shift are lost; precision
      1/65535 of the range). Unusable pixels (NaN/inf, <= 0 for depth kinds) are written 0.
    - ``.exr``: float32 values as they are (``IMWRITE_EXR_TYPE_FLOAT``, lossless).
    - ``.npy``: float32 values as they are.
    EXR and NPY do not store the kind: pass it to :func:`read_depth`.

    Args:
        path: target file; its folder must exist.
        values: (H, W) numeric array of the given kind.
        kind: one of :data:`KINDS`.
        overwrite: replace an existing file.

    Returns:
        The path written (str).

    Raises:
        InputError: unsupported extension, folder missing, file exists and not ``overwrite``,
            not 2-D, no finite values (PNG), or the write failed.
    """
    path = os.fspath(path)
    _check_kind(kind)
    ext = _check_ext(path)
    if ext in (".tif", ".tiff"):
        raise InputError(f"{path}: writing TIFF depth is not supported; use .png, .exr or .npy")
    check_new_file(path, overwrite=overwrite, what="depth file")
    v = np.asarray(values)
    if v.ndim != 2:
        raise InputError(f"depth map must be (H, W), got shape {v.shape}")
    v = v.astype(np.float32)
    try:
        if ext == ".npy":
            with open(path, "wb") as f:
                np.save(f, v, allow_pickle=False)
            return path
        if ext == ".exr":
            ok, buf = cv2.imencode(".exr", v, [cv2.IMWRITE_EXR_TYPE, cv2.IMWRITE_EXR_TYPE_FLOAT])
        else:
            q, _lo, _hi = png16_inverse(v, kind, path)
            ok, buf = cv2.imencode(".png", q)
        if not ok:
            raise InputError(f"OpenCV could not encode {path}")
        buf.tofile(path)
    except cv2.error as exc:
        raise InputError(f"could not write {path} ({str(exc).strip().splitlines()[-1]})") from None
    except OSError as exc:
        raise InputError(f"could not write {path} ({exc.strerror or exc})") from None
    return path


def png16_inverse(values, kind: str, path: str = "depth map") -> Tuple[np.ndarray, float, float]:
    """Quantise a map to the 16-bit inverse-depth PNG samples :func:`write_depth` writes.

    Args:
        values: (H, W) map of ``kind``; path: named in the error message only.
    Returns:
        (q (H, W) uint16, lo, hi): with w = 1/Z for metric/relative (the values for
        inverse/disparity), q = round((w - lo) / (hi - lo) * 65535), lo/hi = min/max of the usable
        w, so w = lo + (hi - lo) * q / 65535 (q = 0 also marks unusable pixels).
    Raises:
        InputError: no usable values.
    """
    n = _nearness(np.asarray(values, dtype=np.float32), kind)
    ok_px = np.isfinite(n)
    if not ok_px.any():
        raise InputError(f"nothing to write to {path}: the depth map has no usable values")
    lo, hi = float(n[ok_px].min()), float(n[ok_px].max())
    scale = 65535.0 / (hi - lo) if hi > lo else 0.0
    q = np.zeros(n.shape, dtype=np.uint16)
    q[ok_px] = np.rint((n[ok_px].astype(np.float64) - lo) * scale).astype(np.uint16)
    return q, lo, hi


def displacement_range(Z: np.ndarray, *, low: float = 0.5, high: float = 99.5) -> Tuple[float, float]:
    """(lo, hi): the ``low``/``high`` percentiles of 1/Z that :func:`displacement_map` maps to 0/1.

    Args:
        Z: (H, W) depth > 0 (any units; lo/hi are in 1/those units).
    Raises:
        InputError: if Z has no finite positive value.
    """
    z = np.asarray(Z, dtype=np.float64)
    ok = np.isfinite(z) & (z > 0)
    if not ok.any():
        raise InputError("depth map has no usable values (all NaN/inf/<=0)")
    lo, hi = np.percentile(1.0 / z[ok], [low, high])
    return float(lo), float(hi)


def displacement_map(Z: np.ndarray, *, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Displacement texture of a depth map: inverse depth normalised to [0, 1], 1 = near.

    Inverse depth (not depth) is what a displacement along the view direction of a plane facing
    the camera approximates best for a pinhole view (parallax is linear in 1/Z).

    Args:
        Z: (H, W) depth > 0 (any units).
        low, high: percentiles of 1/Z mapped to 0 and 1 (robust to outliers; values are clipped).
    Returns:
        (H, W) float32 in [0, 1].
    Raises:
        InputError: if Z has no finite positive value.
    """
    z = np.asarray(Z, dtype=np.float64)
    lo, hi = displacement_range(z, low=low, high=high)  # raises InputError when nothing is usable
    ok = np.isfinite(z) & (z > 0)
    w = np.zeros_like(z)
    w[ok] = 1.0 / z[ok]
    n = (w - lo) / max(hi - lo, 1e-12)
    n[~ok] = 0.0
    return np.clip(n, 0.0, 1.0).astype(np.float32)
