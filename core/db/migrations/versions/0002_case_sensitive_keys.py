"""Case-sensitive key columns on SQL Server.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

Sync keys are compared exactly everywhere in OrderSync. SQL Server's default collation is
case-insensitive, so two keys that differ only in letter case would collide in the key columns;
this revision gives them a binary collation there (``Latin1_General_100_BIN2``: exact, code point
by code point, so also case-, accent-, kana- and width-sensitive), as ``core.db.schema.KEY`` and
``SIZE`` declare. SQLite and PostgreSQL compare text exactly already: nothing changes on them.

SQL Server cannot change the collation of a column that a primary key or an index includes, so
those are dropped first and re-created afterwards, with the names and columns revision 0001 gave
them; the whole revision is one transaction. Everything here is a literal copy of what 0001
created, not read from ``schema.py``: a revision must keep doing what it did when it was written.

The downgrade returns the columns to the database's default collation (ALTER COLUMN without COLLATE
does that). It fails, changing nothing, if the tables by then hold keys that differ only in case:
a case-insensitive primary key cannot hold both.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLLATION = "Latin1_General_100_BIN2"

# (table, column, length, nullable): every key column as revision 0001 created it.
COLUMNS = (
    ("MON_CustMasterSchedule", "sync_key", 400, False),
    ("MON_CustMasterSchedule_Subitems", "parent_sync_key", 400, False),
    ("MON_CustMasterSchedule_Subitems", "size_label", 60, False),
    ("STG_MON_CustMasterSchedule", "sync_key", 400, True),
    ("STG_MON_CustMasterSchedule_Subitems", "parent_sync_key", 400, True),
    ("STG_MON_CustMasterSchedule_Subitems", "size_label", 60, False),
    ("ERR_MON_CustMasterSchedule", "sync_key", 400, True),
    ("ERR_MON_CustMasterSchedule_Subitems", "parent_sync_key", 400, True),
    ("ERR_MON_CustMasterSchedule_Subitems", "size_label", 60, True),
)

# Primary keys of revision 0001 that include a key column: (table, name, columns).
PRIMARY_KEYS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("MON_CustMasterSchedule", "PK_MON_CustMasterSchedule", ("board_id", "sync_key")),
    (
        "MON_CustMasterSchedule_Subitems",
        "PK_MON_CustMasterSchedule_Subitems",
        ("board_id", "parent_sync_key", "size_label"),
    ),
)

# Indexes of revision 0001 that include a key column (all non-unique): (table, name, columns).
INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("STG_MON_CustMasterSchedule", "IX_STG_MON_CustMasterSchedule_sync_key", ("sync_key",)),
    ("ERR_MON_CustMasterSchedule", "IX_ERR_MON_CustMasterSchedule_sync_key", ("sync_key",)),
    (
        "ERR_MON_CustMasterSchedule_Subitems",
        "IX_ERR_MON_CustMasterSchedule_Subitems_parent_sync_key",
        ("parent_sync_key", "size_label"),
    ),
)


def _schema() -> str | None:
    """The configured schema of OrderSync's tables (explicit, so that offline SQL scripts carry it too)."""
    config = op.get_context().config
    schema: str | None = config.attributes.get("schema") if config is not None else None
    return schema


def _on_sql_server() -> bool:
    return op.get_context().dialect.name == "mssql"


def _collate(collation: str | None) -> None:
    schema = _schema()
    for table, name, _columns in INDEXES:
        op.drop_index(name, table_name=table, schema=schema)
    for table, name, _columns in PRIMARY_KEYS:
        op.drop_constraint(name, table, type_="primary", schema=schema)
    for table, column, length, nullable in COLUMNS:
        # With no collation, SQL Server gives the column the database's default collation.
        op.alter_column(
            table,
            column,
            type_=mssql.NVARCHAR(length, collation=collation),
            existing_type=sa.Unicode(length),
            existing_nullable=nullable,
            schema=schema,
        )
    for table, name, columns in PRIMARY_KEYS:
        op.create_primary_key(name, table, list(columns), schema=schema)
    for table, name, columns in INDEXES:
        op.create_index(name, table, list(columns), unique=False, schema=schema)


def upgrade() -> None:
    if _on_sql_server():
        _collate(COLLATION)


def downgrade() -> None:
    if _on_sql_server():
        _collate(None)
