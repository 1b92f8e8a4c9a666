"""The embedded demo: a settings file and a SQLite database whose ORDERS_UNIFIED looks real.

``demo init`` writes both into a folder (by default the user's data folder) and creates
OrderSync's tables, so the demo runs with no set-up at all.
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from core.db.engine import create_engine
from core.db.migrate import upgrade
from core.demo.data import create_orders_table
from core.engine.context import SANDBOX_STATE
from core.engine.sandbox_process import SandboxProcess
from core.foundation.config import APP_NAME, parse_settings, render_settings
from core.foundation.resources import resource_path
from core.source.mapping import Mapping, load_mapping

log = logging.getLogger(__name__)

DEMO_BOARD_NAME = "Customer Master Schedule"

# Columns planners fill by hand on the real board: OrderSync must never write them.
HAND_COLUMNS: list[dict[str, Any]] = [
    {"title": "PLANNER NOTES", "type": "long_text"},
    {"title": "PRODUCTION STATUS", "type": "status", "labels": ["NOT STARTED", "IN PRODUCTION", "SHIPPED"]},
    {"title": "FACTORY", "type": "text"},
]
HAND_SUBITEM_COLUMNS: list[dict[str, Any]] = [
    {"title": title, "type": "numbers"}
    for title in ("Cut Qty", "Sew Qty", "Finishing Qty", "Received not Shipped Qty", "Packed Qty", "Shipped Qty")
] + [{"title": "ORDER LINE STATUS", "type": "status", "labels": ["OPEN", "CUT", "SEWN", "PACKED", "SHIPPED"]}]
# Status labels the mapped columns need (status labels are never created on the fly).
STATUS_LABELS = {"ORDER TYPE": ["RECEIVED", "CANCELLED"], "UNIT OF MEASURE": ["PCE", "PK", "SET"]}


@dataclass(frozen=True)
class DemoDefaults:
    """resources/demo.toml: how much demo data, and the settings the demo's settings file gets."""

    orders: int
    seed: int
    settings: dict[str, Any]  # keyed section.key, validated like any settings file

    @property
    def board_id(self) -> str:
        board: str = self.settings["monday.board_id"]
        return board


def demo_defaults() -> DemoDefaults:
    data = tomllib.loads(resource_path("demo.toml").read_text(encoding="utf-8"))
    sections = data.get("settings", {})
    parsed = parse_settings(sections)  # a typo in the resource fails here, naming the key
    chosen = {f"{section}.{key}" for section, body in sections.items() for key in body}
    return DemoDefaults(
        orders=int(data["data"]["orders"]),
        seed=int(data["data"]["seed"]),
        settings={name: parsed[name] for name in sorted(chosen)},
    )


DEMO = demo_defaults()
DEMO_BOARD_ID = DEMO.board_id


@dataclass(frozen=True)
class DemoPaths:
    folder: Path
    settings: Path
    database: Path
    orders: int | None = None  # the order lines written (None: an existing demo was kept)


def board_columns(mapping: Mapping) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The demo board's columns: the mapping's titles and types, then the hand-filled ones."""
    columns: list[dict[str, Any]] = [
        {"title": c.title, "type": c.type, **({"labels": STATUS_LABELS[c.title]} if c.title in STATUS_LABELS else {})}
        for c in mapping.columns
        if c.title
    ]
    subitems: list[dict[str, Any]] = [{"title": c.title, "type": c.type} for c in mapping.subitem_columns if c.title]
    return columns + HAND_COLUMNS, subitems + HAND_SUBITEM_COLUMNS


def create_demo_board(state_path: Path, board_id: str, mapping: Mapping | None = None) -> str:
    """A fresh sandbox board (and its subitems board) that fits the mapping, made by the sandbox itself."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(state_path) + suffix).unlink(missing_ok=True)
    columns, subitem_columns = board_columns(mapping or load_mapping())
    server = SandboxProcess(state_path, time_scale=1.0)
    try:
        return server.create_board(DEMO_BOARD_NAME, columns, subitem_columns, board_id=board_id)
    finally:
        server.stop()


def default_demo_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "demo"


def init_demo(
    folder: Path | None, *, orders: int | None = None, seed: int | None = None, keep_existing: bool = False
) -> DemoPaths:
    """Write the demo's settings and database; an existing demo is replaced unless ``keep_existing``.

    ``orders`` and ``seed`` default to resources/demo.toml's.
    """
    orders = DEMO.orders if orders is None else orders
    seed = DEMO.seed if seed is None else seed
    folder = Path(folder) if folder else default_demo_dir()
    folder.mkdir(parents=True, exist_ok=True)
    paths = DemoPaths(folder, folder / "settings.toml", folder / "demo.db")
    if keep_existing and paths.settings.exists() and paths.database.exists():
        return paths
    for suffix in ("", "-wal", "-shm"):
        Path(str(paths.database) + suffix).unlink(missing_ok=True)
    paths.settings.write_text(
        "# OrderSync demo settings, written by `demo init`.\n\n"
        + render_settings({"database.url": f"sqlite:///{paths.database.name}", **DEMO.settings}),
        encoding="utf-8",
    )
    engine = create_engine(f"sqlite:///{paths.database.as_posix()}")
    try:
        with engine.begin() as conn:
            create_orders_table(conn, orders, seed=seed)
        upgrade(engine)
    finally:
        engine.dispose()
    create_demo_board(folder / SANDBOX_STATE, DEMO.board_id)
    log.info("demo written to %s: %d order lines (seed %d)", folder, orders, seed)
    return dataclasses.replace(paths, orders=orders)
