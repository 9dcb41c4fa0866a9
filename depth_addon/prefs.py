"""Add-on preferences: device, model cache folder, default model, and installing PyTorch.

Dependencies are installed only when the user presses the button, into the extension's own user
folder ``bpy.utils.extension_path_user(__package__, path="site-packages", create=True)`` (never the
add-on's folder, never during ``register()``), and only when Blender's online access is allowed
(``bpy.app.online_access``). That folder is appended to ``sys.path`` at register time so Blender's
own modules (numpy) keep precedence.
"""

import os
import subprocess
import sys
from typing import List

import bpy
from bpy.props import EnumProperty, StringProperty

from . import ids
from .core.errors import DepthAddonError
from .core.monocular import DEFAULT_MODEL

#: what the buttons install, pinned to versions tested together (numpy is pinned to Blender's own)
BASE_PACKAGES = ["opencv-contrib-python-headless==4.11.0.86", "pillow==13.0.0",
                 "pillow-heif==1.8.1", "tqdm==4.70.1", "pypatchmatch==2.2.0",
                 "openexr==3.5.3"]  # OpenEXR: header attributes of exported depth EXRs
ML_PACKAGES = ["torch==2.13.0", "transformers==5.23.0", "safetensors==0.8.0"]


def site_packages(create: bool = True) -> str:
    """The extension's private site-packages folder (created on demand)."""
    return bpy.utils.extension_path_user(__package__, path="site-packages", create=create)


def add_site_packages_to_path() -> None:
    """Append the private site-packages to sys.path (after Blender's own) if it exists."""
    try:
        path = site_packages(create=False)
    except (ValueError, RuntimeError):  # not installed as an extension (legacy add-on / tests)
        return
    if path and os.path.isdir(path) and path not in sys.path:
        sys.path.append(path)


def missing_modules() -> List[str]:
    """Import names the add-on needs that cannot be imported now (cv2, PIL, patchmatch, torch, transformers)."""
    import importlib.util

    out = []
    for name in ("cv2", "PIL", "patchmatch", "torch", "transformers"):
        try:
            if importlib.util.find_spec(name) is None:
                out.append(name)
        except (ImportError, ValueError):
            out.append(name)
    return out


def install_command(target: str, what: str = "ALL") -> List[str]:
    """The pip command the Install button runs.

    Args:
        target: folder to install into (the extension's site-packages).
        what: 'BASE' (OpenCV, Pillow), 'ML' (PyTorch, transformers) or 'ALL'.
    Returns:
        argv list: ``[python, -m, pip, install, --target, TARGET, --upgrade, numpy==X, pkgs…]``.
    """
    import numpy

    pkgs = {"BASE": BASE_PACKAGES, "ML": ML_PACKAGES, "ALL": BASE_PACKAGES + ML_PACKAGES}[what]
    return [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--target",
            target, "--upgrade", f"numpy=={numpy.__version__}", *pkgs]


def check_online() -> None:
    """Raise DepthAddonError unless Blender allows online access."""
    if not bpy.app.online_access:
        raise DepthAddonError(
            "Blender's online access is off: allow it in Preferences › System › Network "
            "(Allow Online Access), or install the packages yourself into " + site_packages(False))


def run_install(cmd: List[str], progress) -> str:
    """Run pip, reporting each output line as progress; returns the target folder.

    Raises:
        DepthAddonError: pip missing or failed (with its last output line); Cancelled via progress.
    """
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise DepthAddonError(f"cannot run pip: {exc}") from None
    last = ""
    try:
        for n, line in enumerate(proc.stdout):
            line = line.strip()
            if line:
                last = line
                progress(f"pip: {line[:60]}", min(0.95, n / 200.0))
    except BaseException:
        proc.kill()
        raise
    if proc.wait() != 0:
        raise DepthAddonError(f"pip failed ({last}); command: {' '.join(cmd)}")
    add_site_packages_to_path()
    return cmd[cmd.index("--target") + 1]


class DEPTH_AddonPreferences(bpy.types.AddonPreferences):
    """Device, model cache, default model, dependency install."""

    bl_idname = __package__

    device: EnumProperty(name="Device", items=[
        ("auto", "Auto", "CUDA, then MPS, then CPU"), ("cpu", "CPU", ""), ("cuda", "CUDA", ""),
        ("mps", "Apple MPS", "")], default="auto")
    cache_dir: StringProperty(name="Model Cache Folder", subtype="DIR_PATH",
                              description="Where downloaded models are kept (empty = Hugging Face default)")
    default_model: StringProperty(name="Default Model", default=DEFAULT_MODEL)

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "device")
        layout.prop(self, "cache_dir")
        layout.prop(self, "default_model")
        missing = missing_modules()
        box = layout.box()
        if missing:
            box.label(text="Missing: " + ", ".join(missing), icon="ERROR")
        else:
            box.label(text="All dependencies are installed", icon="CHECKMARK")
        if not bpy.app.online_access:
            box.label(text="Online access is off (Preferences › System › Network)", icon="INFO")
        row = box.row()
        row.operator(ids.OT_INSTALL, text="Install OpenCV + Pillow").what = "BASE"
        row.operator(ids.OT_INSTALL, text="Install PyTorch + transformers").what = "ML"
        props = getattr(context.scene, ids.SCENE_PROP, None)
        if props is not None and props.running:
            box.progress(factor=props.progress, text=props.status)


def get(context=None):
    """The add-on's preferences, or None when not registered as an add-on (e.g. tests)."""
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


CLASSES = (DEPTH_AddonPreferences,)
