"""The bad inputs of issue 11 item 3 not covered by test_batch.py / test_cli.py: picture formats,
a huge picture, stereo pairs that are swapped or unrelated, depth maps that are negative, flat or
colour, a model that is not a depth model, an unwritable output folder (real bpy, real renders)."""
from __future__ import annotations

import os
import pathlib
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from depth_addon.core.images import load_image

from .test_cli import expect_error, run_cli, video_info

ROOT = pathlib.Path(__file__).resolve().parents[2]
FAST = ["--seconds", "1", "--fps", "4", "--resolution", "96x64", "-q"]


def notices(err):
    return [ln for ln in err.splitlines() if ln.startswith("notice:")]


def render(args, capsys, out):
    code, stdout, err = run_cli(list(args) + ["-o", out] + FAST, capsys)
    assert code == 0, err
    assert "Traceback" not in err and stdout.startswith(f"wrote {out}")
    n, wh, frames = video_info(out)
    assert n == 4 and wh == (96, 64)
    assert max(f.std() for f in frames) > 10, "blank video"
    return err


@pytest.fixture()
def chelsea():
    import skimage.data

    return np.asarray(skimage.data.chelsea())  # 451x300 RGB


@pytest.fixture()
def ramp(tmp_path):
    v, u = np.mgrid[0:300, 0:451]
    path = tmp_path / "ramp.npy"
    np.save(path, (1 + u / 451 * 3).astype(np.float32))
    return path


# --- picture formats --------------------------------------------------------------------------

def test_picture_formats_render_with_notices(tmp_path, capsys, chelsea, ramp):
    """16-bit, RGBA, grey, palette PNG, CMYK JPEG and animated GIF each give a video; a notice
    says what was changed (CMYK converted, only the GIF's first frame used)."""
    import cv2

    im = Image.fromarray(chelsea)
    cv2.imwrite(str(tmp_path / "p16.png"), (chelsea.astype(np.uint16) * 257)[:, :, ::-1])
    Image.fromarray(np.dstack([chelsea, np.full(chelsea.shape[:2], 200, np.uint8)])).save(tmp_path / "rgba.png")
    im.convert("L").save(tmp_path / "grey.png")
    im.convert("P", palette=Image.ADAPTIVE).save(tmp_path / "pal.png")
    im.convert("CMYK").save(tmp_path / "cmyk.jpg")
    im.save(tmp_path / "anim.gif", save_all=True, duration=100, loop=0,
            append_images=[Image.fromarray(chelsea[::-1].copy()), Image.fromarray(chelsea[:, ::-1].copy())])

    assert load_image(str(tmp_path / "p16.png")).bit_depth == 16
    assert load_image(str(tmp_path / "rgba.png")).alpha is not None
    expected = {"p16.png": [], "rgba.png": [], "grey.png": [], "pal.png": [],
                "cmyk.jpg": ["notice: cmyk.jpg is CMYK; converted to RGB"],
                "anim.gif": ["notice: anim.gif is animated (3 frames); using the first frame"]}
    for name, lines in expected.items():
        err = render([tmp_path / name, "--depth", ramp, "--depth-kind", "metric"], capsys,
                     tmp_path / f"{name}.mp4")
        assert notices(err) == lines, (name, err)
    first = load_image(str(tmp_path / "anim.gif")).rgb
    assert np.abs(first * 255 - chelsea).mean() < 12  # the first frame, not the flipped ones


