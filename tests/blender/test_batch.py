"""Many photos in one command (issue 11), on real photos with the real bpy module: a folder to
videos, 30 bad inputs mixed with good ones, resumability after a kill and after Ctrl+C, shards,
--jobs, and that the single-photo meanings of -o stay as they were."""
from __future__ import annotations

import os
import pathlib
import signal
import socket
import stat
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from depth_addon import batch, cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
FAST = ["--resolution", "96x64", "--seconds", "1", "--fps", "4", "-q", "--inpaint", "telea"]


def real_photos(folder: pathlib.Path, n: int = 3, side: int = 120) -> list:
    """n real photos (skimage.data, cropped/flipped variants) as small JPEGs in ``folder``."""
    import skimage.data

    folder.mkdir(parents=True, exist_ok=True)
    srcs = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.astronaut(),
            skimage.data.rocket()]
    paths = []
    for k in range(n):
        a = np.asarray(srcs[k % len(srcs)])
        if k >= len(srcs):
            a = a[:, ::-1] if k % 2 else a[k % 7 * 10:, k % 5 * 10:]
        im = Image.fromarray(np.ascontiguousarray(a))
        im.thumbnail((side, side))
        p = folder / f"photo{k:02d}.jpg"
        im.save(p, quality=90)
        paths.append(p)
    return paths


def frames_of(path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def run_main(args, capsys):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def run_proc(args, **kw):
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "depth_addon"] + [str(a) for a in args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600, **kw)


def test_folder_to_videos_then_rerun_skips(tmp_path, capsys, tiny_model_dir):
    import bpy

    photos = real_photos(tmp_path / "in", 3)
    out = tmp_path / "out"
    def counts():  # Blender's one "Render Result" image is made by the first render and reused
        c = {k: len(getattr(bpy.data, k)) for k in ("scenes", "objects", "meshes", "materials",
                                                    "cameras", "worlds", "node_groups")}
        c["images"] = len([i for i in bpy.data.images if i.type != "RENDER_RESULT"])
        return c

    before = counts()
    code, stdout, err = run_main([tmp_path / "in", "-o", f"{out}/", "--model", tiny_model_dir]
                                 + FAST, capsys)
    assert code == 0, err
    # each photo's scene and data were removed: nothing accumulates over a batch
    assert counts() == before
    assert "Traceback" not in err
    assert "batch: 3 done, 0 skipped, 0 failed of 3" in stdout
    for p in photos:
        v = out / f"{p.stem}_3d.mp4"
        assert frames_of(v) == 4
    assert not [f for f in os.listdir(out) if f.startswith(".")], "temporary files left"
    mtimes = {f: f.stat().st_mtime_ns for f in out.iterdir()}
    code, stdout, err = run_main([tmp_path / "in", "-o", f"{out}/", "--model", tiny_model_dir]
                                 + FAST, capsys)
    assert code == 0 and "batch: 0 done, 3 skipped, 0 failed" in stdout
    assert {f: f.stat().st_mtime_ns for f in out.iterdir()} == mtimes  # nothing rewritten


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (len(data).to_bytes(4, "big") + kind + data
            + zlib.crc32(kind + data).to_bytes(4, "big"))


