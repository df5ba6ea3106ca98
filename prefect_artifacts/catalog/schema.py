"""SQLAlchemy Core tables of the catalog (the migrations create the same tables)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, on every dialect.

    Example:
        ```python
        Column("created", UTCDateTime(), nullable=False)
        ```
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:  # noqa: D102
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:  # noqa: D102
        return None if value is None else value.replace(tzinfo=timezone.utc)


def max_length(column: Column[Any]) -> int | None:
    """The longest value a text column holds (None: unbounded): the one source of column limits.

    Example:
        ```python
        max_length(artifacts.c.mime_type)  # 255
        ```
    """
    return getattr(column.type, "length", None)


metadata = MetaData()

folders = Table(
    "folders",
    metadata,
    Column("path", String(1024), primary_key=True),
    Column("created", UTCDateTime(), nullable=False),
    # The group whose writers create names in the folder (migration 0006); NULL: the root "/".
    Column("group_id", String(64)),
)
# Folders are told apart case-insensitively: "/Team-A" cannot shadow "/team-a".
Index("ix_folders_path_ci", func.lower(folders.c.path))

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("group_id", String(64), nullable=False),
    Column("folder", String(1024), nullable=False),
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("is_dir", Boolean, nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("description", Text),
    Column("labels", JSON, nullable=False),
    Column("mime_type", String(255)),
    Column("size", BigInteger),
    Column("checksum", String(160)),
    Column("original_path", Text),
    Column("serializer_snapshot_id", String(36)),
    Column("serializer_task", String(255)),
    Column("idempotency_key", String(160), unique=True),
    Column("created", UTCDateTime(), nullable=False),
    Column("modified", UTCDateTime(), nullable=False),
    Column("deleted", UTCDateTime()),
    UniqueConstraint("folder", "name", "version", name="uq_artifacts_folder_name_version"),
)

artifact_labels = Table(
    "artifact_labels",
    metadata,
    Column("artifact_id", String(36), ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True),
    Column("label", String(128), primary_key=True),
)

artifact_files = Table(
    "artifact_files",
    metadata,
    Column("artifact_id", String(36), ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(4096), primary_key=True),
    Column("size", BigInteger, index=True),
    Column("checksum", String(160)),
    Column("mime_type", String(255)),
    Column("uri", Text),
    Column("digest", String(64), index=True),
)

aliases = Table(
    "aliases",
    metadata,
    Column("folder", String(1024), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("artifact_id", String(36), ForeignKey("artifacts.id", ondelete="CASCADE"), nullable=False),
)

artifact_runs = Table(
    "artifact_runs",
    metadata,
    Column("artifact_id", String(36), ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True),
    Column("run_id", String(64), primary_key=True),
    Column("category", String(8), primary_key=True),
    Column("created", UTCDateTime(), nullable=False),
)

aspects = Table(
    "aspects",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("artifact_id", String(36), ForeignKey("artifacts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("schema_name", Text),
    Column("content", JSON, nullable=False),
    Column("policy", Text),
    Column("created", UTCDateTime(), nullable=False),
)

plugin_snapshots = Table(
    "plugin_snapshots",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("plugin_name", String(255), nullable=False),
    Column("version", String(128)),
    Column("digest", String(64), nullable=False, unique=True),
    Column("group_id", String(64), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
)

plugin_snapshot_files = Table(
    "plugin_snapshot_files",
    metadata,
    Column("snapshot_id", String(36), ForeignKey("plugin_snapshots.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("digest", String(64), nullable=False, index=True),
)

#: Who uploaded which blob, and when (migration 0007): an upload lets its user build
#: artifacts from the blob while garbage collection would still keep it unreferenced.
blob_uploads = Table(
    "blob_uploads",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("uploader", String(128), primary_key=True),
    Column("uploaded", UTCDateTime(), nullable=False, index=True),
)

#: Columns holding blob digests: garbage collection keeps every blob they name.
BLOB_REFERENCES = (artifact_files.c.digest, plugin_snapshot_files.c.digest)

# -- server authentication (migration 0003; queries in catalog/auth.py) ------------

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("is_admin", Boolean, nullable=False),
    Column("default_group_id", String(64), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created", UTCDateTime(), nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", String(64), ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("can_write", Boolean, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("name", String(128)),
    Column("created", UTCDateTime(), nullable=False),
    Column("revoked", UTCDateTime()),
)

snapshot_grants = Table(
    "snapshot_grants",
    metadata,
    Column("snapshot_id", String(36), ForeignKey("plugin_snapshots.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", String(64), primary_key=True),
)
