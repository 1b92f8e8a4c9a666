"""The undo's plan: the cells batch N changed, read from the audit trail, against later batches and the
board; what is archived, deleted, set back and moved back, and the conflicts left alone; its preview."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.db import schema as s
from core.drift.board import BoardItem
from core.drift.values import board_form, ordersync_form
from core.staging.audit import ITEM_GROUP, ITEM_NAME

# Audit kinds that changed nothing on the board: a cell whose board value was kept. The undo has
# nothing to take back there, and such a row is no later change of the cell either.
NOTHING_TO_UNDO = (s.KEPT,)


@dataclass
class Cell:
    """One cell batch N changed, as the undo sees it."""

    kind: str
    sync_key: str
    order_number: str | None
    size: str | None
    item_id: str | None
    subitem_id: str | None
    column_id: str | None
    title: str | None
    before: str | None
    sent: str | None
    why: str = ""  # a conflict's reason
    whole: str = ""  # "item" or "size": a conflict that keeps a whole item or size the batch created

    def describe(self) -> dict[str, Any]:
        return {
            "sync_key": self.sync_key,
            "order_number": self.order_number,
            "size": self.size,
            "item_id": self.item_id,
            "subitem_id": self.subitem_id,
            "column": self.title,
            "set_back_to": self.before,
            "batch_wrote": self.sent,
            **({"why": self.why} if self.why else {}),
            **({"kept_whole": self.whole} if self.whole else {}),
        }


@dataclass
class UndoPlan:
    """What undoing a batch does: archive, delete, set back, move back; and what it leaves alone."""

    batch_id: int
    customer: str
    archive: list[Cell] = field(default_factory=list)  # one per item (its name cell)
    delete: list[Cell] = field(default_factory=list)  # one per subitem
    restore: list[Cell] = field(default_factory=list)
    move: list[Cell] = field(default_factory=list)
    conflicts: list[Cell] = field(default_factory=list)
    kept: int = 0  # removals of the batch, not brought back

    @property
    def empty(self) -> bool:
        return not (self.archive or self.delete or self.restore or self.move)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch_id,
            "customer": self.customer,
            "archive": [c.describe() for c in self.archive],
            "delete": [c.describe() for c in self.delete],
            "set_back": [c.describe() for c in self.restore],
            "move_back": [c.describe() for c in self.move],
            "conflicts": [c.describe() for c in self.conflicts],
            "removals_not_undone": self.kept,
        }


def _cell(row: Any) -> Cell:
    return Cell(
        row.kind,
        row.sync_key,
        row.order_number,
        row.size_label,
        row.monday_item_id,
        row.monday_subitem_id,
        row.column_id,
        row.column_title,
        row.value_before,
        row.value_sent,
    )


def _later_changes(conn: Connection, batch_id: int, cells: list[Cell]) -> dict[tuple[Any, Any, Any], int]:
    """(item, subitem, column) -> the first later batch that changed that cell too."""
    a = s.audit_log
    items = sorted({c.item_id for c in cells if c.item_id is not None})
    later: dict[tuple[Any, Any, Any], int] = {}
    for start in range(0, len(items), 500):
        chunk = items[start : start + 500]
        for r in conn.execute(
            sa.select(a.c.monday_item_id, a.c.monday_subitem_id, a.c.column_id, a.c.batch_id)
            .where(a.c.batch_id > batch_id, a.c.monday_item_id.in_(chunk), a.c.kind.not_in(NOTHING_TO_UNDO))
            .order_by(a.c.audit_id)
        ):
            later.setdefault((r.monday_item_id, r.monday_subitem_id, r.column_id), r.batch_id)
    return later


def _compare(c: Cell, item: BoardItem, columns: dict[str, Any], titles: dict[str, str]) -> tuple[str, str]:
    """(what the board holds, what the batch wrote) in one comparable form."""
    if c.column_id == ITEM_NAME[0]:
        return item.name, c.sent or ""
    if c.column_id == ITEM_GROUP[0]:
        return item.group_title or titles.get(item.group_id or "", ""), c.sent or ""
    column = columns.get(str(c.column_id))
    if column is None:
        return "", ""
    text, value = item.cells.get(column.id, (None, None))
    return board_form(column.type, text, value), ordersync_form(column.type, _decode(c.sent, None))


def _quantity(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _decode(text: str | None, like: Any) -> Any:
    """An audited value back as the mapped value (text stays text; a number or a list was kept as JSON)."""
    if text is None or isinstance(like, str):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if not isinstance(value, str) else text


def render_plan(plan: UndoPlan) -> str:
    """The preview, in plain words."""
    out = [f"Undo of batch {plan.batch_id} ({plan.customer}):"]

    def section(title: str, cells: list[Cell], say: Any) -> None:
        out.append(f"  {title}: {len(cells)}")
        out.extend(f"    {say(c)}" for c in cells)

    def line(c: Cell) -> str:
        return f"{c.order_number or c.sync_key}" + (f" size {c.size}" if c.size else "")

    section("items to archive", plan.archive, line)
    section("sizes to delete", plan.delete, line)
    section("cells to set back", plan.restore, lambda c: f"{line(c)}, {c.title}: {c.sent} → {c.before}")
    section("items to move back", plan.move, lambda c: f"{line(c)}: {c.sent} → {c.before}")
    section(
        "conflicts, left alone", plan.conflicts, lambda c: f"{line(c)}, {c.title}: {c.why} (the batch wrote {c.sent})"
    )
    if plan.kept:
        out.append(f"  removals of the batch, not brought back: {plan.kept}")
    return "\n".join(out)
