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
    from sqlalchemy.engine import make_url

    from core.db.engine import check_connection, create_engine
    from core.db.migrate import require_current

    resolved = resolve_database_url(url, base_dir)
    try:
        parsed = make_url(resolved)
        database = parsed.database or ""
        # Connecting would create an empty database in place of a mistyped one.
        if (
            parsed.get_backend_name() == "sqlite"
            and database
            and not database.startswith((":memory:", "file:"))
            and not Path(database).exists()
        ):
            return False, f"the SQLite database file does not exist: {database}"
    except Exception:  # noqa: BLE001, S110 - whatever fails here, create_engine below names the problem
        pass
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


def probe_board(settings: Settings, typed_token: str) -> tuple[bool, str]:
    """Read the board and resolve every mapped column title; (True, summary) or (False, what is wrong)."""
    from core.engine.context import SANDBOX_STATE
    from core.monday.client import MondayApiClient
    from core.monday.errors import MondayError

    server = None
    client = None
    try:
        mapping = load_mapping(settings.mapping_path)
        url = settings["monday.api_url"]
        token: str | None
        if url == SANDBOX_URL:
            from core.engine.sandbox_process import SandboxProcess

            state = settings.base_dir / SANDBOX_STATE
            if not state.exists():
                return False, (
                    f"the embedded sandbox has no board yet ({state} does not exist); "
                    f"`{program_command('demo init')}` creates one"
                )
            server = SandboxProcess(state, time_scale=settings["sandbox.time_scale"])
            url, token = server.url, server.token
        else:
            token = typed_token or get_token()
            if not token:
                return False, f"no monday API token: enter one above, or set {TOKEN_ENV}"
        client = MondayApiClient(
            url, token, api_version=settings["monday.api_version"], timeout=(5.0, 20.0), max_attempts=2
        )
        meta = client.board(settings["monday.board_id"])
        return _resolve_all(meta, mapping)
    except MondayError as exc:
        return False, exc.describe()
    except OrderSyncError as exc:
        return False, str(exc)
    except Exception as exc:
        log.exception("unexpected error while testing the monday board")
        return False, f"unexpected error: {type(exc).__name__}: {_first_line(str(exc))}"
    finally:
        if client is not None:
            client.close()
        if server is not None:
            server.stop()


def _resolve_all(meta, mapping: Mapping) -> tuple[bool, str]:
    problems = []
    try:
        meta.resolve(mapping.columns)
    except SettingsError as exc:
        problems.append(str(exc))
    if mapping.subitem_columns:
        if not meta.subitem_board_id:
            problems.append(
                f"board {meta.board_id} ({meta.name}) has no subitems; the mapping names "
                f"{len(mapping.subitem_columns)} subitem column(s)"
            )
        else:
            try:
                meta.resolve(mapping.subitem_columns, subitems=True)
            except SettingsError as exc:
                problems.append(str(exc))
    if problems:
        return False, "; ".join(problems)
    items, subitems = len(mapping.columns), len(mapping.subitem_columns)
    return True, f"Board {meta.name}: all {items + subitems} mapped columns found ({items} item, {subitems} subitem)"
