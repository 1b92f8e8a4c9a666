"""The staged rows' request index holds only rows that name a request.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

``request_id`` is set only while a staged row is SENDING; every row a batch stages has none. The
index on it (0003) held all of them, so staging a batch of hundreds of thousands of rows also
wrote as many index entries that no query reads: every lookup is ``request_id = ?``. It is now a
filtered (partial) index, ``WHERE request_id IS NOT NULL``, which SQLite, PostgreSQL and SQL Server
all use for that equality. Same name, same column; a literal copy, not read from ``schema.py``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

STG_TABLES = ("STG_MON_CustMasterSchedule", "STG_MON_CustMasterSchedule_Subitems")
HAS_REQUEST = "request_id IS NOT NULL"


def _schema() -> str | None:
    config = op.get_context().config
    schema: str | None = config.attributes.get("schema") if config is not None else None
    return schema


def upgrade() -> None:
    schema = _schema()
    where = sa.text(HAS_REQUEST)
    for table in STG_TABLES:
        name = op.f(f"IX_{table}_request_id")
        op.drop_index(name, table_name=table, schema=schema)
        op.create_index(
            name,
            table,
            ["request_id"],
            unique=False,
            schema=schema,
            sqlite_where=where,
            postgresql_where=where,
            mssql_where=where,
        )


def downgrade() -> None:
    schema = _schema()
    for table in STG_TABLES:
        name = op.f(f"IX_{table}_request_id")
        op.drop_index(name, table_name=table, schema=schema)
        op.create_index(name, table, ["request_id"], unique=False, schema=schema)
