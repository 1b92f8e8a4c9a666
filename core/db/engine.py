"""Engine creation per dialect, and turning connection failures into one readable line.

SQLite is the embedded default: WAL mode, foreign keys on and a busy timeout, so the GUI, the
engine threads and a scheduled headless run can share one file. SQL Server goes through
``mssql+pyodbc`` with ``fast_executemany`` for bulk inserts, after its ODBC driver is checked
(``core.db.sqlserver``). OrderSync's own tables get the configured schema through ``schema_translate_map``.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from core.db.sqlserver import redact_odbc, resolve_installed_driver
from core.foundation.exceptions import DatabaseUnavailable, SettingsError
from core.foundation.logs import redact

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000


def redact_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs: the URL's own and an odbc_connect PWD."""
    try:
        parsed = make_url(url)
        raw = parsed.query.get("odbc_connect")
        if raw is not None:
            hidden = redact_odbc(raw) if isinstance(raw, str) else [redact_odbc(r) for r in raw]
            parsed = parsed.update_query_dict({"odbc_connect": hidden})
        return parsed.render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):  # unparsable: the log's redaction hides user:password@, PWD=
        return redact(url)


def _sqlite_on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA cache_size = -65536")  # 64 MiB: bulk staging and promotion touch many index pages
    finally:
        cursor.close()


def create_engine(url: str, *, schema: str | None = None, echo: bool = False) -> Engine:
    """Create the engine for ``url``. No connection is made yet (see ``check_connection``)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        raise SettingsError(f"setting database.url: not a valid database URL: {redact_url(url)}") from None
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
    backend = parsed.get_backend_name()
    if backend == "mssql":
        if parsed.get_driver_name() == "pyodbc":  # also a bare mssql:// URL
            parsed = resolve_installed_driver(parsed)
        kwargs["fast_executemany"] = True
        schema = schema or "dbo"
    elif backend == "sqlite":
        # One engine is shared by the GUI's worker threads.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ImportError, sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise SettingsError(f"setting database.url: cannot use {redact_url(url)}: {exc}") from None
    if backend == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_on_connect)
    if schema:
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


def own_schema(engine: Engine) -> str | None:
    """The schema OrderSync's tables live in on this engine (None: the default)."""
    return (engine.get_execution_options().get("schema_translate_map") or {}).get(None)


def check_connection(engine: Engine) -> None:
    """Connect once, or raise DatabaseUnavailable with one line naming the database."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        from core.db.errors import kind

        if kind(exc) == "refused":
            from core.foundation.exceptions import DatabaseRefused

            raise DatabaseRefused(
                f"the database {redact_url(str(engine.url))} refused OrderSync: {_first_line(exc.orig)}"
            ) from None
        raise DatabaseUnavailable(
            f"cannot reach the database {redact_url(str(engine.url))}: {_first_line(exc.orig)}"
        ) from None


def _first_line(exc: BaseException | None) -> str:
    text = str(exc or "").strip()
    return text.splitlines()[0] if text else type(exc).__name__
