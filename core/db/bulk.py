"""Bulk inserts: one executemany per table, never a statement per row.

On SQLite (the embedded default) the rows go straight to the driver's executemany with the
column types' own bind processors applied once per value: SQLAlchemy's per-row parameter
bookkeeping costs as much as SQLite's insert itself at hundreds of thousands of rows. Other
dialects use Core's executemany, which batches (PostgreSQL's insertmanyvalues, pyodbc's
fast_executemany on SQL Server).
"""

from __future__ import annotations

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
    columns = [(key, table.c[key].type.bind_processor(conn.dialect)) for key in compiled.positiontup]
    if any(processor for _, processor in columns):
        data = [tuple(p(row[k]) if p else row[k] for k, p in columns) for row in rows]
    else:
        data = [tuple(row[k] for k, _ in columns) for row in rows]
    conn.exec_driver_sql(str(compiled), data)
