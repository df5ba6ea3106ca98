"""Blob uploads: who uploaded which blob, and when.

A client may build an artifact from a blob only if it can read an artifact holding
it, or uploaded it itself recently (knowing a digest is not possessing the content).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from prefect_artifacts.catalog.schema import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob_uploads",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("uploader", sa.String(128), primary_key=True),
        sa.Column("uploaded", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_blob_uploads_uploaded", "blob_uploads", ["uploaded"])


def downgrade() -> None:
    op.drop_index("ix_blob_uploads_uploaded", "blob_uploads")
    op.drop_table("blob_uploads")
