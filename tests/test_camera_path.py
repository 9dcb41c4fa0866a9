"""Camera presets: loops close, motion is sized by parallax, bad presets are refused (no bpy)."""
from __future__ import annotations

import numpy as np
import pytest

from depth_addon.core import camera_path as cp
from depth_addon.core import geometry as geo
from depth_addon.core.errors import InputError

W, H = 640, 480
K = geo.intrinsics_from_fov(W, H, 60)
SCENE = cp.SceneDepth(near=2.0, far=8.0, focus=2 / (1 / 2 + 1 / 8))


@pytest.mark.parametrize("preset", sorted(cp.LOOP_PRESETS))
def test_loop_presets_end_where_they_start(preset):
    keys = cp.camera_path_at(preset, np.array([0.0, 0.37, 1.0]), SCENE, K, W)
    assert np.allclose(keys.positions[0], keys.positions[-1], atol=1e-12)
    assert np.allclose(keys.rotations[0], keys.rotations[-1], atol=1e-12)
    assert np.isclose(keys.focal_px[0], keys.focal_px[-1])
    assert keys.loop
    # and they do move in between
    assert np.linalg.norm(keys.positions[1] - keys.positions[0]) > 1e-3


def test_frames_of_a_loop_do_not_repeat_the_first_frame():
    keys = cp.camera_path("swing", 30, SCENE, K, W)
    assert len(keys.positions) == 30
    assert not np.allclose(keys.positions[-1], keys.positions[0])
    # the frame after the last would be the first again (seamless loop)
    nxt = cp.camera_path_at("swing", np.array([30 / 30]), SCENE, K, W)
    assert np.allclose(nxt.positions[0], keys.positions[0])


def test_ken_burns_is_a_one_way_move():
    keys = cp.camera_path("ken-burns", 10, SCENE, K, W)
    assert not keys.loop
    assert keys.positions[0][0] < 0 < keys.positions[-1][0]
    assert keys.positions[-1][2] > keys.positions[0][2]  # pushes in


def test_swing_parallax_matches_the_amount():
    """At the swing's extreme the near plane moves PARALLAX_FRACTION * W px against the focus."""
    for amount in (0.5, 1.0):
        keys = cp.camera_path_at("swing", np.array([0.25]), SCENE, K, W, amount=amount)
        c, R = keys.positions[0], keys.rotations[0]

        def px(point):
            p_cam = R.T @ (np.asarray(point) - c)
            return geo.project(p_cam[None], K)[0]

        # points on the optical axis of the rest camera at the near and focus depths
        shift_near = px([0, 0, SCENE.near])[0] - (W - 1) / 2
        shift_focus = px([0, 0, SCENE.focus])[0] - (W - 1) / 2
        assert abs(shift_focus) < 1e-6  # the camera pivots around the focus depth
        # to first order in the rotation angle (the camera turns to keep the focus centred)
        assert abs(shift_near) == pytest.approx(amount * cp.PARALLAX_FRACTION * W, rel=0.01)


def test_amount_zero_is_a_still_camera():
    keys = cp.camera_path("circle", 12, SCENE, K, W, amount=0.0)
    assert np.allclose(keys.positions, 0) and np.allclose(keys.rotations, np.eye(3))


def test_dolly_zoom_keeps_the_focus_plane_size():
    keys = cp.camera_path_at("dolly-zoom", np.linspace(0, 1, 7), SCENE, K, W)
    # size of an object at the focus depth ~ f / (distance from camera to the focus plane)
    size = keys.focal_px / (SCENE.focus - keys.positions[:, 2])
    assert np.allclose(size, size[0])
    assert keys.focal_px.max() > keys.focal_px.min()


def test_scene_depth_statistics():
    Z = np.linspace(1.0, 10.0, 10001, dtype=np.float32).reshape(1, -1)
    s = cp.scene_depth(Z)
    assert s.near == pytest.approx(1.18, abs=0.01) and s.far == pytest.approx(9.82, abs=0.01)
    assert s.near < s.focus < s.far
    with pytest.raises(InputError):
        cp.scene_depth(np.full((2, 2), np.nan))


