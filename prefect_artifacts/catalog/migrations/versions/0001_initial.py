"""Initial catalog: folders, artifacts, labels, files, aliases, runs, aspects.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from prefect_artifacts.catalog.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _fk(table: str = "artifacts") -> sa.ForeignKey:
    return sa.ForeignKey(f"{table}.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "folders",
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("created", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "artifacts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("folder", sa.String(1024), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("is_dir", sa.Boolean, nullable=False),
        sa.Column("file_count", sa.Integer, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("mime_type", sa.String(255)),
        sa.Column("size", sa.BigInteger),
        sa.Column("checksum", sa.String(160)),
        sa.Column("original_path", sa.Text),
        sa.Column("serializer_snapshot_id", sa.String(36)),
        sa.Column("serializer_task", sa.String(255)),
        sa.Column("idempotency_key", sa.String(160), unique=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("modified", UTCDateTime(), nullable=False),
        sa.Column("deleted", UTCDateTime()),
        sa.UniqueConstraint("folder", "name", "version", name="uq_artifacts_folder_name_version"),
    )
    # Case-insensitive name prefix searches sorted by time use an index range scan.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE INDEX ix_artifacts_name_ci ON artifacts (name COLLATE NOCASE, created)")
    else:
        op.execute("CREATE INDEX ix_artifacts_name_ci ON artifacts (lower(name) text_pattern_ops, created)")
    op.create_index("ix_artifacts_created", "artifacts", ["created", "id"])
    op.create_index("ix_artifacts_checksum", "artifacts", ["checksum"])
    op.create_table(
        "artifact_labels",
        sa.Column("artifact_id", sa.String(36), _fk(), primary_key=True),
        sa.Column("label", sa.String(128), primary_key=True),
    )
    op.create_index("ix_artifact_labels_label", "artifact_labels", ["label"])
    op.create_table(
        "artifact_files",
        sa.Column("artifact_id", sa.String(36), _fk(), primary_key=True),
        sa.Column("path", sa.String(4096), primary_key=True),
        sa.Column("size", sa.BigInteger),
        sa.Column("checksum", sa.String(160)),
        sa.Column("mime_type", sa.String(255)),
        sa.Column("uri", sa.Text),
        sa.Column("digest", sa.String(64)),
    )
    op.create_index("ix_artifact_files_digest", "artifact_files", ["digest"])
    op.create_table(
        "aliases",
        sa.Column("folder", sa.String(1024), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("alias", sa.String(64), primary_key=True),
        sa.Column("artifact_id", sa.String(36), _fk(), nullable=False),
    )
    op.create_table(
        "artifact_runs",
        sa.Column("artifact_id", sa.String(36), _fk(), primary_key=True),
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("category", sa.String(8), primary_key=True),
        sa.Column("created", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_artifact_runs_run_id", "artifact_runs", ["run_id"])
    op.create_table(
        "aspects",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("artifact_id", sa.String(36), _fk(), nullable=False),
        sa.Column("schema_name", sa.Text),
        sa.Column("content", sa.JSON, nullable=False),
        sa.Column("policy", sa.Text),
        sa.Column("created", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_aspects_artifact_id", "aspects", ["artifact_id"])


def downgrade() -> None:
    for table in ("aspects", "artifact_runs", "aliases", "artifact_files", "artifact_labels",
                  "artifacts", "folders"):
        op.drop_table(table)
