"""Index file sizes: an upload asks whether content of its size is catalogued.

When it is (typically re-registering an unchanged file), the upload hashes first and
skips the copy if the content is stored; otherwise it copies and hashes in one pass.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_artifact_files_size", "artifact_files", ["size"])


def downgrade() -> None:
    op.drop_index("ix_artifact_files_size", "artifact_files")
