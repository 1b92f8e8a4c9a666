"""Case-sensitive key columns on SQL Server.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

Sync keys are compared exactly everywhere in OrderSync. SQL Server's default collation is
case-insensitive, so two keys that differ only in letter case would collide in the key columns;
this revision gives them a case-sensitive collation there. SQLite and PostgreSQL compare text
exactly already: nothing changes on them.
"""

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