@pytest.mark.parametrize("bad", ["orbit", "", "Circle"])
def test_unknown_preset_names_the_choices(bad):
    with pytest.raises(InputError, match="circle, swing"):
        cp.camera_path(bad, 10, SCENE, K, W)


def test_bad_amount_and_frames():
    with pytest.raises(InputError, match="amount"):
        cp.camera_path("circle", 10, SCENE, K, W, amount=-1)
    with pytest.raises(InputError, match="frame"):
        cp.camera_path("circle", 0, SCENE, K, W)


def test_overscan_keeps_the_photo_border_out_of_every_frame():
    Z = np.full((H, W), 4.0, np.float32)
    Z[300:] = 2.0  # a near floor along the bottom edge moves the most
    stats = cp.scene_depth(Z)
    still = cp.camera_path("circle", 8, stats, K, W, amount=0.0)
    assert cp.overscan_zoom(Z, K, still) == pytest.approx(1.0)
    keys = cp.camera_path("circle", 24, stats, K, W, amount=1.0)
    zoom = cp.overscan_zoom(Z, K, keys)
    assert 1.0 < zoom < 1.3
    # with the zoomed focal length, the photo's border projects outside the frame in every frame
    border_u = np.r_[np.full(H, -0.5), np.full(H, W - 0.5)]
    border_v = np.r_[np.arange(H), np.arange(H)]
    pts = geo.unproject(border_u, border_v, np.r_[Z[:, 0], Z[:, -1]], K).astype(np.float64)
    for c, R, f in zip(keys.positions, keys.rotations, keys.focal_px):
        p = (pts - c) @ R
        u = f * zoom * p[:, 0] / p[:, 2] + K[0, 2]
        assert u[:H].max() <= -0.5 + 1e-6 and u[H:].min() >= W - 0.5 - 1e-6


def test_stereo_rig_keeps_parallax_within_the_rule_and_converges_where_asked():
    d = cp.SceneDepth(near=2.0, far=8.0, focus=3.2)
    f, W = 1000.0, 1280
    rig = cp.stereo_rig(d, f, W)  # focus convergence
    assert rig.auto and rig.convergence == pytest.approx(3.2)
    limit = cp.MAX_STEREO_PARALLAX * W
    assert max(abs(rig.near_parallax_px), abs(rig.far_parallax_px)) == pytest.approx(limit)
    assert rig.near_parallax_px > 0 > rig.far_parallax_px  # near in front of the screen
    # parallax is f b (1/Z - 1/Zc): zero at the convergence depth
    assert cp.stereo_parallax_px(3.2, rig.interaxial, rig.convergence, f) == pytest.approx(0.0)
    near = cp.stereo_rig(d, f, W, convergence="near")
    assert near.near_parallax_px == pytest.approx(0.0, abs=1e-9)
    assert near.far_parallax_px == pytest.approx(-limit)
    far = cp.stereo_rig(d, f, W, convergence="far")
    assert far.far_parallax_px == pytest.approx(0.0, abs=1e-9) and far.near_parallax_px == pytest.approx(limit)
    fixed = cp.stereo_rig(d, f, W, interaxial=0.01)
    assert not fixed.auto and fixed.interaxial == 0.01
    assert fixed.near_parallax_px == pytest.approx(f * 0.01 * (1 / 2.0 - 1 / 3.2))
    for bad in (dict(interaxial=0.0), dict(interaxial=-1.0), dict(convergence="middle"),
                dict(convergence=-2.0)):
        with pytest.raises(InputError):
            cp.stereo_rig(d, f, W, **bad)


def test_stereo_eye_keys_straddle_the_camera_along_its_x_axis():
    d = cp.SceneDepth(near=2.0, far=8.0, focus=3.2)
    K = geo.intrinsics_from_fov(160, 120, 60.0)
    keys = cp.camera_path("circle", 6, d, K, 160)
    eyes = cp.stereo_eye_keys(keys, 0.1)
    assert len(eyes.positions) == 12 and not eyes.loop
    sep = eyes.positions[6:] - eyes.positions[:6]
    assert np.allclose(np.linalg.norm(sep, axis=1), 0.1)
    assert np.allclose(sep, 0.1 * keys.rotations[:, :, 0])  # along each camera's own x axis
    assert np.allclose(0.5 * (eyes.positions[6:] + eyes.positions[:6]), keys.positions)
