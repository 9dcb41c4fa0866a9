"""Depth that a phone stored inside the photo: HEIF auxiliary depth images and GDepth JPEGs.

Two containers are read:

- **HEIC/HEIF depth image** (ISO/IEC 23008-12, "HEIF", §6.5.8 auxiliary images; Apple's Portrait
  photos use it): an image item linked to the colour image by an ``auxl`` reference whose ``auxC``
  type is ``urn:mpeg:hevc:2015:auxid:2`` (or ``urn:mpeg:mpegB:cicp:systems:auxiliary:depth``).
  libheif (through pillow-heif's :class:`pillow_heif.HeifDepthImage`) decodes its samples and the
  HEVC ``depth_representation_info`` SEI message the ``auxC`` carries (ITU-T H.265 Annex I.14.2.3,
  also ISO/IEC 23002-3): the representation type (uniform inverse Z, uniform disparity, uniform Z,
  non-uniform disparity) and optional z_near/z_far (depth units) and d_min/d_max (disparity).
  A photo whose EXIF Make is "Apple" has its disparity read as Apple's normalised disparity in
  1/m (AVDepthData documentation), i.e. metric depth 1/d; other disparities stay relative.
- **GDepth JPEG** (Google "Depth Map" XMP metadata, https://developers.google.com/depthmap-metadata/
  reference and /encoding; the format of the Google Camera "Lens Blur" photos): XMP properties in
  the namespace ``http://ns.google.com/photos/1.0/depthmap/`` -- ``Format`` (RangeInverse |
  RangeLinear), ``Near``, ``Far``, ``Units`` (m | mm), ``MeasureType`` (OpticalAxis | OpticRay),
  ``Mime`` and ``Data`` (the base64 depth image), optionally ``ConfidenceMime``/``Confidence``. A
  packet larger than one 64 KB APP1 segment is split into Adobe's extended XMP (XMP Specification
  Part 3, §1.1.3.1: ``xmpNote:HasExtendedXMP`` = MD5 GUID of the extension, chunks in APP1
  segments that start with ``http://ns.adobe.com/xmp/extension/``).

Google's later Dynamic Depth 1.0 format (depth as a JPEG/PNG item appended after the photo,
described by ``Device``/``Container`` XMP) is *not* read.

Both readers return a :class:`depth_addon.core.depth.DepthResult` on the photo's upright pixel
grid: the EXIF orientation the colour picture gets from :func:`depth_addon.core.images.load_image`
is applied to the depth too (GDepth data is stored like the JPEG's pixels; a HEIF depth item
without its own ``irot``/``imir`` gets the colour item's), then the map is resized to the photo.
"""
from __future__ import annotations

import base64
import binascii
import io
import os
import struct
from typing import Optional, Tuple
from xml.etree import ElementTree

import numpy as np

from .depth import DepthResult, resize_depth, sanitize
from .errors import InputError

GDEPTH_NS = "http://ns.google.com/photos/1.0/depthmap/"
XMPNOTE_NS = "http://ns.adobe.com/xmp/note/"
_XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"
_EXT_ID = b"http://ns.adobe.com/xmp/extension/\0"
#: pillow-heif's HeifDepthRepresentationType values (libheif heif_depth_representation_type)
HEIF_REPRESENTATIONS = {0: "uniform inverse Z", 1: "uniform disparity", 2: "uniform Z",
                        3: "non-uniform disparity"}
_HEIF_EXTS = (".heic", ".heif", ".hif")
_JPEG_EXTS = (".jpg", ".jpeg", ".jpe", ".jfif")
#: refuse embedded depth images larger than this many pixels (a phone's are < 1 MP)
MAX_DEPTH_PIXELS = 40_000_000


class EmbeddedDepthError(InputError):
    """The photo carries a depth image but it cannot be read (the pipeline falls back)."""


def has_embedded_depth(path) -> Optional[str]:
    """Cheap check: which embedded depth ``path`` seems to carry ("heif", "gdepth") or None.

    HEIF: pillow-heif lists a depth image for the primary item (no pixels are decoded). JPEG: a
    GDepth property appears in an APP1 XMP segment. Never raises (unreadable files give None).
    """
    try:
        path = os.fspath(path)
        with open(path, "rb") as f:
            head = f.read(12)
        if head[4:8] == b"ftyp":
            return "heif" if _heif_depth_images(path, quiet=True) else None
        if head[:2] == b"\xff\xd8":
            main, _ext = _jpeg_xmp(path)
            return "gdepth" if any(GDEPTH_NS.encode() in m for m in main) else None
    except Exception:
        return None
    return None


