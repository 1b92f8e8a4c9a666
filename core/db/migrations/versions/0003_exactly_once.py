"""Exactly once under faults, takeovers and people editing the board.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

- ``MON_Requests``: every mutation request whose outcome is not settled, with its exact text,
  variables and Idempotency-Key, so every resend reuses them.
- ``MON_BatchProcessing.owner_generation``: the fencing token of the batch's owner; counts of
  items and subitems re-created after a person deleted them on the board.
- Staged rows: ``request_id`` (the stored request a SENDING row went out in) and ``recreate``.
- ``MON_CustMasterSchedule.board_state``: DELETED / ARCHIVED when a person did that on the board.
- Three error types for what people do on the board: DELETED_ON_BOARD, ARCHIVED_ON_BOARD,
  DUPLICATE_ON_BOARD.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD_ERROR_TYPES = (
    "VALIDATION",
    "COLUMN_VALUE",
    "NOT_FOUND",
    "AUTH",
    "RATE_LIMIT",
    "NETWORK",
    "TIMEOUT",
    "SERVER",
    "PARENT_FAILED",
    "CONFLICT",
    "UNKNOWN",
)
NEW_ERROR_TYPES = OLD_ERROR_TYPES + ("DELETED_ON_BOARD", "ARCHIVED_ON_BOARD", "DUPLICATE_ON_BOARD")
ERR_TABLES = ("ERR_MON_CustMasterSchedule", "ERR_MON_CustMasterSchedule_Subitems")
STG_TABLES = ("STG_MON_CustMasterSchedule", "STG_MON_CustMasterSchedule_Subitems")
LONG_TEXT = sa.UnicodeText().with_variant(mssql.NVARCHAR(), "mssql")
TIMESTAMP = sa.DateTime().with_variant(mssql.DATETIME2, "mssql")


def _schema() -> str | None:
    config = op.get_context().config
    schema: str | None = config.attributes.get("schema") if config is not None else None
    return schema


def _error_types(types: tuple[str, ...]) -> str:
    return f"error_type IN ({', '.join(repr(t) for t in types)})"


def _swap_error_type_check(types: tuple[str, ...]) -> None:
    schema = _schema()
    for table in ERR_TABLES:
        name = f"CK_{table}_error_type"
        with op.batch_alter_table(table, schema=schema) as batch:
            batch.drop_constraint(op.f(name), type_="check")
            batch.create_check_constraint(op.f(name), _error_types(types))


def upgrade() -> None:
    schema = _schema()
    op.create_table(
        "MON_Requests",
        sa.Column("request_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("query", LONG_TEXT, nullable=False),
        sa.Column("variables_json", LONG_TEXT, nullable=False),
        sa.Column("aliases_json", LONG_TEXT, nullable=False),
        sa.Column("mutations", sa.Integer(), nullable=False),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("first_sent_at", TIMESTAMP, nullable=True),
        sa.Column("last_sent_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            [f"{schema}.MON_BatchProcessing.batch_id" if schema else "MON_BatchProcessing.batch_id"],
            name=op.f("FK_MON_Requests_batch_id"),
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("PK_MON_Requests")),
        schema=schema,
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("IX_MON_Requests_batch_id"), "MON_Requests", ["batch_id"], unique=False, schema=schema)
    op.create_index("UX_MON_Requests_idempotency_key", "MON_Requests", ["idempotency_key"], unique=True, schema=schema)

    op.add_column(
        "MON_BatchProcessing",
        sa.Column("owner_generation", sa.Integer(), nullable=False, server_default="0"),
        schema=schema,
    )
    for name in ("items_recreated", "subitems_recreated"):
        op.add_column(
            "MON_BatchProcessing", sa.Column(name, sa.Integer(), nullable=False, server_default="0"), schema=schema
        )
    for table in STG_TABLES:
        op.add_column(table, sa.Column("request_id", sa.Integer(), nullable=True), schema=schema)
        op.add_column(
            table, sa.Column("recreate", sa.Boolean(), nullable=False, server_default=sa.false()), schema=schema
        )
        op.create_index(op.f(f"IX_{table}_request_id"), table, ["request_id"], unique=False, schema=schema)
    op.add_column(
        "MON_CustMasterSchedule", sa.Column("board_state", sa.String(length=20), nullable=True), schema=schema
    )
    _swap_error_type_check(NEW_ERROR_TYPES)


def downgrade() -> None:
    schema = _schema()
    _swap_error_type_check(OLD_ERROR_TYPES)
    op.drop_column("MON_CustMasterSchedule", "board_state", schema=schema)
    for table in STG_TABLES:
        op.drop_index(op.f(f"IX_{table}_request_id"), table_name=table, schema=schema)
        with op.batch_alter_table(table, schema=schema) as batch:
            batch.drop_column("recreate")
            batch.drop_column("request_id")
    with op.batch_alter_table("MON_BatchProcessing", schema=schema) as batch:
        for name in ("subitems_recreated", "items_recreated", "owner_generation"):
            batch.drop_column(name)
    op.drop_index("UX_MON_Requests_idempotency_key", table_name="MON_Requests", schema=schema)
    op.drop_index(op.f("IX_MON_Requests_batch_id"), table_name="MON_Requests", schema=schema)
    op.drop_table("MON_Requests", schema=schema)
