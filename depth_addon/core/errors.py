"""Errors and notices shared by every layer.

A :class:`DepthAddonError` is a user-facing failure: its message is one line that says what was
wrong and what to do. The CLI prints it without a traceback and exits non-zero; the operators show it
with ``self.report({'ERROR'}, ...)``. Anything else that escapes is a bug.

Notices (an image was downscaled, a depth map was resized ...) go to the ``depth_addon`` logger at
INFO level through :func:`notice`; the CLI prints them as ``notice: ...``.
"""
from __future__ import annotations

import logging

LOG = logging.getLogger("depth_addon")


class DepthAddonError(Exception):
    """A failure caused by the user's input or environment, with a one-line message for them."""


class InputError(DepthAddonError, ValueError):
    """An input file, option or array is invalid (missing, unreadable, wrong size, bad value)."""


class ModelError(DepthAddonError):
    """A depth model cannot be loaded or run (offline hub id, not a model folder, torch missing)."""


class Cancelled(DepthAddonError):
    """The user cancelled a long step (raised from a progress callback)."""


def notice(message: str) -> None:
    """Report a non-fatal adjustment to the user (printed by the CLI, shown by the UI)."""
    LOG.info(message)
