"""Upload sightings: when garbage collection first saw each unfinished multipart upload.

Garbage collection aborts a dead writer's multipart upload once it is older than the
grace period; a store's own start date is not enough (moto and some S3-compatible stores
report a fixed or skewed one), so gc also needs to have seen the upload that long.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from prefect_artifacts.catalog.schema import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_sightings",
        sa.Column("store", sa.String(1024), primary_key=True),
        sa.Column("upload_key", sa.String(1024), primary_key=True),
        sa.Column("upload_id", sa.String(1024), primary_key=True),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("upload_sightings")
