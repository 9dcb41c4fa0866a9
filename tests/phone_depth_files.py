"""Writers of phone-style depth files for the tests (test-only; the add-on only reads them).

- :func:`write_heif_with_depth`: a HEIC whose primary image has an auxiliary depth image, the
  way ISO/IEC 23008-12 (HEIF) links them: the depth is an image item with an ``auxC`` property
  of type ``urn:mpeg:hevc:2015:auxid:2`` and an ``auxl`` item reference to the colour image; its
  range (z_near/z_far or d_min/d_max and the representation type) is an HEVC
  depth_representation_info SEI message (ITU-T H.265 Annex I, payload type 177) stored as the
  ``auxC`` subtype. pillow-heif 1.8 and Debian 12's heif-enc 1.15 cannot attach a depth image,
  so pillow-heif encodes the two pictures as two top-level images and this module rewrites
  the ``meta`` box (adds the ``auxC`` property, its ``ipma`` association and the ``iref``,
  shifts the ``iloc`` offsets by the growth of ``meta``).
- :func:`write_gdepth_jpeg`: a JPEG with Google's GDepth XMP (``GDepth:Format``, ``Near``,
  ``Far``, ``Mime``, ``Data`` = base64 PNG), in the main XMP APP1 segment or, when it does not
  fit in one 64 KB segment, in Adobe's extended XMP (``xmpNote:HasExtendedXMP`` = MD5 GUID and
  ``http://ns.adobe.com/xmp/extension/`` APP1 chunks), as XMP Specification Part 3 §1.1.3.1 lays
  it out.
"""
from __future__ import annotations

import base64
import hashlib
import io
import math
import struct

import numpy as np
from PIL import Image

DEPTH_URN = b"urn:mpeg:hevc:2015:auxid:2"


# --------------------------------------------------------------------------------------------------
# HEIF

class _Bits:
    def __init__(self):
        self.bits = []

    def put(self, value: int, n: int):
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]

    def ue(self, value: int):  # Exp-Golomb ue(v)
        code = value + 1
        n = code.bit_length()
        self.put(0, n - 1)
        self.put(code, n)

    def element(self, x: float, mantissa_len: int = 24):
        """depth_representation_info element (H.265 I.14.2.? : sign, exponent, mantissa)."""
        s = 1 if x < 0 else 0
        x = abs(x)
        e = math.floor(math.log2(x)) + 31
        assert 0 < e < 127, x
        n = int(round((x / 2.0 ** (e - 31) - 1.0) * 2 ** mantissa_len))
        if n >= 2 ** mantissa_len:
            e, n = e + 1, 0
        self.put(s, 1)
        self.put(e, 7)
        self.put(mantissa_len - 1, 5)
        self.put(n, mantissa_len)

    def tobytes(self) -> bytes:
        bits = self.bits + [1]  # rbsp_trailing_bits
        bits += [0] * (-len(bits) % 8)
        return bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))


def depth_sei(rep_type: int, z_near=None, z_far=None, d_min=None, d_max=None) -> bytes:
    """The ``auxC`` subtype bytes: one prefix-SEI NAL with a depth_representation_info payload."""
    b = _Bits()
    for v in (z_near, z_far, d_min, d_max):
        b.put(v is not None, 1)
    b.ue(rep_type)
    if d_min is not None or d_max is not None:
        b.ue(0)  # disparity_reference_view
    for v in (z_near, z_far, d_min, d_max):
        if v is not None:
            b.element(float(v))
    payload = b.tobytes()
    nal = bytes([39 << 1, 1, 177, len(payload)]) + payload
    return struct.pack(">I", 4 + len(nal)) + struct.pack(">I", len(nal)) + nal


def _box(typ: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), typ) + payload


def _children(b: bytes, start: int, end: int):
    out, off = [], start
    while off < end:
        size, typ = struct.unpack(">I4s", b[off:off + 8])
        out.append((typ, b[off:off + size]))
        off += size
    return out


def _uint(b, off, n):
    return int.from_bytes(b[off:off + n], "big") if n else 0


