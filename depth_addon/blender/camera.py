"""A Blender camera that matches intrinsics K, animated from core camera keys.

Blender's camera with ``sensor_fit = 'HORIZONTAL'`` has f_px = lens / sensor_width * W and measures
``shift_x``/``shift_y`` in units of the render width (checked with
``bpy_extras.object_utils.world_to_camera_view`` in tests/test_blender_scene.py).
"""
from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from ..core.geometry import CV_TO_BLENDER

SENSOR_WIDTH_MM = 36.0
#: OpenCV camera axes (x right, y down, z forward) -> Blender camera axes (x right, y up, -z fwd)
_CV_TO_BLENDER_CAM = np.diag([1.0, -1.0, -1.0])


def set_intrinsics(cam: "bpy.types.Camera", K: np.ndarray, width: int, height: int) -> None:
    """Set lens, sensor and shift so the camera projects like K at a (width, height) render.

    Args:
        K: (3, 3) intrinsics in pixels of the render size (OpenCV pixel-centre convention).
        width, height: render resolution in pixels.
    """
    cam.type = "PERSP"
    cam.sensor_fit = "HORIZONTAL"
    cam.sensor_width = SENSOR_WIDTH_MM
    cam.lens_unit = "MILLIMETERS"
    cam.lens = float(K[0, 0]) * SENSOR_WIDTH_MM / width
    cam.shift_x = ((width - 1) / 2.0 - float(K[0, 2])) / width
    cam.shift_y = (float(K[1, 2]) - (height - 1) / 2.0) / width


def pose_matrix(position_cv: np.ndarray, rotation_cv: np.ndarray) -> Matrix:
    """Blender world matrix of a camera posed in the rest camera's OpenCV frame.

    Args:
        position_cv: (3,) camera centre, OpenCV coordinates of the rest camera.
        rotation_cv: (3, 3) camera-to-rest rotation (columns = camera x, y, z axes).
    """
    R = CV_TO_BLENDER @ np.asarray(rotation_cv) @ _CV_TO_BLENDER_CAM
    t = CV_TO_BLENDER @ np.asarray(position_cv)
    M = np.eye(4)
    M[:3, :3] = R
    M[:3, 3] = t
    return Matrix(M.tolist())


def animate(cam_obj: "bpy.types.Object", positions: np.ndarray, rotations: np.ndarray,
            focal_px: np.ndarray, photo_width: int, *, frame_start: int = 1) -> None:
    """Key the camera's location, rotation and lens on every frame from ``frame_start``.

    Args:
        positions: (F, 3), rotations: (F, 3, 3) in the rest camera's OpenCV frame.
        focal_px: (F,) focal length in pixels of the photo (``photo_width`` wide); lens is set with
            the camera's horizontal sensor fit so it is independent of the render size.
    """
    cam = cam_obj.data
    cam_obj.rotation_mode = "XYZ"
    prev = None
    for i in range(len(positions)):
        frame = frame_start + i
        cam_obj.matrix_world = pose_matrix(positions[i], rotations[i])
        if prev is not None:  # keep Euler angles continuous between keys
            cam_obj.rotation_euler.make_compatible(prev)
        prev = cam_obj.rotation_euler.copy()
        cam_obj.keyframe_insert("location", frame=frame)
        cam_obj.keyframe_insert("rotation_euler", frame=frame)
        cam.lens = float(focal_px[i]) * SENSOR_WIDTH_MM / photo_width
        cam.keyframe_insert("lens", frame=frame)
    for owner in (cam_obj, cam):
        ad = owner.animation_data
        if ad and ad.action:
            _set_linear(ad.action)


def _set_linear(action) -> None:
    """Linear interpolation on every key (every frame is keyed; Bezier would overshoot)."""
    curves = getattr(action, "fcurves", None)
    if curves is None or len(curves) == 0:  # Blender 5.x: layered actions
        curves = [fc for layer in action.layers for strip in layer.strips
                  for bag in strip.channelbags for fc in bag.fcurves]
    for fc in curves:
        for kp in fc.keyframe_points:
            kp.interpolation = "LINEAR"


def set_depth_of_field(cam: "bpy.types.Camera", focus_object: "bpy.types.Object",
                       fstop: float) -> None:
    """Turn on the camera's depth of field, focused on ``focus_object`` (Blender computes the
    distance along the camera's view axis every frame, so the focus follows a moving camera),
    with aperture ``fstop`` (f-number; the blur is physical when scene units are metres: Blender's
    thin-lens model with the camera's lens and 36 mm sensor). EEVEE and Cycles render it;
    Workbench renders do not (its DoF is a viewport effect).

    Raises:
        ValueError: fstop <= 0.
    """
    if not fstop > 0:
        raise ValueError(f"f-stop must be > 0, got {fstop}")
    cam.dof.use_dof = True
    cam.dof.focus_object = focus_object
    cam.dof.aperture_fstop = float(fstop)
