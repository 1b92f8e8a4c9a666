"""The audit trail records a cell whose board value was kept: the kind KEPT and the value not sent.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

- ``MON_AuditLog.kind`` accepts ``KEPT``: a protected cell a person changed on the board was kept
  (its column's policy ``board_wins``, or a planner's ``decide --keep-board``); nothing was sent.
  The CHECK constraint ``CK_MON_AuditLog_kind`` is dropped and added again by its name (on SQLite,
  which cannot alter a constraint, the table is rebuilt in batch mode, its rows and ids kept).
- ``MON_AuditLog.value_not_sent``: the value OrderSync did not send there (for KEPT, the ERP's); NULL
  for every other kind, and for every row written before.

The downgrade removes the KEPT rows (the older schema cannot hold them; MON_Decisions still names
the cells kept) before it restores the older constraint.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLE = "MON_AuditLog"
CONSTRAINT = f"CK_{TABLE}_kind"
OLD_KINDS = ("CREATED", "UPDATED", "MOVED", "ARCHIVED", "DELETED", "RECREATED", "RESTORED")
NEW_KINDS = OLD_KINDS + ("KEPT",)
LONG_TEXT = sa.UnicodeText().with_variant(mssql.NVARCHAR(), "mssql")


def _schema() -> str | None:
    config = op.get_context().config
    schema: str | None = config.attributes.get("schema") if config is not None else None
    return schema


def _kinds(kinds: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(k) for k in kinds)})"


# On SQLite the table is rebuilt: it keeps AUTOINCREMENT, so an id is never given twice.
KEEP_AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table(TABLE, schema=_schema(), table_kwargs=KEEP_AUTOINCREMENT) as batch:
        batch.add_column(sa.Column("value_not_sent", LONG_TEXT, nullable=True))
        batch.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch.create_check_constraint(op.f(CONSTRAINT), _kinds(NEW_KINDS))


def downgrade() -> None:
    audit = sa.table(TABLE, sa.column("kind", sa.String(20)), schema=_schema())
    op.execute(audit.delete().where(audit.c.kind == "KEPT"))
    with op.batch_alter_table(TABLE, schema=_schema(), table_kwargs=KEEP_AUTOINCREMENT) as batch:
        batch.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch.create_check_constraint(op.f(CONSTRAINT), _kinds(OLD_KINDS))
        batch.drop_column("value_not_sent")