def _shift_iloc(box: bytes, delta: int) -> bytes:
    body = bytearray(box)
    version = body[8]
    off = 12
    off_size, len_size = body[off] >> 4, body[off] & 15
    base_size, idx_size = body[off + 1] >> 4, body[off + 1] & 15
    off += 2
    count_n = 4 if version == 2 else 2
    count = _uint(body, off, count_n)
    off += count_n
    for _ in range(count):
        off += 4 if version == 2 else 2  # item_ID
        method = 0
        if version in (1, 2):
            method = _uint(body, off, 2) & 15
            off += 2
        off += 2  # data_reference_index
        base_at = off
        off += base_size
        n_ext = _uint(body, off, 2)
        off += 2
        if method == 0 and base_size:
            body[base_at:base_at + base_size] = (_uint(body, base_at, base_size) + delta).to_bytes(
                base_size, "big")
        for _ in range(n_ext):
            if version in (1, 2) and idx_size:
                off += idx_size
            if method == 0 and not base_size:
                body[off:off + off_size] = (_uint(body, off, off_size) + delta).to_bytes(off_size,
                                                                                         "big")
            off += off_size + len_size
    return bytes(body)


def _add_association(ipma: bytes, item_id: int, prop_index: int) -> bytes:
    version, flags = ipma[8], _uint(ipma, 9, 3)
    id_n = 2 if version == 0 else 4
    wide = flags & 1
    off = 12
    count = _uint(ipma, off, 4)
    out = bytearray(ipma[8:16])
    off += 4
    found = False
    for _ in range(count):
        iid = _uint(ipma, off, id_n)
        n = ipma[off + id_n]
        assoc = ipma[off + id_n + 1: off + id_n + 1 + n * (2 if wide else 1)]
        off += id_n + 1 + len(assoc)
        if iid == item_id:
            found = True
            assoc += (prop_index.to_bytes(2, "big") if wide else bytes([prop_index]))
            n += 1
        out += iid.to_bytes(id_n, "big") + bytes([n]) + assoc
    assert found, f"item {item_id} has no ipma entry"
    return _box(b"ipma", bytes(out))


def _image_items(meta_kids) -> tuple:
    """(primary item id, [hvc1 item ids]) from pitm and iinf (infe version 2/3)."""
    d = dict(meta_kids)
    pitm = d[b"pitm"]
    primary = _uint(pitm, 12, 2 if pitm[8] == 0 else 4)
    iinf = d[b"iinf"]
    n_n = 2 if iinf[8] == 0 else 4
    items = []
    for typ, infe in _children(iinf, 12 + n_n, len(iinf)):
        v = infe[8]
        id_n = 2 if v == 2 else 4
        iid = _uint(infe, 12, id_n)
        item_type = infe[12 + id_n + 2: 12 + id_n + 6]
        if item_type == b"hvc1":
            items.append(iid)
    return primary, items


def attach_depth(heif: bytes, subtypes: bytes) -> bytes:
    """Turn the second top-level HEVC image of a HEIF file into the primary image's depth image."""
    top = _children(heif, 0, len(heif))
    types = [t for t, _ in top]
    mi = types.index(b"meta")
    meta = top[mi][1]
    assert types.index(b"mdat") > mi, "meta must precede mdat"
    kids = _children(meta, 12, len(meta))
    master_item, images = _image_items(kids)
    depth_item = [i for i in images if i != master_item][0]
    ref = _box(b"auxl", struct.pack(">HHH", depth_item, 1, master_item))
    new = []
    for typ, box in kids:
        if typ == b"iprp":
            sub = _children(box, 8, len(box))
            ipco = dict(sub)[b"ipco"]
            n_props = len(_children(ipco, 8, len(ipco)))
            auxc = _box(b"auxC", b"\0\0\0\0" + DEPTH_URN + b"\0" + subtypes)
            ipco = _box(b"ipco", ipco[8:] + auxc)
            ipma = _add_association(dict(sub)[b"ipma"], depth_item, n_props + 1)
            box = _box(b"iprp", ipco + ipma)
        elif typ == b"iref":
            assert box[8] == 0, "iref version 1 not handled"
            box = _box(b"iref", box[8:] + ref)
        new.append((typ, box))
    if b"iref" not in [t for t, _ in new]:
        new.append((b"iref", _box(b"iref", b"\0\0\0\0" + ref)))
    body = b"".join(b for _, b in new)
    delta = (12 + len(body)) - len(meta)
    new = [(t, _shift_iloc(b, delta) if t == b"iloc" else b) for t, b in new]
    meta = _box(b"meta", meta[8:12] + b"".join(b for _, b in new))
    return b"".join(meta if t == b"meta" else b for t, b in top)


