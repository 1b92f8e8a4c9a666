"""StagingOperations: batches, staging, and every state transition of a staged row.

A batch is one customer. ``claim`` creates (or resumes) its row in ``MON_BatchProcessing``; the
database's filtered unique index allows one active batch per customer across processes and
workstations. ``stage`` loads the detected changes in bulk; invalid lines go to the ERR table and
are never sent. The push (``core.push.run``) then moves rows PENDING → SENDING → API_SUCCESS or
API_FAILED through the methods here, each one statement per step, never one per row; ``promote``
upserts what monday confirmed into the production tables and deletes those staging rows (an item
stays, PROMOTED, while some of its subitems are still staged); ``cleanup`` removes the rest of the
finished rows (invalid, failed, and promoted parents whose subitems are gone).
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import psutil
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core import __version__
from core.detect.changes import CHANGED, NEW, REMOVED, CustomerChanges, LineChange, SizeChange, _chunks
from core.db import schema as s
from core.db.bulk import bulk_insert, bulk_insert_rows, refresh_statistics
from core.db.clock import database_now, db_utcnow
from core.source.limits import fit, storable
from core.foundation.exceptions import BatchTakenOver, CustomerBusy
from core.source.mapping import MappedLine, to_json

log = logging.getLogger(__name__)

STALE_LINE_HASH = "0" * 40  # stored when some subitem of a line was not confirmed: the line stays pending
STATISTICS_THRESHOLD = 1_000  # staged rows above which the planner's statistics are refreshed
TERMINAL_ROW_STATES = (s.PROMOTED, s.INVALID, s.API_FAILED)
UNFINISHED_ROW_STATES = (s.PENDING, s.WAITING_PARENT, s.SENDING, s.API_SUCCESS)


def utcnow() -> dt.datetime:
    """Naive UTC, the form every timestamp column holds."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


_json = to_json


@dataclass(frozen=True)
class Owner:
    """Who runs a batch: workstation, user and process."""

    host: str
    user: str
    pid: int
    app: str = f"OrderSync {__version__}"

    @classmethod
    def current(cls) -> "Owner":
        try:
            user = getpass.getuser()
        except Exception:  # no login name (a service account without one)
            user = "unknown"
        return cls(socket.gethostname()[:128], user[:128], os.getpid())

    @property
    def label(self) -> str:
        return f"{self.user}@{self.host}"

    def columns(self) -> dict[str, Any]:
        return {"owner_host": self.host, "owner_user": self.user, "owner_pid": self.pid, "owner_app": self.app}


@dataclass
class Batch:
    batch_id: int
    customer: str
    status: str
    resumed: bool = False
    generation: int = 1


@dataclass
class StageResult:
    """What ``stage`` loaded into a batch."""

    items: int = 0
    subitems: int = 0
    invalid: int = 0
    invalid_unchanged: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: {NEW: 0, CHANGED: 0, REMOVED: 0})

    @property
    def nothing_to_send(self) -> bool:
        return self.items == 0 and self.subitems == 0


@dataclass
class Failure:
    """A failed staged row, classified where the failure arose."""

    stg_id: int
    error_type: str
    message: str
    retryable: bool
    error_code: str | None = None
    http_status: int | None = None


