"""The audit trail: one row per cell OrderSync changed on the board.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

- ``MON_AuditLog``: the batch, customer, sync key, order number and size of the line; the monday item
  (and subitem); the board column; the value before and the value sent; who and when; the kind of
  change (CREATED, UPDATED, MOVED, ARCHIVED, DELETED, RECREATED, RESTORED).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

KINDS = ("CREATED", "UPDATED", "MOVED", "ARCHIVED", "DELETED", "RECREATED", "RESTORED")
KEY_COLLATION = "Latin1_General_100_BIN2"
KEY = sa.Unicode(400).with_variant(mssql.NVARCHAR(400, collation=KEY_COLLATION), "mssql")
SIZE = sa.Unicode(60).with_variant(mssql.NVARCHAR(60, collation=KEY_COLLATION), "mssql")
LONG_TEXT = sa.UnicodeText().with_variant(mssql.NVARCHAR(), "mssql")
TIMESTAMP = sa.DateTime().with_variant(mssql.DATETIME2, "mssql")
TABLE = "MON_AuditLog"
INDEXES = (("batch_id",), ("sync_key",), ("order_number",), ("customer", "changed_at"), ("changed_at",))


def _schema() -> str | None:
    config = op.get_context().config
    schema: str | None = config.attributes.get("schema") if config is not None else None
    return schema


def upgrade() -> None:
    schema = _schema()
    op.create_table(
        TABLE,
        sa.Column("audit_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("customer", sa.Unicode(length=200), nullable=False),
        sa.Column("sync_key", KEY, nullable=False),
        sa.Column("order_number", sa.Unicode(length=100), nullable=True),
        sa.Column("size_label", SIZE, nullable=True),
        sa.Column("monday_item_id", sa.String(length=24), nullable=True),
        sa.Column("monday_subitem_id", sa.String(length=24), nullable=True),
        sa.Column("column_id", sa.Unicode(length=100), nullable=True),
        sa.Column("column_title", sa.Unicode(length=255), nullable=True),
        sa.Column("value_before", LONG_TEXT, nullable=True),
        sa.Column("value_sent", LONG_TEXT, nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("changed_by_user", sa.Unicode(length=128), nullable=False),
        sa.Column("changed_by_host", sa.Unicode(length=128), nullable=False),
        sa.Column("changed_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(f"kind IN ({', '.join(repr(k) for k in KINDS)})", name=op.f(f"CK_{TABLE}_kind")),
        sa.PrimaryKeyConstraint("audit_id", name=op.f(f"PK_{TABLE}")),
        schema=schema,
        sqlite_autoincrement=True,
    )
    for columns in INDEXES:
        op.create_index(op.f(f"IX_{TABLE}_{columns[0]}"), TABLE, list(columns), unique=False, schema=schema)


def downgrade() -> None:
    schema = _schema()
    for columns in reversed(INDEXES):
        op.drop_index(op.f(f"IX_{TABLE}_{columns[0]}"), table_name=TABLE, schema=schema)
    op.drop_table(TABLE, schema=schema)
