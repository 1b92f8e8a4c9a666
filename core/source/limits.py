"""What OrderSync's tables can hold, read off their definitions.

A mapped value lands in several columns (the staging, production and error tables); the shortest
of them is its limit, on SQLite (which would not enforce it), PostgreSQL and SQL Server alike. The
mapper checks every line against these limits before anything is staged, so a value that does not
fit holds back its line with a VALIDATION message instead of failing the customer's batch.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from core.db import schema as s
from core.source.mapping import StorageLimits

INT32_MAX = 2**31 - 1  # sa.Integer: INTEGER on PostgreSQL and SQL Server


def _length(column: sa.Column[Any]) -> int:
    length = column.type.length if isinstance(column.type, sa.String) else None
    if length is None:  # every mapped column is sized; a change of schema.py that drops one is a bug
        raise TypeError(f"column {column.name} has no length")
    return length


def _shortest(*columns: sa.Column[Any]) -> int:
    return min(_length(column) for column in columns)


def storage_limits() -> StorageLimits:
    """The limits of every mapped value, from the table definitions."""
    return StorageLimits(
        key=_shortest(
            s.stg_items.c.sync_key,
            s.items.c.sync_key,
            s.err_items.c.sync_key,
            s.stg_subitems.c.parent_sync_key,
            s.subitems.c.parent_sync_key,
            s.err_subitems.c.parent_sync_key,
        ),
        customer=_shortest(
            s.batches.c.customer,
            s.stg_items.c.customer,
            s.stg_subitems.c.customer,
            s.items.c.customer,
            s.subitems.c.customer,
            s.err_items.c.customer,
            s.err_subitems.c.customer,
        ),
        order_number=_shortest(
            s.stg_items.c.order_number,
            s.items.c.order_number,
            s.err_items.c.order_number,
            s.err_subitems.c.order_number,
        ),
        po_number=_shortest(
            s.stg_items.c.po_number, s.items.c.po_number, s.err_items.c.po_number, s.err_subitems.c.po_number
        ),
        item_name=_shortest(s.items.c.item_name),
        group_name=_shortest(s.stg_items.c.group_name, s.items.c.group_name),
        size_label=_shortest(s.stg_subitems.c.size_label, s.subitems.c.size_label, s.err_subitems.c.size_label),
        subitem_name=_shortest(s.stg_subitems.c.subitem_name, s.subitems.c.subitem_name, s.err_subitems.c.subitem_name),
        quantity=INT32_MAX,
    )


def fit(value: object, column: sa.Column[Any]) -> object:
    """A value as an error row can store it: text shortened to the column and made storable (an error
    row must always be written, whatever the source held)."""
    if not isinstance(value, str):
        return value
    value = storable(value)
    length = getattr(column.type, "length", None)
    if length and len(value) > length:
        return value[: length - 1] + "…"
    return value


def storable(text: str) -> str:
    """``text`` with what no database column takes (NUL, unpaired surrogates) replaced by U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text