def read_embedded_depth(path, *, size: Optional[Tuple[int, int]] = None,
                        focal_px: Optional[float] = None) -> Optional[DepthResult]:
    """The depth stored inside a photo, or None when it carries none.

    Args:
        path: the photo (HEIC/HEIF, or JPEG with GDepth XMP; anything else gives None).
        size: (W, H) of the upright photo the depth must match (resized with a notice); None
            keeps the stored size (after orientation).
        focal_px: focal length in pixels of the photo at ``size`` -- used only to turn GDepth
            ``MeasureType = OpticRay`` distances into depth along the optical axis.
    Returns:
        :class:`DepthResult` (see :func:`read_heif_depth`, :func:`read_gdepth`) or None.
    Raises:
        EmbeddedDepthError: the file announces a depth image that cannot be decoded or whose
            metadata is invalid (the caller falls back to another depth source).
    """
    kind = has_embedded_depth(path)
    if kind == "heif":
        return read_heif_depth(path, size=size)
    if kind == "gdepth":
        return read_gdepth(path, size=size, focal_px=focal_px)
    return None


# --------------------------------------------------------------------------------------------------
# HEIF


def _heif_depth_images(path: str, quiet: bool = False):
    try:
        import pillow_heif
    except ImportError:
        if quiet:
            return None
        raise EmbeddedDepthError(f"{path}: reading its depth image needs the 'pillow-heif' "
                                 "package") from None
    try:
        heif = pillow_heif.open_heif(path, convert_hdr_to_8bit=False)
        primary = heif[heif.primary_index]
        return primary, list(primary.info.get("depth_images") or [])
    except Exception as exc:
        if quiet:
            return None
        raise EmbeddedDepthError(f"{path}: cannot read its HEIF depth image ({_short(exc)})") \
            from None


def _is_apple(image) -> bool:
    """EXIF Make of the colour image is "Apple" (its depth disparity is then in 1/m)."""
    try:
        from PIL import Image

        raw = image.info.get("exif")
        if not raw:
            return False
        exif = Image.Exif()
        exif.load(raw)
        return str(exif.get(0x010F, "")).strip().rstrip("\0").lower() == "apple"
    except Exception:
        return False


def _orientation_transforms(image) -> tuple:
    """The irot/imir entries of a pillow-heif image's transformations (clap crops left out)."""
    tr = getattr(getattr(image, "_c_image", None), "transformations", ()) or ()  # no public name
    return tuple(t for t in tr if t and t[0] in ("irot", "imir"))


