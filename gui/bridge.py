"""The bridge between the Qt window and the synchronous engine.

- Engine work (database, monday) runs in a thread pool and is awaited from the qasync event loop:
  nothing blocking ever runs on the GUI thread, and no widget is touched from another thread
  (results come back to the loop; progress crosses threads as queued Qt signals).
- Work is started as *named tasks*: starting a task whose name is running returns the running one,
  so a double click cannot retry the same error twice. A task's exception is never lost: it is
  logged and reported through ``failed``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.detect.report import dry_run_report
from core.drift.check import DriftCheck
from core.drift.known import customers_on_board
from core.drift.results import DriftCancelled, Forecast
from core.engine.context import EngineContext
from core.foundation.exceptions import OrderSyncError
from core.monday.errors import AuthError, InvalidRequest, MondayError
from core.push.forecast import Pace, changes_of, pace_of
from core.push.run import BatchProcessor, BatchResult
from core.staging.errors import ErrorHandler
from core.staging.monitor import batch_overview
from gui.collector import run_collector

log = logging.getLogger(__name__)


def describe(exc: BaseException) -> str:
    """The one line a planner sees for a failure."""
    if isinstance(exc, InvalidRequest):
        return (
            f"OrderSync built a request monday refused as invalid ({exc.describe()}). This is a bug in "
            "OrderSync, not an outage; the details are in the log."
        )
    if isinstance(exc, AuthError):
        return f"monday refused the API token ({exc.describe()}). Set a valid token in Settings."
    if isinstance(exc, MondayError):
        return f"monday: {exc.describe()}. The batch is kept and resumes on the next sync."
    if isinstance(exc, OrderSyncError):
        return str(exc)
    return f"Unexpected error: {type(exc).__name__}: {exc} (details in the log)"


class QtProgress(QObject):
    """The engine's progress sink as Qt signals (emitted from the worker, delivered on the GUI thread)."""

    runPlanned = Signal(list, object)  # list[PlannedCustomer], the Pace of the run's client
    batchStarted = Signal(int, str, int, int)
    batchProgressed = Signal(int, int, int, int, int)
    batchFinished = Signal(object)

    client: Any = None  # the run's monday client (set by the bridge): its pace goes with the plan

    def run_planned(self, plan: list) -> None:
        self.runPlanned.emit(plan, pace_of(self.client))

    def batch_started(self, batch_id: int, customer: str, items: int, subitems: int) -> None:
        self.batchStarted.emit(batch_id, customer, items, subitems)

    def progress(self, batch_id: int, done: int, total: int, succeeded: int, failed: int) -> None:
        self.batchProgressed.emit(batch_id, done, total, succeeded, failed)

    def batch_finished(self, result: BatchResult) -> None:
        self.batchFinished.emit(result)


class TaskRegistry:
    """Named asyncio tasks: one per name at a time; exceptions logged and reported."""

    def __init__(self, on_error: Callable[[str, BaseException], None]):
        self._tasks: dict[str, asyncio.Task] = {}
        self._on_error = on_error

    def start(self, name: str, coroutine_factory: Callable[[], Awaitable[Any]]) -> asyncio.Task:
        running = self._tasks.get(name)
        if running is not None and not running.done():
            log.info("task %s is already running", name)
            return running
        task = asyncio.ensure_future(coroutine_factory())
        self._tasks[name] = task
        task.add_done_callback(functools.partial(self._finished, name))
        return task

    def running(self, prefix: str = "") -> list[str]:
        return [name for name, task in self._tasks.items() if name.startswith(prefix) and not task.done()]

    def _finished(self, name: str, task: asyncio.Task) -> None:
        if self._tasks.get(name) is task:
            del self._tasks[name]
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, DriftCancelled):  # stopped on purpose (Stop checking): its dialog says so
            log.info("task %s: %s", name, exc)
            return
        if exc is not None:
            log.error("task %s failed: %s", name, exc, exc_info=(type(exc), exc, exc.__traceback__))
            self._on_error(name, exc)


