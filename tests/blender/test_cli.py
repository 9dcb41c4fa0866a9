"""The command line end to end on real input, and every bad input of issue 2 (real bpy module)."""
from __future__ import annotations

import pathlib
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from depth_addon import cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
FAST = ["--seconds", "1", "--fps", "6", "--resolution", "160x106", "-q"]


def run_cli(args, capsys):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def video_info(path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"cannot open {path}"
    n = 0
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame.astype(np.float32))
        n += 1
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    return n, (w, h), frames


def assert_parallax_video(path, frames_expected, size):
    n, wh, frames = video_info(path)
    assert n == frames_expected and wh == size
    for f in frames:
        assert f.std() > 15, "blank frame"
    diffs = [np.abs(frames[i] - frames[i + 1]).mean() for i in range(len(frames) - 1)]
    assert min(diffs) > 1.0, f"consecutive frames too similar: {diffs}"


# --- end to end -------------------------------------------------------------------------------

def test_photo_with_tiny_model_to_mp4(tmp_path, capsys, photo_file, tiny_model_dir):
    out = tmp_path / "cat.mp4"
    code, stdout, err = run_cli([photo_file, "--model", tiny_model_dir, "-o", out] + FAST, capsys)
    assert code == 0, err
    assert stdout.startswith(f"wrote {out}") and "6 frames 160x106" in stdout
    assert_parallax_video(out, 6, (160, 106))


def test_stereo_example_to_mp4(tmp_path, capsys):
    out = tmp_path / "parallax.mp4"
    code, stdout, err = run_cli(["-o", out, "--preset", "vertical", "--fps", "5"] + FAST[:2] + FAST[4:], capsys)
    assert code == 0, err
    assert "Middlebury" in err and " m (stereo" in stdout  # metric depth from the calibration
    assert_parallax_video(out, 5, (160, 106))


def test_photo_plus_depth_to_png_frames_and_exports(tmp_path, capsys, photo_file):
    H, W = 300, 451
    v, u = np.mgrid[0:H, 0:W]
    depth = (1 + u / W * 3).astype(np.float32)
    np.save(tmp_path / "d.npy", depth)
    frames = tmp_path / "frames"
    code, stdout, err = run_cli(
        [photo_file, "--depth", tmp_path / "d.npy", "--depth-kind", "metric", "-o", frames,
         "--export-depth", tmp_path / "out.exr", "--save-blend", tmp_path / "s.blend",
         "--preset", "dolly-zoom"] + FAST, capsys)
    assert code == 0, err
    assert len(list(frames.glob("frame_*.png"))) == 6
    assert (tmp_path / "s.blend").stat().st_size > 0
    from depth_addon.core.depth import read_depth
    back = read_depth(str(tmp_path / "out.exr"), "metric")
    assert np.allclose(back.values, depth, rtol=1e-6)


def test_point_cloud_ply_export(tmp_path, capsys, photo_file):
    np.save(tmp_path / "d.npy", np.full((300, 451), 2.0, np.float32))
    code, _, err = run_cli([photo_file, "--depth", tmp_path / "d.npy", "--depth-kind", "metric",
                            "--mode", "points", "--step", "4", "--export-ply", tmp_path / "c.ply",
                            "--no-render", "-q"], capsys)
    assert code == 0, err
    from depth_addon.core.geometry import read_ply_vertices
    pts = read_ply_vertices(str(tmp_path / "c.ply"))
    assert len(pts) == 75 * 113 and np.allclose(pts[:, 1], 2.0)  # Blender frame: Y = depth


def test_blender_cli_command_registers_and_runs(tmp_path, capsys):
    import depth_addon

    depth_addon.register()
    try:
        assert depth_addon._cli_handle is not None
        code = cli.blender_command(["-o", str(tmp_path / "x.mp4"), "--seconds", "0.5", "--fps", "4",
                                    "--resolution", "64x44", "-q"])
        assert code == 0
        assert video_info(tmp_path / "x.mp4")[0] == 2
        assert cli.blender_command(["--help"]) == 0
    finally:
        depth_addon.unregister()
    assert depth_addon._cli_handle is None


