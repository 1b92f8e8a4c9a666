"""BatchProcessor: one batch per customer, from ORDERS_UNIFIED to the board, exactly once.

1. claim (or resume) the customer's batch          6. failures into the ERR tables
2. stage its changes (data path)                   7. promote what monday confirmed
3. settle what an earlier run left in flight       8. clean up staging
4. check the items it writes to, protect the cells 9. final counts and status
   people changed there, ensure its groups
5. push: removals in bulk, then one stream

Exactly once: every request is stored with its Idempotency-Key in the fenced transaction that marks
its rows SENDING (``core.staging.ledger``), resent under the same key until monday answers it, and looked up
on the board only when the key can no longer be replayed and monday can no longer apply it
(``core.push``). The batch row's owner generation fences every write; heartbeats go on through every
wait. A resumed batch is finished first, then the same run detects and stages what changed since.

The processor is synchronous; the GUI runs it in a worker thread and cancels it cooperatively
through ``cancel`` or the batch row's cancel flag (which any workstation can set): the request in
flight finishes, its results are recorded, and the batch ends CANCELLED and resumable.
"""

import logging
from collections.abc import Iterable
from collections.abc import Set as AbstractSet

import sqlalchemy as sa

from core.db import schema as s
from core.db.engine import redact_url
from core.db.errors import classify as classify_db_error
from core.foundation.exceptions import BatchTakenOver, CustomerBusy, OrderSyncError
from core.foundation.logs import SHOWN, batch_context
from core.monday.errors import MondayError
from core.push.base import REPORT_EVERY, EngineContextLike
from core.push.forecast import plan_of
from core.push.phases import PushPhases
from core.push.progress import (
    BUSY,
    NOT_RUN,
    TAKEN_OVER,
    BatchResult,
    NullProgress,
    PrintProgress,
    ProgressSink,
    _describe,
    exit_code_of,
    is_global,
    run_exit_code,
    worst_code,
)
from core.staging.audit import prune as prune_audit
from core.staging.batches import BATCH_COUNTS, UNFINISHED_ROW_STATES
from core.staging.operations import Batch

__all__ = [
    "BUSY",
    "NOT_RUN",
    "REPORT_EVERY",
    "TAKEN_OVER",
    "BatchProcessor",
    "BatchResult",
    "EngineContextLike",
    "NullProgress",
    "PrintProgress",
    "ProgressSink",
    "exit_code_of",
    "is_global",
    "run_exit_code",
    "worst_code",
]

log = logging.getLogger(__name__)