def _apply_heif_transforms(a: np.ndarray, transforms) -> np.ndarray:
    """Apply HEIF transformative properties as pillow-heif lists them, in order.

    ``("irot", angle)``: rotate counter-clockwise by angle degrees (ISO/IEC 23008-12 §6.5.10);
    ``("imir", 1)``: mirror left-right, ``("imir", 0)``: top-bottom (the axis values pillow-heif
    1.8.1 reports; checked against its own decoding of all eight EXIF orientations in
    tests/test_embedded_depth.py); ``clap`` crops are not applied.
    """
    for t in transforms or ():
        name = t[0]
        if name == "irot":
            a = np.rot90(a, int(t[1]) // 90)
        elif name == "imir":
            a = a[:, ::-1] if int(t[1]) == 1 else a[::-1]
    return np.ascontiguousarray(a)


def heif_samples_to_depth(q: np.ndarray, q_max: float, meta: dict, *, source: str = "HEIF",
                          disparity_per_metre: bool = False):
    """Depth samples of a HEIF depth image -> (values, kind, description, notes).

    Args:
        q: (h, w) integer samples; q_max: the largest code (255 for 8 bit, 65535 for 16 bit).
        meta: pillow-heif's ``HeifDepthImage.info["metadata"]``: ``representation_type`` and,
            when the SEI gives them, ``z_near``/``z_far`` (depth units; treated as metres) and
            ``d_min``/``d_max`` (disparity).
        disparity_per_metre: the disparity is Apple's normalised disparity, pixel shift /
            (focal length px x baseline m) = 1/Z in 1/m (AVDepthData, kCVPixelFormatType_
            DisparityFloat16 documentation), so d_min/d_max give metric depth Z = 1/d.
    Returns:
        (values (h, w) float32, DepthResult kind, text naming the representation, notes). Per
        H.265 I.14.2.3 with t = q / q_max:

        - uniform Z: Z = z_near + t (z_far - z_near) -> ``"metric"``; without the range
          ``"relative"`` Z = 1 + t (from the samples' order only).
        - uniform inverse Z: 1/Z = 1/z_far + t (1/z_near - 1/z_far) -> ``"metric"``; without
          the range ``"inverse"`` (t, larger = nearer).
        - uniform disparity: d = d_min + t (d_max - d_min) -> with ``disparity_per_metre``
          ``"metric"`` Z = 1 / max(d, d_max / 1000); else ``"disparity"`` (zero shift; no
          baseline in the file, so not metric; resizing scales it like pixel disparities, which
          leaves the relative depth d_ref / d unchanged); without d_min/d_max ``"inverse"`` (t).
        - non-uniform disparity: libheif does not expose the non-linear model: read as uniform
          disparity, with a note.
    Raises:
        EmbeddedDepthError: unknown representation or an invalid range (near >= far, <= 0).
    """
    rep = meta.get("representation_type")
    t = q.astype(np.float64) / float(q_max)
    notes = []
    zn, zf = meta.get("z_near"), meta.get("z_far")
    dn, dx = meta.get("d_min"), meta.get("d_max")
    name = HEIF_REPRESENTATIONS.get(rep)
    if name is None:
        raise EmbeddedDepthError(f"{source}: unknown depth representation type {rep!r}")
    if rep in (0, 2) and zn is not None and zf is not None:
        if not (0 < zn < zf and np.isfinite(zf)):
            raise EmbeddedDepthError(f"{source}: invalid depth range z_near={zn}, z_far={zf}")
        if rep == 2:
            z = zn + t * (zf - zn)
        else:
            z = 1.0 / (1.0 / zf + t * (1.0 / zn - 1.0 / zf))
        return z.astype(np.float32), "metric", f"{name}, {zn:g}-{zf:g} m", notes
    if rep == 2:
        notes.append(f"{source}: uniform Z depth without z_near/z_far: relative depth")
        return (1.0 + t).astype(np.float32), "relative", f"{name}, no range", notes
    if rep == 0:
        return t.astype(np.float32), "inverse", f"{name}, no range", notes
    if rep == 3:
        notes.append(f"{source}: non-uniform disparity read as uniform (libheif does not "
                     "expose its non-linear model)")
    if dn is not None and dx is not None:
        if not (dx > dn and np.isfinite(dx)):
            raise EmbeddedDepthError(f"{source}: invalid disparity range d_min={dn}, d_max={dx}")
        d = dn + t * (dx - dn)
        if disparity_per_metre and dx > 0:
            z = 1.0 / np.maximum(d, dx / 1000.0)
            return (z.astype(np.float32), "metric",
                    f"{name} in 1/m (Apple), {1.0 / dx:.3g}-{1.0 / max(dn, dx / 1000.0):.3g} m",
                    notes)
        if dn <= 0:
            notes.append(f"{source}: disparity range {dn:g}..{dx:g} reaches 0 (infinitely far)")
        return d.astype(np.float32), "disparity", f"{name}, {dn:g}-{dx:g}", notes
    return t.astype(np.float32), "inverse", f"{name}, no range", notes


def read_heif_depth(path, *, size: Optional[Tuple[int, int]] = None) -> Optional[DepthResult]:
    """The depth image of a HEIC/HEIF photo's primary image, or None when it has none.

    Decoding: pillow-heif (libheif) ``HeifImage.info["depth_images"][0]`` (8-bit samples, or
    10/12-bit depth, which pillow-heif shifts up to 16 bits: the largest code is then
    (2^bits - 1) << (16 - bits), e.g. 65472 for 10 bits); representation and range
    from its ``info["metadata"]`` (see :func:`heif_samples_to_depth`). Orientation: libheif applies
    the depth item's own ``irot``/``imir``; when the depth item has none but the colour item has,
    the colour item's are applied to the depth, so depth and colour stay aligned.

    Args:
        path: HEIC/HEIF file; size: (W, H) of the upright colour picture (resize target).
    Returns:
        DepthResult (values (H, W) float32, kind metric/relative/inverse/disparity, valid,
        K None -- a HEIF ``cmin`` intrinsics property is not read --, source
        "embedded HEIF depth image (…)") or None.
    Raises:
        EmbeddedDepthError: pillow-heif missing, undecodable depth image, unusable values.
    """
    path = os.fspath(path)
    got = _heif_depth_images(path)
    primary, depths = got
    if not depths:
        return None
    di = depths[0]
    try:
        im = di.to_pillow()
        q = np.asarray(im)
    except Exception as exc:
        raise EmbeddedDepthError(f"{path}: cannot decode its HEIF depth image ({_short(exc)})") \
            from None
    if q.ndim == 3:
        q = q[:, :, 0]
    if q.ndim != 2 or q.size == 0 or q.size > MAX_DEPTH_PIXELS:
        raise EmbeddedDepthError(f"{path}: HEIF depth image has an unusable shape {q.shape}")
    if q.dtype == np.uint8:
        q_max = 255.0
    else:  # pillow-heif shifts 10/12-bit samples up to 16 bits: v << (16 - bits)
        bits = int(getattr(getattr(di, "_c_image", None), "bit_depth", 16) or 16)
        bits = bits if 8 < bits <= 16 else 16
        q_max = float(((1 << bits) - 1) << (16 - bits))
    meta = dict((di.info or {}).get("metadata") or {})
    values, kind, what, notes = heif_samples_to_depth(q, q_max, meta, source=os.path.basename(path),
                                                      disparity_per_metre=_is_apple(primary))
    d_tr = _orientation_transforms(di)
    p_tr = _orientation_transforms(primary)
    if not d_tr and p_tr:
        values = _apply_heif_transforms(values, p_tr)
        notes.append("HEIF depth image has no rotation of its own: rotated like the photo")
    return _finish(values, kind, f"embedded HEIF depth image ({what})", notes, size, path)


# --------------------------------------------------------------------------------------------------
# GDepth JPEG


def _jpeg_segments(data: bytes):
    """Yield (marker, payload) of a JPEG's segments up to the start of scan."""
    if data[:2] != b"\xff\xd8":
        return
    off = 2
    n = len(data)
    while off + 4 <= n:
        if data[off] != 0xFF:
            return
        marker = data[off + 1]
        if marker == 0xFF:  # fill byte
            off += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            off += 2
            continue
        length = struct.unpack(">H", data[off + 2:off + 4])[0]
        if length < 2 or off + 2 + length > n:
            return
        yield marker, data[off + 4:off + 2 + length]
        if marker in (0xDA, 0xD9):  # start of scan / end of image
            return
        off += 2 + length


def _jpeg_xmp(path: str):
    """([main XMP packets], {guid: bytes of the assembled extended XMP})."""
    with open(path, "rb") as f:
        data = f.read()
    main, chunks = [], {}
    for marker, payload in _jpeg_segments(data):
        if marker != 0xE1:
            continue
        if payload.startswith(_XMP_ID):
            main.append(payload[len(_XMP_ID):])
        elif payload.startswith(_EXT_ID) and len(payload) >= len(_EXT_ID) + 40:
            p = payload[len(_EXT_ID):]
            guid = p[:32].decode("ascii", "replace")
            total, offset = struct.unpack(">II", p[32:40])
            chunks.setdefault(guid, [total, {}])[1][offset] = p[40:]
    ext = {}
    for guid, (total, parts) in chunks.items():
        buf = bytearray(total)
        got = 0
        for offset, part in parts.items():
            buf[offset:offset + len(part)] = part
            got += len(part)
        ext[guid] = bytes(buf) if got >= total else None  # None = chunks missing
    return main, ext


def _xmp_properties(packet: bytes, ns: str) -> dict:
    """Properties of namespace ``ns`` in an XMP packet (attributes and simple elements)."""
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        raise EmbeddedDepthError("XMP with a DOCTYPE/ENTITY declaration is refused")
    text = packet.decode("utf-8", "replace").strip().strip("\0")
    start = text.find("<x:xmpmeta")
    end = text.rfind("</x:xmpmeta>")
    if start >= 0 and end > start:
        text = text[start:end + len("</x:xmpmeta>")]
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise EmbeddedDepthError(f"XMP is not valid XML ({exc})") from None
    out = {}
    pre = "{" + ns + "}"
    for el in root.iter():
        for k, v in el.attrib.items():
            if k.startswith(pre):
                out[k[len(pre):]] = v
        if el.tag.startswith(pre) and el.text and el.text.strip():
            out[el.tag[len(pre):]] = el.text.strip()
    return out


def gdepth_properties(path) -> dict:
    """All GDepth XMP properties of a JPEG (main packet + its extended XMP), as strings.

    Raises:
        EmbeddedDepthError: malformed XMP, or an extended XMP announced but missing/incomplete.
    """
    path = os.fspath(path)
    main, ext = _jpeg_xmp(path)
    props: dict = {}
    guid = None
    for packet in main:
        props.update(_xmp_properties(packet, GDEPTH_NS))
        guid = guid or _xmp_properties(packet, XMPNOTE_NS).get("HasExtendedXMP")
    if guid:
        packet = ext.get(guid)
        if packet is None:
            raise EmbeddedDepthError(f"{path}: its extended XMP ({guid}) is missing or incomplete")
        props.update(_xmp_properties(packet, GDEPTH_NS))
    return props


def _float(props: dict, key: str, path: str) -> float:
    try:
        v = float(props[key])
    except KeyError:
        raise EmbeddedDepthError(f"{path}: GDepth:{key} is missing") from None
    except ValueError:
        raise EmbeddedDepthError(f"{path}: GDepth:{key} is not a number: {props[key]!r}") from None
    if not np.isfinite(v):
        raise EmbeddedDepthError(f"{path}: GDepth:{key} is not finite")
    return v


def _decode_b64_image(b64: str, what: str, path: str) -> np.ndarray:
    from PIL import Image

    try:
        raw = base64.b64decode("".join(b64.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EmbeddedDepthError(f"{path}: GDepth:{what} is not valid base64 ({exc})") from None
    try:
        with Image.open(io.BytesIO(raw)) as im:
            if im.size[0] * im.size[1] > MAX_DEPTH_PIXELS:
                raise EmbeddedDepthError(f"{path}: GDepth:{what} image is too large {im.size}")
            im.load()
            if im.mode not in ("L", "I;16", "I;16B", "I;16L", "I", "F"):
                im = im.convert("L")
            a = np.asarray(im)
    except EmbeddedDepthError:
        raise
    except Exception as exc:
        raise EmbeddedDepthError(f"{path}: GDepth:{what} is not a readable image ({_short(exc)})") \
            from None
    return a


def gdepth_to_depth(q: np.ndarray, q_max: float, fmt: str, near: float, far: float) -> np.ndarray:
    """Decode quantised GDepth samples to depth (Google Depth Map "Encoding" page).

    Args:
        q: (h, w) samples; q_max: 255 (8-bit image) or 65535 (16-bit PNG); d_n = q / q_max.
        fmt: "RangeLinear": d = d_n (far - near) + near; "RangeInverse":
            d = far near / (far - d_n (far - near)) (d_n = 0 -> near, 1 -> far, fine steps near).
        near, far: 0 < near < far, in the file's units.
    Returns:
        (h, w) float64 depth in the units of near/far.
    Raises:
        EmbeddedDepthError: unknown format or invalid near/far.
    """
    if not (0 < near < far):
        raise EmbeddedDepthError(f"GDepth Near/Far must satisfy 0 < Near < Far, got {near}, {far}")
    dn = q.astype(np.float64) / float(q_max)
    if fmt == "RangeLinear":
        return dn * (far - near) + near
    if fmt == "RangeInverse":
        return far * near / (far - dn * (far - near))
    raise EmbeddedDepthError(f"unknown GDepth:Format {fmt!r} (expected RangeInverse or RangeLinear)")


def read_gdepth(path, *, size: Optional[Tuple[int, int]] = None,
                focal_px: Optional[float] = None) -> Optional[DepthResult]:
    """The GDepth depth map of a JPEG (Google Depth Map XMP), or None when it has none.

    Units: "m" (default) or "mm" give metric depth in metres; any other unit string gives
    relative depth with a note. MeasureType "OpticRay" (distance along each pixel's ray) is turned
    into depth along the optical axis with ``focal_px`` (principal point at the centre); without
    it the distances are kept with a note. The map is stored like the JPEG's pixels: the photo's
    EXIF orientation is applied to it, then it is stretched to ``size`` as the spec says.

    Args:
        path: JPEG; size: (W, H) of the upright photo; focal_px: its focal length in pixels.
    Returns:
        DepthResult (values (H, W) float32 depth, kind "metric" or "relative", valid, confidence
        from GDepth:Confidence when present, source "embedded GDepth depth map (…)") or None.
    Raises:
        EmbeddedDepthError: missing Near/Far/Data, bad base64, undecodable image, unknown format.
    """
    path = os.fspath(path)
    props = gdepth_properties(path)
    if not props:
        return None
    if "Data" not in props:
        raise EmbeddedDepthError(f"{path}: GDepth metadata without GDepth:Data (depth image)")
    fmt = props.get("Format", "RangeInverse")
    near, far = _float(props, "Near", path), _float(props, "Far", path)
    q = _decode_b64_image(props["Data"], "Data", path)
    if q.ndim == 3:
        q = q[:, :, 0]
    q_max = 255.0 if q.dtype == np.uint8 else 65535.0
    try:
        z = gdepth_to_depth(q, q_max, fmt, near, far)
    except EmbeddedDepthError as exc:
        raise EmbeddedDepthError(f"{path}: {exc}") from None
    notes = []
    units = props.get("Units", "m").strip()
    kind = "metric"
    if units == "mm":
        z = z / 1000.0
    elif units not in ("m", ""):
        kind = "relative"
        notes.append(f"GDepth:Units {units!r} is not m or mm: depth read as relative")
    conf = None
    if "Confidence" in props:
        try:
            c = _decode_b64_image(props["Confidence"], "Confidence", path)
            c = c[:, :, 0] if c.ndim == 3 else c
            conf = (c.astype(np.float32) / (255.0 if c.dtype == np.uint8 else 65535.0))
        except EmbeddedDepthError as exc:
            notes.append(f"confidence map ignored: {exc}")
    orientation = _jpeg_orientation(path)
    from .images import _orient_array

    z = _orient_array(z, orientation)
    if conf is not None:
        conf = _orient_array(conf, orientation)
    measure = props.get("MeasureType", "OpticalAxis")
    if measure == "OpticRay":
        if focal_px:
            h, w = z.shape
            s = w / size[0] if size else 1.0
            f = focal_px * s
            v, u = np.mgrid[0:h, 0:w]
            ru, rv = (u - (w - 1) / 2.0) / f, (v - (h - 1) / 2.0) / f
            z = z / np.sqrt(1.0 + ru * ru + rv * rv)
        else:
            notes.append("GDepth MeasureType OpticRay kept as depth (focal length unknown)")
    what = f"{fmt}, {near:g}-{far:g} {units or 'm'}"
    res = _finish(z.astype(np.float32), kind, f"embedded GDepth depth map ({what})", notes, size,
                  path)
    if conf is not None and res is not None:
        if conf.shape != res.values.shape:
            import cv2

            conf = cv2.resize(conf, res.values.shape[::-1], interpolation=cv2.INTER_LINEAR)
        res.confidence = np.clip(conf, 0.0, 1.0).astype(np.float32)
    return res


def _jpeg_orientation(path: str) -> int:
    try:
        from PIL import Image

        with Image.open(path) as im:
            o = int(im.getexif().get(0x0112, 1))
        return o if 1 <= o <= 8 else 1
    except Exception:
        return 1


# --------------------------------------------------------------------------------------------------


def _finish(values, kind, source, notes, size, path) -> DepthResult:
    from .errors import notice

    try:
        v, valid = sanitize(values, kind)
    except InputError as exc:
        raise EmbeddedDepthError(f"{path}: embedded depth: {exc}") from None
    res = DepthResult(values=v, kind=kind, valid=valid, source=source, notes=list(notes))
    if size is not None and tuple(int(x) for x in size) != v.shape[::-1]:
        h0, w0 = v.shape
        w, h = (int(x) for x in size)
        res = resize_depth(res, (w, h))
        msg = f"embedded depth is {w0}x{h0}; resized to the photo's {w}x{h}"
        if abs(w0 / h0 - w / h) > 0.01 * (w / h):
            msg += " (the aspect ratios differ: it is stretched)"
        res.notes.append(msg)
    for n in res.notes:
        notice(n)
    return res


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:160]
