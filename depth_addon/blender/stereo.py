"""Stereo 3D output of the 3D photo with Blender's own multiview (Stereo 3D views).

The animated camera becomes an off-axis stereo pair (``camera.stereo``: convergence mode
'OFFAXIS', pivot 'CENTER', so the pair straddles the mono camera's path and zero parallax lies at
the convergence distance); the scene renders the 'left' and 'right' views
(``render.use_multiview``, ``views_format = 'STEREO_3D'``) and the output's
``image_settings.views_format`` / ``stereo_3d_format`` combine them:

- ``sbs`` / ``sbs-half``: side by side, left view on the left (twice the width, or squeezed to it),
- ``tb`` / ``tb-half``: top-bottom, left view on top,
- ``anaglyph``: red-cyan (Blender offers RED_CYAN, GREEN_MAGENTA and YELLOW_BLUE, each a plain
  channel split: red from the left view, green and blue from the right; no Dubois matrices),
- ``lr``: each view to its own file (Blender appends ``_L`` / ``_R`` to the name).
Checked on bpy 5.0.1 and 4.2 LTS.
"""
from __future__ import annotations

from typing import Optional

import bpy

from ..core.camera_path import STEREO_FORMATS, StereoRig

#: --stereo format -> (display_mode, squeezed) of ``image_settings.stereo_3d_format``
_DISPLAY = {"sbs": ("SIDEBYSIDE", False), "sbs-half": ("SIDEBYSIDE", True),
            "tb": ("TOPBOTTOM", False), "tb-half": ("TOPBOTTOM", True),
            "anaglyph": ("ANAGLYPH", False)}


def output_size(fmt: Optional[str], width: int, height: int) -> tuple:
    """(width, height) of one output picture of a ``width`` x ``height`` render in ``fmt``
    (None = mono): ``sbs`` doubles the width, ``tb`` the height; the others keep the size."""
    if fmt == "sbs":
        return 2 * width, height
    if fmt == "tb":
        return width, 2 * height
    return width, height


def configure_stereo(scene: "bpy.types.Scene", cam: "bpy.types.Camera", fmt: Optional[str],
                     rig: Optional[StereoRig]) -> None:
    """Set ``scene`` and ``cam`` up for stereo format ``fmt`` with ``rig`` (interaxial and
    convergence, scene units), or back to a single view when ``fmt`` is None.

    Raises:
        ValueError: unknown format, or a format without a rig.
    """
    r = scene.render
    if fmt is None:
        r.use_multiview = False
        return
    if fmt not in STEREO_FORMATS:
        raise ValueError(f"unknown stereo format {fmt!r}; choose one of: {', '.join(STEREO_FORMATS)}")
    if rig is None:
        raise ValueError("a stereo format needs a stereo rig (interaxial, convergence)")
    r.use_multiview = True
    r.views_format = "STEREO_3D"
    for v in r.views:  # the stereo pair only (a user's extra views stay off)
        v.use = v.name in ("left", "right")
    st = cam.stereo
    st.convergence_mode = "OFFAXIS"
    st.pivot = "CENTER"
    st.interocular_distance = float(rig.interaxial)
    st.convergence_distance = float(rig.convergence)
    apply_views_format(scene.render.image_settings, fmt)


def apply_views_format(isf, fmt: Optional[str]) -> None:
    """How ``image_settings`` ``isf`` writes the two views for ``fmt`` (see the module doc)."""
    if fmt is None:
        return
    if fmt == "lr":
        isf.views_format = "INDIVIDUAL"
        return
    mode, squeezed = _DISPLAY[fmt]
    isf.views_format = "STEREO_3D"
    s3d = isf.stereo_3d_format
    s3d.display_mode = mode
    if mode == "ANAGLYPH":
        s3d.anaglyph_type = "RED_CYAN"
    elif mode == "SIDEBYSIDE":
        s3d.use_sidebyside_crosseyed = False
        s3d.use_squeezed_frame = squeezed
    else:
        s3d.use_squeezed_frame = squeezed
