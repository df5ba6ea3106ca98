"""Plugin snapshots: immutable copies of serializer source code.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from prefect_artifacts.catalog.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plugin_snapshots",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("plugin_name", sa.String(255), nullable=False),
        sa.Column("version", sa.String(128)),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "plugin_snapshot_files",
        sa.Column("snapshot_id", sa.String(36), sa.ForeignKey("plugin_snapshots.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
    )
    op.create_index("ix_plugin_snapshot_files_digest", "plugin_snapshot_files", ["digest"])


def downgrade() -> None:
    op.drop_table("plugin_snapshot_files")
    op.drop_table("plugin_snapshots")
