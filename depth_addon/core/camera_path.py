"""Camera motion presets for a 3D photo -> one camera pose and focal length per frame.

Everything is in the OpenCV camera coordinates of the rest (photo) camera: x right, y down,
z forward, in the depth's units. The rest camera is at the origin looking along +z.

How far the camera moves ("amount"): the motion is sized by the parallax it causes, not by a
distance, so the same amount looks alike for a metric scene 3 m deep and a relative one. The camera
pivots around a *focus* depth Zf (the harmonic middle of the near and far depths, so the nearest and
farthest points swing by the same number of pixels in opposite directions); a sideways move t shifts
a point at depth Z by about f * t * (1/Z - 1/Zf) pixels relative to the focus plane. ``amount = 1`` moves
the near plane by :data:`PARALLAX_FRACTION` of the picture width at the extremes of the path.
Dolly moves are sized so the near plane grows by the same fraction.

Loop-safe presets (circle, swing, vertical, dolly, dolly-zoom) are periodic: pose(t=1) == pose(t=0),
so frames t = i / n for i = 0 .. n-1 repeat seamlessly; ken-burns is a one-way move from t=0 to t=1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import InputError

PRESETS = ("circle", "swing", "vertical", "dolly", "dolly-zoom", "ken-burns")
LOOP_PRESETS = frozenset({"circle", "swing", "vertical", "dolly", "dolly-zoom"})
#: parallax of the near plane at amount = 1, as a fraction of the picture width.
PARALLAX_FRACTION = 0.025


@dataclass
class SceneDepth:
    """Robust depth statistics of a scene (scene units).

    near: 2nd percentile of depth; far: 98th percentile; focus: harmonic middle
    2 / (1/near + 1/far), the depth the camera pivots around.
    """

    near: float
    far: float
    focus: float


def scene_depth(Z: np.ndarray, valid: np.ndarray | None = None) -> SceneDepth:
    """Near/far/focus depths of a depth map.

    Args:
        Z: (H, W) depth > 0 (scene units).
        valid: optional (H, W) bool mask of pixels to use.
    Raises:
        InputError: if no finite positive depth is present.
    """
    z = np.asarray(Z, dtype=np.float64)
    m = np.isfinite(z) & (z > 0)
    if valid is not None:
        m &= valid
    if not m.any():
        raise InputError("depth has no finite positive values")
    zs = z[m]
    if zs.size > 200_000:
        zs = zs[:: zs.size // 200_000]
    near, far = np.percentile(zs, [2, 98])
    near = float(max(near, 1e-6))
    far = float(max(far, near * 1.0001))
    return SceneDepth(near, far, 2.0 / (1.0 / near + 1.0 / far))


@dataclass
class CameraKeys:
    """Per-frame camera poses in the rest camera's OpenCV coordinates.

    Attributes:
        positions: (F, 3) float64 camera centres (scene units).
        rotations: (F, 3, 3) float64 camera-to-rest-camera rotations (columns = camera x, y, z axes).
        focal_px: (F,) float64 focal length in pixels of the *photo* (scale with the render size).
        loop: True when the path is periodic (frame F would equal frame 0).
        preset: the preset name.
    """

    positions: np.ndarray
    rotations: np.ndarray
    focal_px: np.ndarray
    loop: bool
    preset: str


def look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) whose z column points from ``position`` to ``target`` with y (down) kept
    as close as possible to the rest camera's y axis (no roll)."""
    z = np.asarray(target, float) - np.asarray(position, float)
    z /= np.linalg.norm(z)
    x = np.cross(np.array([0.0, 1.0, 0.0]), z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


def _offsets(preset: str, t: np.ndarray):
    """Unit-free motion shape: sideways (x, y) in [-1, 1], forward f in [0, 1], zoom flag."""
    two_pi_t = 2.0 * math.pi * t
    zeros = np.zeros_like(t)
    if preset == "circle":
        return np.cos(two_pi_t), np.sin(two_pi_t), zeros
    if preset == "swing":
        return np.sin(two_pi_t), zeros, zeros
    if preset == "vertical":
        return zeros, np.sin(two_pi_t), zeros
    if preset in ("dolly", "dolly-zoom"):
        return zeros, zeros, 0.5 - 0.5 * np.cos(two_pi_t)
    if preset == "ken-burns":
        return -1.0 + 2.0 * t, zeros, t
    raise InputError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")


def camera_path(preset: str, n_frames: int, depth: SceneDepth, K: np.ndarray, width: int, *,
                amount: float = 1.0) -> CameraKeys:
    """Camera poses for a preset (see module doc for the units of ``amount``).

    Args:
        preset: one of :data:`PRESETS`.
        n_frames: number of frames (>= 1).
        depth: near/far/focus of the scene (:func:`scene_depth`).
        K: (3, 3) intrinsics of the photo in pixels.
        width: photo width in pixels.
        amount: motion strength, 1.0 = default; 0 = still camera; must be finite and >= 0.
    Returns:
        :class:`CameraKeys` with n_frames poses. Circle starts at the right of the rest camera;
        swing/vertical/dolly/dolly-zoom start at the rest pose; ken-burns starts left and back.
    Raises:
        InputError: unknown preset, n_frames < 1, negative or non-finite amount.
    """
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    if n_frames < 1:
        raise InputError(f"need at least one frame, got {n_frames}")
    if not (math.isfinite(amount) and amount >= 0):
        raise InputError(f"amount must be a number >= 0, got {amount}")
    loop = preset in LOOP_PRESETS
    t = np.arange(n_frames) / (n_frames if loop else max(1, n_frames - 1))
    return camera_path_at(preset, t, depth, K, width, amount=amount)


def camera_path_at(preset: str, t: np.ndarray, depth: SceneDepth, K: np.ndarray, width: int, *,
                   amount: float = 1.0) -> CameraKeys:
    """Camera poses of a preset at path parameters ``t`` (array, 0..1); see :func:`camera_path`."""
    t = np.asarray(t, dtype=np.float64)
    f0 = float(K[0, 0])
    near, focus = depth.near, depth.focus
    # sideways radius: near plane moves PARALLAX_FRACTION * width px relative to the focus plane
    dw = max(1.0 / near - 1.0 / focus, 1e-9)
    radius = amount * PARALLAX_FRACTION * width / (f0 * dw)
    radius = min(radius, 0.25 * focus * max(amount, 1e-9))  # flat scenes: keep the move modest
    # forward travel: the near plane grows by PARALLAX_FRACTION (Z -> Z - d => scale Z/(Z-d))
    travel = min(amount * near * PARALLAX_FRACTION * 2.0, 0.5 * near)

    sx, sy, fw = _offsets(preset, t)
    if preset == "ken-burns":
        sx = sx * 0.5
    pos = np.stack([sx * radius, sy * radius, fw * travel], axis=1)
    target = np.array([0.0, 0.0, focus])
    if preset in ("dolly", "dolly-zoom", "ken-burns"):
        rots = np.repeat(np.eye(3)[None], len(t), axis=0)
        if preset == "ken-burns":
            rots = np.stack([look_at(p, target) for p in pos])
    else:
        rots = np.stack([look_at(p, target) for p in pos])
    if preset == "dolly-zoom":
        # Hitchcock zoom: keep the focus plane's size: f(t) = f0 * (Zf - travel(t)) / Zf.
        # Travel away from the scene while zooming in keeps the move safe (no near clipping).
        pos[:, 2] = -pos[:, 2] * 2.0
        focal = f0 * (focus - pos[:, 2]) / focus
    else:
        focal = np.full(len(t), f0)
    return CameraKeys(positions=pos, rotations=rots, focal_px=focal,
                      loop=preset in LOOP_PRESETS, preset=preset)


def overscan_zoom(Z: np.ndarray, K: np.ndarray, keys: CameraKeys, *, max_zoom: float = 1.5) -> float:
    """Zoom factor (>= 1) that keeps the photo's border out of every frame of a camera path.

    When the camera moves, the picture's edges move into view and show the empty world behind
    them. This projects the depth map's border (every pixel on the four edges, unprojected with
    its own depth) into each frame with that frame's pose and focal length, measures how far the
    edge moved into the frame, and returns the zoom about the principal point that crops it away.

    Args:
        Z: (H, W) depth > 0 (scene units); K: (3, 3) intrinsics of the photo in pixels.
        keys: the camera path (:func:`camera_path`).
        max_zoom: cap on the zoom (a huge move would otherwise zoom far in).
    Returns:
        zoom factor to multiply the focal length by, in [1, max_zoom].
    """
    from .geometry import unproject

    H, W = Z.shape
    cols = np.arange(W)
    rows = np.arange(H)
    sides = [  # (u, v) of border pixel centres pushed onto the picture's edge, per side
        (np.full(H, -0.5), rows, Z[:, 0], "left"),
        (np.full(H, W - 0.5), rows, Z[:, -1], "right"),
        (cols, np.full(W, -0.5), Z[0, :], "top"),
        (cols, np.full(W, H - 0.5), Z[-1, :], "bottom"),
    ]
    cx, cy = float(K[0, 2]), float(K[1, 2])
    need = 1.0
    for u, v, z, side in sides:
        pts = unproject(u, v, np.maximum(z, 1e-9), K).astype(np.float64)  # (n, 3)
        for c, R, f in zip(keys.positions, keys.rotations, keys.focal_px):
            p = (pts - c) @ R  # camera coordinates of this frame: R^T (X - c)
            ok = p[:, 2] > 1e-9
            if not ok.any():
                continue
            pu = f * p[ok, 0] / p[ok, 2] + cx
            pv = f * p[ok, 1] / p[ok, 2] + cy
            # distance from the principal point to the edge now vs. to the frame's edge
            if side == "left":
                now, full = cx - pu.max(), cx + 0.5
            elif side == "right":
                now, full = pu.min() - cx, W - 0.5 - cx
            elif side == "top":
                now, full = cy - pv.max(), cy + 0.5
            else:
                now, full = pv.min() - cy, H - 0.5 - cy
            if now <= 0:
                return max_zoom
            need = max(need, full / now)
    return float(min(need, max_zoom))


#: stereo 3D output formats (``--stereo``): side-by-side, top-bottom (full or half size), red-cyan
#: anaglyph, and two separate left/right videos
STEREO_FORMATS = ("sbs", "sbs-half", "tb", "tb-half", "anaglyph", "lr")
#: zero-parallax plane of the stereo pair: the nearest depth, the focus depth or the farthest
CONVERGENCE_CHOICES = ("near", "focus", "far")
#: the largest on-screen parallax of the nearest / farthest point: 3 % of the picture width
#: (the "1/30 rule" of stereography; B. Mendiburu, "3D Movie Making", Focal Press 2009, ch. 5,
#: gives 1-2 % behind the screen and up to ~3 % in front as comfortable for most screens)
MAX_STEREO_PARALLAX = 0.03


@dataclass
class StereoRig:
    """A parallel (off-axis) stereo camera pair around the animated camera.

    Attributes:
        interaxial: distance between the left and right cameras, scene units.
        convergence: depth of the zero-parallax plane, scene units.
        near_parallax_px, far_parallax_px: on-screen parallax of the near / far depth
            (x_left - x_right, pixels of a render ``width`` wide; > 0 = in front of the screen).
        auto: True when the interaxial came from the rule (:data:`MAX_STEREO_PARALLAX`).
    """

    interaxial: float
    convergence: float
    near_parallax_px: float
    far_parallax_px: float
    auto: bool


def stereo_parallax_px(Z, interaxial: float, convergence: float, focal_px: float):
    """On-screen parallax x_left - x_right (pixels) of a point at depth ``Z`` for an off-axis pair
    ``interaxial`` apart converged at ``convergence`` (scene units): f * b * (1/Z - 1/Zc). Positive
    = nearer than the zero-parallax plane (in front of the screen). Float or array."""
    return focal_px * interaxial * (1.0 / np.asarray(Z, dtype=np.float64) - 1.0 / convergence)


def stereo_rig(depth: SceneDepth, focal_px: float, width: int, *, convergence="focus",
               interaxial: Optional[float] = None,
               max_parallax: float = MAX_STEREO_PARALLAX) -> StereoRig:
    """Interaxial distance and convergence for a comfortable stereo pair of the 3D photo.

    The zero-parallax plane sits at ``convergence`` ("near", "focus", "far" of ``depth``, or a
    depth in scene units). Without an explicit ``interaxial`` it is the largest one for which
    neither the nearest nor the farthest depth has more than ``max_parallax`` x ``width`` pixels
    of on-screen parallax (:func:`stereo_parallax_px`), the 1/30 rule of stereography.

    Args:
        depth: near/far/focus of the scene (:func:`scene_depth`).
        focal_px: focal length in pixels of a picture ``width`` pixels wide.
        convergence: "near" | "focus" | "far" or a depth > 0 (scene units).
        interaxial: camera separation in scene units (> 0), or None for the rule.
    Raises:
        InputError: unknown convergence, interaxial <= 0, non-positive depth.
    """
    if isinstance(convergence, str):
        if convergence not in CONVERGENCE_CHOICES:
            raise InputError(f"unknown convergence {convergence!r}; choose one of: "
                             f"{', '.join(CONVERGENCE_CHOICES)} (or a depth)")
        zc = {"near": depth.near, "focus": depth.focus, "far": depth.far}[convergence]
    else:
        zc = float(convergence)
    if not (zc > 0 and math.isfinite(zc)):
        raise InputError(f"convergence depth must be > 0, got {convergence}")
    auto = interaxial is None
    if auto:
        span = max(abs(1.0 / depth.near - 1.0 / zc), abs(1.0 / zc - 1.0 / depth.far), 1e-12)
        interaxial = max_parallax * width / (focal_px * span)
    elif not (interaxial > 0 and math.isfinite(interaxial)):
        raise InputError(f"--interaxial must be > 0 (scene units), got {interaxial}")
    p = stereo_parallax_px([depth.near, depth.far], interaxial, zc, focal_px)
    return StereoRig(float(interaxial), float(zc), float(p[0]), float(p[1]), auto)


def stereo_eye_keys(keys: CameraKeys, interaxial: float) -> CameraKeys:
    """The left and right cameras of an off-axis stereo pair centred on ``keys`` (each frame's
    camera moved by -/+ interaxial / 2 along its own x axis), as one CameraKeys of 2 F frames
    (all left cameras, then all right ones): what the stereo views see, e.g. for sizing the
    background layer. ``interaxial`` in scene units."""
    x_axis = keys.rotations[:, :, 0]
    half = 0.5 * float(interaxial) * x_axis
    return CameraKeys(positions=np.concatenate([keys.positions - half, keys.positions + half]),
                      rotations=np.concatenate([keys.rotations, keys.rotations]),
                      focal_px=np.concatenate([keys.focal_px, keys.focal_px]), loop=False,
                      preset=keys.preset)
