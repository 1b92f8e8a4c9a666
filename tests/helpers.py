"""Building blocks for tests: a real ORDERS_UNIFIED, OrderSync's tables, and monday confirmations.

Until the monday client exists, ``confirm_all`` plays monday's part at the one boundary the
staging layer has: it confirms every pending row with a fresh id, exactly as the push will
through ``record_item_ids`` / ``record_subitem_ids``.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from core.db import schema as s
from core.db.migrate import upgrade
from core.demo.data import SIZE_COLUMNS, create_orders_table, orders_table
from core.detect.changes import ChangeDetector, CustomerChanges
from core.source.mapping import Mapping, load_mapping
from core.source.reader import Source
from core.staging.operations import Batch, StagingOperations

BOARD = "9200517329"
_ids = itertools.count(10_000_000_001)


@dataclass
class World:
    engine: sa.Engine
    mapping: Mapping
    staging: StagingOperations
    board_id: str = BOARD

    @property
    def source(self) -> Source:
        return Source.reflect(self.engine, self.mapping)

    def detect(self, customer: str) -> CustomerChanges:
        with self.engine.connect() as conn:
            return ChangeDetector(conn, self.source, self.board_id).detect(customer)

    def pending(self):
        with self.engine.connect() as conn:
            return {p.customer: p for p in ChangeDetector(conn, self.source, self.board_id).pending()}

    def stage(self, customer: str) -> tuple[Batch, object]:
        batch = self.staging.claim(customer, self.board_id)
        result = self.staging.stage(batch.batch_id, self.detect(customer))
        return batch, result

    def sync(self, customer: str):
        """Stage, confirm everything as monday would, promote and clean up. Returns (batch, stage result)."""
        batch, result = self.stage(customer)
        confirm_all(self.staging, batch.batch_id)
        self.staging.promote(batch.batch_id, self.board_id)
        self.staging.cleanup(batch.batch_id)
        self.staging.set_status(batch.batch_id, s.COMPLETED)
        return batch, result

    def execute(self, statement, params=None):
        with self.engine.begin() as conn:
            return conn.execute(statement, params or {})

    def scalar(self, statement):
        with self.engine.connect() as conn:
            return conn.execute(statement).scalar()

    def orders(self) -> sa.Table:
        return sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=self.engine)


def make_world(
    engine: sa.Engine, n_orders: int = 300, seed: int = 3, hostile: bool = True, size_columns: list[str] | None = None
) -> World:
    with engine.begin() as conn:
        create_orders_table(conn, n_orders, seed=seed, size_columns=size_columns or SIZE_COLUMNS, hostile=hostile)
    upgrade(engine)
    return World(engine, load_mapping(), StagingOperations(engine))


def empty_orders(engine: sa.Engine, size_columns: list[str] | None = None) -> sa.Table:
    """An empty ORDERS_UNIFIED of the real shape, for tests that insert their own rows."""
    table = orders_table(sa.MetaData(), size_columns or SIZE_COLUMNS)
    with engine.begin() as conn:
        table.create(conn)
    upgrade(engine)
    return table


def order_row(table: sa.Table, **values) -> dict:
    """A full row (every column present) with sensible defaults, overridden by ``values`` (by column name)."""
    row = {c.name: None for c in table.columns}
    row.update(
        {
            "AAG ORDER NUMBER": "MWE-00024",
            "CUSTOMER NAME": "MACK WELDON",
            "PO NUMBER": "4755",
            "CUSTOMER STYLE": "M01Y09",
            "CUSTOMER COLOUR DESCRIPTION": "DEAN BLUE/WHITE",
            "CATEGORY": "MENS",
            "UNIT OF MEASURE": "PCE",
            "AAG SEASON": "2025 FALL",
            "CUSTOMER SEASON": "FW25",
            "ORDER TYPE": "ACTIVE",
            "DESTINATION": "MISSISSIPPI",
            "CUSTOMER PRICE": "28.86",
            "TOTAL QTY": 60,
            "S": 12,
            "M": 24,
            "L": 24,
        }
    )
    row.update(values)
    return row


def confirm_all(staging: StagingOperations, batch_id: int) -> int:
    """Confirm every sendable row of the batch with fresh monday ids, items before their subitems."""
    confirmed = 0
    items = staging.pending_rows(batch_id, s.stg_items)
    if items:
        staging.mark_sending(batch_id, s.stg_items, [r["stg_id"] for r in items])
        staging.record_item_ids(batch_id, [(r["stg_id"], r["monday_item_id"] or str(next(_ids))) for r in items])
        confirmed += len(items)
    subs = staging.pending_rows(batch_id, s.stg_subitems)
    if subs:
        staging.mark_sending(batch_id, s.stg_subitems, [r["stg_sub_id"] for r in subs])
        staging.record_subitem_ids(
            batch_id, [(r["stg_sub_id"], r["monday_subitem_id"] or str(next(_ids))) for r in subs]
        )
        confirmed += len(subs)
    return confirmed


def count(engine: sa.Engine, table: sa.Table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


# --- the monday side: the sandbox over real HTTP --------------------------------------------------

SANDBOX_TOKEN = "test-token"


def engine_context(engine: sa.Engine, board_id: str = BOARD, base_dir=None, **settings):
    """A real EngineContext on ``engine`` (what the CLI and the GUI open), with the given settings."""
    from core.engine.context import EngineContext
    from core.foundation.config import parse_settings

    sections: dict = {"monday": {"board_id": board_id}}
    for name, value in settings.items():
        section, key = name.split(".", 1)
        sections.setdefault(section, {})[key] = value
    parsed = parse_settings(sections)
    if base_dir is not None:
        parsed.base_dir = base_dir
    mapping = load_mapping()
    return EngineContext(parsed, engine, mapping, StagingOperations(engine))


def start_sandbox(state_path, **options):
    """A sandbox server on a free port with the demo board (the default mapping's columns), judging
    every request by monday's published schema too when the session has it."""
    from core.demo.setup import board_columns
    from sandbox import SandboxServer

    options.setdefault("token", SANDBOX_TOKEN)
    options.setdefault("time_scale", 600.0)
    options.setdefault("reference_schema", monday_sdl() or False)
    server = SandboxServer(state_path, **options)
    columns, subitem_columns = board_columns(load_mapping())
    server.create_board("Customer Master Schedule", columns, subitem_columns, board_id=BOARD)
    server.start()
    return server


# monday's published SDL: ../shared beside the checkout (never copied into it), or $ORDERSYNC_MONDAY_SDL.
ROOT = Path(__file__).resolve().parent.parent
MONDAY_SDL = Path(
    os.environ.get("ORDERSYNC_MONDAY_SDL") or ROOT.parent / "shared" / "reference" / "monday-schema" / "2026-10.graphql"
).resolve()
REQUIRE_MONDAY_SCHEMA_ENV = "ORDERSYNC_REQUIRE_MONDAY_SCHEMA"


def monday_sdl() -> Path | None:
    """monday's published SDL for this test session (tests/conftest.py names it), or None without it."""
    from sandbox.reference import ENV

    named = os.environ.get(ENV)
    return Path(named) if named and Path(named).is_file() else None


def require_monday_sdl() -> Path:
    """The SDL file, or a skip naming it; a failure instead under ORDERSYNC_REQUIRE_MONDAY_SCHEMA=1 (CI)."""
    import pytest

    if MONDAY_SDL.is_file():
        return MONDAY_SDL
    message = (
        f"monday's published schema {MONDAY_SDL} is missing (keep ../shared beside the checkout, or set "
        "ORDERSYNC_MONDAY_SDL to the file)"
    )
    if os.environ.get(REQUIRE_MONDAY_SCHEMA_ENV) == "1":
        pytest.fail(f"{message}; {REQUIRE_MONDAY_SCHEMA_ENV}=1 requires it", pytrace=False)
    pytest.skip(message)


def monday_client(server, **options):
    from core.monday.client import MondayApiClient

    return MondayApiClient(server.url, SANDBOX_TOKEN, **options)


# --- the OS keyring, for tests: a real keyring backend that keeps its items in memory ----------------

import keyring
import keyring.backend
import keyring.errors


class MemoryKeyring(keyring.backend.KeyringBackend):
    """An in-memory keyring: what the OS keyring holds, visible to the test."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.items.get((service, username))

    def set_password(self, service, username, password):
        self.items[(service, username)] = password

    def delete_password(self, service, username):
        if (service, username) not in self.items:
            raise keyring.errors.PasswordDeleteError("not stored")
        del self.items[(service, username)]


def install(monkeypatch, backend: keyring.backend.KeyringBackend) -> None:
    """Make ``backend`` the keyring; the previous one (even "not chosen yet") comes back afterwards."""
    monkeypatch.setattr(keyring.core, "_keyring_backend", keyring.core._keyring_backend)
    keyring.set_keyring(backend)


# --- the user's own folders -------------------------------------------------------------------------

APP_NAME = "OrderSync"


def qsettings_file() -> str:
    """Where the window keeps its layout (gui/main_window.py's QSettings), as this process resolves it now."""
    from PySide6.QtCore import QSettings

    return QSettings("OrderSync", "OrderSync").fileName()


def user_locations() -> dict[str, Path]:
    """Every place OrderSync keeps something of the user's, as this process resolves it now."""
    import platformdirs

    from core.demo.setup import default_demo_dir
    from core.foundation.config import default_config_path
    from core.foundation.logs import log_dir

    return {
        "settings file": default_config_path(),
        "config folder": Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        "data folder": Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        "demo folder": default_demo_dir(),
        "state folder": Path(platformdirs.user_state_dir(APP_NAME, appauthor=False)),
        "log folder": log_dir(),
        "window layout": Path(qsettings_file()),
        "home": Path.home(),
    }
