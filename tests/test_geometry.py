"""Unprojection, tearing and point-cloud geometry against hand-computed values (no bpy)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from depth_addon.core import geometry as geo
from depth_addon.core.errors import InputError


def test_unproject_matches_hand_computed_points():
    K = np.array([[500.0, 0, 320.0], [0, 400.0, 240.0], [0, 0, 1]])
    # principal point at depth 2 -> on the optical axis
    assert np.allclose(geo.unproject(320.0, 240.0, 2.0, K), [0, 0, 2])
    # (820, 640) at depth 3: x = (820-320)/500*3 = 3, y = (640-240)/400*3 = 3
    assert np.allclose(geo.unproject(820.0, 640.0, 3.0, K), [3, 3, 3])
    # (70, 40) at depth 10: x = -250/500*10 = -5, y = -200/400*10 = -5
    assert np.allclose(geo.unproject(70.0, 40.0, 10.0, K), [-5, -5, 10])
    pts = geo.unproject(np.array([820.0, 70.0]), np.array([640.0, 40.0]), np.array([3.0, 10.0]), K)
    assert np.allclose(geo.project(pts, K), [[820, 640], [70, 40]])


def test_intrinsics_from_fov_90_degrees():
    K = geo.intrinsics_from_fov(800, 600, 90.0)
    assert K[0, 0] == pytest.approx(400.0)  # tan(45 deg) = 1 -> f = W / 2
    assert (K[0, 2], K[1, 2]) == (399.5, 299.5)
    assert geo.horizontal_fov_deg(K, 800) == pytest.approx(90.0)
    with pytest.raises(InputError, match="field of view"):
        geo.intrinsics_from_fov(800, 600, 180.0)


def test_scale_intrinsics_keeps_pixel_centres():
    K = geo.intrinsics_from_fov(100, 50)
    K2 = geo.scale_intrinsics(K, 2.0, 2.0)
    assert K2[0, 0] == pytest.approx(2 * K[0, 0])
    assert (K2[0, 2], K2[1, 2]) == (pytest.approx(99.5), pytest.approx(49.5))


def test_flat_mesh_covers_the_picture_exactly():
    H, W = 30, 40
    K = geo.intrinsics_from_fov(W, H, 60)
    m = geo.build_mesh(np.full((H, W), 5.0, np.float32), K, step=2)
    gw, gh = m.grid
    assert len(m.positions) == gw * gh and len(m.faces) == (gw - 1) * (gh - 1)
    assert m.n_torn_cells == 0
    assert np.allclose(m.positions[:, 2], 5.0)
    uv = geo.project(m.positions, K)
    # the outer vertices sit on the picture's border, so the mesh fills the frame
    tol = dict(abs=1e-4)  # float32 positions
    assert uv[:, 0].min() == pytest.approx(-0.5, **tol) and uv[:, 0].max() == pytest.approx(W - 0.5, **tol)
    assert uv[:, 1].min() == pytest.approx(-0.5, **tol) and uv[:, 1].max() == pytest.approx(H - 0.5, **tol)
    # UVs agree with the projected positions (texture lands where the pixel was)
    assert np.allclose(m.uvs[:, 0], (uv[:, 0] + 0.5) / W, atol=1e-5)
    assert np.allclose(m.uvs[:, 1], 1 - (uv[:, 1] + 0.5) / H, atol=1e-5)


def test_faces_are_counter_clockwise_seen_from_the_camera():
    K = geo.intrinsics_from_fov(8, 6)
    m = geo.build_mesh(np.full((6, 8), 2.0, np.float32), K, step=1)
    p = m.positions[m.faces]
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    assert np.all(n[:, 2] < 0)  # normals point back at the camera (towards -z)


def _step_scene(H=40, W=60, col=30, near=2.0, far=4.0):
    Z = np.full((H, W), near, np.float32)
    Z[:, col:] = far
    return Z


def test_tearing_splits_exactly_the_cells_that_cross_a_step_edge():
    Z = _step_scene()
    K = geo.intrinsics_from_fov(60, 40)
    m = geo.build_mesh(Z, K, step=1, tear_threshold=0.06)
    gw, gh = m.grid
    assert (gw, gh) == (60, 40)
    # exactly one column of cells (between pixel columns 29 and 30) crosses the edge
    assert m.n_torn_cells == gh - 1
    assert m.n_base_faces == (gw - 1) * (gh - 1) - (gh - 1)
    assert len(m.faces) == m.n_base_faces + 2 * m.n_torn_cells
    z = m.positions[:, 2][m.faces]
    # no face spans the step: every face lies on one side
    assert np.all(z.max(1) / z.min(1) < 1.06)
    torn = m.faces[m.n_base_faces:]
    zt = m.positions[:, 2][torn]
    assert np.allclose(zt[: m.n_torn_cells], 2.0) and np.allclose(zt[m.n_torn_cells:], 4.0)
    # the split faces cover the cell between columns 29 and 30 in the image
    uv = geo.project(m.positions[torn.ravel()], K)
    assert np.allclose(np.unique(np.round(uv[:, 0], 3)), [29.0, 30.0])


def test_soft_edges_fade_only_the_pulled_forward_corners_of_near_copies():
    Z = _step_scene()
    K = geo.intrinsics_from_fov(60, 40)
    m = geo.build_mesh(Z, K, step=1, tear_threshold=0.06)
    assert m.alpha is not None and m.alpha.shape == (len(m.positions),)
    assert set(np.unique(m.alpha)) == {0.0, 1.0}
    soft = m.soft_faces()
    # the soft faces are exactly the near copies (one per torn cell), all at the near depth
    assert soft.sum() == m.n_torn_cells
    assert np.array_equal(np.flatnonzero(soft), m.n_base_faces + np.arange(m.n_torn_cells))
    assert np.allclose(m.positions[m.faces[soft], 2], 2.0)
    # each near copy fades from its near corners (alpha 1, at the edge's near pixel column 29)
    # to the corners pulled forward from the far side (alpha 0, column 30)
    cols = np.round(geo.project(m.positions, K)[:, 0], 3)
    a = m.alpha[m.faces[soft]]
    c = cols[m.faces[soft]]
    assert np.all(a[c == 29.0] == 1.0) and np.all(a[c == 30.0] == 0.0)
    # splitting keeps every face and vertex attribute
    ramp, rest = m.split(soft)
    assert len(ramp.faces) + len(rest.faces) == len(m.faces)
    assert np.all(rest.alpha == 1.0) and ramp.alpha.min() == 0.0
    assert np.allclose(ramp.positions[ramp.faces], m.positions[m.faces[soft]])
    assert np.allclose(rest.uvs[rest.faces], m.uvs[m.faces[~soft]])
    # no tear, no alpha
    assert geo.build_mesh(Z, K, step=1, tear_threshold=None).alpha is None


def test_untorn_mesh_keeps_the_rubber_sheet():
    m = geo.build_mesh(_step_scene(), geo.intrinsics_from_fov(60, 40), step=1, tear_threshold=None)
    z = m.positions[:, 2][m.faces]
    assert m.n_torn_cells == 0 and (z.max(1) / z.min(1)).max() == pytest.approx(2.0)


def test_small_steps_below_the_threshold_do_not_tear():
    m = geo.build_mesh(_step_scene(near=2.0, far=2.1), geo.intrinsics_from_fov(60, 40), step=1,
                       tear_threshold=0.06)
    assert m.n_torn_cells == 0


@pytest.mark.parametrize("step", [1, 2, 3, 2.5])
def test_steep_plane_is_not_an_edge(step):
    v, u = np.mgrid[0:80, 0:120]
    # a ground plane seen at a grazing angle: inverse depth is affine in the pixel coordinates
    Z = (1.0 / (0.02 + 0.01 * v + 0.0005 * u)).astype(np.float32)
    assert Z.max() / Z.min() > 30
    m = geo.build_mesh(Z, geo.intrinsics_from_fov(120, 80), step=step)
    assert m.n_torn_cells == 0


def test_blurred_edge_tears_once_per_row():
    import cv2

    Z = cv2.GaussianBlur(_step_scene(), (0, 0), 1.5)
    m = geo.build_mesh(Z, geo.intrinsics_from_fov(60, 40), step=1)
    assert m.n_torn_cells == m.grid[1] - 1


def test_vertex_cap_and_grid_shape():
    gw, gh = geo.grid_shape(4000, 3000, step=2, max_vertices=1_000_000)
    assert gw * gh <= 1_000_000 and gw * gh > 900_000
    assert abs(gw / gh - 4 / 3) < 0.01
    assert geo.grid_shape(100, 50, step=2) == (51, 26)
    with pytest.raises(InputError):
        geo.grid_shape(100, 50, step=0.5)


def test_build_mesh_rejects_bad_depth():
    K = geo.intrinsics_from_fov(10, 10)
    Z = np.ones((10, 10), np.float32)
    Z[3, 3] = np.nan
    with pytest.raises(InputError, match="finite and positive"):
        geo.build_mesh(Z, K, step=1)
    with pytest.raises(InputError, match=r"\(H, W\)"):
        geo.build_mesh(np.ones(10), K)


def test_point_cloud_and_ply_round_trip(tmp_path):
    H, W = 20, 30
    K = geo.intrinsics_from_fov(W, H)
    Z = np.linspace(1, 3, H * W, dtype=np.float32).reshape(H, W)
    rgb = np.random.default_rng(0).random((H, W, 3)).astype(np.float32)
    pos, col = geo.point_cloud(Z, K, rgb, step=1)
    assert pos.shape == (H * W, 3) and col.shape == (H * W, 3)
    assert np.allclose(geo.project(pos, K), np.stack(np.meshgrid(np.arange(W), np.arange(H)), -1)
                       .reshape(-1, 2), atol=1e-3)
    path = tmp_path / "cloud.ply"
    geo.write_ply(str(path), pos, col)
    assert np.array_equal(geo.read_ply_vertices(str(path)), pos)
    with pytest.raises(InputError, match="--overwrite"):
        geo.write_ply(str(path), pos, col)
    with pytest.raises(InputError, match="does not exist"):
        geo.write_ply(str(tmp_path / "missing" / "x.ply"), pos, col)


def test_cv_to_blender_axes():
    # OpenCV: x right, y down, z forward -> Blender world: X right, Y forward, Z up
    assert np.allclose(geo.cv_to_blender(np.array([[1.0, 2.0, 3.0]])), [[1.0, 3.0, -2.0]])
    assert math.isclose(np.linalg.det(geo.CV_TO_BLENDER), 1.0)


# -- simplified meshes (merged flat blocks) -------------------------------------------------------

def _edges(m):
    """(E, 2) sorted vertex pairs of every face side (quads and merged polygons), with repeats."""
    polys = [list(f) for f in m.faces]
    if m.poly_verts is not None:
        starts = np.cumsum(m.poly_sizes) - m.poly_sizes
        polys += [list(m.poly_verts[s:s + n]) for s, n in zip(starts, m.poly_sizes)]
    e = np.array([(p[i], p[(i + 1) % len(p)]) for p in polys for i in range(len(p))])
    return np.sort(e, axis=1), polys


def _tilted_plane(H=48, W=64):
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    return (1.0 / (0.3 + 0.002 * u + 0.001 * v)).astype(np.float32)  # 1/Z affine: a plane


def _bump(H=48, W=64, height=0.8):
    """A Gaussian bump towards the camera on a plane 3 units away (curved: every block twists)."""
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    r2 = ((u - 0.45 * W) ** 2 + (v - 0.55 * H) ** 2) / (0.3 * W) ** 2
    return (3.0 - height * np.exp(-r2)).astype(np.float32)


def _dropped_errors(m, full, K, W, H):
    """The worst error of the full grid's vertices that ``m`` drops, against every fan
    triangulation of the merged polygon that covers them (for a quad: both diagonal splits).

    Returns (dw, duv): the largest |1/Z - T| (T = inverse depth of the triangle that the vertex's
    pixel ray hits) and the largest texture drift in photo pixels per axis (the UV that a GPU
    interpolates linearly in 3D at that point, against the vertex's own UV).
    """
    kept = {tuple(p) for p in m.positions.round(5)}
    dropped = np.array([tuple(p) not in kept for p in full.positions.round(5)])
    assert dropped.any()
    fpx = geo.project(full.positions, K)
    fw = 1.0 / full.positions[:, 2].astype(np.float64)
    fuv = full.uvs.astype(np.float64) * [W, H]
    mpx = geo.project(m.positions, K)
    mw = 1.0 / m.positions[:, 2].astype(np.float64)
    muv = m.uvs.astype(np.float64) * [W, H]
    worst_w = worst_uv = 0.0
    seen = np.zeros(len(fpx), bool)
    starts = np.cumsum(m.poly_sizes) - m.poly_sizes
    for s, n in zip(starts, m.poly_sizes):
        pv = m.poly_verts[s:s + n]
        q = mpx[pv]
        lo, hi = q.min(0) - 1e-4, q.max(0) + 1e-4
        inside = dropped & np.all((fpx >= lo) & (fpx <= hi), 1)
        if not inside.any():
            continue
        seen |= inside
        p = fpx[inside]
        for k in range(n):  # the fan from each polygon vertex
            best = np.full(len(p), -np.inf)
            tw = np.zeros(len(p))
            tuv = np.zeros((len(p), 2))
            for i in range(1, n - 1):
                a, b, c = pv[k], pv[(k + i) % n], pv[(k + i + 1) % n]
                T = np.stack([mpx[b] - mpx[a], mpx[c] - mpx[a]], 1)
                if abs(np.linalg.det(T)) < 1e-9:
                    continue  # collinear corners: a triangle of no area
                l12 = np.linalg.solve(T, (p - mpx[a]).T).T
                mu = np.column_stack([1 - l12.sum(1), l12])  # screen-space barycentrics
                score = mu.min(1)
                take = score > best
                best[take] = score[take]
                ww = mu * mw[[a, b, c]]
                tw[take] = ww.sum(1)[take]
                tuv[take] = ((ww @ muv[[a, b, c]]) / ww.sum(1)[:, None])[take]
            assert best.min() > -1e-3  # every dropped vertex is inside the polygon
            worst_w = max(worst_w, float(np.abs(fw[inside] - tw).max()))
            worst_uv = max(worst_uv, float(np.abs(fuv[inside] - tuv).max()))
    assert seen[dropped].all()
    return worst_w, worst_uv


def test_simplify_merges_a_plane_into_watertight_counter_clockwise_polygons():
    H, W = 48, 64
    K = geo.intrinsics_from_fov(W, H, 60)
    full = geo.build_mesh(_tilted_plane(H, W), K, step=1, tear_threshold=None)
    m = geo.build_mesh(_tilted_plane(H, W), K, step=1, tear_threshold=None, simplify=1e-6,
                       max_block=8)
    gw, gh = m.grid
    # the interior of the picture is all 8x8 blocks (4x4 where only those fit, at the border)
    assert m.n_merged_cells > 0.8 * (gw - 1) * (gh - 1)
    assert len(m.faces) + m.n_merged_cells == (gw - 1) * (gh - 1)
    assert m.n_polygons < full.n_polygons / 5 and len(m.positions) < len(full.positions) / 3
    # every kept vertex is one of the full grid's (same position and UV)
    key = {tuple(p): tuple(t) for p, t in zip(full.positions.round(5), full.uvs.round(6))}
    assert all(key[tuple(p)] == tuple(t) for p, t in zip(m.positions.round(5), m.uvs.round(6)))
    # watertight: each side is shared by two faces, except on the picture's border
    e, polys = _edges(m)
    uniq, count = np.unique(e, axis=0, return_counts=True)
    assert count.max() == 2
    px = np.stack([m.uvs[:, 0] * W - 0.5, (1 - m.uvs[:, 1]) * H - 0.5], 1)
    on_border = (np.isclose(px[:, 0], -0.5) | np.isclose(px[:, 0], W - 0.5)
                 | np.isclose(px[:, 1], -0.5) | np.isclose(px[:, 1], H - 0.5))
    single = uniq[count == 1]
    assert on_border[single].all()
    # counter-clockwise as seen from the camera, like the quads (positive signed area in x-y up)
    for p in polys:
        q = geo.project(m.positions[p], K)
        x, y = q[:, 0], -q[:, 1]
        assert 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) > 0


def test_simplify_never_merges_torn_cells_or_their_neighbours():
    Z = _step_scene()  # a vertical step edge at column 30 on a flat background
    K = geo.intrinsics_from_fov(60, 40)
    full = geo.build_mesh(Z, K, step=1)
    m = geo.build_mesh(Z, K, step=1, simplify=1e-6)
    assert m.n_torn_cells == full.n_torn_cells > 0 and m.n_merged_cells > 0
    # the torn copies are the same faces (same corner positions), so silhouettes keep the grid
    def torn_corners(mesh):
        return np.sort(mesh.positions[mesh.faces[mesh.n_base_faces:]].reshape(-1, 12), axis=0)
    assert np.allclose(torn_corners(m), torn_corners(full))
    # no merged polygon reaches within one cell of the edge (columns 29..31 in pixels)
    starts = np.cumsum(m.poly_sizes) - m.poly_sizes
    u = geo.project(m.positions, K)[:, 0]
    for s, n in zip(starts, m.poly_sizes):
        cols = u[m.poly_verts[s:s + n]]
        assert cols.max() <= 29.01 or cols.min() >= 31.99
    # the soft-edge split keeps the polygons with the rest of the mesh
    ramp, rest = m.split(m.soft_faces())
    assert ramp.poly_verts is None and rest.n_polygons == m.n_polygons - len(ramp.faces)
    assert rest.n_merged_cells == m.n_merged_cells


def _wavy(H=48, W=64):
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    return (2.0 + 0.5 * np.sin(u / 9.0) * np.cos(v / 7.0)).astype(np.float32)


def _stereo_bump(H=48, W=64, f=60.0, baseline=0.2):
    """Metric depth from a disparity map (Z = f B / d): a slanted floor of disparity with a bump."""
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    r2 = ((u - 0.6 * W) ** 2 + (v - 0.4 * H) ** 2) / (0.25 * W) ** 2
    d = 3.0 + 0.05 * v + 2.5 * np.exp(-r2)
    return (f * baseline / d).astype(np.float32)


@pytest.mark.parametrize("surface", ["bump", "wavy", "stereo"])
@pytest.mark.parametrize("tol", [1e-4, 3e-4, 1e-3, 3e-3])
def test_simplify_keeps_every_triangulation_within_the_tolerance(surface, tol):
    # the renderer splits a merged quad along either diagonal and fills an n-gon its own way:
    # every dropped grid vertex must stay within tol of all of them (the old test, the max of
    # the vertex error and the twist, let the diagonals stray 1.3-1.9x the tolerance here)
    H, W = 48, 64
    Z = {"bump": _bump, "wavy": _wavy, "stereo": _stereo_bump}[surface](H, W)
    K = geo.intrinsics_from_fov(W, H, 60)
    if surface == "stereo":  # the tolerance the pipeline would use for a small sideways move
        move = np.array([[0.0, 0, 0], [0.05, 0, 0], [0.0, 0.03, 0.02]])
        tol = geo.simplify_tolerance(Z, K, move, 100.0 * tol / 1e-3, 0.25, 64)
    full = geo.build_mesh(Z, K, step=1, tear_threshold=None)
    m = geo.build_mesh(Z, K, step=1, tear_threshold=None, simplify=tol, max_block=8)
    if m.poly_verts is None:
        pytest.skip("nothing merged at this tolerance")
    assert len(m.positions) < len(full.positions)
    dw, _ = _dropped_errors(m, full, K, W, H)
    assert dw <= tol * (1 + 1e-4) + 1e-7


def test_simplify_merges_more_when_looser_and_nothing_at_zero():
    H, W = 48, 64
    K = geo.intrinsics_from_fov(W, H, 60)
    full = geo.build_mesh(_bump(H, W), K, step=1, tear_threshold=None)
    meshes = [geo.build_mesh(_bump(H, W), K, step=1, tear_threshold=None, simplify=t)
              for t in (1e-4, 1e-3, 1e-2)]
    assert meshes[0].n_merged_cells > 0
    counts = [len(m.positions) for m in meshes]
    assert len(full.positions) > counts[0] > counts[1] > counts[2]
    assert geo.build_mesh(_bump(H, W), K, step=1, tear_threshold=None, simplify=0).poly_verts is None


def test_simplify_uv_px_bounds_the_texture_drift_of_every_triangulation():
    # a steep floor: large blocks whose corners' depths differ a lot, so the perspective-correct
    # UVs of a big face drift from the photo; simplify_uv_px must keep that drift in bound
    H, W = 64, 64
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    Z = (1.0 / (0.05 + 0.02 * v + 0.004 * u)).astype(np.float32)
    K = geo.intrinsics_from_fov(W, H, 60)
    full = geo.build_mesh(Z, K, step=1, tear_threshold=None)
    free = geo.build_mesh(Z, K, step=1, tear_threshold=None, simplify=1e-5, max_block=16)
    _, drift_free = _dropped_errors(free, full, K, W, H)
    bound = 0.05
    assert drift_free > 2 * bound  # unlimited, the drift is real here
    m = geo.build_mesh(Z, K, step=1, tear_threshold=None, simplify=1e-5, max_block=16,
                       simplify_uv_px=bound)
    assert 0 < m.n_merged_cells < free.n_merged_cells
    _, drift = _dropped_errors(m, full, K, W, H)
    assert drift <= bound * (1 + 1e-3) + 1e-4


def test_simplify_tolerance_follows_the_move_and_the_output_size():
    Z = _step_scene()  # inverse depth 1/4 .. 1/2
    K = geo.intrinsics_from_fov(60, 40)
    move = np.array([[0.0, 0, 0], [1.0, 0, 0], [0, 0.5, 1.0]])
    t1 = geo.simplify_tolerance(Z, K, move, 100.0, 0.25, 60)
    # r = half diagonal / f; reach = max(|t_xy| + r |t_z|) -> tol = px / (f * reach)
    r = math.hypot(30.5 / K[0, 0], 20.5 / K[1, 1])  # the farther border from (cx, cy)
    reach = max(1.0, 0.5 + r * 1.0)
    assert 100.0 * reach > geo.SIMPLIFY_MIN_PARALLAX * 60 / 0.25  # not the minimum move
    assert t1 == pytest.approx(0.25 / (100.0 * reach), rel=1e-3)
    assert geo.simplify_tolerance(Z, K, move, 200.0, 0.25, 60) == pytest.approx(t1 / 2, rel=1e-6)
    assert geo.simplify_tolerance(Z, K, 2 * move, 100.0, 0.25, 60) == pytest.approx(t1 / 2, rel=1e-6)
    # a still camera: the minimum move (parallax over the w range = 10 % of the width)
    still = geo.simplify_tolerance(Z, K, np.zeros((3, 3)), 100.0, 0.25, 600)
    assert still == pytest.approx(0.25 * (1 / 2.0 - 1 / 4.0) / (geo.SIMPLIFY_MIN_PARALLAX * 600))
    with pytest.raises(InputError, match="simplify"):
        geo.simplify_tolerance(Z, K, move, 100.0, 0.0, 60)


@pytest.mark.parametrize("kw, words", [
    (dict(simplify=float("nan")), "simplify must be None or a finite"),
    (dict(simplify=float("inf")), "simplify must be None or a finite"),
    (dict(simplify=-1e-3), "simplify must be None or a finite"),
    (dict(simplify="0.1"), "simplify must be None or a finite"),
    (dict(simplify=1e-3, max_block=6), "max_block must be a power of two"),
    (dict(simplify=1e-3, max_block=1), "max_block must be a power of two"),
    (dict(simplify=1e-3, simplify_uv_px=0.0), "simplify_uv_px must be None"),
    (dict(simplify=1e-3, simplify_uv_px=float("nan")), "simplify_uv_px must be None"),
])
def test_build_mesh_rejects_bad_simplify_settings(kw, words):
    # NaN used to switch merging off without a word
    K = geo.intrinsics_from_fov(64, 48, 60)
    with pytest.raises(InputError, match=words):
        geo.build_mesh(_bump(), K, step=1, tear_threshold=None, **kw)


@pytest.mark.parametrize("change, words", [
    (lambda a: a.update(Z=np.where(np.eye(40, 60, dtype=bool), np.nan, a["Z"])), "finite and > 0"),
    (lambda a: a.update(Z=a["Z"] * 0), "finite and > 0"),
    (lambda a: a.update(Z=-a["Z"]), "finite and > 0"),
    (lambda a: a.update(f=0.0), "focal length must be > 0"),
    (lambda a: a.update(f=float("nan")), "focal length must be > 0"),
    (lambda a: a.update(width=0), "width must be > 0"),
    (lambda a: a.update(move=np.array([[0.0, np.nan, 0]])), "positions must be finite"),
    (lambda a: a.update(move=np.array([[np.inf, 0, 0]])), "positions must be finite"),
    (lambda a: a.update(px=float("nan")), "simplify error must be a finite number > 0"),
])
def test_simplify_tolerance_rejects_bad_inputs(change, words):
    a = dict(Z=_step_scene(), move=np.array([[0.0, 0, 0], [1.0, 0, 0]]), f=100.0, px=0.25, width=60)
    change(a)
    with pytest.raises(InputError, match=words):
        geo.simplify_tolerance(a["Z"], geo.intrinsics_from_fov(60, 40), a["move"], a["f"],
                               a["px"], a["width"])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.5, "0.25", None])
def test_settings_reject_a_bad_simplify(bad):
    from depth_addon.core import pipeline

    with pytest.raises(InputError, match=r"simplify must be a finite number of output pixels "
                                         rf">= 0 \(0 = no merging, default {geo.DEFAULT_SIMPLIFY_PX}\), got"):
        pipeline.Settings(simplify_px=bad).validate()


@pytest.mark.parametrize("preset", ["circle", "dolly-zoom"])
def test_pipeline_simplifies_for_its_own_move_and_the_setting_wins(tmp_path, preset):
    from depth_addon.core import pipeline

    H, W = 60, 90
    rgb = np.random.default_rng(0).random((H, W, 3)).astype(np.float32)
    Z = _bump(H, W) * 0.1
    Z[20:40, 20:40] = 0.1  # a box in front: torn cells stay single
    np.save(tmp_path / "d.npy", Z)

    def run(**kw):
        s = pipeline.Settings(depth_kind="metric", seconds=2, fps=4, resolution=(W, H), step=1,
                              fill_background=False, preset=preset, **kw)
        return pipeline.run(rgb, depth=str(tmp_path / "d.npy"), settings=s)

    def expected(res, px, focal):
        tol = geo.simplify_tolerance(res.Z, res.K, res.camera.positions, focal, px,
                                     int(res.render_size[0]))
        share = geo.SIMPLIFY_DRIFT_SHARE * px * res.K[0, 0] / focal
        return geo.build_mesh(res.Z, res.K, step=1, tear_threshold=res.settings.tear_threshold,
                              simplify=tol, simplify_uv_px=share)

    assert run().settings.simplify_px == geo.DEFAULT_SIMPLIFY_PX
    px = 0.25  # fine enough that this bump is not merged into the largest blocks everywhere
    res = run(simplify_px=px)
    # the tolerance is that of the move's longest render focal length (a dolly-zoom's grows)
    f_max = res.K_render[0, 0] * res.camera.focal_px.max() / res.K[0, 0]
    want = expected(res, px, f_max)
    assert 0 < res.mesh.n_merged_cells == want.n_merged_cells
    assert np.array_equal(res.mesh.positions, want.positions)
    assert np.array_equal(res.mesh.poly_verts, want.poly_verts)
    if preset == "dolly-zoom":  # the rest focal length would have merged more
        assert res.camera.focal_px.max() > 1.05 * res.K[0, 0]
        rest = expected(res, px, res.K_render[0, 0])
        assert len(rest.positions) < len(res.mesh.positions)
    off, loose = run(simplify_px=0.0).mesh, run(simplify_px=2.0).mesh
    assert off.poly_verts is None and off.n_merged_cells == 0
    assert len(loose.positions) < len(res.mesh.positions) < len(off.positions)
    assert res.mesh.n_torn_cells == off.n_torn_cells > 0
    with pytest.raises(InputError, match="simplify"):
        pipeline.Settings(simplify_px=-1.0).validate()
