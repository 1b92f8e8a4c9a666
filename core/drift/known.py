"""What OrderSync knows is on the board: the production tables, read once for a drift check.

The lines (items) and sizes (subitems) of the customers checked, with their monday ids, sync keys
and the values OrderSync last wrote; and every sync key of the board, whoever's, so that a key on
the board can be told known or unknown. Read-only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.db import schema as s
from core.source.mapping import Mapping

GONE_BY_POLICY = ("archive", "delete")  # removal policies under which a removed line is meant to leave the board


@dataclass
class Known:
    """One line (or size) OrderSync put on the board, as the production tables hold it."""

    id: str
    key: str
    customer: str
    values: dict[str, Any]
    name: str
    group_id: str | None = None
    order_number: str | None = None
    parent_id: str | None = None
    size: str | None = None
    expect_gone: bool = False  # removed by OrderSync under an archive or delete policy
    noticed: str | None = None  # board_state: OrderSync already knows it is deleted or archived


@dataclass
class Production:
    items: dict[str, Known] = field(default_factory=dict)  # item id -> line, customers checked
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # every key of the board -> (item id, customer)
    subitems: dict[str, Known] = field(default_factory=dict)  # subitem id -> size, customers checked
    board_subitems: int = 0  # sizes of the whole board (the subitems board is read whole)


def _written(values_json: str | None, removed: bool, mapping: Mapping, unsent: dict[str, str]) -> dict[str, Any]:
    """The values OrderSync wrote: under the "report" policy a removed line's removal values were
    recorded but never sent, so they are not what the board should hold."""
    values: dict[str, Any] = json.loads(values_json or "{}")
    if removed and mapping.removal_policy == "report":
        values = {label: value for label, value in values.items() if label not in unsent}
    return values


def read_production(
    engine: Engine, board_id: str, customers: list[str], mapping: Mapping, subitems: bool
) -> Production:
    p, ps = s.items, s.subitems
    scope = set(customers)
    gone_by_policy = mapping.removal_policy in GONE_BY_POLICY
    known = Production()
    with engine.connect() as conn:
        for row in conn.execute(
            sa.select(
                p.c.sync_key,
                p.c.customer,
                p.c.monday_item_id,
                p.c.group_id,
                p.c.item_name,
                p.c.order_number,
                p.c.values_json,
                p.c.is_removed,
                p.c.board_state,
            ).where(p.c.board_id == board_id)
        ).mappings():
            known.keys[row["sync_key"]] = (str(row["monday_item_id"]), row["customer"])
            if row["customer"] in scope:
                known.items[str(row["monday_item_id"])] = Known(
                    id=str(row["monday_item_id"]),
                    key=row["sync_key"],
                    customer=row["customer"],
                    values=_written(row["values_json"], row["is_removed"], mapping, mapping.removal_item),
                    name=row["item_name"],
                    group_id=row["group_id"],
                    order_number=row["order_number"],
                    expect_gone=bool(row["is_removed"]) and gone_by_policy,
                    noticed=row["board_state"],
                )
        if not subitems:
            return known
        known.board_subitems = conn.execute(
            sa.select(sa.func.count()).select_from(ps).where(ps.c.board_id == board_id)
        ).scalar_one()
        for chunk in _chunks(customers):
            for row in conn.execute(
                sa.select(
                    ps.c.parent_sync_key,
                    ps.c.size_label,
                    ps.c.customer,
                    ps.c.monday_subitem_id,
                    ps.c.parent_monday_item_id,
                    ps.c.subitem_name,
                    ps.c.values_json,
                    ps.c.is_removed,
                ).where(ps.c.board_id == board_id, ps.c.customer.in_(chunk))
            ).mappings():
                known.subitems[str(row["monday_subitem_id"])] = Known(
                    id=str(row["monday_subitem_id"]),
                    key=row["parent_sync_key"],
                    customer=row["customer"],
                    values=_written(row["values_json"], row["is_removed"], mapping, mapping.removal_subitem),
                    name=row["subitem_name"],
                    parent_id=str(row["parent_monday_item_id"]),
                    size=row["size_label"],
                    expect_gone=bool(row["is_removed"]) and gone_by_policy,
                )
    return known


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def customers_on_board(engine: Engine, board_id: str) -> list[str]:
    """The customers whose lines OrderSync put on the board (some may be gone from the source)."""
    p = s.items
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(p.c.customer).where(p.c.board_id == str(board_id)).distinct().order_by(p.c.customer)
            ).scalars()
        )
