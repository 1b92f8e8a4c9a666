"""What the settings dialog runs outside the GUI thread, with no Qt in it: the probes behind its Test
buttons, and the atomic write of the settings file."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from core.foundation.config import SANDBOX_URL, Settings, resolve_database_url
from core.foundation.exceptions import OrderSyncError, SettingsError
from core.foundation.resources import program_command
from core.foundation.token import TOKEN_ENV, get_token
from core.source.mapping import Mapping, load_mapping

log = logging.getLogger(__name__)


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else ""


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# --- the probes behind the Test buttons: run in a worker thread ------------------------------------


def probe_database(url: str, schema: str, base_dir: Path) -> tuple[bool, str]:
    """Connect once to the URL as typed; (True, "Connected…") or (False, the one-line reason)."""
    from core.db.engine import check_connection, create_engine
    from core.db.migrate import require_current

    resolved = resolve_database_url(url, base_dir)
    missing = _missing_sqlite_file(resolved)
    if missing is not None:  # connecting would create an empty database in place of a mistyped one
        return False, f"the SQLite database file does not exist: {missing}"
    engine = None
    try:
        engine = create_engine(resolved, schema=schema or None)
        check_connection(engine)
        try:
            require_current(engine)
            note = ""
        except SettingsError as exc:
            note = f" — note: {_first_line(str(exc))}"
        except Exception as exc:  # noqa: BLE001 - the connection works; the schema check is only advice
            log.info("schema check after a connection test failed: %s", exc)
            note = ""
        return True, f"Connected{note}"
    except OrderSyncError as exc:
        return False, _first_line(str(exc))
    except Exception as exc:
        log.exception("unexpected error while testing the database connection")
        return False, f"unexpected error: {type(exc).__name__}: {_first_line(str(exc))}"
    finally:
        if engine is not None:
            engine.dispose()


def _missing_sqlite_file(resolved: str) -> str | None:
    """The file of a SQLite URL that does not exist (connecting would create an empty database in place
    of a mistyped one); None for any other URL."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(resolved)
        database = parsed.database or ""
        if (
            parsed.get_backend_name() == "sqlite"
            and database
            and not database.startswith((":memory:", "file:"))
            and not Path(database).exists()
        ):
            return database
    except Exception:  # noqa: BLE001, S110 - whatever fails here, create_engine names the problem later
        pass
    return None


def probe_board(settings: Settings, typed_token: str) -> tuple[bool, str]:
    """The board check of the `check` command (core/engine/check.py), with the token as typed: the
    token, the board, the mapped columns, the subitems board, and the status labels the current data
    of ORDERS_UNIFIED will write. (True, summary) or (False, what is wrong and what to do)."""
    from core.engine.check import Checklist, monday_checks
    from core.engine.context import SANDBOX_STATE
    from core.monday.client import MondayApiClient

    try:
        mapping = load_mapping(settings.mapping_path)
        url = settings["monday.api_url"]
        token = ""
        if url == SANDBOX_URL:
            state = settings.base_dir / SANDBOX_STATE
            if not state.exists():
                return False, (
                    f"the embedded sandbox has no board yet ({state} does not exist); "
                    f"`{program_command('demo init')}` creates one"
                )
        else:
            token = typed_token or get_token() or ""
            if not token:
                return False, f"no monday API token: enter one above, or set {TOKEN_ENV}"
        ctx, data_problem = _context_for_labels(settings, mapping)

        def make_client() -> MondayApiClient:
            if url == SANDBOX_URL:  # the embedded sandbox, started by the context and stopped with it
                return ctx.monday_client(timeout=(5.0, 20.0), max_attempts=2)
            return MondayApiClient(
                url, token, api_version=settings["monday.api_version"], timeout=(5.0, 20.0), max_attempts=2
            )

        checks = Checklist()
        try:
            monday_checks(ctx, checks, with_labels=not data_problem, client_factory=make_client)
        finally:
            ctx.close()
        return _summary(checks, mapping, data_problem)
    except OrderSyncError as exc:
        return False, str(exc)
    except Exception as exc:
        log.exception("unexpected error while testing the monday board")
        return False, f"unexpected error: {type(exc).__name__}: {_first_line(str(exc))}"


def _context_for_labels(settings: Settings, mapping: Mapping):
    """An engine context on the database as typed, and why the labels cannot be checked ("" when they
    can): the labels link reads the current data of ORDERS_UNIFIED. Without the data the monday links
    still run, on a context whose database is never opened."""
    from core.db.engine import create_engine
    from core.engine.context import EngineContext
    from core.staging.operations import StagingOperations

    problem = ""
    missing = _missing_sqlite_file(settings.database_url)
    if missing is not None:
        problem = f"the SQLite database file does not exist: {missing}"
    else:
        ctx = None
        try:
            ctx = EngineContext.open(settings, check_schema=False)
            ctx.source  # noqa: B018 - reads ORDERS_UNIFIED's columns: the table is there and readable
            return ctx, ""
        except Exception as exc:  # noqa: BLE001 - said in the result; the monday links run anyway
            problem = _first_line(str(exc)) or type(exc).__name__
            if ctx is not None:
                ctx.close()
    engine = create_engine("sqlite://")  # never connected: with_labels=False
    return EngineContext(settings, engine, mapping, StagingOperations(engine)), problem


# The links of the check, as the dialog names them.
_PLAIN = {
    "monday token": "the API token",
    "board": "the board",
    "mapped columns": "the mapped columns",
    "subitems board": "the subitem columns",
    "labels": "the status labels the data needs",
}


def _summary(checks, mapping: Mapping, data_problem: str) -> tuple[bool, str]:
    from core.engine.check import FAILED

    found = {c.name: c for c in checks.checks}
    board = found.get("board")
    prefix = f"Board {board.detail.rsplit(' (', 1)[0]}: " if board is not None and board.ok else ""
    failed = [c for c in checks.checks if c.state == FAILED]
    if failed:
        return False, prefix + "; ".join(
            f"{_PLAIN.get(c.name, c.name)}: {c.detail}" + (f" — {c.fix}" if c.fix else "") for c in failed
        )
    items, subitems = len(mapping.columns), len(mapping.subitem_columns)
    text = f"{prefix}all {items + subitems} mapped columns found ({items} item, {subitems} subitem)"
    labels = found.get("labels")
    if data_problem or labels is None or not labels.ok:
        return True, f"{text}; the status labels the data needs were not checked ({data_problem or 'skipped'})"
    return True, f"{text}; {labels.detail}"
