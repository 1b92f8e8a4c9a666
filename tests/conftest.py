"""Shared fixtures: a fresh real database per test (SQLite file or a PostgreSQL schema), and monday's
published schema as the contract.

The PostgreSQL tests never skip: when the server is absent they fail with a message that says how
to start it (CI's .ci/run starts it first).

monday's SDL is read from ``../shared/reference/monday-schema/2026-10.graphql`` (beside the checkout;
never copied into it), or from ``$ORDERSYNC_MONDAY_SDL`` when that is set. For the whole session the
variable names the file, so every sandbox (in this process or a child process) also validates what
it receives against monday's schema. Without the file, the tests that need it skip with the reason,
unless ``ORDERSYNC_REQUIRE_MONDAY_SCHEMA=1`` (CI's .ci/run): then they fail, naming the file.

No test touches the user's own folders: the settings file, the config, data, state and log folders,
the window's layout (QSettings) and the OS keyring are pointed at temporary ones, for the session
and again for each test, through the environment, so every process a test starts inherits them
(``user_folders``; tests/test_isolation.py proves it, and the end of the run names any file of the
real folders that changed meanwhile).
"""

from __future__ import annotations

import os

# GUI tests run on Qt's offscreen platform, whatever the machine has (CI has no display).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.db.engine import create_engine
from tests.helpers import user_locations

PG_URL = os.environ.get("ORDERSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

MONDAY_SDL_ENV = "ORDERSYNC_MONDAY_SDL"  # sandbox.reference.ENV


# --- the user's own folders ------------------------------------------------------------------------

# Resolved from the environment the run was started in, before any fixture redirects it.
REAL_USER_LOCATIONS: dict[str, Path] = {name: path for name, path in user_locations().items() if name != "home"}
_real_folder_changes: list[str] = []
_session_user_root: list[Path] = []


def _tool_settings() -> dict[str, str]:
    """What other tools keep under the same folders and the tests still need: pip's own settings (its
    index, for dev.py build in tests/test_frozen.py) and the caches (pip's, PyInstaller's, fontconfig's).
    OrderSync keeps nothing in a cache folder."""
    import platformdirs

    kept = {"XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")}
    pip_files = [
        Path(platformdirs.user_config_dir("pip", appauthor=False, roaming=True))
        / ("pip.ini" if os.name == "nt" else "pip.conf"),
        Path.home() / ".pip" / "pip.conf",
        Path.home() / "pip" / "pip.ini",
    ]
    pip_file = next((f for f in pip_files if f.is_file()), None)
    if pip_file is not None and "PIP_CONFIG_FILE" not in os.environ:
        kept["PIP_CONFIG_FILE"] = str(pip_file)
    return kept


TOOL_SETTINGS = _tool_settings()  # from the environment the run was started in, too


def redirect_user_folders(root: Path, mp: pytest.MonkeyPatch) -> None:
    """Point every user folder OrderSync (or Qt, or keyring) could write at ``root``, for this process
    and every process it starts: the environment variables platformdirs and Qt read on Linux, macOS
    and Windows, Qt's own QSettings paths, and a keyring without storage."""
    from keyring.backends import fail
    from PySide6.QtCore import QSettings

    from core.foundation.config import CONFIG_ENV
    from tests.helpers import install

    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    roaming, local = root / "AppData" / "Roaming", root / "AppData" / "Local"
    folders = {
        "HOME": home,
        "USERPROFILE": home,
        "XDG_CONFIG_HOME": root / "config",
        "XDG_DATA_HOME": root / "data",
        "XDG_STATE_HOME": root / "state",
        "APPDATA": roaming,
        "LOCALAPPDATA": local,
        "WIN_PD_OVERRIDE_APPDATA": roaming,
        "WIN_PD_OVERRIDE_LOCAL_APPDATA": local,
    }
    for name, value in {**folders, **TOOL_SETTINGS}.items():
        mp.setenv(name, str(value))
    mp.delenv(CONFIG_ENV, raising=False)  # a developer's own ORDERSYNC_CONFIG names their real settings
    # No OS keyring, in this process and in every child; memory_keyring gives a test one of its own.
    mp.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    install(mp, fail.Keyring())
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(root / "config"))


def _snapshot(paths) -> dict[str, tuple[int, int]]:
    """Every file under ``paths`` with its modification time and size."""
    files: dict[str, tuple[int, int]] = {}
    for path in set(paths):
        candidates = [path] if path.is_file() else (path.rglob("*") if path.is_dir() else [])
        for file in candidates:
            try:
                if file.is_file():
                    stat = file.stat()
                    files[str(file)] = (stat.st_mtime_ns, stat.st_size)
            except OSError:
                continue
    return files


