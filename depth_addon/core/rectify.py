"""Sparse matches between the two views of a stereo pair, and uncalibrated rectification.

Everything here works on two grey (H, W) uint8 pictures of the same size and returns coordinates
in their pixels (OpenCV convention: pixel centres at integer coordinates, x to the right, y down).

Methods (all through OpenCV's public APIs):

- :func:`probe_matches` (cheap, run on every pair): Shi-Tomasi corners (J. Shi, C. Tomasi, "Good
  Features to Track", CVPR 1994; ``cv2.goodFeaturesToTrack``) tracked into the other view with
  pyramidal Lucas-Kanade (J.-Y. Bouguet, "Pyramidal Implementation of the Lucas Kanade Feature
  Tracker", Intel 2000; ``cv2.calcOpticalFlowPyrLK``) and kept when tracking back lands within
  half a pixel of the start (forward-backward error, Z. Kalal, K. Mikolajczyk, J. Matas, ICPR
  2010). Works on a copy whose long side is at most :data:`PROBE_MAX_SIDE`; ~10 ms at 741x500. The
  tracks give sub-pixel vertical offsets (is the pair rectified?), horizontal offsets (disparity
  range, swapped views).
- :func:`feature_matches` (for pairs that need rectification): SIFT (D. G. Lowe, "Distinctive
  Image Features from Scale-Invariant Keypoints", IJCV 60(2), 2004; ``cv2.SIFT_create``) with
  Lowe's ratio test, mutual best matches only.
- :func:`rectify_uncalibrated`: a robust fundamental matrix (``cv2.findFundamentalMat`` with
  ``cv2.USAC_MAGSAC``: D. Barath, J. Noskova, M. Ivashechkin, J. Matas, "MAGSAC++, a Fast,
  Reliable and Accurate Robust Estimator", CVPR 2020), checks of the camera motion it implies
  (epipole direction and position), then Hartley's uncalibrated rectification
  (R. I. Hartley, "Theory and Practice of Projective Rectification", IJCV 35(2), 1999;
  ``cv2.stereoRectifyUncalibrated``).

Hartley's homographies (H1, H2) are unique only up to transformations that keep rows aligned, and
OpenCV's choice also minimises the horizontal disparities (it shears and shifts the left view to
match the right). For depth we want the opposite: the left picture left as it is, and the
disparities those of the original photos. So the pair is re-normalised
(:func:`_normalise`): (1) the same row-preserving affine map is applied to both homographies so that
H1 is as close to the identity as possible over the picture (least squares on a grid); (2) the
right view's x mapping is replaced, within the family ``x' -> g x' + a y' + b`` that keeps the
rows, by the one whose Jacobian at the picture centre is a rotation+scale of its y mapping (no
shear, no x-stretch: what the rotation of a real camera gives); (3) the remaining shift ``b`` is
set so that the median rectified disparity of the matches equals their median horizontal offset
in the original photos. Without calibration that offset (the convergence) cannot be known; for a
pair taken by moving a camera sideways without turning it, it is the true one.

Never imports bpy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
import numpy as np

from .errors import InputError

PROBE_MAX_SIDE = 640
"""Long side (px) of the copies :func:`probe_matches` tracks corners on."""

FEATURE_MAX_SIDE = 1280
"""Long side (px) of the copies :func:`feature_matches` detects SIFT features on."""

MIN_MATCHES = 20
"""Fewer inlier matches than this and a pair is not rectified (the estimate would be a guess)."""

RECTIFY_TOLERANCE_PX = 1.0
"""A pair whose matches are off vertically by more than this (75th percentile of |dy|, pixels of
the images given) is rectified when rectification is automatic; SGBM tolerates less than that."""

H_DEGENERATE_FRACTION = 0.9
"""A homography that fits this fraction of F's inliers means no parallax (see
:func:`rectify_uncalibrated`)."""

MAX_EPIPOLE_ANGLE_DEG = 45.0
"""Epipolar lines steeper than this (degrees from horizontal) mean the camera moved vertically."""


# --------------------------------------------------------------------------------------------
# sparse matches
# --------------------------------------------------------------------------------------------
@dataclass
class Matches:
    """Point correspondences between the left and the right view.

    Attributes:
        left, right: (N, 2) float64 pixel coordinates (x, y) in the left / right picture.
        method: how they were found ("lk" or "sift").
        precision: typical localisation error in pixels of the pictures (the working copies were
            smaller by this factor), used as the robust-fit threshold.
        tried: how many points were looked for (corners / keypoints in the left picture): many
            tried and few matched means the pictures do not show the same scene.
    """

    left: np.ndarray
    right: np.ndarray
    method: str
    precision: float = 1.0
    tried: int = 0

    def __len__(self) -> int:
        return int(self.left.shape[0])

    @property
    def dx(self) -> np.ndarray:
        """(N,) horizontal disparity x_left - x_right in pixels (positive for a left/right pair)."""
        return self.left[:, 0] - self.right[:, 0]

    @property
    def dy(self) -> np.ndarray:
        """(N,) vertical offset y_left - y_right in pixels (0 for a rectified pair)."""
        return self.left[:, 1] - self.right[:, 1]

    def mirrored(self, width: int) -> "Matches":
        """The same matches in horizontally mirrored pictures of ``width`` pixels."""
        m = lambda p: np.column_stack([width - 1.0 - p[:, 0], p[:, 1]])  # noqa: E731
        return Matches(m(self.left), m(self.right), self.method, self.precision, self.tried)

    def subset(self, keep: np.ndarray) -> "Matches":
        """The matches selected by ``keep`` ((N,) bool or index array)."""
        return Matches(self.left[keep], self.right[keep], self.method, self.precision, self.tried)


def _working_copy(gray: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    import cv2

    h, w = gray.shape[:2]
    s = min(1.0, max_side / float(max(h, w)))
    if s >= 1.0:
        return gray, 1.0
    size = (max(8, int(round(w * s))), max(8, int(round(h * s))))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), size[0] / float(w)


def probe_matches(left_gray: np.ndarray, right_gray: np.ndarray, *, max_side: int = PROBE_MAX_SIDE,
                  max_points: int = 500) -> Matches:
    """Fast sparse matches: Shi-Tomasi corners tracked left -> right -> left with pyramidal LK.

    Args:
        left_gray, right_gray: (H, W) uint8 grey pictures of the same size.
        max_side: the pictures are reduced (area averaging) so that the long side is at most this.
        max_points: corners detected in the left view (fewer survive).

    Returns:
        :class:`Matches` (method "lk") in full-size pixels; possibly empty. Only tracks whose
        forward-backward error is below 0.5 px of the working copy are kept. Tracks reach
        displacements of about 16x the 13 px window (pyramid of 5 levels, ~100 px of the working copy).

    Raises:
        Nothing for valid input; an empty result means "no trackable corners".
    """
    import cv2

    a, s = _working_copy(left_gray, max_side)
    b, _ = _working_copy(right_gray, max_side)
    min_dist = max(4, int(round(max(a.shape) / 80)))
    p0 = cv2.goodFeaturesToTrack(a, max_points, 0.005, min_dist, blockSize=5)
    if p0 is None or len(p0) < 4:
        empty = np.zeros((0, 2))
        return Matches(empty, empty.copy(), "lk", 1.0 / s, 0 if p0 is None else len(p0))
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(a, b, p0, None, winSize=(13, 13), maxLevel=4, criteria=crit)
    pb, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, p1, None, winSize=(13, 13), maxLevel=4, criteria=crit)
    p0, p1, pb = (x.reshape(-1, 2).astype(np.float64) for x in (p0, p1, pb))
    ok = (st1.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm(pb - p0, axis=1) < 0.5)
    h, w = b.shape
    ok &= (p1[:, 0] >= 0) & (p1[:, 0] <= w - 1) & (p1[:, 1] >= 0) & (p1[:, 1] <= h - 1)
    # working-copy pixel centres -> full-size pixel centres
    to_full = lambda p: (p + 0.5) / s - 0.5  # noqa: E731
    return Matches(to_full(p0[ok]), to_full(p1[ok]), "lk", 1.0 / s, len(p0))


def feature_matches(left_gray: np.ndarray, right_gray: np.ndarray, *,
                    max_side: int = FEATURE_MAX_SIDE, max_features: int = 4000,
                    ratio: float = 0.75) -> Matches:
    """SIFT matches with Lowe's ratio test, kept only when mutual best matches.

    Args:
        left_gray, right_gray: (H, W) uint8 grey pictures (sizes may differ).
        max_side: detection runs on copies whose long side is at most this (coordinates are
            returned in full-size pixels).
        max_features: SIFT keypoints per picture.
        ratio: Lowe's ratio (best / second-best descriptor distance) below which a match is kept.

    Returns:
        :class:`Matches` (method "sift"), possibly empty; ``precision`` = 1 / working scale.
    """
    import cv2

    a, s = _working_copy(left_gray, max_side)
    b, sb = _working_copy(right_gray, max_side)
    sift = cv2.SIFT_create(nfeatures=max_features)
    ka, da = sift.detectAndCompute(a, None)
    kb, db = sift.detectAndCompute(b, None)
    empty = Matches(np.zeros((0, 2)), np.zeros((0, 2)), "sift", 1.0 / s, len(ka))
    if da is None or db is None or len(ka) < 2 or len(kb) < 2:
        return empty
    bf = cv2.BFMatcher(cv2.NORM_L2)
    fwd = bf.knnMatch(da, db, k=2)
    back = {m.queryIdx: m.trainIdx for m in bf.match(db, da)}
    pairs = [(m.queryIdx, m.trainIdx) for m, n in (p for p in fwd if len(p) == 2)
             if m.distance < ratio * n.distance and back.get(m.trainIdx) == m.queryIdx]
    if not pairs:
        return empty
    ia, ib = np.array(pairs).T
    pa = np.array([ka[i].pt for i in ia], np.float64)
    pb = np.array([kb[i].pt for i in ib], np.float64)
    return Matches((pa + 0.5) / s - 0.5, (pb + 0.5) / sb - 0.5, "sift", 1.0 / min(s, sb), len(ka))


def vertical_misalignment(matches: Matches) -> float:
    """75th percentile of |y_left - y_right| over the matches, in pixels (inf when there are none).

    A rectified pair gives a few tenths of a pixel (tracking noise); a pair taken by hand gives
    several pixels. Compare with :data:`RECTIFY_TOLERANCE_PX`.
    """
    if len(matches) == 0:
        return float("inf")
    return float(np.percentile(np.abs(matches.dy), 75.0))


# --------------------------------------------------------------------------------------------
# rectification
# --------------------------------------------------------------------------------------------
@dataclass
class Rectification:
    """Homographies that make a pair's epipolar lines the same horizontal rows.

    A left pixel p (homogeneous column (x, y, 1)) goes to ``H1 @ p`` in the rectified frame, a right
    pixel q to ``H2 @ q``; both rectified pictures have the left picture's ``size``.

    Attributes:
        H1, H2: (3, 3) float64.
        size: (W, H) of the rectified frame (= the left picture's size).
        F: (3, 3) float64 fundamental matrix, ``q^T F p = 0`` for a left p and right q.
        matches: the inlier :class:`Matches` (original pixels).
        disparity: (N,) float64 rectified disparity x'_left - x'_right of each inlier, pixels.
        vertical_error: median |y'_left - y'_right| of the inliers after rectification, pixels.
        notes: what was checked, for reports.
    """

    H1: np.ndarray
    H2: np.ndarray
    size: tuple
    F: np.ndarray
    matches: Matches
    disparity: np.ndarray
    vertical_error: float
    notes: list = field(default_factory=list)

    def warp(self, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                 np.ndarray]:
        """Resample both pictures into the rectified frame.

        Args:
            left, right: (H, W[, C]) pictures (any dtype OpenCV warps: uint8, float32).

        Returns:
            ``(left_r, right_r, left_ok, right_ok)``: the rectified pictures (bilinear, borders
            replicated so that no artificial edge is matched) and (H, W) bool masks of the pixels
            that come from inside each original picture.
        """
        import cv2

        w, h = self.size
        flags = cv2.INTER_LINEAR
        lr = cv2.warpPerspective(left, self.H1, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        rr = cv2.warpPerspective(right, self.H2, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        ones_l = np.ones(left.shape[:2], np.uint8)
        ones_r = np.ones(right.shape[:2], np.uint8)
        lok = cv2.warpPerspective(ones_l, self.H1, (w, h), flags=cv2.INTER_NEAREST,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
        rok = cv2.warpPerspective(ones_r, self.H2, (w, h), flags=cv2.INTER_NEAREST,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
        return lr, rr, lok, rok

    def to_left(self, values: np.ndarray, *, fill: float = np.nan,
                nearest: bool = True) -> np.ndarray:
        """Resample a map of the rectified frame onto the left picture's pixel grid.

        Each left pixel p takes the value at ``H1 @ p`` (``cv2.warpPerspective`` with
        ``WARP_INVERSE_MAP``). Disparities keep their rectified-pixel units, which equal left-picture
        pixels up to H1's local scale (H1 is normalised towards the identity).

        Args:
            values: (H, W) float32 (or uint8/bool as uint8) map in the rectified frame.
            fill: value for left pixels that fall outside the rectified frame.
            nearest: nearest-neighbour sampling (no mixing across depth edges) or bilinear.

        Returns:
            (H, W) array of ``values``' dtype on the left grid.
        """
        import cv2

        w, h = self.size
        interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
        v = np.asarray(values)
        src = v.astype(np.float32) if v.dtype == np.bool_ else v
        out = cv2.warpPerspective(src, self.H1, (w, h), flags=interp | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=float(fill))
        return out.astype(v.dtype) if v.dtype == np.bool_ else out


def _apply(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.column_stack([pts, np.ones(len(pts))]) @ H.T
    return p[:, :2] / p[:, 2:3]


def _jacobian(H: np.ndarray, q: np.ndarray) -> np.ndarray:
    """2x2 Jacobian of the homography H at the point q (x, y)."""
    v = H @ np.array([q[0], q[1], 1.0])
    w = v[2]
    xy = v[:2] / w
    return (H[:2, :2] - np.outer(xy, H[2, :2])) / w


def _normalise(H1: np.ndarray, H2: np.ndarray, matches: Matches, size: tuple) -> tuple[np.ndarray,
                                                                                         np.ndarray]:
    """Re-normalise Hartley's homographies (see the module doc). Raises InputError if degenerate."""
    w, h = size
    H1 = H1 / H1[2, 2]
    H2 = H2 / H2[2, 2]
    gx, gy = np.meshgrid(np.linspace(0, w - 1, 9), np.linspace(0, h - 1, 9))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    u = _apply(H1, grid)
    # (1) common row-preserving affine A = [[a, b, c], [0, e, f], [0, 0, 1]] with A H1 ~ identity
    ax, *_ = np.linalg.lstsq(np.column_stack([u, np.ones(len(u))]), grid[:, 0], rcond=None)
    ay, *_ = np.linalg.lstsq(np.column_stack([u[:, 1], np.ones(len(u))]), grid[:, 1], rcond=None)
    A = np.array([[ax[0], ax[1], ax[2]], [0.0, ay[0], ay[1]], [0.0, 0.0, 1.0]])
    H1 = A @ H1
    H2 = A @ H2
    # (2) right x mapping x' -> g x' + a y' (+ b) such that K = H1^-1 H2, the map from right to
    # left pixels through the rectified frame, is a rotation + scale at the picture centre (no
    # shear, no x-stretch). Its Jacobian is P B Q with B = [[g, a], [0, 1]]: two linear equations.
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    Q = _jacobian(H2, centre)
    P = _jacobian(np.linalg.inv(H1), _apply(H2, centre[None])[0])
    E11, E12, E22 = (np.array(m, float) for m in ([[1, 0], [0, 0]], [[0, 1], [0, 0]], [[0, 0], [0, 1]]))
    Jg, Ja, J0 = P @ E11 @ Q, P @ E12 @ Q, P @ E22 @ Q
    lhs = np.array([[Jg[0, 0] - Jg[1, 1], Ja[0, 0] - Ja[1, 1]],
                    [Jg[0, 1] + Jg[1, 0], Ja[0, 1] + Ja[1, 0]]])
    rhs = -np.array([J0[0, 0] - J0[1, 1], J0[0, 1] + J0[1, 0]])
    try:
        g, a = np.linalg.solve(lhs, rhs)
    except np.linalg.LinAlgError:
        raise InputError("cannot rectify the pair: the rectifying transform is degenerate "
                         "(the two views are too different)") from None
    if not (g > 0 and math.isfinite(g) and math.isfinite(a)):
        raise InputError("cannot rectify the pair: the right view would have to be mirrored "
                         "(the two photos do not show the scene from side-by-side positions)")
    H2 = np.vstack([g * H2[0] + a * H2[1], H2[1], H2[2]])
    # (3) shift: median rectified disparity = median horizontal offset in the photos
    xl = _apply(H1, matches.left)[:, 0]
    xr = _apply(H2, matches.right)[:, 0]
    b = float(np.median((xl - xr) - matches.dx))
    H2 = H2 + b * np.outer([1.0, 0.0, 0.0], H2[2])  # x' -> x' + b
    return H1, H2


def _epipole_checks(F: np.ndarray, size: tuple) -> list:
    """Refuse camera motions that uncalibrated rectification cannot turn into a left/right pair."""
    w, h = size
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    notes = []
    _, _, vt = np.linalg.svd(F)
    e = vt[-1]  # left epipole: F e = 0 (the right camera's centre seen from the left camera)
    e = e / np.linalg.norm(e)
    if abs(e[2]) > 1e-12:
        ex, ey = e[0] / e[2], e[1] / e[2]
        if abs(ex - cx) < w and abs(ey - cy) < h:
            raise InputError(
                f"cannot rectify the pair: the camera moved forwards or backwards between the "
                f"photos (the epipole is at ({ex:.0f}, {ey:.0f}) px, in or near the picture); take "
                f"the second photo after moving the camera sideways, not towards the scene")
        dirx, diry = ex - cx, ey - cy
        notes.append(f"epipole at ({ex:.0f}, {ey:.0f}) px")
    else:
        dirx, diry = e[0], e[1]
        notes.append("epipole at infinity")
    angle = math.degrees(math.atan2(abs(diry), abs(dirx)))
    if angle > MAX_EPIPOLE_ANGLE_DEG:
        raise InputError(
            f"cannot rectify the pair: the camera moved mostly vertically between the photos "
            f"(epipolar lines {angle:.0f} deg from horizontal); take the second photo beside the "
            f"first, not above or below it")
    notes.append(f"epipolar direction {angle:.1f} deg from horizontal")
    return notes


def _polygon_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _distortion_check(H: np.ndarray, size: tuple, which: str) -> None:
    w, h = size
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    v = np.column_stack([corners, np.ones(4)]) @ H.T
    if np.any(v[:, 2] <= 0) or np.any(np.sign(v[:, 2]) != np.sign(v[0, 2])):
        raise InputError(f"cannot rectify the pair: the {which} picture would be folded through "
                         f"infinity (the two views differ too much)")
    q = v[:, :2] / v[:, 2:3]
    ratio = _polygon_area(q) / _polygon_area(corners)
    # every corner turn must keep the same sense (convex, not folded)
    d1 = np.roll(q, -1, axis=0) - q
    d2 = np.roll(d1, -1, axis=0)
    cross = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    if not (0.5 <= ratio <= 2.0) or not (np.all(cross > 0) or np.all(cross < 0)):
        raise InputError(
            f"cannot rectify the pair: the {which} picture would be distorted too much (area x"
            f"{ratio:.2f}); the two views differ too much in direction — take the second photo by "
            f"moving the camera sideways without turning it")


def sampson_distance(F: np.ndarray, matches: Matches) -> np.ndarray:
    """(N,) first-order geometric error (Sampson distance, pixels) of each match under ``F``.

    ``F`` maps left points to right epipolar lines (``q^T F p = 0``); see Hartley & Zisserman,
    "Multiple View Geometry", 2nd ed., eq. 11.9.
    """
    p = np.column_stack([matches.left, np.ones(len(matches))])
    q = np.column_stack([matches.right, np.ones(len(matches))])
    Fp = p @ F.T
    Ftq = q @ F
    num = np.sum(q * Fp, axis=1)
    den = Fp[:, 0] ** 2 + Fp[:, 1] ** 2 + Ftq[:, 0] ** 2 + Ftq[:, 1] ** 2
    return np.abs(num) / np.sqrt(np.maximum(den, 1e-300))


def _affine_fundamental(matches: Matches) -> tuple[np.ndarray, np.ndarray]:
    """Affine fundamental matrix by orthogonal regression on (x_r, y_r, x_l, y_l), with one pass of
    3-sigma trimming (Hartley & Zisserman, "Multiple View Geometry", 2nd ed., algorithm 14.1).

    Returns (F (3, 3) with a zero upper-left 2x2 block, kept (N,) bool)."""
    X = np.column_stack([matches.right, matches.left])
    keep = np.ones(len(X), bool)
    for _ in range(2):
        mu = X[keep].mean(axis=0)
        _, _, vt = np.linalg.svd(X[keep] - mu, full_matrices=False)
        nvec = vt[-1]
        r = np.abs((X - mu) @ nvec)
        sigma = 1.4826 * float(np.median(r[keep])) + 1e-9
        keep = r < 3.0 * sigma + 0.05
    a, b, c, d = nvec
    e = -float(nvec @ mu)
    return np.array([[0.0, 0.0, a], [0.0, 0.0, b], [c, d, e]]), keep


def rectify_uncalibrated(matches: Matches, size: tuple) -> Rectification:
    """Rectify a pair from point matches without calibration (Hartley 1999, MAGSAC++ for F).

    Args:
        matches: :class:`Matches` between the left and the right picture (e.g. from
            :func:`feature_matches`), in pixels.
        size: (W, H) of the left picture (the rectified frame has this size; the right picture is
            expected to have it too).

    Steps: F by MAGSAC++ (threshold 1 px of the matching copies); a degeneracy test (a
    homography fitting 90 % of F's inliers means no parallax); model selection between that F and
    an affine F fitted to its inliers (the affine one is used when its 90th-percentile Sampson
    error is within 1.5x + 0.1 px: then both epipoles are at infinity and the rectification has no
    projective stretch); epipole checks; ``cv2.stereoRectifyUncalibrated``; re-normalisation (module
    doc); distortion and row-alignment checks.

    Returns:
        :class:`Rectification` with H1 close to the identity, rows aligned (``vertical_error``
        below 1 px) and the disparities' shift taken from the photos (see the module doc).

    Raises:
        InputError, saying why: fewer than :data:`MIN_MATCHES` matches or inliers ("too few
        matches"), no camera motion (the views are the same up to < 0.5 px), no parallax (one
        homography explains 90 % of the matches: turned/zoomed camera, flat scene), the camera moved
        mostly vertically or forwards/backwards (epipole checks), the rectifying homographies would
        mirror, fold or stretch a picture by more than 2x, or rows stay misaligned by > 1 px.
    """
    import cv2

    w, h = size
    n = len(matches)
    if n < MIN_MATCHES:
        raise InputError(
            f"cannot rectify the pair: only {n} point matches between the two photos (need "
            f"{MIN_MATCHES}); they must show the same scene, overlap widely and have texture")
    shift = np.linalg.norm(matches.left - matches.right, axis=1)
    if float(np.median(shift)) < 0.5:
        raise InputError(
            "cannot rectify the pair: the two photos show the same view (median point offset "
            f"{np.median(shift):.2f} px): move the camera sideways between the shots")
    thr = max(0.5, 1.0 * matches.precision)
    F, mask = cv2.findFundamentalMat(matches.left, matches.right, cv2.USAC_MAGSAC, thr, 0.999, 10000)
    if F is None or F.shape != (3, 3) or mask is None:
        raise InputError(
            f"cannot rectify the pair: no consistent two-view geometry among {n} point matches "
            f"(the scene may be flat or the photos unrelated)")
    inl = mask.ravel().astype(bool)
    if inl.sum() < MIN_MATCHES:
        raise InputError(
            f"cannot rectify the pair: only {int(inl.sum())} of {n} point matches agree on one "
            f"camera motion (need {MIN_MATCHES}); the photos must show the same still scene")
    good = matches.subset(inl)
    notes = [f"{len(good)} of {n} {matches.method} matches are inliers of F (MAGSAC++)"]
    # Degenerate configurations: when one homography explains the matches (the camera only turned
    # or zoomed, or the scene is a plane), F is not determined and there is no parallax.
    Hm, hmask = cv2.findHomography(matches.left, matches.right, cv2.USAC_MAGSAC, 2.0 * thr)
    h_inl = int(hmask.sum()) if hmask is not None else 0
    if h_inl >= H_DEGENERATE_FRACTION * len(good):
        raise InputError(
            f"cannot rectify the pair: one homography maps the left picture onto the right one "
            f"({h_inl} of {n} matches): the camera turned or zoomed without moving sideways, or "
            f"the scene is flat or far away, so there is no parallax to measure depth from")
    F = np.asarray(F, np.float64)
    # Model selection: an affine F (both epipoles at infinity: the camera moved parallel to the
    # picture without turning) makes the rectification affine, free of the projective stretch a
    # slightly wrong finite epipole brings. Used when it explains the inliers about as well.
    Fa, keep = _affine_fundamental(good)
    e_full = float(np.percentile(sampson_distance(F, good), 90))
    e_aff = float(np.percentile(sampson_distance(Fa, good), 90))
    if e_aff <= max(1.5 * e_full + 0.1, 0.5 * thr):
        F = Fa
        notes.append(f"affine two-view geometry (90th pct. error {e_aff:.2f} px vs {e_full:.2f} px "
                     f"for the general one)")
    else:
        notes.append(f"projective two-view geometry (90th pct. error {e_full:.2f} px; "
                     f"affine {e_aff:.2f} px)")
    notes += _epipole_checks(F, size)
    ok, H1, H2 = cv2.stereoRectifyUncalibrated(good.left.reshape(-1, 1, 2),
                                               good.right.reshape(-1, 1, 2), F, (w, h),
                                               threshold=5.0 * thr)
    if not ok:
        raise InputError("cannot rectify the pair: OpenCV's uncalibrated rectification failed "
                         "(the epipoles are inside the pictures)")
    H1, H2 = _normalise(np.asarray(H1, np.float64), np.asarray(H2, np.float64), good, size)
    _distortion_check(H1, (w, h), "left")
    _distortion_check(H2, (w, h), "right")
    pl = _apply(H1, good.left)
    pr = _apply(H2, good.right)
    verr = float(np.median(np.abs(pl[:, 1] - pr[:, 1])))
    if verr > 1.0:
        raise InputError(f"cannot rectify the pair: rows stay {verr:.1f} px apart after "
                         f"rectification (the two-view geometry is unreliable)")
    notes.append(f"rows aligned to {verr:.2f} px (median)")
    return Rectification(H1=H1, H2=H2, size=(w, h), F=F, matches=good,
                         disparity=pl[:, 0] - pr[:, 0], vertical_error=verr, notes=notes)
