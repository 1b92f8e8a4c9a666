"""Errors the user can act on, each with the exit code of DESIGN.md §4.

Anything raised from the engine that is not one of these is a bug: the command line and the GUI
log it with its traceback. These are shown as one readable line.
"""

from __future__ import annotations

EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE: a bug, not a condition of the data, the database or monday

# What each exit code means, one thing each: the README's table and `--help` say exactly this.
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (
        0,
        ("every line of the customers in this run is on the board; nothing is held back and no error is open for them"),
    ),
    (
        1,
        (
            "the run finished, and some lines are held back (invalid) or failed; they are in the error tables "
            "(`status` lists them)"
        ),
    ),
    (
        2,
        (
            "a usage or settings error, including: no settings file, a board that does not exist or that the token "
            "cannot see, a mapped title or the subitems column missing on the board, a token refused as malformed, "
            "a database that refuses OrderSync (read-only, no permission), OrderSync's tables missing or older than "
            "the program (`db upgrade`)"
        ),
    ),
    (
        3,
        (
            "the database or monday could not be reached (connection-level only), or refused the login or the "
            "token; nothing was lost, and the batch resumes on the next run"
        ),
    ),
    (4, "nothing was run for some customers because another workstation holds them (or took the batch over)"),
    (
        70,
        (
            "a bug in OrderSync, including a request monday refused as invalid and an integrity or programming "
            "error of the database: one line on stderr, the traceback in the log file"
        ),
    ),
    (130, "interrupted a second time with Ctrl+C"),
)


class Bug(Exception):
    """A defect in OrderSync, never a condition the user can change (exit 70): one line on stderr, the
    traceback in the log file. A request monday refused as invalid is one (``InvalidRequest``). Anything
    raised that is neither an ``OrderSyncError`` nor a monday error is treated as a bug too."""

    exit_code = EXIT_INTERNAL


class OrderSyncError(Exception):
    """An error with a message meant for the user and the process exit code it maps to."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SettingsError(OrderSyncError):
    """A bad settings file, mapping file or command-line usage (exit 2)."""

    exit_code = 2


class SchemaError(SettingsError):
    """OrderSync's own tables are missing or older than this program (exit 2)."""


class DatabaseUnavailable(OrderSyncError):
    """The database could not be reached; nothing was changed (exit 3)."""

    exit_code = 3


class DatabaseRefused(SettingsError):
    """The database is there but refuses OrderSync: read-only, a missing permission, no such database (exit 2)."""


class BoardMismatch(SettingsError):
    """The board does not exist, the token cannot see it, or it lacks what the mapping needs (exit 2)."""


class CustomerBusy(OrderSyncError):
    """Another live batch (fresh heartbeat) owns the customer."""

    exit_code = 1


class BatchTakenOver(OrderSyncError):
    """Another process resumed this batch (our heartbeat went stale): stop without writing more."""

    exit_code = 1
