"""The extension as users get it: build the zip, install it into a sandboxed Blender user folder
with bpy.ops.extensions.package_install_files, and drive the installed add-on's operators on real
pictures (a photo + depth map, the motorcycle stereo pair, a photo through a local model)."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
DRIVER = pathlib.Path(__file__).with_name("drive_installed_addon.py")


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, str(ROOT / "build.py"), "--output-dir", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return pathlib.Path(proc.stdout.strip().splitlines()[-1])


def test_zip_layout(extension_zip):
    import tomllib

    names = zipfile.ZipFile(extension_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names  # side by side
    assert "core/pipeline.py" in names and "LICENSE" in names
    assert not any(n.startswith(("tests/", "bench/")) or "__pycache__" in n for n in names)
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert manifest["id"] == "depth_addon" and manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert extension_zip.name == f"depth_addon-{manifest['version']}.zip"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, motorcycle):
    import skimage.data

    work = tmp_path_factory.mktemp("work")
    Image.fromarray(skimage.data.chelsea()).save(work / "photo.jpg", quality=95)
    v, u = np.mgrid[0:300, 0:451]
    depth = (1.5 + 2.0 * u / 451).astype(np.float32)
    depth[60:240, 100:250] = 1.0  # a box in front: depth edges to tear and fill behind
    np.save(work / "depth.npy", depth)
    left, right, _ = motorcycle
    Image.fromarray(left).save(work / "left.png")
    Image.fromarray(right).save(work / "right.png")
    return work


def drive(zip_path, work, model_dir, *extra):
    env = dict(os.environ, HF_HUB_OFFLINE="1",
               BLENDER_USER_RESOURCES=str(work / f"blender-user{'-'.join(extra)}"))
    proc = subprocess.run([sys.executable, str(DRIVER), str(zip_path), str(work), str(model_dir),
                           *extra], capture_output=True, text=True, timeout=900, env=env)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def _frames(path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


def test_installed_addon_end_to_end(extension_zip, workdir, tiny_model_dir):
    r = drive(extension_zip, workdir, tiny_model_dir)
    ok = ["FINISHED"]
    assert r["install"] == ok and r["registered"]
    # photo + depth map
    assert r["estimate_depth_file"] == [ok, ""] and r["preview"]
    # a real mesh (its flat parts merged by the default simplification: ~5 k of ~10 k vertices)
    assert r["build"] == [ok, ""] and r["mesh_vertices"] > 3_000
    assert r["animate"] == [ok, ""] and r["frame_range"] == [1, 2]
    assert r["active_camera"] == "3D Photo Camera"
    assert r["animate_more"] == [ok, ""] and r["background_objects"] == 1
    assert r["budget"].startswith("Safe motion")
    assert r["render_odd"][0] == ["CANCELLED"] and "even" in r["render_odd"][1]
    assert "Traceback" not in r["render_odd"][1]
    assert r["render"] == [ok, ""] and r["video_exists"]
    assert _frames(workdir / "photo.mp4") == 2
    assert r["render_again"][0] == ["CANCELLED"] and "exists" in r["render_again"][1]
    assert r["export_depth"] == [ok, ""] and r["export_displacement"] == [ok, ""]
    assert "--overwrite" in r["export_depth_again"][1] or "exists" in r["export_depth_again"][1]
    assert r["export_normals"] == [ok, ""] and r["export_depth_overwrite"] == [ok, ""]
    import json
    for name, kind in (("d.exr", "metric depth"), ("disp.png", "displacement (normalised "
                       "inverse depth)"), ("n.png", "camera-space normals")):
        meta = json.loads((workdir / (name + ".json")).read_text())
        assert meta["kind"] == kind and meta["source"]["type"] == "file", meta
        assert meta["image_size"] == [451, 300] and len(meta["K"]) == 3
    from depth_addon.core.depth import read_depth
    assert np.allclose(read_depth(str(workdir / "d.exr"), "metric").values,
                       np.load(workdir / "depth.npy"), rtol=1e-6)
    disp = np.asarray(Image.open(workdir / "disp.png"))
    assert disp.dtype == np.uint16 and disp[:, 0].mean() > disp[:, -1].mean()  # near = white
    assert disp[150, 175] == disp.max()  # the box is nearest
    # rebuild replaces only what the add-on generated
    assert r["build_plane"] == [ok, ""]
    assert r["objects_after_rebuild"] == ["3D Photo", "3D Photo Camera", "user object"]  # plane: no layer
    assert r["plane_modifiers"] == ["SUBSURF", "DISPLACE"]
    # stereo pair
    assert r["estimate_stereo"] == [ok, ""] and "metric" in r["stereo_status"]
    assert r["build_points"] == [ok, ""] and r["export_ply"] == [ok, ""]
    assert (workdir / "cloud.ply").stat().st_size > 100_000
    assert r["build_stereo_mesh"] == [ok, ""] and r["animate_stereo"] == [ok, ""]
    assert r["render_stereo"] == [ok, ""] and _frames(workdir / "stereo.mp4") == 3
    # stereo 3D output + depth of field set in the panel after the build
    import cv2
    assert r["render_sbs"] == [ok, ""] and r["sbs_dof"][0] and abs(r["sbs_dof"][1] - 2.8) < 1e-5
    mono_w = cv2.VideoCapture(str(workdir / "stereo.mp4")).get(cv2.CAP_PROP_FRAME_WIDTH)
    assert cv2.VideoCapture(str(workdir / "stereo_sbs.mp4")).get(cv2.CAP_PROP_FRAME_WIDTH) == 2 * mono_w
    assert r["render_lr"] == [ok, ""]
    assert _frames(workdir / "stereo_lr_L.mp4") == _frames(workdir / "stereo_lr_R.mp4") == 3
    assert r["render_lr_again"][0] == ["CANCELLED"] and "stereo_lr_L.mp4 exists" in r["render_lr_again"][1]
    # monocular model from a folder
    assert r["estimate_mono"] == [ok, ""] and "inverse" in r["mono_status"]
    assert r["unload"] == [ok, ""]
    # bad input: same one-line message as the CLI
    assert r["estimate_missing"][0] == ["CANCELLED"]
    assert "no such file" in r["estimate_missing"][1] and "missing.jpg" in r["estimate_missing"][1]
    assert "someone/not-a-real-depth-model" in r["estimate_offline"][1]
    assert "Traceback" not in r["estimate_offline"][1]
    # unregister / register again
    assert r["after_disable"] is False and r["after_enable"] is True


def test_installed_addon_without_torch_opencv_pillow(extension_zip, workdir, tiny_model_dir):
    r = drive(extension_zip, workdir, tiny_model_dir, "--hide-torch")
    assert r["install"] == ["FINISHED"] and r["registered"]
    assert "PyTorch" in r["why_not_estimate"] and "Install" in r["why_not_estimate"]
    assert r["estimate"][0] == ["CANCELLED"]
    # the bpy module runs with online access off: the install button explains, downloads nothing
    assert r["install_deps"][0] == ["CANCELLED"] and "online access" in r["install_deps"][1].lower()
    cmd = r["install_cmd"]
    assert cmd[1:4] == ["-m", "pip", "install"] and cmd[cmd.index("--target") + 1] == "/tmp/target"
    assert "torch==2.13.0" in cmd and any(c.startswith("numpy==") for c in cmd)
    assert r["missing"] == ["cv2", "PIL", "torch", "transformers"]
