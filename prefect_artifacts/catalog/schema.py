"""SQLAlchemy Core tables of the catalog (the migrations create the same tables and indexes)."""

from __future__ import annotations

from collections.abc import Callable
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


def include_object(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """An alembic ``include_object`` hook keeping the metadata objects that exist on ``dialect``.

    An index spelled once per dialect (``ix_artifacts_name_ci``) carries
    ``info={"dialect": …}`` beside its ``ddl_if``, so autogenerate compares a database
    with its own dialect's spelling only.

    Example:
        ```python
        context = MigrationContext.configure(conn, opts={"include_object": include_object("sqlite")})
        compare_metadata(context, metadata)  # [] for a migrated catalog
        ```
    """
    def include(obj: Any, _name: str | None, _type: str, reflected: bool, _compare_to: Any) -> bool:
        return reflected or getattr(obj, "info", {}).get("dialect", dialect) == dialect

    return include


#: The catalog's tables and indexes, as the migrations leave them (tests/backends/test_migration_drift.py).
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
    # The content store of its blobs (migration 0008): a named store of the registry; NULL: the default.
    Column("storage_id", String(64)),
    UniqueConstraint("folder", "name", "version", name="uq_artifacts_folder_name_version"),
)
Index("ix_artifacts_created", artifacts.c.created, artifacts.c.id)
Index("ix_artifacts_checksum", artifacts.c.checksum)
# Case-insensitive name-prefix searches of live artifacts sorted by time (migrations 0001, 0004),
# one spelling per dialect: SQLite's NOCASE collation, PostgreSQL's lower(name) for LIKE 'abc%'.
_LIVE = artifacts.c.deleted.is_(None)
Index("ix_artifacts_name_ci", artifacts.c.name.collate("NOCASE"), artifacts.c.created, artifacts.c.id,
      sqlite_where=_LIVE, info={"dialect": "sqlite"}).ddl_if(dialect="sqlite")
Index("ix_artifacts_name_ci", func.lower(artifacts.c.name).label("name_lower"), artifacts.c.created,
      artifacts.c.id, postgresql_ops={"name_lower": "text_pattern_ops"}, postgresql_where=_LIVE,
      info={"dialect": "postgresql"}).ddl_if(dialect="postgresql")
# The other sort keys (name as stored, not the case-folded search index): a sorted page and
# its keyset pages read live index entries only
# (migration 0010). Size sorts by coalesce(size, -1), references last.
Index("ix_artifacts_size_live", func.coalesce(artifacts.c.size, -1), artifacts.c.id,
      sqlite_where=_LIVE, postgresql_where=_LIVE)
Index("ix_artifacts_version_live", artifacts.c.version, artifacts.c.id, sqlite_where=_LIVE, postgresql_where=_LIVE)
Index("ix_artifacts_name_live", artifacts.c.name, artifacts.c.id, sqlite_where=_LIVE, postgresql_where=_LIVE)

artifact_labels = Table(
    "artifact_labels",
    metadata,
    Column("artifact_id", String(36), ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True),
    Column("label", String(128), primary_key=True),
)
Index("ix_artifact_labels_label", artifact_labels.c.label)

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
Index("ix_artifact_runs_run_id", artifact_runs.c.run_id)

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

#: JSON Schemas registered under URNs (migration 0009; queries in catalog/schemas.py): immutable once registered.
aspect_schemas = Table(
    "aspect_schemas",
    metadata,
    Column("urn", String(255), primary_key=True),
    Column("schema", JSON, nullable=False),
    Column("digest", String(64), nullable=False),
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

#: Blobs garbage collection is deleting or deleted (migration 0011): a row is written
#: (``finished`` None) before gc re-checks a blob and deletes it, and finished after. An
#: upload that reuses a stored blob reserves it in ``blob_uploads`` first, then looks
#: here: a deletion seen means "check the store again"; none means gc will see the
#: reservation. Rows are kept a day (so both sides of a race see them), then pruned.
blob_deletions = Table(
    "blob_deletions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("started", UTCDateTime(), nullable=False),
    Column("finished", UTCDateTime(), index=True),
)

#: When garbage collection first saw each unfinished multipart upload of a store (migration
#: 0012): gc aborts one only once both the store's start date and this are older than the
#: grace period (a store's date can be fixed or skewed: moto dates every upload 2010).
#: Rows of uploads no longer listed are dropped by the next gc of that store.
upload_sightings = Table(
    "upload_sightings",
    metadata,
    Column("store", String(1024), primary_key=True),
    Column("upload_key", String(1024), primary_key=True),
    Column("upload_id", String(1024), primary_key=True),
    Column("first_seen", UTCDateTime(), nullable=False),
)

#: Upload and download history of artifacts (migration 0008; seed 001's ``remote``).
artifact_transfers = Table(
    "artifact_transfers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("artifact_id", String(36), ForeignKey("artifacts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("action", String(16), nullable=False),
    Column("user_name", String(128), nullable=False),
    Column("local_path", Text),
    Column("created", UTCDateTime(), nullable=False),
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
