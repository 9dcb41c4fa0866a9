"""Depth textures that carry their meaning: depth / displacement / normal maps + a JSON sidecar.

Every texture written here gets a sidecar ``FILE.EXT.json`` next to it (``depth.png`` ->
``depth.png.json``: the full file name plus ``.json``, so ``depth.png`` and ``depth.exr`` in one
folder keep separate sidecars). It says what the samples are and how to get depth back:

``kind``        "metric depth", "relative depth", "displacement (normalised inverse depth)" or
                "camera-space normals"; ``derived_from`` the kind of the estimate it was made
                from ("relative inverse depth" for a monocular model, "disparity" for stereo ...)
``units``       "m", or "relative" (scale unknown; near content ~ 1)
``near/far``    smallest / largest depth Z written, in ``units``
``encoding``    how a sample becomes depth (``formula`` in words + the numbers it uses)
``image_size``  [W, H]; ``focal_length_px``, ``K`` (3x3, pixels, OpenCV convention: pixel
                centres at integer coordinates, +x right, +y down, +z forward), ``fov_deg``
                (horizontal, vertical, diagonal)
``source``      {"type": model | stereo | file | embedded | example, "name": model id, stereo
                method, file path ...}

EXR files also get these fields as header attributes ``depth_addon:<field>`` (strings/floats,
``K`` as an M33f matrix) plus ``depth_addon:sidecar`` holding the whole JSON, when the ``OpenEXR``
package is installed: OpenCV, which writes EXR otherwise, cannot set header attributes
(``cv2.imwrite`` takes only compression/type flags), so without OpenEXR the EXR has none and
only the sidecar is written (with a notice).

:func:`read_depth_with_sidecar` reads such a file back (what ``--depth FILE`` does when
``FILE.json`` exists): the metric depth within 16-bit precision for PNG, exactly for EXR/NPY.
"""
from __future__ import annotations

import json
import math
import os
from typing import Optional, Tuple

import numpy as np

from .depth import (DepthResult, cv2, displacement_range, png16_inverse, resize_depth, sanitize,
                    write_depth)
from .errors import InputError, notice
from .files import check_new_file

SIDECAR_FORMAT = "depth_addon texture sidecar"
SIDECAR_VERSION = 1
#: kinds of DepthResult -> the words a sidecar uses
KIND_WORDS = {"metric": "metric depth", "relative": "relative depth",
              "inverse": "relative inverse depth", "disparity": "disparity"}
DEPTH_TEXTURE_EXTS = (".png", ".exr", ".npy")
DISPLACEMENT_EXTS = (".png", ".exr")
NORMAL_EXTS = (".png",)
EXR_PREFIX = "depth_addon:"
#: normal_map: a neighbour whose depth differs by more than this fraction of Z is across an edge
EDGE_JUMP = 0.05


def sidecar_path(path) -> str:
    """The sidecar of a texture file: its full name + ``.json`` (``d.png`` -> ``d.png.json``)."""
    return os.fspath(path) + ".json"


def source_info(depth: Optional[DepthResult], source_type: Optional[str] = None) -> dict:
    """{"type", "name", "kind"} of the estimate a texture comes from.

    ``source_type`` when the caller knows it, else read from ``depth.source``: "embedded ..." ->
    embedded, "stereo ..." -> stereo, an existing file -> file, anything else -> model.
    """
    name = getattr(depth, "source", "") or ""
    kind = getattr(depth, "kind", None)
    if source_type is None:
        if name.startswith("embedded"):
            source_type = "embedded"
        elif name.startswith("stereo"):
            source_type = "stereo"
        elif name and os.path.isfile(name):
            source_type = "file"
        else:
            source_type = "model"
    return {"type": source_type, "name": name, "kind": KIND_WORDS.get(kind, kind)}


def camera_info(K, size: Tuple[int, int]) -> dict:
    """image_size, focal_length_px, K and fov_deg for a (3, 3) K (pixels) and size (W, H)."""
    K = np.asarray(K, dtype=np.float64)
    w, h = (int(x) for x in size)
    fx, fy = float(K[0, 0]), float(K[1, 1])
    return {
        "image_size": [w, h],
        "focal_length_px": fx,
        "K": [[float(x) for x in row] for row in K],
        "fov_deg": {"horizontal": math.degrees(2 * math.atan(w / (2 * fx))),
                    "vertical": math.degrees(2 * math.atan(h / (2 * fy))),
                    "diagonal": math.degrees(2 * math.atan(math.hypot(w / fx, h / fy) / 2))},
        "camera_convention": "OpenCV pinhole: pixel centres at integer coordinates, +x right, "
                             "+y down, +z forward; Z is depth along the optical axis",
        "orientation": "upright (EXIF orientation applied); row 0 is the top of the picture",
    }


