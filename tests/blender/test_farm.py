"""Render farms (issue 11): the Open Job Description template run locally with ``openjd run`` over
real photos, and the Flamenco job type's compiled commands run by hand.

Flamenco's Manager and Workers cannot run here: the job compiler is loaded in node with a stand-in
for the Manager's author API (farm/flamenco/compile_stub.js); the test checks the tasks it emits
and runs one emitted command with ``python -m depth_addon`` instead of ``blender -b -c depth3d``
(no Blender executable exists here; both share one parser, tests/blender/test_extension.py covers
the registered command)."""
from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from .test_batch import frames_of, real_photos

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "farm" / "openjd" / "depth3d-batch.yaml"
FLAMENCO = ROOT / "farm" / "flamenco"
OPENJD = shutil.which("openjd", path=os.path.dirname(sys.executable)) or shutil.which("openjd")
FAST = "--resolution 96x64 --seconds 1 --fps 4 -q --inpaint telea"
needs_openjd = pytest.mark.skipif(
    OPENJD is None, reason="openjd-cli is not installed (requirements.txt and "
                           "requirements-blender42.txt pin openjd-cli==0.8.0)")


def _env():
    return dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))


@needs_openjd
def test_openjd_template_checks():
    r = subprocess.run([OPENJD, "check", str(TEMPLATE)], capture_output=True, text=True)
    assert r.returncode == 0 and "passes validation" in r.stdout, r.stdout + r.stderr


@needs_openjd
def test_openjd_run_renders_every_photo(tmp_path, tiny_model_dir):
    photos = real_photos(tmp_path / "photos", 3)
    out = tmp_path / "videos"
    cmd = [OPENJD, "run", str(TEMPLATE),
           "-p", f"InputFolder={tmp_path / 'photos'}", "-p", f"OutputFolder={out}",
           "-p", "Shards=2", "-p", f"Options=--model {tiny_model_dir} {FAST}",
           "-p", f"Depth3dCommand={sys.executable} -m depth_addon"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "Session ended successfully" in r.stdout and "Chunks run: 2" in r.stdout
    for p in photos:
        assert frames_of(out / f"{p.stem}_3d.mp4") == 4
    assert len(re.findall(r"batch: \d+ done", r.stdout)) == 2  # one summary per shard task
    # re-submitting the job renders nothing again: every output exists
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=600)
    assert r.returncode == 0 and len(re.findall(r"batch: 0 done, \d skipped", r.stdout)) == 2, \
        r.stdout[-3000:]


@needs_openjd
def test_openjd_task_fails_when_a_photo_fails(tmp_path, tiny_model_dir):
    real_photos(tmp_path / "photos", 1)
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    r = subprocess.run([OPENJD, "run", str(TEMPLATE), "-p", f"InputFolder={tmp_path / 'photos'}",
                        "-p", f"OutputFolder={tmp_path / 'v'}", "-p", "Shards=1",
                        "-p", f"Options=--model {tiny_model_dir} {FAST}",
                        "-p", f"Depth3dCommand={sys.executable} -m depth_addon"],
                       capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=600)
    assert r.returncode != 0 and "broken.jpg" in r.stdout
    assert frames_of(tmp_path / "v" / "photo00_3d.mp4") == 4  # the good photo was still rendered


def compile_flamenco(settings: dict) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot load the Flamenco job compiler")
    r = subprocess.run([node, str(FLAMENCO / "compile_stub.js"), json.dumps(settings)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_flamenco_job_type_emits_blender_render_tasks():
    job = compile_flamenco({"input_folder": "/in", "output_folder": "/out", "shards": 3})
    assert job["label"] == "Depth3D Photos" and len(job["tasks"]) == 3
    for i, t in enumerate(job["tasks"]):
        (c,) = t["commands"]
        assert t["type"] == "blender" and c["type"] == "blender-render"
        p = c["parameters"]
        assert p["exe"] == "{blender}" and p["argsBefore"] == ["-b"]
        assert p["args"][:5] == ["-c", "depth3d", "/in", "-o", "/out/"]
        assert p["args"][p["args"].index("--shard") + 1] == f"{i}/3"
    job = compile_flamenco({"input_folder": "/in", "output_folder": "/out",
                            "photos": "a.jpg; /else/b.png", "recursive": True})
    assert [t["commands"][0]["parameters"]["args"][2] for t in job["tasks"]] == [
        "/in/a.jpg", "/else/b.png"]
    assert all("--recursive" in t["commands"][0]["parameters"]["args"] for t in job["tasks"])


def test_flamenco_commands_run_by_hand(tmp_path, tiny_model_dir):
    photos = real_photos(tmp_path / "photos", 3)
    out = tmp_path / "videos"
    job = compile_flamenco({"input_folder": str(tmp_path / "photos"), "output_folder": str(out),
                            "shards": 2, "resolution": "96x64", "seconds": 1, "fps": 4,
                            "extra_args": f"--model {tiny_model_dir} --inpaint telea"})
    from depth_addon import cli

    for t in job["tasks"]:  # what each Worker would run after `blender -b -c depth3d`
        args = t["commands"][0]["parameters"]["args"]
        assert args[:2] == ["-c", "depth3d"]
        parsed = cli.build_parser("blender -b -c depth3d").parse_args(args[2:])  # the same parser
        assert parsed.output.endswith("/")
        r = subprocess.run([sys.executable, "-m", "depth_addon"] + args[2:], capture_output=True,
                           text=True, env=_env(), cwd=tmp_path, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
    for p in photos:
        assert frames_of(out / f"{p.stem}_3d.mp4") == 4
