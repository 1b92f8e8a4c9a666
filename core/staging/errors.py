"""The ERR tables: error records written where staged rows fail, read and retried by the planner.

Failures are classified where they arise (``core.monday.errors`` for monday, the mapping for
validation). ``StagingErrors`` (a part of ``core.staging.operations.StagingOperations``) writes them:
VALIDATION errors while a batch is staged, failed rows and their waiting subitems during the push,
duplicates found on the board, and their resolution when the line is synced or fixed at the source.
``ErrorHandler`` reads them, refers to them by a stable id (``I12`` for an item error, ``S7`` for a
subitem error) and retries them: a retry re-stages the lines the errors belong to; success resolves
the error rows (who and when), they are never deleted.

Somewhat over 400 lines on purpose: the ERR writes belong with the ERR reads, so that what the error
tables hold, and how a row is identified as the same open error, is decided in one place.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from core.db import schema as s
from core.detect.changes import CustomerChanges, _chunks
from core.foundation.error_types import ErrorType
from core.foundation.exceptions import SettingsError
from core.source.limits import fit, storable
from core.source.mapping import MappedLine, to_json
from core.source.reader import Source
from core.staging.batches import StagingBatches, utcnow

_json = to_json

FIXABLE = (
    ErrorType.COLUMN_VALUE,
    ErrorType.NOT_FOUND,
    ErrorType.AUTH,
    ErrorType.UNKNOWN,
    ErrorType.PARENT_FAILED,
    ErrorType.DELETED_ON_BOARD,
    ErrorType.ARCHIVED_ON_BOARD,
    ErrorType.DUPLICATE_ON_BOARD,
)
# A planner's decision about an item people changed on the board, made by retrying its error.
BOARD_DECISIONS = (ErrorType.DELETED_ON_BOARD, ErrorType.ARCHIVED_ON_BOARD)
_REF = re.compile(r"^(?P<kind>[IiSs])?(?P<id>\d+)$")


@dataclass
class RetrySelection:
    """What a retry will re-stage: sync keys per customer, and notes about errors it cannot retry."""

    keys: dict[str, set[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    board: dict[str, str] = field(default_factory=dict)  # sync key -> DELETED_ON_BOARD | ARCHIVED_ON_BOARD
    duplicates: set[str] = field(default_factory=set)  # sync keys reported on the board more than once
    customers: set[str] = field(default_factory=set)  # customers of the selected open errors, retried or not


def error_ref(table: sa.Table, err_id: int) -> str:
    return f"{'I' if table is s.err_items else 'S'}{err_id}"


def parse_ref(ref: str) -> tuple[sa.Table, int]:
    match = _REF.match(ref.strip())
    if not match:
        raise SettingsError(f"{ref!r} is not an error id (I12 for an item error, S7 for a subitem error)")
    table = s.err_subitems if (match.group("kind") or "I").upper() == "S" else s.err_items
    return table, int(match.group("id"))


class ErrorContext(Protocol):
    """What the ERR reads need of the engine context (``core.engine.context.EngineContext``)."""

    engine: Engine

    @property
    def board_id(self) -> str: ...

    @property
    def source(self) -> Source: ...


class ErrorHandler:
    def __init__(self, ctx: ErrorContext):
        self.ctx = ctx
        self.engine = ctx.engine

    def open_errors(self, customer: str | None = None) -> list[dict[str, Any]]:
        """Open errors of both tables, newest first, each with its ``ref``."""
        return self._errors(customer, include_resolved=False)

    def open_counts(self, customers: Iterable[str] | None = None) -> dict[str, int]:
        """Open errors by type (both tables), of ``customers`` (None: all), in one query per table."""
        counts: dict[str, int] = {}
        wanted = None if customers is None else sorted(set(customers))
        with self.engine.connect() as conn:
            for table in (s.err_items, s.err_subitems):
                query = (
                    sa.select(table.c.error_type, sa.func.count())
                    .where(table.c.resolved_at.is_(None))
                    .group_by(table.c.error_type)
                )
                for chunk in [None] if wanted is None else _chunks(wanted):
                    q = query if chunk is None else query.where(table.c.customer.in_(chunk))
                    for error_type, n in conn.execute(q):
                        counts[error_type] = counts.get(error_type, 0) + n
        return counts

    def all_errors(self, customer: str | None = None) -> list[dict[str, Any]]:
        """Open and resolved errors (resolved ones are never deleted)."""
        return self._errors(customer, include_resolved=True)

    def _errors(self, customer: str | None, include_resolved: bool) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for table in (s.err_items, s.err_subitems):
                query = sa.select(table)
                if not include_resolved:
                    query = query.where(table.c.resolved_at.is_(None))
                if customer is not None:
                    query = query.where(table.c.customer == customer)
                level = "item" if table is s.err_items else "subitem"
                for row in conn.execute(query).mappings():
                    entry = dict(row)
                    entry["ref"] = error_ref(table, row["err_id"])
                    entry["level"] = level
                    # Fixable where the planner works (a label added on the board, a setting, a
                    # token): retrying makes sense. A VALIDATION error resolves itself once the
                    # line is fixed in ORDERS_UNIFIED.
                    entry["fixed"] = row["error_type"] in FIXABLE
                    rows.append(entry)
        rows.sort(key=lambda r: r["last_failed_at"], reverse=True)
        return rows

    def source_values(self, sync_key: str | None, customer: str | None = None) -> dict[str, Any] | None:
        """The line as ORDERS_UNIFIED holds it now (for the details pane), or None: one SELECT by its key."""
        if not sync_key:
            return None
        with self.engine.connect() as conn:
            line = self.ctx.source.read_line(conn, sync_key, customer)
        return None if line is None else line.source

    def line_snapshot(self, sync_key: str | None, customer: str | None = None) -> dict[str, Any]:
        """One line's values for the details pane, by board column: ``before`` (as last promoted to the
        board, or None), ``now`` (as ORDERS_UNIFIED holds it now, mapped as a sync maps it; None if
        gone) and ``source`` (its ERP columns). Two SELECTs by its key."""
        out: dict[str, Any] = {"before": None, "now": None, "source": None}
        if not sync_key:
            return out
        p = s.items
        with self.engine.connect() as conn:
            promoted = conn.execute(
                sa.select(p.c.values_json).where(p.c.board_id == self.ctx.board_id, p.c.sync_key == sync_key)
            ).scalar()
            line = self.ctx.source.read_line(conn, sync_key, customer)
        if promoted:
            try:
                out["before"] = json.loads(promoted)
            except ValueError:
                out["before"] = None
        if line is not None:
            out["now"] = dict(line.item_fields)
            out["source"] = line.source
        return out

    def prepare(self, selection: RetrySelection) -> None:
        """Carry out what retrying an error about the board means, before its lines are staged again.

        Deleted on the board: production forgets the item, so the line is created anew with all its
        sizes. Archived on the board: the line is sent again, and the board's state is checked again
        first (restored: it is updated; still archived: the error stays open; deleted: re-created).
        """
        board_id = self.ctx.board_id
        p, ps = s.items, s.subitems
        deleted = [k for k, why in selection.board.items() if why == ErrorType.DELETED_ON_BOARD]
        archived = [k for k, why in selection.board.items() if why == ErrorType.ARCHIVED_ON_BOARD]
        with self.engine.begin() as conn:
            for chunk in _chunks(deleted):
                gone = (
                    sa.select(p.c.sync_key)
                    .where(p.c.board_id == board_id, p.c.sync_key.in_(chunk), p.c.board_state == s.BOARD_DELETED)
                    .scalar_subquery()
                )
                conn.execute(sa.delete(ps).where(ps.c.board_id == board_id, ps.c.parent_sync_key.in_(gone)))
                conn.execute(
                    sa.delete(p).where(
                        p.c.board_id == board_id, p.c.sync_key.in_(chunk), p.c.board_state == s.BOARD_DELETED
                    )
                )
            for chunk in _chunks(archived):
                conn.execute(
                    sa.update(p).where(p.c.board_id == board_id, p.c.sync_key.in_(chunk)).values(board_state=None)
                )

    def select(self, refs: Iterable[str] | None) -> RetrySelection:
        """The lines to re-stage for ``refs`` (None: every open error)."""
        selection = RetrySelection()
        wanted: list[tuple[sa.Table, int]] | None = None if refs is None else [parse_ref(r) for r in refs]
        with self.engine.connect() as conn:
            for table in (s.err_items, s.err_subitems):
                key = table.c.sync_key if table is s.err_items else table.c.parent_sync_key
                query = sa.select(
                    table.c.err_id,
                    table.c.customer,
                    key.label("key"),
                    table.c.resolved_at,
                    table.c.error_type,
                    table.c.message,
                )
                if wanted is not None:
                    ids = [i for t, i in wanted if t is table]
                    if not ids:
                        continue
                    query = query.where(table.c.err_id.in_(ids))
                else:
                    query = query.where(table.c.resolved_at.is_(None))
                for row in conn.execute(query):
                    ref = error_ref(table, row.err_id)
                    if row.resolved_at is None:
                        selection.customers.add(row.customer)
                    if row.resolved_at is not None:
                        selection.notes.append(f"{ref} is already resolved")
                    elif row.key is None:
                        selection.notes.append(
                            f"{ref} cannot be retried: the line has no key ({row.message}); fix it in ORDERS_UNIFIED"
                        )
                    else:
                        selection.keys.setdefault(row.customer, set()).add(row.key)
                        if table is s.err_items and row.error_type in BOARD_DECISIONS:
                            selection.board[row.key] = row.error_type
                        elif row.error_type == ErrorType.DUPLICATE_ON_BOARD:
                            selection.duplicates.add(row.key)
        if wanted is not None:
            found = {ref.upper() for ref in (error_ref(t, i) for t, i in wanted)}
            if not selection.keys and not selection.notes:
                raise SettingsError(f"no such errors: {', '.join(sorted(found))}")
        return selection


@dataclass
class Failure:
    """A failed staged row, classified where the failure arose."""

    stg_id: int
    error_type: str
    message: str
    retryable: bool
    error_code: str | None = None
    http_status: int | None = None


class StagingErrors(StagingBatches):
    """The ERR writes of a batch: each one inside the fenced transaction of the change it records."""

    def failed_keys(self, batch_id: int) -> set[str]:
        """Sync keys of the lines whose rows failed in the batch (their errors are open)."""
        e, es = s.err_items, s.err_subitems
        with self.engine.connect() as conn:
            keys = {
                k
                for (k,) in conn.execute(
                    sa.select(e.c.sync_key).where(
                        e.c.batch_id == batch_id, e.c.resolved_at.is_(None), e.c.sync_key.is_not(None)
                    )
                )
            }
            keys |= {
                k
                for (k,) in conn.execute(
                    sa.select(es.c.parent_sync_key).where(
                        es.c.batch_id == batch_id, es.c.resolved_at.is_(None), es.c.parent_sync_key.is_not(None)
                    )
                )
            }
        return keys

    def _validation_errors(
        self, conn: Connection, batch_id: int, changes: CustomerChanges, now: dt.datetime
    ) -> list[MappedLine]:
        """Record VALIDATION errors; return the invalid lines that are new or whose content changed.

        Open VALIDATION errors of this customer whose line is no longer invalid are resolved.
        """
        e = s.err_items
        open_rows = conn.execute(
            sa.select(e.c.err_id, e.c.sync_key, e.c.content_hash).where(
                e.c.customer == changes.customer, e.c.error_type == ErrorType.VALIDATION, e.c.resolved_at.is_(None)
            )
        ).all()
        by_identity = {(r.sync_key, r.content_hash): r.err_id for r in open_rows}
        by_key = {r.sync_key: r.err_id for r in open_rows if r.sync_key is not None}
        still_open: set[int] = set()
        fresh: list[MappedLine] = []
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
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
                sa.update(e)
                .where(e.c.err_id == sa.bindparam("b_err_id"))
                .values({k: sa.bindparam(k) for k in _VALIDATION_UPDATE}),
                updates,
            )
        gone = [r.err_id for r in open_rows if r.err_id not in still_open]
        for chunk in _chunks(gone):
            conn.execute(
                sa.update(e)
                .where(e.c.err_id.in_(chunk))
                .values(
                    resolved_at=now,
                    resolved_by=self.owner.label,
                    resolution="no longer invalid in ORDERS_UNIFIED (fixed or removed at the source)",
                )
            )
        return fresh

    def record_failures(self, batch_id: int, table: sa.Table, failures: Sequence[Failure]) -> None:
        """Mark rows API_FAILED and record each in its ERR table (an open error of the same row is updated).

        A failed item takes its waiting subitems with it as PARENT_FAILED errors.
        """
        if failures:
            with self.owned(batch_id) as conn:
                self._record_failures(conn, batch_id, table, failures)

    def _record_failures(
        self,
        conn: Connection,
        batch_id: int,
        table: sa.Table,
        failures: Sequence[Failure],
        orphan_states: Sequence[str] = (s.WAITING_PARENT,),
    ) -> None:
        if not failures:
            return
        now = utcnow()
        items = table is s.stg_items
        pk = s.stg_items.c.stg_id if items else s.stg_subitems.c.stg_sub_id
        by_id = {f.stg_id: f for f in failures}
        rows: list[RowMapping] = []
        for chunk in _chunks(list(by_id)):
            rows += conn.execute(sa.select(table).where(pk.in_(chunk))).mappings().all()
        conn.execute(
            sa.update(table)
            .where(pk == sa.bindparam("b_id"))
            .values(state=s.API_FAILED, request_id=None, last_error=sa.bindparam("b_msg")),
            [{"b_id": f.stg_id, "b_msg": f.message} for f in failures],
        )
        self._write_errors(conn, batch_id, items, [(row, by_id[row[pk.name]]) for row in rows], now)
        if items:
            orphans: list[RowMapping] = []
            for chunk in _chunks(list(by_id)):
                orphans += (
                    conn.execute(
                        sa.select(s.stg_subitems).where(
                            s.stg_subitems.c.parent_stg_id.in_(chunk), s.stg_subitems.c.state.in_(orphan_states)
                        )
                    )
                    .mappings()
                    .all()
                )
            if orphans:
                for chunk in _chunks([o["stg_sub_id"] for o in orphans]):
                    conn.execute(
                        sa.update(s.stg_subitems)
                        .where(s.stg_subitems.c.stg_sub_id.in_(chunk))
                        .values(state=s.API_FAILED, last_error="the parent item failed", request_id=None)
                    )
                self._write_errors(
                    conn,
                    batch_id,
                    False,
                    [
                        (
                            o,
                            Failure(
                                o["stg_sub_id"],
                                ErrorType.PARENT_FAILED,
                                f"not sent: its item failed ({by_id[o['parent_stg_id']].message})",
                                by_id[o["parent_stg_id"]].retryable,
                            ),
                        )
                        for o in orphans
                    ],
                    now,
                )

    def report_duplicates(self, batch_id: int, duplicates: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Two or more items on the board carry one sync key: an open error per line, its row stays synced."""
        if not duplicates:
            return
        t = s.stg_items
        ids = {key: list(found) for key, found in duplicates}
        with self.owned(batch_id) as conn:
            rows: list[RowMapping] = []
            for chunk in _chunks(list(ids)):
                rows += (
                    conn.execute(sa.select(t).where(t.c.batch_id == batch_id, t.c.sync_key.in_(chunk))).mappings().all()
                )
            self._write_errors(
                conn,
                batch_id,
                True,
                [
                    (
                        row,
                        Failure(
                            row["stg_id"],
                            ErrorType.DUPLICATE_ON_BOARD,
                            f"{len(ids[row['sync_key']])} items on the board carry this line's sync key "
                            f"(ids {', '.join(ids[row['sync_key']])}); OrderSync keeps the oldest and created no other. "
                            "Delete the extra ones on the board, then retry this error",
                            True,
                        ),
                    )
                    for row in rows
                ],
                utcnow(),
            )

    def _write_errors(
        self, conn: Connection, batch_id: int, items: bool, pairs: list[tuple[Any, Failure]], now: dt.datetime
    ) -> None:
        e = s.err_items if items else s.err_subitems
        open_by_identity: dict[tuple[str, ...], int] = {}
        if items:
            keys = [row["sync_key"] for row, _ in pairs if row["sync_key"]]
            for chunk in _chunks(keys):
                for err_id, key in conn.execute(
                    sa.select(e.c.err_id, e.c.sync_key).where(
                        e.c.sync_key.in_(chunk), e.c.resolved_at.is_(None), e.c.error_type != ErrorType.VALIDATION
                    )
                ):
                    open_by_identity[(key,)] = err_id
        else:
            keys = sorted({row["parent_sync_key"] for row, _ in pairs if row["parent_sync_key"]})
            for chunk in _chunks(keys):
                for err_id, key, size in conn.execute(
                    sa.select(e.c.err_id, e.c.parent_sync_key, e.c.size_label).where(
                        e.c.parent_sync_key.in_(chunk), e.c.resolved_at.is_(None)
                    )
                ):
                    open_by_identity[(key, size)] = err_id
        parents = self._parent_info(conn, pairs) if not items else {}
        inserts, updates = [], []
        for row, failure in pairs:
            identity = (row["sync_key"],) if items else (row["parent_sync_key"], row["size_label"])
            base = {
                "batch_id": batch_id,
                "error_type": failure.error_type,
                "error_code": fit(failure.error_code, e.c.error_code),
                "http_status": failure.http_status,
                "message": storable(failure.message),
                "retryable": failure.retryable,
                "payload_json": row["values_json"],
                "content_hash": row["content_hash"],
                "last_failed_at": now,
            }
            existing = open_by_identity.get(identity)
            if existing is not None:
                updates.append({"b_err_id": existing, **{f"b_{k}": v for k, v in base.items()}})
                continue
            if items:
                extra = {
                    "stg_id": row["stg_id"],
                    "sync_key": row["sync_key"],
                    "item_name": row["item_name"],
                    "customer": row["customer"],
                    "order_number": row["order_number"],
                    "po_number": row["po_number"],
                    "source_json": row["source_json"],
                }
            else:
                parent = parents.get(row["parent_stg_id"], {})
                extra = {
                    "stg_sub_id": row["stg_sub_id"],
                    "parent_sync_key": row["parent_sync_key"],
                    "size_label": row["size_label"],
                    "subitem_name": row["subitem_name"],
                    "customer": parent.get("customer", ""),
                    "order_number": parent.get("order_number"),
                    "po_number": parent.get("po_number"),
                    "source_json": parent.get("source_json"),
                }
            inserts.append(
                {
                    **base,
                    **extra,
                    "retry_count": 0,
                    "first_failed_at": now,
                    "resolved_at": None,
                    "resolved_by": None,
                    "resolution": None,
                }
            )
        if inserts:
            conn.execute(sa.insert(e), inserts)
        if updates:
            conn.execute(
                sa.update(e)
                .where(e.c.err_id == sa.bindparam("b_err_id"))
                .values(
                    {
                        **{k[2:]: sa.bindparam(k) for k in updates[0] if k != "b_err_id"},
                        "retry_count": e.c.retry_count + 1,
                    }
                ),
                updates,
            )

    @staticmethod
    def _parent_info(conn: Connection, pairs: list[tuple[Any, Failure]]) -> dict[int, dict[str, Any]]:
        t = s.stg_items
        ids = sorted({row["parent_stg_id"] for row, _ in pairs})
        info: dict[int, dict[str, Any]] = {}
        for chunk in _chunks(ids):
            for r in conn.execute(
                sa.select(t.c.stg_id, t.c.customer, t.c.order_number, t.c.po_number, t.c.source_json).where(
                    t.c.stg_id.in_(chunk)
                )
            ).mappings():
                info[r["stg_id"]] = dict(r)
        return info

    def _resolve_synced(
        self,
        conn: Connection,
        batch_id: int,
        ok_items: sa.ColumnElement[bool],
        ok_subs: sa.ColumnElement[bool],
        now: dt.datetime,
    ) -> None:
        """Errors of rows that are now on the board are resolved, never deleted (inside the promotion)."""
        t, st = s.stg_items, s.stg_subitems
        resolved = {"resolved_at": now, "resolved_by": self.owner.label, "resolution": f"synced in batch {batch_id}"}
        e, es = s.err_items, s.err_subitems
        # (Two items with one key on the board stay reported until a person removes one.)
        # IN, not a correlated EXISTS: the planner would look the key up through the staging
        # table's (batch, state) index, a scan of the batch per open error.
        confirmed_keys = sa.select(t.c.sync_key).where(ok_items)
        conn.execute(
            sa.update(e)
            .where(
                e.c.resolved_at.is_(None),
                e.c.error_type != ErrorType.DUPLICATE_ON_BOARD,
                e.c.sync_key.in_(confirmed_keys),
            )
            .values(**resolved)
        )
        conn.execute(
            sa.update(es)
            .where(
                es.c.resolved_at.is_(None),
                sa.select(st.c.stg_sub_id)
                .where(ok_subs, st.c.parent_sync_key == es.c.parent_sync_key, st.c.size_label == es.c.size_label)
                .exists(),
            )
            .values(**resolved)
        )

    def settle_duplicates(self, board_id: str, single: dict[str, str], gone: Sequence[str]) -> int:
        """Sync keys reported on the board more than once, found again: production follows the one item
        left (``single``: key -> item id), and the DUPLICATE_ON_BOARD errors of those keys and of the keys
        with no item left (``gone``) are resolved. Returns how many errors were resolved."""
        e, p = s.err_items, s.items
        with self.engine.begin() as conn:
            if single:
                conn.execute(
                    sa.update(p)
                    .where(p.c.board_id == board_id, p.c.sync_key == sa.bindparam("b_key"))
                    .values(monday_item_id=sa.bindparam("b_id")),
                    [{"b_key": k, "b_id": i} for k, i in single.items()],
                )
            done = list(single) + list(gone)
            resolved = (
                conn.execute(
                    sa.update(e)
                    .where(
                        e.c.sync_key.in_(done),
                        e.c.error_type == ErrorType.DUPLICATE_ON_BOARD,
                        e.c.resolved_at.is_(None),
                    )
                    .values(
                        resolved_at=utcnow(),
                        resolved_by=self.owner.label,
                        resolution="one item with this sync key is left on the board",
                    )
                ).rowcount
                if done
                else 0
            )
        return resolved


