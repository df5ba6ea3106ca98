"""Dialect-neutral catalog queries (SQLite and PostgreSQL) over `schema`."""

from __future__ import annotations

import base64
import builtins
import getpass
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError

from prefect_artifacts._aspects import check_aspect_budget
from prefect_artifacts._ids import new_id
from prefect_artifacts._paths import ParsedRef, artifact_ref, is_unicode, quote_name
from prefect_artifacts.catalog.engine import (
    EngineQueries,
    catalog_errors,
    create_catalog_engine,
    integrity_violation,
    migrate,
    writer_lock,
)
from prefect_artifacts.catalog.folders import artifact_group, prepare_folder
from prefect_artifacts.catalog.prepared import PreparedInsert
from prefect_artifacts.catalog.schema import (
    BLOB_REFERENCES,
    aliases,
    artifact_files,
    artifact_labels,
    artifact_runs,
    artifact_transfers,
    artifacts,
    aspects,
    folders,
    max_length,
    plugin_snapshot_files,
    plugin_snapshots,
)
from prefect_artifacts.catalog.search import compile_search
from prefect_artifacts.errors import (
    AmbiguousReference,
    ArtifactConflict,
    ArtifactError,
    ArtifactNotFound,
    InvalidArtifactInput,
    PermissionDenied,
)
from prefect_artifacts.models import (
    Artifact,
    ArtifactFile,
    ArtifactKind,
    ArtifactManifest,
    Aspect,
    ConflictStrategy,
    LineageEdge,
    PluginSnapshot,
    RunCategory,
    RunLink,
    SerializerRef,
    SnapshotFile,
    Transfer,
    TransferAction,
)

if TYPE_CHECKING:
    from prefect_artifacts.catalog.auth import Principal

SORTABLE = {
    "name": artifacts.c.name, "created": artifacts.c.created, "modified": artifacts.c.modified,
    "size": artifacts.c.size, "version": artifacts.c.version, "folder": artifacts.c.folder,
    "kind": artifacts.c.kind,
}
DEFAULT_GROUP = "default"
#: The id of a registry's own content store (`Artifact.storage_id`; NULL in the catalog).
DEFAULT_STORAGE = "default"


def utcnow() -> datetime:
    """Current time, timezone-aware UTC.

    Example:
        ```python
        utcnow().tzinfo  # timezone.utc
        ```
    """
    return datetime.now(timezone.utc)


