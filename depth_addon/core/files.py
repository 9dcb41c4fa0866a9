"""Checks before writing a file, shared by every writer (CLI outputs, depth maps, PLY, videos):
nothing of the user's is overwritten unless they asked for it."""
from __future__ import annotations

import os
from typing import Optional, Sequence

from .errors import InputError


def check_new_file(path, *, overwrite: bool = False, exts: Optional[Sequence[str]] = None,
                   what: str = "output file") -> str:
    """Validate an output path and return it absolute.

    Args:
        path: file to write (str or os.PathLike; ``~`` is expanded).
        overwrite: allow replacing an existing file.
        exts: allowed lower-case extensions with the dot (None = any).
        what: how the message names the file ("depth file", "PLY file" …).
    Returns:
        the absolute path.
    Raises:
        InputError: wrong extension, missing folder, path is a folder, or the file exists and
            ``overwrite`` is False.
    """
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if exts is not None and os.path.splitext(path)[1].lower() not in exts:
        raise InputError(f"{what} must end in {' / '.join(exts)}: {path}")
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise InputError(f"folder {folder} does not exist; create it or choose another {what}")
    check_writable_folder(folder)
    if os.path.isdir(path):
        raise InputError(f"{path} is a folder; give a file name for the {what}")
    if os.path.exists(path) and not overwrite:
        raise InputError(f"{path} exists; pass --overwrite to replace it")
    return path


def check_writable_folder(folder: str) -> None:
    """Raise InputError when files cannot be created in ``folder`` (read-only file system, or no
    permission), before any work is done."""
    if os.access(folder, os.W_OK | os.X_OK):
        return
    try:
        ro = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        ro = False
    raise InputError(f"output folder {folder} is not writable "
                     f"({'a read-only file system' if ro else 'permission denied'})")


#: file-name suffixes of the left and right views of ``--stereo lr`` (Blender's own view suffixes)
VIEW_SUFFIXES = ("_L", "_R")


def view_paths(path: str, suffixes: Sequence[str]) -> list:
    """The files a render writes for ``path`` when each view goes to its own file:
    ``NAME.mp4`` -> ``NAME_L.mp4``, ``NAME_R.mp4`` for suffixes ("_L", "_R"); ``[path]`` for
    ``[""]`` (one picture per frame)."""
    stem, ext = os.path.splitext(path)
    return [f"{stem}{s}{ext}" for s in suffixes] if list(suffixes) != [""] else [path]
