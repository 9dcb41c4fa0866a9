"""Shared test set-up: no hub access, real photos from skimage.data, a tiny local depth model."""
from __future__ import annotations

import os
import pathlib
import sys

import numpy as np
import pytest

# never wait for the hub: an id that is not cached must fail at once (see DESIGN.md)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> pathlib.Path:
    """A tiny randomly initialised Depth Anything saved like a downloaded model (built once)."""
    pytest.importorskip("torch")
    from tests.tiny_model import make_tiny_depth_anything

    return make_tiny_depth_anything(tmp_path_factory.mktemp("models") / "tiny-depth-anything")


@pytest.fixture(scope="session")
def motorcycle():
    """Middlebury 2014 motorcycle pair at 1/4 size with ground-truth disparity (inf = unknown)."""
    import skimage.data

    return skimage.data.stereo_motorcycle()


@pytest.fixture(scope="session")
def moto(motorcycle):
    """The motorcycle pair as (left, right, ground-truth disparity float32)."""
    left, right, gt = motorcycle
    return left, right, gt.astype(np.float32)


@pytest.fixture()
def photo_file(tmp_path) -> pathlib.Path:
    """skimage.data.chelsea() (a real 451x300 photo) saved as a JPEG file."""
    import skimage.data
    from PIL import Image

    path = tmp_path / "chelsea.jpg"
    Image.fromarray(np.asarray(skimage.data.chelsea())).save(path, quality=95)
    return path
