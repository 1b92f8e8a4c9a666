"""What a run reports: progress sinks, the result of each customer's batch, and the exit code of a run.

``BatchProcessor`` (``core.push.run``) reports to a ``ProgressSink``: the GUI adapts it to Qt
signals, the command line prints (``PrintProgress``). Each customer ends in a ``BatchResult``; the
run's exit code is the worst of them (DESIGN.md §4).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from core.db import schema as s
from core.foundation.exceptions import EXIT_INTERNAL, DatabaseUnavailable, OrderSyncError, SettingsError
from core.monday.errors import AuthError, InvalidRequest, MondayError


class ProgressSink(Protocol):
    """Where the orchestrator reports progress. The GUI adapts it to Qt signals; the CLI prints.

    A sink may also have ``run_planned(plan: list[PlannedCustomer])`` (``core.push.forecast``): the run
    then detects its customers once more before the first batch and reports what each will send, so
    the whole run's total is known from the start. The count is that of the detection; a resumed
    batch or a line waiting for another customer's batch can make a customer's batch differ.
    """

    def batch_started(self, batch_id: int, customer: str, items: int, subitems: int) -> None: ...

    def progress(self, batch_id: int, done: int, total: int, succeeded: int, failed: int) -> None: ...

    def batch_finished(self, result: BatchResult) -> None: ...


class NullProgress:
    def batch_started(self, batch_id: int, customer: str, items: int, subitems: int) -> None:
        pass

    def progress(self, batch_id: int, done: int, total: int, succeeded: int, failed: int) -> None:
        pass

    def batch_finished(self, result: BatchResult) -> None:
        pass


class PrintProgress:
    """A progress line on stderr for headless runs (at most a few per second)."""

    def __init__(self, stream: TextIO | None = None, interval: float = 0.5):
        self.stream = stream or sys.stderr
        self.interval = interval
        self._last = 0.0
        self._customer: dict[int, str] = {}

    def batch_started(self, batch_id: int, customer: str, items: int, subitems: int) -> None:
        self._customer[batch_id] = customer
        print(f"batch {batch_id} {customer}: {items} items and {subitems} subitems to send", file=self.stream)

    def progress(self, batch_id: int, done: int, total: int, succeeded: int, failed: int) -> None:
        now = time.monotonic()
        if now - self._last < self.interval and done < total:
            return
        self._last = now
        percent = 100 * done // total if total else 100
        print(
            f"batch {batch_id} {self._customer.get(batch_id, '')}: {done}/{total} ({percent}%), "
            f"{succeeded} ok, {failed} failed",
            file=self.stream,
            flush=True,
        )

    def batch_finished(self, result: BatchResult) -> None:
        if result.error is not None and is_global(result.error):
            return  # monday or the database out of reach, the token refused: the run's last line says it, once
        print(f"batch {result.batch_id} {result.customer}: {result.status} — {result.summary()}", file=self.stream)


# Outcomes of a customer in a run that are no batch status of their own.
BUSY = "BUSY"  # another workstation holds the customer
TAKEN_OVER = "TAKEN_OVER"  # another process took the batch over while this one ran it
NOT_RUN = "NOT_RUN"  # the run stopped before this customer (monday or the database unreachable)


@dataclass
class BatchResult:
    batch_id: int | None
    customer: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    message: str | None = None
    error: BaseException | None = None  # why the batch failed or the customer was not run

    @property
    def failed(self) -> int:
        return self.counts.get("failed_count", 0) + self.counts.get("invalid_count", 0)

    def summary(self) -> str:
        c = self.counts
        if not c:
            return self.message or ""
        parts = [
            f"{c.get('items_created', 0)} items created",
            f"{c.get('items_updated', 0)} updated",
            f"{c.get('subitems_created', 0)} subitems created",
            f"{c.get('subitems_updated', 0)} updated",
        ]
        if c.get("items_recreated") or c.get("subitems_recreated"):
            parts.append(
                f"{c.get('items_recreated', 0)} items and {c.get('subitems_recreated', 0)} subitems "
                "re-created after they were deleted on the board"
            )
        parts += [
            f"{c.get('failed_count', 0)} failed",
            f"{c.get('invalid_count', 0)} invalid",
            f"{c.get('api_calls', 0)} requests",
        ]
        if self.message:
            parts.append(self.message)
        return ", ".join(parts)


def _describe(exc: BaseException) -> str:
    return exc.describe() if isinstance(exc, MondayError) else str(exc)


def is_global(exc: BaseException) -> bool:
    """A failure no other customer of the run can escape: the token, monday or the database unreachable,
    a settings problem (the board, the mapping, a read-only database), or a request monday refused as
    invalid (a bug every customer's requests share)."""
    if isinstance(exc, (AuthError, DatabaseUnavailable, SettingsError, InvalidRequest)):
        return True
    return isinstance(exc, MondayError) and exc.retryable


def exit_code_of(exc: BaseException) -> int:
    """The exit code a failure maps to (DESIGN.md §4)."""
    if isinstance(exc, OrderSyncError):
        return exc.exit_code
    if isinstance(exc, MondayError):
        if isinstance(exc, InvalidRequest):  # a document monday refused: our bug, not an outage
            return EXIT_INTERNAL
        return 3 if (exc.retryable or isinstance(exc, AuthError)) else 2
    return EXIT_INTERNAL


# Worst first: a bug, then what a person must fix, then what time fixes, then a busy customer, then rows.
_SEVERITY = (EXIT_INTERNAL, 2, 3, 4, 1, 0)


def worst_code(codes: Iterable[int]) -> int:
    """The worst of exit codes, by what each asks of the reader (a bug first, a clean run last)."""
    return min([0, *codes], key=_SEVERITY.index)


def run_exit_code(results: Iterable[BatchResult]) -> int:
    """The worst outcome of a run's customers."""
    codes = [0]
    for r in results:
        if r.error is not None:
            codes.append(exit_code_of(r.error))
        elif r.status in (BUSY, TAKEN_OVER):
            codes.append(4)
        elif r.status in (s.COMPLETED_WITH_ERRORS, s.CANCELLED, s.FAILED, NOT_RUN) or r.failed:
            codes.append(1)
    return min(codes, key=_SEVERITY.index)
