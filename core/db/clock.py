"""The database's clock: one time for every workstation.

Heartbeats, takeovers and the age of a stored request are compared across workstations, so they
are written and read with the database server's clock, never a workstation's: a workstation whose
clock is off can then neither steal a live batch nor keep a dead one. ``db_utcnow()`` is naive UTC,
like every timestamp column.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class db_utcnow(FunctionElement[dt.datetime]):  # lower case: reads as the SQL function it renders
    """The database server's current time, naive UTC, with sub-second precision."""

    type = sa.DateTime()
    inherit_cache = True
    name = "db_utcnow"


@compiles(db_utcnow)
def _default(element: db_utcnow, compiler: SQLCompiler, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"


@compiles(db_utcnow, "postgresql")
def _postgresql(element: db_utcnow, compiler: SQLCompiler, **kw: Any) -> str:
    return "(clock_timestamp() AT TIME ZONE 'UTC')"  # the statement's time, not the transaction's


@compiles(db_utcnow, "mssql")
def _mssql(element: db_utcnow, compiler: SQLCompiler, **kw: Any) -> str:
    return "SYSUTCDATETIME()"


@compiles(db_utcnow, "sqlite")
def _sqlite(element: db_utcnow, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff'; %f gives milliseconds.
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"


def database_now(conn: Connection) -> dt.datetime:
    """The database server's current time (naive UTC)."""
    now: dt.datetime = conn.execute(sa.select(db_utcnow())).scalar_one()
    return now