def test_python_dash_m_runs_as_a_process(tmp_path):
    """The README's command, as a separate process: a final 'wrote' line and exit 0."""
    out = tmp_path / "p.mp4"
    proc = subprocess.run([sys.executable, "-m", "depth_addon", "-o", str(out), "--seconds", "0.5",
                           "--fps", "4", "--resolution", "64x44", "-q"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith(f"wrote {out}")


# --- bad input: one clear line, exit 2, nothing overwritten ----------------------------------

def expect_error(args, capsys, *words):
    code, out, err = run_cli(args, capsys)
    assert code == 2, (out, err)
    lines = [l for l in err.strip().splitlines() if l.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]
    return lines[0]


def test_missing_file(tmp_path, capsys):
    expect_error([tmp_path / "nope.jpg", "-o", tmp_path / "o.mp4"], capsys, "no such file")


def test_zero_byte_and_non_image_and_corrupt_files(tmp_path, capsys, photo_file):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    expect_error([empty, "-o", tmp_path / "o.mp4"], capsys, "empty")
    text = tmp_path / "notes.png"
    text.write_text("hello, not a picture")
    expect_error([text, "-o", tmp_path / "o.mp4"], capsys, "not an image")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(photo_file.read_bytes()[:2000])
    expect_error([broken, "-o", tmp_path / "o.mp4"], capsys, "broken.jpg")
    assert not (tmp_path / "o.mp4").exists()


def test_tiny_image(tmp_path, capsys):
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    expect_error([tmp_path / "dot.png", "-o", tmp_path / "o.mp4"], capsys, "1x1")


def test_existing_output_is_not_overwritten(tmp_path, capsys, photo_file):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"precious")
    expect_error([photo_file, "-o", out], capsys, "exists", "--overwrite")
    assert out.read_bytes() == b"precious"
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "frame_0001.png").write_bytes(b"mine")
    expect_error([photo_file, "-o", frames], capsys, "--overwrite")
    assert (frames / "frame_0001.png").read_bytes() == b"mine"


def test_output_in_missing_folder(tmp_path, capsys, photo_file):
    expect_error([photo_file, "-o", tmp_path / "no" / "o.mp4"], capsys, "does not exist")
    expect_error([photo_file, "-o", tmp_path / "o.avi"], capsys, ".mp4")


def test_unknown_preset(tmp_path, capsys, photo_file):
    expect_error([photo_file, "--preset", "orbit", "-o", tmp_path / "o.mp4"], capsys, "orbit", "circle")


def test_stereo_pair_of_different_sizes(tmp_path, capsys, motorcycle):
    left, right, _ = motorcycle
    Image.fromarray(left).save(tmp_path / "l.png")
    Image.fromarray(right[:, :700]).save(tmp_path / "r.png")
    expect_error([tmp_path / "l.png", "--right", tmp_path / "r.png", "-o", tmp_path / "o.mp4"],
                 capsys, "same size")


def test_depth_of_another_size_is_resized_with_a_notice(tmp_path, capsys, photo_file):
    np.save(tmp_path / "d.npy", np.linspace(1, 2, 150 * 225, dtype=np.float32).reshape(150, 225))
    code, out, err = run_cli([photo_file, "--depth", tmp_path / "d.npy", "--depth-kind", "metric",
                              "-o", tmp_path / "o.mp4", "--seconds", "0.25", "--fps", "4",
                              "--resolution", "64x42", "-q"], capsys)
    assert code == 0, err
    assert "notice:" in err and "resized" in err


def test_depth_with_nan_and_inf(tmp_path, capsys, photo_file):
    d = np.full((300, 451), 3.0, np.float32)
    d[:50] = np.nan
    d[100:120] = np.inf
    np.save(tmp_path / "d.npy", d)
    code, out, err = run_cli([photo_file, "--depth", tmp_path / "d.npy", "--depth-kind", "metric",
                              "-o", tmp_path / "o.mp4", "--seconds", "0.25", "--fps", "4",
                              "--resolution", "64x42", "-q"], capsys)
    assert code == 0, err
    np.save(tmp_path / "bad.npy", np.full((300, 451), np.nan, np.float32))
    expect_error([photo_file, "--depth", tmp_path / "bad.npy", "-o", tmp_path / "o2.mp4"], capsys,
                 "no usable values")


def test_offline_model_id_fails_fast(tmp_path, capsys, photo_file, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t = time.perf_counter()
    expect_error([photo_file, "--model", "someone/not-a-real-depth-model", "-o", tmp_path / "o.mp4"],
                 capsys, "someone/not-a-real-depth-model", "--model")
    assert time.perf_counter() - t < 10


def test_folder_that_is_not_a_model(tmp_path, capsys, photo_file):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "readme.txt").write_text("nothing here")
    expect_error([photo_file, "--model", tmp_path / "weights", "-o", tmp_path / "o.mp4"], capsys,
                 "not a transformers depth model")


def test_conflicting_options(tmp_path, capsys, photo_file):
    expect_error([photo_file, "--right", photo_file, "--depth", "d.npy", "-o", tmp_path / "o.mp4"],
                 capsys, "either")
    expect_error([photo_file, "--resolution", "big", "-o", tmp_path / "o.mp4"], capsys, "1280x720")


