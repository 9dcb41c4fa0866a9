"""The 3D photo in a real Blender scene (bpy module): mesh, material, camera, render."""
from __future__ import annotations

import numpy as np
import pytest
import bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from depth_addon.blender import mesh as bmesh
from depth_addon.blender import render as brender
from depth_addon.blender import scene as bscene
from depth_addon.core import geometry as geo
from depth_addon.core import pipeline


def _step_photo(H=60, W=90):
    """A photo of a near box (left half, red) in front of a far wall (right half, textured)."""
    rng = np.random.default_rng(1)
    rgb = rng.random((H, W, 3)).astype(np.float32)
    rgb[:, : W // 2] = (0.8, 0.1, 0.1)
    Z = np.full((H, W), 4.0, np.float32)
    Z[:, : W // 2] = 2.0
    return rgb, Z


def _run(tmp_path, mode="mesh", amount=1.0, frames=4, engine="workbench", resolution=(90, 60),
         **kw):
    rgb, Z = _step_photo()
    depth_file = tmp_path / "depth.npy"
    np.save(depth_file, Z)
    s = pipeline.Settings(mode=mode, depth_kind="metric", amount=amount, seconds=frames, fps=1,
                          resolution=resolution, engine=engine, step=1, fov_deg=60.0, **kw)
    return pipeline.run(rgb, depth=str(depth_file), settings=s)


@pytest.mark.parametrize("soft", [False, True])
def test_mesh_counts_and_positions_match_the_core(tmp_path, empty_scene, soft):
    res = _run(tmp_path, soft_edges=soft)
    built = bscene.build(res, scene=empty_scene)
    assert res.mesh.n_torn_cells == res.mesh.grid[1] - 1  # one column of cells along the step
    edges = [o for o in built.collection.objects if o.name.startswith(bscene.EDGES_NAME)]
    if soft:  # the near copies (alpha ramps) are their own, alpha-blended object
        ramp, rest = res.mesh.split(res.mesh.soft_faces())
        assert len(edges) == 1 and len(ramp.faces) == res.mesh.n_torn_cells
        me_e = edges[0].data
        alpha = np.empty(len(me_e.vertices), np.float32)
        me_e.attributes["alpha"].data.foreach_get("value", alpha)
        assert np.array_equal(alpha, ramp.alpha)
        assert np.allclose(bmesh.read_positions(me_e), geo.cv_to_blender(ramp.positions))
        mat = me_e.materials[0]
        assert {n.bl_idname for n in mat.node_tree.nodes} >= {"ShaderNodeAttribute",
                                                              "ShaderNodeBsdfTransparent"}
        assert mat.surface_render_method == "BLENDED"
        assert built.photo_object.name == "3D Photo"  # find_built never takes the edges object
        assert bscene.find_built(empty_scene).photo_object == built.photo_object
    else:
        rest = res.mesh
        assert edges == []
    me = built.photo_object.data
    assert len(me.vertices) == len(rest.positions)
    assert rest.poly_sizes is not None and len(rest.poly_sizes) > 0  # flat: simplified (default)
    assert len(me.polygons) == rest.n_polygons == len(rest.faces) + len(rest.poly_sizes)
    pos = bmesh.read_positions(me)
    assert np.allclose(pos, geo.cv_to_blender(rest.positions))
    loops = np.empty(len(me.loops), np.int32)
    me.attributes[".corner_vert"].data.foreach_get("value", loops)
    nq = 4 * len(rest.faces)
    assert np.array_equal(loops[:nq].reshape(-1, 4), rest.faces)
    assert np.array_equal(loops[nq:], rest.poly_verts)
    sizes = np.empty(len(me.polygons), np.int32)
    me.polygons.foreach_get("loop_total", sizes)
    assert np.array_equal(sizes[len(rest.faces):], rest.poly_sizes)


def test_simplified_mesh_renders_like_the_full_grid(tmp_path, empty_scene):
    """The merged polygons of a simplified mesh (a slanted, textured wall behind a box) render
    the same picture as a quad per cell, from a camera that moved (Workbench, no AA)."""
    H, W = 60, 90
    rng = np.random.default_rng(3)
    rgb = rng.random((H, W, 3)).astype(np.float32)
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    Z = (1.0 / (0.2 + 0.001 * u + 0.0005 * v)).astype(np.float32)  # a slanted plane
    Z[20:40, 20:40] = 2.0  # a box in front
    depth_file = tmp_path / "depth.npy"
    np.save(depth_file, Z)
    imgs, counts = {}, {}
    for px in (0.0, 0.25):
        s = pipeline.Settings(depth_kind="metric", amount=2.0, seconds=3, fps=1, resolution=(W, H),
                              step=1, fov_deg=60.0, simplify_px=px, soft_edges=False)
        res = pipeline.run(rgb, depth=str(depth_file), settings=s)
        built = bscene.build(res, scene=empty_scene)
        empty_scene.display.render_aa = "OFF"
        empty_scene.render.use_compositing = False
        counts[px] = len(built.photo_object.data.polygons)
        imgs[px] = _still(empty_scene, tmp_path / f"simplify{px}.png", 2)
    assert counts[0.25] < counts[0.0] / 3, counts
    d = np.abs(imgs[0.25] - imgs[0.0])
    psnr = 10 * np.log10(255.0 ** 2 / max(float((d ** 2).mean()), 1e-9))
    assert psnr > 35, psnr  # random texture: a 0.1 px shift already costs PSNR
    assert (d.max(2) > 60).mean() < 0.01  # no cracks: no pixel shows the black world instead


def test_simplified_curved_mesh_stays_within_the_bound_as_blender_triangulates_it(tmp_path,
                                                                                  empty_scene):
    """A curved bump, simplified by default for a large move: the Blender mesh has fewer vertices
    than the full grid, and every full-grid vertex lies within the tolerance (in inverse depth
    along its pixel ray) of the triangles Blender draws for the evaluated mesh, whichever diagonal
    it picks (the old acceptance test strayed 1.09x the tolerance here)."""
    from mathutils.bvhtree import BVHTree

    H, W = 60, 90
    rgb = np.random.default_rng(4).random((H, W, 3)).astype(np.float32)
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    r2 = ((u - 40.0) ** 2 + (v - 33.0) ** 2) / 18.0 ** 2
    Z = (3.0 - 1.2 * np.exp(-r2)).astype(np.float32)
    depth_file = tmp_path / "depth.npy"
    np.save(depth_file, Z)
    s = pipeline.Settings(depth_kind="metric", amount=4.0, seconds=3, fps=1, resolution=(W, H),
                          step=1, fov_deg=60.0, soft_edges=False, fill_background=False)
    res = pipeline.run(rgb, depth=str(depth_file), settings=s)
    assert res.mesh.n_torn_cells == 0 and res.mesh.n_merged_cells > 0
    built = bscene.build(res, scene=empty_scene)
    obj = built.photo_object
    full = geo.build_mesh(res.Z, res.K, step=1, tear_threshold=s.tear_threshold)
    assert len(obj.data.vertices) == len(res.mesh.positions) < 0.9 * len(full.positions)
    assert np.allclose(np.array(obj.matrix_world), np.eye(4))
    f_max = res.K_render[0, 0] * res.camera.focal_px.max() / res.K[0, 0]
    tol = geo.simplify_tolerance(res.Z, res.K, res.camera.positions, f_max, s.simplify_px, W)

    depsgraph = bpy.context.evaluated_depsgraph_get()
    tree = BVHTree.FromObject(obj, depsgraph)  # the evaluated mesh's triangles
    # the full grid's vertices off the picture's border (a ray along the border may miss)
    px = geo.project(full.positions, res.K)
    inner = (px[:, 0] > 0) & (px[:, 0] < W - 1) & (px[:, 1] > 0) & (px[:, 1] < H - 1)
    pts = full.positions[inner].astype(np.float64)
    worst = 0.0
    for p_cv, ray in zip(pts, geo.cv_to_blender(pts)):
        d = Vector(ray.tolist()).normalized()
        hit, _, _, _ = tree.ray_cast(Vector((0.0, 0.0, 0.0)), d)
        assert hit is not None
        z_hit = float(hit.y)  # Blender y = the rest camera's optical axis (OpenCV z)
        worst = max(worst, abs(1.0 / p_cv[2] - 1.0 / z_hit))
    assert worst <= tol * (1 + 1e-3) + 1e-6, (worst, tol)


def test_mesh_is_perspective_correct_through_the_scene_camera(tmp_path, empty_scene):
    """From the rest camera every vertex projects onto the pixel it was made from."""
    res = _run(tmp_path, amount=0.0, resolution=(90, 60), soft_edges=False)  # one object
    built = bscene.build(res, scene=empty_scene)
    empty_scene.frame_set(1)
    bpy.context.view_layer.update()
    cam = empty_scene.camera
    assert cam is built.camera_object
    pos = bmesh.read_positions(built.photo_object.data)
    expected = geo.project(res.mesh.positions, res.K_render)
    idx = np.linspace(0, len(pos) - 1, 200).astype(int)
    for i in idx:
        p = world_to_camera_view(empty_scene, cam, Vector(pos[i].tolist()))
        u = p.x * 90 - 0.5
        v = (1 - p.y) * 60 - 0.5
        assert (u, v) == pytest.approx(tuple(expected[i]), abs=2e-3)


def test_material_shows_the_photo(tmp_path, empty_scene):
    res = _run(tmp_path)
    built = bscene.build(res, scene=empty_scene)
    mat = built.photo_object.data.materials[0]
    tex = [n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeTexImage"]
    assert len(tex) == 1 and tex[0].image == built.image
    px = np.empty(len(built.image.pixels), np.float32)
    built.image.pixels.foreach_get(px)
    px = px.reshape(60, 90, 4)[::-1, :, :3]  # Blender stores rows bottom-up
    assert np.abs(px - res.photo.rgb).max() < 1 / 255 + 1e-6
    assert built.image.packed_file is not None
    assert empty_scene.view_settings.view_transform == "Standard"


def test_camera_is_keyed_on_every_frame(tmp_path, empty_scene):
    res = _run(tmp_path, frames=6)
    built = bscene.build(res, scene=empty_scene)
    assert (empty_scene.frame_start, empty_scene.frame_end) == (1, 6)
    locs = []
    for f in range(1, 7):
        empty_scene.frame_set(f)
        locs.append(np.array(built.camera_object.matrix_world.translation))
        # the pose Blender evaluates equals the core's key for that frame
        assert np.allclose(locs[-1], geo.CV_TO_BLENDER @ res.camera.positions[f - 1], atol=1e-5)
    assert len({tuple(np.round(l, 6)) for l in locs}) == 6


def test_rebuild_replaces_only_what_it_generated(tmp_path, empty_scene):
    user_mesh = bpy.data.meshes.new("user")
    user_obj = bpy.data.objects.new("user object", user_mesh)
    empty_scene.collection.objects.link(user_obj)
    bscene.build(_run(tmp_path), scene=empty_scene)
    bscene.build(_run(tmp_path), scene=empty_scene)
    names = sorted(o.name for o in bpy.data.objects)
    # (the step photo tears, so the filled background layer is there too: core/background/)
    assert names == ["3D Photo", "3D Photo Camera", "3D Photo background", "3D Photo soft edges",
                     "user object"]
    assert len([c for c in bpy.data.collections if c.name.startswith("3D Photo")]) == 1


@pytest.mark.parametrize("mode", ["points", "plane"])
def test_other_modes_build(tmp_path, empty_scene, mode):
    res = _run(tmp_path, mode=mode)
    built = bscene.build(res, scene=empty_scene)
    ob = built.photo_object
    if mode == "points":
        assert len(ob.data.vertices) == 60 * 90 and len(ob.data.polygons) == 0
        assert ob.modifiers[0].type == "NODES"
    else:
        kinds = [m.type for m in ob.modifiers]
        assert kinds == ["SUBSURF", "DISPLACE"]  # non-destructive, strength stays live
        ev = ob.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
        assert len(ev.vertices) > len(ob.data.vertices)
        # displaced towards the camera on the near (left) half, away on the far half
        co = np.array([v.co[:] for v in ev.vertices])
        left, right = co[:, 0] < -0.2, co[:, 0] > 0.2
        assert co[left, 1].mean() < co[right, 1].mean()


def _frames(folder):
    from PIL import Image

    files = sorted(folder.glob("frame_*.png"))
    return [np.asarray(Image.open(f)).astype(np.float32) for f in files]


@pytest.mark.parametrize("engine", ["workbench", "eevee", "cycles"])
def test_render_shows_the_photo_and_parallax(tmp_path, empty_scene, engine):
    res = _run(tmp_path, frames=3, engine=engine, amount=2.0)
    bscene.build(res, scene=empty_scene)
    out = tmp_path / "frames"
    out.mkdir()
    files = brender.render_animation(empty_scene, str(out), "png")
    assert len(files) == 3
    frames = _frames(out)
    assert frames[0].shape == (60, 90, 3)
    for f in frames:
        assert f.std() > 20  # not blank
    # frame 1 of the circle shows the photo, shifted by parallax; frames differ from each other
    assert np.abs(frames[0] - frames[1]).mean() > 2
    assert np.abs(frames[1] - frames[2]).mean() > 2
    # the red box (near) stays in the left part; its colour comes out exactly as stored in the
    # photo (sRGB 0.8, 0.1, 0.1): unlit material + 'Standard' view transform
    red = frames[1][20:40, 10:30]
    assert np.abs(red.mean((0, 1)) - np.array([0.8, 0.1, 0.1]) * 255).max() < 3


def _still(scene, path, frame=1):
    from PIL import Image

    brender.render_still(scene, str(path), frame)
    return np.asarray(Image.open(path).convert("RGB")).astype(np.float32)


def test_soft_edges_render_the_same_in_eevee_and_cycles_and_hard_in_workbench(tmp_path, empty_scene):
    """A red box (left) in front of a textured wall, seen from a camera moved sideways: with soft
    edges the silhouette fades over about one mesh cell (its columns take values between red and the
    wall behind) in EEVEE and Cycles alike; Workbench draws the same scene with a hard edge."""
    renders = {}
    for engine in ("workbench", "eevee", "cycles"):
        for soft in (False, True):
            res = _run(tmp_path, frames=3, engine=engine, amount=2.0, soft_edges=soft,
                       resolution=(180, 120))
            bscene.build(res, scene=empty_scene)
            renders[engine, soft] = _still(empty_scene, tmp_path / f"{engine}{soft}.png", 2)
    # where the images differ at all, it is next to the silhouette (a band of a few columns)
    for engine in ("eevee", "cycles"):
        d = np.abs(renders[engine, True] - renders[engine, False]).max(2)
        cols = np.flatnonzero(d.max(0) > 30)
        assert 1 <= cols.size <= 8 and cols.max() - cols.min() <= 8, (engine, cols)
        # the faded columns are darker in red than the box (partly the wall shows through)
        red = renders[engine, True][:, :, 0]
        assert red[30:90, cols].mean() < red[30:90, cols.min() - 10].mean() - 15, engine
    # EEVEE (BLENDED) and Cycles show the same fade: the change soft edges make agrees
    # (row-averaged: the engines filter the noisy wall texture seen through the fade differently)
    fx = {e: renders[e, True] - renders[e, False] for e in ("eevee", "cycles")}
    band = np.abs(fx["cycles"]).max(2).max(0) > 30
    prof = {e: f[:, band].mean(0) for e, f in fx.items()}  # (columns, RGB) mean change
    assert np.abs(prof["cycles"]).max() > 10  # measured: up to ~30 levels
    assert np.abs(prof["eevee"] - prof["cycles"]).max() < 6, prof  # measured: <= 4
    # Workbench ignores shader alpha: soft edges change nothing there
    assert np.abs(renders["workbench", True] - renders["workbench", False]).max() <= 1.0


@pytest.mark.parametrize("engine", ["workbench", "eevee", "cycles"])
def test_uncovered_pixels_render_black_in_every_engine(tmp_path, empty_scene, engine):
    """The camera turned away from the 3D photo sees only the world: black in every engine (Cycles
    and EEVEE render the world's Background node, whose default is grey 0.05, sRGB ~63)."""
    import math as _m

    res = _run(tmp_path, frames=2, engine=engine, amount=1.0)
    bscene.build(res, scene=empty_scene)
    cam = empty_scene.camera
    cam.animation_data_clear()
    cam.rotation_euler = (0.0, _m.pi, 0.0)  # looking away from the photo
    img = _still(empty_scene, tmp_path / f"world_{engine}.png", 1)
    assert img.max() <= 2.0, (engine, img.max())


@pytest.mark.parametrize("engine", ["eevee", "cycles"])
def test_depth_of_field_blurs_what_is_off_the_focus_depth(tmp_path, empty_scene, engine):
    """--dof: the camera focuses on an empty at the focus depth (4 m, the wall); with a wide aperture the
    near box (2 m) loses most of its fine texture in EEVEE and Cycles, the wall keeps it. (f/0.1:
    at this 90 px width the thin-lens blur of the box is ~6 px across.)"""
    H, W = 60, 90
    rng = np.random.default_rng(3)
    rgb = rng.random((H, W, 3)).astype(np.float32)  # texture on both surfaces
    Z = np.full((H, W), 4.0, np.float32)
    Z[:, : W // 2] = 2.0
    depth_file = tmp_path / "depth.npy"
    np.save(depth_file, Z)

    def render(**kw):
        s = pipeline.Settings(depth_kind="metric", amount=0.0, seconds=1, fps=1, resolution=(W, H),
                              engine=engine, step=1, fov_deg=60.0, overscan=False, **kw)
        res = pipeline.run(rgb, depth=str(depth_file), settings=s)
        built = bscene.build(res, scene=empty_scene)
        if engine == "cycles":
            empty_scene.cycles.samples = 32
        else:
            empty_scene.eevee.taa_render_samples = 32
        tag = "dof" if kw else "sharp"
        img = _still(empty_scene, str(tmp_path / f"{tag}.png"))
        return img, built

    def detail(img, cols):
        g = img[5:-5, cols].mean(-1)
        return float(np.abs(g - 0.25 * (np.roll(g, 1, 0) + np.roll(g, -1, 0) + np.roll(g, 1, 1)
                                        + np.roll(g, -1, 1)))[2:-2, 2:-2].mean())

    sharp, _ = render()
    blurred, built = render(dof_fstop=0.1, focus_depth=4.0)
    cam = built.camera_object.data
    assert cam.dof.use_dof and cam.dof.focus_object is not None
    assert cam.dof.focus_object.location.y == pytest.approx(4.0)  # on the optical axis, 4 m ahead
    near, far = slice(5, W // 2 - 5), slice(W // 2 + 5, W - 5)
    assert detail(blurred, near) < 0.5 * detail(sharp, near)
    assert detail(blurred, far) > 0.7 * detail(sharp, far)


def _stereo_scene(tmp_path, empty_scene, fmt, W=120, H=80, **kw):
    """A textured box at 2 m in front of a textured wall at 4 m; stereo ``fmt``, still camera
    (converged on the wall unless ``kw`` says otherwise)."""
    rng = np.random.default_rng(5)
    rgb = rng.random((H, W, 3)).astype(np.float32)
    Z = np.full((H, W), 4.0, np.float32)
    Z[20:60, 20:60] = 2.0
    depth_file = tmp_path / "depth.npy"
    np.save(depth_file, Z)
    s = pipeline.Settings(depth_kind="metric", amount=0.0, seconds=1, fps=1, resolution=(W, H),
                          step=1, fov_deg=60.0, overscan=False, stereo=fmt,
                          **{"convergence": "far", **kw})
    res = pipeline.run(rgb, depth=str(depth_file), settings=s)
    built = bscene.build(res, scene=empty_scene)
    empty_scene.display.render_aa = "OFF"
    return res, built


def _shift(a, b):
    """Horizontal shift of b against a (pixels, b = a moved right by +shift), by phase correlation."""
    import cv2

    (dx, dy), _ = cv2.phaseCorrelate(a.mean(-1).astype(np.float64), b.mean(-1).astype(np.float64))
    return dx


def test_stereo_views_differ_by_the_parallax_of_the_rig(tmp_path, empty_scene):
    """'lr': the left and right views of a box at 2 m before a wall at 4 m (converged on the wall,
    the far depth): the wall has no parallax, the box is shifted left in the right view by
    f b (1/2 - 1/4) px, as camera_path.stereo_rig says, and at most 3 % of the width."""
    res, built = _stereo_scene(tmp_path, empty_scene, "lr")
    from depth_addon.core.pipeline import stereo_rig
    rig = stereo_rig(res)
    cam = built.camera_object.data
    assert empty_scene.render.use_multiview and cam.stereo.interocular_distance == pytest.approx(rig.interaxial)
    path = tmp_path / "v.png"
    brender.render_still(empty_scene, str(path), 1)
    from PIL import Image
    L = np.asarray(Image.open(tmp_path / "v_L.png").convert("RGB")).astype(np.float32)
    R = np.asarray(Image.open(tmp_path / "v_R.png").convert("RGB")).astype(np.float32)
    f = res.K_render[0, 0]
    expect = f * rig.interaxial * (1 / 2.0 - 1 / 4.0)
    assert 0 < expect <= 0.03 * 120 + 1e-6
    box = (slice(28, 52), slice(26, 54))
    wall = (slice(2, 18), slice(70, 118))
    assert -_shift(L[box], R[box]) == pytest.approx(expect, abs=0.6)  # right view: box moves left
    assert abs(_shift(L[wall], R[wall])) < 0.5


@pytest.mark.parametrize("fmt", ["sbs", "sbs-half", "tb", "tb-half", "anaglyph"])
def test_stereo_formats_combine_the_views(tmp_path, empty_scene, fmt):
    """sbs: twice the width, left view on the left; tb: twice the height, left on top; -half:
    squeezed to the normal size; anaglyph: red from the left view, green/blue from the right."""
    from PIL import Image

    # converged on the box with a wide interaxial: the wall moves ~10 px between the views
    wide = dict(convergence="near", interaxial=0.4)
    _stereo_scene(tmp_path, empty_scene, "lr", **wide)
    brender.render_still(empty_scene, str(tmp_path / "v.png"), 1)
    L = np.asarray(Image.open(tmp_path / "v_L.png").convert("RGB")).astype(np.float32)
    R = np.asarray(Image.open(tmp_path / "v_R.png").convert("RGB")).astype(np.float32)
    _stereo_scene(tmp_path, empty_scene, fmt, **wide)
    brender.render_still(empty_scene, str(tmp_path / f"{fmt}.png"), 1)
    img = np.asarray(Image.open(tmp_path / f"{fmt}.png").convert("RGB")).astype(np.float32)
    H, W = L.shape[:2]
    from depth_addon.blender.stereo import output_size
    assert (img.shape[1], img.shape[0]) == output_size(fmt, W, H)
    if fmt == "sbs":
        assert np.abs(img[:, :W] - L).mean() < 1.0 and np.abs(img[:, W:] - R).mean() < 1.0
    elif fmt == "tb":
        assert np.abs(img[:H] - L).mean() < 1.0 and np.abs(img[H:] - R).mean() < 1.0
    elif fmt.endswith("-half"):  # each view squeezed to half the width (height): compare blurred
        import cv2

        size = (W // 2, H) if fmt == "sbs-half" else (W, H // 2)
        first = img[:, : W // 2] if fmt == "sbs-half" else img[: H // 2]
        second = img[:, W // 2:] if fmt == "sbs-half" else img[H // 2:]

        def err(a, view):
            sq = cv2.resize(view, size, interpolation=cv2.INTER_AREA)
            return np.abs(cv2.GaussianBlur(a, (0, 0), 1.5) - cv2.GaussianBlur(sq, (0, 0), 1.5)).mean()

        assert err(first, L) < 0.5 * err(first, R) and err(second, R) < 0.5 * err(second, L)
    else:
        assert np.abs(img[..., 0] - L[..., 0]).mean() < 1.0
        assert np.abs(img[..., 1:] - R[..., 1:]).mean() < 1.0
        assert np.abs(img[..., 0] - R[..., 0]).mean() > 3.0  # the views do differ