def _encode_cursor(sort_by: str, descending: bool, value: Any, last_id: str) -> str:
    value = value.isoformat() if isinstance(value, datetime) else value
    raw = json.dumps([sort_by, descending, value, last_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


#: The text a manifest puts in the catalog, as (what, field, column limit): looked up once, checked on every create.
_ARTIFACT_TEXT = [(what, field, max_length(artifacts.c[field])) for what, field in (
    ("folder", "folder"), ("mime type", "mime_type"), ("checksum", "checksum"), ("description", "description"),
    ("original path", "original_path"), ("idempotency key", "idempotency_key"))]
_FILE_TEXT = [(what, field, max_length(artifact_files.c[field])) for what, field in (
    ("file path", "path"), ("file mime type", "mime_type"), ("file checksum", "checksum"), ("file uri", "uri"))]


def _check_manifest(new: ArtifactManifest) -> None:
    """Column limits, the same on every dialect (PostgreSQL would raise a DataError, SQLite store the value).

    Also one row per file path: a repeated path would otherwise surface as a unique
    violation, which `SqlCatalog.create` takes for a concurrent writer.
    """
    seen: set[str] = set()
    for f in new.files:
        if f.path in seen:
            raise InvalidArtifactInput(f"file path {f.path!r} appears more than once in the manifest")
        seen.add(f.path)
    for what, field, limit in _ARTIFACT_TEXT:
        _check_text(what, getattr(new, field), limit)
    for f in new.files:
        for what, field, limit in _FILE_TEXT:
            _check_text(what, getattr(f, field), limit)
    for run_id, _category in new.runs:
        check_run_id(run_id)
    if new.aspects:
        check_aspect_budget(len(new.aspects), sum(len(json.dumps(a["content"])) for a in new.aspects))


def check_run_id(run_id: object) -> str:
    """Return ``run_id`` if the catalog can hold it (1 to the column's length, no NUL), else raise.

    Example:
        ```python
        check_run_id("5f0c6a4e-0000-4000-8000-000000000001")
        ```
    """
    limit = max_length(artifact_runs.c.run_id)
    if not isinstance(run_id, str) or not run_id or (limit is not None and len(run_id) > limit):
        raise InvalidArtifactInput(f"invalid run id {run_id!r}: use 1-{limit} characters")
    _check_text("run id", run_id)
    return run_id


def _check_text(what: str, value: str | None, limit: int | None = None) -> None:
    if value is not None and limit is not None and len(value) > limit:
        raise InvalidArtifactInput(f"{what} is longer than {limit} characters: {value[:60]!r}…")
    if value is not None and "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise InvalidArtifactInput(f"{what} contains a NUL character: {value[:60]!r}")
    if value is not None and not is_unicode(value):
        raise InvalidArtifactInput(f"{what} is not valid Unicode text (a lone surrogate): {value[:60]!r}")


def _decode_cursor(cursor: str, sort_by: str, descending: bool) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, desc, value, last_id = json.loads(raw)
        if sort_by in ("created", "modified") and value is not None:
            value = datetime.fromisoformat(value)
    except (ValueError, TypeError) as exc:
        raise InvalidArtifactInput(f"invalid paging cursor {cursor!r}") from exc
    if (key, desc) != (sort_by, descending):
        raise InvalidArtifactInput(
            f"this cursor pages sort_by={key!r} descending={desc}: repeat the same sort to use it"
        )
    return value, str(last_id)



#: Insert a row as the next version of its name, in one statement (built once: constructing
#: and caching a statement per create costs more than executing it).
_INSERT_NEXT_VERSION = (
    insert(artifacts)
    .values({**{c.name: bindparam(c.name) for c in artifacts.c if c.name != "version"},
             "version": select(func.coalesce(func.max(artifacts.c.version), 0) + 1)
             .where(artifacts.c.folder == bindparam("folder"), artifacts.c.name == bindparam("name"))
             .scalar_subquery()})
    .returning(artifacts.c.version)
)


def _without_version(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "version"}


def _new_rows(
    new: ArtifactManifest, version: int | None, uploader: str = "",
) -> tuple[dict[str, Any], list[tuple[Table, list[dict[str, Any]]]], list[RunLink]]:
    """The rows of a new artifact: its own, its children's (per table, its upload's included), its run links."""
    now = utcnow()
    row: dict[str, Any] = {
        "id": new_id(), "group_id": new.group_id or DEFAULT_GROUP, "folder": new.folder,
        "name": new.name, "version": version, "kind": new.kind.value,
        "is_dir": new.is_dir, "file_count": len(new.files), "description": new.description,
        "labels": new.labels, "mime_type": new.mime_type, "size": new.size,
        "checksum": new.checksum, "original_path": new.original_path,
        "serializer_snapshot_id": new.serializer.snapshot_id if new.serializer else None,
        "serializer_task": new.serializer.task_name if new.serializer else None,
        "idempotency_key": new.idempotency_key, "created": now, "modified": now, "deleted": None,
        "storage_id": None if new.storage_id in (None, DEFAULT_STORAGE) else new.storage_id,
    }
    runs = [RunLink(run_id=run_id, category=cat, created=now) for run_id, cat in dict.fromkeys(new.runs)]
    children = [
        (artifact_labels, [{"artifact_id": row["id"], "label": lb} for lb in new.labels]),
        (artifact_files, [{"artifact_id": row["id"], "path": f.path, "size": f.size, "checksum": f.checksum,
                           "mime_type": f.mime_type, "uri": f.uri, "digest": f.digest} for f in new.files]),
        # Made in one instant, read back by (created, id): ascending ids keep the manifest's order.
        (aspects, [_aspect_row(row["id"], a["content"], a.get("schema_name"), a.get("policy"), now, aspect_id)
                   for a, aspect_id in zip(new.aspects, sorted(new_id() for _ in new.aspects), strict=True)]),
        # A new row has no links yet: insert them without lookups.
        (artifact_runs, [{"artifact_id": row["id"], "run_id": r.run_id, "category": r.category.value,
                          "created": now} for r in runs]),
        # Its upload, in the transaction that makes the version (seed 001's ``remote``).
        (artifact_transfers, [{"id": new_id(), "artifact_id": row["id"], "action": TransferAction.UPLOAD.value,
                               "user_name": uploader[:128] or "user", "local_path": new.original_path,
                               "created": now}]),
    ]
    return row, [(table, rows) for table, rows in children if rows], runs


def _uploader(writer: Principal | None) -> str:
    """Who a create's upload is recorded as: the writer, else the operating-system user."""
    if writer is not None:
        return writer.user_name
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name and no passwd entry (some containers)
        return "user"


def _aspect_row(artifact_id: str, content: dict[str, Any], schema_name: str | None, policy: str | None,
                created: datetime, aspect_id: str | None = None) -> dict[str, Any]:
    return {"id": aspect_id or new_id(), "artifact_id": artifact_id, "schema_name": schema_name,
            "content": content, "policy": policy, "created": created}


def _created(row: dict[str, Any], runs: list[RunLink], new: ArtifactManifest) -> Artifact:
    art = SqlCatalog._to_artifact(row, runs)
    art.with_files([ArtifactFile(path=f.path, size=f.size, checksum=f.checksum,
                                 mime_type=f.mime_type, uri=f.uri) for f in new.files])
    return art


class _PreparedCreate:
    """The statements of a ``new`` create, prepared for the DB-API cursor of one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.next_version = PreparedInsert(_INSERT_NEXT_VERSION, artifacts, dialect)
        self.insert_artifact = PreparedInsert(insert(artifacts), artifacts, dialect)  # its version chosen already
        self.inserts = {t.name: PreparedInsert(insert(t), t, dialect)
                        for t in (artifact_labels, artifact_files, aspects, artifact_runs, artifact_transfers)}
        self.integrity_error = dialect.loaded_dbapi.IntegrityError
        # SQLite takes the write lock up front (see engine._sqlite_begin); PostgreSQL starts a
        # transaction by itself, and writers of one name queue on an advisory lock instead.
        self.lock = None if dialect.name == "sqlite" else "SELECT pg_advisory_xact_lock(hashtext(%(name_key)s))"
        self.begin = self.lock or "BEGIN IMMEDIATE"

    def write(self, cursor: Any, new: ArtifactManifest, row: dict[str, Any],
              children: list[tuple[Table, list[dict[str, Any]]]]) -> None:
        """Insert the rows inside the caller's transaction; fills in ``row["version"]``."""
        cursor.execute(self.begin, {"name_key": f"{new.folder}//{new.name}"})
        self._insert(cursor, row, children)

    def write_in_savepoint(self, cursor: Any, new: ArtifactManifest, row: dict[str, Any],
                           children: list[tuple[Table, list[dict[str, Any]]]]) -> bool:
        """`write` inside a transaction already holding the write lock, in a savepoint; False on a unique violation.

        On a violation the savepoint is rolled back, and the transaction goes on.
        """
        self.lock_names(cursor, [f"{new.folder}//{new.name}"])
        return self._in_savepoint(cursor, lambda: self._insert(cursor, row, children))

    def _in_savepoint(self, cursor: Any, write: Callable[[], None]) -> bool:
        """Run ``write`` in a savepoint; on a unique violation roll it back (the transaction goes on) and say False."""
        cursor.execute("SAVEPOINT pa_batch")
        try:
            write()
        except self.integrity_error:
            cursor.execute("ROLLBACK TO SAVEPOINT pa_batch")
            cursor.execute("RELEASE SAVEPOINT pa_batch")
            return False
        cursor.execute("RELEASE SAVEPOINT pa_batch")
        return True

    def _insert(self, cursor: Any, row: dict[str, Any], children: list[tuple[Table, list[dict[str, Any]]]]) -> None:
        cursor.execute(self.next_version.sql, self.next_version.params(_without_version(row)))
        row["version"] = cursor.fetchone()[0]
        for table, rows in children:
            ins = self.inserts[table.name]
            cursor.executemany(ins.sql, ins.many(rows))

    def write_bulk(self, cursor: Any,
                   created: list[tuple[dict[str, Any], list[tuple[Table, list[dict[str, Any]]]]]]) -> bool:
        """Insert many new artifacts, versions chosen, with one ``executemany`` per table; False on a unique violation.

        The caller holds the names' locks (`lock_names`) and read their latest versions
        after taking them. On a violation everything this call inserted is rolled back
        and the transaction goes on.
        """
        by_table: dict[str, list[dict[str, Any]]] = {}
        for _row, children in created:
            for table, rows in children:
                by_table.setdefault(table.name, []).extend(rows)

        def write() -> None:
            cursor.executemany(self.insert_artifact.sql, self.insert_artifact.many(row for row, _c in created))
            for name, rows in by_table.items():
                cursor.executemany(self.inserts[name].sql, self.inserts[name].many(rows))

        return self._in_savepoint(cursor, write)

    def lock_names(self, cursor: Any, names: Iterable[str]) -> None:
        """PostgreSQL: take the advisory lock of each ``folder//name`` (sorted, so two batches cannot deadlock)."""
        if self.lock is not None:
            for key in sorted(set(names)):
                cursor.execute(self.lock, {"name_key": key})


class SqlCatalog(EngineQueries):
    """The artifact catalog in a SQL database.

    Every read and write goes through `_read`/`_write` (or the prepared fast path), all
    inside `engine.catalog_errors`: a failing database reaches callers as the error tree.

    Args:
        url: SQLAlchemy URL (``sqlite:///…`` or ``postgresql://…``).
        durable: SQLite ``synchronous=FULL`` (True) or ``NORMAL``.

    Example:
        ```python
        catalog = SqlCatalog("sqlite:////tmp/catalog.sqlite")
        art, created = catalog.create(ArtifactManifest(...), ConflictStrategy.NEW, make_folder=True)
        ```
    """

    def __init__(self, url: str, durable: bool = True) -> None:
        self.url = url
        super().__init__(create_catalog_engine(url, durable=durable))
        self.dialect = self.engine.dialect.name
        migrate(self.engine)  # raises the error tree (catalog_errors), its message free of the URL's password
        self._known_folders: dict[str, str] = {}  # committed folders and their owners
        # The hot path skips SQLAlchemy's execution layer (see catalog.prepared).
        self._prepared = _PreparedCreate(self.engine.dialect)

    def close(self) -> None:
        """Release the database connections.

        Example:
            ```python
            catalog.close()
            ```
        """
        self.engine.dispose()

    # folders ------------------------------------------------------------------

    def _prepare_folder(self, conn: Connection, new: ArtifactManifest, make: bool, writer: Principal | None) -> str:
        """Check (and make) the folder of ``new``; returns the artifact's group (rules: `catalog.folders`)."""
        owner = self._known_folders.get(new.folder)
        if owner is not None:
            return artifact_group(new.folder, owner, new.group_id, writer, DEFAULT_GROUP)
        group, owner = prepare_folder(conn, new.folder, make, new.group_id, writer, DEFAULT_GROUP, utcnow())
        if owner is not None:  # cached only once seen committed: a new folder's transaction may roll back
            self._known_folders[new.folder] = owner
        return group

    @staticmethod
    def _check_name_owners(conn: Connection, same_name: Any, name: str, strategy: ConflictStrategy,
                           writer: Principal | None) -> None:
        """Refuse skip/error/replace on a name whose live versions the caller cannot read (or replace)."""
        if writer is None or writer.is_admin:
            return
        owners = set(conn.scalars(select(artifacts.c.group_id).distinct().where(same_name,
                                                                               artifacts.c.deleted.is_(None))))
        if any(not writer.can_read(g) for g in owners):  # only an admin mixes groups in one folder
            raise ArtifactConflict(f"{name} is used by a group you cannot read")
        if strategy is ConflictStrategy.REPLACE and any(not writer.can_write(g) for g in owners):
            raise PermissionDenied(f"user {writer.user_name!r} may not replace {name}: its versions are read-only")

    def list_folders(self, prefix: str = "/") -> list[str]:
        """All folders under ``prefix`` (inclusive), sorted.

        Example:
            ```python
            catalog.list_folders("/team")
            ```
        """
        with self._read() as conn:
            rows = conn.scalars(select(folders.c.path).order_by(folders.c.path))
            base = prefix.rstrip("/") + "/"
            return [p for p in rows if prefix == "/" or p == prefix or p.startswith(base)]

    # create -------------------------------------------------------------------

    def create(
        self, new: ArtifactManifest, strategy: ConflictStrategy, make_folder: bool, writer: Principal | None = None,
    ) -> tuple[Artifact, bool]:
        """Insert a new version under the conflict strategy; returns (artifact, created).

        With ``skip`` (an existing live version) or an already-used idempotency key the
        existing artifact is returned with ``created=False``. With a ``writer``, the
        folder rules of `catalog.folders` apply and the artifact's group is resolved
        there (``new.group_id`` is a request); without one, it defaults to the folder's.

        Raises:
            FolderNotFound: the folder is missing and ``make_folder`` is false.
            ArtifactConflict: ``error`` and the name exists.
            PermissionDenied: ``writer`` may not create names in the folder.

        Example:
            ```python
            art, created = catalog.create(new, ConflictStrategy.SKIP, make_folder=True)
            ```
        """
        _check_manifest(new)
        # A ``new`` create inserts unconditionally, so a used key shows as a unique
        # violation (rare: a retry) instead of costing every create a lookup.
        look_up_key = strategy is not ConflictStrategy.NEW
        owner = self._known_folders.get(new.folder)
        if not look_up_key and owner is not None:
            group = artifact_group(new.folder, owner, new.group_id, writer, DEFAULT_GROUP)
            made = self._create_prepared(new.model_copy(update={"group_id": group}), _uploader(writer))
            if made is not None:
                return made
            look_up_key = bool(new.idempotency_key)  # the general path sorts the conflict out
        for _attempt in range(10):
            try:
                with self._write() as conn:
                    return self._create(conn, new, strategy, make_folder, look_up_key, writer)
            except ArtifactConflict as exc:
                violation = integrity_violation(exc)
                if violation is None:  # strategy "error", or a name of another group: not to retry
                    raise
                if new.idempotency_key and "idempotency_key" in violation:
                    look_up_key = True  # this key was used (maybe concurrently): return that artifact
                    continue
                if "unique" in violation.lower():  # SQLite "UNIQUE constraint", PG "unique constraint"
                    continue  # a concurrent writer took this version number or made the folder: retry
                raise
        raise ArtifactConflict(f"could not allocate a version for {new.folder}/{new.name}")

    def create_many(
        self, requests: Sequence[tuple[ArtifactManifest, ConflictStrategy, bool]], writer: Principal | None = None,
    ) -> list[tuple[Artifact, bool] | ArtifactError]:
        """`create` of many manifests in one write transaction (one durable flush); a result per request, in order.

        Consecutive ``new`` creates in known folders are inserted together (`_create_run`),
        every other request in its own savepoint: one that fails (a conflict under
        ``error``, a missing folder, a refused folder) is rolled back and reported as its
        error, and the others are committed together, with the answers one by one would
        give. An already-used idempotency key returns the existing artifact with
        ``created=False``, as `create` does.

        Example:
            ```python
            results = catalog.create_many([(m1, ConflictStrategy.NEW, True), (m2, ConflictStrategy.ERROR, True)])
            ```
        """
        out: list[tuple[Artifact, bool] | ArtifactError | None] = [None] * len(requests)
        valid: list[int] = []
        for i, (new, _strategy, _make) in enumerate(requests):
            try:
                _check_manifest(new)
                valid.append(i)
            except ArtifactError as exc:
                out[i] = exc
        if valid:
            uploader = _uploader(writer)  # asked once: the OS user's name is a passwd lookup
            with self._write() as conn:
                run: list[int] = []  # consecutive ``new`` creates in known folders: inserted together
                for i in valid:
                    if requests[i][1] is ConflictStrategy.NEW and requests[i][0].folder in self._known_folders:
                        run.append(i)
                        continue
                    self._create_run(conn, requests, run, out, writer, uploader)
                    run = []
                    out[i] = self._create_in_savepoint(conn, *requests[i], writer, uploader)
                self._create_run(conn, requests, run, out, writer, uploader)
        return [r for r in out if r is not None]

    def _create_run(self, conn: Connection, requests: Sequence[tuple[ArtifactManifest, ConflictStrategy, bool]],
                    run: list[int], out: list[Any], writer: Principal | None, uploader: str) -> None:
        """Create ``new`` requests of known folders with one INSERT per table for all (``out[i]``: each result).

        A request whose idempotency key is used (before, or earlier in the run) and every
        request of a run that meets a unique violation (a concurrent writer) go through
        `_create_in_savepoint` one by one instead, which sorts them out.
        """
        if not run:
            return
        cursor = conn.connection.cursor()
        keys = [k for i in run if (k := requests[i][0].idempotency_key)]
        used = {k for start in range(0, len(keys), 500) for k in conn.scalars(
            select(artifacts.c.idempotency_key).where(artifacts.c.idempotency_key.in_(keys[start:start + 500])))}
        one_by_one: list[int] = []
        items: list[tuple[int, ArtifactManifest]] = []
        for i in run:
            new = requests[i][0]
            if new.idempotency_key in used:
                one_by_one.append(i)  # returns the artifact the key made (or the run's own, made first)
                continue
            try:
                group = artifact_group(new.folder, self._known_folders[new.folder], new.group_id, writer, DEFAULT_GROUP)
            except ArtifactError as exc:
                out[i] = exc
                continue
            if new.idempotency_key:
                used.add(new.idempotency_key)  # a later item with this key answers with this one's artifact
            items.append((i, new.model_copy(update={"group_id": group})))
        self._prepared.lock_names(cursor, (f"{new.folder}//{new.name}" for _i, new in items))
        latest = self._latest_versions(conn, {(new.folder, new.name) for _i, new in items})
        made = []
        for i, new in items:
            latest[(new.folder, new.name)] = version = latest.get((new.folder, new.name), 0) + 1
            made.append((i, new, *_new_rows(new, version, uploader)))
        if made and self._prepared.write_bulk(cursor, [(row, children) for _i, _n, row, children, _r in made]):
            for i, new, row, _children, runs in made:
                out[i] = (_created(row, runs, new), True)
        else:
            one_by_one = sorted(one_by_one + [i for i, *_rest in made])
        for i in one_by_one:
            out[i] = self._create_in_savepoint(conn, *requests[i], writer, uploader)

    @staticmethod
    def _latest_versions(conn: Connection, names: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """The highest version of each (folder, name), deleted ones included (absent: none yet)."""
        latest: dict[tuple[str, str], int] = {}
        by_folder: dict[str, list[str]] = {}
        for folder, name in names:
            by_folder.setdefault(folder, []).append(name)
        for folder, wanted in by_folder.items():
            for start in range(0, len(wanted), 500):
                some = artifacts.c.name.in_(wanted[start:start + 500])
                rows = conn.execute(select(artifacts.c.name, func.max(artifacts.c.version))
                                    .where(artifacts.c.folder == folder, some).group_by(artifacts.c.name))
                latest.update(((folder, name), top) for name, top in rows)
        return latest

    def _create_in_savepoint(self, conn: Connection, new: ArtifactManifest, strategy: ConflictStrategy,
                             make_folder: bool, writer: Principal | None,
                             uploader: str) -> tuple[Artifact, bool] | ArtifactError:
        # As `create`: a ``new`` version in a known folder goes through the prepared statements,
        # inserted unconditionally (a used key shows as a unique violation, then is looked up).
        look_up_key = strategy is not ConflictStrategy.NEW
        owner = self._known_folders.get(new.folder)
        if not look_up_key and owner is not None:
            try:
                group = artifact_group(new.folder, owner, new.group_id, writer, DEFAULT_GROUP)
            except ArtifactError as exc:
                return exc
            new = new.model_copy(update={"group_id": group})
            row, children, runs = _new_rows(new, None, uploader)
            if self._prepared.write_in_savepoint(conn.connection.cursor(), new, row, children):
                return _created(row, runs, new), True
        look_up_key = look_up_key or bool(new.idempotency_key)
        for _attempt in range(3):
            savepoint = conn.begin_nested()
            try:
                made = self._create(conn, new, strategy, make_folder, look_up_key, writer)
            except ArtifactError as exc:
                savepoint.rollback()
                return exc
            except IntegrityError as exc:
                savepoint.rollback()
                if new.idempotency_key and "idempotency_key" in str(exc.orig) and not look_up_key:
                    look_up_key = True
                    continue
                return ArtifactConflict(f"{new.folder.rstrip('/')}/{new.name} could not be created: {exc.orig}")
            savepoint.commit()
            return made
        return ArtifactConflict(f"could not allocate a version for {new.folder}/{new.name}")

    def _create(
        self, conn: Connection, new: ArtifactManifest, strategy: ConflictStrategy, make_folder: bool,
        look_up_key: bool, writer: Principal | None,
    ) -> tuple[Artifact, bool]:
        if new.idempotency_key and look_up_key:
            existing = conn.scalar(select(artifacts.c.id).where(artifacts.c.idempotency_key == new.idempotency_key))
            if existing:
                return self._load(conn, existing, include_deleted=True), False
        if self.dialect == "postgresql":  # writers of one name queue here instead of retrying on conflicts
            conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"{new.folder}//{new.name}"))))
        new = new.model_copy(update={"group_id": self._prepare_folder(conn, new, make_folder, writer)})
        next_version: int | None = None  # None: allocated by the INSERT itself (one statement less)
        if strategy is not ConflictStrategy.NEW:
            same_name = and_(artifacts.c.folder == new.folder, artifacts.c.name == new.name)
            self._check_name_owners(conn, same_name, f"{new.folder.rstrip('/')}/{new.name}", strategy, writer)
            live_latest, any_latest = conn.execute(
                select(
                    func.max(artifacts.c.version).filter(artifacts.c.deleted.is_(None)),
                    func.max(artifacts.c.version),
                ).where(same_name)
            ).one()
            next_version = (any_latest or 0) + 1
            if live_latest is not None:
                if strategy is ConflictStrategy.SKIP:  # the caller's run links still apply
                    existing = conn.execute(select(artifacts.c.id).where(same_name, artifacts.c.version == live_latest)
                                            ).scalar_one()
                    for run_id, category in new.runs:
                        self._insert_run(conn, existing, run_id, category)
                    return self._load(conn, existing), False
                if strategy is ConflictStrategy.ERROR:
                    raise ArtifactConflict(
                        f"{new.folder.rstrip('/')}/{new.name} already exists (latest version {live_latest})"
                    )
                if strategy is ConflictStrategy.REPLACE:
                    self._soft_delete(conn, same_name)
        row, children, runs = _new_rows(new, next_version, _uploader(writer))
        if next_version is None:
            row["version"] = conn.execute(_INSERT_NEXT_VERSION, _without_version(row)).scalar_one()
        else:
            conn.execute(insert(artifacts), row)
        for table, rows in children:
            conn.execute(insert(table), rows)
        return _created(row, runs, new), True

    def _create_prepared(self, new: ArtifactManifest, uploader: str = "") -> tuple[Artifact, bool] | None:
        """A ``new`` version through the DB-API cursor; None on a unique violation."""
        prepared = self._prepared
        row, children, runs = _new_rows(new, None, uploader)
        with catalog_errors(self.engine):  # the raw DB-API path: translated like every other
            raw = self.engine.raw_connection()
            try:
                try:
                    with writer_lock(self.engine):
                        prepared.write(raw.cursor(), new, row, children)
                        raw.commit()
                except BaseException:
                    raw.rollback()
                    raise
            except prepared.integrity_error:
                return None  # a used idempotency key or a concurrent version number
            finally:
                raw.close()
        return _created(row, runs, new), True

    # reads --------------------------------------------------------------------

    @staticmethod
    def _to_artifact(row: Any, runs: list[RunLink]) -> Artifact:
        m = row if isinstance(row, dict) else row._mapping
        serializer = (
            SerializerRef(snapshot_id=m["serializer_snapshot_id"], task_name=m["serializer_task"])
            if m["serializer_snapshot_id"] else None
        )
        return Artifact(
            id=m["id"], name=m["name"], version=m["version"], folder=m["folder"],
            kind=ArtifactKind(m["kind"]), description=m["description"], labels=list(m["labels"] or []),
            mime_type=m["mime_type"], size=m["size"], checksum=m["checksum"], created=m["created"],
            modified=m["modified"], original_path=m["original_path"], group_id=m["group_id"],
            is_dir=bool(m["is_dir"]), file_count=m["file_count"], runs=runs, serializer=serializer,
            storage_id=None if m["kind"] == ArtifactKind.REFERENCE.value else (m["storage_id"] or DEFAULT_STORAGE),
        )

    def _runs_for(self, conn: Connection, ids: Sequence[str]) -> dict[str, list[RunLink]]:
        out: dict[str, list[RunLink]] = {i: [] for i in ids}
        if ids:
            rows = conn.execute(
                select(artifact_runs).where(artifact_runs.c.artifact_id.in_(ids))
                .order_by(artifact_runs.c.created, artifact_runs.c.run_id)
            )
            for r in rows:
                out[r.artifact_id].append(RunLink(run_id=r.run_id, category=RunCategory(r.category), created=r.created))
        return out

    def _load(self, conn: Connection, artifact_id: str, include_deleted: bool = False) -> Artifact:
        query = select(artifacts).where(artifacts.c.id == artifact_id)
        if not include_deleted:
            query = query.where(artifacts.c.deleted.is_(None))
        row = conn.execute(query).first()
        if row is None:
            raise ArtifactNotFound(f"no artifact with id {artifact_id}")
        return self._to_artifact(row, self._runs_for(conn, [artifact_id])[artifact_id])

    def get(self, artifact_id: str) -> Artifact:
        """A live artifact by id.

        Raises:
            ArtifactNotFound: no live artifact has this id.

        Example:
            ```python
            catalog.get(art.id)
            ```
        """
        with self._read() as conn:
            return self._load(conn, artifact_id)

    def resolve(self, ref: ParsedRef, group_ids: Sequence[str] | None = None) -> str:
        """The id a parsed reference points to.

        Raises:
            ArtifactNotFound: nothing matches.
            AmbiguousReference: a bare name exists in several folders.

        Example:
            ```python
            catalog.resolve(parse_ref("/team/data:latest"))
            ```
        """
        live = [artifacts.c.deleted.is_(None)]
        if group_ids is not None:
            live.append(artifacts.c.group_id.in_(group_ids))
        with self._read() as conn:
            if ref.id:
                found = conn.scalar(select(artifacts.c.id).where(artifacts.c.id == ref.id, *live))
                if found is None:
                    raise ArtifactNotFound(f"no artifact with id {ref.id}")
                return found
            folder = ref.folder or self._only_folder(conn, ref.name or "", live)
            where = [artifacts.c.folder == folder, artifacts.c.name == ref.name, *live]
            if ref.version is not None:
                where.append(artifacts.c.version == ref.version)
            elif ref.alias and ref.alias != "latest":
                alias_id = select(aliases.c.artifact_id).where(
                    aliases.c.folder == folder, aliases.c.name == ref.name, aliases.c.alias == ref.alias
                ).scalar_subquery()
                where.append(artifacts.c.id == alias_id)
            found = conn.scalar(select(artifacts.c.id).where(*where).order_by(artifacts.c.version.desc()).limit(1))
            if found is None:
                tag = ref.version if ref.version is not None else ref.alias
                raise ArtifactNotFound(f"no artifact {artifact_ref(folder, ref.name or '', tag)}")
            return found

    def _only_folder(self, conn: Connection, name: str, live: list[Any]) -> str:
        query = select(artifacts.c.folder).where(artifacts.c.name == name, *live).distinct().limit(5)
        found = list(conn.scalars(query))
        if not found:
            raise ArtifactNotFound(f"no artifact named {name!r}")
        if len(found) > 1:
            raise AmbiguousReference(
                f"{name!r} exists in several folders ({', '.join(sorted(found))}): "
                f"use '/folder/{quote_name(name)}'"
            )
        return found[0]

    def files(self, artifact_id: str) -> list[ArtifactFile]:
        """The file rows of an artifact, sorted by path.

        Example:
            ```python
            [f.path for f in catalog.files(art.id)]
            ```
        """
        with self._read() as conn:
            rows = conn.execute(
                select(artifact_files).where(artifact_files.c.artifact_id == artifact_id)
                .order_by(artifact_files.c.path)
            )
            return [ArtifactFile(path=r.path, size=r.size, checksum=r.checksum, mime_type=r.mime_type, uri=r.uri)
                    for r in rows]

    def file_digest(self, artifact_id: str, path: str) -> tuple[ArtifactFile, str | None]:
        """One file of an artifact and its blob digest (None for a reference).

        Raises:
            ArtifactNotFound: no such path in the artifact.

        Example:
            ```python
            meta, digest = catalog.file_digest(art.id, "a/b.txt")
            ```
        """
        with self._read() as conn:
            r = conn.execute(select(artifact_files).where(
                artifact_files.c.artifact_id == artifact_id, artifact_files.c.path == path)).first()
        if r is None:
            raise ArtifactNotFound(f"artifact {artifact_id} has no file {path!r}")
        return ArtifactFile(path=r.path, size=r.size, checksum=r.checksum, mime_type=r.mime_type, uri=r.uri), r.digest

    def file_digests(self, artifact_id: str, prefix: str = "") -> list[tuple[ArtifactFile, str | None]]:
        """Files (with digests) whose path is ``prefix`` or lies under it.

        Example:
            ```python
            catalog.file_digests(art.id, "plots")
            ```
        """
        query = select(artifact_files).where(artifact_files.c.artifact_id == artifact_id)
        if prefix:
            query = query.where(or_(artifact_files.c.path == prefix,
                                    artifact_files.c.path.startswith(prefix + "/", autoescape=True)))
        with self._read() as conn:
            rows = conn.execute(query.order_by(artifact_files.c.path))
            return [(ArtifactFile(path=r.path, size=r.size, checksum=r.checksum, mime_type=r.mime_type,
                                  uri=r.uri), r.digest) for r in rows]

    # listing ------------------------------------------------------------------

    def _filters(self, search: str | None, folder: str | None, group_id: str | None,
                 group_ids: Sequence[str] | None) -> list[Any]:
        where = [artifacts.c.deleted.is_(None), compile_search(search, self.dialect, group_ids)]
        if folder is not None:
            _check_text("folder", folder)  # the registries resolve it; a value the database cannot take is refused
            where.append(artifacts.c.folder == folder)
        if group_id is not None:
            _check_text("group", group_id)
            where.append(artifacts.c.group_id == group_id)
        if group_ids is not None:
            where.append(artifacts.c.group_id.in_(group_ids))
        return where

    def list(
        self, *, index: int = 0, page_length: int = 10, sort_by: str | None = None,
        descending: bool = False, search: str | None = None, group_id: str | None = None,
        folder: str | None = None, cursor: str | None = None, group_ids: Sequence[str] | None = None,
        total_limit: int | None = None,
    ) -> tuple[list[Artifact], int, str | None]:
        """One page of live artifacts: (artifacts, total, next cursor).

        ``total_limit`` counts at most that many matches plus one (a total over the limit
        means "more than"): a filtered count otherwise visits every match.

        Raises:
            InvalidArtifactInput: unknown ``sort_by`` or a bad cursor.
            SearchSyntaxError: a malformed ``search``.

        Example:
            ```python
            rows, total, cursor = catalog.list(search="name:abc*", page_length=50)
            ```
        """
        key = sort_by or "created"
        column: Any = SORTABLE.get(key)
        if column is None:
            raise InvalidArtifactInput(f"cannot sort by {sort_by!r}: use one of {', '.join(SORTABLE)}")
        if key == "size":  # references may have no size: page them as -1
            column = func.coalesce(artifacts.c.size, literal_column("-1"))  # a literal: the index expression
        where = self._filters(search, folder, group_id, group_ids)
        query = select(artifacts).where(*where)
        if cursor:
            value, last_id = _decode_cursor(cursor, key, descending)
            after = tuple_(column, artifacts.c.id)
            query = query.where(after < (value, last_id) if descending else after > (value, last_id))
        order = (column.desc(), artifacts.c.id.desc()) if descending else (column, artifacts.c.id)
        query = query.order_by(*order).limit(page_length + 1)
        if not cursor:
            query = query.offset(index)
        with self._read() as conn:
            rows = list(conn.execute(query))
            counted = select(artifacts.c.id).where(*where)
            if total_limit is not None:
                counted = counted.limit(total_limit + 1)
            total = conn.scalar(select(func.count()).select_from(counted.subquery())) or 0
            more = len(rows) > page_length
            rows = rows[:page_length]
            runs = self._runs_for(conn, [r.id for r in rows])
        data = [self._to_artifact(r, runs[r.id]) for r in rows]
        next_cursor = None
        if more and rows:
            last = getattr(rows[-1], key)
            next_cursor = _encode_cursor(key, descending, -1 if last is None and key == "size" else last, rows[-1].id)
        return data, total, next_cursor

    def count(self, search: str | None = None, folder: str | None = None,
              group_id: str | None = None, group_ids: Sequence[str] | None = None) -> int:
        """Number of live artifacts matching the filters.

        Example:
            ```python
            catalog.count("kind:file")
            ```
        """
        with self._read() as conn:
            where = self._filters(search, folder, group_id, group_ids)
            return conn.scalar(select(func.count()).select_from(artifacts).where(*where)) or 0

    def ids(self, count: int | None = None, offset: int = 0,
            group_ids: Sequence[str] | None = None) -> builtins.list[str]:
        """Ids of live artifacts, oldest first.

        Example:
            ```python
            catalog.ids(count=10)
            ```
        """
        query = select(artifacts.c.id).where(*self._filters(None, None, None, group_ids))
        query = query.order_by(artifacts.c.created, artifacts.c.id).offset(offset)
        if count is not None:
            query = query.limit(count)
        with self._read() as conn:
            return list(conn.scalars(query))

    # runs ---------------------------------------------------------------------

    def _insert_run(self, conn: Connection, artifact_id: str, run_id: str, category: RunCategory) -> RunLink:
        existing = conn.execute(select(artifact_runs.c.created).where(
            artifact_runs.c.artifact_id == artifact_id, artifact_runs.c.run_id == run_id,
            artifact_runs.c.category == category.value)).first()
        if existing:
            return RunLink(run_id=run_id, category=category, created=existing.created)
        now = utcnow()
        conn.execute(insert(artifact_runs), {"artifact_id": artifact_id, "run_id": run_id,
                                             "category": category.value, "created": now})
        return RunLink(run_id=run_id, category=category, created=now)

    def attach(self, artifact_id: str, run_id: str, category: RunCategory) -> RunLink:
        """Associate an artifact with a run (idempotent).

        Example:
            ```python
            catalog.attach(art.id, run_id, RunCategory.INPUT)
            ```
        """
        with self._write() as conn:
            self._load(conn, artifact_id)
            return self._insert_run(conn, artifact_id, run_id, category)

    def run_artifacts(self, run_id: str, category: RunCategory | None = None,
                      group_ids: Sequence[str] | None = None) -> builtins.list[Artifact]:
        """Live artifacts associated with a run, oldest first.

        Example:
            ```python
            catalog.run_artifacts(run_id, RunCategory.OUTPUT)
            ```
        """
        linked = select(artifact_runs.c.artifact_id).where(artifact_runs.c.run_id == run_id)
        if category is not None:
            linked = linked.where(artifact_runs.c.category == category.value)
        query = select(artifacts).where(artifacts.c.id.in_(linked), *self._filters(None, None, None, group_ids))
        with self._read() as conn:
            rows = list(conn.execute(query.order_by(artifacts.c.created, artifacts.c.id)))
            runs = self._runs_for(conn, [r.id for r in rows])
        return [self._to_artifact(r, runs[r.id]) for r in rows]

    def lineage(self, artifact_id: str, max_nodes: int = 500,
                group_ids: Sequence[str] | None = None) -> tuple[builtins.list[Artifact], builtins.list[LineageEdge]]:
        """Artifacts reachable through shared runs, and the run edges between them.

        Example:
            ```python
            arts, edges = catalog.lineage(report.id)
            ```
        """
        seen_artifacts, seen_runs = {artifact_id}, set[str]()
        frontier = {artifact_id}
        edges: dict[tuple[str, str, str], LineageEdge] = {}
        with self._read() as conn:
            while frontier and len(seen_artifacts) < max_nodes:
                links = list(conn.execute(select(artifact_runs).where(artifact_runs.c.artifact_id.in_(frontier))))
                new_runs = {r.run_id for r in links} - seen_runs
                seen_runs |= new_runs
                if not new_runs:
                    break
                peers = list(conn.execute(select(artifact_runs).where(artifact_runs.c.run_id.in_(new_runs))))
                for r in [*links, *peers]:
                    edges[(r.artifact_id, r.run_id, r.category)] = LineageEdge(
                        artifact_id=r.artifact_id, run_id=r.run_id, category=RunCategory(r.category))
                frontier = {r.artifact_id for r in peers} - seen_artifacts
                seen_artifacts |= frontier
            query = select(artifacts).where(artifacts.c.id.in_(seen_artifacts),
                                            *self._filters(None, None, None, group_ids))
            rows = list(conn.execute(query.order_by(artifacts.c.created)))
            runs = self._runs_for(conn, [r.id for r in rows])
        visible = {r.id for r in rows}
        return ([self._to_artifact(r, runs[r.id]) for r in rows],
                [e for e in edges.values() if e.artifact_id in visible])

    # metadata -----------------------------------------------------------------

    def add_aspect(self, artifact_id: str, content: dict[str, Any], schema_name: str | None,
                   policy: str | None) -> Aspect:
        """Store one metadata aspect and bump the artifact's modified time.

        Example:
            ```python
            catalog.add_aspect(art.id, {"rows": 3}, None, None)
            ```
        """
        with self._write() as conn:
            self._load(conn, artifact_id)
            now = utcnow()
            # Updating the row first locks it (PostgreSQL): concurrent adds to one artifact count in turn.
            conn.execute(update(artifacts).where(artifacts.c.id == artifact_id).values(modified=now))
            held, size = conn.execute(
                select(func.count(), func.coalesce(func.sum(func.length(cast(aspects.c.content, Text))), 0))
                .where(aspects.c.artifact_id == artifact_id)).one()
            check_aspect_budget(held + 1, size + len(json.dumps(content)))
            row = _aspect_row(artifact_id, content, schema_name, policy, now)
            conn.execute(insert(aspects), row)
            return Aspect(id=row["id"], schema_name=schema_name, content=content, policy=policy, created=now)

    def aspects(self, artifact_id: str) -> builtins.list[Aspect]:
        """Metadata aspects of an artifact, oldest first.

        Example:
            ```python
            catalog.aspects(art.id)
            ```
        """
        with self._read() as conn:
            rows = conn.execute(select(aspects).where(aspects.c.artifact_id == artifact_id)
                                .order_by(aspects.c.created, aspects.c.id))
            return [Aspect(id=r.id, schema_name=r.schema_name, content=r.content, policy=r.policy,
                           created=r.created) for r in rows]

    def add_transfer(self, artifact_id: str, action: TransferAction, writer: Principal | None = None,
                     local_path: str | None = None) -> Transfer:
        """Record an upload or download of a live artifact by ``writer`` (None: the OS user; seed 001's ``remote``).

        Example:
            ```python
            catalog.add_transfer(art.id, TransferAction.DOWNLOAD, None, "/tmp/data.csv")
            ```
        """
        user = _uploader(writer)[:128] or "user"
        with self._write() as conn:
            art = self._load(conn, artifact_id)
            transfer_id, now = new_id(), utcnow()
            conn.execute(insert(artifact_transfers).values(
                id=transfer_id, artifact_id=artifact_id, action=action.value, user_name=user, local_path=local_path,
                created=now))
            return Transfer(id=transfer_id, action=action, user=user, created=now, ref=art.ref, local_path=local_path)

    def transfers(self, artifact_id: str) -> builtins.list[Transfer]:
        """The upload and download history of a live artifact, oldest first.

        Example:
            ```python
            [t.action for t in catalog.transfers(art.id)]
            ```
        """
        with self._read() as conn:
            art = self._load(conn, artifact_id)
            rows = conn.execute(select(artifact_transfers).where(artifact_transfers.c.artifact_id == artifact_id)
                                .order_by(artifact_transfers.c.created, artifact_transfers.c.id))
            return [Transfer(id=r.id, action=TransferAction(r.action), user=r.user_name, created=r.created,
                             ref=art.ref, local_path=r.local_path) for r in rows]

    # changes ------------------------------------------------------------------

    def update(self, artifact_id: str, description: str | None = None,
               labels: builtins.list[str] | None = None) -> Artifact:
        """Change the description and/or labels of a live artifact.

        Example:
            ```python
            catalog.update(art.id, description="cleaned")
            ```
        """
        with self._write() as conn:
            self._load(conn, artifact_id)
            values: dict[str, Any] = {"modified": utcnow()}
            if description is not None:
                _check_text("description", description)
                values["description"] = description
            if labels is not None:
                values["labels"] = labels
                conn.execute(delete(artifact_labels).where(artifact_labels.c.artifact_id == artifact_id))
                if labels:
                    conn.execute(insert(artifact_labels), [{"artifact_id": artifact_id, "label": lb} for lb in labels])
            conn.execute(update(artifacts).where(artifacts.c.id == artifact_id).values(**values))
            art = self._load(conn, artifact_id)
        return art

    def set_alias(self, artifact_id: str, alias: str) -> None:
        """Point ``alias`` of the artifact's name at this version.

        Example:
            ```python
            catalog.set_alias(art.id, "production")
            ```
        """
        with self._write() as conn:
            art = self._load(conn, artifact_id)
            key = and_(aliases.c.folder == art.folder, aliases.c.name == art.name, aliases.c.alias == alias)
            conn.execute(delete(aliases).where(key))
            conn.execute(insert(aliases), {"folder": art.folder, "name": art.name, "alias": alias,
                                           "artifact_id": artifact_id})

    def _soft_delete(self, conn: Connection, where: Any) -> None:
        ids = list(conn.scalars(select(artifacts.c.id).where(where, artifacts.c.deleted.is_(None))))
        if ids:
            conn.execute(update(artifacts).where(artifacts.c.id.in_(ids)).values(deleted=utcnow()))
            conn.execute(delete(aliases).where(aliases.c.artifact_id.in_(ids)))

    def delete(self, artifact_id: str) -> None:
        """Hide an artifact from every query (rows are purged by `purge_deleted`).

        Raises:
            ArtifactNotFound: no live artifact has this id.

        Example:
            ```python
            catalog.delete(art.id)
            ```
        """
        with self._write() as conn:
            self._load(conn, artifact_id)
            self._soft_delete(conn, artifacts.c.id == artifact_id)

    # garbage collection -------------------------------------------------------

    def purge_deleted(self) -> int:
        """Drop the file, label and aspect rows of deleted artifacts; returns how many.

        The artifact row stays as a tombstone so version numbers are never reused.

        Example:
            ```python
            catalog.purge_deleted()
            ```
        """
        with self._write() as conn:
            dead = select(artifacts.c.id).where(artifacts.c.deleted.is_not(None))
            purged = conn.scalar(select(func.count()).select_from(artifacts).where(
                artifacts.c.deleted.is_not(None), artifacts.c.file_count > 0)) or 0
            conn.execute(delete(artifact_files).where(artifact_files.c.artifact_id.in_(dead)))
            conn.execute(delete(artifact_labels).where(artifact_labels.c.artifact_id.in_(dead)))
            conn.execute(delete(aspects).where(aspects.c.artifact_id.in_(dead)))
            conn.execute(delete(artifact_transfers).where(artifact_transfers.c.artifact_id.in_(dead)))
            conn.execute(update(artifacts).where(artifacts.c.deleted.is_not(None), artifacts.c.file_count > 0)
                         .values(file_count=0))
            return purged

    def has_file_of_size(self, size: int) -> bool:
        """Whether any catalogued stored file has exactly ``size`` bytes (an index probe).

        Example:
            ```python
            catalog.has_file_of_size(1 << 30)
            ```
        """
        with self._read() as conn:
            query = select(artifact_files.c.size).where(artifact_files.c.size == size,
                                                        artifact_files.c.digest.is_not(None)).limit(1)
            return conn.execute(query).first() is not None

    def referenced(self, digests: Sequence[str], live_only: bool = False) -> set[str]:
        """Which of ``digests`` catalogued files still reference (``live_only``: of live artifacts).

        Example:
            ```python
            catalog.referenced([d1, d2])
            ```
        """
        found: set[str] = set()
        with self._read() as conn:
            for i in range(0, len(digests), 500):
                batch = list(digests[i:i + 500])
                query = select(artifact_files.c.digest).where(artifact_files.c.digest.in_(batch))
                if live_only:
                    query = query.join(artifacts, artifacts.c.id == artifact_files.c.artifact_id).where(
                        artifacts.c.deleted.is_(None))
                found |= set(conn.scalars(query))
                for column in BLOB_REFERENCES[1:]:
                    found |= set(conn.scalars(select(column).where(column.in_(batch))))
        return found

    # plugin snapshots -----------------------------------------------------------

    def create_snapshot(self, plugin_name: str, version: str | None, digest: str,
                        files: Sequence[SnapshotFile], group_id: str | None = None) -> PluginSnapshot:
        """Insert a plugin snapshot, or return the existing one with the same digest.

        Example:
            ```python
            catalog.create_snapshot("json", "1.0", digest, [SnapshotFile(path="m.py", checksum=d, size=10)])
            ```
        """
        if not plugin_name:
            raise InvalidArtifactInput("a plugin snapshot needs a plugin name")
        _check_text("plugin name", plugin_name, max_length(plugin_snapshots.c.plugin_name))
        _check_text("plugin version", version, max_length(plugin_snapshots.c.version))
        for _attempt in range(3):
            try:
                with self._write() as conn:
                    existing = conn.scalar(select(plugin_snapshots.c.id).where(plugin_snapshots.c.digest == digest))
                    if existing:
                        return self._snapshot(conn, existing)
                    snapshot_id, now = new_id(), utcnow()
                    conn.execute(insert(plugin_snapshots), {
                        "id": snapshot_id, "plugin_name": plugin_name, "version": version, "digest": digest,
                        "group_id": group_id or DEFAULT_GROUP, "created": now})
                    conn.execute(insert(plugin_snapshot_files), [
                        {"snapshot_id": snapshot_id, "path": f.path, "size": f.size, "digest": f.checksum}
                        for f in files])
                    return self._snapshot(conn, snapshot_id)
            except ArtifactConflict as exc:
                if integrity_violation(exc) is None:
                    raise
                continue  # a concurrent writer stored the same snapshot: read it
        raise ArtifactConflict(f"could not store plugin snapshot {digest}")

    def _snapshot(self, conn: Connection, snapshot_id: str) -> PluginSnapshot:
        row = conn.execute(select(plugin_snapshots).where(plugin_snapshots.c.id == snapshot_id)).first()
        if row is None:
            raise ArtifactNotFound(f"no plugin snapshot with id {snapshot_id}")
        files = conn.execute(select(plugin_snapshot_files).where(plugin_snapshot_files.c.snapshot_id == snapshot_id)
                             .order_by(plugin_snapshot_files.c.path))
        return PluginSnapshot(id=row.id, plugin_name=row.plugin_name, version=row.version, digest=row.digest,
                              created=row.created,
                              files=[SnapshotFile(path=f.path, checksum=f.digest, size=f.size) for f in files])

    def get_snapshot(self, snapshot_id: str) -> PluginSnapshot:
        """A plugin snapshot by id.

        Raises:
            ArtifactNotFound: no snapshot has this id.

        Example:
            ```python
            catalog.get_snapshot(art.serializer.snapshot_id)
            ```
        """
        with self._read() as conn:
            return self._snapshot(conn, snapshot_id)
