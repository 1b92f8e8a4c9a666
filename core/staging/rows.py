"""Staged rows: a batch's changes loaded in bulk, and the transitions the push moves them through.

``stage`` loads the detected changes of a customer in one transaction; invalid lines go to the ERR
table (``core.staging.errors``) and are never sent. The push (``core.push.run``) then moves rows
PENDING → SENDING → API_SUCCESS or API_FAILED through the methods here, each one statement per step,
never one per row. ``StagingRows`` is a part of ``core.staging.operations.StagingOperations``.

About 400 lines: staging and every row transition the push uses, each a short set-based statement
behind the same batch fence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.db import schema as s
from core.db.bulk import bulk_insert, bulk_insert_rows
from core.db.clock import db_utcnow
from core.detect.changes import CHANGED, NEW, REMOVED, CustomerChanges, LineChange, SizeChange, _chunks
from core.foundation.collector import collector_paused
from core.source.limits import fit, storable
from core.source.mapping import MappedLine, to_json
from core.staging.batches import log, utcnow
from core.staging.errors import StagingErrors, _invalid_payload

_json = to_json


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


class StagingRows(StagingErrors):
    """Loading a batch's rows, and every transition of a staged row but failure (an ERR write)."""

    # == staging ====================================================================================

    def in_flight_elsewhere(self, batch_id: int, keys: Sequence[str]) -> dict[str, int]:
        """Of ``keys``, those staged in another unfinished batch (another customer's, a line that moved
        while its batch was cut short) -> that batch. Such a line waits: sent again from here, it could
        be created twice; once that batch is finished the line is in production and simply moves."""
        t, b = s.stg_items, s.batches
        found: dict[str, int] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(keys)):
                query = (
                    sa.select(t.c.sync_key, t.c.batch_id)
                    .join(b, b.c.batch_id == t.c.batch_id)
                    .where(t.c.sync_key.in_(chunk), t.c.batch_id != batch_id, b.c.status.in_(s.ACTIVE_BATCH_STATES))
                )
                found.update({key: other for key, other in conn.execute(query)})
        return found

    def customers_with_unfinished_batches(self, board_id: str) -> set[str]:
        """Customers whose batch on the board was cut short (a crash, a kill): resumed first in a run."""
        b = s.batches
        with self.engine.connect() as conn:
            query = sa.select(b.c.customer).where(b.c.board_id == board_id, b.c.status.in_(s.ACTIVE_BATCH_STATES))
            return set(conn.execute(query).scalars())

    def stage(self, batch_id: int, changes: CustomerChanges) -> StageResult:
        """Load a customer's changes into the batch, in one transaction, in bulk.

        Invalid lines become INVALID staging rows and VALIDATION errors, unless the same line is
        already an open error with the same content (a re-run with nothing changed stages nothing).
        """
        result = StageResult()
        now = utcnow()
        with collector_paused(), self.owned(batch_id) as conn:  # a bulk pass (core.foundation.collector)
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
                sa.update(s.batches)
                .where(s.batches.c.batch_id == batch_id)
                .values(
                    total_items=result.items,
                    total_subitems=result.subitems,
                    invalid_count=result.invalid,
                    status=s.STAGED,
                    staged_at=db_utcnow(),
                )
            )
        held = result.invalid + result.invalid_unchanged
        log.info(
            "batch %s: %s lines and %s sizes to send%s",
            batch_id,
            result.items,
            result.subitems,
            f"; {held} invalid lines held back ({result.invalid_unchanged} of them reported before)" if held else "",
        )
        return result

    @staticmethod
    def _item_row(batch_id: int, change: LineChange, now: dt.datetime, json_of: _JsonMemo) -> list[Any]:
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
            batch_id,
            change.customer,
            change.sync_key,
            change.order_number,
            change.po_number,
            action,
            state,
            fields.get("name"),
            fields.get("group"),
            None,
            change.monday_item_id,
            _json(fields),
            _json(change.old_fields) if change.old_fields is not None else None,
            # A new line sends all its fields: the same list for every line, encoded once.
            json_of.keys(fields) if change.old_fields is None else _json(change.changed_fields),
            # The source values are kept for invalid lines (their ERR rows); a valid line's are
            # read again from ORDERS_UNIFIED when someone looks at it.
            None,
            change.content_hash,
            change.line_hash,
            change.source_hash,
            0,
            now,
        ]

    @staticmethod
    def _invalid_row(batch_id: int, line: MappedLine, now: dt.datetime) -> dict[str, Any]:
        t = s.stg_items  # an invalid line's values are kept as far as the columns hold them
        errors = storable("; ".join(line.errors))
        return {
            "batch_id": batch_id,
            "customer": fit(line.customer, t.c.customer),
            "sync_key": fit(line.sync_key, t.c.sync_key),
            "order_number": fit(line.order_number, t.c.order_number),
            "po_number": fit(line.po_number, t.c.po_number),
            "action": s.CREATE,
            "state": s.INVALID,
            "item_name": fit(line.item_name, t.c.item_name),
            "group_name": fit(line.group_name, t.c.group_name),
            "group_id": None,
            "monday_item_id": None,
            "values_json": _json(_invalid_payload(line)),
            "old_values_json": None,
            "changed_columns": None,
            "source_json": _json(line.source),
            "content_hash": line.content_hash,
            "line_hash": line.line_hash,
            "source_hash": line.source_hash,
            "validation_errors": errors,
            "attempts": 0,
            "last_error": errors,
            "created_at": now,
        }

    def _subitem_rows(
        self, conn: Connection, batch_id: int, changes: list[LineChange], now: dt.datetime, json_of: _JsonMemo
    ) -> list[list[Any]]:
        """The staging rows of the lines' sizes, in the order of ``_SUB_COLUMNS``."""
        t = s.stg_items
        ids = dict(
            conn.execute(
                sa.select(t.c.sync_key, t.c.stg_id).where(t.c.batch_id == batch_id, t.c.state != s.INVALID)
            ).all()
        )
        rows: list[list[Any]] = []
        append = rows.append
        # A new size's row depends only on the size (the mapper shares one per size and quantity)
        # and on whether its parent exists: the rest of its row is built once per size.
        new_parts: dict[tuple[int, bool], tuple[SizeChange, tuple[Any, ...], tuple[Any, ...]]] = {}
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
                            size,
                            (size.label, size.position, s.CREATE, state, size.name),
                            (
                                size.monday_subitem_id,
                                size.quantity,
                                size.old_quantity,
                                json_of.value(size.values),
                                None,
                                None,
                                size.hash,
                                0,
                                now,
                            ),
                        )
                    append([*head, *parts[1], parent_id, *parts[2]])
                    continue
                action = s.REMOVE if size.kind == REMOVED else s.UPDATE
                append(
                    [
                        *head,
                        size.label,
                        size.position,
                        action,
                        s.PENDING,
                        size.name,
                        parent_id,
                        size.monday_subitem_id,
                        size.quantity,
                        size.old_quantity,
                        json_of.value(size.values),
                        _json(size.old_values) if size.old_values is not None else None,
                        _json(size.changed_fields),
                        size.hash,
                        0,
                        now,
                    ]
                )
        return rows

    # == transitions used by the push ===============================================================
    #
    # Each public transition is one fenced transaction (``owned``) and one statement per step, never
    # one per row; the ``_…(conn, …)`` forms let the request ledger settle a whole answer at once.

    def pending_rows(
        self, batch_id: int, table: sa.Table, states: Sequence[str] = (s.PENDING,), limit: int | None = None
    ) -> list[dict[str, Any]]:
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
            conn.execute(
                sa.update(table)
                .where(pk.in_(chunk))
                .values(state=s.SENDING, sent_at=db_utcnow(), attempts=table.c.attempts + 1, request_id=request_id)
            )

    def reset_to_pending(self, batch_id: int, table: sa.Table, ids: Sequence[int]) -> None:
        """Rows whose request certainly did not reach the board (or were not found there) go back to PENDING."""
        with self.owned(batch_id) as conn:
            self._reset_to_pending(conn, table, ids)

    @staticmethod
    def _reset_to_pending(conn: Connection, table: sa.Table, ids: Sequence[int]) -> None:
        pk = table.primary_key.columns.values()[0]
        for chunk in _chunks(list(ids)):
            conn.execute(
                sa.update(table)
                .where(pk.in_(chunk), table.c.state == s.SENDING)
                .values(state=s.PENDING, request_id=None)
            )

    def group_names(self, batch_id: int) -> list[str]:
        """Groups the batch's pending items go to (the board's groups are created once, before the push)."""
        t = s.stg_items
        with self.engine.connect() as conn:
            return [
                name
                for (name,) in conn.execute(
                    sa.select(t.c.group_name)
                    .distinct()
                    .where(t.c.batch_id == batch_id, t.c.state.in_((s.PENDING, s.SENDING)), t.c.group_name.is_not(None))
                )
            ]

    def set_group_ids(self, batch_id: int, group_ids: dict[str, str]) -> None:
        t = s.stg_items
        if not group_ids:
            return
        with self.owned(batch_id) as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.batch_id == batch_id, t.c.group_name == sa.bindparam("b_name"))
                .values(group_id=sa.bindparam("b_group")),
                [{"b_name": name, "b_group": gid} for name, gid in group_ids.items()],
            )

    def record_item_ids(self, batch_id: int, confirmed: Sequence[tuple[int, str | None]]) -> None:
        """Items monday confirmed: store their ids and release their waiting subitems."""
        if confirmed:
            with self.owned(batch_id) as conn:
                self._record_item_ids(conn, confirmed)

    @staticmethod
    def _record_item_ids(conn: Connection, confirmed: Sequence[tuple[int, str | None]]) -> None:
        if not confirmed:
            return
        t, st = s.stg_items, s.stg_subitems
        # An id of None keeps the row's own (a removal that found its item already gone).
        params = [
            {"b_id": stg_id, "b_item": None if item_id is None else str(item_id)} for stg_id, item_id in confirmed
        ]
        conn.execute(
            sa.update(t)
            .where(t.c.stg_id == sa.bindparam("b_id"))
            .values(
                monday_item_id=sa.func.coalesce(sa.bindparam("b_item", type_=s.MONDAY_ID), t.c.monday_item_id),
                state=s.API_SUCCESS,
                confirmed_at=db_utcnow(),
                request_id=None,
            ),
            params,
        )
        conn.execute(
            sa.update(st)
            .where(st.c.parent_stg_id == sa.bindparam("b_id"), st.c.state == s.WAITING_PARENT)
            .values(
                parent_monday_item_id=sa.select(t.c.monday_item_id)
                .where(t.c.stg_id == st.c.parent_stg_id)
                .scalar_subquery(),
                state=s.PENDING,
            ),
            [{"b_id": p["b_id"]} for p in params],
        )

    def record_subitem_ids(self, batch_id: int, confirmed: Sequence[tuple[int, str | None]]) -> None:
        if confirmed:
            with self.owned(batch_id) as conn:
                self._record_subitem_ids(conn, confirmed)

    @staticmethod
    def _record_subitem_ids(conn: Connection, confirmed: Sequence[tuple[int, str | None]]) -> None:
        if not confirmed:
            return
        st = s.stg_subitems
        conn.execute(
            sa.update(st)
            .where(st.c.stg_sub_id == sa.bindparam("b_id"))
            .values(
                monday_subitem_id=sa.func.coalesce(sa.bindparam("b_sub", type_=s.MONDAY_ID), st.c.monday_subitem_id),
                state=s.API_SUCCESS,
                confirmed_at=db_utcnow(),
                request_id=None,
            ),
            [{"b_id": stg_id, "b_sub": None if sub_id is None else str(sub_id)} for stg_id, sub_id in confirmed],
        )


# Staging rows are built as lists in these orders (the tables' own), not as a dict per row.
_ITEM_COLUMNS = (
    "batch_id",
    "customer",
    "sync_key",
    "order_number",
    "po_number",
    "action",
    "state",
    "item_name",
    "group_name",
    "group_id",
    "monday_item_id",
    "values_json",
    "old_values_json",
    "changed_columns",
    "source_json",
    "content_hash",
    "line_hash",
    "source_hash",
    "attempts",
    "created_at",
)
_SUB_COLUMNS = (
    "batch_id",
    "parent_stg_id",
    "customer",
    "parent_sync_key",
    "size_label",
    "size_position",
    "action",
    "state",
    "subitem_name",
    "parent_monday_item_id",
    "monday_subitem_id",
    "quantity",
    "old_quantity",
    "values_json",
    "old_values_json",
    "changed_columns",
    "content_hash",
    "attempts",
    "created_at",
)


class _JsonMemo:
    """JSON texts of values many rows share (a size's values, a new line's field names), encoded once."""

    def __init__(self) -> None:
        self._values: dict[int, tuple[Any, str]] = {}
        self._keys: dict[tuple[str, ...], str] = {}

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
