"""Initial schema: batches, staging, error and production tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Frozen on purpose: later changes to core/db/schema.py get a migration of their own, so that an
existing SQL Server database upgrades in place.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _schema() -> str | None:
    """The configured schema of OrderSync's tables (explicit, so that offline SQL scripts carry it too)."""
    config = op.get_context().config
    schema: str | None = config.attributes.get("schema") if config is not None else None
    return schema


def _ref(column: str) -> str:
    schema = _schema()
    return f"{schema}.{column}" if schema else column


def upgrade() -> None:
    schema = _schema()
    op.create_table(
        "MON_BatchProcessing",
        sa.Column("batch_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer", sa.Unicode(length=200), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("board_id", sa.String(length=24), nullable=False),
        sa.Column("total_items", sa.Integer(), nullable=False),
        sa.Column("total_subitems", sa.Integer(), nullable=False),
        sa.Column("invalid_count", sa.Integer(), nullable=False),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        sa.Column("succeeded_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("items_created", sa.Integer(), nullable=False),
        sa.Column("items_updated", sa.Integer(), nullable=False),
        sa.Column("subitems_created", sa.Integer(), nullable=False),
        sa.Column("subitems_updated", sa.Integer(), nullable=False),
        sa.Column("removed_count", sa.Integer(), nullable=False),
        sa.Column("api_calls", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=False),
        sa.Column("staged_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=True),
        sa.Column("push_started_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=True),
        sa.Column("promoting_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=True),
        sa.Column("finished_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=False),
        sa.Column("owner_host", sa.Unicode(length=128), nullable=False),
        sa.Column("owner_user", sa.Unicode(length=128), nullable=False),
        sa.Column("owner_pid", sa.Integer(), nullable=False),
        sa.Column("owner_app", sa.Unicode(length=64), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("message", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.CheckConstraint(
            "status IN ('STARTED', 'STAGED', 'PUSHING', 'PROMOTING', 'COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELLED', 'NO_CHANGES')",
            name=op.f("CK_MON_BatchProcessing_status"),
        ),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("PK_MON_BatchProcessing")),
        schema=schema,
    )
    op.create_index(
        op.f("IX_MON_BatchProcessing_status"),
        "MON_BatchProcessing",
        ["status", "heartbeat_at"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        "UX_MON_BatchProcessing_active_customer",
        "MON_BatchProcessing",
        ["board_id", "customer"],
        unique=True,
        sqlite_where=sa.text("status IN ('STARTED', 'STAGED', 'PUSHING', 'PROMOTING')"),
        postgresql_where=sa.text("status IN ('STARTED', 'STAGED', 'PUSHING', 'PROMOTING')"),
        mssql_where=sa.text("status IN ('STARTED', 'STAGED', 'PUSHING', 'PROMOTING')"),
        schema=schema,
    )
    op.create_table(
        "MON_CustMasterSchedule",
        sa.Column("board_id", sa.String(length=24), nullable=False),
        sa.Column("sync_key", sa.Unicode(length=400), nullable=False),
        sa.Column("customer", sa.Unicode(length=200), nullable=False),
        sa.Column("monday_item_id", sa.String(length=24), nullable=False),
        sa.Column("group_id", sa.Unicode(length=100), nullable=True),
        sa.Column("group_name", sa.Unicode(length=255), nullable=True),
        sa.Column("item_name", sa.Unicode(length=255), nullable=False),
        sa.Column("order_number", sa.Unicode(length=100), nullable=True),
        sa.Column("po_number", sa.Unicode(length=100), nullable=True),
        sa.Column("values_json", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=False),
        sa.Column("content_hash", sa.String(length=40), nullable=False),
        sa.Column("line_hash", sa.String(length=40), nullable=False),
        sa.Column("source_hash", sa.String(length=40), nullable=True),
        sa.Column("is_removed", sa.Boolean(), nullable=False),
        sa.Column("first_synced_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=False),
        sa.Column("last_synced_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=False),
        sa.Column("last_batch_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("board_id", "sync_key", name=op.f("PK_MON_CustMasterSchedule")),
        schema=schema,
    )
    op.create_index(
        op.f("IX_MON_CustMasterSchedule_customer"),
        "MON_CustMasterSchedule",
        ["customer", "board_id"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        op.f("IX_MON_CustMasterSchedule_monday_item_id"),
        "MON_CustMasterSchedule",
        ["monday_item_id"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "MON_CustMasterSchedule_Subitems",
        sa.Column("board_id", sa.String(length=24), nullable=False),
        sa.Column("parent_sync_key", sa.Unicode(length=400), nullable=False),
        sa.Column("size_label", sa.Unicode(length=60), nullable=False),
        sa.Column("customer", sa.Unicode(length=200), nullable=False),
        sa.Column("monday_subitem_id", sa.String(length=24), nullable=False),
        sa.Column("parent_monday_item_id", sa.String(length=24), nullable=False),
        sa.Column("subitem_name", sa.Unicode(length=255), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("values_json", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=False),
        sa.Column("content_hash", sa.String(length=40), nullable=False),
        sa.Column("is_removed", sa.Boolean(), nullable=False),
        sa.Column("first_synced_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=False),
        sa.Column("last_synced_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=False),
        sa.Column("last_batch_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint(
            "board_id", "parent_sync_key", "size_label", name=op.f("PK_MON_CustMasterSchedule_Subitems")
        ),
        schema=schema,
    )
    op.create_index(
        op.f("IX_MON_CustMasterSchedule_Subitems_customer"),
        "MON_CustMasterSchedule_Subitems",
        ["customer", "board_id"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "ERR_MON_CustMasterSchedule",
        sa.Column("err_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stg_id", sa.Integer(), nullable=True),
        sa.Column("sync_key", sa.Unicode(length=400), nullable=True),
        sa.Column("item_name", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("customer", sa.Unicode(length=200), nullable=False),
        sa.Column("order_number", sa.Unicode(length=100), nullable=True),
        sa.Column("po_number", sa.Unicode(length=100), nullable=True),
        sa.Column("error_type", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.Unicode(length=100), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("message", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=False),
        sa.Column("retryable", sa.Boolean(), nullable=False),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("payload_json", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.Column("source_json", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.Column("content_hash", sa.String(length=40), nullable=True),
        sa.Column("first_failed_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=False),
        sa.Column("last_failed_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=False),
        sa.Column("resolved_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=True),
        sa.Column("resolved_by", sa.Unicode(length=128), nullable=True),
        sa.Column("resolution", sa.Unicode(length=255), nullable=True),
        sa.CheckConstraint(
            "error_type IN ('VALIDATION', 'COLUMN_VALUE', 'NOT_FOUND', 'AUTH', 'RATE_LIMIT', 'NETWORK', 'TIMEOUT', 'SERVER', 'PARENT_FAILED', 'CONFLICT', 'UNKNOWN')",
            name=op.f("CK_ERR_MON_CustMasterSchedule_error_type"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], [_ref("MON_BatchProcessing.batch_id")], name=op.f("FK_ERR_MON_CustMasterSchedule_batch_id")
        ),
        sa.PrimaryKeyConstraint("err_id", name=op.f("PK_ERR_MON_CustMasterSchedule")),
        schema=schema,
    )
    op.create_index(
        op.f("IX_ERR_MON_CustMasterSchedule_customer"),
        "ERR_MON_CustMasterSchedule",
        ["customer", "resolved_at"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        op.f("IX_ERR_MON_CustMasterSchedule_sync_key"),
        "ERR_MON_CustMasterSchedule",
        ["sync_key"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "ERR_MON_CustMasterSchedule_Subitems",
        sa.Column("err_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stg_sub_id", sa.Integer(), nullable=True),
        sa.Column("parent_sync_key", sa.Unicode(length=400), nullable=True),
        sa.Column("size_label", sa.Unicode(length=60), nullable=True),
        sa.Column("subitem_name", sa.Unicode(length=255), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("customer", sa.Unicode(length=200), nullable=False),
        sa.Column("order_number", sa.Unicode(length=100), nullable=True),
        sa.Column("po_number", sa.Unicode(length=100), nullable=True),
        sa.Column("error_type", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.Unicode(length=100), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("message", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=False),
        sa.Column("retryable", sa.Boolean(), nullable=False),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("payload_json", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.Column("source_json", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.Column("content_hash", sa.String(length=40), nullable=True),
        sa.Column("first_failed_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=False),
        sa.Column("last_failed_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=False),
        sa.Column("resolved_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=True),
        sa.Column("resolved_by", sa.Unicode(length=128), nullable=True),
        sa.Column("resolution", sa.Unicode(length=255), nullable=True),
        sa.CheckConstraint(
            "error_type IN ('VALIDATION', 'COLUMN_VALUE', 'NOT_FOUND', 'AUTH', 'RATE_LIMIT', 'NETWORK', 'TIMEOUT', 'SERVER', 'PARENT_FAILED', 'CONFLICT', 'UNKNOWN')",
            name=op.f("CK_ERR_MON_CustMasterSchedule_Subitems_error_type"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            [_ref("MON_BatchProcessing.batch_id")],
            name=op.f("FK_ERR_MON_CustMasterSchedule_Subitems_batch_id"),
        ),
        sa.PrimaryKeyConstraint("err_id", name=op.f("PK_ERR_MON_CustMasterSchedule_Subitems")),
        schema=schema,
    )
    op.create_index(
        op.f("IX_ERR_MON_CustMasterSchedule_Subitems_customer"),
        "ERR_MON_CustMasterSchedule_Subitems",
        ["customer", "resolved_at"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        op.f("IX_ERR_MON_CustMasterSchedule_Subitems_parent_sync_key"),
        "ERR_MON_CustMasterSchedule_Subitems",
        ["parent_sync_key", "size_label"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "STG_MON_CustMasterSchedule",
        sa.Column("stg_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("customer", sa.Unicode(length=200), nullable=False),
        sa.Column("sync_key", sa.Unicode(length=400), nullable=True),
        sa.Column("order_number", sa.Unicode(length=100), nullable=True),
        sa.Column("po_number", sa.Unicode(length=100), nullable=True),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("item_name", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.Column("group_name", sa.Unicode(length=255), nullable=True),
        sa.Column("group_id", sa.Unicode(length=100), nullable=True),
        sa.Column("monday_item_id", sa.String(length=24), nullable=True),
        sa.Column("values_json", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=False),
        sa.Column("old_values_json", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.Column("changed_columns", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.Column("source_json", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.Column("content_hash", sa.String(length=40), nullable=False),
        sa.Column("line_hash", sa.String(length=40), nullable=False),
        sa.Column("source_hash", sa.String(length=40), nullable=True),
        sa.Column("validation_errors", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.Column("created_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=False),
        sa.Column("sent_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=True),
        sa.Column("confirmed_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=True),
        sa.CheckConstraint(
            "action IN ('CREATE', 'UPDATE', 'REMOVE', 'NONE')", name=op.f("CK_STG_MON_CustMasterSchedule_action")
        ),
        sa.CheckConstraint(
            "state IN ('PENDING', 'WAITING_PARENT', 'SENDING', 'API_SUCCESS', 'API_FAILED', 'PROMOTED', 'INVALID')",
            name=op.f("CK_STG_MON_CustMasterSchedule_state"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], [_ref("MON_BatchProcessing.batch_id")], name=op.f("FK_STG_MON_CustMasterSchedule_batch_id")
        ),
        sa.PrimaryKeyConstraint("stg_id", name=op.f("PK_STG_MON_CustMasterSchedule")),
        schema=schema,
    )
    op.create_index(
        op.f("IX_STG_MON_CustMasterSchedule_batch_id"),
        "STG_MON_CustMasterSchedule",
        ["batch_id", "state"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        op.f("IX_STG_MON_CustMasterSchedule_sync_key"),
        "STG_MON_CustMasterSchedule",
        ["sync_key"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "STG_MON_CustMasterSchedule_Subitems",
        sa.Column("stg_sub_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("parent_stg_id", sa.Integer(), nullable=False),
        sa.Column("customer", sa.Unicode(length=200), nullable=False),
        sa.Column("parent_sync_key", sa.Unicode(length=400), nullable=True),
        sa.Column("size_label", sa.Unicode(length=60), nullable=False),
        sa.Column("size_position", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("subitem_name", sa.Unicode(length=255), nullable=False),
        sa.Column("parent_monday_item_id", sa.String(length=24), nullable=True),
        sa.Column("monday_subitem_id", sa.String(length=24), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("old_quantity", sa.Integer(), nullable=True),
        sa.Column("values_json", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=False),
        sa.Column("old_values_json", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.Column("changed_columns", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.Column("content_hash", sa.String(length=40), nullable=False),
        sa.Column("validation_errors", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.UnicodeText().with_variant(sa.NVARCHAR(), "mssql"), nullable=True),
        sa.Column("created_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=False),
        sa.Column("sent_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=True),
        sa.Column("confirmed_at", sa.DateTime().with_variant(mssql.DATETIME2, "mssql"), nullable=True),
        sa.CheckConstraint(
            "action IN ('CREATE', 'UPDATE', 'REMOVE', 'NONE')",
            name=op.f("CK_STG_MON_CustMasterSchedule_Subitems_action"),
        ),
        sa.CheckConstraint(
            "state IN ('PENDING', 'WAITING_PARENT', 'SENDING', 'API_SUCCESS', 'API_FAILED', 'PROMOTED', 'INVALID')",
            name=op.f("CK_STG_MON_CustMasterSchedule_Subitems_state"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            [_ref("MON_BatchProcessing.batch_id")],
            name=op.f("FK_STG_MON_CustMasterSchedule_Subitems_batch_id"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_stg_id"],
            [_ref("STG_MON_CustMasterSchedule.stg_id")],
            name=op.f("FK_STG_MON_CustMasterSchedule_Subitems_parent_stg_id"),
        ),
        sa.PrimaryKeyConstraint("stg_sub_id", name=op.f("PK_STG_MON_CustMasterSchedule_Subitems")),
        schema=schema,
    )
    op.create_index(
        op.f("IX_STG_MON_CustMasterSchedule_Subitems_batch_id"),
        "STG_MON_CustMasterSchedule_Subitems",
        ["batch_id", "state"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        op.f("IX_STG_MON_CustMasterSchedule_Subitems_parent_stg_id"),
        "STG_MON_CustMasterSchedule_Subitems",
        ["parent_stg_id"],
        unique=False,
        schema=schema,
    )


def downgrade() -> None:
    schema = _schema()
    op.drop_index(
        op.f("IX_STG_MON_CustMasterSchedule_Subitems_parent_stg_id"),
        table_name="STG_MON_CustMasterSchedule_Subitems",
        schema=schema,
    )
    op.drop_index(
        op.f("IX_STG_MON_CustMasterSchedule_Subitems_batch_id"),
        table_name="STG_MON_CustMasterSchedule_Subitems",
        schema=schema,
    )
    op.drop_table("STG_MON_CustMasterSchedule_Subitems", schema=schema)
    op.drop_index(
        op.f("IX_STG_MON_CustMasterSchedule_sync_key"), table_name="STG_MON_CustMasterSchedule", schema=schema
    )
    op.drop_index(
        op.f("IX_STG_MON_CustMasterSchedule_batch_id"), table_name="STG_MON_CustMasterSchedule", schema=schema
    )
    op.drop_table("STG_MON_CustMasterSchedule", schema=schema)
    op.drop_index(
        op.f("IX_ERR_MON_CustMasterSchedule_Subitems_parent_sync_key"),
        table_name="ERR_MON_CustMasterSchedule_Subitems",
        schema=schema,
    )
    op.drop_index(
        op.f("IX_ERR_MON_CustMasterSchedule_Subitems_customer"),
        table_name="ERR_MON_CustMasterSchedule_Subitems",
        schema=schema,
    )
    op.drop_table("ERR_MON_CustMasterSchedule_Subitems", schema=schema)
    op.drop_index(
        op.f("IX_ERR_MON_CustMasterSchedule_sync_key"), table_name="ERR_MON_CustMasterSchedule", schema=schema
    )
    op.drop_index(
        op.f("IX_ERR_MON_CustMasterSchedule_customer"), table_name="ERR_MON_CustMasterSchedule", schema=schema
    )
    op.drop_table("ERR_MON_CustMasterSchedule", schema=schema)
    op.drop_index(
        op.f("IX_MON_CustMasterSchedule_Subitems_customer"), table_name="MON_CustMasterSchedule_Subitems", schema=schema
    )
    op.drop_table("MON_CustMasterSchedule_Subitems", schema=schema)
    op.drop_index(op.f("IX_MON_CustMasterSchedule_monday_item_id"), table_name="MON_CustMasterSchedule", schema=schema)
    op.drop_index(op.f("IX_MON_CustMasterSchedule_customer"), table_name="MON_CustMasterSchedule", schema=schema)
    op.drop_table("MON_CustMasterSchedule", schema=schema)
    op.drop_index(
        "UX_MON_BatchProcessing_active_customer",
        table_name="MON_BatchProcessing",
        sqlite_where=sa.text("status IN ('STARTED', 'STAGED', 'PUSHING', 'PROMOTING')"),
        postgresql_where=sa.text("status IN ('STARTED', 'STAGED', 'PUSHING', 'PROMOTING')"),
        mssql_where=sa.text("status IN ('STARTED', 'STAGED', 'PUSHING', 'PROMOTING')"),
        schema=schema,
    )
    op.drop_index(op.f("IX_MON_BatchProcessing_status"), table_name="MON_BatchProcessing", schema=schema)
    op.drop_table("MON_BatchProcessing", schema=schema)
