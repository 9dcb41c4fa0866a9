"""Many photos in one command: ``python -m depth_addon PHOTO... | FOLDER... -o OUT_FOLDER/``.

The CLI's single-photo path (:func:`depth_addon.cli.run`) is called once per item in this process,
so the depth model is loaded once (:func:`depth_addon.core.monocular.load_model` caches it) and
each photo's scene, objects and orphan data are removed after it is rendered (memory stays flat).

- Inputs: files and folders in the order given; a folder's pictures sorted by name, then (with
  ``--recursive``) its sub-folders by name; hidden files and folders are ignored; duplicates are
  dropped. The order is stable, so
  ``--shard I/N`` (every N-th item starting at I, 0-based) splits a batch with no coordination.
- Outputs: ``--pattern`` (default ``{stem}_3d.mp4``) in the output folder (``-o DIR/``), or next to
  each photo without ``-o``; ``--recursive`` mirrors the input's sub-folders. An existing output is
  skipped unless ``--overwrite``; videos are written under a temporary name and renamed when
  complete (:func:`depth_addon.blender.render.render_animation`), so an interrupted run leaves
  no half-written file under a final name and rerunning it finishes the rest.
- One item's failure is one line (``failed [k/N] NAME: reason``) and the batch goes on; the summary
  lists done / skipped / failed with reasons. Exit codes: :data:`EXIT_OK`, :data:`EXIT_FAILED`,
  :data:`EXIT_USAGE`, :data:`EXIT_INTERRUPTED`.
- ``--jobs N`` runs N worker processes, each the same command on a sub-shard; the parent reports
  their items as they finish and restarts a worker that crashed, without the item it crashed on.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

from .core.errors import DepthAddonError

#: nothing failed (every item was rendered or skipped because its output exists)
EXIT_OK = 0
#: at least one item failed (the others were rendered)
EXIT_FAILED = 1
#: bad options or no inputs: nothing was attempted
EXIT_USAGE = 2
#: interrupted (Ctrl+C / SIGTERM): finished items are kept, rerun to finish the rest
EXIT_INTERRUPTED = 130

#: extensions a folder scan picks up (a file given by name is tried whatever its extension)
PHOTO_EXTS = (".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".bmp", ".mpo",
              ".heic", ".heif", ".hif", ".avif")
DEFAULT_PATTERN = "{stem}_3d.mp4"
#: options naming one file per photo: in a batch they must be patterns (``{stem}``, ``{dir}``)
PER_ITEM_OPTIONS = ("depth", "right", "export_depth", "export_ply", "save_blend")

EXIT_HELP = (f"exit codes: {EXIT_OK} = every photo rendered or skipped (output exists); "
             f"{EXIT_FAILED} = some photos failed (each reported on one line, the rest rendered); "
             f"{EXIT_USAGE} = bad options or nothing to do (nothing rendered); "
             f"{EXIT_INTERRUPTED} = interrupted (Ctrl+C/SIGTERM; rerun to finish the rest)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the batch options (group "many photos") and the exit codes epilog to the CLI parser."""
    b = parser.add_argument_group(
        "many photos (batch)",
        "a batch runs when several IMAGEs or a folder are given, or when -o ends in '/' "
        "(an output folder for videos). One IMAGE with -o DIR (no trailing '/') keeps its meaning: "
        "that photo's PNG frames in DIR.")
    b.add_argument("--recursive", "-r", action="store_true",
                   help="also take pictures from sub-folders (outputs mirror the sub-folders)")
    b.add_argument("--pattern", default=DEFAULT_PATTERN,
                   help="output name per photo, .mp4; fields {stem} {name} {ext} "
                        "(default %(default)s)")
    b.add_argument("--shard", metavar="I/N",
                   help="only every N-th photo starting at I (0-based, stable order): run "
                        "I = 0..N-1 anywhere, with no coordination, to split a batch")
    b.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                   help="render N photos at a time in N worker processes (default 1: one process)")
    b.add_argument("--dry-run", action="store_true",
                   help="list each photo of this shard with its output and what would happen")
    b.add_argument("--batch-report", help=argparse.SUPPRESS)   # worker -> parent, JSON lines
    b.add_argument("--batch-exclude", help=argparse.SUPPRESS)  # parent -> worker, one path a line
    ep = parser.epilog or ""
    parser.epilog = (ep + "\n" if ep else "") + EXIT_HELP


