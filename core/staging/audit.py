"""The audit trail: one row per cell OrderSync changed on the board, and the reads of ``history``.

``AuditTrail.record`` runs inside the fenced transaction that records what monday confirmed (the
request ledger's settlement, ``core.staging.ledger``), for the rows that went out in a request and
are confirmed now (state SENDING): a row is recorded once, however often its request was resent or
looked up, and a crash before that transaction commits leaves no row at all. It is set-based: one
SELECT of the confirmed staged rows joined to the production tables (the value before is what
OrderSync last promoted there), and one executemany of their cells, per chunk.

A created item or subitem has a cell for every value it was created with; an update one per column
it changed (the group as a move); an archive or a delete one row for the whole item. A protected cell
whose board value was kept (``record_kept``: the push's ``board_wins``, or a planner's ``decide
--keep-board``) is one KEPT row, written in the transaction that records the decision: its value
before is what OrderSync last wrote there, its value sent the board's value kept (nothing was sent:
production takes the board's value as OrderSync's own) and its value not sent the ERP's. ``prune``
removes rows older than ``audit.retention_days`` (kept forever by default); ``history`` reads them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.db import schema as s
from core.db.bulk import bulk_insert_rows
from core.db.clock import database_now, db_utcnow
from core.detect.changes import _chunks

# The item's own cells: monday's name column, and the group (not a column: a move).
ITEM_NAME = ("name", "Name")
ITEM_GROUP = ("group", "Group")

AUDIT_COLUMNS = (
    "batch_id",
    "customer",
    "sync_key",
    "order_number",
    "size_label",
    "monday_item_id",
    "monday_subitem_id",
    "column_id",
    "column_title",
    "value_before",
    "value_sent",
    "kind",
    "changed_by_user",
    "changed_by_host",
    "changed_at",
)

# How the kinds read for people (history, the window).
KIND_WORDS = {
    s.CREATED: "created",
    s.UPDATED: "updated",
    s.MOVED: "moved",
    s.ARCHIVED: "archived",
    s.DELETED: "deleted",
    s.RECREATED: "re-created",
    s.RESTORED: "restored by undo",
    s.KEPT: "kept the board's value",
}

# A KEPT row names the value it did not send too (NULL in every other row).
KEPT_COLUMNS = (*AUDIT_COLUMNS, "value_not_sent")


def as_text(value: Any) -> str | None:
    """A mapped value as the audit keeps it: text as it is, anything else as JSON, nothing as NULL."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _empty(value: Any) -> bool:
    return value is None or value == ""


@dataclass(frozen=True)
class KeptCell:
    """A protected item cell whose board value was kept: what OrderSync wrote, the board's, the ERP's."""

    batch_id: int
    customer: str
    sync_key: str
    order_number: str | None
    monday_item_id: str | None
    column_id: str | None
    column_title: str | None
    written: Any  # what OrderSync last wrote there (production's value)
    board: Any  # the board's value, kept
    erp: Any  # the ERP's value, not sent


def record_kept(conn: Connection, cells: Sequence[KeptCell], user: str, host: str) -> int:
    """One KEPT row per cell, in the caller's transaction, in one executemany; returns how many."""
    if not cells:
        return 0
    now = database_now(conn)
    rows = [
        [
            c.batch_id,
            c.customer,
            c.sync_key,
            c.order_number,
            None,
            c.monday_item_id,
            None,
            c.column_id,
            c.column_title,
            as_text(c.written),
            as_text(c.board),
            s.KEPT,
            user,
            host,
            now,
            as_text(c.erp),
        ]
        for c in cells
    ]
    bulk_insert_rows(conn, s.audit_log, KEPT_COLUMNS, rows)
    return len(rows)