def _base(path: str, kind: str, Z: np.ndarray, K, metric: bool, depth: Optional[DepthResult],
          source_type: Optional[str], depth_range: Optional[float]) -> dict:
    z = np.asarray(Z, dtype=np.float64)
    ok = np.isfinite(z) & (z > 0)
    meta = {
        "format": SIDECAR_FORMAT,
        "version": SIDECAR_VERSION,
        "file": os.path.basename(path),
        "kind": kind,
        "derived_from": KIND_WORDS.get(getattr(depth, "kind", None), "metric depth"
                                       if metric else "relative depth"),
        "units": "m" if metric else "relative",
        "near": float(z[ok].min()) if ok.any() else None,
        "far": float(z[ok].max()) if ok.any() else None,
    }
    if not metric and depth is not None and depth.kind in ("inverse", "disparity") and depth_range:
        meta["assumed_depth_range"] = float(depth_range)
        meta["note"] = ("relative: the estimate had no scale; its 1st/99th percentiles were "
                        f"mapped to depths 1 and {depth_range:g} (far/near = --depth-range)")
    meta.update(camera_info(K, (z.shape[1], z.shape[0])))
    meta["source"] = source_info(depth, source_type)
    return meta


def _check_targets(path, exts, what: str, overwrite: bool) -> Tuple[str, str]:
    path = check_new_file(path, overwrite=overwrite, exts=exts, what=what)
    side = sidecar_path(path)
    if os.path.exists(side) and not overwrite:
        raise InputError(f"{side} exists; pass --overwrite to replace it")
    return path, side


def check_texture_targets(path, exts, what: str, overwrite: bool = False) -> str:
    """Check a texture path and its sidecar before any slow work (returns the absolute path).

    Raises:
        InputError: see :func:`depth_addon.core.files.check_new_file`; or the sidecar exists and
            ``overwrite`` is False.
    """
    return _check_targets(path, exts, what, overwrite)[0]


def _write_json(path: str, meta: dict) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
    except OSError as exc:
        raise InputError(f"could not write {path} ({exc.strerror or exc})") from None


def have_openexr() -> bool:
    """True if the ``OpenEXR`` package (which can write EXR header attributes) imports."""
    try:
        import OpenEXR  # noqa: F401
        return True
    except Exception:
        return False


def _write_exr(path: str, values: np.ndarray, meta: dict) -> bool:
    """Float32 single-channel EXR (channel "Y", ZIP); header attributes when OpenEXR is there.

    Returns True when the attributes were written, False when OpenCV wrote a plain EXR.
    """
    v = np.ascontiguousarray(values, dtype=np.float32)
    try:
        import OpenEXR
    except Exception:
        write_depth(path, v, kind="metric", overwrite=True)
        return False
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    for k, val in meta.items():
        key = EXR_PREFIX + k
        if k == "K":
            header[key] = np.asarray(val, dtype=np.float32).reshape(3, 3)
        elif isinstance(val, bool) or val is None:
            header[key] = json.dumps(val)
        elif isinstance(val, (int, float)):
            header[key] = float(val)
        elif isinstance(val, str):
            header[key] = val
        else:
            header[key] = json.dumps(val)
    header[EXR_PREFIX + "sidecar"] = json.dumps(meta)
    try:
        with OpenEXR.File(header, {"Y": v}) as f:
            f.write(path)
    except Exception as exc:
        raise InputError(f"could not write {path} ({exc})") from None
    return True


def read_exr_attributes(path) -> dict:
    """The ``depth_addon:*`` header attributes of an EXR (needs OpenEXR; {} without it)."""
    try:
        import OpenEXR
    except Exception:
        return {}
    with OpenEXR.File(os.fspath(path)) as f:
        return {k[len(EXR_PREFIX):]: v for k, v in f.header().items() if k.startswith(EXR_PREFIX)}


def _write_png16(path: str, q: np.ndarray) -> None:
    try:
        ok, buf = cv2.imencode(".png", q)
        if not ok:
            raise InputError(f"OpenCV could not encode {path}")
        buf.tofile(path)
    except OSError as exc:
        raise InputError(f"could not write {path} ({exc.strerror or exc})") from None