def write_heif_with_depth(path, rgb: np.ndarray, depth_u8: np.ndarray, *, rep_type: int,
                          z_near=None, z_far=None, d_min=None, d_max=None, orientation: int = 1,
                          depth_orientation: int = 1, make: str = None) -> None:
    """A HEIC: colour (H, W, 3) uint8 + a depth image (h, w) with its SEI range: uint8 -> 8-bit,
    uint16 -> 10-bit (pillow-heif keeps the top 10 bits).

    ``orientation`` (EXIF 1..8) becomes the colour item's irot/imir (pillow-heif's encoder) and
    ``depth_orientation`` the depth item's.
    """
    import pillow_heif

    h, w = rgb.shape[:2]
    hf = pillow_heif.from_bytes(mode="RGB", size=(w, h), data=np.ascontiguousarray(rgb).tobytes())
    dh, dw = depth_u8.shape
    mode = "L" if depth_u8.dtype == np.uint8 else "I;16"  # I;16 is encoded as 10-bit HEVC
    hf.add_frombytes(mode, (dw, dh), np.ascontiguousarray(depth_u8).tobytes())
    if orientation != 1 or make:
        hf[0].info["exif"] = _exif_orientation(orientation, make)
    if depth_orientation != 1:
        hf[1].info["exif"] = _exif_orientation(depth_orientation)
    buf = io.BytesIO()
    hf.save(buf, quality=-1)
    data = attach_depth(buf.getvalue(), depth_sei(rep_type, z_near, z_far, d_min, d_max))
    with open(path, "wb") as f:
        f.write(data)


def _exif_orientation(o: int, make: str = None) -> bytes:
    ex = Image.Exif()
    ex[0x0112] = o
    if make:
        ex[0x010F] = make
    return ex.tobytes()


# --------------------------------------------------------------------------------------------------
# GDepth JPEG

XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"
EXT_ID = b"http://ns.adobe.com/xmp/extension/\0"


def _xmp_packet(props: str, inner: str = "") -> bytes:
    return ("<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>"
            "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF "
            "xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
            "<rdf:Description rdf:about='' xmlns:GDepth='http://ns.google.com/photos/1.0/depthmap/' "
            f"xmlns:xmpNote='http://ns.adobe.com/xmp/note/' {props}>{inner}</rdf:Description>"
            "</rdf:RDF></x:xmpmeta><?xpacket end='w'?>").encode("utf-8")


def _app1(payload: bytes) -> bytes:
    assert len(payload) + 2 <= 65535, len(payload)
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def gdepth_segments(depth_png: bytes, *, fmt: str, near: float, far: float,
                    extended: bool = None, units: str = None, mime: str = "image/png",
                    data_b64: str = None) -> bytes:
    """APP1 segments with GDepth XMP (main packet + extended XMP chunks when needed)."""
    b64 = data_b64 if data_b64 is not None else base64.b64encode(depth_png).decode("ascii")
    attrs = (f"GDepth:Format='{fmt}' GDepth:Near='{near!r}' GDepth:Far='{far!r}' "
             f"GDepth:Mime='{mime}'" + (f" GDepth:Units='{units}'" if units else ""))
    if extended is None:
        extended = len(b64) > 60000
    if not extended:
        return _app1(XMP_ID + _xmp_packet(attrs + f" GDepth:Data='{b64}'"))
    ext = _xmp_packet("", f"<GDepth:Data>{b64}</GDepth:Data>")
    guid = hashlib.md5(ext).hexdigest().upper()
    out = _app1(XMP_ID + _xmp_packet(attrs + f" xmpNote:HasExtendedXMP='{guid}'"))
    chunk = 65000
    for off in range(0, len(ext), chunk):
        part = ext[off:off + chunk]
        out += _app1(EXT_ID + guid.encode("ascii") + struct.pack(">II", len(ext), off) + part)
    return out


