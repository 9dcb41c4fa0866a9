"""Build the Blender extension zip: ``python build.py`` -> ``dist/depth_addon-<version>.zip``.

Stages ``blender_manifest.toml``, ``LICENSE`` and the contents of ``depth_addon/`` into one folder
(the extension's ``__init__.py`` must sit beside its manifest), validates the staged folder and
builds the zip with the extension command-line tool that ships inside Blender / the bpy wheel
(``bpy/<ver>/scripts/addons_core/bl_pkg/cli/blender_ext.py``, what ``blender --command extension``
runs). Exits non-zero with the tool's message when validation fails.
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(ROOT, "depth_addon")


def extension_cli() -> str:
    """Path of blender_ext.py inside the installed bpy wheel.

    Raises:
        SystemExit: bpy is not installed in this Python.
    """
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("bpy is not installed: pip install -r requirements.txt (it ships the "
                         "extension build tool)")
    for base in spec.submodule_search_locations:
        hits = sorted(glob.glob(os.path.join(base, "*", "scripts", "addons_core", "bl_pkg", "cli",
                                             "blender_ext.py")))
        if hits:
            return hits[-1]
    raise SystemExit("blender_ext.py not found inside the bpy package")


def stage(dest: str) -> str:
    """Copy the manifest, LICENSE and the package contents into ``dest`` (recreated)."""
    if os.path.exists(dest):
        shutil.rmtree(dest)
    shutil.copytree(PACKAGE, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc",
                                                                  "__main__.py"))
    for name in ("blender_manifest.toml", "LICENSE"):
        shutil.copy2(os.path.join(ROOT, name), os.path.join(dest, name))
    return dest


def build(output_dir: str = os.path.join(ROOT, "dist")) -> str:
    """Stage, validate and zip; returns the zip's path."""
    with open(os.path.join(ROOT, "blender_manifest.toml"), "rb") as fh:
        manifest = tomllib.load(fh)
    staged = stage(os.path.join(ROOT, "build_stage", manifest["id"]))
    cli = extension_cli()
    subprocess.run([sys.executable, cli, "validate", staged], check=True)
    os.makedirs(output_dir, exist_ok=True)
    out = os.path.join(output_dir, f"{manifest['id']}-{manifest['version']}.zip")
    if os.path.exists(out):
        os.remove(out)
    subprocess.run([sys.executable, cli, "build", "--source-dir", staged, "--output-filepath", out],
                   check=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=os.path.join(ROOT, "dist"))
    args = parser.parse_args()
    try:
        print(build(args.output_dir))
    except subprocess.CalledProcessError as exc:
        print(f"error: extension tool failed ({exc.returncode}); see its message above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