def test_mpo_from_a_stereo_camera_to_mp4(tmp_path, capsys, motorcycle):
    """An MPO file (both views in one file, as Fujifilm W3 writes them) is matched as a pair."""
    left, right, _ = motorcycle
    path = tmp_path / "pair.mpo"
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 48  # FocalLengthIn35mmFilm
    Image.fromarray(left).save(path, format="MPO", save_all=True, quality=95, exif=exif.tobytes(),
                               append_images=[Image.fromarray(right)])
    out = tmp_path / "mpo.mp4"
    code, stdout, err = run_cli([path, "-o", out] + FAST, capsys)
    assert code == 0, err
    assert "stereo" in stdout
    assert_parallax_video(out, 6, (160, 106))


def test_depth_of_field_options(tmp_path, capsys, photo_file):
    """--dof with Workbench renders (and says Workbench shows no depth of field); the camera
    keeps f-stop and focus; bad values and --focus-depth without --dof are refused."""
    import bpy
    import pytest

    v, u = np.mgrid[0:300, 0:451]
    np.save(tmp_path / "d.npy", (1 + u / 451 * 3).astype(np.float32))
    code, out, err = run_cli([photo_file, "--depth", tmp_path / "d.npy", "--depth-kind", "metric",
                              "--dof", "2.8", "--focus-depth", "3", "-o", tmp_path / "o.mp4"]
                             + FAST, capsys)
    assert code == 0, err
    assert "Workbench does not render depth of field" in err and "--engine eevee" in err
    cam = next(o for o in bpy.data.objects if o.type == "CAMERA" and o.data.dof.use_dof)
    assert cam.data.dof.aperture_fstop == pytest.approx(2.8)
    assert cam.data.dof.focus_object.location.y == pytest.approx(3.0)
    expect_error([photo_file, "--dof", "0", "-o", tmp_path / "a.mp4"], capsys, "f-stop")
    expect_error([photo_file, "--dof", "2", "--focus-depth", "-1", "-o", tmp_path / "b.mp4"],
                 capsys, "focus-depth")
    expect_error([photo_file, "--focus-depth", "3", "-o", tmp_path / "c.mp4"], capsys, "--dof")


def test_stereo_outputs(tmp_path, capsys, photo_file):
    """--stereo sbs: one video twice as wide; lr: NAME_L.mp4 and NAME_R.mp4 that differ, and
    neither overwritten; lr with PNG frames: frame_0001_L.png / _R.png; bad stereo options."""
    v, u = np.mgrid[0:300, 0:451]
    np.save(tmp_path / "d.npy", (1 + u / 451 * 3).astype(np.float32))
    base = [photo_file, "--depth", tmp_path / "d.npy", "--depth-kind", "metric"] + FAST
    code, out, err = run_cli(base + ["--stereo", "sbs", "-o", tmp_path / "sbs.mp4"], capsys)
    assert code == 0, err
    assert "stereo sbs: interaxial" in out and "3 % parallax rule" in out
    n, wh, _ = video_info(tmp_path / "sbs.mp4")
    assert n == 6 and wh == (320, 106)
    code, out, err = run_cli(base + ["--stereo", "lr", "--interaxial", "0.2",
                                     "-o", tmp_path / "pair.mp4"], capsys)
    assert code == 0, err
    assert not (tmp_path / "pair.mp4").exists()
    nl, whl, fl = video_info(tmp_path / "pair_L.mp4")
    nr, whr, fr = video_info(tmp_path / "pair_R.mp4")
    assert nl == nr == 6 and whl == whr == (160, 106)
    assert np.abs(fl[0] - fr[0]).mean() > 2.0  # the two eyes see different pictures
    before = (tmp_path / "pair_R.mp4").stat().st_mtime_ns
    expect_error(base + ["--stereo", "lr", "-o", tmp_path / "pair.mp4"], capsys, "pair_L.mp4",
                 "--overwrite")
    assert (tmp_path / "pair_R.mp4").stat().st_mtime_ns == before
    frames = tmp_path / "frames"
    code, out, err = run_cli(base + ["--stereo", "lr", "-o", frames], capsys)
    assert code == 0, err
    assert "frame_0001_L.png" in err
    assert len(list(frames.glob("frame_*_L.png"))) == 6 and len(list(frames.glob("frame_*_R.png"))) == 6
    expect_error(base + ["--stereo", "sbs", "--interaxial", "0", "-o", tmp_path / "a.mp4"],
                 capsys, "interaxial")
    expect_error(base + ["--convergence", "near", "-o", tmp_path / "b.mp4"], capsys, "--stereo")
    import pytest
    with pytest.raises(SystemExit) as exc:  # argparse: usage line + "invalid choice", exit 2
        run_cli(base + ["--stereo", "3d", "-o", tmp_path / "c.mp4"], capsys)
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
