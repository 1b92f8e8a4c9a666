"""Errors the user can act on, each with the exit code of DESIGN.md §4.

Anything raised from the engine that is not one of these is a bug: the command line and the GUI
log it with its traceback. These are shown as one readable line.
"""

from __future__ import annotations


EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE: a bug, not a condition of the data, the database or monday


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


class CustomerBusy(OrderSyncError):
    """Another live batch (fresh heartbeat) owns the customer."""

    exit_code = 1


class BatchTakenOver(OrderSyncError):
    """Another process resumed this batch (our heartbeat went stale): stop without writing more."""

    exit_code = 1