def is_batch(args: argparse.Namespace) -> bool:
    """True when the parsed arguments ask for a batch (several images, a folder, an output folder
    ``-o DIR/``, or any batch-only option) rather than the single-photo path."""
    images = _images(args)
    out = args.output or ""
    return (len(images) > 1 or any(os.path.isdir(os.path.expanduser(i)) for i in images)
            or out.endswith(("/", os.sep)) or bool(args.shard) or args.jobs != 1
            or bool(args.dry_run) or bool(args.recursive) or args.pattern != DEFAULT_PATTERN)


def _images(args) -> List[str]:
    img = args.image
    if img is None:
        return []
    return [img] if isinstance(img, str) else list(img)


# --- items -------------------------------------------------------------------------------------

@dataclasses.dataclass
class Item:
    """One photo of a batch.

    Attributes:
        src: absolute path of the picture (or of the folder / missing path an error is about).
        name: how lines name it (the path as the user typed it, or relative to its input folder).
        out: absolute path of the output video ('' when ``error`` is set before any work).
        error: set when collecting already knows the item fails (missing path, no pictures, a
            folder named like a picture, two photos with one output name).
        fields: pattern fields {stem} {name} {ext} {dir} (the photo's folder).
    """

    src: str
    name: str
    out: str = ""
    error: Optional[str] = None
    fields: Dict[str, str] = dataclasses.field(default_factory=dict)