_VALIDATION_UPDATE = (
    "batch_id",
    "message",
    "payload_json",
    "source_json",
    "content_hash",
    "last_failed_at",
    "item_name",
    "order_number",
    "po_number",
)


def _invalid_payload(line: MappedLine) -> dict[str, Any]:
    return {**line.item_fields, "sizes": {size.label: size.quantity for size in line.sizes}}


def _error_row(batch_id: int, line: MappedLine, now: dt.datetime) -> dict[str, Any]:
    e = s.err_items  # an error row is always written: what it records is fitted to its columns
    return {
        "batch_id": batch_id,
        "stg_id": None,
        "sync_key": fit(line.sync_key, e.c.sync_key),
        "item_name": fit(line.item_name, e.c.item_name),
        "customer": fit(line.customer, e.c.customer),
        "order_number": fit(line.order_number, e.c.order_number),
        "po_number": fit(line.po_number, e.c.po_number),
        "error_type": ErrorType.VALIDATION,
        "error_code": None,
        "http_status": None,
        "message": storable("; ".join(line.errors)),
        "retryable": False,
        "retry_count": 0,
        "payload_json": _json(_invalid_payload(line)),
        "source_json": _json(line.source),
        "content_hash": line.content_hash,
        "first_failed_at": now,
        "last_failed_at": now,
        "resolved_at": None,
        "resolved_by": None,
        "resolution": None,
    }
