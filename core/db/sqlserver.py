"""SQL Server over ODBC: the installed drivers, the driver a URL needs, and URLs for the settings dialog.

The engine checks the driver before SQLAlchemy loads pyodbc, so a workstation without the right
driver gets a settings error naming what to install rather than an import error or a connection
failure that reads like a network fault. A URL is built with SQLAlchemy's ``URL.create`` so that a
password or database name with ``@``, ``/`` or spaces is quoted correctly.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from core.foundation.exceptions import SettingsError

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


def odbc_drivers() -> list[str]:
    """Every ODBC driver the driver manager reports; none when pyodbc cannot load.

    pyodbc itself fails to import when the ODBC driver manager is missing (unixODBC on Linux), which
    also means no driver is installed.
    """
    try:
        pyodbc = importlib.import_module("pyodbc")  # optional: only where SQL Server is used

        return list(pyodbc.drivers())
    except Exception as exc:  # noqa: BLE001 - ImportError (no libodbc), or a broken driver manager configuration
        log.info("no ODBC driver manager, so no ODBC driver: %s", exc)
        return []


def sqlserver_drivers() -> tuple[list[str], str | None]:
    """The installed SQL Server ODBC drivers, best first, and a note for the user when there is none."""
    drivers = best_first(odbc_drivers())
    return drivers, (None if drivers else NO_DRIVER_NOTE)


def best_first(installed: list[str]) -> list[str]:
    """The SQL Server drivers among ``installed`` ODBC drivers, the one to prefer first."""
    return sorted((d for d in installed if "sql server" in d.lower()), key=_preference)


# One attribute of an ODBC connection string: key=value or key={value with ; and }} inside}.
_ODBC_ATTRIBUTE = re.compile(r"(?P<key>[^=;]+?)\s*=\s*(?P<value>\{(?:[^}]|\}\})*\}|[^;]*)")


def _unbrace(value: str) -> str:
    value = value.strip()
    if value.startswith("{") and value.endswith("}"):
        return value[1:-1].replace("}}", "}")
    return value


def _odbc_value(connection_string: str, key: str) -> str | None:
    for match in _ODBC_ATTRIBUTE.finditer(connection_string):
        if match["key"].strip().lower() == key:
            return _unbrace(match["value"]) or None
    return None


def redact_odbc(connection_string: str) -> str:
    """``connection_string`` with its PWD= (or Password=) value hidden, for messages and logs."""

    def hide(match: re.Match[str]) -> str:
        if match["key"].strip().lower() in ("pwd", "password"):
            return f"{match['key']}=***"
        return match[0]

    return _ODBC_ATTRIBUTE.sub(hide, connection_string)


def _one(url: URL, key: str) -> str:
    value = url.query[key]
    if isinstance(value, str):
        return value
    raise SettingsError(f"setting database.url: {key}= is given {len(value)} times; give it once")


def _no_driver(named: str | None) -> SettingsError:
    asked = f' (the URL names "{named}")' if named else ""
    return SettingsError(
        f"setting database.url: no SQL Server ODBC driver is installed on this workstation{asked}; "
        f'install "Microsoft {PREFERRED_DRIVER}" (or 17)'
    )


def _require(named: str, installed: list[str], where: str) -> None:
    if named.casefold() in {d.casefold() for d in installed}:
        return
    available = best_first(installed)
    if not available:
        raise _no_driver(named)
    listed = ", ".join(f'"{d}"' for d in available)
    raise SettingsError(
        f'setting database.url: the ODBC driver "{named}" is not installed on this workstation; '
        f'installed SQL Server drivers: {listed}; name one of them in {where} or install "{named}"'
    )


def resolve_driver(url: URL, installed: Iterable[str]) -> URL:
    """``url`` (an ``mssql+pyodbc`` URL) with an ODBC driver from ``installed``, or SettingsError.

    A URL without a driver gets the best installed one; a named driver must be installed (names
    compare case-insensitively, as the driver managers do). A raw ``odbc_connect`` string or a DSN
    carries its own driver, so only a DRIVER it names is checked. Messages hold no URL, so no password.
    """
    installed = list(installed)
    if "odbc_connect" in url.query:
        named = _odbc_value(_one(url, "odbc_connect"), "driver")
        if named:
            _require(named, installed, "the DRIVER={...} part of odbc_connect")
        elif not installed:
            raise _no_driver(None)
        return url
    if _is_dsn(url):
        if not installed:
            raise _no_driver(None)
        return url
    key = next((k for k in url.query if k.lower() == "driver"), None)
    given = _one(url, key) if key else ""
    named = _unbrace(given)
    if named:
        _require(named, installed, "driver=")
        if key == "driver" and given == named:
            return url
    else:
        available = best_first(installed)
        if not available:
            raise _no_driver(None)
        named = available[0]
        log.info('database.url names no ODBC driver: using "%s", the best installed SQL Server driver', named)
    # SQLAlchemy reads only a lower-case "driver" and braces the name itself.
    return url.difference_update_query([key] if key else []).update_query_dict({"driver": named})


def _is_dsn(url: URL) -> bool:
    """SQLAlchemy's rule: a host without a database is a data source name, which brings its own driver."""
    return "dsn" in url.query or bool(url.host and not url.database)


def resolve_installed_driver(url: URL) -> URL:
    """``resolve_driver`` against the drivers this workstation's ODBC driver manager reports."""
    return resolve_driver(url, odbc_drivers())


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
        host=host,
        port=port,
        database=database,
        query=query,
    )
    return url.render_as_string(hide_password=False)


def parse_url(url: str) -> SqlServerTarget | None:
    """The helper's fields for an existing ``mssql+pyodbc`` URL, or None for any other URL."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
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
