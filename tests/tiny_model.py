"""A tiny, randomly initialised Depth Anything model folder for tests and benchmarks.

The architecture follows Depth Anything V2 (Yang et al. 2024, "Depth Anything V2", arXiv:2406.09414):
a DINOv2 ViT backbone + DPT-style reassemble/fusion neck + depth head, as implemented by
``transformers.DepthAnythingForDepthEstimation`` (see the transformers "Depth Anything" docs). The sizes
are shrunk (~214 k parameters) so a forward pass takes milliseconds on a CPU. The weights are random
(``torch.manual_seed(0)``): the output is a deterministic but meaningless relative inverse-depth map,
good for testing plumbing (loading, shapes, dtypes, caching), not accuracy.

Usage::

    from tests.tiny_model import make_tiny_depth_anything
    folder = make_tiny_depth_anything(tmp_path / "tiny")   # config.json, model.safetensors, preprocessor
"""
from __future__ import annotations

import pathlib

#: Side (px) of the network input the tiny model's image processor produces (a multiple of the
#: 14 px patch size). Small to keep tests fast.
TINY_SIZE = 70


def make_tiny_depth_anything(folder: pathlib.Path, *, size: int = TINY_SIZE) -> pathlib.Path:
    """Build and save a tiny random Depth Anything model + image processor into ``folder``.

    Args:
        folder: directory to write (created if missing; existing files of the same names are
            overwritten).
        size: network input side in pixels for the image processor (multiple of 14); the processor
            keeps the aspect ratio, so the shorter side of the processed image is ~``size``.

    Returns:
        ``folder`` as a :class:`pathlib.Path`, holding ``config.json``, ``model.safetensors`` and
        ``preprocessor_config.json`` — loadable with ``AutoModelForDepthEstimation.from_pretrained``,
        ``pipeline("depth-estimation", model=folder)`` or ``depth_addon.core.monocular.load_model``.

    Raises:
        ImportError: torch or transformers is not installed.

    Deterministic: seeded with ``torch.manual_seed(0)`` (the global torch RNG state is restored
    afterwards so callers' randomness is unaffected).
    """
    import torch
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
    )

    try:  # transformers 5.x without torchvision: the PIL backend is the concrete class
        from transformers import DPTImageProcessorPil as _Processor
    except ImportError:  # pragma: no cover - older transformers
        from transformers import DPTImageProcessor as _Processor

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    backbone = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        patch_size=14,
        image_size=518,
        out_indices=[1, 2, 3, 4],
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=32,
        patch_size=14,
        neck_hidden_sizes=[8, 16, 32, 64],
        fusion_hidden_size=16,
        head_hidden_size=8,
        depth_estimation_type="relative",
    )

    rng_state = torch.get_rng_state()
    try:
        torch.manual_seed(0)
        model = DepthAnythingForDepthEstimation(config).eval()
    finally:
        torch.set_rng_state(rng_state)
    model.save_pretrained(folder, safe_serialization=True)

    # Same preprocessing recipe as the released Depth Anything V2 checkpoints (keep aspect ratio,
    # multiple of 14, bicubic, ImageNet mean/std), only smaller.
    processor = _Processor(
        do_resize=True,
        size={"height": size, "width": size},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=3,  # PIL bicubic
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
        do_pad=False,
    )
    processor.save_pretrained(folder)
    return folder
