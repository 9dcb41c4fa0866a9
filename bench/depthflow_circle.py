"""Render a photo + depth with DepthFlow 1.0.1's Circle move, headless (run with DepthFlow's venv).

Usage: /work/depthflow-venv/bin/python bench/depthflow_circle.py PHOTO DEPTH OUT.mp4 W H FPS SECONDS

DepthFlow 1.0 has no preset flags: its Circle preset is, per frame,
isometric 0.6, steady 0.3, offset = (0.5 sin(cycle + pi/2), 0.5 sin(cycle)) (DESIGN.md).
Depth: white = near (our 16-bit --export-depth PNG is inverse depth, white near).
A benchmark helper only: DepthFlow is never a dependency of depth_addon.
"""
import math
import sys

from depthflow.scene import DepthScene


class Circle(DepthScene):
    def update(self) -> None:
        self.state.isometric = 0.6
        self.state.steady = 0.3
        self.state.offset = (0.5 * math.sin(self.cycle + math.pi / 2), 0.5 * math.sin(self.cycle))


def main(argv):
    photo, depth, out, w, h, fps, seconds = argv
    scene = Circle(backend="headless")
    scene.input(image=photo, depth=depth)
    scene.main(output=out, width=int(w), height=int(h), fps=float(fps), time=float(seconds))


if __name__ == "__main__":
    main(sys.argv[1:])
