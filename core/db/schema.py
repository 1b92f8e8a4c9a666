"""OrderSync's own tables (DESIGN.md §3), as SQLAlchemy Core.

Longer than 400 lines: every table OrderSync owns is defined here, in one place, with the states its
rows take, so one test compares them all with what the migrations create.

The tables are defined without a schema; the configured schema (``dbo`` or another) is applied
per connection with ``schema_translate_map`` so the same definitions serve SQLite, PostgreSQL and
SQL Server. monday ids are text: they exceed 32 bits. Timestamps are naive UTC.

These definitions must match what the migrations in ``core/db/migrations`` create; a test
compares them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.schema import SchemaItem

from core.foundation.error_types import STORED_ERROR_TYPES

metadata = sa.MetaData(
    naming_convention={
        "ix": "IX_%(table_name)s_%(column_0_name)s",
        "uq": "UQ_%(table_name)s_%(column_0_name)s",
        "fk": "FK_%(table_name)s_%(column_0_name)s",
        "pk": "PK_%(table_name)s",
        "ck": "CK_%(table_name)s_%(constraint_name)s",
    }
)

# Sync keys are compared exactly (core.source.keys.same_key), and so must the database compare them:
# SQLite and PostgreSQL compare text exactly already; SQL Server's default collation is
# case-insensitive, so there the key columns (sync keys, and the size labels that are part of a
# subitem's key and are joined with each other) carry a binary collation: code point by code point,
# case-, accent-, kana- and width-sensitive. Every column compared with another in SQL has the same
# collation (SQL Server refuses to compare columns of two different ones). SQL Server's `=` still
# ignores trailing spaces; the key census holds back keys that differ only so (core.source.keys.key_fold).
# Migration 0002 gives existing databases this collation.
KEY_COLLATION = "Latin1_General_100_BIN2"

# Lengths chosen to keep every index key under SQL Server's 900-byte limit (NVARCHAR is 2 bytes/char).
KEY = sa.Unicode(400).with_variant(mssql.NVARCHAR(400, collation=KEY_COLLATION), "mssql")
CUSTOMER = sa.Unicode(200)
MONDAY_ID = sa.String(24)
SIZE = sa.Unicode(60).with_variant(mssql.NVARCHAR(60, collation=KEY_COLLATION), "mssql")
HASH = sa.String(40)
STATE = sa.String(30)
# NVARCHAR(MAX) (an NVARCHAR without a length) and DATETIME2 on SQL Server, not the deprecated NTEXT and
# the coarse DATETIME.
LONG_TEXT = sa.UnicodeText().with_variant(mssql.NVARCHAR(), "mssql")
TIMESTAMP = sa.DateTime().with_variant(mssql.DATETIME2, "mssql")

# --- states -------------------------------------------------------------------------------------

PENDING = "PENDING"
WAITING_PARENT = "WAITING_PARENT"
SENDING = "SENDING"
API_SUCCESS = "API_SUCCESS"
API_FAILED = "API_FAILED"
PROMOTED = "PROMOTED"
INVALID = "INVALID"
ROW_STATES = (PENDING, WAITING_PARENT, SENDING, API_SUCCESS, API_FAILED, PROMOTED, INVALID)

# What a staged row asks monday to do.
CREATE = "CREATE"
UPDATE = "UPDATE"
REMOVE = "REMOVE"
NONE = "NONE"  # an item staged only as the parent of changed subitems
ACTIONS = (CREATE, UPDATE, REMOVE, NONE)

STARTED = "STARTED"
STAGED = "STAGED"
PUSHING = "PUSHING"
PROMOTING = "PROMOTING"
COMPLETED = "COMPLETED"
COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
NO_CHANGES = "NO_CHANGES"
ACTIVE_BATCH_STATES = (STARTED, STAGED, PUSHING, PROMOTING)
FINAL_BATCH_STATES = (COMPLETED, COMPLETED_WITH_ERRORS, FAILED, CANCELLED, NO_CHANGES)
BATCH_STATES = ACTIVE_BATCH_STATES + FINAL_BATCH_STATES

ERROR_TYPES = STORED_ERROR_TYPES  # core.foundation.error_types: one enum for every room

# What production knows of an item a person changed on the board (NULL: active, as OrderSync left it).
BOARD_DELETED = "DELETED"
BOARD_ARCHIVED = "ARCHIVED"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


_ACTIVE = _in("status", ACTIVE_BATCH_STATES)
# A staged row names its request only while it is SENDING: the index holds those rows alone, so the
# bulk staging of a batch (every row without one) does not maintain it. `request_id = ?` implies it.
_HAS_REQUEST = "request_id IS NOT NULL"


def _request_index() -> sa.Index:
    where = sa.text(_HAS_REQUEST)
    return sa.Index(None, "request_id", sqlite_where=where, postgresql_where=where, mssql_where=where)


# --- batches ------------------------------------------------------------------------------------

batches = sa.Table(
    "MON_BatchProcessing",
    metadata,
    sa.Column("batch_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("customer", CUSTOMER, nullable=False),
    sa.Column("status", STATE, nullable=False),
    sa.Column("board_id", MONDAY_ID, nullable=False),
    # counts
    sa.Column("total_items", sa.Integer, nullable=False, default=0),
    sa.Column("total_subitems", sa.Integer, nullable=False, default=0),
    sa.Column("invalid_count", sa.Integer, nullable=False, default=0),
    sa.Column("sent_count", sa.Integer, nullable=False, default=0),
    sa.Column("succeeded_count", sa.Integer, nullable=False, default=0),
    sa.Column("failed_count", sa.Integer, nullable=False, default=0),
    sa.Column("items_created", sa.Integer, nullable=False, default=0),
    sa.Column("items_updated", sa.Integer, nullable=False, default=0),
    sa.Column("subitems_created", sa.Integer, nullable=False, default=0),
    sa.Column("subitems_updated", sa.Integer, nullable=False, default=0),
    sa.Column("removed_count", sa.Integer, nullable=False, default=0),
    sa.Column("items_recreated", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("subitems_recreated", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("api_calls", sa.Integer, nullable=False, default=0),
    sa.Column("retries", sa.Integer, nullable=False, default=0),
    # phase timestamps
    sa.Column("started_at", TIMESTAMP, nullable=False),
    sa.Column("staged_at", TIMESTAMP),
    sa.Column("push_started_at", TIMESTAMP),
    sa.Column("promoting_at", TIMESTAMP),
    sa.Column("finished_at", TIMESTAMP),
    sa.Column("heartbeat_at", TIMESTAMP, nullable=False),
    # owner
    sa.Column("owner_host", sa.Unicode(128), nullable=False),
    sa.Column("owner_user", sa.Unicode(128), nullable=False),
    sa.Column("owner_pid", sa.Integer, nullable=False),
    sa.Column("owner_app", sa.Unicode(64), nullable=False),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    # The fencing token: every claim and takeover raises it, and every write of the owner checks
    # it in the same transaction, so a process that lost its batch never writes or sends again.
    sa.Column("owner_generation", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("message", LONG_TEXT),
    # NULL for a sync; for an undo (``undo --batch N``), the batch it undoes.
    sa.Column("undo_of_batch", sa.Integer),
    sa.CheckConstraint(_in("status", BATCH_STATES), name="status"),
    # One active batch per customer (and board), enforced by the database across processes and
    # workstations.
    sa.Index(
        "UX_MON_BatchProcessing_active_customer",
        "board_id",
        "customer",
        unique=True,
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
        mssql_where=sa.text(_ACTIVE),
    ),
    sa.Index(None, "status", "heartbeat_at"),
    sa.Index(None, "undo_of_batch"),
)


def _staged_row_tracking() -> list[SchemaItem]:
    """What every staged row carries through the push: errors, attempts, times, valid states."""
    return [
        sa.Column("validation_errors", LONG_TEXT),
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        sa.Column("last_error", LONG_TEXT),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP),
        sa.Column("confirmed_at", TIMESTAMP),
        # The stored request (MON_Requests) a SENDING row went out in; NULL otherwise.
        sa.Column("request_id", sa.Integer),
        # The row re-creates something a person deleted on the board.
        sa.Column("recreate", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.CheckConstraint(_in("state", ROW_STATES), name="state"),
        sa.CheckConstraint(_in("action", ACTIONS), name="action"),
    ]


# --- staging ------------------------------------------------------------------------------------

stg_items = sa.Table(
    "STG_MON_CustMasterSchedule",
    metadata,
    sa.Column("stg_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey(batches.c.batch_id), nullable=False),
    sa.Column("customer", CUSTOMER, nullable=False),
    sa.Column("sync_key", KEY),
    sa.Column("order_number", sa.Unicode(100)),
    sa.Column("po_number", sa.Unicode(100)),
    sa.Column("action", sa.String(10), nullable=False),
    sa.Column("state", STATE, nullable=False),
    sa.Column("item_name", LONG_TEXT),
    sa.Column("group_name", sa.Unicode(255)),
    sa.Column("group_id", sa.Unicode(100)),
    sa.Column("monday_item_id", MONDAY_ID),
    sa.Column("values_json", LONG_TEXT, nullable=False),
    sa.Column("old_values_json", LONG_TEXT),
    sa.Column("changed_columns", LONG_TEXT),
    sa.Column("source_json", LONG_TEXT),
    sa.Column("content_hash", HASH, nullable=False),
    sa.Column("line_hash", HASH, nullable=False),
    sa.Column("source_hash", HASH),
    *_staged_row_tracking(),
    sa.Index(None, "batch_id", "state"),
    sa.Index(None, "sync_key"),
    _request_index(),
)

stg_subitems = sa.Table(
    "STG_MON_CustMasterSchedule_Subitems",
    metadata,
    sa.Column("stg_sub_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey(batches.c.batch_id), nullable=False),
    sa.Column("parent_stg_id", sa.Integer, sa.ForeignKey(stg_items.c.stg_id), nullable=False),
    sa.Column("customer", CUSTOMER, nullable=False),
    sa.Column("parent_sync_key", KEY),
    sa.Column("size_label", SIZE, nullable=False),
    sa.Column("size_position", sa.Integer, nullable=False, default=0),
    sa.Column("action", sa.String(10), nullable=False),
    sa.Column("state", STATE, nullable=False),
    sa.Column("subitem_name", sa.Unicode(255), nullable=False),
    sa.Column("parent_monday_item_id", MONDAY_ID),
    sa.Column("monday_subitem_id", MONDAY_ID),
    sa.Column("quantity", sa.Integer),
    sa.Column("old_quantity", sa.Integer),
    sa.Column("values_json", LONG_TEXT, nullable=False),
    sa.Column("old_values_json", LONG_TEXT),
    sa.Column("changed_columns", LONG_TEXT),
    sa.Column("content_hash", HASH, nullable=False),
    *_staged_row_tracking(),
    sa.Index(None, "batch_id", "state"),
    sa.Index(None, "parent_stg_id"),
    _request_index(),
)

# --- requests in flight ---------------------------------------------------------------------------

# One row per mutation request whose outcome is not settled yet, stored with its exact text,
# variables and Idempotency-Key in the transaction that marks its rows SENDING. Every resend reuses
# all three, so monday's replay cache answers a repeat; a settled request's row is deleted.
requests = sa.Table(
    "MON_Requests",
    metadata,
    sa.Column("request_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey(batches.c.batch_id), nullable=False),
    sa.Column("idempotency_key", sa.String(64), nullable=False),
    sa.Column("query", LONG_TEXT, nullable=False),
    sa.Column("variables_json", LONG_TEXT, nullable=False),
    # What each alias a0, a1, … stands for: [kind, staged row id or group name, mutation field].
    sa.Column("aliases_json", LONG_TEXT, nullable=False),
    sa.Column("mutations", sa.Integer, nullable=False),
    sa.Column("sends", sa.Integer, nullable=False, default=0),  # sends that left (or may have left)
    sa.Column("refused", sa.Integer, nullable=False, default=0),  # sends monday certainly did not apply
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("first_sent_at", TIMESTAMP),  # the database's clock, like every time compared across hosts
    sa.Column("last_sent_at", TIMESTAMP),
    sa.Index(None, "batch_id"),
    sa.Index("UX_MON_Requests_idempotency_key", "idempotency_key", unique=True),
    sqlite_autoincrement=True,  # ids are never reused, so a log line names one request
)

# --- errors -------------------------------------------------------------------------------------


def _error_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("batch_id", sa.Integer, sa.ForeignKey(batches.c.batch_id)),
        sa.Column("customer", CUSTOMER, nullable=False),
        sa.Column("order_number", sa.Unicode(100)),
        sa.Column("po_number", sa.Unicode(100)),
        sa.Column("error_type", sa.String(20), nullable=False),
        sa.Column("error_code", sa.Unicode(100)),
        sa.Column("http_status", sa.Integer),
        sa.Column("message", LONG_TEXT, nullable=False),
        sa.Column("retryable", sa.Boolean, nullable=False, default=False),
        sa.Column("retry_count", sa.Integer, nullable=False, default=0),
        sa.Column("payload_json", LONG_TEXT),
        sa.Column("source_json", LONG_TEXT),
        sa.Column("content_hash", HASH),
        sa.Column("first_failed_at", TIMESTAMP, nullable=False),
        sa.Column("last_failed_at", TIMESTAMP, nullable=False),
        sa.Column("resolved_at", TIMESTAMP),
        sa.Column("resolved_by", sa.Unicode(128)),
        sa.Column("resolution", sa.Unicode(255)),
    ]


err_items = sa.Table(
    "ERR_MON_CustMasterSchedule",
    metadata,
    sa.Column("err_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("stg_id", sa.Integer),
    sa.Column("sync_key", KEY),
    sa.Column("item_name", LONG_TEXT),
    *_error_columns(),
    sa.CheckConstraint(_in("error_type", ERROR_TYPES), name="error_type"),
    sa.Index(None, "customer", "resolved_at"),
    sa.Index(None, "sync_key"),
)

err_subitems = sa.Table(
    "ERR_MON_CustMasterSchedule_Subitems",
    metadata,
    sa.Column("err_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("stg_sub_id", sa.Integer),
    sa.Column("parent_sync_key", KEY),
    sa.Column("size_label", SIZE),
    sa.Column("subitem_name", sa.Unicode(255)),
    *_error_columns(),
    sa.CheckConstraint(_in("error_type", ERROR_TYPES), name="error_type"),
    sa.Index(None, "customer", "resolved_at"),
    sa.Index(None, "parent_sync_key", "size_label"),
)

# --- production: what is on the board -----------------------------------------------------------

items = sa.Table(
    "MON_CustMasterSchedule",
    metadata,
    sa.Column("board_id", MONDAY_ID, primary_key=True),
    sa.Column("sync_key", KEY, primary_key=True),
    sa.Column("customer", CUSTOMER, nullable=False),
    sa.Column("monday_item_id", MONDAY_ID, nullable=False),
    sa.Column("group_id", sa.Unicode(100)),
    sa.Column("group_name", sa.Unicode(255)),
    sa.Column("item_name", sa.Unicode(255), nullable=False),
    sa.Column("order_number", sa.Unicode(100)),
    sa.Column("po_number", sa.Unicode(100)),
    sa.Column("values_json", LONG_TEXT, nullable=False),
    # content_hash: the mapped item values; line_hash: those plus every size quantity, so an
    # unchanged line is recognised without reading its subitems.
    sa.Column("content_hash", HASH, nullable=False),
    sa.Column("line_hash", HASH, nullable=False),
    # source_hash: the raw source row and the mapping; equal means unchanged without mapping the row.
    sa.Column("source_hash", HASH),
    sa.Column("is_removed", sa.Boolean, nullable=False, default=False),
    sa.Column("first_synced_at", TIMESTAMP, nullable=False),
    sa.Column("last_synced_at", TIMESTAMP, nullable=False),
    sa.Column("last_batch_id", sa.Integer),
    # NULL: the item is on the board as OrderSync left it; DELETED / ARCHIVED: a person deleted or
    # archived it there, and the line waits for a planner's decision (an open error says which).
    sa.Column("board_state", sa.String(20)),
    # customer first: a board_id-only index would tempt a planner without statistics into
    # scanning the whole board for every row of the promotion's anti-join.
    sa.Index(None, "customer", "board_id"),
    sa.Index(None, "monday_item_id"),
)

subitems = sa.Table(
    "MON_CustMasterSchedule_Subitems",
    metadata,
    sa.Column("board_id", MONDAY_ID, primary_key=True),
    sa.Column("parent_sync_key", KEY, primary_key=True),
    sa.Column("size_label", SIZE, primary_key=True),
    sa.Column("customer", CUSTOMER, nullable=False),
    sa.Column("monday_subitem_id", MONDAY_ID, nullable=False),
    sa.Column("parent_monday_item_id", MONDAY_ID, nullable=False),
    sa.Column("subitem_name", sa.Unicode(255), nullable=False),
    sa.Column("quantity", sa.Integer),
    sa.Column("values_json", LONG_TEXT, nullable=False),
    sa.Column("content_hash", HASH, nullable=False),
    sa.Column("is_removed", sa.Boolean, nullable=False, default=False),
    sa.Column("first_synced_at", TIMESTAMP, nullable=False),
    sa.Column("last_synced_at", TIMESTAMP, nullable=False),
    sa.Column("last_batch_id", sa.Integer),
    # customer first: a board_id-only index would tempt a planner without statistics into
    # scanning the whole board for every row of the promotion's anti-join.
    sa.Index(None, "customer", "board_id"),
)

# --- the audit trail: every change OrderSync made on the board ------------------------------------

# What a change did to a cell (or, for an archive or a delete, to the whole item).
CREATED = "CREATED"
UPDATED = "UPDATED"
MOVED = "MOVED"  # the item went to another group (a customer or a season changed)
ARCHIVED = "ARCHIVED"
DELETED = "DELETED"
RECREATED = "RECREATED"  # created again after a person deleted it on the board
RESTORED = "RESTORED"  # set back by the undo of a batch
# Nothing sent: the board's value, which a person typed there, was kept in a protected column (its
# policy board_wins, or a planner's ``decide --keep-board``); the undo has nothing to take back.
KEPT = "KEPT"
AUDIT_KINDS = (CREATED, UPDATED, MOVED, ARCHIVED, DELETED, RECREATED, RESTORED, KEPT)

# One row per changed cell of every mutation monday applied, written in the transaction that records
# the mutation's outcome. Kept forever unless audit.retention_days says otherwise. No foreign key to
# the batch: the trail outlives whatever is done to the batch rows.
audit_log = sa.Table(
    "MON_AuditLog",
    metadata,
    sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_id", sa.Integer, nullable=False),
    sa.Column("customer", CUSTOMER, nullable=False),
    sa.Column("sync_key", KEY, nullable=False),  # the line's (a subitem's: its parent's)
    sa.Column("order_number", sa.Unicode(100)),
    sa.Column("size_label", SIZE),  # a subitem's size; NULL for the item
    sa.Column("monday_item_id", MONDAY_ID),  # the item (a subitem's parent)
    sa.Column("monday_subitem_id", MONDAY_ID),  # NULL for the item
    sa.Column("column_id", sa.Unicode(100)),  # the board column; NULL when the whole item was archived or deleted
    sa.Column("column_title", sa.Unicode(255)),
    sa.Column("value_before", LONG_TEXT),  # what OrderSync last wrote there (NULL: nothing)
    # What the cell holds after the change: the value sent; for KEPT nothing was sent, and this is the
    # board's value kept (production takes it as OrderSync's own, so the next row's value before is it).
    sa.Column("value_sent", LONG_TEXT),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("changed_by_user", sa.Unicode(128), nullable=False),
    sa.Column("changed_by_host", sa.Unicode(128), nullable=False),
    sa.Column("changed_at", TIMESTAMP, nullable=False),  # the database's clock
    # A value OrderSync did not send there: for KEPT, the ERP's; NULL for every other kind (migration 0008).
    sa.Column("value_not_sent", LONG_TEXT),
    sa.CheckConstraint(_in("kind", AUDIT_KINDS), name="kind"),
    sa.Index(None, "batch_id"),
    sa.Index(None, "sync_key"),
    sa.Index(None, "order_number"),
    sa.Index(None, "customer", "changed_at"),
    sa.Index(None, "changed_at"),
    sqlite_autoincrement=True,  # ids are never reused: a row, once pruned, is not named again
)

# --- board edits OrderSync met: kept, or waiting for a planner's decision --------------------------

# What became of a cell a person changed on the board that the ERP changed too (a protected column).
DECISION_OPEN = "OPEN"  # the column asks: the cell waits in the decision list until a planner picks a value
DECISION_KEPT = "KEPT"  # the board's value was kept (board_wins, or a planner chose it); production holds it
DECISION_USE_ERP = "USE_ERP"  # a planner chose the ERP's value: the next sync sends it
DECISION_STATES = (DECISION_OPEN, DECISION_KEPT, DECISION_USE_ERP)

# One row per protected cell (line and column) where a person's value on the board met another value
# from the ERP: both values, since when, and what was decided. A KEPT row also marks the cell as the
# person's: a later ERP change meets the same policy while the board still holds the kept value.
decisions = sa.Table(
    "MON_Decisions",
    metadata,
    sa.Column("decision_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("board_id", MONDAY_ID, nullable=False),
    sa.Column("customer", CUSTOMER, nullable=False),
    sa.Column("sync_key", KEY, nullable=False),
    sa.Column("order_number", sa.Unicode(100)),
    sa.Column("monday_item_id", MONDAY_ID),
    sa.Column("column_label", sa.Unicode(255), nullable=False),  # the mapping's name of the column
    sa.Column("column_id", sa.Unicode(100)),
    sa.Column("policy", sa.String(20), nullable=False),  # board_wins or ask, when the edit was met
    sa.Column("board_value", LONG_TEXT),  # the board's value (compared form)
    sa.Column("erp_value", LONG_TEXT),  # the ERP's value (compared form)
    sa.Column("written_value", LONG_TEXT),  # what OrderSync had last written there (compared form)
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("since", TIMESTAMP, nullable=False),  # when OrderSync first met this edit (the database's clock)
    sa.Column("updated_at", TIMESTAMP, nullable=False),
    sa.Column("decided_by", sa.Unicode(128)),
    sa.Column("decided_at", TIMESTAMP),
    sa.CheckConstraint(_in("status", DECISION_STATES), name="status"),
    # One row per (board, line, column), kept so by its writers (a unique index on the three would pass
    # SQL Server's 900-byte index key limit).
    sa.Index(None, "board_id", "sync_key"),
    sa.Index(None, "status", "customer"),
)

OWN_TABLES = (
    batches,
    stg_items,
    stg_subitems,
    err_items,
    err_subitems,
    items,
    subitems,
    requests,
    audit_log,
    decisions,
)
