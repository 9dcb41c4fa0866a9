"""Tests for depth_addon.core.rectify and the unrectified stereo path (no bpy).

Data: skimage's Middlebury 2014 motorcycle pair (rectified, with ground-truth disparity) and the
same pair "un-rectified" synthetically: the right view rotated by 1 degree about the picture centre
and shifted down by 3 px — a known transform M, so the exact rectification (H1 = I, H2 = M^-1) and
the true correspondences are known.
"""
from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("skimage.data")

from depth_addon.core import rectify as rc  # noqa: E402
from depth_addon.core import stereo as st  # noqa: E402
from depth_addon.core.errors import InputError  # noqa: E402

ANGLE_DEG, SHIFT_PX = 1.0, 3.0


def unrectify(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotate by ANGLE_DEG about the centre and shift down by SHIFT_PX; returns (image, 2x3 M)."""
    h, w = img.shape[:2]
    M = cv2.getRotationMatrix2D((w / 2, h / 2), ANGLE_DEG, 1.0)
    M[1, 2] += SHIFT_PX
    return cv2.warpAffine(img, M, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE), M


@pytest.fixture(scope="module")
def moto_unrect(moto):
    left, right, gt = moto
    ru, M = unrectify(right)
    return left, ru, gt, M


def gray(img):
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


# ---------------------------------------------------------------------------- sparse matches
def test_probe_on_rectified_pair(moto):
    left, right, gt = moto
    m = rc.probe_matches(gray(left), gray(right))
    assert len(m) > 150 and m.method == "lk" and m.tried >= len(m)
    assert m.left.shape == m.right.shape == (len(m), 2)
    assert rc.vertical_misalignment(m) < 0.6  # rectified: tracking noise only
    lo, hi = np.percentile(m.dx, [1, 99])
    assert 5 < lo < 20 and 50 < hi < 62  # ground truth spans 7..60 px
    # each track's disparity agrees with the ground truth at its left position
    xi, yi = np.rint(m.left).astype(int).T
    g = gt[yi, xi]
    ok = np.isfinite(g)
    assert np.median(np.abs(m.dx[ok] - g[ok])) < 0.5


def test_probe_sees_the_misalignment(moto_unrect):
    left, ru, _, _ = moto_unrect
    m = rc.probe_matches(gray(left), gray(ru))
    assert rc.vertical_misalignment(m) > 3.0


def test_matches_mirror():
    m = rc.Matches(np.array([[10.0, 5.0]]), np.array([[4.0, 5.0]]), "lk")
    mm = m.mirrored(100)
    assert mm.left[0, 0] == 89.0 and mm.right[0, 0] == 95.0 and mm.dx[0] == -m.dx[0]


# ---------------------------------------------------------------------------- rectification
def test_rectification_recovers_the_known_transform(moto_unrect):
    left, ru, gt, M = moto_unrect
    h, w = gt.shape
    R = rc.rectify_uncalibrated(rc.probe_matches(gray(left), gray(ru)), (w, h))
    assert R.vertical_error < 0.3
    # H1 stays close to the identity: the left picture is barely resampled
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], float)
    assert np.abs(rc._apply(R.H1, corners) - corners).max() < 4.0
    # true correspondences (ground truth), through the known M, land on the same rectified row
    # and at the true disparity
    ys, xs = np.nonzero(np.isfinite(gt))
    sel = np.arange(0, len(xs), 97)
    p = np.column_stack([xs[sel], ys[sel]]).astype(float)
    d = gt[ys[sel], xs[sel]]
    q = np.column_stack([p[:, 0] - d, p[:, 1], np.ones(len(p))]) @ M.T  # right (unrectified) point
    pl, pr = rc._apply(R.H1, p), rc._apply(R.H2, q)
    assert np.percentile(np.abs(pl[:, 1] - pr[:, 1]), 95) < 0.5
    assert np.median(np.abs((pl[:, 0] - pr[:, 0]) - d)) < 0.7


def test_rectify_then_map_back(moto_unrect):
    left, ru, gt, _ = moto_unrect
    h, w = gt.shape
    R = rc.rectify_uncalibrated(rc.probe_matches(gray(left), gray(ru)), (w, h))
    lr, rr, lok, rok = R.warp(left, ru)
    assert lr.shape == left.shape and rr.shape == ru.shape and lok.mean() > 0.97 and rok.mean() > 0.9
    ramp = np.tile(np.arange(w, dtype=np.float32), (h, 1))
    ramp_rect = cv2.warpPerspective(ramp, R.H1, (w, h))  # a map in the rectified frame
    back = R.to_left(ramp_rect, nearest=False)  # ... and back on the left grid
    inner = (slice(10, h - 10), slice(10, w - 10))
    assert back.dtype == np.float32
    assert np.nanmedian(np.abs(back[inner] - ramp[inner])) < 0.05


def test_sampson_and_affine_model(moto_unrect):
    left, ru, gt, _ = moto_unrect
    m = rc.probe_matches(gray(left), gray(ru))
    F, keep = rc._affine_fundamental(m)
    assert F[:2, :2].tolist() == [[0, 0], [0, 0]] and keep.mean() > 0.8
    assert np.median(rc.sampson_distance(F, m)) < 0.3


# ---------------------------------------------------------------------------- end to end
def test_unrectified_pair_is_rectified_automatically(moto_unrect):
    left, ru, gt, _ = moto_unrect
    r = st.estimate_stereo(left, ru)
    assert any("not rectified" in n for n in r.notes) and "rectified (Hartley)" in r.source
    assert r.values.shape == gt.shape and np.isfinite(r.values).all() and (r.values > 0).all()
    bad = st.bad_pixel_rate(r.values, gt)
    assert bad < 0.12, bad  # measured 0.080 (0.066 for the original rectified pair)
    assert st.end_point_error(r.values, gt) < 2.0
    plain = st.estimate_stereo(left, ru, rectify="never")
    assert st.bad_pixel_rate(plain.values, gt) > 0.4  # without rectification: 0.75


def test_rectify_always_on_a_rectified_pair(moto):
    left, right, gt = moto
    r = st.estimate_stereo(left, right, rectify="always")
    assert st.bad_pixel_rate(r.values, gt) < 0.10


def test_swapped_unrectified_pair(moto_unrect):
    left, ru, gt, _ = moto_unrect
    r = st.estimate_stereo(ru, left)  # wrong order AND unrectified
    assert any("swapped" in n for n in r.notes) and any("not rectified" in n for n in r.notes)
    assert r.valid.mean() > 0.6 and np.isfinite(r.values).all()


# ---------------------------------------------------------------------------- refusals
def test_vertical_motion_is_refused(moto):
    left, right, _ = moto
    a, b = (np.ascontiguousarray(np.rot90(x)) for x in (left, right))  # baseline now vertical
    with pytest.raises(InputError, match="moved mostly vertically"):
        st.estimate_stereo(a, b)


def test_zoom_without_parallax_is_refused(moto):
    left, _, _ = moto
    h, w = left.shape[:2]
    M = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, 1.08)
    zoomed = cv2.warpAffine(left, M, (w, h), borderMode=cv2.BORDER_REPLICATE)
    with pytest.raises(InputError, match="no parallax"):
        st.estimate_stereo(left, zoomed)


def test_unrelated_pictures_are_refused(moto):
    left, _, _ = moto
    noise = (np.random.default_rng(0).random(left.shape) * 255).astype(np.uint8)
    with pytest.raises(InputError, match="same scene"):
        st.estimate_stereo(left, noise)


def test_too_few_matches_and_no_motion():
    m = rc.Matches(np.zeros((5, 2)), np.zeros((5, 2)), "sift")
    with pytest.raises(InputError, match=r"only 5 point matches .*need 20"):
        rc.rectify_uncalibrated(m, (100, 80))
    pts = np.random.default_rng(1).random((50, 2)) * 80
    with pytest.raises(InputError, match="same view"):
        rc.rectify_uncalibrated(rc.Matches(pts, pts + 0.1, "sift"), (100, 80))


def test_identical_images_are_refused_before_rectifying(moto):
    left, _, _ = moto
    with pytest.raises(InputError, match="identical"):
        st.estimate_stereo(left, left.copy(), rectify="always")
