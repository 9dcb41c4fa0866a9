"""Blender tests run the real bpy module; each starts from an empty factory scene."""
from __future__ import annotations

import os
import tempfile

import pytest

# sandbox Blender's user folders (preferences, extensions) before bpy is imported
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="depth3d-blender-user-"))

bpy = pytest.importorskip("bpy")


@pytest.fixture(autouse=True)
def empty_scene():
    """Reset Blender to factory settings with an empty scene before every test."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy.context.scene
