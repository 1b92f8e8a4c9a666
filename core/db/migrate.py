"""Versioned schema migrations (Alembic) for OrderSync's own tables.

``db upgrade`` calls ``upgrade``; every other command calls ``require_current`` and refuses to run
on a schema that is missing or older, naming ``db upgrade``. ORDERS_UNIFIED is never touched.
"""

from __future__ import annotations

import io
import logging
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from core.db.engine import own_schema, redact_url
from core.foundation.exceptions import SchemaError
from core.foundation.resources import program_command

log = logging.getLogger(__name__)

# Alembic reads the revisions as files: shipped as package data of core.db (and in the executable's bundle).
MIGRATIONS = Path(str(resources.files("core.db").joinpath("migrations")))
VERSION_TABLE = "MON_SchemaVersion"


def _config(**attributes: Any) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes.update(attributes)
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # the shipped migrations are always there; without them nothing can be checked
        raise RuntimeError(f"no schema migrations in {MIGRATIONS}")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "version_table_schema": own_schema(engine)}
        )
        return context.get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the tables to the newest version. Returns (before, after)."""
    before = current_revision(engine)
    with engine.begin() as conn:
        command.upgrade(_config(connection=conn, schema=own_schema(engine)), "head")
    after = current_revision(engine) or head_revision()  # never None once an upgrade ran
    log.info("schema of %s: %s -> %s", redact_url(str(engine.url)), before or "none", after)
    return before, after


def upgrade_sql(dialect_name: str, schema: str | None = None, target: str = "head") -> str:
    """The SQL script an upgrade from nothing to ``target`` would run on ``dialect_name`` (offline mode).

    SQLite's offline script stops short of 0003: SQLite cannot alter a CHECK constraint, so alembic
    rebuilds those tables from their reflected definition, which needs the live database.
    """
    buffer = io.StringIO()
    config = _config(dialect_name=dialect_name, schema=schema)
    config.output_buffer = buffer
    command.upgrade(config, target, sql=True)
    return buffer.getvalue()


def require_current(engine: Engine) -> None:
    """Raise SchemaError (exit 2) unless the tables are at this program's version."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise SchemaError(
            f"OrderSync's tables do not exist in {redact_url(str(engine.url))}; "
            f"run `{program_command('db upgrade')}` to create them"
        )
    known = {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current not in known:
        raise SchemaError(
            f"the database schema version {current} is newer than this program ({head}); update OrderSync"
        )
    raise SchemaError(
        f"the database schema is at version {current}, this program needs {head}; run `{program_command('db upgrade')}`"
    )