class StagingOperations:
    """All reads and writes of the staging, error, batch and production tables."""

    def __init__(self, engine: Engine, owner: Owner | None = None, stale_after_seconds: int = 120):
        self.engine = engine
        self.owner = owner or Owner.current()
        self.stale_after = dt.timedelta(seconds=stale_after_seconds)
        self._generations: dict[int, int] = {}  # batch id -> the owner generation this process holds

    # == batches ====================================================================================

    def claim(self, customer: str, board_id: str) -> Batch:
        """Own the customer's batch: resume an unfinished one, or start a new one.

        Raises CustomerBusy when another process holds a live batch (fresh heartbeat, by the
        database's clock). The database's unique index on active batches settles races between
        workstations; every claim and takeover raises the batch's owner generation, the fencing
        token every later write of the owner checks.
        """
        b = s.batches
        unfinished = sa.or_(*(
            sa.select(t.c.batch_id).where(t.c.batch_id == b.c.batch_id, t.c.state.in_(UNFINISHED_ROW_STATES)).exists()
            for t in (s.stg_items, s.stg_subitems)
        ), sa.select(s.requests.c.request_id).where(s.requests.c.batch_id == b.c.batch_id).exists())
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(b.c.batch_id, b.c.status, b.c.heartbeat_at, b.c.owner_host, b.c.owner_pid, b.c.owner_user,
                          b.c.owner_generation,
                          # a CASE, not the bare predicate: T-SQL allows no boolean expression in a select list
                          sa.case((unfinished, 1), else_=0).label("unfinished"), db_utcnow().label("now"))
                .where(b.c.customer == customer, b.c.board_id == board_id,
                       sa.or_(b.c.status.in_(s.ACTIVE_BATCH_STATES),
                              sa.and_(b.c.status.in_((s.CANCELLED, s.FAILED)), unfinished)))
                .order_by(b.c.batch_id.desc())
            ).all()
        for row in rows:
            if row.status in s.ACTIVE_BATCH_STATES:
                mine = row.owner_host == self.owner.host and row.owner_pid == self.owner.pid
                dead = row.owner_host == self.owner.host and not mine and not _process_alive(row.owner_pid)
                if not mine and not dead and row.heartbeat_at > row.now - self.stale_after:
                    raise CustomerBusy(
                        f"{customer} is being synced by {row.owner_user}@{row.owner_host} (batch {row.batch_id}); "
                        "try again when it has finished"
                    )
                why = "resumed" if mine else "its process is gone" if dead else "its heartbeat went stale"
                return self._take_over(row, customer, why)
            if row.unfinished:
                return self._take_over(row, customer, f"it ended {row.status}")
        try:
            with self.engine.begin() as conn:
                now = database_now(conn)
                batch_id = conn.execute(
                    sa.insert(b).values(
                        customer=customer, board_id=board_id, status=s.STARTED, started_at=now, heartbeat_at=now,
                        cancel_requested=False, owner_generation=1, **self.owner.columns(), **_zero_counts(),
                    )
                ).inserted_primary_key[0]
        except sa.exc.IntegrityError:
            raise CustomerBusy(f"{customer} was claimed by another process a moment ago; try again later") from None
        self._generations[batch_id] = 1
        log.info("batch %s: claimed %s", batch_id, customer)
        return Batch(batch_id, customer, s.STARTED, generation=1)

    def _take_over(self, row: Any, customer: str, why: str) -> Batch:
        """Resume a batch row: optimistic on its owner generation, so two resumers cannot both win."""
        b = s.batches
        status = row.status if row.status in s.ACTIVE_BATCH_STATES else s.STAGED
        generation = row.owner_generation + 1
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    sa.update(b).where(b.c.batch_id == row.batch_id, b.c.status == row.status,
                                       b.c.owner_generation == row.owner_generation)
                    .values(status=status, heartbeat_at=db_utcnow(), cancel_requested=False, finished_at=None,
                            owner_generation=generation, **self.owner.columns())
                )
        except sa.exc.IntegrityError:
            raise CustomerBusy(f"{customer} already has an active batch in another process") from None
        if result.rowcount != 1:
            raise CustomerBusy(f"{customer}: batch {row.batch_id} was taken over by another process")
        self._generations[row.batch_id] = generation
        log.info("batch %s: resuming %s (%s)", row.batch_id, customer, why)
        return Batch(row.batch_id, customer, status, resumed=True, generation=generation)

    @contextmanager
    def owned(self, batch_id: int, **values: Any) -> Iterator[Connection]:
        """A transaction that writes for the batch only while this process still owns it.

        The fence: the batch row's heartbeat (and ``values``) is updated where the owner generation is
        still ours, in the same transaction as the writes that follow, so a process whose batch was
        taken over raises BatchTakenOver before it writes, let alone sends, anything.
        """
        generation = self._generations.get(batch_id)
        with self.engine.begin() as conn:
            fenced = generation is not None and conn.execute(
                sa.update(s.batches).where(s.batches.c.batch_id == batch_id,
                                           s.batches.c.owner_generation == generation)
                .values(heartbeat_at=db_utcnow(), **values)).rowcount == 1
            if not fenced:
                self._generations.pop(batch_id, None)
                raise BatchTakenOver(
                    f"batch {batch_id} is no longer ours: another process resumed it after our heartbeat went stale"
                )
            yield conn

    def owns(self, batch_id: int) -> bool:
        return batch_id in self._generations

    def cancel_requested(self, conn: Connection, batch_id: int) -> bool:
        b = s.batches
        return bool(conn.execute(sa.select(b.c.cancel_requested).where(b.c.batch_id == batch_id)).scalar())

    def heartbeat(self, batch_id: int, **values: Any) -> bool:
        """Refresh the heartbeat (and any counts given). Returns True if a cancel was requested.

        Raises BatchTakenOver when another process has resumed the batch meanwhile.
        """
        with self.owned(batch_id, **values) as conn:
            return self.cancel_requested(conn, batch_id)

    def set_status(self, batch_id: int, status: str, message: str | None = None, **values: Any) -> None:
        phase = {s.STAGED: "staged_at", s.PUSHING: "push_started_at", s.PROMOTING: "promoting_at"}
        if status in phase:
            values.setdefault(phase[status], db_utcnow())
        if status in s.FINAL_BATCH_STATES:
            values.setdefault("finished_at", db_utcnow())
        if message is not None:
            values["message"] = message
        with self.owned(batch_id, status=status, **values):
            pass
        log.info("batch %s: %s%s", batch_id, status, f" ({message})" if message else "")

    def request_cancel(self, batch_id: int) -> bool:
        """Ask an active batch, on any workstation, to stop after its request in flight.

        Returns whether the batch was active (a finished batch is left alone).
        """
        b = s.batches
        with self.engine.begin() as conn:
            return conn.execute(sa.update(b).where(b.c.batch_id == batch_id, b.c.status.in_(s.ACTIVE_BATCH_STATES))
                                .values(cancel_requested=True)).rowcount == 1

    def failed_keys(self, batch_id: int) -> set[str]:
        """Sync keys of the lines whose rows failed in the batch (their errors are open)."""
        e, es = s.err_items, s.err_subitems
        with self.engine.connect() as conn:
            keys = {k for (k,) in conn.execute(sa.select(e.c.sync_key).where(
                e.c.batch_id == batch_id, e.c.resolved_at.is_(None), e.c.sync_key.is_not(None)))}
            keys |= {k for (k,) in conn.execute(sa.select(es.c.parent_sync_key).where(
                es.c.batch_id == batch_id, es.c.resolved_at.is_(None), es.c.parent_sync_key.is_not(None)))}
        return keys

    def batch(self, batch_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(s.batches).where(s.batches.c.batch_id == batch_id)).mappings().one())

    # == staging ====================================================================================

    def stage(self, batch_id: int, changes: CustomerChanges) -> StageResult:
        """Load a customer's changes into the batch, in one transaction, in bulk.

        Invalid lines become INVALID staging rows and VALIDATION errors, unless the same line is
        already an open error with the same content (a re-run with nothing changed stages nothing).
        """
        result = StageResult()
        now = utcnow()
        with self.owned(batch_id) as conn:
            json_of = _JsonMemo()
            item_rows = [self._item_row(batch_id, change, now, json_of) for change in changes.changes]
            for change in changes.changes:
                result.by_kind[change.kind] += 1
            new_invalid = self._validation_errors(conn, batch_id, changes, now)
            result.invalid = len(new_invalid)
            result.invalid_unchanged = len(changes.invalid) - len(new_invalid)
            result.items = len(item_rows)
            bulk_insert_rows(conn, s.stg_items, _ITEM_COLUMNS, item_rows)
            del item_rows
            bulk_insert(conn, s.stg_items, [self._invalid_row(batch_id, line, now) for line in new_invalid])
            sub_rows = self._subitem_rows(conn, batch_id, changes.changes, now, json_of) if changes.changes else []
            bulk_insert_rows(conn, s.stg_subitems, _SUB_COLUMNS, sub_rows)
            result.subitems = len(sub_rows)
            del sub_rows
            conn.execute(
                sa.update(s.batches).where(s.batches.c.batch_id == batch_id).values(
                    total_items=result.items, total_subitems=result.subitems, invalid_count=result.invalid,
                    status=s.STAGED, staged_at=db_utcnow(),
                )
            )
        log.info("batch %s: staged %s items, %s subitems, %s invalid (%s unchanged invalid)",
                 batch_id, result.items, result.subitems, result.invalid, result.invalid_unchanged)
        return result

    @staticmethod
    def _item_row(batch_id: int, change: LineChange, now: dt.datetime, json_of: "_JsonMemo") -> list[Any]:
        """The staging row of a line, in the order of ``_ITEM_COLUMNS``."""
        if change.kind == NEW:
            action = s.CREATE
        elif change.kind == REMOVED:
            action = s.REMOVE
        else:
            action = s.UPDATE if change.changed_fields else s.NONE
        # An item with nothing to send is only the parent of changed subitems: its id is known.
        state = s.API_SUCCESS if action == s.NONE else s.PENDING
        fields = change.fields
        return [
            batch_id, change.customer, change.sync_key, change.order_number, change.po_number, action, state,
            fields.get("name"), fields.get("group"), None, change.monday_item_id, _json(fields),
            _json(change.old_fields) if change.old_fields is not None else None,
            # A new line sends all its fields: the same list for every line, encoded once.
            json_of.keys(fields) if change.old_fields is None else _json(change.changed_fields),
            # The source values are kept for invalid lines (their ERR rows); a valid line's are
            # read again from ORDERS_UNIFIED when someone looks at it.
            None,
            change.content_hash, change.line_hash, change.source_hash, 0, now,
        ]

    @staticmethod
    def _invalid_row(batch_id: int, line: MappedLine, now: dt.datetime) -> dict[str, Any]:
        t = s.stg_items  # an invalid line's values are kept as far as the columns hold them
        errors = storable("; ".join(line.errors))
        return {
            "batch_id": batch_id, "customer": fit(line.customer, t.c.customer), "sync_key": fit(line.sync_key, t.c.sync_key),
            "order_number": fit(line.order_number, t.c.order_number), "po_number": fit(line.po_number, t.c.po_number),
            "action": s.CREATE, "state": s.INVALID, "item_name": fit(line.item_name, t.c.item_name),
            "group_name": fit(line.group_name, t.c.group_name), "group_id": None, "monday_item_id": None,
            "values_json": _json(_invalid_payload(line)), "old_values_json": None, "changed_columns": None,
            "source_json": _json(line.source), "content_hash": line.content_hash, "line_hash": line.line_hash,
            "source_hash": line.source_hash, "validation_errors": errors, "attempts": 0,
            "last_error": errors, "created_at": now,
        }

    def _subitem_rows(self, conn: Connection, batch_id: int, changes: list[LineChange], now: dt.datetime,
                      json_of: "_JsonMemo") -> list[list[Any]]:
        """The staging rows of the lines' sizes, in the order of ``_SUB_COLUMNS``."""
        t = s.stg_items
        ids = dict(conn.execute(
            sa.select(t.c.sync_key, t.c.stg_id).where(t.c.batch_id == batch_id, t.c.state != s.INVALID)
        ).all())
        rows = []
        append = rows.append
        # A new size's row depends only on the size (the mapper shares one per size and quantity)
        # and on whether its parent exists: the rest of its row is built once per size.
        new_parts: dict[tuple[int, bool], tuple[SizeChange, tuple, tuple]] = {}
        for change in changes:
            head = (batch_id, ids[change.sync_key], change.customer, change.sync_key)
            parent_id = change.monday_item_id
            parent_known = bool(parent_id)
            for size in change.sizes:
                if size.kind == NEW:
                    parts = new_parts.get((id(size), parent_known))
                    if parts is None or parts[0] is not size:
                        state = s.PENDING if parent_known else s.WAITING_PARENT
                        # a new subitem sends all its columns (changed_columns NULL)
                        parts = new_parts[(id(size), parent_known)] = (
                            size, (size.label, size.position, s.CREATE, state, size.name),
                            (size.monday_subitem_id, size.quantity, size.old_quantity, json_of.value(size.values),
                             None, None, size.hash, 0, now))
                    append([*head, *parts[1], parent_id, *parts[2]])
                    continue
                action = s.REMOVE if size.kind == REMOVED else s.UPDATE
                append([*head, size.label, size.position, action, s.PENDING, size.name, parent_id,
                        size.monday_subitem_id, size.quantity, size.old_quantity, json_of.value(size.values),
                        _json(size.old_values) if size.old_values is not None else None,
                        _json(size.changed_fields), size.hash, 0, now])
        return rows

    def _validation_errors(self, conn: Connection, batch_id: int, changes: CustomerChanges,
                           now: dt.datetime) -> list[MappedLine]:
        """Record VALIDATION errors; return the invalid lines that are new or whose content changed.

        Open VALIDATION errors of this customer whose line is no longer invalid are resolved.
        """
        e = s.err_items
        open_rows = conn.execute(
            sa.select(e.c.err_id, e.c.sync_key, e.c.content_hash)
            .where(e.c.customer == changes.customer, e.c.error_type == "VALIDATION", e.c.resolved_at.is_(None))
        ).all()
        by_identity = {(r.sync_key, r.content_hash): r.err_id for r in open_rows}
        by_key = {r.sync_key: r.err_id for r in open_rows if r.sync_key is not None}
        still_open: set[int] = set()
        fresh: list[MappedLine] = []
        inserts: list[dict] = []
        updates: list[dict] = []
        for line in changes.invalid:
            identity = (line.sync_key, line.content_hash)
            if identity in by_identity:
                still_open.add(by_identity[identity])
                continue
            fresh.append(line)
            row = _error_row(batch_id, line, now)
            existing = by_key.get(line.sync_key) if line.sync_key is not None else None
            if existing is not None and existing not in still_open:
                still_open.add(existing)
                updates.append({"b_err_id": existing, **{k: row[k] for k in _VALIDATION_UPDATE}})
            else:
                inserts.append(row)
        if inserts:
            conn.execute(sa.insert(e), inserts)
        if updates:
            conn.execute(
                sa.update(e).where(e.c.err_id == sa.bindparam("b_err_id"))
                .values({k: sa.bindparam(k) for k in _VALIDATION_UPDATE}),
                updates,
            )
        gone = [r.err_id for r in open_rows if r.err_id not in still_open]
        for chunk in _chunks(gone):
            conn.execute(
                sa.update(e).where(e.c.err_id.in_(chunk)).values(
                    resolved_at=now, resolved_by=self.owner.label,
                    resolution="no longer invalid in ORDERS_UNIFIED (fixed or removed at the source)",
                )
            )
        return fresh

    # == transitions used by the push ===============================================================
    #
    # Each public transition is one fenced transaction (``owned``) and one statement per step, never
    # one per row; the ``_…(conn, …)`` forms let the request ledger settle a whole answer at once.

    def pending_rows(self, batch_id: int, table: sa.Table, states: Sequence[str] = (s.PENDING,),
                     limit: int | None = None) -> list[dict[str, Any]]:
        query = sa.select(table).where(table.c.batch_id == batch_id, table.c.state.in_(states))
        query = query.order_by(table.primary_key.columns.values()[0])
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def mark_sending(self, batch_id: int, table: sa.Table, ids: Sequence[int], request_id: int | None = None) -> None:
        """Commit SENDING before the request leaves: after a crash these rows are settled first."""
        with self.owned(batch_id) as conn:
            self._mark_sending(conn, table, ids, request_id)

    @staticmethod
    def _mark_sending(conn: Connection, table: sa.Table, ids: Sequence[int], request_id: int | None) -> None:
        pk = table.primary_key.columns.values()[0]
        for chunk in _chunks(list(ids)):
            conn.execute(sa.update(table).where(pk.in_(chunk)).values(
                state=s.SENDING, sent_at=db_utcnow(), attempts=table.c.attempts + 1, request_id=request_id))

    def reset_to_pending(self, batch_id: int, table: sa.Table, ids: Sequence[int]) -> None:
        """Rows whose request certainly did not reach the board (or were not found there) go back to PENDING."""
        with self.owned(batch_id) as conn:
            self._reset_to_pending(conn, table, ids)

    @staticmethod
    def _reset_to_pending(conn: Connection, table: sa.Table, ids: Sequence[int]) -> None:
        pk = table.primary_key.columns.values()[0]
        for chunk in _chunks(list(ids)):
            conn.execute(sa.update(table).where(pk.in_(chunk), table.c.state == s.SENDING)
                         .values(state=s.PENDING, request_id=None))

    def group_names(self, batch_id: int) -> list[str]:
        """Groups the batch's pending items go to (the board's groups are created once, before the push)."""
        t = s.stg_items
        with self.engine.connect() as conn:
            return [name for (name,) in conn.execute(
                sa.select(t.c.group_name).distinct().where(
                    t.c.batch_id == batch_id, t.c.state.in_((s.PENDING, s.SENDING)), t.c.group_name.is_not(None)))]

    def set_group_ids(self, batch_id: int, group_ids: dict[str, str]) -> None:
        t = s.stg_items
        if not group_ids:
            return
        with self.owned(batch_id) as conn:
            conn.execute(
                sa.update(t).where(t.c.batch_id == batch_id, t.c.group_name == sa.bindparam("b_name"))
                .values(group_id=sa.bindparam("b_group")),
                [{"b_name": name, "b_group": gid} for name, gid in group_ids.items()],
            )

    def record_item_ids(self, batch_id: int, confirmed: Sequence[tuple[int, str]]) -> None:
        """Items monday confirmed: store their ids and release their waiting subitems."""
        if confirmed:
            with self.owned(batch_id) as conn:
                self._record_item_ids(conn, confirmed)

    @staticmethod
    def _record_item_ids(conn: Connection, confirmed: Sequence[tuple[int, str]]) -> None:
        if not confirmed:
            return
        t, st = s.stg_items, s.stg_subitems
        # An id of None keeps the row's own (a removal that found its item already gone).
        params = [{"b_id": stg_id, "b_item": None if item_id is None else str(item_id)} for stg_id, item_id in confirmed]
        conn.execute(
            sa.update(t).where(t.c.stg_id == sa.bindparam("b_id"))
            .values(monday_item_id=sa.func.coalesce(sa.bindparam("b_item", type_=s.MONDAY_ID), t.c.monday_item_id),
                    state=s.API_SUCCESS, confirmed_at=db_utcnow(), request_id=None),
            params,
        )
        conn.execute(
            sa.update(st).where(st.c.parent_stg_id == sa.bindparam("b_id"), st.c.state == s.WAITING_PARENT)
            .values(parent_monday_item_id=sa.select(t.c.monday_item_id).where(t.c.stg_id == st.c.parent_stg_id)
                    .scalar_subquery(), state=s.PENDING),
            [{"b_id": p["b_id"]} for p in params],
        )

    def record_subitem_ids(self, batch_id: int, confirmed: Sequence[tuple[int, str]]) -> None:
        if confirmed:
            with self.owned(batch_id) as conn:
                self._record_subitem_ids(conn, confirmed)

    @staticmethod
    def _record_subitem_ids(conn: Connection, confirmed: Sequence[tuple[int, str]]) -> None:
        if not confirmed:
            return
        st = s.stg_subitems
        conn.execute(
            sa.update(st).where(st.c.stg_sub_id == sa.bindparam("b_id"))
            .values(monday_subitem_id=sa.func.coalesce(sa.bindparam("b_sub", type_=s.MONDAY_ID), st.c.monday_subitem_id),
                    state=s.API_SUCCESS, confirmed_at=db_utcnow(), request_id=None),
            [{"b_id": stg_id, "b_sub": None if sub_id is None else str(sub_id)} for stg_id, sub_id in confirmed],
        )

    def record_failures(self, batch_id: int, table: sa.Table, failures: Sequence[Failure]) -> None:
        """Mark rows API_FAILED and record each in its ERR table (an open error of the same row is updated).

        A failed item takes its waiting subitems with it as PARENT_FAILED errors.
        """
        if failures:
            with self.owned(batch_id) as conn:
                self._record_failures(conn, batch_id, table, failures)

    def _record_failures(self, conn: Connection, batch_id: int, table: sa.Table, failures: Sequence[Failure],
                         orphan_states: Sequence[str] = (s.WAITING_PARENT,)) -> None:
        if not failures:
            return
        now = utcnow()
        items = table is s.stg_items
        pk = s.stg_items.c.stg_id if items else s.stg_subitems.c.stg_sub_id
        by_id = {f.stg_id: f for f in failures}
        rows = []
        for chunk in _chunks(list(by_id)):
            rows += conn.execute(sa.select(table).where(pk.in_(chunk))).mappings().all()
        conn.execute(
            sa.update(table).where(pk == sa.bindparam("b_id")).values(state=s.API_FAILED, request_id=None,
                                                                      last_error=sa.bindparam("b_msg")),
            [{"b_id": f.stg_id, "b_msg": f.message} for f in failures],
        )
        self._write_errors(conn, batch_id, items, [(row, by_id[row[pk.name]]) for row in rows], now)
        if items:
            orphans = []
            for chunk in _chunks(list(by_id)):
                orphans += conn.execute(
                    sa.select(s.stg_subitems).where(
                        s.stg_subitems.c.parent_stg_id.in_(chunk), s.stg_subitems.c.state.in_(orphan_states))
                ).mappings().all()
            if orphans:
                for chunk in _chunks([o["stg_sub_id"] for o in orphans]):
                    conn.execute(sa.update(s.stg_subitems).where(s.stg_subitems.c.stg_sub_id.in_(chunk))
                                 .values(state=s.API_FAILED, last_error="the parent item failed", request_id=None))
                self._write_errors(conn, batch_id, False, [
                    (o, Failure(o["stg_sub_id"], "PARENT_FAILED",
                                f"not sent: its item failed ({by_id[o['parent_stg_id']].message})",
                                by_id[o["parent_stg_id"]].retryable))
                    for o in orphans
                ], now)

    def report_duplicates(self, batch_id: int, duplicates: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Two or more items on the board carry one sync key: an open error per line, its row stays synced."""
        if not duplicates:
            return
        t = s.stg_items
        ids = dict((key, list(found)) for key, found in duplicates)
        with self.owned(batch_id) as conn:
            rows = []
            for chunk in _chunks(list(ids)):
                rows += conn.execute(sa.select(t).where(t.c.batch_id == batch_id, t.c.sync_key.in_(chunk))).mappings().all()
            self._write_errors(conn, batch_id, True, [(row, Failure(
                row["stg_id"], "DUPLICATE_ON_BOARD",
                f"{len(ids[row['sync_key']])} items on the board carry this line's sync key "
                f"(ids {', '.join(ids[row['sync_key']])}); OrderSync keeps the oldest and created no other. "
                "Delete the extra ones on the board, then retry this error", True)) for row in rows], utcnow())

    def _write_errors(self, conn: Connection, batch_id: int, items: bool,
                      pairs: list[tuple[Any, Failure]], now: dt.datetime) -> None:
        e = s.err_items if items else s.err_subitems
        open_by_identity: dict[tuple, int] = {}
        if items:
            keys = [row["sync_key"] for row, _ in pairs if row["sync_key"]]
            for chunk in _chunks(keys):
                for err_id, key in conn.execute(sa.select(e.c.err_id, e.c.sync_key).where(
                        e.c.sync_key.in_(chunk), e.c.resolved_at.is_(None), e.c.error_type != "VALIDATION")):
                    open_by_identity[(key,)] = err_id
        else:
            keys = sorted({row["parent_sync_key"] for row, _ in pairs if row["parent_sync_key"]})
            for chunk in _chunks(keys):
                for err_id, key, size in conn.execute(sa.select(e.c.err_id, e.c.parent_sync_key, e.c.size_label).where(
                        e.c.parent_sync_key.in_(chunk), e.c.resolved_at.is_(None))):
                    open_by_identity[(key, size)] = err_id
        parents = self._parent_info(conn, pairs) if not items else {}
        inserts, updates = [], []
        for row, failure in pairs:
            identity = (row["sync_key"],) if items else (row["parent_sync_key"], row["size_label"])
            base = {
                "batch_id": batch_id, "error_type": failure.error_type, "error_code": fit(failure.error_code, e.c.error_code),
                "http_status": failure.http_status, "message": storable(failure.message), "retryable": failure.retryable,
                "payload_json": row["values_json"], "content_hash": row["content_hash"], "last_failed_at": now,
            }
            existing = open_by_identity.get(identity)
            if existing is not None:
                updates.append({"b_err_id": existing, **{f"b_{k}": v for k, v in base.items()}})
                continue
            if items:
                extra = {"stg_id": row["stg_id"], "sync_key": row["sync_key"], "item_name": row["item_name"],
                         "customer": row["customer"], "order_number": row["order_number"],
                         "po_number": row["po_number"], "source_json": row["source_json"]}
            else:
                parent = parents.get(row["parent_stg_id"], {})
                extra = {"stg_sub_id": row["stg_sub_id"], "parent_sync_key": row["parent_sync_key"],
                         "size_label": row["size_label"], "subitem_name": row["subitem_name"],
                         "customer": parent.get("customer", ""), "order_number": parent.get("order_number"),
                         "po_number": parent.get("po_number"), "source_json": parent.get("source_json")}
            inserts.append({**base, **extra, "retry_count": 0, "first_failed_at": now, "resolved_at": None,
                            "resolved_by": None, "resolution": None})
        if inserts:
            conn.execute(sa.insert(e), inserts)
        if updates:
            conn.execute(
                sa.update(e).where(e.c.err_id == sa.bindparam("b_err_id")).values(
                    {**{k[2:]: sa.bindparam(k) for k in updates[0] if k != "b_err_id"},
                     "retry_count": e.c.retry_count + 1}),
                updates,
            )

    @staticmethod
    def _parent_info(conn: Connection, pairs: list[tuple[Any, Failure]]) -> dict[int, dict]:
        t = s.stg_items
        ids = sorted({row["parent_stg_id"] for row, _ in pairs})
        info: dict[int, dict] = {}
        for chunk in _chunks(ids):
            for r in conn.execute(sa.select(t.c.stg_id, t.c.customer, t.c.order_number, t.c.po_number,
                                            t.c.source_json).where(t.c.stg_id.in_(chunk))).mappings():
                info[r["stg_id"]] = dict(r)
        return info

    # == promotion and cleanup ======================================================================

    def promote(self, batch_id: int, board_id: str) -> dict[str, int]:
        """Upsert every confirmed row of the batch into the production tables, set-based.

        Portable upsert: UPDATE … FROM the staging rows that exist in production, then INSERT …
        SELECT the rest, in one transaction (one active batch per customer means no other writer
        touches these keys). A line some of whose subitems were not confirmed keeps a stale
        line hash, so the next run compares it again and sends what is still missing.
        """
        now = utcnow()
        t, st, p, ps = s.stg_items, s.stg_subitems, s.items, s.subitems
        with self.owned(batch_id) as conn:
            # The rows' states changed since they were staged: plan with what is there now.
            refresh_statistics(conn, t.c.batch_id, t.c.state, st.c.batch_id, st.c.state)
            ok_items = sa.and_(t.c.batch_id == batch_id, t.c.state == s.API_SUCCESS)
            conn.execute(
                sa.update(p).where(p.c.board_id == board_id, p.c.sync_key == t.c.sync_key, ok_items).values(
                    customer=t.c.customer, monday_item_id=t.c.monday_item_id,
                    group_id=sa.func.coalesce(t.c.group_id, p.c.group_id), group_name=t.c.group_name,
                    item_name=t.c.item_name, order_number=sa.func.coalesce(t.c.order_number, p.c.order_number),
                    po_number=sa.func.coalesce(t.c.po_number, p.c.po_number), values_json=t.c.values_json,
                    content_hash=t.c.content_hash, line_hash=t.c.line_hash, source_hash=t.c.source_hash,
                    is_removed=sa.case((t.c.action == s.REMOVE, sa.true()), else_=sa.false()),
                    last_synced_at=now, last_batch_id=batch_id, board_state=None,
                )
            )
            exists = sa.select(p.c.sync_key).where(p.c.board_id == board_id, p.c.sync_key == t.c.sync_key).exists()
            conn.execute(sa.insert(p).from_select(
                ["board_id", "sync_key", "customer", "monday_item_id", "group_id", "group_name", "item_name",
                 "order_number", "po_number", "values_json", "content_hash", "line_hash", "source_hash",
                 "is_removed", "first_synced_at", "last_synced_at", "last_batch_id"],
                sa.select(sa.literal(board_id, s.MONDAY_ID), t.c.sync_key, t.c.customer, t.c.monday_item_id,
                          t.c.group_id, t.c.group_name, t.c.item_name, t.c.order_number, t.c.po_number,
                          t.c.values_json, t.c.content_hash, t.c.line_hash, t.c.source_hash,
                          sa.case((t.c.action == s.REMOVE, sa.true()), else_=sa.false()),
                          sa.literal(now, sa.DateTime), sa.literal(now, sa.DateTime),
                          sa.literal(batch_id, sa.Integer))
                .where(ok_items, ~exists),
            ))
            ok_subs = sa.and_(st.c.batch_id == batch_id, st.c.state == s.API_SUCCESS)
            conn.execute(
                sa.update(ps).where(ps.c.board_id == board_id, ps.c.parent_sync_key == st.c.parent_sync_key,
                                    ps.c.size_label == st.c.size_label, ok_subs).values(
                    monday_subitem_id=st.c.monday_subitem_id, parent_monday_item_id=st.c.parent_monday_item_id,
                    subitem_name=st.c.subitem_name, quantity=st.c.quantity, values_json=st.c.values_json,
                    content_hash=st.c.content_hash,
                    is_removed=sa.case((st.c.action == s.REMOVE, sa.true()), else_=sa.false()),
                    last_synced_at=now, last_batch_id=batch_id,
                )
            )
            sub_exists = sa.select(ps.c.size_label).where(
                ps.c.board_id == board_id, ps.c.parent_sync_key == st.c.parent_sync_key,
                ps.c.size_label == st.c.size_label).exists()
            conn.execute(sa.insert(ps).from_select(
                ["board_id", "parent_sync_key", "size_label", "customer", "monday_subitem_id",
                 "parent_monday_item_id", "subitem_name", "quantity", "values_json", "content_hash", "is_removed",
                 "first_synced_at", "last_synced_at", "last_batch_id"],
                sa.select(sa.literal(board_id, s.MONDAY_ID), st.c.parent_sync_key, st.c.size_label, st.c.customer,
                          st.c.monday_subitem_id, st.c.parent_monday_item_id, st.c.subitem_name, st.c.quantity,
                          st.c.values_json, st.c.content_hash,
                          sa.case((st.c.action == s.REMOVE, sa.true()), else_=sa.false()),
                          sa.literal(now, sa.DateTime), sa.literal(now, sa.DateTime),
                          sa.literal(batch_id, sa.Integer))
                .where(ok_subs, ~sub_exists),
            ))
            # Lines with a subitem that was not confirmed stay pending for the next run.
            confirmed = (s.API_SUCCESS, s.PROMOTED)
            unconfirmed = sa.select(st.c.parent_sync_key).where(
                st.c.batch_id == batch_id, st.c.state.not_in(confirmed))
            conn.execute(sa.update(p).where(p.c.board_id == board_id, p.c.sync_key.in_(unconfirmed))
                         .values(line_hash=STALE_LINE_HASH, source_hash=None))
            # A line promoted before (a cancelled or failed run of this batch) whose last subitems are
            # confirmed now is complete: it gets its line hash back, so it is not pending any more.
            done_line = sa.and_(t.c.batch_id == batch_id, t.c.state == s.PROMOTED, t.c.sync_key == p.c.sync_key,
                                ~sa.select(st.c.stg_sub_id).where(st.c.parent_stg_id == t.c.stg_id,
                                                                  st.c.state.not_in(confirmed)).exists())
            # IN (the batch's promoted keys) first: evaluated once, it spares a scan of the whole board
            # when, as usual, nothing of the batch was promoted before.
            promoted_before = sa.select(t.c.sync_key).where(t.c.batch_id == batch_id, t.c.state == s.PROMOTED)
            conn.execute(sa.update(p).where(p.c.board_id == board_id, p.c.sync_key.in_(promoted_before),
                                            p.c.line_hash == STALE_LINE_HASH,
                                            sa.select(t.c.stg_id).where(done_line).exists())
                         .values(line_hash=sa.select(t.c.line_hash).where(done_line).scalar_subquery(),
                                 source_hash=sa.select(t.c.source_hash).where(done_line).scalar_subquery()))
            # Errors of rows that are now on the board are resolved, never deleted.
            resolved = {"resolved_at": now, "resolved_by": self.owner.label,
                        "resolution": f"synced in batch {batch_id}"}
            e, es = s.err_items, s.err_subitems
            # (Two items with one key on the board stay reported until a person removes one.)
            # IN, not a correlated EXISTS: the planner would look the key up through the staging
            # table's (batch, state) index, a scan of the batch per open error.
            confirmed_keys = sa.select(t.c.sync_key).where(ok_items)
            conn.execute(sa.update(e).where(e.c.resolved_at.is_(None), e.c.error_type != "DUPLICATE_ON_BOARD",
                                            e.c.sync_key.in_(confirmed_keys))
                         .values(**resolved))
            conn.execute(sa.update(es).where(es.c.resolved_at.is_(None), sa.select(st.c.stg_sub_id).where(
                ok_subs, st.c.parent_sync_key == es.c.parent_sync_key, st.c.size_label == es.c.size_label
            ).exists()).values(**resolved))
            # Promoted rows are finished: deleted here rather than marked PROMOTED for ``cleanup`` to
            # delete (an update of every row and its index entry, then a delete of each). Only an
            # item some of whose subitems are still staged stays, PROMOTED, as their parent.
            promoted_subs = conn.execute(sa.delete(st).where(ok_subs)).rowcount
            still_parent = sa.select(st.c.stg_sub_id).where(st.c.parent_stg_id == t.c.stg_id).exists()
            promoted_items = conn.execute(sa.delete(t).where(ok_items, ~still_parent)).rowcount
            promoted_items += conn.execute(sa.update(t).where(ok_items).values(state=s.PROMOTED)).rowcount
            if promoted_items + promoted_subs > STATISTICS_THRESHOLD:
                refresh_statistics(conn, p.c.board_id, ps.c.board_id)
        log.info("batch %s: promoted %s items and %s subitems", batch_id, promoted_items, promoted_subs)
        return {"items": promoted_items, "subitems": promoted_subs}

    def cleanup(self, batch_id: int) -> int:
        """Remove the batch's finished staging rows (promoted, invalid, failed: ERR keeps those)."""
        t, st = s.stg_items, s.stg_subitems
        with self.owned(batch_id) as conn:
            # Subitems first: they reference their parent's staging row.
            removed = conn.execute(sa.delete(st).where(st.c.batch_id == batch_id,
                                                       st.c.state.in_(TERMINAL_ROW_STATES))).rowcount
            # NOT EXISTS, not NOT IN: an anti-join on every dialect, never a subquery per row.
            still_parent = sa.select(st.c.stg_sub_id).where(st.c.parent_stg_id == t.c.stg_id).exists()
            removed += conn.execute(sa.delete(t).where(t.c.batch_id == batch_id, t.c.state.in_(TERMINAL_ROW_STATES),
                                                       ~still_parent)).rowcount
        return removed

    def outcome_counts(self, batch_id: int) -> dict[str, int]:
        """What the batch's staged rows have come to so far, by kind (before cleanup removes them)."""
        counts = dict.fromkeys(_COUNTED, 0)
        with self.engine.connect() as conn:
            for name, table in (("items", s.stg_items), ("subitems", s.stg_subitems)):
                query = (sa.select(table.c.action, table.c.state, table.c.recreate, sa.func.count())
                         .where(table.c.batch_id == batch_id)
                         .group_by(table.c.action, table.c.state, table.c.recreate))
                for action, state, recreate, n in conn.execute(query):
                    if state == s.INVALID:
                        continue
                    counts["total"] += n
                    if state in (s.SENDING, s.API_SUCCESS, s.API_FAILED, s.PROMOTED):
                        counts["sent"] += n
                    if state in (s.API_SUCCESS, s.PROMOTED):
                        counts["succeeded"] += n
                        if action == s.CREATE and recreate:
                            counts[f"{name}_recreated"] += n
                        elif action == s.CREATE:
                            counts[f"{name}_created"] += n
                        elif action == s.REMOVE:
                            counts["removed"] += n
                        elif action == s.UPDATE:
                            counts[f"{name}_updated"] += n
                    elif state == s.API_FAILED:
                        counts["failed"] += n
        return counts

    def add_counts(self, batch_id: int, counts: dict[str, int], **absolute: Any) -> None:
        """Add a run's outcome counts to the batch row (a resumed batch adds its second run)."""
        b = s.batches
        columns = {"sent": "sent_count", "succeeded": "succeeded_count", "failed": "failed_count",
                   "items_created": "items_created", "items_updated": "items_updated",
                   "subitems_created": "subitems_created", "subitems_updated": "subitems_updated",
                   "removed": "removed_count", "items_recreated": "items_recreated",
                   "subitems_recreated": "subitems_recreated"}
        values = {column: b.c[column] + counts.get(key, 0) for key, column in columns.items()}
        with self.owned(batch_id, **values, **absolute):
            pass

    def row_counts(self, batch_id: int) -> dict[str, dict[str, int]]:
        """Staged rows of a batch by table and state."""
        counts: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for name, table in (("items", s.stg_items), ("subitems", s.stg_subitems)):
                query = (sa.select(table.c.state, sa.func.count()).where(table.c.batch_id == batch_id)
                         .group_by(table.c.state))
                counts[name] = dict(conn.execute(query).all())
        return counts


# Staging rows are built as lists in these orders (the tables' own), not as a dict per row.
_ITEM_COLUMNS = ("batch_id", "customer", "sync_key", "order_number", "po_number", "action", "state", "item_name",
                 "group_name", "group_id", "monday_item_id", "values_json", "old_values_json", "changed_columns",
                 "source_json", "content_hash", "line_hash", "source_hash", "attempts", "created_at")
_SUB_COLUMNS = ("batch_id", "parent_stg_id", "customer", "parent_sync_key", "size_label", "size_position", "action",
                "state", "subitem_name", "parent_monday_item_id", "monday_subitem_id", "quantity", "old_quantity",
                "values_json", "old_values_json", "changed_columns", "content_hash", "attempts", "created_at")


class _JsonMemo:
    """JSON texts of values many rows share (a size's values, a new line's field names), encoded once."""

    def __init__(self) -> None:
        self._values: dict[int, tuple[Any, str]] = {}
        self._keys: dict[tuple, str] = {}

    def value(self, value: Any) -> str:
        entry = self._values.get(id(value))
        if entry is None or entry[0] is not value:  # (the object is kept: its id stays its own)
            entry = self._values[id(value)] = (value, _json(value))
        return entry[1]

    def keys(self, fields: dict[str, Any]) -> str:
        names = tuple(fields)
        text = self._keys.get(names)
        if text is None:
            text = self._keys[names] = _json(list(names))
        return text


_COUNTED = ("total", "sent", "succeeded", "failed", "items_created", "items_updated", "subitems_created",
            "subitems_updated", "removed", "items_recreated", "subitems_recreated")
_VALIDATION_UPDATE = ("batch_id", "message", "payload_json", "source_json", "content_hash", "last_failed_at",
                      "item_name", "order_number", "po_number")


def _invalid_payload(line: MappedLine) -> dict[str, Any]:
    return {**line.item_fields, "sizes": {size.label: size.quantity for size in line.sizes}}


def _error_row(batch_id: int, line: MappedLine, now: dt.datetime) -> dict[str, Any]:
    e = s.err_items  # an error row is always written: what it records is fitted to its columns
    return {
        "batch_id": batch_id, "stg_id": None, "sync_key": fit(line.sync_key, e.c.sync_key),
        "item_name": fit(line.item_name, e.c.item_name), "customer": fit(line.customer, e.c.customer),
        "order_number": fit(line.order_number, e.c.order_number), "po_number": fit(line.po_number, e.c.po_number),
        "error_type": "VALIDATION", "error_code": None, "http_status": None,
        "message": storable("; ".join(line.errors)),
        "retryable": False, "retry_count": 0, "payload_json": _json(_invalid_payload(line)),
        "source_json": _json(line.source), "content_hash": line.content_hash, "first_failed_at": now,
        "last_failed_at": now, "resolved_at": None, "resolved_by": None, "resolution": None,
    }


def _process_alive(pid: int) -> bool:
    """Whether a process of this workstation still runs, on every OS (psutil; a process of another user
    counts as running). No start time is stored with the pid, so a reused pid reads as alive: then the
    heartbeat decides, as it always does for other workstations."""
    return psutil.pid_exists(pid)


def _zero_counts() -> dict[str, int]:
    return {c: 0 for c in ("total_items", "total_subitems", "invalid_count", "sent_count", "succeeded_count",
                           "failed_count", "items_created", "items_updated", "subitems_created",
                           "subitems_updated", "removed_count", "items_recreated", "subitems_recreated",
                           "api_calls", "retries")}

