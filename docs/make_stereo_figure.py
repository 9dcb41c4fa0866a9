"""Figure for the README: one frame of the bundled example in each stereo 3D format.

Run from the repo root: ``.venv/bin/python docs/make_stereo_figure.py [--frame 30]
[--out docs/stereo_formats.jpg]`` (~1 min here).

It builds what ``python -m depth_addon --stereo FORMAT`` builds (the Middlebury motorcycle pair,
SGBM depth with its calibration, circle move, the 3 % parallax rule, convergence at the focus
depth) at 480x324, renders frame ``--frame`` as a still in every format of
``camera_path.STEREO_FORMATS`` and writes them in a grid, each labelled with its format and
picture size ("lr" shows its two files side by side with a gap).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="stereo-figure-user-"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

SIZE = (480, 324)


def main() -> None:
    import bpy
    import skimage.data

    from depth_addon.blender import render as brender
    from depth_addon.blender import scene as bscene
    from depth_addon.cli import MOTORCYCLE
    from depth_addon.core import camera_path as cp
    from depth_addon.core import pipeline

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frame", type=int, default=30)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "stereo_formats.jpg"))
    args = ap.parse_args()
    left, right, _ = skimage.data.stereo_motorcycle()
    tiles = []
    with tempfile.TemporaryDirectory(prefix="stereo_fig_") as tmp:
        for fmt in cp.STEREO_FORMATS:
            s = pipeline.Settings(stereo=fmt, resolution=SIZE, **MOTORCYCLE)
            res = pipeline.run(left, right=right, settings=s)
            bpy.ops.wm.read_factory_settings(use_empty=True)
            scene = bpy.context.scene
            bscene.build(res, scene=scene)
            path = os.path.join(tmp, f"{fmt}.png")
            brender.render_still(scene, path, args.frame)
            if fmt == "lr":
                views = [cv2.imread(os.path.join(tmp, f"{fmt}{sfx}.png")) for sfx in ("_L", "_R")]
                gap = np.full((views[0].shape[0], 12, 3), 255, np.uint8)
                img = np.concatenate([views[0], gap, views[1]], axis=1)
                label = f"lr: NAME_L + NAME_R, {SIZE[0]}x{SIZE[1]} each"
            else:
                img = cv2.imread(path)
                label = f"{fmt}: {img.shape[1]}x{img.shape[0]}"
            rig = pipeline.stereo_rig(res)
            print(f"{label} (interaxial {rig.interaxial:.3f} m, zero parallax {rig.convergence:.2f} m)",
                  flush=True)
            tiles.append((label, img))
    # grid: each tile scaled to the same height, two per row
    h = 260
    cells = []
    for label, img in tiles:
        t = cv2.resize(img, (int(round(img.shape[1] * h / img.shape[0])), h), interpolation=cv2.INTER_AREA)
        for col, th in (((0, 0, 0), 4), ((255, 255, 255), 1)):
            cv2.putText(t, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, col, th, cv2.LINE_AA)
        cells.append(t)
    width = max(c.shape[1] for c in cells)
    rows = []
    for i in range(0, len(cells), 2):
        row = cells[i:i + 2]
        pad = [np.pad(c, ((0, 0), (0, max(0, (width - c.shape[1]))), (0, 0)), constant_values=255)
               if len(row) == 1 else c for c in row]
        r = np.concatenate([p if j == 0 else np.concatenate(
            [np.full((h, 12, 3), 255, np.uint8), p], axis=1) for j, p in enumerate(pad)], axis=1)
        rows.append(r)
    W = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 12), (0, W - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    sheet = np.concatenate(rows, axis=0)
    cv2.imwrite(args.out, sheet, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