class EngineBridge(QObject):
    """Owns the engine context and runs every engine call off the GUI thread."""

    failed = Signal(str, str)  # task name, message for the planner
    syncStarted = Signal()
    syncFinished = Signal(list)  # list[BatchResult]
    budgetChanged = Signal(object, object)  # budget left, budget limit (None when unknown)
    checkingChanged = Signal(bool)  # the drift check of the board started (True) or ended (False)

    def __init__(self, ctx: EngineContext, parent: QObject | None = None, workers: int = 4):
        super().__init__(parent)
        self.ctx = ctx
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="engine")
        self.progress = QtProgress()
        self.tasks = TaskRegistry(lambda name, exc: self.failed.emit(name, describe(exc)))
        self._cancel = threading.Event()
        self._client = None
        self.collector = run_collector()  # full garbage collections wait until a run has ended
        self.undoing: int | None = None  # the batch the window's run undoes (gui/undo_dialog.py)
        self._checks = 0  # drift checks running (their forecast or their reads): they share the run's client
        self._check_cancels: set[threading.Event] = set()  # their cancel flags: closing the window stops them

    # -- plumbing --------------------------------------------------------------------------------

    async def call(self, fn: Callable, *args, **kwargs) -> Any:
        """Run ``fn`` in the engine's thread pool and await its result on the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._cancel.set()
        for cancel in list(self._check_cancels):
            cancel.set()
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.ctx.close()

    # -- reads -----------------------------------------------------------------------------------

    async def pending(self) -> list[dict]:
        rows = await self.call(self.ctx.pending)
        return [p.as_dict() | {"last_sync": p.last_sync} for p in rows]

    async def batches(self) -> list[dict]:
        return await self.call(
            batch_overview,
            self.ctx.engine,
            self.ctx.staging.owner,
            stale_seconds=self.ctx.settings["sync.heartbeat_stale_seconds"],
        )

    async def errors(self, include_resolved: bool = False) -> list[dict]:
        return await self.call(
            ErrorHandler(self.ctx).all_errors if include_resolved else ErrorHandler(self.ctx).open_errors
        )

    async def preview(self, customers: list[str]) -> list[dict]:
        changes = await self.call(self.ctx.detect, customers)
        protected = self.ctx.mapping.protected()  # the board reads protected columns cost are counted
        return [dry_run_report(c, protected) for c in changes]

    async def forecast(self, customers: list[str]) -> tuple[int, int, Pace]:
        """The changes a sync of ``customers`` would send (the engine's detection), the board reads its
        protected columns cost first, and the monday pace."""
        return await self.call(self._forecast, customers)

    def _forecast(self, customers: list[str]) -> tuple[int, int, Pace]:
        protected = self.ctx.mapping.protected()
        in_bulk = self.ctx.mapping.removal_policy == "archive" and bool(self.ctx.settings["monday.bulk_archive"])
        planned = [
            changes_of(result, protected=protected, archive_in_bulk=in_bulk) for result in self.ctx.detect(customers)
        ]
        return sum(p.changes for p in planned), sum(p.reads for p in planned), pace_of(self._client)

    async def pace(self) -> Pace:
        """What a change costs and the budget, as the run client measured them (defaults before a run)."""
        return await self.call(pace_of, self._client)

    async def source_values(self, sync_key: str | None, customer: str | None = None) -> dict | None:
        return await self.call(ErrorHandler(self.ctx).source_values, sync_key, customer)

    # -- work ------------------------------------------------------------------------------------

    @property
    def syncing(self) -> bool:
        """A run of the window: a sync, a retry or the undo of a batch (gui/undo_dialog.py)."""
        return bool(self.tasks.running("sync") or self.tasks.running("retry:") or self.tasks.running("undo:"))

    def sync(self, customers: list[str]) -> asyncio.Task:
        if self.tasks.running("retry:"):
            raise OrderSyncError("a retry is running; sync when it has finished")
        if self.tasks.running("undo:"):
            raise OrderSyncError("a batch is being undone; sync when the undo has finished")
        if self.checking:
            raise OrderSyncError("the board is being checked; sync when the check has finished")
        return self.tasks.start("sync", lambda: self._run(customers, None))

    def retry(self, refs: list[str]) -> asyncio.Task:
        if self.syncing:
            raise OrderSyncError("a sync is running; retry when it has finished")
        if self.checking:
            raise OrderSyncError("the board is being checked; retry when the check has finished")
        name = f"retry:{','.join(sorted(refs))}"
        return self.tasks.start(name, lambda: self._retry(refs))

    # -- the drift check of the board (gui/drift_dialog.py): one run at a time shares the client ----

    @property
    def checking(self) -> bool:
        return self._checks > 0

    @property
    def busy(self) -> bool:
        """A sync, a retry or a check of the board runs: none other may start (they share the client)."""
        return self.syncing or self.checking

    def drift_forecast(self, cancel: threading.Event | None = None) -> asyncio.Task:
        """Plan the check of every customer on the board (reads its columns and groups): (DriftCheck, Forecast).

        ``cancel`` becomes the check's: setting it stops the check's reads after the request in flight."""
        cancel = cancel or threading.Event()
        return self._check("drift:forecast", lambda: self._drift_check(cancel), cancel)

    def drift_run(self, check: DriftCheck) -> asyncio.Task:
        """Run a planned check (it changes nothing): its DriftReport, or DriftCancelled once ``check.cancel`` is set."""
        return self._check("drift:run", check.run, check.cancel)

    def _check(self, name: str, fn: Callable[[], Any], cancel: threading.Event | None = None) -> asyncio.Task:
        if self.syncing:
            raise OrderSyncError("a sync is running; check the board when it has finished")
        if self.tasks.running(name):
            return self.tasks.start(name, lambda: self.call(fn))  # the running one
        self._checks += 1  # counted now: Sync is refused from this moment, not from the task's first step
        self.checkingChanged.emit(True)
        if cancel is not None:
            self._check_cancels.add(cancel)

        async def run() -> Any:
            try:
                return await self.call(fn)
            finally:
                if cancel is not None:
                    self._check_cancels.discard(cancel)
                self._checks -= 1
                self.checkingChanged.emit(False)
                client = self._client
                if client is not None:
                    self.budgetChanged.emit(client.governor.budget_left, client.governor.budget_limit)

        return self.tasks.start(name, run)

    def _drift_check(self, cancel: threading.Event) -> tuple[DriftCheck, Forecast]:
        """In a worker thread: the check of every customer (and those only on the board), as ``drift --all``."""
        ctx = self.ctx
        customers = ctx.resolve_customers([], True)
        limit = ctx.settings["sync.customers"]
        customers += [
            c for c in customers_on_board(ctx.engine, ctx.board_id) if c not in customers and (not limit or c in limit)
        ]
        check = DriftCheck(ctx.engine, ctx.mapping, ctx.board_id, self._client_for_run(), customers, cancel=cancel)
        return check, check.forecast()

    async def request_cancel(self, batch_ids: list[int]) -> list[int]:
        """Set the cancel flag of active batches, wherever they run; returns those that were active."""
        return [b for b in batch_ids if await self.call(self.ctx.staging.request_cancel, b)]

    def cancel(self) -> None:
        """Cooperative: the request in flight finishes and is recorded; the batch ends CANCELLED."""
        self._cancel.set()

    async def _retry(self, refs: list[str]) -> list[BatchResult]:
        handler = ErrorHandler(self.ctx)
        selection = await self.call(handler.select, refs)
        for note in selection.notes:
            log.warning("%s", note)
        if not selection.keys:
            return []
        await self.call(handler.prepare, selection)
        return await self._run(sorted(selection.keys), selection.keys, selection.duplicates)

    async def _run(
        self, customers: list[str], keys: dict | None, duplicates: set[str] | None = None
    ) -> list[BatchResult]:
        self.collector.hold()
        self._cancel = threading.Event()
        self.syncStarted.emit()
        results: list[BatchResult] = []
        try:
            results = await self.call(self._process, customers, keys, self._cancel, duplicates)
            failed = [(r.customer, r.error) for r in results if r.error is not None]
            if failed:  # one customer's failure does not stop the others; the planner hears of each
                self.failed.emit(
                    "sync",
                    "; ".join(f"{customer}: {describe(error)}" for customer, error in failed[:3])
                    + (f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""),
                )
            return results
        finally:
            self.collector.release()
            self.syncFinished.emit(results)

    def _process(
        self, customers: list[str], keys: dict | None, cancel: threading.Event, duplicates: set[str] | None = None
    ) -> list[BatchResult]:
        """In a worker thread: one client for the run, every customer's batch in turn."""
        client = self._client_for_run()
        self.progress.client = client
        processor = BatchProcessor(self.ctx, client, self.progress, cancel)
        try:
            if duplicates:
                processor.recheck_duplicates(duplicates)
            return processor.run(customers, keys)
        finally:
            governor = client.governor
            self.budgetChanged.emit(governor.budget_left, governor.budget_limit)

    # -- the undo of a batch (gui/undo_dialog.py): its preview reads the board, its run is a run ------

    def undo_plan(self, batch_id: int) -> asyncio.Task:
        """The undo's plan of ``batch_id`` (reads the board like a check, so it waits for a run): UndoPlan."""
        return self._check(f"undo-plan:{batch_id}", lambda: self._undo_processor(threading.Event()).plan(batch_id))

    def undo(self, batch_id: int) -> asyncio.Task:
        """Undo ``batch_id`` as a run of the window (progress and Cancel Sync as a sync): (plan, BatchResult)."""
        if self.busy:
            raise OrderSyncError("a sync or a check of the board is running; undo when it has finished")
        if self.tasks.running(f"undo:{batch_id}"):
            return self.tasks.start(f"undo:{batch_id}", lambda: self._undo_run(batch_id, self._cancel))
        self._cancel = cancel = threading.Event()  # now: Cancel Sync right after the press is heard
        return self.tasks.start(f"undo:{batch_id}", lambda: self._undo_run(batch_id, cancel))

    async def _undo_run(self, batch_id: int, cancel: threading.Event) -> tuple[Any, BatchResult | None]:
        self.collector.hold()
        self.undoing = batch_id
        self.syncStarted.emit()
        results: list[BatchResult] = []
        try:
            plan, result = await self.call(lambda: self._undo_processor(cancel).undo(batch_id))
            results = [result]
            return plan, result
        finally:
            self.collector.release()
            self.syncFinished.emit(results)
            self.undoing = None
            client = self._client
            if client is not None:
                self.budgetChanged.emit(client.governor.budget_left, client.governor.budget_limit)

    def _undo_processor(self, cancel: threading.Event) -> Any:
        from core.undo import UndoProcessor

        client = self._client_for_run()
        self.progress.client = client
        return UndoProcessor(self.ctx, client, self.progress, cancel)

    def _client_for_run(self):
        if self._client is None:
            self._client = self.ctx.monday_client()
        return self._client
