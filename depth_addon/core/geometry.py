"""Depth + intrinsics K -> 3D geometry: perspective-correct grid meshes torn at depth edges,
point clouds and PLY files.

Coordinate conventions
- Pixels follow OpenCV: pixel (col u, row v) has its centre at integer (u, v); the picture spans
  [-0.5, W - 0.5] x [-0.5, H - 0.5]. K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in pixels.
- Camera coordinates follow OpenCV: x right, y down, z forward (depth Z > 0), in the depth map's
  units (metres for metric depth, "scene units" for relative depth).
- :func:`cv_to_blender` maps camera coordinates of the rest camera to Blender world coordinates
  (X right, Y forward, Z up): the rest camera sits at the origin looking along +Y.

Tearing (why splitting, not deleting): deleting every quad that spans a depth edge leaves a crack
one grid cell wide along every edge (measured: 22-25 dB PSNR even from the original view). Instead
each quad that straddles an edge is replaced by two quads: a *near* copy whose far corners are pulled
forward to the near surface and a *far* copy whose near corners are pushed back to the far surface.
From the original camera the near copy covers the cell exactly (the picture is reproduced); from a
moved camera the two surfaces separate with no stretched faces between them and the far surface
continues one cell under the near one. This is the two-layer idea of layered depth images (Shade et
al., SIGGRAPH 1998), restricted to the band along each edge.

Edge test (why not a plain relative jump): on any plane the inverse depth w = 1/Z is an affine
function of the pixel coordinates, so its first differences are constant along a row or column. An
edge is a jump in w that is NOT explained by the local slope: the change of w over three grid steps
minus three times the slope measured two steps away on either side, relative to w. Non-maximum
suppression along the direction keeps one torn edge per (possibly blurred) step. A steep ground plane
has no residual and is never torn. For a sharp step from Z1 to Z2 > Z1 the residual is exactly the
relative depth jump 1 - Z1/Z2, so ``tear_threshold`` reads as "tear where the farther side is
more than this fraction deeper than the nearer one, beyond what the slope predicts".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import InputError
from .files import check_new_file

#: default horizontal field of view (degrees) when a photo has no EXIF focal length:
#: a phone's main camera is about 65-70 deg horizontally; 55 deg is a common "normal lens".
DEFAULT_FOV_DEG = 55.0
#: default relative depth jump that tears the mesh (see module doc).
DEFAULT_TEAR_THRESHOLD = 0.06
#: default vertex cap of a mesh (about one vertex per 2x2 px up to 6 MP photos).
DEFAULT_MAX_VERTICES = 1_500_000
#: default allowed error of a simplified mesh along the camera move, in output pixels
#: (:func:`simplify_tolerance`; the pipeline's Settings.simplify_px, the CLI's --simplify).
#: 1.0 since 2026-12-04 (0.5 before; the bound holds for every triangulation since 2026-12-03):
#: a merged face strays at most one output pixel from the full grid at the far end of the move,
#: while its texture drift keeps the 0.1 px it had (SIMPLIFY_DRIFT_SHARE halved). On
#: bench_render's input at 640x360 the photo mesh has 56 k triangles instead of 98 k, and every
#: rendered frame pays for each one on a software GPU; the scores against true views did not
#: move (see the README's table of measurements: bench_view_synthesis, bench_fidelity)
DEFAULT_SIMPLIFY_PX = 1.0
#: share of that error a merged polygon's texture drift may take (see :func:`_flat_blocks`):
#: drift shifts the photo's texture inside a face even on a plane, seen from every camera; on the
#: bench_fidelity scenes (textured planes) a 0.25 px drift cost 0.08 dB of PSNR, 0.05 px none.
#: 0.1 of the default 1.0 px = 0.1 px, as before (at 640x360 on bench_render's input 0.2 would
#: save only 2 % of the triangles)
SIMPLIFY_DRIFT_SHARE = 0.1
#: largest merged block of :func:`build_mesh` with ``simplify``, in grid cells per side
DEFAULT_MAX_BLOCK = 8

#: OpenCV camera coordinates (x right, y down, z forward) -> Blender world (X right, Y fwd, Z up).
CV_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def intrinsics_from_fov(width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG) -> np.ndarray:
    """Pinhole intrinsics with the principal point at the image centre.

    Args:
        width, height: image size in pixels.
        fov_deg: horizontal field of view of the *longer* image side, in degrees (0, 180).
    Returns:
        K, (3, 3) float64 in pixels, cx = (W - 1) / 2, cy = (H - 1) / 2, square pixels.
    Raises:
        InputError: for a non-positive size or a field of view outside (1, 170) degrees.
    """
    if width <= 0 or height <= 0:
        raise InputError(f"image size must be positive, got {width}x{height}")
    if not (1.0 < fov_deg < 170.0):
        raise InputError(f"field of view must be between 1 and 170 degrees, got {fov_deg}")
    f = (max(width, height) / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    return intrinsics_from_focal(width, height, f)


def intrinsics_from_focal(width: int, height: int, focal_px: float,
                          cx: Optional[float] = None, cy: Optional[float] = None) -> np.ndarray:
    """Pinhole intrinsics from a focal length in pixels.

    Args:
        width, height: image size in pixels.
        focal_px: focal length in pixels (> 0), the same for x and y.
        cx, cy: principal point in pixels; defaults to the image centre ((W-1)/2, (H-1)/2).
    Returns:
        K, (3, 3) float64.
    Raises:
        InputError: for a non-positive focal length.
    """
    if not focal_px or focal_px <= 0 or not math.isfinite(focal_px):
        raise InputError(f"focal length must be a positive number of pixels, got {focal_px}")
    cx = (width - 1) / 2.0 if cx is None else float(cx)
    cy = (height - 1) / 2.0 if cy is None else float(cy)
    return np.array([[focal_px, 0.0, cx], [0.0, focal_px, cy], [0.0, 0.0, 1.0]])


def scale_intrinsics(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Intrinsics of the same camera after resizing the image by (sx, sy).

    Pixel centres map as u' = (u + 0.5) * sx - 0.5 (OpenCV's resize convention).

    Args:
        K: (3, 3) intrinsics in pixels of the original image.
        sx, sy: new_width / old_width and new_height / old_height.
    Returns:
        (3, 3) float64 intrinsics of the resized image.
    """
    K2 = np.array(K, dtype=np.float64).copy()
    K2[0, 0] *= sx
    K2[1, 1] *= sy
    K2[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    K2[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return K2


def horizontal_fov_deg(K: np.ndarray, width: int) -> float:
    """Horizontal field of view in degrees of intrinsics K for an image ``width`` pixels wide."""
    return math.degrees(2.0 * math.atan((width / 2.0) / float(K[0, 0])))


def unproject(u: np.ndarray, v: np.ndarray, Z: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Back-project pixels with depth along the camera rays of K (pinhole model).

    X = (u - cx) / fx * Z,  Y = (v - cy) / fy * Z,  Z = Z  (Hartley & Zisserman, ch. 6).

    Args:
        u, v: pixel coordinates (any broadcastable shape S), float.
        Z: depth along the optical axis, shape S, > 0, in scene units (metres if metric).
        K: (3, 3) intrinsics in pixels.
    Returns:
        S + (3,) float32 camera coordinates (OpenCV axes).
    """
    Z = np.asarray(Z, dtype=np.float64)
    x = (np.asarray(u, dtype=np.float64) - K[0, 2]) / K[0, 0] * Z
    y = (np.asarray(v, dtype=np.float64) - K[1, 2]) / K[1, 1] * Z
    return np.stack(np.broadcast_arrays(x, y, Z), axis=-1).astype(np.float32)


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Project camera-space points (N, 3) to pixel coordinates (N, 2) float64 with K."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack([p[:, 0] / p[:, 2] * K[0, 0] + K[0, 2], p[:, 1] / p[:, 2] * K[1, 1] + K[1, 2]], 1)


def cv_to_blender(points: np.ndarray) -> np.ndarray:
    """Map (..., 3) OpenCV camera coordinates of the rest camera to Blender world coordinates.

    (x, y, z) -> (x, z, -y): X right, Y forward, Z up. Returns float32 of the same shape.
    """
    p = np.asarray(points)
    out = np.empty(p.shape, dtype=np.float32)
    out[..., 0] = p[..., 0]
    out[..., 1] = p[..., 2]
    out[..., 2] = -p[..., 1]
    return out


def grid_shape(width: int, height: int, step: float = 2.0,
               max_vertices: int = DEFAULT_MAX_VERTICES) -> tuple[int, int]:
    """Vertex grid size (gw, gh) for an image: about one vertex per ``step`` x ``step`` pixels,
    enlarged so that gw * gh <= ``max_vertices``.

    Raises:
        InputError: for step < 1 or max_vertices < 4.
    """
    if step < 1:
        raise InputError(f"mesh step must be at least 1 pixel, got {step}")
    if max_vertices < 4:
        raise InputError(f"max_vertices must be at least 4, got {max_vertices}")
    s = float(step)
    if ((width - 1) / s + 1) * ((height - 1) / s + 1) > max_vertices:
        # solve (W/s + 1)(H/s + 1) = N for s (quadratic in 1/s)
        a, b, c = (width - 1) * (height - 1), width + height - 2, 1 - max_vertices
        inv = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
        s = max(s, 1.0 / inv)
    gw = min(width, max(2, int(math.ceil((width - 1) / s)) + 1))
    gh = min(height, max(2, int(math.ceil((height - 1) / s)) + 1))
    while gw * gh > max_vertices and max(gw, gh) > 2:  # rounding up may overshoot the cap
        if (gw / width >= gh / height and gw > 2) or gh <= 2:
            gw -= 1
        else:
            gh -= 1
    return gw, gh


def _sample_grid(Z: np.ndarray, gw: int, gh: int):
    """Sample the depth at a (gh, gw) grid of pixel centres spanning the picture.

    Returns (us, vs, rows, cols, Zg): vertex pixel positions along x (gw,) and y (gh,) -- the sample
    pixels' centres, with the outer ones moved onto the picture's border (-0.5 and W - 0.5) so the
    mesh covers the whole frame --, the sampled pixel indices, and the (gh, gw) float32 depths.
    """
    H, W = Z.shape
    cols = np.rint(np.linspace(0, W - 1, gw)).astype(np.intp)
    rows = np.rint(np.linspace(0, H - 1, gh)).astype(np.intp)
    us = cols.astype(np.float64)
    vs = rows.astype(np.float64)
    us[0], us[-1] = -0.5, W - 0.5
    vs[0], vs[-1] = -0.5, H - 0.5
    return us, vs, rows, cols, Z[np.ix_(rows, cols)].astype(np.float32)


def _edge_residual(w: np.ndarray, axis: int, pix: np.ndarray) -> np.ndarray:
    """Relative jump of inverse depth between neighbours along ``axis`` not explained by the slope.

    ``pix`` holds the pixel coordinate each sample was taken at along ``axis`` (non-decreasing), so
    slopes are per pixel even where the grid spacing in pixels is uneven. Returns one entry per
    neighbour pair (size - 1 along ``axis``), >= 0, non-maximum-suppressed (entries that are not a
    local maximum of |dw| along the axis are 0).
    """
    a = np.moveaxis(w, axis, -1).astype(np.float64)
    n = a.shape[-1]
    p = np.concatenate([a[..., :1]] * 2 + [a] + [a[..., -1:]] * 2, axis=-1)  # replicate-pad by 2
    q = np.concatenate([pix[:1]] * 2 + [pix] + [pix[-1:]] * 2).astype(np.float64)
    d = np.diff(p, axis=-1)  # d[k] = p[k+1] - p[k]; pair (j, j+1) of a is d[j + 2]
    dq = np.diff(q)
    g = np.divide(d, dq, out=np.zeros_like(d), where=dq > 0)  # per-pixel slope
    j = np.arange(n - 1)
    dj = d[..., j + 2]
    d3 = d[..., j + 1] + dj + d[..., j + 3]  # change across three steps centred on the pair
    span = dq[j + 1] + dq[j + 2] + dq[j + 3]  # ... and their length in pixels
    r = np.minimum(np.abs(d3 - span * g[..., j]), np.abs(d3 - span * g[..., j + 4]))
    r /= np.maximum(a[..., :-1], a[..., 1:])
    ad = np.abs(dj)
    nms = (ad >= np.abs(d[..., j + 1])) & (ad >= np.abs(d[..., j + 3]))
    r = np.where(nms, r, 0.0)
    return np.moveaxis(r, -1, axis)


def detect_tears(Zg: np.ndarray, threshold: float = DEFAULT_TEAR_THRESHOLD,
                 cols: Optional[np.ndarray] = None, rows: Optional[np.ndarray] = None):
    """Which grid edges cross a depth discontinuity (see the module doc for the test).

    Args:
        Zg: (gh, gw) float32 depth at the grid vertices, > 0.
        threshold: relative depth jump beyond the local slope that tears (e.g. 0.06 = 6 %).
        cols, rows: (gw,) and (gh,) pixel coordinates the grid was sampled at (default: 0, 1, 2 ...).
    Returns:
        (tear_h, tear_v): bool arrays (gh, gw - 1) for edges between horizontal neighbours and
        (gh - 1, gw) for edges between vertical neighbours.
    """
    gh, gw = Zg.shape
    cols = np.arange(gw) if cols is None else cols
    rows = np.arange(gh) if rows is None else rows
    w = 1.0 / np.maximum(Zg, 1e-12)
    return (_edge_residual(w, 1, cols) > threshold, _edge_residual(w, 0, rows) > threshold)


@dataclass
class MeshData:
    """A quad mesh in camera coordinates, ready for Blender.

    Attributes:
        positions: (N, 3) float32 OpenCV camera coordinates (scene units).
        faces: (F, 4) int32 vertex indices, counter-clockwise as seen from the camera.
        uvs: (N, 2) float32 texture coordinates of each vertex in [0, 1] (v up, Blender's UV).
        grid: (gw, gh) size of the base vertex grid.
        n_base_faces: faces of the untorn grid that were kept as they are.
        n_torn_cells: grid cells that straddle a depth edge (each became a near and a far quad).
        alpha: optional (N,) float32 per-vertex opacity in [0, 1] for soft silhouettes: 0 on the
            corners of a torn cell's near copy that were pulled forward from the far side, 1
            elsewhere (see :func:`build_mesh`); None = opaque everywhere.
        poly_verts, poly_sizes: optional polygons besides the quads (the merged flat blocks of
            :func:`build_mesh` with ``simplify``): (C,) int32 vertex indices of all their corners,
            polygon after polygon, counter-clockwise as seen from the camera, and (P,) int32 the
            number of corners of each (>= 4). None = quads only.
        n_merged_cells: grid cells covered by those polygons (0 without simplification).
    """

    positions: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    grid: tuple
    n_base_faces: int
    n_torn_cells: int
    alpha: Optional[np.ndarray] = None
    poly_verts: Optional[np.ndarray] = None
    poly_sizes: Optional[np.ndarray] = None
    n_merged_cells: int = 0

    @property
    def n_polygons(self) -> int:
        """Number of faces: the quads plus the merged polygons."""
        return len(self.faces) + (0 if self.poly_sizes is None else len(self.poly_sizes))

    def split(self, face_mask: np.ndarray) -> tuple:
        """Two meshes: the quads where ``face_mask`` (F,) bool is True, and the rest (the other
        quads and every merged polygon), each with only the vertices it uses (positions, UVs and
        alpha carried over; grid/counts copied)."""
        out = []
        for k, m in enumerate((face_mask, ~face_mask)):
            f = self.faces[m]
            polys = self.poly_verts if (k == 1 and self.poly_verts is not None) else None
            allv = f.ravel() if polys is None else np.concatenate([f.ravel(), polys])
            used, inv = np.unique(allv, return_inverse=True)
            inv = inv.astype(np.int32)
            out.append(MeshData(self.positions[used], inv[:f.size].reshape(-1, 4),
                                self.uvs[used], self.grid, self.n_base_faces, self.n_torn_cells,
                                None if self.alpha is None else self.alpha[used],
                                None if polys is None else inv[f.size:],
                                None if polys is None else self.poly_sizes,
                                0 if polys is None else self.n_merged_cells))
        return out[0], out[1]

    def soft_faces(self) -> np.ndarray:
        """(F,) bool: faces with a vertex of alpha < 1 (the soft silhouette ramps)."""
        if self.alpha is None or len(self.faces) == 0:
            return np.zeros(len(self.faces), bool)
        return (self.alpha[self.faces] < 1.0).any(1)


#: :func:`simplify_tolerance` assumes a move at least this large: one whose parallax between the
#: nearest and the farthest depth is this fraction of the render width (the largest move
#: ``amount = 1`` plans is 3 x 2.5 %), so a still camera, or one the user moves further in Blender
#: than the planned path, still sees the mesh within the error
SIMPLIFY_MIN_PARALLAX = 0.1


def simplify_tolerance(Z: np.ndarray, K: np.ndarray, positions: np.ndarray, focal_render_px: float,
                       max_error_px: float, width_px: int) -> float:
    """The ``simplify`` tolerance of :func:`build_mesh` for a camera move: the largest error in
    inverse depth 1/Z that moves no point more than ``max_error_px`` output pixels in any frame.

    Our derivation (first order, pinhole cameras): a camera translated by t (rest-camera
    coordinates) shifts a pixel at normalised position (x, y) with inverse depth w by
    f (t_xy - (x, y) t_z) w, so an error dw in w moves it by at most f (|t_xy| + r |t_z|) dw,
    r = the photo's half diagonal / its focal length (rotations move all depths alike). The move
    is taken at least as large as :data:`SIMPLIFY_MIN_PARALLAX` (its parallax across the
    inverse-depth range, 0.5-99.5 percentile, that fraction of the width). The bound holds for
    the planned move; a camera moved further than that (and than the minimum) in Blender can see
    up to proportionally more error.

    Args:
        Z: (H, W) float depth, finite and > 0 everywhere (scene units).
        K: (3, 3) float photo intrinsics in pixels (focal lengths > 0).
        positions: (F, 3) float camera centres of the move (scene units, rest-camera OpenCV
            axes), finite; F may be 0 (a still camera: the minimum move).
        focal_render_px: the longest render focal length of the move in output pixels
            (K_render[0, 0], times the largest zoom of a dolly-zoom), > 0.
        max_error_px: allowed shift in output pixels (> 0).
        width_px: the render width in output pixels (> 0).
    Returns:
        tolerance, a float in 1 / scene units (> 0).
    Raises:
        InputError: max_error_px, focal_render_px or width_px not > 0 (or not finite); Z not a
            2-D array of finite depths > 0; K not (3, 3) with focal lengths > 0; positions not
            (F, 3) finite numbers.
    """
    if not (max_error_px > 0 and math.isfinite(max_error_px)):
        raise InputError(f"simplify error must be a finite number > 0 output pixels, got "
                         f"{max_error_px!r} (use 0 in the settings to switch merging off)")
    if not (focal_render_px > 0 and math.isfinite(focal_render_px)):
        raise InputError(f"simplify: the render focal length must be > 0 output pixels, got "
                         f"{focal_render_px!r}")
    if not width_px > 0:
        raise InputError(f"simplify: the render width must be > 0 pixels, got {width_px!r}")
    Z = np.asarray(Z, np.float64)
    if Z.ndim != 2 or Z.size == 0:
        raise InputError(f"simplify: depth must be an (H, W) array, got shape {Z.shape}")
    if not np.all(np.isfinite(Z)) or Z.min() <= 0:
        raise InputError("simplify: depth must be finite and > 0 everywhere (fill its holes "
                         "first, or pass the depth the mesh is built from)")
    K = np.asarray(K, np.float64)
    if K.shape != (3, 3) or not (K[0, 0] > 0 and K[1, 1] > 0):
        raise InputError(f"simplify: intrinsics K must be 3x3 with focal lengths > 0, got {K!r}")
    t = np.asarray(positions, np.float64)
    if t.size and (t.ndim != 2 or t.shape[1] != 3):
        raise InputError(f"simplify: camera positions must be an (F, 3) array, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise InputError("simplify: camera positions must be finite numbers (the camera move "
                         "has NaN or infinite coordinates)")
    H, W = Z.shape
    w = 1.0 / Z[::4, ::4]
    lo, hi = np.percentile(w, [0.5, 99.5])
    r = math.hypot(max(K[0, 2], W - K[0, 2]) / K[0, 0], max(K[1, 2], H - K[1, 2]) / K[1, 1])
    t = t.reshape(-1, 3)
    reach = float(np.max(np.hypot(t[:, 0], t[:, 1]) + r * np.abs(t[:, 2]))) if len(t) else 0.0
    # shift per unit of w: f * reach, at least the minimum parallax over the w range
    shift_per_w = max(focal_render_px * reach,
                      SIMPLIFY_MIN_PARALLAX * width_px / max(hi - lo, 1e-6 * hi))
    return max_error_px / shift_per_w


def _flat_blocks(w: np.ndarray, busy: np.ndarray, us: np.ndarray, vs: np.ndarray, tol: float,
                 max_block: int, uv_tol: float = math.inf) -> tuple:
    """Aligned square blocks of grid cells flat enough to draw as one polygon (a quadtree).

    A block of B x B cells (B = 2, 4, ... <= ``max_block``, its top-left cell at a multiple of B)
    qualifies when its four B/2 sub-blocks do (B = 2: its cells are not ``busy``), every
    triangulation of its polygon keeps the inverse depth ``w`` of each grid vertex in it within
    ``tol``, and its texture drift is at most ``uv_tol`` pixels.

    The depth bound (our derivation). A 3-D triangle lies in a plane n.X = d, and seen from the
    rest camera its w = 1/Z = n.(x, y, 1) / d is affine in the pixel coordinates, so a
    triangulated polygon draws the piecewise-linear interpolation T of the w of its vertices --
    the block's corners and the boundary vertices finer neighbours use -- whatever diagonal or
    n-gon fill the renderer picks. Let b be the bilinear patch of the corners (in the pixel
    coordinates ``us``/``vs``), e_i / e_b the largest |w - b| over the block's interior / boundary
    vertices, e_a that over the boundary vertices in its polygon and twist = |tl - tr - bl + br|/4.
    Then w - T = (w - b) + (b - T(b)) - T(w - b). |T(w - b)| <= e_a (a mean of the polygon's
    vertices; 0 at the corners). b - T(b) is the twist term a s t of b (s, t in [0, 1]) less its
    interpolation over triangles inside the unit square: a saddle, so its extreme lies on a
    triangle side (d_s, d_t), where it is |a d_s d_t| / 4 <= twist (0 on the block's own sides,
    where b is linear). So a dropped interior vertex is within e_i + twist + e_a and a dropped
    boundary vertex within e_b + e_a, for either diagonal of a quad and any fill of an n-gon: a
    block qualifies when max(e_i + twist, e_b) + e_a <= tol. e_a depends on the neighbours, so
    the blocks are chosen first with e_a = 0 and a chosen block that then fails is split into its
    four sub-blocks, until none fails.

    The texture bound: a GPU interpolates UVs linearly in 3D, not in the picture, so a point
    of a triangle whose vertices' w lie in [wmin, wmax] gets a UV off by at most
    side * (wmax - wmin) / wmin / 4 pixels in each axis (the perspective weights w_i / mean(w)
    move at most half their spread, (wmax - wmin) / wmin / 2, from one side of the triangle to
    the other); wmin / wmax are taken over the block's boundary vertices (the triangles' corners).
    Negligible in a 2 px cell, not in a 16 px block on a slanted plane.

    Args:
        w: (gh, gw) float64 inverse depth at the grid vertices; busy: (gh-1, gw-1) bool cells that
            must stay single; us: (gw,), vs: (gh,) vertex pixel coordinates; tol: in units of w.
    Returns:
        (chosen, covered): chosen = [(B, (gh-1)//B x (gw-1)//B bool mask of the blocks used)], the
        largest qualifying block wherever one exists; covered = (gh-1, gw-1) bool cells inside them.
    """
    gh, gw = w.shape
    ch, cw = gh - 1, gw - 1
    ok = ~busy
    levels = []
    B = 2
    while B <= max_block and ch >= B and cw >= B:
        nbi, nbj = ch // B, cw // B
        ok_b = ok[:2 * nbi, :2 * nbj].reshape(nbi, 2, nbj, 2).all(axis=(1, 3))
        r0, c0 = np.arange(nbi) * B, np.arange(nbj) * B
        tl, tr = w[np.ix_(r0, c0)], w[np.ix_(r0, c0 + B)]
        bl, br = w[np.ix_(r0 + B, c0)], w[np.ix_(r0 + B, c0 + B)]
        twist = np.abs(tl - tr - bl + br) / 4.0
        e_int = np.zeros_like(twist)
        e_bnd = np.zeros_like(twist)
        wmin = np.minimum(np.minimum(tl, tr), np.minimum(bl, br))
        wmax = np.maximum(np.maximum(tl, tr), np.maximum(bl, br))
        vspan = (vs[r0 + B] - vs[r0])[:, None]
        uspan = (us[c0 + B] - us[c0])[None, :]
        for r in range(B + 1):
            sv = (vs[r0 + r] - vs[r0])[:, None] / vspan
            left, right = tl + sv * (bl - tl), tr + sv * (br - tr)
            for c in range(B + 1):
                tu = (us[c0 + c] - us[c0])[None, :] / uspan
                wv = w[np.ix_(r0 + r, c0 + c)]
                d = np.abs(wv - (left + tu * (right - left)))
                if r in (0, B) or c in (0, B):
                    e_bnd = np.maximum(e_bnd, d)
                    wmin, wmax = np.minimum(wmin, wv), np.maximum(wmax, wv)
                else:
                    e_int = np.maximum(e_int, d)
        side = np.maximum(vspan, uspan)
        ok_b &= side * (wmax - wmin) / wmin / 4.0 <= uv_tol
        crit = np.maximum(e_int + twist, e_bnd)
        ok_b &= crit <= tol  # with no boundary vertex in the polygon; checked below
        levels.append((B, ok_b, crit))
        ok = ok_b
        B *= 2
    # the polygons' boundary vertices (those finer neighbours use) add their own error e_a:
    # demote a block to its four sub-blocks until every chosen one has crit + e_a <= tol
    # (blocks only split, so this ends; a B = 2 block splits into single cells)
    demoted = [np.zeros_like(ok_b) for _, ok_b, _ in levels]
    while True:
        covered = np.zeros((ch, cw), bool)
        chosen = []
        for lv in range(len(levels) - 1, -1, -1):
            B, ok_b, _ = levels[lv]
            nbi, nbj = ok_b.shape
            sel = ok_b & ~demoted[lv] & ~covered[:nbi * B, :nbj * B].reshape(nbi, B, nbj, B).any(axis=(1, 3))
            if sel.any():
                chosen.append((B, sel))
                covered[:nbi * B, :nbj * B] |= np.repeat(np.repeat(sel, B, 0), B, 1)
        active = _active_vertices(chosen, covered)
        failed = False
        for B, sel in chosen:
            lv = int(math.log2(B)) - 1
            e_a = _boundary_error(w, us, vs, B, sel, active)
            bad = e_a + levels[lv][2][sel] > tol
            if bad.any():
                bi, bj = np.nonzero(sel)
                demoted[lv][bi[bad], bj[bad]] = True
                failed = True
        if not failed:
            return chosen, covered


def _active_vertices(chosen: list, covered: np.ndarray) -> np.ndarray:
    """(gh, gw) bool: the grid vertices some face uses -- every corner of a single cell (the
    cells not ``covered`` by a block) and every block corner."""
    ch, cw = covered.shape
    fine = ~covered
    active = np.zeros((ch + 1, cw + 1), bool)
    for sl in ((slice(None, -1), slice(None, -1)), (slice(None, -1), slice(1, None)),
               (slice(1, None), slice(None, -1)), (slice(1, None), slice(1, None))):
        active[sl] |= fine
    for B, sel in chosen:
        bi, bj = np.nonzero(sel)
        for dr in (0, B):
            for dc in (0, B):
                active[bi * B + dr, bj * B + dc] = True
    return active


def _boundary_error(w: np.ndarray, us: np.ndarray, vs: np.ndarray, B: int, sel: np.ndarray,
                    active: np.ndarray) -> np.ndarray:
    """(n,) the largest |w - bilinear of the corners| over the ``active`` boundary vertices of
    each selected B x B block (0 where only its corners are)."""
    bi, bj = np.nonzero(sel)
    r0, c0 = bi * B, bj * B
    k = np.arange(1, B)
    out = np.zeros(len(bi))
    # top, bottom (rows r0, r0 + B: along u) and left, right (columns c0, c0 + B: along v)
    for rr, cc, a, b, t in (
            (r0[:, None] + 0 * k, c0[:, None] + k, (r0, c0), (r0, c0 + B), None),
            (r0[:, None] + B + 0 * k, c0[:, None] + k, (r0 + B, c0), (r0 + B, c0 + B), None),
            (r0[:, None] + k, c0[:, None] + 0 * k, (r0, c0), (r0 + B, c0), 1),
            (r0[:, None] + k, c0[:, None] + B + 0 * k, (r0, c0 + B), (r0 + B, c0 + B), 1)):
        if t is None:
            f = (us[cc] - us[c0][:, None]) / (us[c0 + B] - us[c0])[:, None]
        else:
            f = (vs[rr] - vs[r0][:, None]) / (vs[r0 + B] - vs[r0])[:, None]
        wa, wb = w[a][:, None], w[b][:, None]
        d = np.abs(w[rr, cc] - (wa + f * (wb - wa)))
        out = np.maximum(out, np.where(active[rr, cc], d, 0.0).max(1, initial=0.0))
    return out


def _block_polygons(chosen: list, active: np.ndarray, idx: np.ndarray) -> tuple:
    """Corners of the merged blocks: each block's boundary vertices that some face uses
    (``active``, (gh, gw) bool), counter-clockwise as seen from the camera (down the left side,
    along the bottom, up the right side, back along the top), so neighbours that stay finer share
    their vertices with the block (no T-junction cracks). Returns ((C,) int32, (P,) int32)."""
    verts, sizes = [], []
    for B, sel in chosen:
        k = np.arange(B)
        dr = np.concatenate([k, np.full(B, B), B - k, np.zeros(B, int)])
        dc = np.concatenate([np.zeros(B, int), k, np.full(B, B), B - k])
        bi, bj = np.nonzero(sel)
        rr, cc = bi[:, None] * B + dr[None, :], bj[:, None] * B + dc[None, :]
        use = active[rr, cc]
        verts.append(idx[rr, cc][use])
        sizes.append(use.sum(1))
    if not verts:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    return (np.concatenate(verts).astype(np.int32), np.concatenate(sizes).astype(np.int32))


def build_mesh(Z: np.ndarray, K: np.ndarray, *, step: float = 2.0,
               max_vertices: int = DEFAULT_MAX_VERTICES,
               tear_threshold: Optional[float] = DEFAULT_TEAR_THRESHOLD,
               simplify: Optional[float] = None,
               max_block: int = DEFAULT_MAX_BLOCK,
               simplify_uv_px: Optional[float] = None) -> MeshData:
    """Perspective-correct grid mesh of a depth map, torn at depth edges by splitting.

    Vertices sit on a regular grid spanning the whole picture (outer vertices on the picture's
    border, -0.5 and W - 0.5), take the depth of the nearest pixel and are unprojected along the rays
    of K, so that seen through K from the origin the mesh covers exactly the picture.

    Args:
        Z: (H, W) depth along the optical axis, float, finite and > 0 (scene units).
        K: (3, 3) intrinsics of the picture in pixels.
        step: grid spacing in pixels (>= 1); enlarged to respect ``max_vertices``.
        max_vertices: cap on the base grid's vertex count.
        tear_threshold: relative depth jump that tears (see module doc); None = never tear.
        simplify: None/0 = a quad per grid cell. Else the flat parts are drawn with fewer faces:
            aligned blocks of up to ``max_block`` x ``max_block`` cells whose inverse depth 1/Z
            is within ``simplify`` (in 1 / scene units; see :func:`simplify_tolerance`) of the
            bilinear interpolation of their corners (with the patch's twist and its boundary
            vertices' error added, so every triangulation of the polygon stays within it; see
            :func:`_flat_blocks`) become one polygon (``MeshData.poly_verts``), holding every
            boundary vertex a finer neighbour uses (no T-junctions). This is the quadtree
            simplification of height fields (Lindstrom et al., "Real-time, continuous level of
            detail rendering of height fields", SIGGRAPH 1996; Pajarola, "Large scale terrain
            visualization using the restricted quadtree triangulation", IEEE Visualization 1998)
            applied to inverse depth, with a bound of our own; the texture drift follows
            Heckbert & Moreton, "Interpolation for polygon texture mapping and shading" (1991). Torn cells and their neighbours are never merged, so silhouettes keep
            the grid's resolution, and the UVs still address the full photo. Unused grid
            vertices are dropped.
        max_block: largest merged block, in cells per side (a power of two >= 2).
        simplify_uv_px: with ``simplify``, the largest texture drift inside a merged polygon, in
            photo pixels (see :func:`_flat_blocks`); None = not limited.
    Returns:
        :class:`MeshData`. Vertex count = gw * gh (less the vertices inside merged blocks) + one
        extra vertex per (vertex, side) that a torn cell needs; quad count = (gw-1)(gh-1) -
        n_merged_cells + n_torn_cells. Its ``alpha`` is 0 on the vertices a
        near copy pulled forward from the far side and 1 elsewhere, so a renderer that blends by it
        fades each silhouette out over one grid cell (``step`` pixels) instead of cutting it with
        scissors -- like the soft alpha matte at depth edges of 3D Photo Inpainting (Shih et al.,
        CVPR 2020) -- while the far copy underneath stays opaque.
    Raises:
        InputError: if Z is not a 2-D array of finite positive depths, or K is not (3, 3), or
            ``simplify`` is not None or a finite number >= 0, ``max_block`` not a power of two
            >= 2, ``simplify_uv_px`` not None or > 0.
    """
    if simplify is not None and not (isinstance(simplify, (int, float, np.number))
                                     and math.isfinite(simplify) and simplify >= 0):
        raise InputError(f"simplify must be None or a finite tolerance >= 0 (in 1 / scene units; "
                         f"0 = no merging), got {simplify!r}")
    if not (isinstance(max_block, (int, np.integer)) and max_block >= 2
            and max_block & (max_block - 1) == 0):
        raise InputError(f"max_block must be a power of two >= 2 (cells per side), got {max_block!r}")
    if simplify_uv_px is not None and not (isinstance(simplify_uv_px, (int, float, np.number))
                                           and simplify_uv_px > 0):
        raise InputError(f"simplify_uv_px must be None (no limit) or > 0 photo pixels, got "
                         f"{simplify_uv_px!r}")
    Z = np.asarray(Z)
    if Z.ndim != 2 or min(Z.shape) < 2:
        raise InputError(f"depth must be an (H, W) array of at least 2x2, got shape {Z.shape}")
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise InputError(f"intrinsics K must be 3x3, got shape {K.shape}")
    H, W = Z.shape
    gw, gh = grid_shape(W, H, step, max_vertices)
    us, vs, rows, cols, Zg = _sample_grid(Z, gw, gh)
    if not np.all(np.isfinite(Zg)) or Zg.min() <= 0:
        raise InputError("depth must be finite and positive everywhere (fill holes first)")

    uu, vv = np.meshgrid(us, vs)
    base_pos = unproject(uu, vv, Zg, K).reshape(-1, 3)
    base_uv = np.stack([(uu + 0.5) / W, 1.0 - (vv + 0.5) / H], -1).reshape(-1, 2).astype(np.float32)

    idx = np.arange(gh * gw, dtype=np.int64).reshape(gh, gw)
    # corners of every cell: a = top-left, b = top-right, c = bottom-right, d = bottom-left
    ca, cb, cc, cd = idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]

    if tear_threshold is None:
        torn = np.zeros((gh - 1, gw - 1), dtype=bool)
    else:
        th, tv = detect_tears(Zg, tear_threshold, cols, rows)
        torn = th[:-1, :] | th[1:, :] | tv[:, :-1] | tv[:, 1:]

    chosen, covered = [], None
    if simplify:
        busy = torn
        if torn.any():
            import cv2
            busy = cv2.dilate(torn.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        chosen, covered = _flat_blocks(
            1.0 / Zg.astype(np.float64), busy, us, vs, float(simplify), int(max_block),
            math.inf if simplify_uv_px is None else float(simplify_uv_px))
    keep = ~torn if covered is None else ~torn & ~covered
    faces = [np.stack([ca[keep], cd[keep], cc[keep], cb[keep]], 1)]
    positions = [base_pos]
    uvs = [base_uv]
    n_torn = int(torn.sum())

    if n_torn:
        import cv2  # local: geometry must import without OpenCV for pure-array users

        corners = np.stack([ca[torn], cb[torn], cc[torn], cd[torn]], 1)  # (T, 4)
        wz = 1.0 / Zg.ravel()[corners]  # inverse depth of the corners
        order = np.argsort(-wz, axis=1)  # nearest first
        ws = np.take_along_axis(wz, order, 1)
        gap = ws[:, :-1] - ws[:, 1:]
        split = np.argmax(gap, axis=1)  # near group = order[:split+1]
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(4)[None, :].repeat(len(order), 0), 1)
        is_near = rank <= split[:, None]  # (T, 4)

        # per-vertex depth of the surface on the other side: 3x3 min (near) / max (far) of the grid
        kernel = np.ones((3, 3), np.uint8)
        z_near = cv2.erode(Zg, kernel).ravel()
        z_far = cv2.dilate(Zg, kernel).ravel()

        next_index = gh * gw
        alphas = [np.ones(gh * gw, np.float32)]
        out_faces_near = corners.copy()
        out_faces_far = corners.copy()
        for far_side, zsrc, out in ((True, z_near, out_faces_near), (False, z_far, out_faces_far)):
            # near copy: replace far corners by "pulled forward" vertices; far copy: the reverse
            replace = ~is_near if far_side else is_near
            verts = np.unique(corners[replace])
            new_ids = np.arange(next_index, next_index + len(verts), dtype=np.int64)
            lut = np.full(gh * gw, -1, dtype=np.int64)
            lut[verts] = new_ids
            out[replace] = lut[corners[replace]]
            vu, vvv = uu.ravel()[verts], vv.ravel()[verts]
            positions.append(unproject(vu, vvv, zsrc[verts], K))
            uvs.append(base_uv[verts])
            alphas.append(np.full(len(verts), 0.0 if far_side else 1.0, np.float32))
            next_index += len(verts)
        # (a, b, c, d) -> counter-clockwise (a, d, c, b)
        faces.append(out_faces_near[:, [0, 3, 2, 1]])
        faces.append(out_faces_far[:, [0, 3, 2, 1]])

    mesh = MeshData(
        positions=np.concatenate(positions).astype(np.float32),
        faces=np.concatenate(faces).astype(np.int32),
        uvs=np.concatenate(uvs).astype(np.float32),
        grid=(gw, gh),
        n_base_faces=int(keep.sum()),
        n_torn_cells=n_torn,
        alpha=np.concatenate(alphas) if n_torn else None,
    )
    if chosen:
        active = _active_vertices(chosen, covered)  # single cells' and blocks' corners
        pverts, psizes = _block_polygons(chosen, active, idx)
        # drop the grid vertices no face uses any more (inside merged blocks)
        used = np.ones(len(mesh.positions), bool)
        used[:gh * gw] = active.ravel()
        lut = np.cumsum(used) - 1
        mesh = MeshData(mesh.positions[used], lut[mesh.faces].astype(np.int32), mesh.uvs[used],
                        mesh.grid, mesh.n_base_faces, n_torn,
                        None if mesh.alpha is None else mesh.alpha[used],
                        poly_verts=lut[pverts].astype(np.int32), poly_sizes=psizes,
                        n_merged_cells=int(covered.sum()))
    return mesh


def point_cloud(Z: np.ndarray, K: np.ndarray, rgb: np.ndarray, *, step: float = 1.0,
                max_points: int = 2_000_000, valid: Optional[np.ndarray] = None):
    """One coloured point per sampled pixel, unprojected along the rays of K.

    Args:
        Z: (H, W) depth > 0 (scene units).
        K: (3, 3) intrinsics in pixels.
        rgb: (H, W, 3) float32 in [0, 1] (sRGB-encoded) colours.
        step: sample every ``step`` pixels (>= 1); enlarged to respect ``max_points``.
        max_points: cap on the number of points.
        valid: optional (H, W) bool; pixels where it is False are left out.
    Returns:
        (positions (N, 3) float32 camera coordinates, colors (N, 3) float32 in [0, 1]).
    Raises:
        InputError: if shapes differ.
    """
    H, W = Z.shape
    if rgb.shape[:2] != (H, W):
        raise InputError(f"colour image is {rgb.shape[1]}x{rgb.shape[0]} but depth is {W}x{H}")
    s = max(float(step), math.sqrt(H * W / max(1, max_points)))
    rows = np.unique(np.clip(np.rint(np.arange(0, H, s)), 0, H - 1).astype(np.intp))
    cols = np.unique(np.clip(np.rint(np.arange(0, W, s)), 0, W - 1).astype(np.intp))
    vv, uu = np.meshgrid(rows, cols, indexing="ij")
    z = Z[vv, uu]
    m = np.isfinite(z) & (z > 0)
    if valid is not None:
        m &= valid[vv, uu]
    pos = unproject(uu[m], vv[m], z[m], K)
    col = np.asarray(rgb, dtype=np.float32)[vv[m], uu[m]]
    return pos, col


def write_ply(path: str, positions: np.ndarray, colors: Optional[np.ndarray] = None, *,
              overwrite: bool = False) -> str:
    """Write a binary little-endian PLY point cloud (Turk, 1994; the format MeshLab/CloudCompare read).

    Args:
        path: output file ending in .ply; its folder must exist.
        positions: (N, 3) float coordinates (written as float32, in the units given).
        colors: optional (N, 3) float in [0, 1] (written as uchar red/green/blue).
        overwrite: replace an existing file.
    Returns:
        the path written.
    Raises:
        InputError: existing file without ``overwrite``, missing folder, wrong shapes.
    """
    pos = np.asarray(positions, dtype="<f4")
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise InputError(f"positions must be (N, 3), got {pos.shape}")
    check_new_file(path, overwrite=overwrite, what="PLY file")
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(pos)}",
              "property float x", "property float y", "property float z"]
    if colors is not None:
        col = np.asarray(colors)
        if col.shape != pos.shape:
            raise InputError(f"colors must be (N, 3) like positions, got {col.shape}")
        header += ["property uchar red", "property uchar green", "property uchar blue"]
        rec = np.empty(len(pos), dtype=[("p", "<f4", 3), ("c", "u1", 3)])
        rec["p"] = pos
        rec["c"] = np.clip(np.rint(col * 255.0), 0, 255).astype(np.uint8)
    else:
        rec = pos
    header.append("end_header")
    with open(path, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode("ascii"))
        fh.write(rec.tobytes())
    return path


def read_ply_vertices(path: str) -> np.ndarray:
    """Read back the vertex positions (N, 3) float32 of a PLY written by :func:`write_ply`."""
    with open(path, "rb") as fh:
        data = fh.read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    lines = data[:end].decode("ascii").splitlines()
    n = int(next(l for l in lines if l.startswith("element vertex")).split()[-1])
    has_color = any("red" in l for l in lines)
    dt = [("p", "<f4", 3)] + ([("c", "u1", 3)] if has_color else [])
    return np.frombuffer(data[end:], dtype=dt, count=n)["p"].copy()