def write_gdepth_jpeg(path, rgb: np.ndarray, depth_png: bytes, *, fmt: str = "RangeInverse",
                      near: float = 1.0, far: float = 10.0, orientation: int = 1,
                      extended: bool = None, **kw) -> None:
    """A JPEG of ``rgb`` (H, W, 3) uint8 with a GDepth depth image (``depth_png``, PNG bytes)."""
    buf = io.BytesIO()
    exif = _exif_orientation(orientation) if orientation != 1 else None
    Image.fromarray(rgb).save(buf, "JPEG", quality=95, **({"exif": exif} if exif else {}))
    jpg = buf.getvalue()
    # insert after SOI and any APP0/APP1(EXIF) segments
    off = 2
    while jpg[off] == 0xFF and jpg[off + 1] in (0xE0, 0xE1):
        off += 2 + struct.unpack(">H", jpg[off + 2:off + 4])[0]
    seg = gdepth_segments(depth_png, fmt=fmt, near=near, far=far, extended=extended, **kw)
    with open(path, "wb") as f:
        f.write(jpg[:off] + seg + jpg[off:])


def encode_gdepth(Z: np.ndarray, fmt: str, near: float, far: float, bits: int = 8) -> bytes:
    """GDepth quantisation of metric depth Z (Google Depth Map spec): PNG bytes."""
    z = np.clip(np.asarray(Z, np.float64), near, far)
    if fmt == "RangeInverse":
        d = (far * (z - near)) / (z * (far - near))
    else:
        d = (z - near) / (far - near)
    top = 2 ** bits - 1
    q = np.rint(d * top).astype(np.uint8 if bits == 8 else np.uint16)
    buf = io.BytesIO()
    Image.fromarray(q).save(buf, "PNG")
    return buf.getvalue()


def item_extents(heif: bytes) -> dict:
    """{item_id: [(file offset, length), ...]} from the iloc box (construction method 0)."""
    top = _children(heif, 0, len(heif))
    meta = dict(top)[b"meta"]
    iloc = dict(_children(meta, 12, len(meta)))[b"iloc"]
    version = iloc[8]
    off = 12
    off_size, len_size = iloc[off] >> 4, iloc[off] & 15
    base_size, idx_size = iloc[off + 1] >> 4, iloc[off + 1] & 15
    off += 2
    count_n = 4 if version == 2 else 2
    count = _uint(iloc, off, count_n)
    off += count_n
    out = {}
    for _ in range(count):
        id_n = 4 if version == 2 else 2
        iid = _uint(iloc, off, id_n)
        off += id_n
        if version in (1, 2):
            off += 2
        off += 2
        base = _uint(iloc, off, base_size)
        off += base_size
        n_ext = _uint(iloc, off, 2)
        off += 2
        ext = []
        for _ in range(n_ext):
            if version in (1, 2) and idx_size:
                off += idx_size
            e_off = _uint(iloc, off, off_size)
            off += off_size
            e_len = _uint(iloc, off, len_size)
            off += len_size
            ext.append((base + e_off, e_len))
        out[iid] = ext
    return out


def corrupt_depth_image(path) -> None:
    """Overwrite the coded data of the depth item (the non-primary HEVC item) with garbage."""
    data = bytearray(open(path, "rb").read())
    meta = dict(_children(bytes(data), 0, len(data)))[b"meta"]
    primary, images = _image_items(_children(meta, 12, len(meta)))
    depth_item = [i for i in images if i != primary][0]
    for off, n in item_extents(bytes(data))[depth_item]:
        data[off + 4: off + n] = bytes([0x5A]) * (n - 4)  # keep the first NAL length only
    with open(path, "wb") as f:
        f.write(bytes(data))
