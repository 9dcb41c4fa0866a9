"""Long work off Blender's main thread: progress, cancel, and results handed back on the main thread.

A :class:`Job` runs ``fn(progress)`` in a daemon thread. ``progress(stage, fraction)`` records where
it is and raises :class:`~depth_addon.core.errors.Cancelled` once :meth:`Job.cancel` was called,
so cancelling stops the work at its next progress call (model loading and every encoder block of
inference call it). The worker never touches ``bpy``: the operator's modal timer (or a test) calls
:meth:`Job.poll` on the main thread and, when it says ``"done"``, hands the result to code that
creates Blender data. Background mode (``blender -b``) has no timers: operators call
:meth:`Job.run_sync` instead, which runs the same function on the calling thread.
"""
from __future__ import annotations

import threading
import traceback
from typing import Any, Callable, Optional

from .core.errors import Cancelled, DepthAddonError

RUNNING, DONE, ERROR, CANCELLED = "running", "done", "error", "cancelled"


class Job:
    """One unit of background work.

    Attributes:
        name: shown in the UI ("Estimating depth").
        stage, fraction: last progress report (fraction in [0, 1]).
        result: ``fn``'s return value once done; error: one-line message once failed.
    """

    def __init__(self, name: str, fn: Callable[[Callable[[str, float], None]], Any]):
        self.name = name
        self._fn = fn
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self.stage = "starting"
        self.fraction = 0.0
        self.result: Any = None
        self.error: Optional[str] = None
        self.state = RUNNING
        self._thread: Optional[threading.Thread] = None

    # -- worker side -----------------------------------------------------------------------
    def _progress(self, stage: str, fraction: float) -> None:
        with self._lock:
            self.stage = stage
            if fraction >= 0:
                self.fraction = min(1.0, max(0.0, float(fraction)))
        if self._cancel.is_set():
            raise Cancelled(f"{self.name} cancelled")

    def _run(self) -> None:
        try:
            result = self._fn(self._progress)
            state, error = (CANCELLED, None) if self._cancel.is_set() else (DONE, None)
        except Cancelled:
            result, state, error = None, CANCELLED, None
        except DepthAddonError as exc:
            result, state, error = None, ERROR, str(exc)
        except ImportError as exc:  # a dependency the user has not installed yet
            missing = getattr(exc, "name", None) or str(exc)
            result, state, error = None, ERROR, (
                f"missing Python module '{missing}': install it from Preferences › Add-ons › "
                "3D Photo (Install OpenCV + Pillow / PyTorch + transformers)")
        except MemoryError:
            result, state, error = None, ERROR, "out of memory: try a smaller depth resolution"
        except Exception as exc:  # a bug: keep Blender alive, say what happened
            traceback.print_exc()
            result, state, error = None, ERROR, f"internal error: {type(exc).__name__}: {exc}"
        with self._lock:
            self.result, self.state, self.error = result, state, error
        self._finished.set()

    # -- main-thread side ------------------------------------------------------------------
    def start(self) -> "Job":
        """Run in a daemon thread; returns self."""
        self._thread = threading.Thread(target=self._run, name=f"depth3d: {self.name}", daemon=True)
        self._thread.start()
        return self

    def run_sync(self) -> "Job":
        """Run on the calling thread (background mode); returns self with state set."""
        self._run()
        return self

    def cancel(self) -> None:
        """Ask the work to stop at its next progress call."""
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancel.is_set()

    def poll(self) -> str:
        """Current state: 'running', 'done', 'error' or 'cancelled' (non-blocking)."""
        with self._lock:
            return self.state

    def wait(self, timeout: Optional[float] = None) -> str:
        """Block until finished (tests, background mode); returns the state."""
        self._finished.wait(timeout)
        return self.poll()


#: the job the panel shows (one at a time)
CURRENT: Optional[Job] = None


def start(job: Job, *, background: bool) -> Job:
    """Make ``job`` the current one and run it (synchronously when ``background``).

    Raises:
        DepthAddonError: another job is still running.
    """
    global CURRENT
    if CURRENT is not None and CURRENT.poll() == RUNNING:
        raise DepthAddonError(f"{CURRENT.name} is still running; wait or press Cancel")
    CURRENT = job
    return job.run_sync() if background else job.start()


def cancel_current() -> bool:
    """Cancel the current job if it runs; returns whether there was one."""
    if CURRENT is not None and CURRENT.poll() == RUNNING:
        CURRENT.cancel()
        return True
    return False
