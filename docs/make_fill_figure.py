"""Figure for the README: the same frame of the bundled example with each background fill, side by
side, and each fill's layer time.

Run from the repo root: ``.venv/bin/python docs/make_fill_figure.py [--methods telea,patchmatch]
[--frame 90] [--out docs/fill_comparison.jpg]`` (~15 s per method here).

What it does is what ``python -m depth_addon -o parallax.mp4`` does (the Middlebury motorcycle pair
from ``skimage.data``, SGBM depth with the pair's calibration, circle move, 4 s x 30 fps, Workbench
with the CLI's render settings), with ``--inpaint`` set per method; it renders one frame as a still,
writes the frames side by side (each labelled with the method and its layer + fill time) and a
crop of the region behind the handlebars and seat at 2x, below them.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="fill-figure-user-"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

#: (x0, y0, x1, y1) of the 2x crop in the 740x500 render: above the seat, behind the handlebars
CROP = (280, 40, 600, 200)


def render_frame(method: str, frame: int, path: str):
    """Build the example with ``--inpaint method`` and render ``frame``; returns (rgb, layer s)."""
    import bpy
    import skimage.data

    from depth_addon.blender import render as brender
    from depth_addon.blender import scene as bscene
    from depth_addon.cli import MOTORCYCLE
    from depth_addon.core import pipeline

    left, right, _ = skimage.data.stereo_motorcycle()
    s = pipeline.Settings(inpaint=method, **MOTORCYCLE)
    s.validate()
    res = pipeline.run(left, right=right, settings=s)
    bg = res.background
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    bscene.build(res, scene=scene)
    brender.render_still(scene, path, frame)
    img = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return img, bg.seconds, bg.method


def label(img: np.ndarray, text: str) -> np.ndarray:
    img = np.ascontiguousarray(img)
    for col, th in (((0, 0, 0), 4), ((255, 255, 255), 1)):
        cv2.putText(img, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, col, th, cv2.LINE_AA)
    return img


def main() -> None:
    from depth_addon.core.background import DEFAULT_METHOD

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="telea,patchmatch")
    ap.add_argument("--frame", type=int, default=90)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "fill_comparison.jpg"))
    args = ap.parse_args()
    cols = []
    with tempfile.TemporaryDirectory(prefix="fill_fig_") as tmp:
        for m in [x.strip() for x in args.methods.split(",") if x.strip()]:
            img, secs, used = render_frame(m, args.frame, os.path.join(tmp, f"{m}.png"))
            print(f"{m}: layer + fill {secs:.2f} s (method used: {used})", flush=True)
            x0, y0, x1, y1 = CROP
            crop = cv2.resize(img[y0:y1, x0:x1], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
            cv2.rectangle(img, (x0, y0), (x1, y1), (255, 255, 0), 1)
            pad = np.zeros((crop.shape[0], img.shape[1], 3), np.uint8)
            pad[:, :crop.shape[1]] = crop[:, :img.shape[1]]
            tag = " (default)" if used == DEFAULT_METHOD else ""
            cols.append(np.concatenate([label(img, f"--inpaint {used}{tag}: frame {args.frame}, "
                                                  f"layer {secs:.1f} s"), pad], axis=0))
    sheet = np.concatenate(cols, axis=1)
    cv2.imwrite(args.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