def test_exif_rotated_photo_renders_upright(tmp_path, capsys, chelsea):
    """A landscape JPEG stored with EXIF orientation 6 is a portrait photo: the video is portrait."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(chelsea).save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    np.save(tmp_path / "d.npy", np.linspace(1, 3, 451 * 300, dtype=np.float32).reshape(451, 300))
    out = tmp_path / "rot.mp4"
    code, stdout, err = run_cli([tmp_path / "rot.jpg", "--depth", tmp_path / "d.npy", "--depth-kind",
                                 "metric", "-o", out, "--seconds", "1", "--fps", "4", "-q"], capsys)
    assert code == 0, err
    assert notices(err) == ["notice: rot.jpg is stored rotated/mirrored (EXIF orientation 6); "
                            "turned upright to 300x451"], err
    n, (w, h), _ = video_info(out)
    assert n == 4 and h > w and abs(w / h - 300 / 451) < 0.02


def _write_huge_png(path, w=30000, h=20000):
    """A real, decodable 30000x20000 RGB gradient PNG, written row by row (little memory, ~2 MB on disk)."""
    row = b"\x00" + np.dstack([np.linspace(0, 255, w), np.full(w, 90), np.linspace(255, 0, w)]
                              ).astype(np.uint8).tobytes()
    up = b"\x02" + bytes(3 * w)  # PNG filter "Up" with zero differences: the row above again
    comp = zlib.compressobj(6)
    parts = [comp.compress(row)]
    for y in range(1, h):
        parts.append(comp.compress(up))
    parts.append(comp.flush())
    data = b"".join(parts)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                 + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def test_huge_picture_is_downscaled_without_running_out_of_memory(tmp_path, ramp):
    """30000x20000 (600 MP, 1.8 GB of pixels decoded): downscaled to 40 MP with a notice, peak RSS of
    the whole command below 3 GB (it was 8.2 GB before the decoder's output was box-reduced)."""
    big = tmp_path / "huge.png"
    _write_huge_png(big)
    assert big.stat().st_size < 10_000_000
    out = tmp_path / "huge.mp4"
    code = ("import resource, sys\nfrom depth_addon import cli\nc = cli.main(sys.argv[1:])\n"
            "print('peak_rss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(c)\n")
    r = subprocess.run([sys.executable, "-c", code, str(big), "--depth", str(ramp), "--depth-kind",
                        "metric", "-o", str(out)] + FAST, capture_output=True, text=True, cwd=ROOT,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "notice: photo is 30000x20000 (600 MP); downscaled to 7745x5163 (40 MP) for depth" in r.stderr
    peak = int(r.stderr.split("peak_rss_kb")[1].split()[0]) * 1024
    assert peak < 3e9, f"peak RSS {peak / 1e9:.2f} GB"
    assert video_info(out)[0] == 4


# --- stereo pairs -----------------------------------------------------------------------------

def test_swapped_stereo_pair_is_detected(tmp_path, capsys, motorcycle):
    left, right, _ = motorcycle
    Image.fromarray(left).save(tmp_path / "l.png")
    Image.fromarray(right).save(tmp_path / "r.png")
    out = tmp_path / "swapped.mp4"
    err = render([tmp_path / "r.png", "--right", tmp_path / "l.png"], capsys, out)
    assert "notice: left and right look swapped (most disparities were negative); swapped them" in err
    code, stdout, err = run_cli([tmp_path / "r.png", "--right", tmp_path / "l.png", "--swap", "no",
                                 "-o", tmp_path / "kept.mp4"] + FAST, capsys)
    assert "swapped them" not in err


def test_pair_with_no_overlap_is_refused(tmp_path, capsys, motorcycle):
    """Two unrelated photos as a pair: one error line (with or without rectification), no video."""
    import skimage.data

    left = motorcycle[0]
    h, w = left.shape[:2]
    other = Image.fromarray(np.asarray(skimage.data.astronaut())).resize((w, h))
    Image.fromarray(left).save(tmp_path / "l.png")
    other.save(tmp_path / "other.png")
    line = expect_error([tmp_path / "l.png", "--right", tmp_path / "other.png", "-o", tmp_path / "a.mp4"],
                        capsys, "same still scene")
    assert line == ("error: cannot rectify the pair: only 9 of 26 point matches agree on one camera "
                    "motion (need 20); the photos must show the same still scene")
    line = expect_error([tmp_path / "l.png", "--right", tmp_path / "other.png", "--rectify", "never",
                         "-o", tmp_path / "b.mp4"], capsys, "do not seem to show the same scene")
    assert line == ("error: the two pictures do not seem to show the same scene: only 0 of 500 points "
                    "of the left picture were found along the rows of the right one")
    assert not (tmp_path / "a.mp4").exists() and not (tmp_path / "b.mp4").exists()


# --- depth maps -------------------------------------------------------------------------------

def test_negative_flat_and_colour_depth_maps(tmp_path, capsys, photo_file):
    neg = tmp_path / "neg.npy"
    np.save(neg, np.linspace(-2, 3, 300 * 451, dtype=np.float32).reshape(300, 451))
    line = expect_error([photo_file, "--depth", neg, "-o", tmp_path / "n.mp4"], capsys, "negative")
    assert line == ("error: depth map neg.npy has negative values (-2..3, 40 % below 0) but relative "
                    "depth must be > 0; if larger values are nearer (inverse depth with a shift), "
                    "pass --depth-kind inverse")
    # the same map said to be inverse depth is fine
    render([photo_file, "--depth", neg, "--depth-kind", "inverse"], capsys, tmp_path / "n2.mp4")
    # a few negative samples are holes: filled, with a notice
    few = np.full((300, 451), 2.0, np.float32)
    few[:, :200] = np.linspace(2, 5, 200)
    few[10:12, 10:20] = -1
    np.save(tmp_path / "few.npy", few)
    err = render([photo_file, "--depth", tmp_path / "few.npy"], capsys, tmp_path / "few.mp4")
    assert notices(err) == ["notice: depth map few.npy: 20 of its samples (0.015 %) are NaN/inf/≤0; "
                            "filled from their neighbours"], err

    flat = tmp_path / "flat.npy"
    np.save(flat, np.full((300, 451), 3.0, np.float32))
    err = render([photo_file, "--depth", flat], capsys, tmp_path / "f.mp4")
    assert notices(err) == ["notice: depth map flat.npy is flat (every value is 3): the 3D photo is "
                            "a flat plane, with no parallax"], err

    grad = np.tile(np.linspace(0, 255, 451).astype(np.uint8), (300, 1))
    Image.fromarray(np.dstack([grad] * 3)).save(tmp_path / "rgb.png")
    err = render([photo_file, "--depth", tmp_path / "rgb.png"], capsys, tmp_path / "c.mp4")
    assert notices(err) == ["notice: depth map rgb.png has 3 channels; using the first"], err
    import cv2

    cv2.imwrite(str(tmp_path / "turbo.png"), cv2.applyColorMap(grad, cv2.COLORMAP_TURBO))
    err = render([photo_file, "--depth", tmp_path / "turbo.png"], capsys, tmp_path / "t.mp4")
    assert notices(err) == ["notice: depth map turbo.png has 3 channels; using the first (the colour "
                            "channels differ: is this a colour-mapped preview, not a depth map?)"], err


# --- model, output ----------------------------------------------------------------------------

def test_model_that_is_not_a_depth_model(tmp_path, capsys, photo_file):
    """A real (tiny) image-classification model saved with transformers: one error line."""
    pytest.importorskip("torch")
    from transformers import ViTConfig, ViTForImageClassification

    cfg = ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                    image_size=32, patch_size=8, num_labels=3)
    ViTForImageClassification(cfg).save_pretrained(tmp_path / "vit")
    capsys.readouterr()
    line = expect_error([photo_file, "--model", tmp_path / "vit", "-o", tmp_path / "o.mp4"], capsys)
    assert line == (f"error: {tmp_path / 'vit'} is not a transformers depth model (its config.json "
                    f"model_type 'vit' is not a depth-estimation architecture)")


@pytest.fixture()
def read_only_folder(tmp_path):
    """A read-only file system (tests run as root, so chmod 555 would not stop a write)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        if os.geteuid() != 0:  # a plain user: a chmod 555 folder is enough
            ro.chmod(0o555)
            yield ro
            ro.chmod(0o755)
            return
        pytest.skip(f"cannot mount a read-only tmpfs here: {r.stderr.strip()}")
    try:
        yield ro
    finally:
        subprocess.run(["umount", str(ro)], check=True)


def test_unwritable_output_folder(tmp_path, capsys, photo_file, ramp, read_only_folder):
    ro = read_only_folder
    for out in (ro / "o.mp4", ro / "frames"):  # a video, PNG frames: one line before any work
        line = expect_error([photo_file, "--depth", ramp, "-o", out] + FAST, capsys, "not writable")
        if os.geteuid() == 0:  # the read-only tmpfs
            assert line == f"error: output folder {ro} is not writable (a read-only file system)"
    expect_error([photo_file, "--depth", ramp, "--export-depth", ro / "d.exr", "-o",
                  tmp_path / "ok.mp4"] + FAST, capsys, "not writable")
    assert not (tmp_path / "ok.mp4").exists()
    code, _, err = run_cli([photo_file, photo_file.parent / "nope.jpg", "-o", f"{ro}/"] + FAST, capsys)
    assert code == 2 and f"output folder {ro} is not writable (" in err and "Traceback" not in err
