"""The helper processes of a parallel render, started before Blender is needed.

Nothing here imports ``bpy``: the command line starts the helpers (``render_worker.py --wait``:
each imports bpy and makes its GPU contexts, then waits for its job on stdin) before its pipeline
runs and imports bpy itself only after it, so that Blender's ~0.4 GB (the module and its GPU
contexts) is not added to the pipeline's peak memory (a 600 MP photo's decode). :mod:`.render`
hands a waiting helper its frames (:class:`._Worker`) and re-exports these names.
"""
from __future__ import annotations

import atexit
import importlib.util
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time

#: most helper processes a render starts (each holds a copy of the scene and a GL context)
MAX_JOBS = 4
#: an automatic job count (jobs=0) renders in one process below this many frames: starting a
#: helper (import bpy, open the scene, first GL context) costs ~1 s, more than it saves then
PARALLEL_MIN_FRAMES = 48
#: environment a parallel render's helper processes get on top of the caller's (whose own
#: settings win): one llvmpipe raster thread per process (the processes already fill the cores),
#: and glibc malloc tuned so the per-frame render, compositor and picture buffers (~15 MB each
#: at 1280x720) are reused from the heap instead of being mapped, page-faulted and zeroed anew
#: every frame (see :func:`tune_malloc`). Measured 2026-12-03, 2 helper processes
#: rendering 40 frames each of the bench_render scene, 3 alternating runs: per frame 333 -> 315
#: ms at 1280x720, 118 -> 112 ms at 640x360; mesa_glthread on top made no difference. The parent
#: process of a parallel render gets the same (:func:`.render.render_animation`). The whole
#: command (bench_render's input, 4 alternating runs against the code before): 1280x720
#: 35.5-36.0 s -> 33.9-34.0 s, 640x360 15.2-15.5 s -> 14.7-15.0 s
HELPER_ENV = {"LP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
              "MALLOC_TRIM_THRESHOLD_": str(256 << 20), "MALLOC_TOP_PAD_": str(64 << 20)}
#: helpers started by :func:`start_helpers`, waiting for a render to give them frames
_IDLE = []
#: the thread that starts the helpers after the first one, each when the one before is ready
#: (see :func:`start_helpers`), and the event that tells it to start the rest at once
_STARTER = {"thread": None}
_HURRY = threading.Event()


