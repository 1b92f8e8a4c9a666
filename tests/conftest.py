"""Shared fixtures: a fresh real database per test (SQLite file or a PostgreSQL schema), and monday's
published schema as the contract.

The PostgreSQL tests never skip: when the server is absent they fail with a message that says how
to start it (CI's .ci/run starts it first).

monday's SDL is read from ``../shared/reference/monday-schema/2026-10.graphql`` (beside the checkout;
never copied into it), or from ``$ORDERSYNC_MONDAY_SDL`` when that is set. For the whole session the
variable names the file, so every sandbox (in this process or a child process) also validates what
it receives against monday's schema. Without the file, the tests that need it skip with the reason,
unless ``ORDERSYNC_REQUIRE_MONDAY_SCHEMA=1`` (CI's .ci/run): then they fail, naming the file.
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

PG_URL = os.environ.get("ORDERSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

MONDAY_SDL_ENV = "ORDERSYNC_MONDAY_SDL"  # core.sandbox.reference.ENV


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
    from core.logs import LOG_DIR_ENV, remove_handlers

    folder = tmp_path / "logs"
    monkeypatch.setenv(LOG_DIR_ENV, str(folder))
    yield folder
    remove_handlers()


@pytest.fixture
def memory_keyring(monkeypatch):
    """The real keyring library with an in-memory backend as the OS keyring; no token in the environment."""
    from core.token import TOKEN_ENV
    from tests.helpers import MemoryKeyring, install

    monkeypatch.delenv(TOKEN_ENV, raising=False)
    backend = MemoryKeyring()
    install(monkeypatch, backend)
    return backend