def export_depth(path, Z, K, *, metric: bool, depth: Optional[DepthResult] = None,
                 source_type: Optional[str] = None, depth_range: Optional[float] = None,
                 overwrite: bool = False) -> Tuple[str, str]:
    """Write depth Z as a texture + its sidecar; returns (texture path, sidecar path).

    Formats (by extension):

    - ``.png``: 16-bit grey of inverse depth, white = near (as :func:`write_depth`). Encoding:
      ``1/Z = a + (b - a) * q / 65535`` with a = 1/far, b = 1/near written in the sidecar
      (``encoding.inverse_depth_at_0`` / ``_at_65535``, in 1/units): the depth comes back within
      half a 16-bit step of 1/Z.
    - ``.exr``: float32 Z as is (channel "Y"), + header attributes (see module doc).
    - ``.npy``: float32 Z as is.

    Args:
        path: target file; Z: (H, W) float depth > 0 (metres when ``metric``); K: (3, 3) pixels.
        metric: Z in metres; depth: the estimate Z came from (its kind and source are recorded);
        source_type: override of :func:`source_info`'s guess; depth_range: the far/near ratio
            assumed for relative estimates (recorded).
        overwrite: replace the texture *and* its sidecar if they exist.
    Raises:
        InputError: wrong extension, folder missing, texture or sidecar exists without
            ``overwrite``, no usable values, write failure.
    """
    path, side = _check_targets(path, DEPTH_TEXTURE_EXTS, "depth file", overwrite)
    Z = np.asarray(Z, dtype=np.float32)
    if Z.ndim != 2:
        raise InputError(f"depth map must be (H, W), got shape {Z.shape}")
    kind = "metric depth" if metric else "relative depth"
    meta = _base(path, kind, Z, K, metric, depth, source_type, depth_range)
    ext = os.path.splitext(path)[1].lower()
    inv_units = "1/m" if metric else "1/relative units"
    if ext == ".png":
        q, lo, hi = png16_inverse(Z, "metric", path)
        meta["encoding"] = {
            "type": "png16_linear_inverse_depth",
            "formula": "Z = 1 / (a + (b - a) * q / 65535), q = 16-bit sample (white = near)",
            "a": lo, "b": hi, "inverse_depth_at_0": lo, "inverse_depth_at_65535": hi,
            "inverse_units": inv_units,
        }
        _write_png16(path, q)
    elif ext == ".exr":
        meta["encoding"] = {"type": "float32", "channel": "Y", "formula": "Z = value"}
        if not _write_exr(path, Z, meta):
            notice(f"{os.path.basename(path)}: no EXR header attributes (OpenCV cannot write "
                   "them; install the 'OpenEXR' package); the sidecar holds the metadata")
    else:
        meta["encoding"] = {"type": "float32", "formula": "Z = value"}
        write_depth(path, Z, kind="metric", overwrite=True)
    _write_json(side, meta)
    return path, side