@pytest.fixture(scope="session", autouse=True)
def user_folders_of_the_session(tmp_path_factory):
    """For the whole session (session and module fixtures included), the user folders are temporary."""
    from core.foundation.logs import LOG_DIR_ENV

    before = _snapshot(REAL_USER_LOCATIONS.values())
    root = tmp_path_factory.mktemp("user")
    _session_user_root.append(root)
    with pytest.MonkeyPatch.context() as mp:
        redirect_user_folders(root, mp)
        mp.setenv(LOG_DIR_ENV, str(root / "logs"))
        yield root
    after = _snapshot(REAL_USER_LOCATIONS.values())
    _real_folder_changes.extend(sorted(f for f in before.keys() | after.keys() if before.get(f) != after.get(f)))


@pytest.fixture(autouse=True)
def user_folders(tmp_path_factory, monkeypatch):
    """Each test gets user folders of its own: what one test saves (settings, a layout) no other test sees.

    Beside the test's tmp_path, not in it: a test may expect to find only its own files there.
    """
    from PySide6.QtCore import QSettings

    root = tmp_path_factory.mktemp("user")
    redirect_user_folders(root, monkeypatch)
    yield root
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(_session_user_root[0] / "config"))


def pytest_terminal_summary(terminalreporter):
    """Files of the user's real OrderSync folders that changed while the tests ran.

    Not a failure of its own: another OrderSync process of the same user (a window, another checkout's
    test run) writes there too. tests/test_isolation.py is the check that fails.
    """
    if _real_folder_changes:
        terminalreporter.section("the user's real OrderSync folders changed during this run")
        for file in _real_folder_changes:
            terminalreporter.write_line(f"  {file}")
        terminalreporter.write_line(
            "If no other OrderSync process ran meanwhile, a test wrote there: see user_folders in tests/conftest.py."
        )


@pytest.fixture(scope="session", autouse=True)
def monday_schema_everywhere():
    """``$ORDERSYNC_MONDAY_SDL`` names monday's SDL for the session (when the file is there)."""
    from tests.helpers import MONDAY_SDL

    previous = os.environ.get(MONDAY_SDL_ENV)
    if MONDAY_SDL.is_file():
        os.environ[MONDAY_SDL_ENV] = str(MONDAY_SDL)
    else:  # a name that leads nowhere would break every sandbox; the contract tests say why instead
        os.environ.pop(MONDAY_SDL_ENV, None)
    yield MONDAY_SDL if MONDAY_SDL.is_file() else None
    if previous is None:
        os.environ.pop(MONDAY_SDL_ENV, None)
    else:
        os.environ[MONDAY_SDL_ENV] = previous


@pytest.fixture
def monday_sdl(monday_schema_everywhere) -> Path:
    """monday's published SDL file; skips (or, with ORDERSYNC_REQUIRE_MONDAY_SCHEMA=1, fails) without it."""
    from tests.helpers import require_monday_sdl

    return require_monday_sdl()


def _pg_admin_engine() -> sa.Engine:
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_URL} ({str(exc.orig).strip().splitlines()[0]}). "
            "Start it (on Debian: pg_ctlcluster <version> main start) or point ORDERSYNC_TEST_PG_URL at a server; "
            "the PostgreSQL tests do not skip.",
            pytrace=False,
        )
    return engine


@pytest.fixture
def pg_engine():
    """A PostgreSQL engine whose search_path is a schema of its own, dropped afterwards."""
    admin = _pg_admin_engine()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    engine.test_schema = schema  # type: ignore[attr-defined]
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path):
    engine = create_engine(f"sqlite:///{(tmp_path / 'test.db').as_posix()}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request):
    """Each test that takes ``engine`` runs on SQLite and on PostgreSQL."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    return request.getfixturevalue(name)


@pytest.fixture(autouse=True)
def log_folder(tmp_path: Path, monkeypatch):
    """Each test (and every process it starts) logs into a folder of its own, never the user's."""
    from core.foundation.logs import LOG_DIR_ENV, remove_handlers

    folder = tmp_path / "logs"
    monkeypatch.setenv(LOG_DIR_ENV, str(folder))
    yield folder
    remove_handlers()


@pytest.fixture
def memory_keyring(monkeypatch):
    """The real keyring library with an in-memory backend as the OS keyring; no token in the environment."""
    from core.foundation.token import TOKEN_ENV
    from tests.helpers import MemoryKeyring, install

    monkeypatch.delenv(TOKEN_ENV, raising=False)
    backend = MemoryKeyring()
    install(monkeypatch, backend)
    return backend
