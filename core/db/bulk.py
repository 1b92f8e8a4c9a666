"""Bulk inserts: one executemany per table, never a statement per row.

On SQLite (the embedded default) the rows go straight to the driver's executemany with the
column types' own bind processors applied once per value: SQLAlchemy's per-row parameter
bookkeeping costs as much as SQLite's insert itself at hundreds of thousands of rows. Other
PostgreSQL uses COPY; other dialects Core's executemany, which batches (pyodbc's
fast_executemany on SQL Server). ``fetch_tuples`` is the read of the same kind: a whole board's
index without a Row per item.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def bulk_insert(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``."""
    if not rows:
        return
    keys = list(rows[0])
    getter = itemgetter(*keys)
    if len(keys) == 1:
        bulk_insert_rows(conn, table, keys, [[getter(row)] for row in rows])
    else:
        bulk_insert_rows(conn, table, keys, [list(getter(row)) for row in rows])


def bulk_insert_rows(conn: Connection, table: sa.Table, keys: Sequence[str], rows: list[list[Any]]) -> None:
    """Insert positional ``rows`` (lists, values in the order of ``keys``) into ``table``.

    The cheapest form for hundreds of thousands of rows: no dict per row. On SQLite the lists are
    converted in place by the columns' bind processors and handed to the driver as they are.
    """
    if not rows:
        return
    keys = list(keys)
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        _copy_postgresql(conn, table, keys, rows)
        return
    if conn.dialect.name != "sqlite" or conn.get_execution_options().get("schema_translate_map"):
        conn.execute(sa.insert(table), [dict(zip(keys, row, strict=True)) for row in rows])
        return
    compiled = sa.insert(table).compile(dialect=conn.dialect, column_keys=keys)
    positions = compiled.positiontup
    if positions is None:  # never: SQLite's paramstyle is positional
        raise RuntimeError(f"the insert into {table.name} compiled without positional parameters")
    order = [keys.index(key) for key in positions]
    if order != list(range(len(keys))):
        rows = [[row[i] for i in order] for row in rows]
        keys = list(positions)
    for position, key in enumerate(keys):
        # The dialect's own type (a with_variant type has no processor of its own): without it a
        # datetime would reach sqlite3's deprecated default adapter, in another text format.
        processor = table.c[key].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if processor is None:
            continue
        # Typically a timestamp shared by every row: convert each distinct value once.
        memo: dict[Any, Any] = {}
        for values in rows:
            value = values[position]
            if value is None:
                continue
            converted = memo.get(value, _MISSING)
            if converted is _MISSING:
                converted = memo[value] = processor(value)
            values[position] = converted
    conn.exec_driver_sql(str(compiled), list(map(tuple, rows)))


_MISSING = object()


def fetch_tuples(conn: Connection, statement: sa.Select[Any]) -> list[Sequence[Any]]:
    """Every row of a simple SELECT (columns and bound values, no expanding IN), as the driver returns them.

    For a read of hundreds of thousands of rows whose values need no conversion (text, integers:
    a Boolean stays SQLite's 0/1): on SQLite without a schema map, the driver's own cursor runs the
    compiled statement inside the connection's transaction, with no Row per row. (Not the
    ``CursorResult``'s cursor: a connection once set to ``yield_per`` has SQLAlchemy buffer rows
    ahead of it.) Elsewhere, SQLAlchemy's rows.
    """
    if conn.dialect.name != "sqlite" or conn.get_execution_options().get("schema_translate_map"):
        return list(conn.execute(statement).all())
    compiled = statement.compile(dialect=conn.dialect)
    params = compiled.construct_params()
    positions = compiled.positiontup
    if positions is None:  # never: SQLite's paramstyle is positional
        raise RuntimeError("the SELECT compiled without positional parameters")
    cursor = conn.connection.cursor()
    try:
        cursor.execute(str(compiled), [params[key] for key in positions])
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _copy_postgresql(conn: Connection, table: sa.Table, keys: list[str], rows: list[list[Any]]) -> None:
    """PostgreSQL's COPY, through psycopg, inside the connection's transaction."""
    preparer = conn.dialect.identifier_preparer
    schema = (conn.get_execution_options().get("schema_translate_map") or {}).get(table.schema, table.schema)
    name = preparer.quote(table.name)
    if schema:
        name = f"{preparer.quote_schema(schema)}.{name}"
    columns = ", ".join(preparer.quote(key) for key in keys)
    driver = conn.connection.driver_connection
    if driver is None:  # never while the connection is open (it is only None once invalidated)
        raise RuntimeError("the database connection was invalidated before the COPY")
    cursor = driver.cursor()
    try:
        with cursor.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


def refresh_statistics(conn: Connection, *columns: sa.Column[Any]) -> None:
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
