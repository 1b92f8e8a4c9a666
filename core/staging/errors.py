"""ErrorHandler: the ERR tables as the planner sees them, and retrying their rows.

Failures are classified where they arise (``core.monday.errors`` for monday, the mapping for
validation) and written by ``StagingOperations``. Here they are read, referred to by a stable id
(``I12`` for an item error, ``S7`` for a subitem error) and retried: a retry re-stages the lines
the errors belong to; success resolves the error rows (who and when), they are never deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

import sqlalchemy as sa

from core.detect.changes import _chunks
from core.db import schema as s
from core.foundation.exceptions import SettingsError

FIXABLE = ("COLUMN_VALUE", "NOT_FOUND", "AUTH", "UNKNOWN", "PARENT_FAILED", "DELETED_ON_BOARD", "ARCHIVED_ON_BOARD",
           "DUPLICATE_ON_BOARD")
# A planner's decision about an item people changed on the board, made by retrying its error.
BOARD_DECISIONS = ("DELETED_ON_BOARD", "ARCHIVED_ON_BOARD")
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


class ErrorHandler:
    def __init__(self, ctx):
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
                query = (sa.select(table.c.error_type, sa.func.count()).where(table.c.resolved_at.is_(None))
                         .group_by(table.c.error_type))
                for chunk in ([None] if wanted is None else _chunks(wanted)):
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

    def prepare(self, selection: RetrySelection) -> None:
        """Carry out what retrying an error about the board means, before its lines are staged again.

        Deleted on the board: production forgets the item, so the line is created anew with all its
        sizes. Archived on the board: the line is sent again, and the board's state is checked again
        first (restored: it is updated; still archived: the error stays open; deleted: re-created).
        """
        board_id = self.ctx.board_id
        p, ps = s.items, s.subitems
        deleted = [k for k, why in selection.board.items() if why == "DELETED_ON_BOARD"]
        archived = [k for k, why in selection.board.items() if why == "ARCHIVED_ON_BOARD"]
        with self.engine.begin() as conn:
            for chunk in _chunks(deleted):
                gone = sa.select(p.c.sync_key).where(p.c.board_id == board_id, p.c.sync_key.in_(chunk),
                                                     p.c.board_state == s.BOARD_DELETED).scalar_subquery()
                conn.execute(sa.delete(ps).where(ps.c.board_id == board_id, ps.c.parent_sync_key.in_(gone)))
                conn.execute(sa.delete(p).where(p.c.board_id == board_id, p.c.sync_key.in_(chunk),
                                                p.c.board_state == s.BOARD_DELETED))
            for chunk in _chunks(archived):
                conn.execute(sa.update(p).where(p.c.board_id == board_id, p.c.sync_key.in_(chunk))
                             .values(board_state=None))

    def select(self, refs: Iterable[str] | None) -> RetrySelection:
        """The lines to re-stage for ``refs`` (None: every open error)."""
        selection = RetrySelection()
        wanted: list[tuple[sa.Table, int]] | None = None if refs is None else [parse_ref(r) for r in refs]
        with self.engine.connect() as conn:
            for table in (s.err_items, s.err_subitems):
                key = table.c.sync_key if table is s.err_items else table.c.parent_sync_key
                query = sa.select(table.c.err_id, table.c.customer, key.label("key"), table.c.resolved_at,
                                  table.c.error_type, table.c.message)
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
                        selection.notes.append(f"{ref} cannot be retried: the line has no key "
                                               f"({row.message}); fix it in ORDERS_UNIFIED")
                    else:
                        selection.keys.setdefault(row.customer, set()).add(row.key)
                        if table is s.err_items and row.error_type in BOARD_DECISIONS:
                            selection.board[row.key] = row.error_type
                        elif row.error_type == "DUPLICATE_ON_BOARD":
                            selection.duplicates.add(row.key)
        if wanted is not None:
            found = {ref.upper() for ref in (error_ref(t, i) for t, i in wanted)}
            if not selection.keys and not selection.notes:
                raise SettingsError(f"no such errors: {', '.join(sorted(found))}")
        return selection
