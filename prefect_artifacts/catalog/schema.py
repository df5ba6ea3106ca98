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
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
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


metadata = MetaData()

folders = Table(
    "folders",
    metadata,
    Column("path", String(1024), primary_key=True),
    Column("created", UTCDateTime(), nullable=False),
)

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
