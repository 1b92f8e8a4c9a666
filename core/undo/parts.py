"""The undo's parts in the sync's machinery: its payloads (a subitem it removes is deleted), its audit
kinds (RESTORED, MOVED, ARCHIVED, DELETED), and production brought in line after its promotion."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.db import schema as s
from core.monday.client import Mutation
from core.push.payloads import PayloadBuilder
from core.staging.audit import AUDIT_COLUMNS, AuditTrail
from core.staging.ledger import SUB

# The line hash of a restored line: no source line hashes to it, so the next sync compares it again.
UNDONE_HASH = "0" * 40
_KIND = AUDIT_COLUMNS.index("kind")


def forget_undone(conn: Connection, batch_id: int, board_id: str) -> None:
    """Lines and subitems whose creation the undo took back leave production: the next sync makes them NEW.

    Idempotent, run after every promotion of the undo batch (a resumed undo runs it again).
    """
    p, ps = s.items, s.subitems
    gone = sa.select(p.c.sync_key).where(p.c.board_id == board_id, p.c.last_batch_id == batch_id, p.c.is_removed)
    conn.execute(sa.delete(ps).where(ps.c.board_id == board_id, ps.c.parent_sync_key.in_(gone)))
    conn.execute(sa.delete(ps).where(ps.c.board_id == board_id, ps.c.last_batch_id == batch_id, ps.c.is_removed))
    conn.execute(sa.delete(p).where(p.c.board_id == board_id, p.c.last_batch_id == batch_id, p.c.is_removed))


class UndoPayloads(PayloadBuilder):
    """The sync's payloads, with a subitem's removal as its deletion (a subitem the batch created)."""

    def _sub_mutations(self, row: dict[str, Any], values: dict[str, Any], changed: list[str] | None) -> list[Mutation]:
        if row["action"] == s.REMOVE:
            stg_id = row["stg_sub_id"]
            return [Mutation((SUB, stg_id, "delete_item"), "delete_item", {"item_id": row["monday_subitem_id"]})]
        return super()._sub_mutations(row, values, changed)


class UndoAudit(AuditTrail):
    """The undo's audit rows: RESTORED for a cell set back; MOVED, ARCHIVED and DELETED for the rest."""

    def _item_cells(self, row: Any, confirmed_id: str | None, user: str, host: str) -> list[list[Any]]:
        return _restored(super()._item_cells(row, confirmed_id, user, host))

    def _sub_cells(self, row: Any, confirmed_id: str | None, user: str, host: str) -> list[list[Any]]:
        if row["action"] == s.REMOVE:
            head = [
                row["batch_id"],
                row["customer"],
                row["parent_sync_key"],
                row["order_number"],
                row["size_label"],
                row["parent_monday_item_id"],
                confirmed_id or row["monday_subitem_id"],
            ]
            return [[*head, None, None, None, None, s.DELETED, user, host, row["now"]]]
        return _restored(super()._sub_cells(row, confirmed_id, user, host))


def _restored(cells: Iterable[list[Any]]) -> list[list[Any]]:
    out = []
    for cell in cells:
        if cell[_KIND] == s.UPDATED:
            cell[_KIND] = s.RESTORED
        out.append(cell)
    return out
