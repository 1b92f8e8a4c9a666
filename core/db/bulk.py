"""Bulk inserts: one executemany per table, never a statement per row.

On SQLite (the embedded default) the rows go straight to the driver's executemany with the
column types' own bind processors applied once per value: SQLAlchemy's per-row parameter
bookkeeping costs as much as SQLite's insert itself at hundreds of thousands of rows. Other
PostgreSQL uses COPY; other dialects Core's executemany, which batches (pyodbc's
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
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        _copy_postgresql(conn, table, rows)
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


def _copy_postgresql(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """PostgreSQL's COPY, through psycopg, inside the connection's transaction."""
    preparer = conn.dialect.identifier_preparer
    schema = (conn.get_execution_options().get("schema_translate_map") or {}).get(table.schema, table.schema)
    name = preparer.quote(table.name)
    if schema:
        name = f"{preparer.quote_schema(schema)}.{name}"
    keys = list(rows[0])
    columns = ", ".join(preparer.quote(key) for key in keys)
    getter = itemgetter(*keys)
    cursor = conn.connection.driver_connection.cursor()
    try:
        with cursor.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(getter(row) if len(keys) > 1 else (getter(row),))
    finally:
        cursor.close()


def refresh_statistics(conn: Connection, *columns: sa.Column) -> None:
    """After a bulk change, let PostgreSQL's planner see the new row counts and values.

    Without it a freshly filled staging table is estimated at one row, and the promotion's
    anti-join degenerates into a scan of the whole board per row (seconds become minutes). Only
    the given columns are analysed: the row count comes with them and the wide JSON columns
    would only cost time. SQLite plans these statements by their indexes alone; SQL Server
    updates its statistics itself.
    """
    if conn.dialect.name != "postgresql":
        return
    preparer = conn.dialect.identifier_preparer
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    by_table: dict[sa.Table, list[str]] = {}
    for column in columns:
        by_table.setdefault(column.table, []).append(preparer.quote(column.name))
    for table, names in by_table.items():
        schema = translate.get(table.schema, table.schema)
        name = preparer.quote(table.name)
        qualified = f"{preparer.quote_schema(schema)}.{name}" if schema else name
        conn.exec_driver_sql(f"ANALYZE {qualified} ({', '.join(names)})")
