"""`ReadCache`: what was read from a server, kept to be read again while it is unreachable.

Under ``<PREFECT_ARTIFACTS_HOME>/cache/<hash of the server URL>/``:

- ``blobs/``: a `LocalContentStore` (content addressed by SHA-256, every read verified);
  a whole-file read from the server fills it as it streams (a temporary file, adopted
  into the store once the download verified it, never the whole file in memory);
- ``catalog.sqlite``: the catalog entries read (the `Artifact` JSON with its files),
  keyed by id, and the refs each was fetched under (``/team/data:latest`` → the id it
  resolved to then).

**Bound and eviction.** Blobs are bounded by the ``cache_bytes`` setting
(``PREFECT_ARTIFACTS_CACHE_BYTES``, default 1 GiB; 0 disables the cache). A read of a
cached blob refreshes its modification time; past the bound the blobs least recently
used (oldest modification time) are deleted first. Catalog entries are small and kept:
an entry whose content was evicted still answers `get`, and a read of it says that only
its content is missing.

**Verification.** Each read re-hashes the blob (the last chunk waits for the check); a
blob that does not match its digest is deleted and the read raises
`ArtifactIntegrityError`: a corrupted cached blob is never served.

Example:
    ```python
    cache = ReadCache.for_server("http://127.0.0.1:4300/api/v1")
    cache.entry("/team/data:latest")   # the Artifact last read under that ref, or None
    ```
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, insert, select

from prefect_artifacts._paths import parse_ref
from prefect_artifacts.catalog.engine import create_catalog_engine
from prefect_artifacts.catalog.schema import artifact_labels, artifact_runs, artifacts, aspects, metadata
from prefect_artifacts.catalog.sql import SqlCatalog
from prefect_artifacts.errors import ArtifactIntegrityError
from prefect_artifacts.models import Artifact, ArtifactFile
from prefect_artifacts.settings import ArtifactSettings, get_settings
from prefect_artifacts.storage.local import LocalContentStore

__all__ = ["OfflineListing", "ReadCache", "cache_path"]


def cache_path(api_url: str, settings: ArtifactSettings | None = None) -> Path:
    """The cache folder of a server: ``<home>/cache/<first 16 hex of sha256(url)>``.

    Example:
        ```python
        cache_path("http://127.0.0.1:4300/api/v1")  # ~/.prefect-artifacts/cache/3f1c…
        ```
    """
    settings = settings or get_settings()
    digest = hashlib.sha256(api_url.rstrip("/").encode()).hexdigest()[:16]
    return Path(settings.home).expanduser() / "cache" / digest


class ReadCache:
    """A size-bounded, verified, least-recently-used cache of a server's catalog entries and content.

    Args:
        root: the cache folder.
        max_bytes: bound of the cached blobs (least recently used evicted past it).

    Example:
        ```python
        cache = ReadCache(Path("/tmp/cache"), max_bytes=1 << 30)
        chunks = cache.fill(digest, server_chunks)   # yields them, keeps a copy
        b"".join(cache.open(digest) or [])            # verified, or None when not cached
        ```
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(exist_ok=True)
        self.store = LocalContentStore(str(self.root / "blobs"), durable=False)
        self._db = self.root / "catalog.sqlite"
        self._evict_lock = threading.Lock()
        self._approx_bytes: int | None = None  # cached bytes as this process last counted them, plus its fills
        with closing(self._connect()) as conn, conn:
            conn.execute("CREATE TABLE IF NOT EXISTS entries (id TEXT PRIMARY KEY, body TEXT NOT NULL,"
                         " fetched REAL NOT NULL)")
            conn.execute("CREATE TABLE IF NOT EXISTS refs (ref TEXT PRIMARY KEY, id TEXT NOT NULL)")
            conn.execute("CREATE TABLE IF NOT EXISTS extras (kind TEXT NOT NULL, key TEXT NOT NULL,"
                         " body TEXT NOT NULL, PRIMARY KEY (kind, key))")

    @classmethod
    def for_server(cls, api_url: str, settings: ArtifactSettings | None = None) -> ReadCache | None:
        """The cache of a server under the home, or None when ``cache_bytes`` is 0.

        Example:
            ```python
            ReadCache.for_server("http://127.0.0.1:4300/api/v1")
            ```
        """
        settings = settings or get_settings()
        if settings.cache_bytes <= 0:
            return None
        return cls(cache_path(api_url, settings), settings.cache_bytes)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._db, timeout=30.0)

    # -- catalog entries -----------------------------------------------------------

    def remember(self, art: Artifact, files: builtins.list[ArtifactFile], refs: Iterable[str] = ()) -> None:
        """Keep ``art`` (with ``files``) by id, and as what ``refs`` resolve to.

        Example:
            ```python
            cache.remember(art, art.files, ["/team/data:latest"])
            ```
        """
        body = json.dumps({"artifact": art.model_dump(mode="json", by_alias=False),
                           "files": [f.model_dump(mode="json", by_alias=False) for f in files]})
        names = {art.id, art.ref, *refs}
        with closing(self._connect()) as conn, conn:
            conn.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?)", (art.id, body, time.time()))
            conn.executemany("INSERT OR REPLACE INTO refs VALUES (?, ?)", [(r, art.id) for r in names])

    def entry(self, ref: str) -> Artifact | None:
        """The artifact ``ref`` named when it was last read (by id: that artifact), or None.

        Example:
            ```python
            cache.entry(art.id).files
            ```
        """
        try:
            parsed = parse_ref(ref)
        except ValueError:
            parsed = None
        key = parsed.id if parsed is not None and parsed.id else ref
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT e.body FROM entries e WHERE e.id = (SELECT id FROM refs WHERE ref = ?)"
                               " OR e.id = ?", (key, key)).fetchone()
        return None if row is None else _load(row[0])

    def entries(self) -> builtins.list[Artifact]:
        """Every cached catalog entry, oldest created first.

        Example:
            ```python
            [a.ref for a in cache.entries()]
            ```
        """
        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT body FROM entries").fetchall()
        return sorted((_load(r[0]) for r in rows), key=lambda a: (a.created, a.version))

    def put_json(self, kind: str, key: str, value: object) -> None:
        """Keep another answer of the server (metadata aspects, plugin snapshots) as JSON.

        Example:
            ```python
            cache.put_json("metadata", art.id, [a.model_dump(mode="json") for a in aspects])
            ```
        """
        with closing(self._connect()) as conn, conn:
            conn.execute("INSERT OR REPLACE INTO extras VALUES (?, ?, ?)", (kind, key, json.dumps(value)))

    def get_json(self, kind: str, key: str) -> object | None:
        """An answer kept by `put_json`, or None.

        Example:
            ```python
            cache.get_json("metadata", art.id)
            ```
        """
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT body FROM extras WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return None if row is None else json.loads(row[0])

    # -- content -------------------------------------------------------------------

    def has(self, digest: str) -> bool:
        """Whether the blob ``digest`` is cached.

        Example:
            ```python
            cache.has(art.checksum)
            ```
        """
        return self.store.exists(digest)

    def open(self, digest: str, chunk_size: int) -> Iterator[bytes] | None:
        """The cached blob ``digest``, verified as it is read (None when not cached).

        A read marks the blob as recently used. A blob that does not hash to its name is
        deleted and `ArtifactIntegrityError` raised before its last chunk.

        Example:
            ```python
            chunks = cache.open(digest, 1 << 20)
            ```
        """
        if not self.store.exists(digest):
            return None
        self.store.touch(digest)
        return self._verified(digest, chunk_size)

    def _verified(self, digest: str, chunk_size: int) -> Iterator[bytes]:
        try:
            yield from self.store.read(digest, chunk_size)
        except ArtifactIntegrityError as exc:
            self.store.delete(digest)
            raise ArtifactIntegrityError(f"the cached copy of {digest} was corrupt and is dropped: {exc.message}"
                                         ) from exc

    def fill(self, digest: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """Yield ``chunks`` (a verified download of blob ``digest``) and keep a copy once all were read.

        The copy goes to a temporary file as the chunks pass, and is adopted into the
        store (hashed again: kept only if it is ``digest``) after the last one; a download
        stopped early or failed leaves nothing. Then blobs past the bound are evicted.

        Example:
            ```python
            for chunk in cache.fill(digest, server_chunks):
                sink.write(chunk)
            ```
        """
        if self.store.exists(digest):
            self.store.touch(digest)
            yield from chunks
            return
        tmp = self.root / "tmp" / f"{uuid.uuid4().hex}.part"
        complete = False
        try:
            with open(tmp, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    yield chunk
            complete = True
        finally:
            if not complete:
                tmp.unlink(missing_ok=True)
        try:
            info = self.store.adopt_file(tmp, sync=False)
        finally:
            tmp.unlink(missing_ok=True)
        if info.digest != digest:
            self.store.delete(info.digest)
            return
        self._grew(info.size if info.written else 0)

    def put_bytes(self, data: bytes) -> str:
        """Keep small content (a plugin snapshot file); its digest.

        Example:
            ```python
            digest = cache.put_bytes(b"print(1)")
            ```
        """
        info = self.store.put_bytes(data, sync=False)
        self._grew(info.size if info.written else 0)
        return info.digest

    def _grew(self, size: int) -> None:
        """Count a new blob; evict once the count (walked again then) passes the bound."""
        with self._evict_lock:
            if self._approx_bytes is not None:
                self._approx_bytes += size
            over = self._approx_bytes is None or self._approx_bytes > self.max_bytes
        if over:
            self.evict()

    def evict(self) -> int:
        """Delete the least recently used blobs until the cached blobs fit ``max_bytes``; bytes freed.

        Example:
            ```python
            cache.evict()
            ```
        """
        with self._evict_lock:
            blobs = sorted(self.store.iter_blobs(), key=lambda b: b[2])  # oldest use first
            total = sum(size for _, size, _ in blobs)
            freed = 0
            for digest, size, _mtime in blobs:
                if total - freed <= self.max_bytes:
                    break
                with contextlib.suppress(OSError):
                    self.store.delete(digest)
                    freed += size
            self._approx_bytes = total - freed  # other processes' fills are counted at the next walk
            return freed

    def size(self) -> int:
        """Bytes of the cached blobs.

        Example:
            ```python
            cache.size() <= cache.max_bytes
            ```
        """
        return sum(size for _, size, _ in self.store.iter_blobs())


def _load(body: str) -> Artifact:
    data = json.loads(body)
    art = Artifact.model_validate(data["artifact"])
    return art.with_files([ArtifactFile.model_validate(f) for f in data["files"]])



class OfflineListing(SqlCatalog):
    """A throwaway in-memory catalog of the outbox's artifacts and the cached entries, to list offline.

    It holds the rows `SqlCatalog.list` and `SqlCatalog.count` read (artifacts, labels,
    run links, metadata aspects), so offline listings search, sort and page exactly as
    the catalog does, cursors included.

    Example:
        ```python
        page = OfflineListing(outbox.catalog.engine, cache.entries(), cache).list(search="label:raw")
        ```
    """

    def __init__(self, outbox_engine: Engine, cached: Iterable[Artifact], cache: ReadCache | None = None) -> None:
        # no migration: only the tables a listing reads, made here
        self.url = "sqlite://"
        self.engine = create_catalog_engine("sqlite://", durable=False)
        self.dialect = self.engine.dialect.name
        tables = [artifacts, artifact_labels, artifact_runs, aspects]
        metadata.create_all(self.engine, tables=tables)
        seen: set[str] = set()
        with outbox_engine.connect() as src, self.engine.begin() as dst:
            for table in tables:
                rows = [dict(r._mapping) for r in src.execute(select(table))]
                if table is artifacts:
                    rows = [r for r in rows if r["deleted"] is None]
                    seen.update(r["id"] for r in rows)
                else:
                    rows = [r for r in rows if r["artifact_id"] in seen]
                if rows:
                    dst.execute(insert(table), rows)
            for art in cached:
                if art.id in seen:
                    continue
                seen.add(art.id)
                dst.execute(insert(artifacts), [_artifact_row(art)])
                if art.labels:
                    dst.execute(insert(artifact_labels), [{"artifact_id": art.id, "label": lb} for lb in art.labels])
                if art.runs:
                    dst.execute(insert(artifact_runs), [{"artifact_id": art.id, "run_id": r.run_id,
                                                         "category": r.category.value, "created": r.created}
                                                        for r in art.runs])
                found = cache.get_json("metadata", art.id) if cache is not None else None
                if isinstance(found, builtins.list) and found:
                    dst.execute(insert(aspects), [{
                        "id": a["id"], "artifact_id": art.id, "schema_name": a.get("schema_name"),
                        "content": a["content"], "policy": a.get("policy"), "created": _when(a["created"]),
                    } for a in found])


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _artifact_row(art: Artifact) -> dict[str, object]:
    return {
        "id": art.id, "group_id": art.group_id or "", "folder": art.folder, "name": art.name,
        "version": art.version, "kind": art.kind.value, "is_dir": art.is_dir, "file_count": art.file_count,
        "description": art.description, "labels": builtins.list(art.labels), "mime_type": art.mime_type,
        "size": art.size, "checksum": art.checksum, "original_path": art.original_path,
        "serializer_snapshot_id": art.serializer.snapshot_id if art.serializer else None,
        "serializer_task": art.serializer.task_name if art.serializer else None, "idempotency_key": None,
        "created": art.created, "modified": art.modified, "deleted": None,
    }