def make_bad_inputs(d: pathlib.Path, good_jpeg: bytes) -> list:
    """32 inputs that must each fail on one line. Returns the paths given on the command line
    (files, folders, a missing path); some live in folder 'mixed' next to good photos."""
    d.mkdir()
    png = np.zeros((16, 16, 3), np.uint8)
    import io
    buf = io.BytesIO()
    Image.fromarray(png).save(buf, "PNG")
    good_png = buf.getvalue()
    sig = b"\x89PNG\r\n\x1a\n"
    files = {
        "zero.jpg": b"",
        "corrupt.jpg": b"\xff\xd8\xff\xe0" + os.urandom(2000),
        "text.jpg": b"this is a text file, not a picture\n" * 20,
        "truncated.jpg": good_jpeg[:len(good_jpeg) // 3],
        "header_only.jpg": good_jpeg[:20],
        "truncated_p.png": good_png[:len(good_png) // 2],
        "signature_only.png": sig,
        "random_p.png": os.urandom(5000),
        "html.png": b"<html><body>404 not found</body></html>",
        "bad_crc.png": good_png[:29] + bytes([good_png[29] ^ 0xFF]) + good_png[30:],
        "huge_header.png": sig + _png_chunk(b"IHDR", (30000).to_bytes(4, "big")
                                            + (20000).to_bytes(4, "big") + bytes([8, 2, 0, 0, 0]))
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + _png_chunk(b"IEND", b""),
        "zip.jpg": b"PK\x03\x04" + os.urandom(500),
        "gzip.tiff": zlib.compress(os.urandom(800)),
        "garbage.heic": os.urandom(1000),
        "garbage_w.webp": b"RIFF\x10\x00\x00\x00WEBPVP8 " + os.urandom(40),
        "garbage_b.bmp": b"BM" + os.urandom(100),
        "truncated_t.tif": b"II*\x00\x08\x00\x00\x00" + os.urandom(30),
        "drawing.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>',
        "doc.pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        "notes.txt": b"unsupported extension\n",
    }
    paths = []
    for name, data in files.items():
        (d / name).write_bytes(data)
        paths.append(d / name)
    for name, size in (("one.png", (1, 1)), ("seven.png", (7, 7)), ("thin.png", (300, 3))):
        Image.new("RGB", size, (200, 100, 50)).save(d / name)
        paths.append(d / name)
    mixed = d / "mixed"  # found by a folder scan: good photos, a folder named x.jpg, a FIFO ...
    mixed.mkdir()
    (mixed / "good.jpg").write_bytes(good_jpeg)
    (mixed / "same.jpg").write_bytes(good_jpeg)
    (mixed / "same.png").write_bytes(good_png)  # same output name as same.jpg: the second fails
    (mixed / "x.jpg").mkdir()                   # a folder named like a picture
    os.symlink(d / "gone.jpg", mixed / "broken_link.jpg")
    os.mkfifo(mixed / "fifo.jpg")               # opening it would block forever
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(mixed / "socket.png"))
    sock.close()
    (d / "empty").mkdir()
    (d / "only_text").mkdir()
    (d / "only_text" / "readme.txt").write_text("no pictures here")
    paths += [mixed, d / "empty", d / "only_text", d / "missing.jpg", d / "missing_folder"]
    return paths


def test_thirty_two_bad_inputs_do_not_stop_the_batch(tmp_path, capsys, tiny_model_dir):
    good = real_photos(tmp_path / "good", 2)
    bad = make_bad_inputs(tmp_path / "bad", good[0].read_bytes())
    unreadable = tmp_path / "bad" / "unreadable.jpg"
    unreadable.write_bytes(good[1].read_bytes())
    unreadable.chmod(0)
    as_root = os.geteuid() == 0  # root reads it anyway: then it renders like a good photo
    inputs = [good[0]] + bad + [unreadable, good[1]]
    out = tmp_path / "out"
    code, stdout, err = run_main(inputs + ["-o", f"{out}/", "--model", tiny_model_dir] + FAST,
                                 capsys)
    unreadable.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert code == batch.EXIT_FAILED
    assert "Traceback" not in err and "Traceback" not in stdout
    failed = [ln for ln in err.splitlines() if ln.startswith("failed ")]
    n_bad = 32 + (0 if as_root else 1)
    # mixed/ holds 3 good pictures (good.jpg, same.jpg, same.png): same.png fails on its name
    assert len(failed) == n_bad, "\n".join(failed)
    names = " ".join(failed)
    for word in ("zero.jpg", "corrupt.jpg", "text.jpg", "truncated_p.png", "bad_crc.png",
                 "huge_header.png", "one.png", "seven.png", "x.jpg", "fifo.jpg", "socket.png",
                 "broken_link.jpg", "same.png", "empty", "only_text", "missing.jpg", "notes.txt",
                 "drawing.svg", "doc.pdf"):
        assert word in names, word
    assert "same.jpg's" in names and "no pictures" in names and "no such file" in names
    done = 2 + 2 + (1 if as_root else 0)
    assert f"batch: {done} done, 0 skipped, {n_bad} failed" in stdout, stdout
    for v in [out / "photo00_3d.mp4", out / "photo01_3d.mp4", out / "good_3d.mp4",
              out / "same_3d.mp4"]:
        assert frames_of(v) == 4, v
    # every failure is one line in the summary too, and nothing was written for a bad input
    assert stdout.count("\n  failed ") == n_bad
    assert not list(out.glob("zero*")) and not list(out.glob("corrupt*"))


def test_shards_cover_every_item_exactly_once(tmp_path, capsys):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    for k in range(11):
        (d / f"p{k:02d}.jpg").write_bytes(b"x")
    for k in range(4):
        (d / "sub" / f"q{k}.png").write_bytes(b"x")
    lists = []
    for i in range(3):
        code, stdout, err = run_main([d, "--recursive", "--dry-run", "--shard", f"{i}/3",
                                      "-o", f"{tmp_path / 'o'}/"], capsys)
        assert code == 0, err
        lists.append([ln.split("] ")[1].split(" -> ")[0] for ln in stdout.splitlines()])
    flat = [p for ls in lists for p in ls]
    assert len(flat) == 15 and len(set(flat)) == 15
    code, stdout, _ = run_main([d, "-r", "--dry-run", "-o", f"{tmp_path / 'o'}/"], capsys)
    order = [ln.split("] ")[1].split(" -> ")[0] for ln in stdout.splitlines()]
    assert sorted(flat, key=order.index) == order
    assert [order[i::3] for i in range(3)] == lists  # every 3rd item starting at I
    assert f"{tmp_path / 'o' / 'sub' / 'q0_3d.mp4'}" in stdout  # sub-folders mirrored
    code, _, err = run_main([d, "--shard", "3/3"], capsys)
    assert code == 2 and "0 <= I < N" in err


def test_killed_batch_leaves_no_partial_video_and_rerun_finishes(tmp_path, tiny_model_dir):
    real_photos(tmp_path / "in", 4)
    out = tmp_path / "out"
    # items slow enough (30 frames at 320x240, ~1 s each) that the kill lands inside the batch
    slow = ["--resolution", "320x240", "--seconds", "3", "--fps", "10", "-q", "--inpaint", "telea"]
    args = [tmp_path / "in", "-o", f"{out}/", "--model", tiny_model_dir] + slow
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "depth_addon"] + [str(a) for a in args],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                         env=env)
    first = p.stdout.readline()  # the first video is done: kill it while it works on the next
    assert first.startswith("done"), first
    time.sleep(0.3)
    p.kill()
    p.wait()
    videos = sorted(out.glob("*.mp4"))
    assert 1 <= len(videos) < 4
    for v in videos:
        assert frames_of(v) == 30, f"half-written {v}"
    r = run_proc(args)
    assert r.returncode == 0, r.stderr
    assert f"{len(videos)} skipped" in r.stdout and f"{4 - len(videos)} done" in r.stdout
    assert all(frames_of(v) == 30 for v in out.glob("*.mp4")) and len(list(out.glob("*.mp4"))) == 4


