"""Bulk inserts: one executemany per table, never a statement per row.

On SQLite (the embedded default) the rows go straight to the driver's executemany with the
column types' own bind processors applied once per value: SQLAlchemy's per-row parameter
bookkeeping costs as much as SQLite's insert itself at hundreds of thousands of rows. Other
dialects use Core's executemany, which batches (PostgreSQL's insertmanyvalues, pyodbc's
fast_executemany on SQL Server).
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def bulk_insert(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``."""
    if not rows:
        return
    if conn.dialect.name != "sqlite" or conn.get_execution_options().get("schema_translate_map"):
        conn.execute(sa.insert(table), list(rows))
        return
    compiled = sa.insert(table).compile(dialect=conn.dialect, column_keys=list(rows[0]))
    keys = compiled.positiontup
    getter = itemgetter(*keys)
    data = [getter(row) for row in rows] if len(keys) > 1 else [(getter(row),) for row in rows]
    for position, key in enumerate(keys):
        processor = table.c[key].type.bind_processor(conn.dialect)
        if processor is None:
            continue
        # Typically a timestamp shared by every row: convert each distinct value once.
        memo: dict[Any, Any] = {}
        for i, values in enumerate(data):
            value = values[position]
            converted = memo.get(value, _MISSING) if value is not None else None
            if converted is _MISSING:
                converted = memo[value] = processor(value)
            if converted is not value:
                values = list(values)
                values[position] = converted
                data[i] = tuple(values)
    conn.exec_driver_sql(str(compiled), data)


_MISSING = object()
