"""BatchProcessor: one batch per customer, from ORDERS_UNIFIED to the board, exactly once.

1. claim (or resume) the customer's batch          6. failures into the ERR tables
2. stage its changes (data path)                   7. promote what monday confirmed
3. settle what an earlier run left in flight       8. clean up staging
4. check the items it writes to, ensure its groups 9. final counts and status
5. push items and subitems in one request stream

Exactly once: every request is stored with its Idempotency-Key in the fenced transaction that marks
its rows SENDING (``core.staging.ledger``), resent under the same key until monday answers it, and looked up
on the board only when the key can no longer be replayed and monday can no longer apply it
(``core.push``). The batch row's owner generation fences every write; heartbeats go on through every
wait. A resumed batch is finished first, then the same run detects and stages what changed since.

The processor is synchronous; the GUI runs it in a worker thread and cancels it cooperatively
through ``cancel`` or the batch row's cancel flag (which any workstation can set): the request in
flight finishes, its results are recorded, and the batch ends CANCELLED and resumable.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

import sqlalchemy as sa

from core.foundation.config import HEARTBEAT_SLICE
from core.db import schema as s
from core.db.engine import redact_url
from core.db.errors import classify as classify_db_error
from core.foundation.exceptions import (EXIT_INTERNAL, BatchTakenOver, BoardMismatch, CustomerBusy, DatabaseUnavailable,
                             OrderSyncError, SettingsError)
from core.staging.ledger import GROUP, RequestLedger, Settlement, apply_settlement
from core.foundation.logs import SHOWN, batch_context
from core.monday.client import MondayApiClient, Mutation
from core.monday.columns import BoardMeta, Column
from core.monday.errors import AuthError, InvalidRequest, MondayError
from core.push.payloads import PayloadBuilder, Plan
from core.push.reconcile import BoardEdits, BoardWatch, Lookup, apply_board_edits
from core.push.stream import Answer, RequestStream, StreamSettings, classify_answer
from core.staging.operations import Batch, Failure, utcnow

log = logging.getLogger(__name__)

REPORT_EVERY = 0.25  # seconds between progress reports (each costs a query)


class ProgressSink(Protocol):
    """Where the orchestrator reports progress. The GUI adapts it to Qt signals; the CLI prints."""

    def batch_started(self, batch_id: int, customer: str, items: int, subitems: int) -> None: ...

    def progress(self, batch_id: int, done: int, total: int, succeeded: int, failed: int) -> None: ...

    def batch_finished(self, result: "BatchResult") -> None: ...


class NullProgress:
    def batch_started(self, batch_id, customer, items, subitems) -> None:
        pass

    def progress(self, batch_id, done, total, succeeded, failed) -> None:
        pass

    def batch_finished(self, result) -> None:
        pass


class PrintProgress:
    """A progress line on stderr for headless runs (at most a few per second)."""

    def __init__(self, stream=None, interval: float = 0.5):
        self.stream = stream or sys.stderr
        self.interval = interval
        self._last = 0.0
        self._customer: dict[int, str] = {}

    def batch_started(self, batch_id, customer, items, subitems) -> None:
        self._customer[batch_id] = customer
        print(f"batch {batch_id} {customer}: {items} items and {subitems} subitems to send", file=self.stream)

    def progress(self, batch_id, done, total, succeeded, failed) -> None:
        now = time.monotonic()
        if now - self._last < self.interval and done < total:
            return
        self._last = now
        percent = 100 * done // total if total else 100
        print(f"batch {batch_id} {self._customer.get(batch_id, '')}: {done}/{total} ({percent}%), "
              f"{succeeded} ok, {failed} failed", file=self.stream, flush=True)

    def batch_finished(self, result) -> None:
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
        parts = [f"{c.get('items_created', 0)} items created", f"{c.get('items_updated', 0)} updated",
                 f"{c.get('subitems_created', 0)} subitems created", f"{c.get('subitems_updated', 0)} updated"]
        if c.get("items_recreated") or c.get("subitems_recreated"):
            parts.append(f"{c.get('items_recreated', 0)} items and {c.get('subitems_recreated', 0)} subitems "
                         "re-created after they were deleted on the board")
        parts += [f"{c.get('failed_count', 0)} failed", f"{c.get('invalid_count', 0)} invalid",
                  f"{c.get('api_calls', 0)} requests"]
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


class BatchProcessor:
    """Runs batches for customers against one board with one monday client."""

    def __init__(self, ctx, client: MondayApiClient, progress: ProgressSink | None = None,
                 cancel: threading.Event | None = None, max_batch: int | None = None):
        self.ctx = ctx
        self.staging = ctx.staging
        self.client = client
        self.progress = progress or NullProgress()
        self.cancel = cancel or threading.Event()
        self.max_batch = max_batch or client.max_batch
        self.board_id = ctx.board_id
        settings = ctx.settings
        self.ledger = RequestLedger(self.staging)
        self.stream = RequestStream(client, self.ledger, self.board_id, StreamSettings(
            idempotency_keys=settings["monday.idempotency_keys"],
            late_apply=float(settings["monday.late_apply_seconds"])), self.wait)
        self.lookup = Lookup(client, self.staging, self.ledger, self.board_id, lambda: self._sync_key_column.id,
                             self.stream.settings.late_apply, self.wait, self._board_groups)
        self._meta: BoardMeta | None = None
        self._payloads: PayloadBuilder | None = None
        self._watch: BoardWatch | None = None
        self._sync_key_column: Column | None = None
        self._batch_id: int | None = None  # the batch this process is running: its heartbeat goes on while waiting
        self._last_report = 0.0
        # Every wait of the client (a 429, backoff, the budget's pacing) heartbeats the batch.
        client.sleep = self._sleep
        client.governor.sleep = self._sleep

    # == setup ======================================================================================

    def board(self) -> BoardMeta:
        """Board metadata, read once per processor; titles resolved to ids with clear errors."""
        if self._meta is None:
            try:
                meta = self.client.board(self.board_id)
            except MondayError as exc:
                if exc.error_type != "NOT_FOUND":
                    raise
                raise BoardMismatch(f"{exc.message}: check monday.board_id in the settings, and that the token's "
                                    "user can see the board") from None
            mapping = self.ctx.mapping
            item_columns = meta.resolve(mapping.columns)
            if not meta.subitem_board_id:
                raise BoardMismatch(f"board {self.board_id} has no subitems column; add one so sizes can be sent")
            sub_columns = meta.resolve(mapping.subitem_columns, subitems=True)
            key_label = next((c.label for c in mapping.columns if c.source == "$key"), None)
            if key_label is None:
                raise OrderSyncError("the mapping has no column with source = \"$key\" (the SYNC KEY): "
                                     "OrderSync could not find its items again after a crash")
            self._sync_key_column = item_columns[key_label]
            self._payloads = PayloadBuilder(self.board_id, meta.subitem_board_id, item_columns, sub_columns,
                                            mapping.removal_policy)
            self._watch = BoardWatch(self.client, self.staging, self.board_id, mapping.removal_policy,
                                     self.ctx.settings["sync.deleted_items"])
            self._meta = meta
        return self._meta

    def _board_groups(self) -> dict[str, str]:
        """The board's groups read again (after a group request whose outcome only the board knows)."""
        groups = self.client.board(self.board_id).groups
        if self._meta is not None:
            self._meta.groups.update(groups)
        return groups

    # == waiting ====================================================================================

    def _sleep(self, seconds: float) -> None:
        """Sleep in slices; between them the batch's heartbeat (and its cancel flag) is kept up to date."""
        end = time.monotonic() + max(seconds, 0.0)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, HEARTBEAT_SLICE))
            if self._batch_id is not None and self.staging.heartbeat(self._batch_id, **self._request_counts()):
                self.cancel.set()

    def wait(self, seconds: float, why: str) -> None:
        if seconds <= 0:
            return
        log.info("waiting %.1f s: %s", seconds, why)
        self._sleep(seconds)

    def recheck_duplicates(self, keys: Iterable[str]) -> int:
        """Sync keys reported on the board more than once, looked up again; resolved where one item is left.

        Returns how many were resolved. Production follows the item that is left.
        """
        keys = sorted(set(keys))
        if not keys:
            return 0
        self.board()
        found = self.client.find_items(self.board_id, self._sync_key_column.id, keys)
        single = {key: ids[0] for key, ids in found.items() if len(ids) == 1}
        gone = [key for key in keys if not found.get(key)]
        e, p = s.err_items, s.items
        with self.staging.engine.begin() as conn:
            if single:
                conn.execute(sa.update(p).where(p.c.board_id == self.board_id, p.c.sync_key == sa.bindparam("b_key"))
                             .values(monday_item_id=sa.bindparam("b_id")),
                             [{"b_key": k, "b_id": i} for k, i in single.items()])
            done = list(single) + gone
            resolved = conn.execute(sa.update(e).where(
                e.c.sync_key.in_(done), e.c.error_type == "DUPLICATE_ON_BOARD", e.c.resolved_at.is_(None)).values(
                resolved_at=utcnow(), resolved_by=self.staging.owner.label,
                resolution="one item with this sync key is left on the board")).rowcount if done else 0
        return resolved

    # == customers ==================================================================================

    def run(self, customers: Iterable[str], keys: dict[str, set[str]] | None = None) -> list[BatchResult]:
        """Every customer in turn; one customer's failure does not stop the others.

        Only what no other customer can escape (the token refused, monday or the database
        unreachable) ends the run: the customers after it are reported as not run.
        """
        results: list[BatchResult] = []
        customers = list(customers)
        for position, customer in enumerate(customers):
            if self.cancel.is_set():
                results.append(BatchResult(None, customer, NOT_RUN, message="not run: the sync was cancelled"))
                continue
            try:
                results += self.run_customer(customer, only_keys=(keys or {}).get(customer))
            except (MondayError, OrderSyncError, sa.exc.DBAPIError) as exc:  # before its batch ran (claiming it)
                if isinstance(exc, sa.exc.DBAPIError):
                    translated = classify_db_error(exc, redact_url(str(self.ctx.engine.url)))
                    if translated is None:
                        raise
                    exc = translated
                results.append(BatchResult(None, customer, s.FAILED, message=_describe(exc), error=exc))
            error = results[-1].error if results else None
            if error is not None and is_global(error):
                results += [BatchResult(None, rest, NOT_RUN, message=f"not run: {_describe(error)}", error=error)
                            for rest in customers[position + 1:]]
                break
        return results

    def run_customer(self, customer: str, only_keys: set[str] | None = None) -> list[BatchResult]:
        """The customer's batches of this run: a resumed one finished first, then what changed since."""
        results = []
        skip: set[str] = set()
        try:
            batch = self.staging.claim(customer, self.board_id)
            if batch.status != s.STARTED:  # resumed after a crash, a cancel or a failure: finish it first
                results.append(self._run_batch(batch, customer, None))
                if results[-1].status not in (s.COMPLETED, s.COMPLETED_WITH_ERRORS, s.NO_CHANGES):
                    return results
                # Then what changed since, in a batch of its own (none when nothing did); the lines
                # that just failed wait for the next run or a retry rather than failing twice.
                skip = self.staging.failed_keys(batch.batch_id)
                if self._nothing_changed(customer, only_keys, skip):
                    return results
                log.info("%s: the resumed batch %s is finished; now what changed since", customer, batch.batch_id)
                batch = self.staging.claim(customer, self.board_id)
            results.append(self._run_batch(batch, customer, only_keys, skip))
        except CustomerBusy as exc:
            log.warning("%s", exc)
            results.append(BatchResult(None, customer, BUSY, message=str(exc)))
        return results

    def _nothing_changed(self, customer: str, only_keys: set[str] | None, skip: set[str]) -> bool:
        changes = self.ctx.detect([customer])[0]
        keys = [c.sync_key for c in changes.changes] + [line.sync_key for line in changes.invalid]
        return not [k for k in keys if (only_keys is None or k in only_keys) and k not in skip]

    def _run_batch(self, batch: Batch, customer: str, only_keys: set[str] | None,
                   skip: set[str] = frozenset()) -> BatchResult:
        with batch_context(batch.batch_id):  # every line logged for this batch carries its id
            self._batch_id = batch.batch_id
            self._stats_at_start = (self.client.stats.requests, self.client.stats.retries)
            try:
                return self._process(batch, customer, only_keys, skip)
            except BatchTakenOver as exc:
                log.error("batch %s: %s", batch.batch_id, exc)
                return BatchResult(batch.batch_id, customer, TAKEN_OVER, message=str(exc))
            except (MondayError, OrderSyncError, sa.exc.DBAPIError) as exc:
                if isinstance(exc, sa.exc.DBAPIError):
                    translated = classify_db_error(exc, redact_url(str(self.ctx.engine.url)))
                    if translated is None:
                        raise  # an integrity or programming error: a bug, with its traceback
                    exc = translated
                message = _describe(exc)
                # The caller tells the user (the command line's stderr line, the window's batch list).
                log.error("batch %s (%s) failed: %s", batch.batch_id, customer, message, extra=SHOWN)
                self._fail(batch.batch_id, message)
                result = BatchResult(batch.batch_id, customer, s.FAILED, message=message, error=exc)
                self.progress.batch_finished(result)
                return result
            finally:
                self._batch_id = None

    def _process(self, batch: Batch, customer: str, only_keys: set[str] | None, skip: set[str]) -> BatchResult:
        ops = self.staging
        batch_id = batch.batch_id
        if batch.status == s.STARTED:
            changes = self.ctx.detect([customer])[0]
            if only_keys is not None or skip:
                def wanted(key: str | None) -> bool:
                    return (only_keys is None or key in only_keys) and key not in skip
                changes.changes = [c for c in changes.changes if wanted(c.sync_key)]
                # Every invalid line of the customer stays: none is sent, and an open VALIDATION error is
                # resolved only when its line is no longer among them (fixed or gone at the source).
            staged = ops.stage(batch_id, changes)
            if staged.nothing_to_send:
                ops.cleanup(batch_id)
                ops.set_status(batch_id, s.COMPLETED_WITH_ERRORS if staged.invalid else s.NO_CHANGES)
                return self._result(batch_id, customer)
        meta = self.board()
        row = ops.batch(batch_id)
        self.progress.batch_started(batch_id, customer, row["total_items"], row["total_subitems"])
        self._settle_open(batch_id)
        self._check_board(batch_id)
        self._ensure_groups(batch_id, meta)
        ops.set_status(batch_id, s.PUSHING)
        cancelled = self._push(batch_id)
        if not cancelled:
            ops.set_status(batch_id, s.PROMOTING)
        self._promote(batch_id)
        if cancelled:
            ops.set_status(batch_id, s.CANCELLED, message="cancelled; the rest is sent when the batch resumes")
        else:
            row = ops.batch(batch_id)
            failed = row["failed_count"] or row["invalid_count"]
            ops.set_status(batch_id, s.COMPLETED_WITH_ERRORS if failed else s.COMPLETED)
        return self._result(batch_id, customer)

    def _fail(self, batch_id: int, message: str) -> None:
        """The batch stops resumable: stored requests and SENDING rows stay, to be settled next time."""
        try:
            self.staging.set_status(batch_id, s.FAILED, message=message[:2000], **self._request_counts())
        except (OrderSyncError, sa.exc.SQLAlchemyError):
            log.exception("batch %s: could not record its failure", batch_id)

    def _result(self, batch_id: int, customer: str) -> BatchResult:
        row = self.staging.batch(batch_id)
        counts = {k: row[k] for k in ("total_items", "total_subitems", "invalid_count", "sent_count", "succeeded_count",
                                      "failed_count", "items_created", "items_updated", "subitems_created",
                                      "subitems_updated", "removed_count", "items_recreated", "subitems_recreated",
                                      "api_calls", "retries")}
        result = BatchResult(batch_id, customer, row["status"], counts, row["message"])
        self.progress.batch_finished(result)
        return result

    # == what an earlier run left, and what people did on the board ================================

    def _settle_open(self, batch_id: int) -> None:
        """Requests an earlier run stored and did not settle: replayed under their key, or looked up."""
        for request in self.ledger.open_requests(batch_id):
            log.info("batch %s: request %s of an earlier run (%d mutations) is settled first", batch_id,
                     request.request_id, request.count)
            answer = self.stream.deliver(request) if self.stream.can_replay(request) else None
            if answer is None:
                self.lookup.settle(request, "an earlier run's request is not settled")
                self._report_duplicates(batch_id)
            else:
                self._settle(batch_id, answer)
        items, subs = self.ledger.unrequested_sending(batch_id)
        if items or subs:  # left SENDING by a version without the ledger: the board is the only witness
            settlement = self.lookup.look_up(items, subs, [])
            with self.staging.owned(batch_id) as conn:
                apply_settlement(self.staging, conn, batch_id, settlement)
            self._report_duplicates(batch_id)

    def _check_board(self, batch_id: int) -> None:
        """Items and subitems this batch writes to that a person deleted or archived on the board."""
        edits = self._watch.before_push(batch_id)
        if edits:
            self._watch.apply(batch_id, edits)

    def _report_duplicates(self, batch_id: int) -> None:
        if self.lookup.duplicates:
            for key, ids in self.lookup.duplicates:
                log.error("batch %s: %d items on the board carry the sync key %r (%s); the oldest is kept",
                          batch_id, len(ids), key, ", ".join(ids))
            self.staging.report_duplicates(batch_id, self.lookup.duplicates)
            self.lookup.duplicates = []

    # == groups =====================================================================================

    def _ensure_groups(self, batch_id: int, meta: BoardMeta) -> None:
        """Every group the batch needs exists on the board: read once, created once, never per item."""
        names = self.staging.group_names(batch_id)
        missing = [name for name in names if name not in meta.groups]
        for start in range(0, len(missing), self.max_batch):
            chunk = missing[start:start + self.max_batch]
            mutations = [Mutation((GROUP, name, "create_group"), "create_group",
                                  {"board_id": self.board_id, "group_name": name}) for name in chunk]
            request, cancel = self.stream.open(batch_id, mutations)
            answer = self.stream.deliver(request)
            if answer is None:
                self.lookup.settle(request, "the outcome of a request creating groups is unknown")
            else:
                self._settle(batch_id, answer)
            log.info("batch %s: created groups %s", batch_id, ", ".join(chunk))
        still = [name for name in names if name not in meta.groups]
        if still:
            raise OrderSyncError(f"the groups {', '.join(still)} could not be created on board {self.board_id}")
        self.staging.set_group_ids(batch_id, {name: meta.groups[name] for name in names})

    # == the push ===================================================================================

    def _push(self, batch_id: int) -> bool:
        """Send everything pending; returns True when cancelled."""
        while True:
            if self.cancel.is_set():
                return True
            room = self.client.governor.allowance(self.max_batch)
            plan = self._plan(batch_id, room)
            if not plan.work:
                if plan.settled_without_request:
                    continue
                self._report(batch_id, force=True)
                self._orphans(batch_id)
                return False
            request, cancel = self.stream.open(batch_id, [m for w in plan.work for m in w.mutations])
            if cancel:
                self.cancel.set()
            answer = self.stream.deliver(request)
            if answer is None:
                self.lookup.settle(request, "the outcome of a request is unknown")
                self._report_duplicates(batch_id)
            else:
                self._settle(batch_id, answer, plan)
            self._report(batch_id)

    def _plan(self, batch_id: int, room: int) -> Plan:
        """Up to ``room`` mutations: subitems whose parent is known first (lines finish early), then items.

        Rows that need no request, or fail before one, are settled on the way in one transaction.
        """
        ops = self.staging
        plan = Plan()
        used = 0
        for table in (s.stg_subitems, s.stg_items):
            if used >= room:
                break
            for row in ops.pending_rows(batch_id, table, limit=room - used):
                mutations_before = len(plan.work)
                work = self._payloads.plan_row(table, row, plan)
                if work is None:
                    continue
                if used + len(work.mutations) > room and mutations_before:
                    plan.work.pop()  # it goes in the next request
                    break
                used += len(work.mutations)
            if plan.work:
                break
        if plan.settled_without_request:
            with ops.owned(batch_id) as conn:
                apply_settlement(ops, conn, batch_id, Settlement(
                    items_ok=plan.items_done, subs_ok=plan.subs_done, item_failures=plan.item_failures,
                    sub_failures=plan.sub_failures))
        return plan

    def _settle(self, batch_id: int, answer: Answer, plan: Plan | None = None) -> None:
        """Record an answer; writes that met an item people changed on the board are checked there first."""
        settlement, check, look_up = classify_answer(answer)
        edits = BoardEdits()
        if check:
            edits = self._board_edits_for(check, settlement, answer)
        if look_up:  # answered without a result: the request is over, so the board can tell at once
            found = self._look_up_rows(look_up)
            for name in ("items_ok", "subs_ok", "items_again", "subs_again"):
                getattr(settlement, name).extend(getattr(found, name))
        self.ledger.settle(answer.request, settlement,
                           before=lambda conn: apply_board_edits(self.staging, conn, batch_id, self.board_id, edits))
        if settlement.groups and self._meta is not None:
            self._meta.groups.update(settlement.groups)
        for outcome in answer.outcomes:
            if outcome.error is not None and outcome.error.error_type == "RATE_LIMIT":
                self.client.governor.rate_limited(outcome.error.retry_after)
                break
        if plan is not None:
            self._payloads.learn_labels(plan.work, {m.key: o for m, o in zip(
                [m for w in plan.work for m in w.mutations], answer.outcomes)})
        self._report_duplicates(batch_id)
        if edits.recreate_lines:  # re-created lines need their groups
            self._ensure_groups(batch_id, self._meta)

    def _board_edits_for(self, check: dict, settlement: Settlement, answer: Answer) -> BoardEdits:
        """Rows whose write met "not found" or an archived item: ask the board what happened."""
        t, st = s.stg_items, s.stg_subitems
        item_ids = [ref for (kind, ref) in check if kind != "sub"]
        sub_ids = [ref for (kind, ref) in check if kind == "sub"]
        with self.staging.engine.connect() as conn:
            items = [dict(r) for r in conn.execute(sa.select(t).where(t.c.stg_id.in_(item_ids))).mappings()] if item_ids else []
            subs = [dict(r) for r in conn.execute(sa.select(st).where(st.c.stg_sub_id.in_(sub_ids))).mappings()] if sub_ids else []
            # A subitem created under a parent that is gone: the parent's line is what to look at.
            parent_ids = sorted({r["parent_stg_id"] for r in subs if r["action"] == s.CREATE})
            parents = [dict(r) for r in conn.execute(sa.select(t).where(t.c.stg_id.in_(parent_ids))).mappings()] if parent_ids else []
        item_rows = [r for r in items if r["monday_item_id"]] + parents
        sub_rows = [r for r in subs if r["action"] != s.CREATE and r["monday_subitem_id"]]
        edits = self._watch.decide(item_rows, sub_rows)
        recreated_parents = set(edits.recreate_lines) | set(edits.held)
        handled = {("item", i) for i in edits.recreate_lines} | {("item", i) for i in edits.held} | {
            ("item", i) for i, _ in edits.items_done} | {("sub", i) for i in edits.recreate_subs} | {
            ("sub", i) for i in edits.subs_held} | {("sub", i) for i, _ in edits.subs_done}
        handled |= {("sub", r["stg_sub_id"]) for r in subs if r["parent_stg_id"] in recreated_parents}
        for (kind, ref), why in check.items():
            if (kind, ref) in handled:
                continue
            if why.startswith("the item it wrote to"):  # archived on the board, yet active now: it landed
                row = next((r for r in items + subs if (r.get("stg_id") if kind != "sub" else r.get("stg_sub_id")) == ref), None)
                ok = (ref, row["monday_item_id"] if kind != "sub" else row["monday_subitem_id"]) if row else (ref, None)
                (settlement.items_ok if kind != "sub" else settlement.subs_ok).append(ok)
                continue
            failure = Failure(ref, "NOT_FOUND", why, False)
            (settlement.item_failures if kind != "sub" else settlement.sub_failures).append(failure)
        return edits

    def _look_up_rows(self, rows: list[tuple[str, int]]) -> Settlement:
        t, st = s.stg_items, s.stg_subitems
        item_ids = [ref for kind, ref in rows if kind != "sub"]
        sub_ids = [ref for kind, ref in rows if kind == "sub"]
        with self.staging.engine.connect() as conn:
            items = [dict(r) for r in conn.execute(sa.select(t).where(t.c.stg_id.in_(item_ids))).mappings()] if item_ids else []
            subs = [dict(r) for r in conn.execute(sa.select(st).where(st.c.stg_sub_id.in_(sub_ids))).mappings()] if sub_ids else []
        return self.lookup.look_up(items, subs, [])

    # == the end ====================================================================================

    def _orphans(self, batch_id: int) -> None:
        """Subitems still waiting at the end: their parent failed earlier (already recorded) — mark them."""
        rows = self.staging.pending_rows(batch_id, s.stg_subitems, states=(s.WAITING_PARENT,))
        self.staging.record_failures(batch_id, s.stg_subitems, [
            Failure(r["stg_sub_id"], "PARENT_FAILED", "not sent: its item was not created", True) for r in rows])

    def _promote(self, batch_id: int) -> None:
        counts = self.staging.outcome_counts(batch_id)
        self.staging.promote(batch_id, self.board_id)
        self.staging.cleanup(batch_id)
        self.staging.add_counts(batch_id, counts, **self._request_counts())

    def _request_counts(self) -> dict[str, int]:
        requests, retries = getattr(self, "_stats_at_start", (0, 0))
        stats = self.client.stats
        return {"api_calls": stats.requests - requests, "retries": stats.retries - retries}

    def _report(self, batch_id: int, force: bool = False) -> None:
        """Progress to the sink, at most a few times a second (it costs a query)."""
        now = time.monotonic()
        if not force and now - self._last_report < REPORT_EVERY:
            return
        self._last_report = now
        counts = self.staging.outcome_counts(batch_id)
        done = counts["succeeded"] + counts["failed"]
        self.progress.progress(batch_id, done, counts["total"], counts["succeeded"], counts["failed"])