class BatchProcessor(PushPhases):
    """Runs batches for customers against one board with one monday client."""

    def recheck_duplicates(self, keys: Iterable[str]) -> int:
        """Sync keys reported on the board more than once, looked up again; resolved where one item is left.

        Returns how many were resolved. Production follows the item that is left.
        """
        keys = sorted(set(keys))
        if not keys:
            return 0
        self.board()
        found = self.client.find_items(self.board_id, self.sync_key_column.id, keys)
        single = {key: ids[0] for key, ids in found.items() if len(ids) == 1}
        gone = [key for key in keys if not found.get(key)]
        return self.staging.settle_duplicates(self.board_id, single, gone)

    # == customers ==================================================================================

    def run(self, customers: Iterable[str], keys: dict[str, set[str]] | None = None) -> list[BatchResult]:
        """Every customer in turn; one customer's failure does not stop the others.

        Only what no other customer can escape (the token refused, monday or the database
        unreachable) ends the run: the customers after it are reported as not run.
        """
        ordered = list(customers)
        # Customers whose batch was cut short go first: a line that moved away from one of them waits for
        # that batch, and then moves in the same run.
        unfinished = self.staging.customers_with_unfinished_batches(self.board_id)
        ordered.sort(key=lambda c: c not in unfinished)
        pruned = prune_audit(self.ctx.engine, self.ctx.settings["audit.retention_days"])
        if pruned:
            log.info("audit trail: %d rows older than audit.retention_days removed", pruned)
        with self.ctx.one_run():  # the customers' detections share one read of the source
            planned = getattr(self.progress, "run_planned", None)
            if planned is not None:  # a sink that shows the whole run (the window) hears its total first
                planned(plan_of(self.ctx.detect(ordered), keys, self.ctx.mapping.protected(), self.in_bulk()))
            return self._run(ordered, keys)

    def _run(self, customers: list[str], keys: dict[str, set[str]] | None) -> list[BatchResult]:
        results: list[BatchResult] = []
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
                results += [
                    BatchResult(None, rest, NOT_RUN, message=f"not run: {_describe(error)}", error=error)
                    for rest in customers[position + 1 :]
                ]
                break
        return results

    def run_customer(self, customer: str, only_keys: set[str] | None = None) -> list[BatchResult]:
        """The customer's batches of this run: a resumed one finished first, then what changed since."""
        results = []
        skip: set[str] = set()
        undo = self._cut_short_undo(customer)
        if undo is not None:  # its rows are the undo's: only `undo --batch N` sends them as they were meant
            batch_id, of = undo
            message = f"the undo of batch {of} was cut short (batch {batch_id}); finish it first: undo --batch {of}"
            log.warning("%s: %s", customer, message)
            return [BatchResult(batch_id, customer, BUSY, message=message)]
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

    def _cut_short_undo(self, customer: str) -> tuple[int, int] | None:
        """(batch, the batch it undoes) of the customer's undo that is still running or was cut short."""
        b = s.batches
        unfinished = sa.or_(
            b.c.status.in_(s.ACTIVE_BATCH_STATES),
            *(
                sa.select(t.c.batch_id)
                .where(t.c.batch_id == b.c.batch_id, t.c.state.in_(UNFINISHED_ROW_STATES))
                .exists()
                for t in (s.stg_items, s.stg_subitems)
            ),
            sa.select(s.requests.c.request_id).where(s.requests.c.batch_id == b.c.batch_id).exists(),
        )
        with self.ctx.engine.connect() as conn:
            row = conn.execute(
                sa.select(b.c.batch_id, b.c.undo_of_batch).where(
                    b.c.customer == customer, b.c.board_id == self.board_id, b.c.undo_of_batch.is_not(None), unfinished
                )
            ).first()
        return None if row is None else (row.batch_id, row.undo_of_batch)

    def _nothing_changed(self, customer: str, only_keys: set[str] | None, skip: set[str]) -> bool:
        changes = self.ctx.detect([customer])[0]
        keys = [c.sync_key for c in changes.changes] + [line.sync_key for line in changes.invalid]
        return not [k for k in keys if (only_keys is None or k in only_keys) and k not in skip]

    def _run_batch(
        self, batch: Batch, customer: str, only_keys: set[str] | None, skip: AbstractSet[str] = frozenset()
    ) -> BatchResult:
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

    def _process(self, batch: Batch, customer: str, only_keys: set[str] | None, skip: AbstractSet[str]) -> BatchResult:
        ops = self.staging
        batch_id = batch.batch_id
        if batch.status == s.STARTED:
            changes = self.ctx.detect([customer])[0]
            waiting = ops.in_flight_elsewhere(batch_id, [c.sync_key for c in changes.changes])
            if waiting:
                log.info(
                    "%s: %d line(s) wait for another customer's unfinished batch (%s); the next run moves them",
                    customer,
                    len(waiting),
                    ", ".join(str(b) for b in sorted(set(waiting.values()))),
                )
                skip = {*skip, *waiting}
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
        self._protect(batch_id)
        self._ensure_groups(batch_id, meta)
        ops.set_status(batch_id, s.PUSHING)
        self._archive_in_bulk(batch_id)
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
        counts = {k: row[k] for k in BATCH_COUNTS}
        result = BatchResult(batch_id, customer, row["status"], counts, row["message"])
        self.progress.batch_finished(result)
        return result
