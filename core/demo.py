"""The embedded demo: a settings file and a SQLite database whose ORDERS_UNIFIED looks real.

``demo init`` writes both into a folder (by default the user's data folder) and creates
OrderSync's tables, so the demo runs with no set-up at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from core.config import APP_NAME, render_settings
from core.db.engine import create_engine
from core.db.migrate import upgrade
from core.demo_data import create_orders_table

log = logging.getLogger(__name__)

DEMO_BOARD_ID = "9200517329"


@dataclass(frozen=True)
class DemoPaths:
    folder: Path
    settings: Path
    database: Path


def default_demo_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "demo"


def init_demo(folder: Path | None, *, orders: int = 600, seed: int = 7, keep_existing: bool = False) -> DemoPaths:
    """Write the demo's settings and database; an existing demo is replaced unless ``keep_existing``."""
    folder = Path(folder) if folder else default_demo_dir()
    folder.mkdir(parents=True, exist_ok=True)
    paths = DemoPaths(folder, folder / "settings.toml", folder / "demo.db")
    if keep_existing and paths.settings.exists() and paths.database.exists():
        return paths
    for suffix in ("", "-wal", "-shm"):
        Path(str(paths.database) + suffix).unlink(missing_ok=True)
    paths.settings.write_text(
        "# OrderSync demo settings, written by `demo init`.\n\n"
        + render_settings({
            "database.url": f"sqlite:///{paths.database.name}",
            "monday.api_url": "sandbox",
            "monday.board_id": DEMO_BOARD_ID,
        }),
        encoding="utf-8",
    )
    engine = create_engine(f"sqlite:///{paths.database.as_posix()}")
    try:
        with engine.begin() as conn:
            create_orders_table(conn, orders, seed=seed)
        upgrade(engine)
    finally:
        engine.dispose()
    log.info("demo written to %s", folder)
    return paths
