"""SQL Server connection URLs for the settings dialog: installed ODBC drivers, build and read back.

No Qt here: plain functions the dialog calls, testable alone. A URL is built with SQLAlchemy's
``URL.create`` so that a password or database name with ``@``, ``/`` or spaces is quoted correctly.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url

log = logging.getLogger(__name__)

PREFERRED_DRIVER = "ODBC Driver 18 for SQL Server"
NO_DRIVER_NOTE = "No SQL Server ODBC driver is installed — install Microsoft ODBC Driver 18 for SQL Server"
_VERSIONED = re.compile(r"^ODBC Driver (\d+) for SQL Server$", re.IGNORECASE)


def _preference(driver: str) -> tuple[int, int, str]:
    """Sort key: the newest "ODBC Driver N for SQL Server" first, then Native Client, then the legacy one."""
    versioned = _VERSIONED.match(driver)
    if versioned:
        return (0, -int(versioned.group(1)), driver)
    if "native client" in driver.lower():
        return (1, 0, driver)
    return (2, 0, driver)


def sqlserver_drivers() -> tuple[list[str], str | None]:
    """The installed SQL Server ODBC drivers, best first, and a note for the user when there is none.

    pyodbc itself fails to import when the ODBC driver manager is missing (unixODBC on Linux), which
    also means no driver is installed.
    """
    try:
        import pyodbc

        installed = pyodbc.drivers()
    except Exception as exc:  # ImportError (no libodbc), or a broken driver manager configuration
        log.info("no ODBC driver manager, so no SQL Server driver: %s", exc)
        return [], NO_DRIVER_NOTE
    drivers = best_first(installed)
    return drivers, (None if drivers else NO_DRIVER_NOTE)


def best_first(installed: list[str]) -> list[str]:
    """The SQL Server drivers among ``installed`` ODBC drivers, the one to prefer first."""
    return sorted((d for d in installed if "sql server" in d.lower()), key=_preference)


@dataclass
class SqlServerTarget:
    """What the helper's fields describe: a server, a database and how to log in."""

    driver: str = PREFERRED_DRIVER
    server: str = ""
    database: str = ""
    trusted: bool = True
    user: str = ""
    password: str = ""
    trust_certificate: bool = False


def build_url(target: SqlServerTarget) -> str:
    """An ``mssql+pyodbc://`` URL for ``target``; ValueError names a missing field."""
    server = target.server.strip()
    database = target.database.strip()
    driver = target.driver.strip()
    if not server:
        raise ValueError("enter the server (host, host\\instance or host,port)")
    if not database:
        raise ValueError("enter the database name")
    if not driver:
        raise ValueError("choose or type an ODBC driver")
    if not target.trusted and not target.user.strip():
        raise ValueError("enter the SQL login user name, or tick Windows authentication")
    host, port = server, None
    # SQL Server's own "host,port" notation; a URL carries the port after a colon.
    match = re.fullmatch(r"(.+?)\s*[,:]\s*(\d+)", server)
    if match:
        host, port = match.group(1), int(match.group(2))
    query = {"driver": driver}
    if target.trusted:
        query["trusted_connection"] = "yes"
    if target.trust_certificate:
        query["TrustServerCertificate"] = "yes"
    url = URL.create(
        "mssql+pyodbc",
        username=None if target.trusted else target.user.strip(),
        password=None if target.trusted or not target.password else target.password,
        host=host, port=port, database=database, query=query,
    )
    return url.render_as_string(hide_password=False)


def parse_url(url: str) -> SqlServerTarget | None:
    """The helper's fields for an existing ``mssql+pyodbc`` URL, or None for any other URL."""
    try:
        parsed = make_url(url)
    except Exception:
        return None
    if parsed.drivername != "mssql+pyodbc" or "odbc_connect" in parsed.query:
        return None
    query = {k.lower(): (v if isinstance(v, str) else v[0]) for k, v in parsed.query.items()}
    server = parsed.host or ""
    if parsed.port:
        server = f"{server},{parsed.port}"
    return SqlServerTarget(
        driver=query.get("driver", PREFERRED_DRIVER),
        server=server,
        database=parsed.database or "",
        trusted=query.get("trusted_connection", "").lower() == "yes" or not parsed.username,
        user=parsed.username or "",
        password=parsed.password or "",
        trust_certificate=query.get("trustservercertificate", "").lower() == "yes",
    )