@dataclass
class AuditTrail:
    """Writes the audit rows of one board's confirmed mutations (built by the push, once per processor)."""

    board_id: str
    removal_policy: str = "mark"
    # mapped label -> (board column id, title); filled when the push has read the board
    item_columns: dict[str, tuple[str, str]] = field(default_factory=dict)
    sub_columns: dict[str, tuple[str, str]] = field(default_factory=dict)

    def column(self, label: str, subitem: bool = False) -> tuple[str, str] | None:
        """The board column a label is written to; None when the label is not sent at all."""
        if not subitem and label == "name":
            return ITEM_NAME
        if not subitem and label == "group":
            return ITEM_GROUP
        columns = self.sub_columns if subitem else self.item_columns
        if not columns:  # the board is not read yet: keep the label, never lose the cell
            return (label, label)
        return columns.get(label)

    def record(
        self,
        conn: Connection,
        user: str,
        host: str,
        items_ok: Sequence[tuple[int, str | None]],
        subs_ok: Sequence[tuple[int, str | None]],
    ) -> int:
        """Audit rows for the confirmed rows still SENDING (call it before their outcome is recorded)."""
        rows: list[list[Any]] = []
        item_ids = dict(items_ok)
        for chunk in _chunks(list(item_ids)):
            for row in conn.execute(self._item_query(chunk)).mappings():
                rows += self._item_cells(row, item_ids.get(row["stg_id"]), user, host)
        sub_ids = dict(subs_ok)
        for chunk in _chunks(list(sub_ids)):
            for row in conn.execute(self._sub_query(chunk)).mappings():
                rows += self._sub_cells(row, sub_ids.get(row["stg_sub_id"]), user, host)
        bulk_insert_rows(conn, s.audit_log, AUDIT_COLUMNS, rows)
        return len(rows)

    # -- the reads: staged rows joined to what production last held ---------------------------------

    def _item_query(self, chunk: list[int]) -> sa.Select[Any]:
        t, p = s.stg_items, s.items
        return (
            sa.select(
                t.c.stg_id,
                t.c.batch_id,
                t.c.customer,
                t.c.sync_key,
                t.c.order_number,
                t.c.action,
                t.c.recreate,
                t.c.monday_item_id,
                t.c.values_json,
                t.c.changed_columns,
                p.c.values_json.label("before_json"),
                db_utcnow().label("now"),
            )
            .select_from(t.outerjoin(p, sa.and_(p.c.board_id == self.board_id, p.c.sync_key == t.c.sync_key)))
            .where(t.c.stg_id.in_(chunk), t.c.state == s.SENDING)
        )

    def _sub_query(self, chunk: list[int]) -> sa.Select[Any]:
        st, t, ps = s.stg_subitems, s.stg_items, s.subitems
        production = sa.and_(
            ps.c.board_id == self.board_id,
            ps.c.parent_sync_key == st.c.parent_sync_key,
            ps.c.size_label == st.c.size_label,
        )
        return (
            sa.select(
                st.c.stg_sub_id,
                st.c.batch_id,
                st.c.customer,
                st.c.parent_sync_key,
                t.c.order_number,
                st.c.size_label,
                st.c.action,
                st.c.recreate,
                st.c.subitem_name,
                st.c.parent_monday_item_id,
                st.c.monday_subitem_id,
                st.c.values_json,
                st.c.changed_columns,
                ps.c.values_json.label("before_json"),
                ps.c.subitem_name.label("before_name"),
                db_utcnow().label("now"),
            )
            .select_from(st.join(t, t.c.stg_id == st.c.parent_stg_id).outerjoin(ps, production))
            .where(st.c.stg_sub_id.in_(chunk), st.c.state == s.SENDING)
        )

    # -- the cells --------------------------------------------------------------------------------

    def _item_cells(self, row: Any, confirmed_id: str | None, user: str, host: str) -> list[list[Any]]:
        item_id = confirmed_id or row["monday_item_id"]
        head = [row["batch_id"], row["customer"], row["sync_key"], row["order_number"], None, item_id, None]
        tail = [user, host, row["now"]]
        action = row["action"]
        if action == s.REMOVE and self.removal_policy in ("archive", "delete"):
            kind = s.ARCHIVED if self.removal_policy == "archive" else s.DELETED
            return [[*head, None, None, None, None, kind, *tail]]
        values = json.loads(row["values_json"])
        before = json.loads(row["before_json"]) if row["before_json"] else {}
        labels = json.loads(row["changed_columns"]) if row["changed_columns"] else list(values)
        creating = action == s.CREATE
        cells = []
        for label in labels:
            column = self.column(label)
            sent = values.get(label)
            if column is None or (creating and _empty(sent)):
                continue
            if creating:
                kind = s.RECREATED if row["recreate"] else s.CREATED
            else:
                kind = s.MOVED if label == "group" else s.UPDATED
            cells.append([*head, *column, as_text(before.get(label)), as_text(sent), kind, *tail])
        return cells

    def _sub_cells(self, row: Any, confirmed_id: str | None, user: str, host: str) -> list[list[Any]]:
        head = [
            row["batch_id"],
            row["customer"],
            row["parent_sync_key"],
            row["order_number"],
            row["size_label"],
            row["parent_monday_item_id"],
            confirmed_id or row["monday_subitem_id"],
        ]
        tail = [user, host, row["now"]]
        values = json.loads(row["values_json"])
        before = json.loads(row["before_json"]) if row["before_json"] else {}
        cells = []
        if row["action"] == s.CREATE:
            kind = s.RECREATED if row["recreate"] else s.CREATED
            cells.append([*head, *ITEM_NAME, row["before_name"], row["subitem_name"], kind, *tail])
            labels = list(values)
        else:
            kind = s.UPDATED
            labels = json.loads(row["changed_columns"]) if row["changed_columns"] else list(values)
        for label in labels:
            column = self.column(label, subitem=True)
            sent = values.get(label)
            if column is None or (row["action"] == s.CREATE and _empty(sent)):
                continue
            cells.append([*head, *column, as_text(before.get(label)), as_text(sent), kind, *tail])
        return cells


# == retention ========================================================================================


def prune(engine: Engine, retention_days: int) -> int:
    """Delete the rows older than ``retention_days`` by the database's clock, in one statement; 0 keeps all."""
    if retention_days <= 0:
        return 0
    a = s.audit_log
    with engine.begin() as conn:
        cutoff = database_now(conn) - dt.timedelta(days=retention_days)
        return conn.execute(sa.delete(a).where(a.c.changed_at < cutoff)).rowcount


# == history ==========================================================================================


@dataclass
class HistoryFilter:
    """Which rows ``history`` reads: any combination (none: every row)."""

    order_number: str | None = None
    sync_key: str | None = None
    batch_id: int | None = None
    customer: str | None = None


def history(engine: Engine, wanted: HistoryFilter) -> list[dict[str, Any]]:
    """The audit rows that match, oldest first (in the order they were written)."""
    a = s.audit_log
    query = sa.select(a)
    if wanted.order_number is not None:
        query = query.where(a.c.order_number == wanted.order_number)
    if wanted.sync_key is not None:
        query = query.where(a.c.sync_key == wanted.sync_key)
    if wanted.batch_id is not None:
        query = query.where(a.c.batch_id == wanted.batch_id)
    if wanted.customer is not None:
        query = query.where(a.c.customer == wanted.customer)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query.order_by(a.c.audit_id)).mappings()]