def export_displacement(path, Z, K, *, metric: bool, depth: Optional[DepthResult] = None,
                        source_type: Optional[str] = None, depth_range: Optional[float] = None,
                        overwrite: bool = False) -> Tuple[str, str]:
    """Write a displacement texture (normalised inverse depth, 1 = near) + its sidecar.

    n = clip((1/Z - a) / (b - a), 0, 1) with a, b the 0.5th / 99.5th percentiles of 1/Z
    (:func:`depth_addon.core.depth.displacement_map`); PNG stores q = round(65535 n), EXR the
    float n. Sidecar ``encoding``: ``1/Z = a + (b - a) * n`` (exact between the percentiles;
    clipped pixels come back at the clip depths).

    Args / Raises: as :func:`export_depth` (extensions .png / .exr).
    """
    path, side = _check_targets(path, DISPLACEMENT_EXTS, "displacement texture", overwrite)
    Z = np.asarray(Z, dtype=np.float32)
    lo, hi = displacement_range(Z)
    w = 1.0 / np.maximum(Z.astype(np.float64), 1e-30)
    n = np.clip((w - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    meta = _base(path, "displacement (normalised inverse depth)", Z, K, metric, depth,
                 source_type, depth_range)
    ext = os.path.splitext(path)[1].lower()
    enc = {"formula": "1/Z = a + (b - a) * n, clipped to [0, 1] outside the 0.5th..99.5th "
                      "percentiles of 1/Z", "a": lo, "b": hi,
           "inverse_units": "1/m" if metric else "1/relative units"}
    if ext == ".png":
        enc.update(type="png16_normalised_inverse_depth", n="q / 65535")
        meta["encoding"] = enc
        _write_png16(path, np.rint(n * 65535.0).astype(np.uint16))
    else:
        enc.update(type="float32_normalised_inverse_depth", n="value", channel="Y")
        meta["encoding"] = enc
        if not _write_exr(path, n.astype(np.float32), meta):
            notice(f"{os.path.basename(path)}: no EXR header attributes (OpenCV cannot write "
                   "them; install the 'OpenEXR' package); the sidecar holds the metadata")
    _write_json(side, meta)
    return path, side


# --------------------------------------------------------------------------------------------------
# normals


def normal_map(Z, K) -> np.ndarray:
    """Camera-space unit normals of a depth map, OpenGL convention.

    Axes: +X right, +Y up, +Z towards the camera (out of the picture): a wall facing the camera
    is (0, 0, 1). Method: back-project every pixel, P = Z K^-1 (u, v, 1) (OpenCV frame), take
    the tangents dP/du, dP/dv by central differences -- except at a depth edge (one neighbour's
    depth differs by more than :data:`EDGE_JUMP` x Z and by more than twice the other's), where
    the one-sided difference towards the smaller change is used, so an edge does not bend the
    normals of the surfaces on either side --, n = dP/dv x dP/du, normalised, then flipped from
    OpenCV (+y down, +z forward) to OpenGL axes.

    Args:
        Z: (H, W) depth > 0 (any units); K: (3, 3) intrinsics in pixels.
    Returns:
        (H, W, 3) float32 unit vectors (x, y, z).
    Raises:
        InputError: Z not 2-D or smaller than 2x2, or without usable values.
    """
    z = np.asarray(Z, dtype=np.float64)
    if z.ndim != 2 or min(z.shape) < 2:
        raise InputError(f"depth map must be (H, W) with H, W >= 2, got shape {z.shape}")
    z, _valid = sanitize(z, "metric")
    z = z.astype(np.float64)
    K = np.asarray(K, dtype=np.float64)
    h, w = z.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    x = (u - K[0, 2] - K[0, 1] * (v - K[1, 2]) / K[1, 1]) / K[0, 0]
    y = (v - K[1, 2]) / K[1, 1]
    P = np.stack([x * z, y * z, z], axis=-1)

    def tangent(axis):
        fwd = np.diff(P, axis=axis, append=np.take(P, [-1], axis=axis))
        bwd = np.diff(P, axis=axis, prepend=np.take(P, [0], axis=axis))
        # at the last (first) row/column the forward (backward) difference is 0: use the other
        last = [slice(None)] * 3
        last[axis] = -1
        fwd[tuple(last)] = bwd[tuple(last)]
        first = [slice(None)] * 3
        first[axis] = 0
        bwd[tuple(first)] = fwd[tuple(first)]
        f, b = np.abs(fwd[..., 2]), np.abs(bwd[..., 2])
        # a depth edge: one side jumps by more than EDGE_JUMP of the depth and twice the other
        edge = (np.maximum(f, b) > EDGE_JUMP * z) & (np.maximum(f, b) > 2.0 * np.minimum(f, b))
        one_sided = np.where((f <= b)[..., None], fwd, bwd)
        return np.where(edge[..., None], one_sided, 0.5 * (fwd + bwd))

    du, dv = tangent(1), tangent(0)
    n = np.cross(dv, du)  # OpenCV frame; points towards the camera (-z)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    n = np.where(norm > 0, n / np.maximum(norm, 1e-300), np.array([0.0, 0.0, -1.0]))
    n[..., 1] *= -1.0  # OpenCV -> OpenGL: y down -> up, z forward -> towards the camera
    n[..., 2] *= -1.0
    return n.astype(np.float32)


def export_normals(path, Z, K, *, depth: Optional[DepthResult] = None, metric: bool = False,
                   source_type: Optional[str] = None, overwrite: bool = False) -> Tuple[str, str]:
    """Write :func:`normal_map` as a 16-bit RGB PNG, RGB = 0.5 + 0.5 n, + its sidecar.

    Convention (also in the sidecar): camera space, OpenGL axes (+X right, +Y up, +Z towards the
    camera), R = X, G = Y, B = Z, sample = round(65535 (0.5 + 0.5 n)) -- the usual "blue" tangent
    map look for surfaces facing the camera.

    Raises:
        InputError: not .png, folder missing, file or sidecar exists without ``overwrite``.
    """
    path, side = _check_targets(path, NORMAL_EXTS, "normal map", overwrite)
    n = normal_map(Z, K)
    rgb = np.rint((0.5 + 0.5 * n) * 65535.0).astype(np.uint16)
    _write_png16(path, np.ascontiguousarray(rgb[:, :, ::-1]))  # OpenCV writes BGR
    meta = _base(path, "camera-space normals", np.asarray(Z), K, metric, depth, source_type, None)
    meta.pop("near"), meta.pop("far"), meta.pop("units")
    meta["encoding"] = {"type": "png16_rgb_normals",
                        "formula": "n = 2 * q / 65535 - 1 per channel, (R, G, B) = (X, Y, Z)",
                        "convention": "camera space, OpenGL: +X right, +Y up, +Z towards the "
                                      "camera; unit vectors"}
    _write_json(side, meta)
    return path, side


# --------------------------------------------------------------------------------------------------
# reading back


def read_sidecar(path) -> Optional[dict]:
    """The sidecar of a texture file as a dict, or None when there is none.

    Raises:
        InputError: the sidecar is not valid JSON, not one of ours, or lacks the encoding.
    """
    side = sidecar_path(path)
    if not os.path.isfile(side):
        return None
    try:
        with open(side, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError) as exc:
        raise InputError(f"{side} is not a readable JSON sidecar ({exc}); fix or delete it, or "
                         "give --depth-kind") from None
    if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
        raise InputError(f"{side} is not a depth_addon sidecar (no \"format\": "
                         f"\"{SIDECAR_FORMAT}\"); delete it or give --depth-kind")
    if not isinstance(meta.get("encoding"), dict):
        raise InputError(f"{side} has no \"encoding\"")
    return meta


def read_depth_with_sidecar(path, meta: Optional[dict] = None, *,
                            size: Optional[Tuple[int, int]] = None) -> DepthResult:
    """Read a texture written by :func:`export_depth` / :func:`export_displacement` as depth.

    Args:
        path: the texture; meta: its sidecar (read when None); size: (W, H) to resize to.
    Returns:
        DepthResult: kind "metric" (units m) or "relative", values (H, W) float32 depth Z
        (PNG: within half a 16-bit step of the written 1/Z; EXR/NPY: exact), K from the sidecar
        (rescaled with the map), source "PATH (sidecar: KIND)".
    Raises:
        InputError: no sidecar, a normal map, an unknown encoding, or a size that differs from
            the sidecar's image_size.
    """
    from .depth import _read_raw, _check_ext, _first_channel

    path = os.fspath(path)
    meta = meta if meta is not None else read_sidecar(path)
    if meta is None:
        raise InputError(f"{path} has no sidecar {sidecar_path(path)}")
    enc = meta["encoding"]
    typ = enc.get("type", "")
    if typ == "png16_rgb_normals":
        raise InputError(f"{path} is a normal map (see its sidecar), not a depth map")
    notes: list = []
    raw = _first_channel(*_read_raw(path, _check_ext(path)), path, notes).astype(np.float64)
    try:
        if typ == "png16_linear_inverse_depth":
            a, b = float(enc["a"]), float(enc["b"])
            z = 1.0 / (a + (b - a) * raw / 65535.0)
        elif typ in ("png16_normalised_inverse_depth", "float32_normalised_inverse_depth"):
            a, b = float(enc["a"]), float(enc["b"])
            n = raw / 65535.0 if typ.startswith("png16") else raw
            z = 1.0 / (a + (b - a) * n)
        elif typ == "float32":
            z = raw
        else:
            raise InputError(f"{sidecar_path(path)}: unknown encoding type {typ!r}")
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{sidecar_path(path)}: its encoding lacks numbers a/b") from None
    w0, h0 = z.shape[1], z.shape[0]
    want = meta.get("image_size")
    if want and list(want) != [w0, h0]:
        raise InputError(f"{path} is {w0}x{h0} but its sidecar says {want[0]}x{want[1]}; the "
                         "sidecar belongs to another file")
    kind = "metric" if meta.get("units") == "m" else "relative"
    with np.errstate(divide="ignore", invalid="ignore"):
        values, valid = sanitize(z.astype(np.float32), kind)
    K = np.asarray(meta["K"], dtype=np.float64) if meta.get("K") else None
    res = DepthResult(values=values, kind=kind, valid=valid, K=K,
                      source=f"{path} (sidecar: {meta.get('kind', '?')})", notes=notes)
    if size is not None and tuple(int(s) for s in size) != (w0, h0):
        res = resize_depth(res, size)
        msg = f"depth map is {w0}x{h0} but the photo is {size[0]}x{size[1]}; resized it (and K)"
        res.notes.append(msg)
        notice(msg)
    return res
