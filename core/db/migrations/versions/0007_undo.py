"""The undo of a batch is a batch of its own: MON_BatchProcessing names the batch it undoes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

- ``MON_BatchProcessing.undo_of_batch``: NULL for a sync batch; for an undo, the batch it undoes
  (``undo --batch N``), so a killed undo is found again and resumed, and a batch is undone once.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLE = "MON_BatchProcessing"


def _schema() -> str | None:
    config = op.get_context().config
    schema: str | None = config.attributes.get("schema") if config is not None else None
    return schema


def upgrade() -> None:
    schema = _schema()
    op.add_column(TABLE, sa.Column("undo_of_batch", sa.Integer(), nullable=True), schema=schema)
    op.create_index(op.f(f"IX_{TABLE}_undo_of_batch"), TABLE, ["undo_of_batch"], unique=False, schema=schema)


def downgrade() -> None:
    schema = _schema()
    op.drop_index(op.f(f"IX_{TABLE}_undo_of_batch"), table_name=TABLE, schema=schema)
    with op.batch_alter_table(TABLE, schema=schema) as batch:
        batch.drop_column("undo_of_batch")
