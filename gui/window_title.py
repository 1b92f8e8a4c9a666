"""The window's title: the board by its name and the database by server and database name.

"OrderSync — Customer Master Schedule · SQL Server APPS01/ERP", "… · SQLite demo.db": what a planner
calls them, never a URL (which may hold a login) nor a path. The board's name is read from monday
through the client, off the GUI thread; until it arrives (or when monday cannot be reached) the
title names the board by its number.
"""

from __future__ import annotations

import logging
import re
from pathlib import PureWindowsPath

from sqlalchemy.engine import URL, make_url

from core.engine.context import EngineContext

log = logging.getLogger(__name__)

APP = "OrderSync"

_BACKENDS = {"mssql": "SQL Server", "postgresql": "PostgreSQL", "sqlite": "SQLite", "mysql": "MySQL"}


def _odbc_part(connect: str, *names: str) -> str:
    for name in names:
        found = re.search(rf"(?:^|;)\s*{name}\s*=\s*(\{{[^}}]*\}}|[^;]*)", connect, re.IGNORECASE)
        if found:
            return found.group(1).strip().strip("{}")
    return ""


def database_label(url: URL | str) -> str:
    """The database as "SQL Server APPS01/ERP", "PostgreSQL db1/orders" or "SQLite demo.db"."""
    try:
        parsed = make_url(str(url)) if not isinstance(url, URL) else url
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy cannot read: name nothing rather than show it
        return "database"
    backend = parsed.get_backend_name()
    kind = _BACKENDS.get(backend, backend)
    if backend == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            return f"{kind} in memory" if not database or database == ":memory:" else kind
        return f"{kind} {PureWindowsPath(database).name}"  # the file's name, whichever separator it uses
    host, database = parsed.host or "", parsed.database or ""
    connect = parsed.query.get("odbc_connect")
    if isinstance(connect, str):
        host = host or _odbc_part(connect, "SERVER", "ADDRESS")
        database = database or _odbc_part(connect, "DATABASE", "INITIAL CATALOG")
    host = re.sub(r"^tcp:", "", host, flags=re.IGNORECASE).split(",")[0]
    where = "/".join(part for part in (host, database) if part)
    return f"{kind} {where}".strip()


def window_title(board_name: str | None, board_id: str, database: str) -> str:
    board = board_name or (f"board {board_id}" if board_id else "no board set")
    return f"{APP} — {board} · {database}"


def read_board_name(ctx: EngineContext) -> str:
    """The board's name, read from monday (in a worker thread: it waits for the network)."""
    client = ctx.monday_client(timeout=(5.0, 20.0), max_attempts=2)
    try:
        return client.board_name(ctx.board_id)
    finally:
        client.close()
