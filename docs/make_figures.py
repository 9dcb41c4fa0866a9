"""Regenerate the README's pictures from the bundled example (run from the repo root):

    .venv/bin/python docs/make_figures.py

Writes docs/example_frames.jpg (four frames of the default circle move, 2x2),
docs/example_loop.gif (the whole loop at half size, every 4th frame) and
docs/example_depth.png (the photo beside its stereo depth as a Turbo colormap, near = red).
"""
from __future__ import annotations

import pathlib
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import skimage.data

    from depth_addon.cli import MOTORCYCLE
    from depth_addon.core import pipeline
    from depth_addon.core.depth import colormap

    with tempfile.TemporaryDirectory() as tmp:
        frames = pathlib.Path(tmp) / "frames"
        subprocess.run([sys.executable, "-m", "depth_addon", "-o", str(frames), "--fps", "30",
                        "--seconds", "4", "-q"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        pick = [1, 31, 61, 91]
        ims = [Image.open(frames / f"frame_{i:04d}.png").convert("RGB") for i in pick]
        loop = [Image.open(frames / f"frame_{i:04d}.png").convert("RGB") for i in range(1, 121, 4)]
    small = [im.resize((im.width // 2, im.height // 2), Image.LANCZOS) for im in loop]
    small[0].save(ROOT / "docs" / "example_loop.gif", save_all=True, append_images=small[1:],
                  duration=1000 * 4 // 30, loop=0, optimize=True)
    w, h = ims[0].size
    grid = Image.new("RGB", (w * 2, h * 2))
    for k, im in enumerate(ims):
        grid.paste(im, ((k % 2) * w, (k // 2) * h))
    grid.resize((w, h), Image.LANCZOS).save(ROOT / "docs" / "example_frames.jpg", quality=88)

    left, right, _ = skimage.data.stereo_motorcycle()
    res = pipeline.run(left, right=right, settings=pipeline.Settings(**MOTORCYCLE, seconds=0.1))
    side = np.concatenate([left, colormap(res.Z, "metric")], axis=1)
    Image.fromarray(side).resize((side.shape[1] // 2, side.shape[0] // 2), Image.LANCZOS).save(
        ROOT / "docs" / "example_depth.png", optimize=True)


if __name__ == "__main__":
    main()
