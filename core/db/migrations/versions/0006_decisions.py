"""Board edits OrderSync met in protected columns: kept, or waiting for a planner's decision.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

- ``MON_Decisions``: one row per line and protected column where a person's value on the board met
  another value from the ERP: both values (and what OrderSync had written), since when, the column's
  policy, and its status (OPEN: waits for a planner; KEPT: the board's value was kept; USE_ERP: the
  next sync sends the ERP's value), who decided and when.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

STATES = ("OPEN", "KEPT", "USE_ERP")
KEY_COLLATION = "Latin1_General_100_BIN2"
KEY = sa.Unicode(400).with_variant(mssql.NVARCHAR(400, collation=KEY_COLLATION), "mssql")
LONG_TEXT = sa.UnicodeText().with_variant(mssql.NVARCHAR(), "mssql")
TIMESTAMP = sa.DateTime().with_variant(mssql.DATETIME2, "mssql")
TABLE = "MON_Decisions"
INDEXES = (("board_id", "sync_key"), ("status", "customer"))


def _schema() -> str | None:
    config = op.get_context().config
    schema: str | None = config.attributes.get("schema") if config is not None else None
    return schema


def upgrade() -> None:
    schema = _schema()
    op.create_table(
        TABLE,
        sa.Column("decision_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("board_id", sa.String(length=24), nullable=False),
        sa.Column("customer", sa.Unicode(length=200), nullable=False),
        sa.Column("sync_key", KEY, nullable=False),
        sa.Column("order_number", sa.Unicode(length=100), nullable=True),
        sa.Column("monday_item_id", sa.String(length=24), nullable=True),
        sa.Column("column_label", sa.Unicode(length=255), nullable=False),
        sa.Column("column_id", sa.Unicode(length=100), nullable=True),
        sa.Column("policy", sa.String(length=20), nullable=False),
        sa.Column("board_value", LONG_TEXT, nullable=True),
        sa.Column("erp_value", LONG_TEXT, nullable=True),
        sa.Column("written_value", LONG_TEXT, nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("since", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("decided_by", sa.Unicode(length=128), nullable=True),
        sa.Column("decided_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(f"status IN ({', '.join(repr(k) for k in STATES)})", name=op.f(f"CK_{TABLE}_status")),
        sa.PrimaryKeyConstraint("decision_id", name=op.f(f"PK_{TABLE}")),
        schema=schema,
    )
    for columns in INDEXES:
        op.create_index(op.f(f"IX_{TABLE}_{columns[0]}"), TABLE, list(columns), unique=False, schema=schema)


def downgrade() -> None:
    schema = _schema()
    for columns in reversed(INDEXES):
        op.drop_index(op.f(f"IX_{TABLE}_{columns[0]}"), table_name=TABLE, schema=schema)
    op.drop_table(TABLE, schema=schema)
