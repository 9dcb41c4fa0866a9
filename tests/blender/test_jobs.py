"""Long work off the main thread: the worker, Cancel, and the hand-over the modal timer performs,
driven here by hand (no UI, no event loop)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import bpy

import depth_addon
from depth_addon import ids, jobs, operators


@pytest.fixture()
def addon():
    depth_addon.register()
    yield
    depth_addon.unregister()
    operators.STATE.clear()
    jobs.CURRENT = None


def test_worker_reports_progress_and_result():
    seen = []

    def work(progress):
        for i in range(5):
            progress("step", i / 4)
            seen.append(threading.current_thread().name)
        return 42

    job = jobs.Job("test", work).start()
    assert job.wait(10) == jobs.DONE and job.result == 42 and job.fraction == 1.0
    assert all(name.startswith("depth3d:") for name in seen)  # ran off the main thread


def test_cancel_stops_at_the_next_progress_call():
    started, steps = threading.Event(), []

    def work(progress):
        started.set()
        for i in range(1000):
            progress("loop", i / 1000)
            steps.append(i)
            time.sleep(0.01)
        return "finished"

    job = jobs.Job("slow", work).start()
    started.wait(5)
    t = time.perf_counter()
    job.cancel()
    assert job.wait(5) == jobs.CANCELLED
    assert time.perf_counter() - t < 0.5  # prompt
    assert job.result is None and len(steps) < 1000


def test_errors_become_one_line_messages():
    from depth_addon.core.errors import InputError

    def bad(progress):
        raise InputError("no such file: x.jpg")

    def bug(progress):
        return 1 / 0

    assert jobs.Job("a", bad).run_sync().error == "no such file: x.jpg"
    job = jobs.Job("b", bug).run_sync()
    assert job.state == jobs.ERROR and job.error.startswith("internal error: ZeroDivisionError")


def test_estimate_in_a_thread_then_hand_over_on_the_main_thread(addon, tmp_path, photo_file):
    """What the modal timer does: poll the job, then create Blender data on the main thread."""
    Zs = np.linspace(1, 3, 300 * 451, dtype=np.float32).reshape(300, 451)
    np.save(tmp_path / "d.npy", Zs)
    props = bpy.context.scene.depth3d
    props.source, props.image_path = "DEPTH", str(photo_file)
    props.depth_path, props.depth_kind = str(tmp_path / "d.npy"), "metric"
    job = jobs.start(operators.estimate_job(bpy.context), background=False)
    n_images = len(bpy.data.images)
    while job.poll() == jobs.RUNNING:  # the timer's loop
        time.sleep(0.01)
    assert len(bpy.data.images) == n_images  # the worker created no Blender data
    assert job.state == jobs.DONE
    operators.hand_over_estimate(bpy.context, job.result)
    assert bpy.data.images.get(ids.DEPTH_PREVIEW_IMAGE) is not None
    assert np.allclose(operators.STATE[bpy.context.scene.name_full]["depth"].values, Zs)
    assert operators.why_not(ids.OT_BUILD, bpy.context) == ""


def test_cancelled_estimate_leaves_the_scene_as_it_was(addon, tmp_path):
    props = bpy.context.scene.depth3d
    gate = threading.Event()

    def slow(progress):
        progress("load model", 0.0)
        gate.wait(5)
        progress("estimate depth", 0.5)  # raises Cancelled
        return None

    before = (len(bpy.data.images), len(bpy.data.objects))
    job = jobs.start(jobs.Job("Estimating depth", slow), background=False)
    assert jobs.cancel_current()
    gate.set()
    assert job.wait(5) == jobs.CANCELLED
    assert (len(bpy.data.images), len(bpy.data.objects)) == before
    assert operators.STATE.get(bpy.context.scene.name_full, {}).get("depth") is None
    assert not props.running


def test_one_job_at_a_time(addon):
    gate = threading.Event()
    jobs.start(jobs.Job("first", lambda p: gate.wait(5)), background=False)
    from depth_addon.core.errors import DepthAddonError
    with pytest.raises(DepthAddonError, match="still running"):
        jobs.start(jobs.Job("second", lambda p: None), background=False)
    gate.set()
    jobs.CURRENT.wait(5)


def test_buttons_explain_why_they_are_greyed_out(addon):
    ctx = bpy.context
    assert operators.why_not(ids.OT_ESTIMATE, ctx) == "choose a photo first"
    assert operators.why_not(ids.OT_BUILD, ctx) == "estimate depth first"
    assert operators.why_not(ids.OT_ANIMATE, ctx) == "build the 3D photo first"
    assert operators.why_not(ids.OT_EXPORT_PLY, ctx) == "build a point cloud first"
    assert not bpy.ops.depth.build.poll()


def test_panel_settings_map_to_the_same_settings_as_the_cli(addon):
    from depth_addon import props as P
    from depth_addon.cli import build_parser
    from depth_addon.core.monocular import DEFAULT_MODEL

    p = bpy.context.scene.depth3d
    p.preset, p.amount, p.seconds, p.fps, p.use_tear = "DOLLY_ZOOM", 0.5, 3.0, 24, False
    s = P.to_settings(p, None)
    assert (s.preset, s.amount, s.seconds, s.fps, s.tear_threshold) == ("dolly-zoom", 0.5, 3.0, 24, None)
    assert s.model == DEFAULT_MODEL  # "Default (Preferences)" without preferences
    # every preset the CLI accepts is in the panel, and the defaults agree
    args = build_parser().parse_args([])
    assert {i.identifier.lower().replace("_", "-") for i in
            p.bl_rna.properties["preset"].enum_items} == {"circle", "swing", "vertical", "dolly",
                                                          "dolly-zoom", "ken-burns"}
    p.property_unset("amount"), p.property_unset("seconds"), p.property_unset("fps")
    d = P.to_settings(p, None)
    assert (d.amount, d.seconds, d.fps, d.step) == (args.amount, args.seconds, args.fps, args.step)


def test_build_and_animate_run_in_a_thread_then_hand_over(addon, tmp_path, photo_file):
    """Build 3D Photo and Animate Camera do their array work (mesh, layer, budget) off the main
    thread too: while the worker runs no Blender data appears; the hand-over builds the scene; a
    cancelled build leaves it as it was."""
    Z = np.full((300, 451), 4.0, np.float32)
    Z[80:220, 120:330] = 2.0
    np.save(tmp_path / "d.npy", Z)
    props = bpy.context.scene.depth3d
    props.source, props.image_path = "DEPTH", str(photo_file)
    props.depth_path, props.depth_kind = str(tmp_path / "d.npy"), "metric"
    operators.hand_over_estimate(bpy.context, jobs.start(operators.estimate_job(bpy.context),
                                                         background=True).result)
    jobs.CURRENT = None
    n_objects = len(bpy.data.objects)
    # a cancelled build: the scene stays as it was
    job = jobs.start(operators.build_job(bpy.context), background=False)
    jobs.cancel_current()
    job.wait(30)
    assert job.state in (jobs.CANCELLED, jobs.DONE)  # (it may finish before the cancel lands)
    assert len(bpy.data.objects) == n_objects
    jobs.CURRENT = None
    # a build in a thread, handed over on the main thread
    job = jobs.start(operators.build_job(bpy.context), background=False)
    seen = []
    while job.poll() == jobs.RUNNING:
        seen.append(len(bpy.data.objects))
        time.sleep(0.01)
    assert job.state == jobs.DONE, job.error
    assert set(seen) <= {n_objects}  # the worker created no Blender data
    assert job.result.background is not None and len(job.result.background.mesh.faces) > 0
    operators.hand_over_build(bpy.context, job.result)  # what the modal timer does after poll()
    names = {o.name for o in bpy.data.objects}
    assert {"3D Photo", "3D Photo background", "3D Photo Camera"} <= names
    jobs.CURRENT = None
    # then the camera move, planned in a thread
    props.preset = "SWING"
    job = jobs.start(operators.animate_job(bpy.context), background=False)
    while job.poll() == jobs.RUNNING:
        time.sleep(0.01)
    assert job.state == jobs.DONE, job.error
    # the mesh was simplified (default) for the build's move: the new move gets a warning
    built_mesh = operators.STATE[bpy.context.scene.name_full]["result"].mesh
    warning = operators.simplified_for_another_move(bpy.context, job.result)
    assert built_mesh is not None and built_mesh.n_merged_cells > 0
    assert "simplified for the previous camera move" in warning and "Simplify to 0" in warning
    operators.hand_over_animate(bpy.context, job.result)
    assert operators.STATE[bpy.context.scene.name_full]["result"].camera.preset == "swing"
    # the same move again: no warning
    assert operators.simplified_for_another_move(bpy.context, job.result) is None
    assert bpy.context.scene.frame_end == len(job.result[1].keys.positions)
