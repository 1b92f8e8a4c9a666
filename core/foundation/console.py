"""Standard streams for the windowed Windows build, which starts without a console.

The one executable serves planners (a double click: the window, no console) and schedulers and
operators (``OrderSync.exe sync --all`` from a console, a .bat file or Task Scheduler). A windowed
program's ``sys.stdout`` and ``sys.stderr`` are None unless its caller redirected them, so a
sub-command attaches to the console of the process that started it and writes there. Without a
console (Task Scheduler, a shortcut) the streams go nowhere; the log file has everything.
Elsewhere, and when the streams are already there (redirected, or a console build), nothing changes.
"""

from __future__ import annotations

import os
import sys
from typing import Literal, TextIO

ATTACH_PARENT_PROCESS = -1


def _open_stream(path: str, mode: Literal["r", "w"], errors: str | None = None, buffering: int = -1) -> TextIO:
    """A standard stream opened as UTF-8 text; it stays open for the life of the process."""
    return open(path, mode, encoding="utf-8", errors=errors, buffering=buffering)  # a process-long stream, never closed


def attach_parent_console() -> bool:
    """Give a sub-command of the windowed build its caller's console; True when it was attached."""
    if sys.stdout is not None and sys.stderr is not None:
        return False
    attached = False
    if sys.platform == "win32":  # os.name == "nt", in the form mypy follows
        import ctypes

        attached = bool(ctypes.windll.kernel32.AttachConsole(ATTACH_PARENT_PROCESS))
    if attached:
        if sys.stdout is None:
            sys.stdout = _open_stream("CONOUT$", "w", errors="replace", buffering=1)
        if sys.stderr is None:
            sys.stderr = _open_stream("CONOUT$", "w", errors="replace", buffering=1)
        if sys.stdin is None:
            sys.stdin = _open_stream("CONIN$", "r", errors="replace")
    quiet_missing_streams()
    return attached


def quiet_missing_streams() -> None:
    """Streams that are still None become sinks, so a stray write cannot crash the program."""
    if sys.stdout is None:
        sys.stdout = _open_stream(os.devnull, "w")
    if sys.stderr is None:
        sys.stderr = _open_stream(os.devnull, "w")