def tune_malloc() -> bool:
    """glibc only: the malloc settings of :data:`HELPER_ENV` for this process too (``mallopt``:
    M_MMAP_THRESHOLD 32 MiB, M_TRIM_THRESHOLD 256 MiB, M_TOP_PAD 64 MiB; see ``man 3
    mallopt``), so buffers below 32 MiB that are freed and allocated again (numpy's arrays in the
    pipeline, a render's frame buffers) come from the heap instead of fresh zeroed pages. Kept
    for the rest of the process (at most 256 MiB of freed heap stays mapped). A setting the user
    gave in the environment (``MALLOC_TOP_PAD_`` …) is left as it is. Returns whether it was
    applied (False off Linux or without glibc's mallopt). The command line applies it before
    its pipeline: measured 2026-12-04, 640x360 command, 6 alternating runs with these settings in
    the environment against without: background step 2.08 -> 1.96 s, the command 8.84 -> 8.67 s
    (medians); the 600 MP photo's peak RSS 2.65 -> 2.70 GB."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    ok = True
    for param, key in ((-3, "MALLOC_MMAP_THRESHOLD_"), (-1, "MALLOC_TRIM_THRESHOLD_"),
                       (-2, "MALLOC_TOP_PAD_")):
        if key in os.environ:
            continue
        ok = bool(mallopt(ctypes.c_int(param), ctypes.c_int(int(HELPER_ENV[key])))) and ok
    return ok


def default_jobs() -> int:
    """Processes a render uses by default: one per CPU core, at most :data:`MAX_JOBS`."""
    return max(1, min(os.cpu_count() or 1, MAX_JOBS))


def planned_jobs(n_frames: int, jobs: int = 0) -> int:
    """Processes :func:`.render.render_animation` renders ``n_frames`` frames with for its ``jobs``
    argument (0 or less: :func:`default_jobs`, or 1 below :data:`PARALLEL_MIN_FRAMES` frames),
    at most :data:`MAX_JOBS` and at least 2 frames each; >= 1 (before
    :func:`parallel_available` is asked)."""
    auto = not jobs or jobs < 0
    jobs = default_jobs() if auto else int(jobs)
    if auto and n_frames < PARALLEL_MIN_FRAMES:
        jobs = 1
    return max(1, min(jobs, MAX_JOBS, n_frames // 2))


def parallel_available() -> bool:
    """True when helper processes can render: background mode in the bpy module, whose Python
    (``sys.executable``) imports bpy. Inside a Blender executable (``bpy.app.binary_path`` set)
    sys.executable is Blender's own Python without bpy: rendering stays in one process there.
    Before bpy is imported (it is loaded before any script in a Blender executable, so this
    process will then get the bpy module, which runs in background mode): whether it can be."""
    bpy = sys.modules.get("bpy")
    if bpy is None:
        return bool(sys.executable) and importlib.util.find_spec("bpy") is not None
    return bool(bpy.app.background) and not bpy.app.binary_path and bool(sys.executable)


def start_helpers(n_frames: int, jobs: int = 0, kind: str = "mp4") -> int:
    """Start the helper processes that a parallel :func:`.render.render_animation` of
    ``n_frames`` frames with ``jobs`` to ``kind`` ('mp4': ``jobs`` helpers render while the caller
    encodes; 'png': ``jobs - 1``, the caller renders too) will use, so that their start-up
    (``import bpy`` ~0.5 s, GPU contexts ~0.1 s: ~0.7 s of CPU each, measured 2026-12-04) runs
    while the caller is still computing the scene. The first starts now, each further one when
    the one before has made its GPU contexts (a thread of this process waits for that), so at
    most one start-up competes with the caller for the cores: on 2 cores, two starting at once
    slowed the caller's background step by ~0.3 s (2026-12-04). They wait
    (``render_worker.py --wait``) until a render hands them their frames; a render that needs
    fewer, or none, releases the rest when it ends, and so does :func:`stop_idle_helpers` (also
    called at exit). Returns how many will be waiting (0 when the render would run in this
    process); :func:`finish_starting` starts any still to come at once."""
    finish_starting()
    planned = planned_jobs(n_frames, jobs)
    want = 0 if planned < 2 or not parallel_available() else planned - (kind != "mp4")
    more = want - len(_IDLE)
    if more <= 0:
        return len(_IDLE)
    first = _Idle()
    _IDLE.append(first)
    if more > 1:
        thread = threading.Thread(target=_start_rest, args=(first, more - 1),
                                  name="depth3d-helper-starter", daemon=True)
        _STARTER["thread"] = thread
        thread.start()
    return want


def _start_rest(previous: "_Idle", count: int) -> None:
    for _ in range(count):
        previous.wait_ready(_HURRY)
        previous = _Idle()
        _IDLE.append(previous)


def finish_starting() -> None:
    """Start now the helpers :func:`start_helpers` has not started yet, and return when they are
    (it waits for no helper to be ready). Called before a render takes its helpers, and before
    the caller imports bpy (no thread of ours runs beside that import: importing bpy beside a
    busy Python thread can deadlock)."""
    thread = _STARTER["thread"]
    if thread is not None:
        _HURRY.set()
        thread.join()
        _STARTER["thread"] = None
        _HURRY.clear()


def stop_idle_helpers() -> None:
    """Release the helpers :func:`start_helpers` started that no render has used: their stdin is
    closed, so they exit without rendering."""
    finish_starting()
    while _IDLE:
        _IDLE.pop().release()


class _Idle:
    """A helper started with ``render_worker.py --wait`` (see :func:`start_helpers`); its output
    goes to a temporary log file, removed when it is released or its render ends."""

    def __init__(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "render_worker.py")
        fd, self.log = tempfile.mkstemp(prefix="depth3d-helper-", suffix=".log")
        self.log_file = os.fdopen(fd, "wb")
        # the helper's temp directory (its TMPDIR: Blender's session folder goes in it), removed
        # with the log, also when the helper was killed before it could remove its own
        self.tmp = tempfile.mkdtemp(prefix="depth3d-helper-")
        # the helper writes a byte to this pipe once its GPU contexts are made
        self._ready_r, ready_w = os.pipe()
        self.started_at = time.perf_counter()
        self.ready_at = None
        try:
            self.proc = subprocess.Popen(
                [sys.executable, script, "--wait"], stdin=subprocess.PIPE, stdout=self.log_file,
                stderr=subprocess.STDOUT, pass_fds=(ready_w,),
                env={**HELPER_ENV, **os.environ, "DEPTH3D_READY_FD": str(ready_w),
                     "TMPDIR": self.tmp})
        finally:
            os.close(ready_w)

    def wait_ready(self, hurry: threading.Event, timeout: float = 60.0) -> bool:
        """Wait until the helper has made its GPU contexts (True), has exited, ``hurry`` is set
        or ``timeout`` seconds passed (False)."""
        end = time.perf_counter() + timeout
        try:
            while not hurry.is_set() and time.perf_counter() < end:
                if select.select([self._ready_r], [], [], 0.02)[0]:
                    ok = os.read(self._ready_r, 1) == b"1"  # b"": it exited first
                    if ok:
                        self.ready_at = time.perf_counter()
                    return ok
            return False
        finally:
            self._close_ready()

    def _close_ready(self) -> None:
        if self._ready_r is not None:
            os.close(self._ready_r)
            self._ready_r = None

    def give(self, args: list) -> bool:
        """Hand over the job (render_worker's arguments); False if the helper is gone."""
        if self.proc.poll() is not None:
            return False
        try:
            self.proc.stdin.write((json.dumps(args) + "\n").encode("utf-8"))
            self.proc.stdin.close()
        except OSError:  # it died in between (BrokenPipeError)
            return False
        return True

    def release(self) -> None:
        try:
            if self.proc.stdin is not None and not self.proc.stdin.closed:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.close_log()

    def close_log(self) -> None:
        """Close and remove the log and the helper's temp directory (call once it has exited)."""
        self._close_ready()
        self.log_file.close()
        try:
            os.remove(self.log)
        except OSError:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)


atexit.register(stop_idle_helpers)
