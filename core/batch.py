"""BatchProcessor: one batch per customer, from ORDERS_UNIFIED to the board, exactly once.

1. claim (or resume) the customer's batch        6. failures into the ERR tables
2. stage its changes (data path)                 7. promote what monday confirmed
3. ensure the board's groups, once               8. clean up staging
4. push items and subitems in one request stream 9. final counts and status
5. write monday's ids back

Exactly once: a row is SENDING, committed, before its request leaves. When the outcome of a request
is unknown (a 5xx, a dropped connection, a timeout) or the process died, every SENDING row is
reconciled with the board before anything is sent again: items by their SYNC KEY column, subitems
by parent and name. Found ids are adopted; rows not found go back to PENDING.

The processor is synchronous; the GUI runs it in a worker thread and cancels it cooperatively
through ``cancel`` (or the batch row's cancel flag): the request in flight finishes, its results
are recorded, and the batch ends CANCELLED and resumable.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

import sqlalchemy as sa

from core.db import schema as s
from core.exceptions import BatchTakenOver, CustomerBusy, OrderSyncError
from core.logs import batch_context
from core.monday.client import MondayApiClient, Mutation, Outcome
from core.monday.columns import BoardMeta, Column, encode_values, missing_labels
from core.monday.errors import AuthError, InvalidRequest, MondayError
from core.staging import Batch, Failure

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 5.0  # seconds between heartbeats (and cancel checks from other processes)
MAX_ROW_ATTEMPTS = 6
REPORT_EVERY = 0.25  # seconds between progress reports  # sends of one row without a confirmation before it is recorded as failed


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
        print(f"batch {result.batch_id} {result.customer}: {result.status} — {result.summary()}", file=self.stream)


@dataclass
class BatchResult:
    batch_id: int | None
    customer: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    message: str | None = None

    @property
    def failed(self) -> int:
        return self.counts.get("failed_count", 0) + self.counts.get("invalid_count", 0)

    def summary(self) -> str:
        c = self.counts
        parts = [f"{c.get('items_created', 0)} items created", f"{c.get('items_updated', 0)} updated",
                 f"{c.get('subitems_created', 0)} subitems created", f"{c.get('subitems_updated', 0)} updated",
                 f"{c.get('failed_count', 0)} failed", f"{c.get('invalid_count', 0)} invalid",
                 f"{c.get('api_calls', 0)} requests"]
        if self.message:
            parts.append(self.message)
        return ", ".join(parts)


@dataclass
class _Work:
    """One staged row and the mutations it needs."""

    table: sa.Table
    row: dict[str, Any]
    mutations: list[Mutation]

    @property
    def stg_id(self) -> int:
        return self.row["stg_id"] if self.table is s.stg_items else self.row["stg_sub_id"]


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
        self._meta: BoardMeta | None = None
        self._item_columns: dict[str, Column] = {}
        self._sub_columns: dict[str, Column] = {}
        self._sync_key_column: Column | None = None

    # == setup ======================================================================================

    def board(self) -> BoardMeta:
        """Board metadata, read once per processor; titles resolved to ids with clear errors."""
        if self._meta is None:
            meta = self.client.board(self.board_id)
            mapping = self.ctx.mapping
            self._item_columns = meta.resolve(mapping.columns)
            if not meta.subitem_board_id:
                raise OrderSyncError(f"board {self.board_id} has no subitems column; add one so sizes can be sent")
            self._sub_columns = meta.resolve(mapping.subitem_columns, subitems=True)
            key_label = next((c.label for c in mapping.columns if c.source == "$key"), None)
            if key_label is None:
                raise OrderSyncError("the mapping has no column with source = \"$key\" (the SYNC KEY): "
                                     "OrderSync could not find its items again after a crash")
            self._sync_key_column = self._item_columns[key_label]
            self._meta = meta
        return self._meta

    # == one customer ===============================================================================

    def run(self, customers: Iterable[str], keys: dict[str, set[str]] | None = None) -> list[BatchResult]:
        results = []
        for customer in customers:
            if self.cancel.is_set():
                break
            results.append(self.run_customer(customer, only_keys=(keys or {}).get(customer)))
        return results

    def run_customer(self, customer: str, only_keys: set[str] | None = None) -> BatchResult:
        try:
            batch = self.staging.claim(customer, self.board_id)
        except CustomerBusy as exc:
            log.warning("%s", exc)
            return BatchResult(None, customer, "BUSY", message=str(exc))
        with batch_context(batch.batch_id):  # every line logged for this batch carries its id
            return self._run_batch(batch, customer, only_keys)

    def _run_batch(self, batch: Batch, customer: str, only_keys: set[str] | None) -> BatchResult:
        ops = self.staging
        batch_id = batch.batch_id
        self._stats_at_start = (self.client.stats.requests, self.client.stats.retries)
        try:
            if batch.status == s.STARTED:
                changes = self.ctx.detect([customer])[0]
                if only_keys is not None:
                    changes.changes = [c for c in changes.changes if c.sync_key in only_keys]
                    changes.invalid = [line for line in changes.invalid if line.sync_key in only_keys]
                staged = ops.stage(batch_id, changes)
                if staged.nothing_to_send:
                    ops.cleanup(batch_id)
                    ops.set_status(batch_id, s.COMPLETED_WITH_ERRORS if staged.invalid else s.NO_CHANGES)
                    return self._result(batch_id, customer)
            meta = self.board()
            row = ops.batch(batch_id)
            self.progress.batch_started(batch_id, customer, row["total_items"], row["total_subitems"])
            self._reconcile(batch_id)
            self._ensure_groups(batch_id, meta)
            ops.set_status(batch_id, s.PUSHING)
            cancelled = self._push(batch_id, meta)
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
        except BatchTakenOver as exc:
            log.error("batch %s: %s", batch_id, exc)
            return BatchResult(batch_id, customer, "TAKEN_OVER", message=str(exc))
        except (MondayError, OrderSyncError) as exc:
            message = exc.describe() if isinstance(exc, MondayError) else str(exc)
            log.error("batch %s (%s) failed: %s", batch_id, customer, message)
            self._fail(batch_id, message)
            raise

    def _fail(self, batch_id: int, message: str) -> None:
        """The batch stops resumable: rows that were SENDING stay so, to be reconciled next time."""
        try:
            self.staging.set_status(batch_id, s.FAILED, message=message[:2000], **self._request_counts())
        except (OrderSyncError, sa.exc.SQLAlchemyError):
            log.exception("batch %s: could not record its failure", batch_id)

    def _result(self, batch_id: int, customer: str) -> BatchResult:
        row = self.staging.batch(batch_id)
        status = row["status"]
        counts = {k: row[k] for k in ("total_items", "total_subitems", "invalid_count", "sent_count", "succeeded_count",
                                      "failed_count", "items_created", "items_updated", "subitems_created",
                                      "subitems_updated", "removed_count", "api_calls", "retries")}
        result = BatchResult(batch_id, customer, status, counts, row["message"])
        self.progress.batch_finished(result)
        return result

    # == groups =====================================================================================

    def _ensure_groups(self, batch_id: int, meta: BoardMeta) -> None:
        """Every group the batch needs exists on the board: read once, created once, never per item."""
        names = self.staging.group_names(batch_id)
        missing = [name for name in names if name not in meta.groups]
        if missing:
            mutations = [Mutation(name, "create_group", {"board_id": self.board_id, "group_name": name})
                         for name in missing]
            for start in range(0, len(mutations), self.max_batch):
                chunk = mutations[start:start + self.max_batch]
                try:
                    outcomes = self.client.mutate(self.board_id, chunk)
                except MondayError as exc:
                    if not exc.outcome_unknown:
                        raise
                    outcomes = []
                for outcome in outcomes:
                    if outcome.ok:
                        meta.groups[outcome.key] = outcome.id
                    else:
                        raise outcome.error
            still = [name for name in missing if name not in meta.groups]
            if still:  # an unknown outcome: the board knows whether they were created
                fresh = self.client.board(self.board_id).groups
                meta.groups.update(fresh)
                again = [Mutation(n, "create_group", {"board_id": self.board_id, "group_name": n})
                         for n in still if n not in meta.groups]
                for outcome in self.client.mutate(self.board_id, again) if again else []:
                    if not outcome.ok:
                        raise outcome.error
                    meta.groups[outcome.key] = outcome.id
            log.info("batch %s: created groups %s", batch_id, ", ".join(missing))
        self.staging.set_group_ids(batch_id, {name: meta.groups[name] for name in names if name in meta.groups})

    # == the push ===================================================================================

    def _push(self, batch_id: int, meta: BoardMeta) -> bool:
        """Send everything pending; returns True when cancelled."""
        ops = self.staging
        last_beat = time.monotonic()
        while True:
            if self.cancel.is_set():
                return True
            if time.monotonic() - last_beat > HEARTBEAT_EVERY:
                last_beat = time.monotonic()
                if ops.heartbeat(batch_id, **self._request_counts()):
                    self.cancel.set()
                    return True
            room = self.client.governor.allowance(self.max_batch)
            work = self._next_work(batch_id, meta, room)
            if not work:
                self._report(batch_id, force=True)
                if self._waiting(batch_id):
                    # Subitems wait for parents that failed or are unknown: nothing more can be sent.
                    self._orphans(batch_id)
                return False
            self._send(batch_id, work)
            self._report(batch_id)

    def _next_work(self, batch_id: int, meta: BoardMeta, room: int) -> list[_Work]:
        """Up to ``room`` mutations: subitems whose parent is known first (lines finish early), then items.

        Rows that need no request (or fail before one) are settled on the way and do not count.
        """
        ops = self.staging
        work: list[_Work] = []
        used = 0
        for table in (s.stg_subitems, s.stg_items):
            while used < room:
                rows = ops.pending_rows(batch_id, table, limit=room - used)
                if not rows:
                    break
                added = False
                for row in rows:
                    item = self._work_for(table, row, meta)
                    if item is None:
                        continue
                    if used + len(item.mutations) > room and work:
                        return work
                    work.append(item)
                    used += len(item.mutations)
                    added = True
                if added:
                    break
        return work

    def _work_for(self, table: sa.Table, row: dict, meta: BoardMeta) -> _Work | None:
        """The mutations of one staged row; a row that cannot be sent fails here, before any request."""
        values = json.loads(row["values_json"])
        changed = json.loads(row["changed_columns"]) if row.get("changed_columns") else None
        ops = self.staging
        if row["attempts"] >= MAX_ROW_ATTEMPTS:
            stg_id = row["stg_id"] if table is s.stg_items else row["stg_sub_id"]
            ops.record_failures(row["batch_id"], table, [Failure(
                stg_id, "UNKNOWN", f"monday did not confirm this row after {row['attempts']} attempts", True)])
            return None
        if table is s.stg_items:
            columns = self._item_columns
            key = ("item", row["stg_id"])
            problems = missing_labels(values, columns, None if row["action"] == s.CREATE else changed)
            if problems:
                ops.record_failures(row["batch_id"], table, [Failure(row["stg_id"], "COLUMN_VALUE", "; ".join(problems),
                                                                   False, "ColumnValueException")])
                return None
            action = row["action"]
            policy = self.ctx.mapping.removal_policy
            if action == s.CREATE:
                args = {"board_id": self.board_id, "item_name": row["item_name"], "group_id": row["group_id"],
                        "column_values": encode_values(values, columns)}
                if self._needs_new_labels(values, columns):
                    args["create_labels_if_missing"] = True
                return _Work(table, row, [Mutation(key, "create_item", args)])
            if action == s.REMOVE and policy in ("archive", "delete"):
                field_name = "archive_item" if policy == "archive" else "delete_item"
                return _Work(table, row, [Mutation(key, field_name, {"item_id": row["monday_item_id"]})])
            mutations = []
            plain = [c for c in (changed or []) if c not in ("name", "group")]
            column_values = encode_values(values, columns, only=plain) if plain else {}
            if changed and "name" in changed:
                column_values["name"] = row["item_name"]
            if column_values and not (action == s.REMOVE and policy == "report"):
                args = {"item_id": row["monday_item_id"], "board_id": self.board_id, "column_values": column_values}
                if self._needs_new_labels({k: values.get(k) for k in plain}, columns):
                    args["create_labels_if_missing"] = True
                mutations.append(Mutation(key, "change_multiple_column_values", args))
            if changed and "group" in changed and action != s.REMOVE and row["group_id"]:
                mutations.append(Mutation(("move", row["stg_id"]), "move_item_to_group",
                                          {"item_id": row["monday_item_id"], "group_id": row["group_id"]}))
            if not mutations:  # nothing to send (report policy, or only unmapped differences)
                ops.mark_sending(table, [row["stg_id"]])
                ops.record_item_ids([(row["stg_id"], row["monday_item_id"])])
                return None
            return _Work(table, row, mutations)
        columns = self._sub_columns
        key = ("sub", row["stg_sub_id"])
        problems = missing_labels(values, columns, None if row["action"] == s.CREATE else changed)
        if problems:
            ops.record_failures(row["batch_id"], table, [Failure(row["stg_sub_id"], "COLUMN_VALUE",
                                                               "; ".join(problems), False, "ColumnValueException")])
            return None
        if row["action"] == s.CREATE:
            args = {"parent_item_id": row["parent_monday_item_id"], "item_name": row["subitem_name"],
                    "column_values": encode_values(values, columns)}
            if self._needs_new_labels(values, columns):
                args["create_labels_if_missing"] = True
            return _Work(table, row, [Mutation(key, "create_subitem", args)])
        column_values = encode_values(values, columns, only=changed or [])
        if not column_values:
            ops.mark_sending(table, [row["stg_sub_id"]])
            ops.record_subitem_ids([(row["stg_sub_id"], row["monday_subitem_id"])])
            return None
        return _Work(table, row, [Mutation(key, "change_multiple_column_values", {
            "item_id": row["monday_subitem_id"], "board_id": meta.subitem_board_id, "column_values": column_values})])

    @staticmethod
    def _needs_new_labels(values: dict, columns: dict[str, Column]) -> bool:
        """Dropdown labels (customers, seasons) grow with the data; status labels never are created."""
        for label, value in values.items():
            column = columns.get(label)
            if column is not None and column.type == "dropdown" and value not in (None, "") and (
                    not column.labels or str(value) not in column.labels):
                return True
        return False

    def _send(self, batch_id: int, work: list[_Work]) -> None:
        ops = self.staging
        for table in (s.stg_items, s.stg_subitems):
            ids = [w.stg_id for w in work if w.table is table]
            if ids:
                ops.mark_sending(table, ids)  # committed before the request leaves
        mutations = [m for w in work for m in w.mutations]
        try:
            outcomes = self.client.mutate(self.board_id, mutations)
        except (AuthError, InvalidRequest):  # nothing was applied; the run stops (a bad token, or our bug)
            self._back_to_pending(work)
            raise
        except MondayError as exc:
            if exc.outcome_unknown:
                log.warning("batch %s: outcome of a request of %d mutations unknown (%s); reconciling",
                            batch_id, len(mutations), exc.describe())
                self._reconcile(batch_id)
                return
            if exc.retryable:  # retries exhausted (rate limits or monday down): stop, resumable
                self._back_to_pending(work)
                raise
            self._record(batch_id, work, [Outcome(m.key, error=exc) for m in mutations])
            return
        self._record(batch_id, work, outcomes)
        self._learn_labels(work, outcomes)

    def _learn_labels(self, work: list[_Work], outcomes: list[Outcome]) -> None:
        """Dropdown labels a successful write created exist now: later rows need no create flag."""
        ok = {o.key for o in outcomes if o.ok}
        for w in work:
            for mutation in w.mutations:
                if mutation.key not in ok or not mutation.args.get("create_labels_if_missing"):
                    continue
                columns = self._item_columns if w.table is s.stg_items else self._sub_columns
                for label, value in json.loads(w.row["values_json"]).items():
                    column = columns.get(label)
                    if column is not None and column.type == "dropdown" and value not in (None, ""):
                        column.labels.add(str(value))

    def _back_to_pending(self, work: list[_Work]) -> None:
        for table in (s.stg_items, s.stg_subitems):
            ids = [w.stg_id for w in work if w.table is table]
            if ids:
                self.staging.reset_to_pending(table, ids)

    def _record(self, batch_id: int, work: list[_Work], outcomes: list[Outcome]) -> None:
        by_key = {o.key: o for o in outcomes}
        items_ok, subs_ok, unknown = [], [], False
        failures: dict[int, list[Failure]] = {id(s.stg_items): [], id(s.stg_subitems): []}
        again: dict[int, list[int]] = {id(s.stg_items): [], id(s.stg_subitems): []}
        for w in work:
            results = [by_key[m.key] for m in w.mutations]
            error = next((r.error for r in results if r.error is not None), None)
            if error is None:
                first = results[0].id
                if w.table is s.stg_items:
                    items_ok.append((w.stg_id, w.row["monday_item_id"] or first))
                else:
                    subs_ok.append((w.stg_id, w.row["monday_subitem_id"] or first))
            elif error.outcome_unknown:
                unknown = True
            elif error.error_type in ("RATE_LIMIT", "CONFLICT"):
                # Refused, not applied (e.g. a per-field limit): send again once monday allows it.
                again[id(w.table)].append(w.stg_id)
                self.client.governor.rate_limited(error.retry_after)
            else:
                failures[id(w.table)].append(Failure(w.stg_id, error.error_type, error.describe(), error.retryable,
                                                     error.code, error.http_status))
        ops = self.staging
        ops.record_item_ids(items_ok)
        ops.record_subitem_ids(subs_ok)
        ops.record_failures(batch_id, s.stg_items, failures[id(s.stg_items)])
        ops.record_failures(batch_id, s.stg_subitems, failures[id(s.stg_subitems)])
        ops.reset_to_pending(s.stg_items, again[id(s.stg_items)])
        ops.reset_to_pending(s.stg_subitems, again[id(s.stg_subitems)])
        if unknown:
            self._reconcile(batch_id)

    # == reconciliation =============================================================================

    def _reconcile(self, batch_id: int) -> None:
        """Every SENDING row is looked up on the board; found ids are adopted, the rest is resent."""
        ops = self.staging
        items, subs = ops.sending_rows(batch_id)
        if not items and not subs:
            return
        self.board()
        log.info("batch %s: reconciling %d items and %d subitems left in SENDING", batch_id, len(items), len(subs))
        creates = [r for r in items if r["action"] == s.CREATE]
        if creates:
            found = self.client.find_items(self.board_id, self._sync_key_column.id, [r["sync_key"] for r in creates])
            adopted = []
            for r in creates:
                ids = found.get(r["sync_key"]) or []
                if len(ids) > 1:
                    log.error("batch %s: %d items with SYNC KEY %r on the board; adopting %s", batch_id, len(ids),
                              r["sync_key"], ids[0])
                if ids:
                    adopted.append((r["stg_id"], ids[0]))
            ops.record_item_ids(adopted)
            ops.reset_to_pending(s.stg_items, [r["stg_id"] for r in creates if not found.get(r["sync_key"])])
        # Updates are idempotent: sending them again is safe.
        ops.reset_to_pending(s.stg_items, [r["stg_id"] for r in items if r["action"] != s.CREATE])
        sub_creates = [r for r in subs if r["action"] == s.CREATE]
        if sub_creates:
            existing = self.client.subitems_of({r["parent_monday_item_id"] for r in sub_creates})
            adopted = []
            for r in sub_creates:
                ids = existing.get(str(r["parent_monday_item_id"]), {}).get(r["subitem_name"]) or []
                if ids:
                    adopted.append((r["stg_sub_id"], ids[0]))
            ops.record_subitem_ids(adopted)
            adopted_ids = {a for a, _ in adopted}
            ops.reset_to_pending(s.stg_subitems, [r["stg_sub_id"] for r in sub_creates if r["stg_sub_id"] not in adopted_ids])
        ops.reset_to_pending(s.stg_subitems, [r["stg_sub_id"] for r in subs if r["action"] != s.CREATE])

    # == the end ====================================================================================

    def _waiting(self, batch_id: int) -> bool:
        return bool(self.staging.pending_rows(batch_id, s.stg_subitems, states=(s.WAITING_PARENT,), limit=1))

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
        if not force and now - getattr(self, "_last_report", 0.0) < REPORT_EVERY:
            return
        self._last_report = now
        counts = self.staging.outcome_counts(batch_id)
        done = counts["succeeded"] + counts["failed"]
        self.progress.progress(batch_id, done, counts["total"], counts["succeeded"], counts["failed"])