def parse_shard(text: Optional[str]) -> Tuple[int, int]:
    """``"I/N"`` -> (I, N) with 0 <= I < N; None -> (0, 1).

    Raises:
        DepthAddonError: not of the form I/N with integers 0 <= I < N.
    """
    if not text:
        return 0, 1
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise DepthAddonError(f"--shard must look like I/N (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise DepthAddonError(f"--shard I/N needs 0 <= I < N (I counts from 0), got {text!r}")
    return i, n


def _scan(folder: str, recursive: bool) -> Tuple[List[str], List[str]]:
    """Pictures under ``folder`` sorted by relative path, and entries named like a picture that
    are not files (a folder called x.jpg when not recursing, a broken link)."""
    found, odd = [], []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        names = sorted(files + ([] if recursive else dirs))
        for f in names:
            if f.startswith(".") or os.path.splitext(f)[1].lower() not in PHOTO_EXTS:
                continue
            p = os.path.join(root, f)
            (found if os.path.isfile(p) else odd).append(p)
        if not recursive:
            break
    return found, odd


def _not_a_file(path: str) -> str:
    if os.path.isdir(path):
        return "is a folder, not a picture (add --recursive to look inside it)"
    if os.path.islink(path) and not os.path.exists(path):
        return "is a broken link"
    return "is not a regular file (a FIFO, socket or device)"


def collect(inputs: Sequence[str], *, recursive: bool = False, output: Optional[str] = None,
            pattern: str = DEFAULT_PATTERN) -> List[Item]:
    """The batch's items in a stable order, each with its output path.

    Args:
        inputs: files and folders as the user gave them (``~`` expanded).
        recursive: descend into sub-folders of folder inputs.
        output: output folder (created later), or None to write next to each photo.
        pattern: output file name per photo with fields {stem} {name} {ext}; must end in .mp4.
    Returns:
        list of :class:`Item` in input order, a folder's pictures by name and then its
        sub-folders' by name; items
        that already fail (missing path, folder without pictures, two photos with the same output)
        carry ``error``.
    Raises:
        DepthAddonError: bad pattern (unknown field, not .mp4).
    """
    if not pattern.lower().endswith(".mp4"):
        raise DepthAddonError(f"--pattern must name an .mp4 file, got {pattern!r}")
    try:
        pattern.format(stem="s", name="n", ext="e")
    except (KeyError, IndexError, ValueError) as exc:
        raise DepthAddonError(f"--pattern {pattern!r}: unknown field {exc}; use {{stem}} {{name}} "
                              "{ext}") from None
    items: List[Item] = []
    seen = set()
    for raw in inputs:
        p = os.path.abspath(os.path.expanduser(raw))
        if os.path.isdir(p):
            found, odd = _scan(p, recursive)
            if not found and not odd:
                hint = "" if recursive else "; add --recursive for sub-folders"
                items.append(Item(p, raw, error=f"no pictures in this folder (looked for "
                                                f"{' '.join(PHOTO_EXTS[:6])} …{hint})"))
            for f in odd:
                items.append(Item(f, os.path.relpath(f, os.path.dirname(p)),
                                  error=_not_a_file(f)))
            pairs = [(f, p) for f in found]
        elif os.path.isfile(p):
            pairs = [(p, os.path.dirname(p))]
        elif os.path.lexists(p):  # opening a FIFO would block: never try
            items.append(Item(p, raw, error="is a broken link" if os.path.islink(p) else
                              "is not a regular file (a FIFO, socket or device)"))
            continue
        else:
            items.append(Item(p, raw, error="no such file or folder"))
            continue
        for f, base in pairs:
            key = os.path.realpath(f)
            if key in seen:
                continue
            seen.add(key)
            stem, ext = os.path.splitext(os.path.basename(f))
            fields = dict(stem=stem, name=os.path.basename(f), ext=ext.lstrip("."),
                          dir=os.path.dirname(f))
            name = raw if base == os.path.dirname(p) and f == p else os.path.relpath(
                f, os.path.dirname(base))
            out_dir = (os.path.join(os.path.abspath(os.path.expanduser(output)),
                                    os.path.relpath(os.path.dirname(f), base))
                       if output else os.path.dirname(f))
            out = os.path.normpath(os.path.join(out_dir, pattern.format(**fields)))
            items.append(Item(f, name, out, fields=fields))
    owner: Dict[str, str] = {}
    for it in items:
        if it.error or not it.out:
            continue
        if it.out in owner:
            it.error = (f"its output {it.out} is also {owner[it.out]}'s; use e.g. "
                        "--pattern '{stem}_{ext}_3d.mp4'")
        else:
            owner[it.out] = it.name
    return items


def shard(items: Sequence[Item], i: int, n: int) -> List[Item]:
    """Every n-th item starting at index i (0-based) of the stable list."""
    return list(items[i::n])


# --- running -----------------------------------------------------------------------------------

def _fmt_time(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class _Tally:
    """Counts, reasons and the whole batch's progress line (items done, ETA)."""

    def __init__(self, total: int, quiet: bool, stream=None):
        self.total, self.quiet = total, quiet
        self.t0 = time.perf_counter()
        self.results: List[dict] = []
        self.stream = stream or sys.stdout

    def add(self, rec: dict) -> None:
        self.results.append(rec)
        k = len(self.results)
        st = rec["status"]
        left = self.total - k
        eta = ""
        if left:  # the mean time of the items so far (failures and skips are quick)
            eta = f", ETA {_fmt_time((time.perf_counter() - self.t0) / k * left)}"
        if st == "done":
            line = f"done    [{k}/{self.total}] {rec['name']} -> {rec['out']} ({rec['seconds']:.1f} s{eta})"
            print(line, file=self.stream, flush=True)
        elif st == "skipped":
            if not self.quiet:
                print(f"skipped [{k}/{self.total}] {rec['name']}: {rec['reason']}", file=self.stream,
                      flush=True)
        else:
            print(f"failed  [{k}/{self.total}] {rec['name']}: {rec['reason']}", file=sys.stderr,
                  flush=True)

    def summary(self, interrupted: bool = False) -> str:
        by = {s: [r for r in self.results if r["status"] == s] for s in ("done", "skipped", "failed")}
        not_run = self.total - len(self.results)
        head = (f"batch: {len(by['done'])} done, {len(by['skipped'])} skipped, "
                f"{len(by['failed'])} failed" + (f", {not_run} not run (interrupted)" if not_run
                                                  else "")
                + f" of {self.total} in {_fmt_time(time.perf_counter() - self.t0)}")
        lines = [head]
        reasons: Dict[str, int] = {}
        for r in by["skipped"]:
            reasons[r["reason"].split(":")[0]] = reasons.get(r["reason"].split(":")[0], 0) + 1
        for why, c in reasons.items():
            lines.append(f"  skipped {c}: {why}")
        for r in by["failed"]:
            lines.append(f"  failed {r['name']}: {r['reason']}")
        if interrupted or not_run:
            lines.append("  interrupted: rerun the same command to finish the rest")
        return "\n".join(lines)

    def code(self, interrupted: bool) -> int:
        if interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if any(r["status"] == "failed" for r in self.results) else EXIT_OK


def _item_args(args: argparse.Namespace, it: Item) -> argparse.Namespace:
    """The single-photo arguments of one item: its image, its output, per-item patterns filled."""
    a = copy.copy(args)
    a.image = [it.src]
    a.output = it.out
    fields = dict(it.fields, out=os.path.dirname(it.out))
    for opt in PER_ITEM_OPTIONS:
        v = getattr(args, opt, None)
        if v:
            setattr(a, opt, os.path.expanduser(v.format(**fields)))
    return a


def _cleanup(scenes_before) -> None:
    """Remove what one item left in bpy.data: its scene, generated objects and orphan data."""
    import bpy

    from .blender import scene as bscene
    bscene.remove_generated()
    for sc in [s for s in bpy.data.scenes if s.as_pointer() not in scenes_before]:
        if len(bpy.data.scenes) > 1:
            bpy.data.scenes.remove(sc)
    bpy.data.orphans_purge(do_local_ids=True, do_linked_ids=True, do_recursive=True)


def run_item(args: argparse.Namespace, it: Item) -> dict:
    """Render one item in this process; never raises for the item's own failure.

    Returns:
        dict with ``status`` 'done' | 'skipped' | 'failed', ``reason`` (one line), ``out``,
        ``seconds`` (wall time), ``name`` and ``src``.
    Raises:
        KeyboardInterrupt: Ctrl+C (the item's temporary files may remain, never its final file).
    """
    from . import cli

    rec = dict(src=it.src, name=it.name, out=it.out, status="failed", reason="", seconds=0.0)
    if it.error:
        rec["reason"] = it.error
        return rec
    if os.path.exists(it.out) and not args.overwrite:
        rec.update(status="skipped", reason="output exists (pass --overwrite to replace it): "
                                            + it.out)
        return rec
    t0 = time.perf_counter()
    scenes_before = None
    try:
        import bpy
        scenes_before = {s.as_pointer() for s in bpy.data.scenes}
        os.makedirs(os.path.dirname(it.out), exist_ok=True)
        cli.run(_item_args(args, it))
        check_video(it.out, max(1, int(round(args.seconds * args.fps))))
        rec.update(status="done")
    except (DepthAddonError, OSError, MemoryError) as exc:
        rec["reason"] = _one_line(exc)
        if rec["reason"].startswith(it.src + " "):  # the line names the item already
            rec["reason"] = rec["reason"][len(it.src) + 1:]
        rec["reason"] += _disk_hint(it.out)
    except Exception as exc:  # a bug: still one line, and the batch goes on
        rec["reason"] = f"internal error {type(exc).__name__}: {_one_line(exc)}"
    finally:
        rec["seconds"] = time.perf_counter() - t0
        if scenes_before is not None:
            try:
                _cleanup(scenes_before)
            except Exception as exc:  # pragma: no cover - never seen; do not hide it
                print(f"notice: cleanup after {it.name} failed: {_one_line(exc)}", file=sys.stderr)
    return rec


def check_video(path: str, frames: int) -> None:
    """Check that the video a render wrote is complete; remove it when it is not.

    A full disk truncates the MP4 while Blender still reports success (seen here on a 60 kB
    tmpfs): the file then lacks its index or frames, and a rerun would skip it as done.

    Args:
        path: the MP4 file just written.
        frames: how many frames it must hold.
    Raises:
        DepthAddonError: the file cannot be opened as a video or holds fewer than ``frames``
            frames (the file is deleted first: this run wrote it).
    """
    import cv2

    sys.stderr.flush()
    saved = os.dup(2)  # FFmpeg logs "moov atom not found" to fd 2 on a truncated file
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        cap = cv2.VideoCapture(path)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else -1
        cap.release()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    if n >= frames:
        return
    try:
        os.remove(path)
    except OSError:
        pass
    got = "is not a readable MP4" if n < 0 else f"holds {n} of {frames} frames"
    raise DepthAddonError(f"the rendered video is incomplete ({got}); removed it")


def _disk_hint(path: str) -> str:
    """' (the disk holding PATH is full: N kB free)' when under 1 MB is free, else ''."""
    try:
        free = shutil.disk_usage(os.path.dirname(path) or ".").free
    except OSError:
        return ""
    return f" (the disk holding {os.path.dirname(path)} is full: {free // 1024} kB free)" \
        if free < 1 << 20 else ""


def _one_line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return msg[0] if msg else type(exc).__name__


def _check_options(args: argparse.Namespace) -> None:
    for opt in PER_ITEM_OPTIONS:
        v = getattr(args, opt, None)
        if v and "{" not in v:
            flag = "--" + opt.replace("_", "-")
            raise DepthAddonError(f"{flag} names one file; in a batch give a pattern, e.g. "
                                  f"{flag} '{{dir}}/{{stem}}_x{os.path.splitext(v)[1] or '.png'}' "
                                  "(fields {stem} {name} {ext} {dir} {out})")
        if v:
            try:
                v.format(stem="s", name="n", ext="e", dir="d", out="o")
            except (KeyError, IndexError, ValueError) as exc:
                raise DepthAddonError(f"--{opt.replace('_', '-')} {v!r}: unknown field {exc}; use "
                                      "{stem} {name} {ext} {dir} {out}") from None
    if args.no_render:
        raise DepthAddonError("--no-render is not supported in a batch (a batch renders videos)")
    if args.jobs < 1:
        raise DepthAddonError(f"--jobs must be at least 1, got {args.jobs}")
    if not _images(args):
        raise DepthAddonError("a batch needs IMAGEs or folders (the bundled example is one photo)")


def _prepare_output(args) -> Optional[str]:
    if not args.output:
        return None
    out = os.path.abspath(os.path.expanduser(args.output))
    if os.path.splitext(out)[1].lower() == ".mp4":
        raise DepthAddonError(f"-o {args.output}: a batch writes one video per photo; give an "
                              "output folder ending in '/' and --pattern for the names")
    if os.path.exists(out) and not os.path.isdir(out):
        raise DepthAddonError(f"-o {args.output} exists and is not a folder")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise DepthAddonError(f"cannot create output folder {out}: {exc.strerror}") from None
    from .core.files import check_writable_folder
    check_writable_folder(out)  # "output folder … is not writable (a read-only file system)"
    return out


def main(args: argparse.Namespace, argv: Sequence[str], prog: str = "python -m depth_addon") -> int:
    """Run a batch: one line per item (done on stdout, failed on stderr) and a summary on stdout.

    Args:
        args: the CLI's parsed arguments (:func:`depth_addon.cli.build_parser` with
            :func:`add_arguments`); ``args.image`` is the list of files and folders.
        argv: the command line as given (the ``--jobs`` workers rerun it with ``--shard``).
        prog: ``"python -m depth_addon"`` or ``"blender -b -c depth3d"`` (how workers start).
    Returns:
        exit code: EXIT_OK (0), EXIT_FAILED (1), EXIT_USAGE (2) or EXIT_INTERRUPTED (130).
        Never raises for a bad photo, bad options or Ctrl+C/SIGTERM.
    """
    log = logging.getLogger("depth_addon")
    handler = _NoticeHandler()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    old_term = None
    try:
        try:
            _check_options(args)
            i, n = parse_shard(args.shard)
            if not args.dry_run:
                _prepare_output(args)
            items = collect(_images(args), recursive=args.recursive,
                            output=args.output and os.path.abspath(os.path.expanduser(args.output)),
                            pattern=args.pattern)
            exclude = set()
            if args.batch_exclude and os.path.exists(args.batch_exclude):
                with open(args.batch_exclude) as fh:
                    exclude = {ln.rstrip("\n") for ln in fh if ln.strip()}
            mine = [it for it in shard(items, i, n) if it.src not in exclude]
        except DepthAddonError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if args.dry_run:
            for k, it in enumerate(mine, 1):
                what = (f"fails: {it.error}" if it.error else
                        "skip (output exists)" if os.path.exists(it.out) and not args.overwrite
                        else "render")
                print(f"[{k}/{len(mine)}] {it.src} -> {it.out or '-'}: {what}")
            return EXIT_OK
        if args.jobs > 1 and len(mine) > 1:
            if _on_main_thread():  # SIGTERM (a farm cancelling a task) stops like Ctrl+C
                old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
            return _run_workers(args, argv, prog, i, n, len(mine))
        return _run_here(args, mine)
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        log.removeHandler(handler)


def _on_main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


class _NoticeHandler(logging.Handler):
    item = ""

    def emit(self, record):
        print(f"notice: {_NoticeHandler.item}{record.getMessage()}", file=sys.stderr)


def _report(fh, rec: dict) -> None:
    if fh is not None:
        fh.write(json.dumps(rec) + "\n")
        fh.flush()


class _Interrupts:
    """Ctrl+C / SIGTERM while a batch runs in this process.

    Outside a render the first signal raises KeyboardInterrupt at once. During a render it cannot:
    Blender calls Python only in its per-frame handler and swallows what that raises (the render
    would go on and the batch with it). So there the first signal asks the batch to stop when the
    video being rendered is complete, and a second one ends the process at once (exit code 130;
    the unfinished video stays in its hidden temporary folder, never under its final name).
    The render state comes from render_init / render_complete / render_cancel handlers, which
    :meth:`uninstall` removes again (bpy 4.2 crashes at exit when a Python handler is left).
    """

    def __init__(self):
        self.rendering = False
        self.requested = 0
        self._old = {}
        self._handlers = []

    def install(self) -> None:
        if not _on_main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) is signal.SIG_IGN:  # e.g. nohup / a background job: keep it
                continue
            self._old[sig] = signal.signal(sig, self._on_signal)
        try:
            import bpy
        except ImportError:  # pragma: no cover - the batch renders with bpy
            return
        for name, state in (("render_init", True), ("render_complete", False),
                            ("render_cancel", False)):
            def h(*_a, _state=state):
                self.rendering = _state
            getattr(bpy.app.handlers, name).append(h)
            self._handlers.append((name, h))

    def uninstall(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
        if self._handlers:
            import bpy
            for name, h in self._handlers:
                lst = getattr(bpy.app.handlers, name)
                if h in lst:
                    lst.remove(h)
            self._handlers.clear()

    def _on_signal(self, signum, frame):
        self.requested += 1
        in_call, parallel = _render_state()
        if not (self.rendering or in_call):
            raise KeyboardInterrupt
        if self.requested == 1:
            print("notice: stopping when the video being rendered is complete; press Ctrl+C "
                  "again to stop at once", file=sys.stderr, flush=True)
            return
        if parallel:  # its helper processes must not go on rendering after this process ends
            from .blender.render import kill_helpers
            kill_helpers()
        print("error: interrupted during a render (its unfinished video stays in a hidden "
              ".depth3d-* folder, never under its name)", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(EXIT_INTERRUPTED)


def _render_state() -> tuple:
    """(a render is running, in parallel processes) from :func:`blender.render.rendering`."""
    try:
        from .blender.render import rendering
    except ImportError:  # pragma: no cover - bpy missing: nothing renders
        return False, False
    return rendering()


def _run_here(args: argparse.Namespace, items: Sequence[Item]) -> int:
    tally = _Tally(len(items), args.quiet)
    report = open(args.batch_report, "a") if args.batch_report else None
    interrupted = False
    stop = _Interrupts()
    stop.install()
    try:
        for it in items:
            if stop.requested:
                raise KeyboardInterrupt
            _report(report, dict(event="start", src=it.src))
            _NoticeHandler.item = f"{it.name}: "
            rec = run_item(args, it)
            _NoticeHandler.item = ""
            _report(report, dict(rec, event="end"))
            tally.add(rec)
    except KeyboardInterrupt:
        interrupted = True
        print("error: interrupted", file=sys.stderr)
    finally:
        stop.uninstall()
        if report is not None:
            report.close()
    print(tally.summary(interrupted or bool(stop.requested)))
    return tally.code(interrupted or bool(stop.requested))


# --- worker processes (--jobs N) ---------------------------------------------------------------

def _worker_command(prog: str) -> List[str]:
    """How to start this same program again: ``python -m depth_addon`` or
    ``blender -b -c depth3d`` (bpy.app.binary_path) when running inside Blender."""
    if prog.startswith("blender"):
        import bpy
        if bpy.app.binary_path:
            return [bpy.app.binary_path, "-b", "-c", "depth3d"]
    return [sys.executable, "-m", __package__]


def _run_workers(args, argv, prog: str, i: int, n: int, total: int) -> int:
    """Start ``args.jobs`` workers on the sub-shards (i + j*n)/(n*jobs), report their items as
    they finish, restart a worker that crashed (without the item it was on)."""
    jobs = min(args.jobs, total)
    tmp = tempfile.mkdtemp(prefix="depth3d-batch-")
    env = dict(os.environ)
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    env.setdefault("OMP_NUM_THREADS", str(threads))
    tally = _Tally(total, args.quiet)
    workers = []
    for j in range(jobs):
        w = dict(shard=f"{i + j * n}/{n * jobs}", report=os.path.join(tmp, f"w{j}.jsonl"),
                 exclude=os.path.join(tmp, f"w{j}.exclude"), log=os.path.join(tmp, f"w{j}.log"),
                 pos=0, current=None, seen=set(), proc=None, restarts=0)
        open(w["exclude"], "w").close()
        workers.append(w)

    def start(w):
        cmd = (_worker_command(prog) + list(argv) +
               ["--jobs", "1", "--shard", w["shard"], "-q", "--batch-report", w["report"],
                "--batch-exclude", w["exclude"]])
        logf = open(w["log"], "ab")
        w["proc"] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=subprocess.STDOUT, env=env)
        logf.close()

    def drain(w):
        if not os.path.exists(w["report"]):
            return
        with open(w["report"]) as fh:
            fh.seek(w["pos"])
            while True:
                line = fh.readline()
                if not line.endswith("\n"):
                    break
                w["pos"] = fh.tell()
                rec = json.loads(line)
                if rec["event"] == "start":
                    w["current"] = rec["src"]
                else:
                    w["current"] = None
                    w["seen"].add(rec["src"])
                    rec.pop("event")
                    tally.add(rec)

    for w in workers:
        start(w)
    interrupted = False
    try:
        while any(w["proc"] is not None for w in workers):
            time.sleep(0.3)
            for w in workers:
                drain(w)
                p = w["proc"]
                if p is None or p.poll() is None:
                    continue
                drain(w)
                w["proc"] = None
                if p.returncode in (EXIT_OK, EXIT_FAILED):
                    continue
                if p.returncode == EXIT_INTERRUPTED:
                    interrupted = True
                    continue
                # crashed (signal, segfault, out of memory): the item it was on fails, restart
                why = (f"signal {-p.returncode}" if p.returncode < 0 else f"exit code {p.returncode}")
                if w["current"] is not None:
                    src = w["current"]
                    w["seen"].add(src)
                    tally.add(dict(src=src, name=os.path.basename(src), out="", status="failed",
                                   reason=f"worker process crashed on it ({why}); log: {w['log']}",
                                   seconds=0.0))
                    w["current"] = None
                    with open(w["exclude"], "w") as fh:
                        fh.writelines(s + "\n" for s in sorted(w["seen"]))
                    if w["restarts"] < 20:
                        w["restarts"] += 1
                        start(w)
                        continue
                print(f"error: worker {w['shard']} stopped ({why}); its log: {w['log']}",
                      file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        for w in workers:
            if w["proc"] is not None and w["proc"].poll() is None:
                w["proc"].send_signal(signal.SIGTERM)
        for w in workers:
            if w["proc"] is not None:
                try:
                    w["proc"].wait(timeout=60)
                except subprocess.TimeoutExpired:
                    w["proc"].kill()
                drain(w)
        print("error: interrupted", file=sys.stderr)
    if len(tally.results) < total and not interrupted:
        print(f"notice: worker logs in {tmp}", file=sys.stderr)
    print(tally.summary(interrupted))
    return tally.code(interrupted)