def _sigint_as_in_a_terminal():
    """preexec_fn for a child that the test interrupts with SIGINT: give it SIGINT's default
    action, as a terminal's foreground job has. A job started in the background by a shell
    without job control (``cmd &``, ``nohup … &``) ignores SIGINT, its children inherit that, and
    Python then installs no KeyboardInterrupt handler, so the Ctrl+C under test would never
    arrive."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_cleanly_with_exit_130(tmp_path, tiny_model_dir):
    real_photos(tmp_path / "in", 4)
    out = tmp_path / "out"
    args = [tmp_path / "in", "-o", f"{out}/", "--model", tiny_model_dir] + FAST
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "depth_addon"] + [str(a) for a in args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                         env=env, preexec_fn=_sigint_as_in_a_terminal)
    assert p.stdout.readline().startswith("done")
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == batch.EXIT_INTERRUPTED, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert "not run (interrupted)" in stdout and "rerun the same command" in stdout
    for v in out.glob("*.mp4"):
        assert frames_of(v) == 4


def test_jobs_two_workers_render_every_photo(tmp_path, tiny_model_dir):
    photos = real_photos(tmp_path / "in", 4)
    (tmp_path / "in" / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    r = run_proc([tmp_path / "in", "-o", f"{out}/", "--model", tiny_model_dir, "--jobs", "2"]
                 + FAST)
    assert r.returncode == 1, r.stderr
    assert "batch: 4 done, 0 skipped, 1 failed of 5" in r.stdout, r.stdout
    assert [ln for ln in r.stderr.splitlines() if ln.startswith("failed")][0].count("broken.jpg")
    for p in photos:
        assert frames_of(out / f"{p.stem}_3d.mp4") == 4


def test_single_photo_meanings_of_o_are_kept(tmp_path, capsys, tiny_model_dir):
    (photo,) = real_photos(tmp_path / "in", 1)
    frames = tmp_path / "frames"
    code, stdout, err = run_main([photo, "-o", frames, "--model", tiny_model_dir] + FAST, capsys)
    assert code == 0, err
    assert len(list(frames.glob("frame_*.png"))) == 4 and stdout.startswith("wrote ")
    code, stdout, err = run_main([photo, "-o", f"{tmp_path / 'videos'}/", "--pattern",
                                  "{stem}-{ext}.mp4", "--model", tiny_model_dir] + FAST, capsys)
    assert code == 0, err
    assert frames_of(tmp_path / "videos" / "photo00-jpg.mp4") == 4


def test_batch_usage_errors_exit_2(tmp_path, capsys):
    real_photos(tmp_path / "in", 2)
    for extra, msg in ((["--depth", "d.png"], "pattern"), (["--pattern", "{oops}.mp4"], "unknown field"),
                       (["--pattern", "{stem}.avi"], ".mp4"),
                       (["--depth", "{folder}/{stem}.png"], "unknown field"), (["-o", str(tmp_path / "x.mp4")], "folder")):
        code, _, err = run_main([tmp_path / "in"] + extra, capsys)
        assert code == 2 and msg in err, (extra, err)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.geteuid() != 0:
            code, _, err = run_main([tmp_path / "in", "-o", f"{ro}/"], capsys)
            assert code == 2 and "not writable" in err
    finally:
        ro.chmod(0o700)
    help_text = cli.build_parser().format_help()
    assert "exit codes" in help_text and "130" in help_text and "ends in" in help_text


def _children(pid: int) -> list:
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def test_jobs_worker_killed_mid_photo_is_reported_and_restarted(tmp_path, tiny_model_dir):
    photos = real_photos(tmp_path / "in", 4)
    out = tmp_path / "out"
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    # photos slow enough (30 frames at 320x240) that a worker is always in the middle of one
    slow = ["--resolution", "320x240", "--seconds", "3", "--fps", "10", "-q", "--inpaint", "telea"]
    p = subprocess.Popen([sys.executable, "-m", "depth_addon", str(tmp_path / "in"), "-o", f"{out}/",
                          "--model", str(tiny_model_dir), "--jobs", "2", "--render-jobs", "1"] + slow,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    first = p.stdout.readline()  # one photo is done: both workers are now on the next ones
    assert first.startswith("done"), first
    victim = _children(p.pid)[0]
    os.kill(victim, signal.SIGKILL)  # like a segfault or the out-of-memory killer
    rest, stderr = p.communicate(timeout=600)
    stdout = first + rest
    assert p.returncode == batch.EXIT_FAILED, stderr
    crashed = [ln for ln in stderr.splitlines() if "worker process crashed on it (signal 9)" in ln]
    assert len(crashed) == 1, stderr
    assert "batch: 3 done, 0 skipped, 1 failed of 4" in stdout, stdout
    rendered = [ph for ph in photos if (out / f"{ph.stem}_3d.mp4").exists()]
    # the three done photos have their videos; the crashed one has none, or -- when the kill
    # landed after its video was complete and renamed but before the worker reported it -- a
    # complete one; never a partial video under a final name
    assert len(rendered) in (3, 4) and all(frames_of(out / f"{ph.stem}_3d.mp4") == 30
                                           for ph in rendered)


def test_per_photo_depth_and_export_patterns(tmp_path, capsys):
    photos = real_photos(tmp_path / "in", 2)
    for p in photos:  # a depth map per photo, found by pattern: no model needed
        h, w = np.asarray(Image.open(p)).shape[:2]
        np.save(p.with_name(p.stem + "_depth.npy"),
                np.tile(np.linspace(1, 4, w, dtype=np.float32), (h, 1)))
    out = tmp_path / "out"
    code, stdout, err = run_main([*photos, "-o", f"{out}/", "--depth", "{dir}/{stem}_depth.npy",
                                  "--depth-kind", "metric", "--export-depth", "{out}/{stem}.npy"]
                                 + FAST, capsys)
    assert code == 0, err
    for p in photos:
        assert frames_of(out / f"{p.stem}_3d.mp4") == 4
        assert np.load(out / f"{p.stem}.npy").shape == np.load(
            p.with_name(p.stem + "_depth.npy")).shape


def test_blender_command_runs_a_batch(tmp_path, capsys, tiny_model_dir):
    """``blender -b -c depth3d FOLDER -o OUT/`` goes through cli.blender_command: same batch."""
    photos = real_photos(tmp_path / "in", 2)
    (tmp_path / "in" / "bad.png").write_bytes(b"nope")
    code = cli.blender_command([str(tmp_path / "in"), "-o", f"{tmp_path / 'out'}/", "--model",
                                str(tiny_model_dir)] + FAST)
    stdout, err = capsys.readouterr()
    assert code == batch.EXIT_FAILED and "batch: 2 done, 0 skipped, 1 failed" in stdout, err
    assert all(frames_of(tmp_path / "out" / f"{p.stem}_3d.mp4") == 4 for p in photos)


def _start_and_wait_for_render(tmp_path, tiny_model_dir, out, seconds=4):
    """A batch of 3 photos whose renders take a while (``seconds`` x 30 frames); returns the
    process once the first render has begun (its progress bar is on stderr)."""
    real_photos(tmp_path / "in", 3)
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "depth_addon", str(tmp_path / "in"), "-o", f"{out}/",
                          "--model", str(tiny_model_dir), "--resolution", "96x64",
                          "--seconds", str(seconds),
                          "--fps", "30", "--inpaint", "telea"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
                         preexec_fn=_sigint_as_in_a_terminal)
    seen = ""
    while "render:" not in seen:
        ch = p.stderr.read(1)
        assert ch, f"no render started: {seen[-2000:]}"
        seen += ch
    while not seen.rstrip().endswith("%"):  # the bar's first update: the render is running
        seen += p.stderr.read(1)
    return p, seen


def test_ctrl_c_during_a_render_stops_after_that_video(tmp_path, tiny_model_dir):
    """Blender swallows a KeyboardInterrupt raised in its frame handler: the batch must still stop
    (after the video being rendered is complete), not go on with the next photos."""
    out = tmp_path / "out"
    p, seen = _start_and_wait_for_render(tmp_path, tiny_model_dir, out)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=300)
    assert p.returncode == batch.EXIT_INTERRUPTED, stderr
    assert "stopping when the video being rendered is complete" in stderr
    assert "Traceback" not in seen + stderr
    assert "1 done" in stdout and "2 not run (interrupted)" in stdout, stdout
    (video,) = out.glob("*.mp4")
    assert frames_of(video) == 120


def test_second_ctrl_c_during_a_render_stops_at_once(tmp_path, tiny_model_dir):
    out = tmp_path / "out"
    # 1200 frames: the render must still run 0.5 s after the first Ctrl+C (120 tiny frames
    # render and encode in less than that since 2026-12-04)
    p, _ = _start_and_wait_for_render(tmp_path, tiny_model_dir, out, seconds=40)
    p.send_signal(signal.SIGINT)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == batch.EXIT_INTERRUPTED, stderr
    assert "interrupted during a render" in stderr
    assert not list(out.glob("*.mp4"))  # nothing under a final name; the rerun renders all three


def test_full_disk_leaves_no_truncated_video(tmp_path, capsys, tiny_model_dir):
    """A full disk truncates the MP4 while Blender reports success; the batch must not keep it
    under its final name (a rerun would skip it as done). Simulated with a 60 kB tmpfs."""
    real_photos(tmp_path / "in", 2)
    full = tmp_path / "full"
    full.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=60k", "tmpfs", str(full)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {r.stderr.strip()}")
    try:
        code, stdout, err = run_main([tmp_path / "in", "-o", f"{full}/", "--model", tiny_model_dir,
                                      "--resolution", "320x240", "--seconds", "2", "--fps", "12",
                                      "-q", "--inpaint", "telea"], capsys)
        videos = list(full.glob("*.mp4"))
        assert code == batch.EXIT_FAILED, err
        failed = [ln for ln in err.splitlines() if ln.startswith("failed")]
        assert len(failed) == 2 and all("is full" in ln for ln in failed), err
        assert "moov atom" not in err
        for v in videos:  # whatever is left under a final name is a complete video
            assert frames_of(v) == 24
    finally:
        subprocess.run(["umount", str(full)], check=True)
