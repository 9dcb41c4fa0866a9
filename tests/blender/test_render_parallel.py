"""Parallel rendering (helper processes + one encode), anti-aliasing setup, and the CLI's -v and
quiet GPU start -- with the real bpy module and real helper processes (no mocks)."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import bpy

from depth_addon.blender import render as brender
from depth_addon.blender import scene as bscene
from depth_addon.core import pipeline
from depth_addon.core.errors import Cancelled, DepthAddonError

from .test_scene import _still

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _build(tmp_path, scene, frames=8, size=(96, 64), **kw):
    """A near red box before a far textured wall; a circle move with visible parallax."""
    H, W = 60, 90
    rng = np.random.default_rng(3)
    rgb = rng.random((H, W, 3)).astype(np.float32)
    rgb[:, : W // 2] = (0.8, 0.1, 0.1)
    Z = np.full((H, W), 4.0, np.float32)
    Z[:, : W // 2] = 2.0
    np.save(tmp_path / "depth.npy", Z)
    s = pipeline.Settings(depth_kind="metric", amount=2.0, seconds=frames, fps=1, resolution=size,
                          engine="workbench", step=1, fov_deg=60.0, **kw)
    res = pipeline.run(rgb, depth=str(tmp_path / "depth.npy"), settings=s)
    bscene.build(res, scene=scene)
    return scene


def _leftovers(*folders):
    return [str(p) for f in folders for p in pathlib.Path(f).iterdir() if p.name.startswith(".depth3d-")]


def _video_frames(path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened()
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f.astype(np.float32))
    cap.release()
    return frames


def _png_frames(folder):
    from PIL import Image

    files = sorted(pathlib.Path(folder).glob("frame_*.png"))
    return [f.name for f in files], [np.asarray(Image.open(f).convert("RGB")).astype(np.float32)
                                     for f in files]


def test_split_frames_covers_the_range_in_order():
    assert brender.split_frames(1, 150, 2) == [(1, 75), (76, 150)]
    assert brender.split_frames(1, 10, 3) == [(1, 4), (5, 7), (8, 10)]
    assert brender.split_frames(5, 6, 4) == [(5, 5), (6, 6)]
    for jobs in (1, 2, 3, 4):
        r = brender.split_frames(1, 31, jobs)
        assert [f for a, b in r for f in range(a, b + 1)] == list(range(1, 32))


def test_frame_orders_give_every_frame_to_someone_first():
    from depth_addon.blender import render_worker as rw

    for n, jobs in ((150, 2), (31, 3), (8, 4), (5, 2)):
        orders = brender.frame_orders(1, n, jobs)
        assert len(orders) == jobs
        for order in orders:  # each process could render everything, each frame once
            assert sorted(order) == list(range(1, n + 1))
            assert rw.parse_order(rw.format_order(order)) == order
        starts = [o[0] for o in orders]
        assert starts == [a for a, _b in brender.split_frames(1, n, jobs)]
    # own range upwards, then the other's from its far end: the two meet in the middle
    assert brender.frame_orders(1, 10, 2) == [[1, 2, 3, 4, 5, 10, 9, 8, 7, 6],
                                              [6, 7, 8, 9, 10, 5, 4, 3, 2, 1]]
    assert rw.format_order([1, 2, 3, 9, 8, 7, 5]) == "1-3,9-7,5"


def test_parallel_mp4_has_every_frame_in_order_like_one_process(tmp_path, empty_scene):
    scene = _build(tmp_path, empty_scene, frames=8)
    single, par = tmp_path / "single.mp4", tmp_path / "par.mp4"
    scene.render.filepath = "//mine_"
    frame = scene.frame_current
    t = {}
    brender.render_animation(scene, str(single), "mp4", jobs=1)
    progress = []
    brender.render_animation(scene, str(par), "mp4", jobs=2, timings=t,
                             progress=lambda stage, f: progress.append((stage, f)))
    assert set(t) == {"render", "encode", "jobs"} and t["jobs"] == 2
    a, b = _video_frames(single), _video_frames(par)
    assert len(a) == len(b) == 8
    assert b[0].shape == (64, 96, 3)
    # frame i of the joined video is frame i of the one-process video (H.264 noise only) …
    for i, f in enumerate(b):
        diffs = [np.abs(f - g).mean() for g in a]
        assert int(np.argmin(diffs)) == i, (i, diffs)
        assert diffs[i] < 4.0, (i, diffs)
    # … and the move is visible (consecutive frames differ)
    assert min(np.abs(b[i] - b[i + 1]).mean() for i in range(7)) > 1.0
    # progress counted frames of both processes up to 1, then the encode
    renders = [f for s, f in progress if s == "render"]
    assert renders[0] == 0.0 and renders[-1] == 1.0 and renders == sorted(renders)
    assert [s for s, _ in progress][-1] == "encode" and progress[-1][1] == 1.0
    assert _leftovers(tmp_path) == []
    assert scene.render.filepath == "//mine_" and scene.frame_current == frame  # restored
    assert scene.render.image_settings.file_format == "FFMPEG"  # as the one-process render left it


def test_parallel_png_folder_equals_one_process(tmp_path, empty_scene):
    scene = _build(tmp_path, empty_scene, frames=6)
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    f1 = brender.render_animation(scene, str(one), "png", jobs=1)
    f2 = brender.render_animation(scene, str(two), "png", jobs=3)
    assert [os.path.basename(f) for f in f2] == [f"frame_{i:04d}.png" for i in range(1, 7)]
    assert len(f1) == 6
    n1, a = _png_frames(one)
    n2, b = _png_frames(two)
    assert n1 == n2 and len(b) == 6
    for x, y in zip(a, b):  # same renderer, same scene, other process: the same pixels
        assert np.abs(x - y).max() <= 2
    assert sorted(os.listdir(two)) == n2  # nothing else in the user's folder
    assert _leftovers(tmp_path, one, two) == []


def test_failing_helper_gives_a_clear_error_and_leaves_nothing(tmp_path, empty_scene, monkeypatch):
    scene = _build(tmp_path, empty_scene, frames=6)
    # a real helper process that cannot work: a Python without the bpy module
    python = shutil.which("python3") or "/usr/bin/python3"
    if subprocess.run([python, "-c", "import bpy"], capture_output=True).returncode == 0:
        pytest.skip("the system python3 imports bpy")
    monkeypatch.setattr(sys, "executable", python)
    out = tmp_path / "out.mp4"
    t = time.perf_counter()
    with pytest.raises(DepthAddonError) as e:
        brender.render_animation(scene, str(out), "mp4", jobs=2)
    assert time.perf_counter() - t < 120  # an error, not a hang
    msg = str(e.value)
    assert "helper render process" in msg and "starting at frame 1) failed" in msg, msg
    assert "No module named 'bpy'" in msg, msg
    assert not out.exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("at", [2, 5])
def test_cancel_stops_the_helpers(tmp_path, empty_scene, at):
    scene = _build(tmp_path, empty_scene, frames=8)
    out = tmp_path / "out.mp4"
    calls = []

    def progress(stage, fraction):
        calls.append(fraction)
        if len(calls) == at:  # 2: the first frame is done; 5: inside the encode's handler
            raise Cancelled("cancelled by test")

    with pytest.raises(Cancelled):
        brender.render_animation(scene, str(out), "mp4", jobs=2, progress=progress)
    assert not out.exists() and _leftovers(tmp_path) == []
    # no helper process left running (they would keep writing into the removed folder)
    me = os.getpid()
    ps = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(me)], capture_output=True,
                        text=True).stdout
    assert "render_worker.py" not in ps, ps


def test_helper_dying_during_the_encode_is_an_error_and_leaves_nothing(tmp_path, empty_scene):
    """A video's frames are encoded while the helpers render them: helpers killed half-way
    (frames 1-3 of 8 done) stop the encode with their error, and no video is left."""
    scene = _build(tmp_path, empty_scene, frames=8)
    out = tmp_path / "out.mp4"
    calls = []

    def progress(stage, fraction):
        calls.append((stage, fraction))
        if len(calls) == 4:  # render 0.0, frame 1 done (before the encode), frames 1, 2 read
            for wk in brender._HELPERS:
                wk.proc.kill()
                wk.proc.wait()
            # the tiny frames may all be done already: as if frames 4-8 never were
            for f in tmp_path.glob(".depth3d-*/frames/frame_000[4-8].*"):
                f.unlink()

    t = time.perf_counter()
    with pytest.raises(DepthAddonError) as e:
        brender.render_animation(scene, str(out), "mp4", jobs=2, progress=progress)
    assert time.perf_counter() - t < 120
    msg = str(e.value)
    # killed while rendering, or (all frames were done) exited with frames missing
    assert (("helper render process" in msg and "exit code -9" in msg)
            or "parallel render wrote 3 of 8 frames (missing frame 4)" in msg), msg
    assert {s for s, _ in calls} == {"render"}  # the encode did not report (it stopped)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_encode_keeps_the_sequencer_cache_small_and_restores_the_preference(tmp_path):
    """While encode_frames runs (background mode) the sequencer's memory cache is at its smallest,
    so the frames do not pile up in memory; the user's preference is back afterwards, also when
    the encode is stopped."""
    import cv2

    rng = np.random.default_rng(0)
    files = []
    for i in range(4):
        f = tmp_path / f"frame_{i + 1:04d}.png"
        cv2.imwrite(str(f), (rng.random((32, 48, 3)) * 255).astype(np.uint8))
        files.append(str(f))
    prefs = bpy.context.preferences.system
    before = prefs.memory_cache_limit
    prefs.memory_cache_limit = 777
    try:
        seen = []
        out = tmp_path / "out.mp4"
        brender.encode_frames(files, str(out), fps=4,
                              before_frame=lambda i: seen.append(prefs.memory_cache_limit))
        assert seen == [brender.ENCODE_CACHE_MB] * 4
        assert prefs.memory_cache_limit == 777
        assert len(_video_frames(out)) == 4

        def stop(i):
            if i == 2:
                raise Cancelled()

        with pytest.raises(Cancelled):
            brender.encode_frames(files, str(tmp_path / "stopped.mp4"), fps=4, before_frame=stop)
        assert prefs.memory_cache_limit == 777
        assert not (tmp_path / "stopped.mp4").exists()
    finally:
        prefs.memory_cache_limit = before


def test_gpu_warm_up_leaves_nothing_behind(tmp_path, monkeypatch):
    """The warm-up render (shaders for a textured quad, the compositor, an IRIS write) removes
    every datablock and the picture it made."""
    from depth_addon.blender import render_worker as rw

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    kinds = ("scenes", "objects", "meshes", "images", "materials", "node_groups", "cameras")

    def blocks():  # Blender's own "Render Result" image appears with a process's first render
        return {k: sorted(b.name for b in getattr(bpy.data, k) if b.name != "Render Result")
                for k in kinds}

    before = blocks()
    rw.warm_up_gpu()
    assert blocks() == before
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("early", [False, True])
def test_helpers_leave_no_temp_folder_even_when_killed(tmp_path, empty_scene, monkeypatch, early):
    """Each helper's Blender session temp folder (blender_XXXXXX, made at import) and our own
    temp files are gone once a render ends: after a finished render and after a cancelled one
    (helpers killed), for helpers started early (start_helpers) or by the render itself."""
    import tempfile

    scene = _build(tmp_path, empty_scene, frames=6)
    brender.stop_idle_helpers()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    for cancel in (False, True):
        if early:
            brender.start_helpers(6, 2, "mp4")
            brender.finish_starting()
            end = time.time() + 60
            for idle in brender._IDLE:  # wait until its Blender is up (session folder made)
                while not list(pathlib.Path(idle.tmp).iterdir()) and time.time() < end:
                    time.sleep(0.05)
                assert list(pathlib.Path(idle.tmp).iterdir())

        def progress(stage, fraction):
            if cancel and stage == "render" and fraction > 0:
                raise Cancelled()

        out = tmp_path / f"out{int(cancel)}.mp4"
        timings = {}
        if cancel:
            with pytest.raises(Cancelled):
                brender.render_animation(scene, str(out), "mp4", jobs=2, progress=progress)
        else:
            brender.render_animation(scene, str(out), "mp4", jobs=2, timings=timings,
                                     progress=progress)
            assert timings["jobs"] == 2 and out.exists()
        assert [p.name for p in tmp.iterdir()] == [], cancel


def test_helpers_started_early_render_the_frames_and_unused_ones_exit(tmp_path, empty_scene):
    scene = _build(tmp_path, empty_scene, frames=6)
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    f1 = brender.render_animation(scene, str(one), "png", jobs=1)
    assert brender.start_helpers(6, jobs=1) == 0  # one process: nothing to start
    assert brender.start_helpers(6, jobs=3, kind="png") == 2  # this process renders too
    assert brender.start_helpers(6, jobs=3, kind="png") == 2  # not started twice
    brender.finish_starting()
    procs = [h.proc for h in brender._IDLE]
    assert all(p.poll() is None and p.args[-1] == "--wait" for p in procs)
    f2 = brender.render_animation(scene, str(two), "png", jobs=3)
    assert brender._IDLE == []
    assert [p.wait(timeout=30) for p in procs] == [0, 0]  # they were the render's helpers
    assert [os.path.basename(f) for f in f2] == [os.path.basename(f) for f in f1]
    for x, y in zip(_png_frames(one)[1], _png_frames(two)[1]):
        assert np.abs(x - y).max() <= 2
    assert _leftovers(tmp_path, one, two) == []
    # the job really reaches a waiting helper: a scene it cannot find is its error
    blend = tmp_path / "s.blend"
    bpy.data.libraries.write(str(blend), {scene}, compress=False)
    (tmp_path / "frames").mkdir()
    brender.start_helpers(6, jobs=2, kind="png")
    wk = brender._Worker(str(blend), "no such scene", [1, 2], str(tmp_path / "frames"),
                         str(tmp_path / "unused.log"))
    assert wk._idle is not None and brender._IDLE == []
    wk.proc.wait(timeout=60)
    assert "no scene 'no such scene'" in (wk.failed() or ""), wk.failed()
    log = wk.log
    wk.stop()
    assert not os.path.exists(log) and not (tmp_path / "unused.log").exists()
    # helpers nobody used exit at once when released, and leave no log behind
    assert brender.start_helpers(60, jobs=3) == 3  # a video: this process encodes only
    brender.finish_starting()
    idle = list(brender._IDLE)
    brender.stop_idle_helpers()
    assert [h.proc.returncode for h in idle] == [0, 0, 0]
    assert not any(os.path.exists(h.log) for h in idle)
    # a helper that died while waiting is replaced by a new one
    brender.start_helpers(6, jobs=2, kind="png")
    brender.finish_starting()
    brender._IDLE[0].proc.kill()
    brender._IDLE[0].proc.wait()
    three = tmp_path / "three"
    three.mkdir()
    f3 = brender.render_animation(scene, str(three), "png", jobs=2)
    assert len(f3) == 6 and brender._IDLE == []


def test_helpers_start_one_after_another():
    """Only one helper's start-up competes with the caller at a time: each further helper starts
    once the one before has made its GPU contexts."""
    assert brender.start_helpers(60, jobs=3) == 3
    assert len(brender._IDLE) == 1  # the others come later, from a thread
    t = time.perf_counter()
    while len(brender._IDLE) < 3 and time.perf_counter() - t < 120:
        time.sleep(0.05)
    idle = list(brender._IDLE)
    assert len(idle) == 3
    for before, after in zip(idle, idle[1:]):
        assert before.ready_at is not None and after.started_at >= before.ready_at
    brender.stop_idle_helpers()
    assert [h.proc.returncode for h in idle] == [0, 0, 0]
    # finish_starting starts the rest at once, without waiting for any to be ready
    brender.start_helpers(60, jobs=3)
    brender.finish_starting()
    idle = list(brender._IDLE)
    assert len(idle) == 3 and idle[1].started_at - idle[0].started_at < 0.3
    brender.stop_idle_helpers()


def test_helpers_start_before_this_process_imports_bpy():
    """The command line starts its helpers before its pipeline and imports bpy only after it (so
    Blender's memory is not added to the pipeline's peak): starting them needs no bpy here."""
    code = ("import sys\nfrom depth_addon.blender import helpers\n"
            "n = helpers.start_helpers(60, jobs=3, kind='png')\n"
            "helpers.finish_starting()\n"
            "procs = [h.proc for h in helpers._IDLE]\n"
            "print(n, 'bpy' in sys.modules, [p.poll() for p in procs])\n"
            "helpers.stop_idle_helpers()\n"
            "print([p.returncode for p in procs])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["2 False [None, None]", "[0, 0]"], r.stdout


def test_workbench_antialiasing_is_the_compositor_soften_unless_the_user_has_a_compositor(empty_scene):
    sc = empty_scene
    if not hasattr(sc, "compositing_node_group"):  # 4.2: FXAA
        assert brender.set_antialiasing(sc, "workbench") == "fxaa"
        assert sc.display.render_aa == "FXAA"
        return
    assert brender.set_antialiasing(sc, "workbench") == "soften"
    group = sc.compositing_node_group
    assert group.name == brender.AA_GROUP_NAME and sc.display.render_aa == "OFF"
    assert sc.view_layers[0].use_pass_z
    filters = {n.inputs["Type"].default_value for n in group.nodes
               if n.bl_idname == "CompositorNodeFilter"}
    assert filters == {"Laplace", "Soften"}
    layers = [n for n in group.nodes if n.bl_idname == "CompositorNodeRLayers"]
    assert len(layers) == 1 and layers[0].scene == sc
    assert brender.set_antialiasing(sc, "workbench") == "soften" and sc.compositing_node_group == group
    # a group saved by an older version (SMAA, no method key) is rebuilt in place
    del group["depth3d_aa"]
    group.nodes.clear()
    group.nodes.new("CompositorNodeAntiAliasing")
    assert brender.set_antialiasing(sc, "workbench") == "soften" and sc.compositing_node_group == group
    assert not any(n.bl_idname == "CompositorNodeAntiAliasing" for n in group.nodes)
    # another scene (not the active one) gets a group of its own that reads that scene
    other = bpy.data.scenes.new("other")
    assert bpy.context.scene != other
    assert brender.set_antialiasing(other, "workbench") == "soften"
    og = other.compositing_node_group
    assert og is not None and og != group and brender._group_scene(og) == other
    assert brender._group_scene(group) == sc
    # a group shared with another scene: this scene gets its own instead of reading the other
    third = bpy.data.scenes.new("third")
    third.compositing_node_group = og
    assert brender.set_antialiasing(third, "workbench") == "soften"
    assert third.compositing_node_group != og and brender._group_scene(og) == other
    assert brender._group_scene(third.compositing_node_group) == third
    # Cycles: the group goes, and the Z pass this function turned on is off again
    assert brender.set_antialiasing(sc, "cycles") == "samples" and sc.compositing_node_group is None
    assert not sc.view_layers[0].use_pass_z
    # a compositor of the user's own is kept: Workbench FXAA instead
    mine = bpy.data.node_groups.new("mine", "CompositorNodeTree")
    sc.compositing_node_group = mine
    assert brender.set_antialiasing(sc, "workbench") == "fxaa"
    assert sc.compositing_node_group == mine and sc.display.render_aa == "FXAA"


def test_cli_verbose_timings_parallel_and_no_egl_noise(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    photo = tmp_path / "p.png"
    Image.fromarray((rng.random((60, 90, 3)) * 255).astype(np.uint8)).save(photo)
    depth = np.full((60, 90), 4.0, np.float32)
    depth[:, :45] = 2.0
    np.save(tmp_path / "d.npy", depth)
    out = tmp_path / "v.mp4"
    p = subprocess.run([sys.executable, "-m", "depth_addon", str(photo), "--depth",
                        str(tmp_path / "d.npy"), "--depth-kind", "metric", "--seconds", "1",
                        "--fps", "8", "--resolution", "96x64", "--render-jobs", "2", "-v", "-q",
                        "-o", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "EGL Error" not in p.stderr and "EGL Error" not in p.stdout
    assert "timings:" in p.stderr
    for step in ("geometry", "background", "scene build", "render", "encode", "total"):
        assert f"  {step}" in p.stderr, p.stderr
    assert len(_video_frames(out)) == 8
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", ["sbs", "lr"])
def test_parallel_stereo_equals_one_process(tmp_path, empty_scene, fmt):
    """Stereo in helper processes: sbs gives one video twice as wide, lr two videos NAME_L /
    NAME_R; frame for frame like the same render in one process."""
    scene = _build(tmp_path, empty_scene, stereo=fmt, interaxial=0.3)
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    a = brender.render_animation(scene, str(one / "v.mp4"), "mp4", jobs=1)
    b = brender.render_animation(scene, str(two / "v.mp4"), "mp4", jobs=2)
    names = ["v.mp4"] if fmt == "sbs" else ["v_L.mp4", "v_R.mp4"]
    assert [os.path.basename(p) for p in a] == names == [os.path.basename(p) for p in b]
    for name in names:
        fa, fb = _video_frames(one / name), _video_frames(two / name)
        assert len(fa) == len(fb) == 8
        assert fa[0].shape[1] == (192 if fmt == "sbs" else 96)
        # the wall is random noise, H.264's worst case: the one-process encode and the helpers'
        # frames + sequencer encode differ by 2.6-3.1 grey levels on average (the filled layer's
        # texture moves it); the two eyes differ by ~30
        assert max(np.abs(x - y).mean() for x, y in zip(fa, fb)) < 5.0
    if fmt == "lr":
        assert np.abs(_video_frames(two / "v_L.mp4")[0] - _video_frames(two / "v_R.mp4")[0]).mean() > 2.0
    assert not _leftovers(one, two)


def test_helpers_get_the_tuned_environment_unless_the_user_set_it(tmp_path, empty_scene,
                                                                   monkeypatch):
    scene = _build(tmp_path, empty_scene, frames=6)
    # the helper's Python is a wrapper that records the environment it was started with
    log = tmp_path / "helper_env.txt"
    wrapper = tmp_path / "python_wrapper.sh"
    wrapper.write_text(f'#!/bin/sh\nenv > "{log}"\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(wrapper))
    monkeypatch.setenv("LP_NUM_THREADS", "3")  # the user's own setting
    monkeypatch.delenv("MALLOC_TOP_PAD_", raising=False)
    out = tmp_path / "out.mp4"
    timings = {}
    brender.render_animation(scene, str(out), "mp4", jobs=2, timings=timings)
    assert timings["jobs"] == 2 and len(_video_frames(out)) == 6
    env = dict(line.split("=", 1) for line in log.read_text().splitlines() if "=" in line)
    assert env["LP_NUM_THREADS"] == "3"  # the user's value wins
    assert env["MALLOC_TOP_PAD_"] == brender.HELPER_ENV["MALLOC_TOP_PAD_"]
    assert int(env["MALLOC_MMAP_THRESHOLD_"]) >= 16 << 20


def test_parent_malloc_tuning_applies_in_background_mode():
    assert bpy.app.background
    assert brender._tune_malloc() is sys.platform.startswith("linux")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_tuned_malloc_reuses_freed_buffers_instead_of_fresh_pages():
    """helpers.tune_malloc (which the command line applies before its pipeline): an 8 MB array
    allocated again after one was freed takes no new pages (minor page faults), where glibc's
    defaults map and zero fresh ones; in a fresh process each, bpy not imported."""
    code = ("import resource, sys\nimport numpy as np\nfrom depth_addon.blender import helpers\n"
            "if sys.argv[1] == 'tuned':\n    assert helpers.tune_malloc()\n"
            "a = np.ones(1 << 20)\ndel a\n"
            "f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "b = np.ones(1 << 20)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0,\n"
            "      'bpy' in sys.modules)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    faults = {}
    for mode in ("default", "tuned"):
        r = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                           cwd=ROOT, env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        n, has_bpy = r.stdout.split()
        assert has_bpy == "False"
        faults[mode] = int(n)
    # 8 MB = 2048 pages of 4 kB (the kernel may fault several at once: ~500 faults measured)
    assert faults["default"] > 100 and faults["tuned"] * 10 < faults["default"], faults


def _flat_planes_scene(sc):
    """Workbench, 160x96: a near red quad (2 m) over the left part, a far green quad (6 m) over the
    middle, the black world on the right; the near quad's right edge is slanted (aliased). Both
    carry a random vertex-colour texture (shading 'VERTEX'); shading 'OBJECT' shows them flat."""
    brender.configure(sc, engine="workbench", width=160, height=96, fps=1, frame_start=1,
                      frame_end=1)
    sc.display.shading.color_type = "OBJECT"
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    sc.collection.objects.link(cam)
    sc.camera = cam
    cam.data.lens_unit = "FOV"
    cam.data.angle = np.radians(60.0)

    rng = np.random.default_rng(5)

    def quad(name, z, xs, color, n=96):
        """An n x n grid quad at depth z; its vertex colours are ``color`` with random texture."""
        h = 0.6 * z  # taller than the view at depth z
        (x0, x1b), (_, x1t) = xs
        verts = []
        for j in range(n + 1):
            t = j / n
            x1 = x1b + (x1t - x1b) * t
            verts += [((x0 + (x1 - x0) * i / n) * z, (-h + 2 * h * t), -z) for i in range(n + 1)]
        faces = [(j * (n + 1) + i, j * (n + 1) + i + 1, (j + 1) * (n + 1) + i + 1, (j + 1) * (n + 1) + i)
                 for j in range(n) for i in range(n)]
        me = bpy.data.meshes.new(name)
        me.from_pydata(verts, [], faces)
        cols = np.clip(np.array(color[:3]) * rng.uniform(0.3, 1.2, (len(verts), 1)), 0, 1)
        attr = me.color_attributes.new("Col", "FLOAT_COLOR", "POINT")
        attr.data.foreach_set("color", np.hstack([cols, np.ones((len(verts), 1))]).ravel())
        ob = bpy.data.objects.new(name, me)
        ob.color = color
        sc.collection.objects.link(ob)

    quad("near", 2.0, ((-1.0, -0.05), (-1.0, 0.1)), (0.8, 0.05, 0.05, 1.0))
    quad("far", 6.0, ((-1.0, 0.35), (-1.0, 0.35)), (0.05, 0.6, 0.1, 1.0))
    return sc


def _still_float(sc, path):
    """Frame 1 as a 32-bit float EXR (linear, before any 8-bit conversion), as (H, W, 4)."""
    sc.frame_set(1)
    isf = sc.render.image_settings
    isf.file_format, isf.color_mode, isf.color_depth = "OPEN_EXR", "RGBA", "32"
    sc.render.filepath = str(path)
    sc.render.use_file_extension = False
    bpy.ops.render.render(write_still=True, scene=sc.name)
    img = bpy.data.images.load(str(path), check_existing=False)
    try:
        w, h = img.size
        px = np.empty(w * h * 4, np.float32)
        img.pixels.foreach_get(px)
    finally:
        bpy.data.images.remove(img)
    return px.reshape(h, w, 4)[::-1]


def test_workbench_softens_only_the_pixels_where_the_depth_jumps(tmp_path, empty_scene):
    """The 5.x anti-aliasing: away from depth jumps every pixel is the unfiltered render's; at the
    near/far silhouette and at the far quad's edge against the (infinitely far) world the pixels
    are blends of the two sides -- no NaN, no stray colour, the world stays black."""
    import cv2

    sc = _flat_planes_scene(empty_scene)
    if brender.set_antialiasing(sc, "workbench") != "soften":
        pytest.skip("Blender 4.2: Workbench FXAA (no compositor group)")
    sc.render.use_compositing = False
    flat = _still(sc, tmp_path / "flat.png")
    # where the surfaces and the world are (flat colours, no AA)
    red = (flat[..., 0] > 150) & (flat[..., 1] < 100)
    green = (flat[..., 1] > 150) & (flat[..., 0] < 100)
    world = flat.max(2) < 3
    sc.display.shading.color_type = "VERTEX"
    plain = _still(sc, tmp_path / "plain.png")
    sc.render.use_compositing = True
    soft = _still(sc, tmp_path / "soft.png")
    # no NaN or inf anywhere, the world's 1e10 depth included (checked before 8-bit conversion)
    raw = _still_float(sc, tmp_path / "soft.exr")
    assert np.isfinite(raw).all() and raw[..., :3].max() <= 1.0 + 1e-3
    assert np.abs(raw[..., :3][cv2.erode(world.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0]).max() < 1e-3
    # the texture is there: neighbouring pixels differ (a soften everywhere would change them)
    assert np.abs(np.diff(plain[red], axis=0)).mean() > 4
    assert red.mean() > 0.2 and green.mean() > 0.1 and world.mean() > 0.1
    k = np.ones((5, 5), np.uint8)
    edge = np.zeros(red.shape, bool)
    for m in (red, green, world):
        mu = m.astype(np.uint8)
        edge |= (cv2.dilate(mu, k) > 0) & (cv2.erode(mu, k) == 0)
    diff = np.abs(soft - plain).max(2)
    assert diff[~edge].max() <= 1.0, "pixels away from depth jumps were changed"
    # the slanted near/far silhouette is softened: a pixel's colour moves towards its neighbours'
    changed = diff > 8
    assert changed[edge].sum() >= 40, changed.sum()
    assert not changed[~edge].any()
    # blends of the neighbours: never brighter than the brightest, never bluer than the bluest
    for c in range(3):
        assert soft[..., c].max() <= plain[..., c].max() + 1.0
    # at the far quad's edge against the world: softened too, and the world beyond stays black
    gw = edge & (cv2.dilate(world.astype(np.uint8), k) > 0) & (cv2.dilate(green.astype(np.uint8), k) > 0)
    assert changed[gw].any()
    far_world = cv2.erode(world.astype(np.uint8), k) > 0
    assert soft[far_world].max() <= 2.0


def test_workbench_soften_leaves_a_floor_up_to_the_horizon_alone(tmp_path, empty_scene):
    """A textured floor receding to 400 m: its depth grows steeply towards the horizon, but it is a
    plane (inverse depth linear in the pixel coordinates), so no pixel of it is softened; only
    its far edge against the world is."""
    sc = empty_scene
    brender.configure(sc, engine="workbench", width=160, height=96, fps=1, frame_start=1,
                      frame_end=1)
    if brender.set_antialiasing(sc, "workbench") != "soften":
        pytest.skip("Blender 4.2: Workbench FXAA (no compositor group)")
    sc.display.shading.color_type = "VERTEX"
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    sc.collection.objects.link(cam)
    sc.camera = cam
    cam.data.clip_start, cam.data.clip_end = 0.1, 1000.0
    cam.data.lens_unit = "FOV"
    cam.data.angle = np.radians(60.0)
    n = 200
    zs = -np.geomspace(1.0, 400.0, n + 1)  # rows closer together near the camera
    xs = np.linspace(-1.0, 1.0, n + 1)
    verts = [(x * 0.9 * -z, -1.0, z) for z in zs for x in xs]
    faces = [(j * (n + 1) + i, j * (n + 1) + i + 1, (j + 1) * (n + 1) + i + 1, (j + 1) * (n + 1) + i)
             for j in range(n) for i in range(n)]
    me = bpy.data.meshes.new("floor")
    me.from_pydata(verts, [], faces)
    rng = np.random.default_rng(7)
    cols = np.clip(np.array([0.5, 0.4, 0.3]) * rng.uniform(0.3, 1.6, (len(verts), 1)), 0, 1)
    attr = me.color_attributes.new("Col", "FLOAT_COLOR", "POINT")
    attr.data.foreach_set("color", np.hstack([cols, np.ones((len(verts), 1))]).ravel())
    sc.collection.objects.link(bpy.data.objects.new("floor", me))
    soft = _still(sc, tmp_path / "soft.png")
    sc.render.use_compositing = False
    plain = _still(sc, tmp_path / "plain.png")
    floor = plain.max(2) > 3
    rows = np.nonzero(floor.any(1))[0]
    assert rows.size > 30  # the floor fills the lower half of the frame
    top = rows.min()  # its far edge, just under the horizon
    diff = np.abs(soft - plain).max(2)
    # (the frame's outermost pixels are left out: the compositor's Laplace repeats the border
    # pixel there, which a receding plane's depth does not continue -- the bottom row gets a
    # light soften, measured up to 15 levels)
    inner = diff[top + 3:-1, 1:-1][floor[top + 3:-1, 1:-1]]
    assert inner.max() <= 1.0, "the floor was softened"
    assert (diff[max(0, top - 2):top + 2] > 4).any(), "the floor's far edge was not softened"
