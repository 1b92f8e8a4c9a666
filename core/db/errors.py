"""What a database error means for the person who reads the exit code: classified by the driver's
own signals (SQLSTATE classes, SQLite's result codes, SQL Server's native error numbers and
SQLAlchemy's ``is_disconnect``), never by the wording of a message.

- **unreachable** (exit 3): the connection was refused, lost or timed out, or the server is
  shutting down, out of resources or busy (a lock it could not get, a deadlock): nothing was lost,
  and the batch resumes on the next run.
- **login** (exit 3, as for a token monday refuses): the server refused the login.
- **refused** (exit 2): the database is there, but a person must change something: the file or
  database is read-only, the login lacks a permission, the database named in the settings does not
  exist, the file is not a database.
- anything else (an integrity or a programming error, a value the column refused) is a bug in
  OrderSync (exit 70): ``classify`` returns None and the caller lets it through as one.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from core.foundation.exceptions import DatabaseRefused, DatabaseUnavailable, OrderSyncError

# SQLSTATE classes and codes (SQL standard; PostgreSQL; ODBC for SQL Server)
_UNREACHABLE_CLASSES = ("08", "53", "57P", "HYT", "40")  # connection; resources; shutdown; ODBC timeout; rollback
_UNREACHABLE_CODES = {"55P03", "57014"}  # a lock not available; a statement cancelled by the server
_LOGIN_CLASS = "28"  # invalid authorization: the login was refused (like a refused token, exit 3)
_REFUSED_CODES = {"25006", "42501", "3D000", "3F000", "25000"}  # read-only; no privilege; no database / schema

# SQLite's primary result codes (sqlite_errorname without its extended suffix)
_SQLITE_UNREACHABLE = {
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_PROTOCOL",
}
_SQLITE_REFUSED = {"SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH", "SQLITE_NOTADB", "SQLITE_CORRUPT"}

# SQL Server native errors, which pyodbc reports in parentheses after the message
_MSSQL_REFUSED = {229, 230, 262, 297, 300, 916, 3906, 4060, 15247}  # permission denied; read-only; no database
_MSSQL_UNREACHABLE = {1205, 1222, 40197, 40501, 40613, 49918, 49919, 49920}  # deadlock; lock timeout; Azure busy
_NATIVE = re.compile(r"\((\d+)\)\s*(?:\(SQL\w+\))?\s*$")


def sqlstate(orig: BaseException | None) -> str | None:
    """The SQLSTATE the driver reported (psycopg, psycopg2, pyodbc), or None."""
    if orig is None:
        return None
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state:
        return str(state)
    args: tuple[object, ...] = getattr(orig, "args", ())
    if args and isinstance(args[0], str) and re.fullmatch(r"[0-9A-Z]{5}", args[0]):
        return args[0]  # pyodbc: (SQLSTATE, message)
    return None


def _native_mssql(orig: BaseException | None) -> int | None:
    args: tuple[object, ...] = getattr(orig, "args", ())
    if len(args) >= 2 and isinstance(args[1], str):
        match = _NATIVE.search(args[1].strip())
        if match:
            return int(match.group(1))
    return None


def _sqlite_code(orig: BaseException | None) -> str | None:
    name = getattr(orig, "sqlite_errorname", None)
    if not name:
        return None
    parts = name.split("_")
    return "_".join(parts[:2])  # SQLITE_READONLY_DBMOVED -> SQLITE_READONLY


def first_line(exc: BaseException | None) -> str:
    text = str(exc or "").strip()
    return text.splitlines()[0] if text else type(exc).__name__


def kind(exc: sa.exc.DBAPIError) -> str | None:
    """ "unreachable", "login", "refused" or None (a bug), from the driver's signals."""
    if exc.connection_invalidated:  # SQLAlchemy's dialect said is_disconnect
        return "unreachable"
    orig = exc.orig
    sqlite = _sqlite_code(orig)
    if sqlite is not None:
        if sqlite in _SQLITE_REFUSED:
            return "refused"
        if sqlite in _SQLITE_UNREACHABLE:
            return "unreachable"
        return None
    native = _native_mssql(orig)
    if native in _MSSQL_REFUSED:
        return "refused"
    if native in _MSSQL_UNREACHABLE:
        return "unreachable"
    state = sqlstate(orig)
    if state is not None:
        if state in _REFUSED_CODES:
            return "refused"
        if state.startswith(_LOGIN_CLASS):
            return "login"
        if state in _UNREACHABLE_CODES or state.startswith(_UNREACHABLE_CLASSES):
            return "unreachable"
        return None
    if isinstance(exc, sa.exc.InterfaceError):  # the driver could not talk to the server at all
        return "unreachable"
    return None


def classify(exc: sa.exc.DBAPIError, where: str = "") -> OrderSyncError | None:
    """The user's error for ``exc`` (``where`` names the database, password hidden), or None for a bug."""
    what = kind(exc)
    detail = first_line(exc.orig)
    where = f" {where}" if where else ""
    if what == "unreachable":
        return DatabaseUnavailable(
            f"the database{where} could not be reached or is busy ({detail}); nothing was "
            "lost, and the next run resumes"
        )
    if what == "login":
        return DatabaseUnavailable(
            f"the database{where} refused the login ({detail}); check the user and "
            "password in the settings. Nothing was lost, and the next run resumes"
        )
    if what == "refused":
        return DatabaseRefused(
            f"the database{where} refused OrderSync ({detail}); check that it exists, that the "
            "file or database is writable, and that the login has its permissions"
        )
    return None
