"""Blob deletions: garbage collection's claims on the blobs it deletes.

Garbage collection records a blob here before it re-checks and deletes it; an upload
reusing a stored blob reserves it (``blob_uploads``) and then looks here, so one of the
two always sees the other, across processes that share only the catalog.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from prefect_artifacts.catalog.schema import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob_deletions",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("started", UTCDateTime(), nullable=False),
        sa.Column("finished", UTCDateTime()),
    )
    op.create_index("ix_blob_deletions_finished", "blob_deletions", ["finished"])


def downgrade() -> None:
    op.drop_index("ix_blob_deletions_finished", "blob_deletions")
    op.drop_table("blob_deletions")
