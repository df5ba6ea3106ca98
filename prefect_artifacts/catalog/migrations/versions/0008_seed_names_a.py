"""Seed names 000/001: transfer history (seed 001's ``remote``) and the store of each artifact (seed 000's ``storage``).

``artifact_transfers``: one row per upload (a create that made the version) and per
recorded download (the registry's download, download_dir and get_contents, or
`Registry.record_download`): who, when, where.

``artifacts.storage_id``: the content store holding the artifact's blobs, one of the
registry's named stores (``PREFECT_ARTIFACTS_STORAGES``); NULL is the default store.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from prefect_artifacts.catalog.schema import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifact_transfers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("artifact_id", sa.String(36), sa.ForeignKey("artifacts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("user_name", sa.String(128), nullable=False),
        sa.Column("local_path", sa.Text()),
        sa.Column("created", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_artifact_transfers_artifact_id", "artifact_transfers", ["artifact_id"])
    op.add_column("artifacts", sa.Column("storage_id", sa.String(64)))  # no table rebuild on SQLite


def downgrade() -> None:
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("storage_id")
    op.drop_index("ix_artifact_transfers_artifact_id", "artifact_transfers")
    op.drop_table("artifact_transfers")
