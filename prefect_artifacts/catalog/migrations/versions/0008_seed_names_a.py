"""Seed names (issue 20, seeds 000 and 001): artifact storage ids and transfer history.

Stub: the upgrade is filled in by the seed-names work.

Revision ID: 0008
Revises: 0007
"""

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
