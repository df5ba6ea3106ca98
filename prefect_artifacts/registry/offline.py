"""`OfflineRegistry`: an outbox registry (embedded catalog + store) that replays to a server.

Writes go to an *outbox*: a `LocalRegistry` (SQLite catalog and local blobs) under
``<PREFECT_ARTIFACTS_HOME>/outbox/<hash of the server URL>/``, so they get the same
validation and errors as online. `OfflineRegistry.push_outbox` (the CLI's
``prefect-artifacts sync``, the ``sync_outbox`` task) replays the outbox to the server.

**Identifiers.** An artifact created offline keeps the UUID its outbox gave it (UUIDs do
not collide with the server's) and its refs (``/folder/name:N``, ``/folder/name:alias``)
number versions within the outbox. Every artifact in the outbox is an offline one:
`OfflineRegistry.is_offline` says whether an id is. Sync records, per offline id, the id
the server gave it (`OfflineRegistry.mapping`, `OfflineRegistry.server_id`).

**Outbox layout.** ``catalog.sqlite`` and ``blobs/`` (the outbox `LocalRegistry`), and
``sync.sqlite``, the ledger: the conflict strategy each offline artifact was written
with (the catalog does not keep it) and the mapping of synced ids, one committed row per
artifact that landed.

**Exactly once.** Sync replays the outbox in creation order. Each create carries an
idempotency key derived from the offline artifact (its own key when the writer gave one,
so a Prefect task that tried online first and then wrote offline lands once; else
``offline-sync:<offline id>``): a create the server already made with that key returns
that artifact instead of a new one. Everything else a replay sends is idempotent too:
blobs are content-addressed (the server is asked first and gets only what it lacks),
plugin snapshots are the same snapshot for the same files, aliases point at one version.
The mapping row is committed after the server answered; a sync killed anywhere before it
replays that artifact again and gets the same server artifact back. So a sync killed at
any point and started again creates nothing twice, and loses nothing (an artifact is
marked synced only once the server holds it, its metadata, runs and aliases).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel, Field
from sqlalchemy import select

from prefect_artifacts._paths import artifact_ref, parse_ref
from prefect_artifacts.batches import BatchJob
from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.catalog.schema import aliases as aliases_table
from prefect_artifacts.catalog.schema import artifact_files as files_table
from prefect_artifacts.catalog.schema import artifacts as artifacts_table
from prefect_artifacts.catalog.schema import aspects as aspects_table
from prefect_artifacts.catalog.sql import DEFAULT_GROUP
from prefect_artifacts.draft import ArtifactDraft
from prefect_artifacts.errors import (
    ArtifactConflict,
    ArtifactError,
    ArtifactNotFound,
    InvalidArtifactInput,
    InvalidOperation,
    OfflineError,
    StorageError,
)
from prefect_artifacts.models import (
    Artifact,
    ArtifactFile,
    ArtifactKind,
    ArtifactManifest,
    Aspect,
    AspectSchema,
    BundleType,
    ConflictStrategy,
    GcReport,
    Lineage,
    ManifestFile,
    Page,
    PluginSnapshot,
    RunCategory,
    RunLink,
    SerializerRef,
    Transfer,
)
from prefect_artifacts.registry.base import (
    _STORAGE,
    Registry,
    _Location,
    check_position,
    parse_strategy,
    slice_stream,
)
from prefect_artifacts.registry.cache import OfflineListing, ReadCache
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.registry.spec import RegistrySpec, forget_registry
from prefect_artifacts.settings import ArtifactSettings, get_settings
from prefect_artifacts.storage.content_store import BlobInfo

__all__ = ["OfflineMode", "OfflineRegistry", "SyncConflict", "SyncFailure", "SyncReport", "outbox_path",
           "with_outbox"]

logger = logging.getLogger("prefect_artifacts.offline")

T = TypeVar("T")

#: ``True``: always write to the outbox; ``"auto"``: the server while it answers, else the outbox.
OfflineMode = bool | Literal["auto"]

#: Seconds an ``"auto"`` registry stays offline after the server did not answer, before trying it again.
RETRY_ONLINE_AFTER = 30.0

#: Artifacts whose files, metadata, key and aliases a sync reads from the outbox in one go, just before replaying them.
REPLAY_BATCH = 64


class SyncConflict(BaseModel):
    """An offline artifact the server refused under its conflict strategy (not synced; reported again next time).

    Example:
        ```python
        for c in report.conflicts:
            print(c.ref, c.strategy, c.server_answer)
        ```
    """

    offline_id: str
    ref: str
    strategy: ConflictStrategy
    server_answer: str


class SyncFailure(BaseModel):
    """An offline artifact that could not be replayed (not synced; tried again next time).

    Example:
        ```python
        for e in report.errors:
            print(e.ref, e.error)
        ```
    """

    offline_id: str
    ref: str
    error: str


class SyncReport(BaseModel):
    """What a sync of an outbox did (or, with ``dry_run``, would do).

    ``mapping`` holds every offline id the server holds now (offline id → server id),
    synced by this call or an earlier one; ``created`` the offline ids this call replayed
    (with ``dry_run``: would replay), whether the server made the version now or answered
    with one it had made under the same key (a sync killed after the create) or, under
    ``conflict_strategy="skip"``, with the version of that name it already held;
    ``skipped`` those synced before (recorded in the outbox); ``unreachable`` that the
    server stopped answering, so the sync stopped there and the rest waits, in order,
    for the next one (the last of ``errors`` says how it failed).

    Example:
        ```python
        report = reg.push_outbox()
        report.mapping[offline_art.id]   # the server's id of that artifact
        ```
    """

    dry_run: bool = False
    mapping: dict[str, str] = Field(default_factory=dict)
    created: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    conflicts: list[SyncConflict] = Field(default_factory=list)
    errors: list[SyncFailure] = Field(default_factory=list)
    unreachable: bool = False

    @property
    def ok(self) -> bool:
        """Whether nothing was refused or failed.

        Example:
            ```python
            assert reg.push_outbox().ok
            ```
        """
        return not self.conflicts and not self.errors


def outbox_path(api_url: str, settings: ArtifactSettings | None = None) -> Path:
    """The outbox folder of a server: ``<home>/outbox/<first 16 hex of sha256(url)>``.

    Example:
        ```python
        outbox_path("http://127.0.0.1:4300/api/v1")  # ~/.prefect-artifacts/outbox/3f1c…
        ```
    """
    settings = settings or get_settings()
    digest = hashlib.sha256(api_url.rstrip("/").encode()).hexdigest()[:16]
    return Path(settings.home).expanduser() / "outbox" / digest


class _Ledger:
    """``sync.sqlite``: each offline artifact's conflict strategy, and the ids synced so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")  # persistent; commits need no fsync with synchronous=NORMAL
            with conn:
                conn.execute("CREATE TABLE IF NOT EXISTS strategies (offline_id TEXT PRIMARY KEY,"
                             " strategy TEXT NOT NULL)")
                conn.execute("CREATE TABLE IF NOT EXISTS synced (offline_id TEXT PRIMARY KEY,"
                             " server_id TEXT NOT NULL, server_ref TEXT NOT NULL, synced_at TEXT NOT NULL)")
                conn.execute("CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        # WAL + NORMAL: a committed row survives the process being killed; one lost to a power
        # cut only makes the next sync replay that artifact, and its idempotency key returns
        # the server's artifact again (nothing is created twice). Saves an fsync per artifact.
        conn = sqlite3.connect(self.path, timeout=30.0)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def set_strategy(self, offline_id: str, strategy: ConflictStrategy) -> None:
        with closing(self._connect()) as conn, conn:
            conn.execute("INSERT OR IGNORE INTO strategies VALUES (?, ?)", (offline_id, strategy.value))

    def session(self) -> closing[sqlite3.Connection]:
        """One connection for many `strategy`/`record` calls (a sync): closing the last one checkpoints the WAL."""
        return closing(self._connect())

    def strategy(self, offline_id: str, conn: sqlite3.Connection | None = None) -> ConflictStrategy:
        with closing(self._connect()) if conn is None else nullcontext(conn) as db:
            row = db.execute("SELECT strategy FROM strategies WHERE offline_id = ?", (offline_id,)).fetchone()
        return ConflictStrategy(row[0]) if row else ConflictStrategy.NEW

    def record(self, offline_id: str, server_id: str, server_ref: str, conn: sqlite3.Connection | None = None) -> None:
        when = datetime.now(timezone.utc).isoformat()
        with closing(self._connect()) if conn is None else nullcontext(conn) as db, db:  # one committed row
            db.execute("INSERT OR REPLACE INTO synced VALUES (?, ?, ?, ?)", (offline_id, server_id, server_ref, when))

    def fact(self, key: str, value: str | None = None) -> str | None:
        """What was last learned about the server (``value`` given: learn it)."""
        with closing(self._connect()) as conn, conn:
            if value is not None:
                conn.execute("INSERT OR REPLACE INTO facts VALUES (?, ?)", (key, value))
                return value
            row = conn.execute("SELECT value FROM facts WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def server_of(self, offline_id: str) -> str | None:
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT server_id FROM synced WHERE offline_id = ?", (offline_id,)).fetchone()
        return row[0] if row else None

    def mapping(self) -> dict[str, str]:
        with closing(self._connect()) as conn:
            return dict(conn.execute("SELECT offline_id, server_id FROM synced").fetchall())


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the server did not answer (and, for a create, surely did not act)."""
    import httpx

    if not isinstance(exc, StorageError):
        return False
    cause = exc.__cause__
    if isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return True  # never sent
    if isinstance(cause, httpx.TransportError):
        try:
            method = cause.request.method
        except RuntimeError:
            return False
        return method != "POST"  # a lost answer to a create: its outcome is unknown, not "offline"
    return False


class OfflineRegistry(Registry):
    """A registry that writes to a local outbox when offline, and replays it to the server with `push_outbox`.

    With ``mode=True`` every write goes to the outbox. With ``mode="auto"`` calls go to
    the server while it answers; when it does not (it can not be reached), the call is
    made on the outbox instead, a WARNING is logged once, and the registry stays offline
    for `RETRY_ONLINE_AFTER` seconds before trying the server again. A create whose
    request was sent but whose answer was lost is not redone offline (the server may
    have made it): its error is raised.

    Reads by id look in the outbox, then the server. Name refs look in the outbox first
    with ``mode=True``, the server first with ``"auto"`` (while it answers). Writes to an
    existing artifact (runs, metadata, aliases, labels) go where it lives; those made to
    an offline artifact after it was synced stay in the outbox. A server that did not
    answer is not asked again for `RETRY_ONLINE_AFTER` seconds (`push_outbox` always
    asks); what the outbox does not hold is then `ArtifactNotFound`, saying so.

    Args:
        server: the registry to replay to (an `HttpRegistry`).
        mode: ``True`` or ``"auto"``.
        outbox: the outbox registry; default: a `LocalRegistry` under `outbox_path`.
        settings: limits and defaults (default: the server's).
        cache: the read-through cache of what was read from the server; default: a
            `ReadCache` under ``<home>/cache/`` bounded by the ``cache_bytes`` setting (0: none).

    **Reading offline.** What the server answered (catalog entries with their files,
    metadata, plugin snapshots, and the content of whole-file reads, as it streams) is
    kept in the cache. When the server can not be reached, reads the outbox does not
    answer are served from the cache (verified); what it does not hold raises
    `OfflineError`, naming the ref and whether its entry or only its content is missing.
    Listings offline cover the outbox and the cached entries and log once that they may
    be incomplete.

    Example:
        ```python
        reg = OfflineRegistry(HttpRegistry("http://127.0.0.1:4300/api/v1"), mode=True)
        art = reg.upload_file("data.csv", name="my-data", folder="/team")   # in the outbox
        report = reg.push_outbox()            # later, with the server up
        report.mapping[art.id]                # the server's id
        ```
    """

    def __init__(
        self, server: Registry, mode: OfflineMode = True, outbox: LocalRegistry | None = None,
        settings: ArtifactSettings | None = None, cache: ReadCache | None = None,
    ) -> None:
        if mode is False or mode not in (True, "auto"):
            raise InvalidArtifactInput(f"offline mode must be True or 'auto', not {mode!r}")
        settings = settings or server.settings
        super().__init__(settings, use_digest_cache=False)
        self.server = server
        self.mode: OfflineMode = mode
        api_url = getattr(server, "api_url", None)
        if outbox is None:
            if api_url is None:
                raise InvalidArtifactInput("an outbox is needed for a server without an api_url")
            folder = outbox_path(api_url, settings)
            folder.mkdir(parents=True, exist_ok=True)
            # One store: the named ones (PREFECT_ARTIFACTS_STORAGES) are the server's business, and an
            # outbox's gc must never sweep a store it shares with others.
            outbox = LocalRegistry.from_urls(str(folder / "blobs"), sqlite_url(folder / "catalog.sqlite"),
                                             settings=settings, stores={})
        self.outbox = outbox
        if cache is None and api_url is not None:
            cache = ReadCache.for_server(api_url, settings)
        self.cache = cache
        self._warned_listing = False
        self._ledger = _Ledger(Path(_catalog_folder(outbox)) / "sync.sqlite")
        self._offline_until = 0.0
        self._state_lock = threading.Lock()
        self._warned = False
        self._user: str | None = None  # the server's current_user, once it answered
        self._hooks: builtins.list[Callable[[dict[str, str]], Any]] = []

    @classmethod
    def for_server(
        cls, api_url: str, api_key: str | None = None, mode: OfflineMode = True,
        settings: ArtifactSettings | None = None, **http_options: Any,
    ) -> OfflineRegistry:
        """The offline registry of a server: an `HttpRegistry` and its outbox under the home.

        Example:
            ```python
            reg = OfflineRegistry.for_server("http://127.0.0.1:4300/api/v1", mode="auto")
            ```
        """
        from prefect_artifacts.registry.http import HttpRegistry

        server = HttpRegistry(api_url, api_key=api_key, settings=settings, **http_options)
        return cls(server, mode)

    def __repr__(self) -> str:
        return f"OfflineRegistry({self.server!r}, mode={self.mode!r})"

    def spec(self) -> RegistrySpec:
        """A picklable description: the server's spec plus the mode (the outbox follows from the home).

        Example:
            ```python
            spec = reg.spec()   # RegistrySpec(kind='offline', api_url=..., offline='auto')
            ```
        """
        server = self.server.spec()
        if server.kind != "http" or self.outbox.catalog.url != sqlite_url(
                outbox_path(server.api_url or "", self.settings) / "catalog.sqlite"):
            raise NotImplementedError("only an offline registry of a server with its default outbox is described")
        return RegistrySpec(
            "offline", self.settings, api_url=server.api_url, api_key=server.api_key, retries=server.retries,
            backoff=server.backoff, timeout=server.timeout, use_digest_cache=server.use_digest_cache,
            offline=self.mode,
        )

    def close(self) -> None:
        """Close the server's connections and the outbox's catalog.

        Example:
            ```python
            reg.close()
            ```
        """
        forget_registry(self)
        self.server.close()
        self.outbox.close()

    # -- which registry answers --------------------------------------------------

    @property
    def online(self) -> bool:
        """Whether new writes go to the server now (``"auto"``, and it has not just failed to answer).

        Example:
            ```python
            reg.online  # False after the server could not be reached
            ```
        """
        return self.mode == "auto" and not self._server_down()

    @property
    def current_user(self) -> str:  # noqa: D102 - documented on Registry
        # The server's answer, remembered: offline, relative folders resolve as they did online.
        if self._user is None:
            answered, user = self._try_server(lambda server: server.current_user)
            if not answered or user is None:
                return self._ledger.fact("user") or self.outbox.current_user
            self._ledger.fact("user", user)
            self._user = user
        return self._user

    def _server_down(self) -> bool:
        """Whether the server did not answer less than `RETRY_ONLINE_AFTER` seconds ago (it is not asked)."""
        return time.monotonic() < self._offline_until

    def _went_offline(self, exc: BaseException) -> None:
        with self._state_lock:
            was_up = not self._server_down()
            self._offline_until = time.monotonic() + RETRY_ONLINE_AFTER
            warn = self.mode == "auto" and was_up and not self._warned
            self._warned = self._warned or warn
        if warn:
            logger.warning("artifact server %s is unreachable (%s): writing to the outbox %s until it answers;"
                           " replay it with `prefect-artifacts sync`",
                           getattr(self.server, "api_url", self.server), exc, _catalog_folder(self.outbox))

    def _back_online(self) -> None:
        if self._warned:
            with self._state_lock:
                self._warned = False
            logger.info("artifact server %s answers again", getattr(self.server, "api_url", self.server))

    def _writer(self, fn: Callable[[Registry], T]) -> tuple[Registry, T]:
        """Run a new write on the server when online, else (or when it is unreachable) on the outbox."""
        answered, result = self._try_server(fn)
        if answered:
            return self.server, cast(T, result)
        return self.outbox, fn(self.outbox)

    def _try_server(self, fn: Callable[[Registry], T]) -> tuple[bool, T | None]:
        """``(True, fn(server))`` while online; ``(False, None)`` offline or when the server turns out unreachable."""
        if not self.online:
            return False, None
        try:
            result = fn(self.server)
        except StorageError as exc:
            if not _unreachable(exc):
                raise
            self._went_offline(exc)
            return False, None
        self._back_online()
        return True, result

    def _order(self, ref: str | None) -> builtins.list[Registry]:
        """Outbox first for ids (``ref=None``: a snapshot id), with ``mode=True`` and while offline."""
        if ref is None or parse_ref(ref).id or self.mode is True or not self.online:
            return [self.outbox, self.server]
        return [self.server, self.outbox]

    def _routed(self, ref: str | None, fn: Callable[[Registry], T],
                cached: Callable[[ReadCache], T] | None = None) -> T:
        """Run ``fn`` where ``ref`` lives: the first registry of `_order` that knows it.

        A server that did not answer is not asked again for a while. When the outbox
        does not know ``ref`` and the server can not be reached (or was not asked),
        ``cached`` answers from the read cache; what it does not hold (or without a
        cache) raises `OfflineError`, saying so.
        """
        missing: ArtifactNotFound | None = None
        unreachable: StorageError | None = None
        skipped = False
        for reg in self._order(ref):
            if reg is self.server and self._server_down():
                skipped = True
                continue  # it just did not answer: not asked again until RETRY_ONLINE_AFTER
            try:
                return fn(reg)
            except OfflineError:
                raise
            except ArtifactNotFound as exc:
                missing = missing or exc
            except StorageError as exc:
                if reg is not self.server or not _unreachable(exc):
                    raise
                self._went_offline(exc)
                unreachable = exc
        if unreachable is None and not skipped:
            assert missing is not None
            raise missing
        if cached is not None and self.cache is not None:
            return cached(self.cache)
        reason = unreachable.message if unreachable is not None else f"it did not answer {RETRY_ONLINE_AFTER:g} s ago"
        what = ref if ref is not None else "it"
        why = ("this needs the server" if cached is None
               else "reads are not cached (PREFECT_ARTIFACTS_CACHE_BYTES=0)")
        raise OfflineError(f"{what} is not in the outbox and the server can not be reached ({reason}): {why}"
                           ) from unreachable

    # -- the read cache ---------------------------------------------------------------

    def _remember(self, art: Artifact, ref: str) -> Artifact:
        """Keep what the server answered for ``ref`` (with its files) in the cache."""
        if self.cache is not None:
            files = art._files
            if files is None:  # a version's files never change: those cached for its id are its files
                known = self.cache.entry(art.id)
                files = known.files if known is not None and known.id == art.id else self.server.files(art.id)
            art.with_files(files)
            self.cache.remember(art, files, [ref])
        return art

    def _cached_entry(self, ref: str, cache: ReadCache) -> Artifact:
        art = cache.entry(ref)
        if art is None:
            raise OfflineError(f"{ref}: not found in the outbox, the server can not be reached, and nothing"
                               " cached holds its catalog entry (it was never read here)")
        return art.bind(self)

    def _cached_content(self, ref: str, path: str | None, chunk_size: int, start: int | None,
                        end: int | None, cache: ReadCache) -> Iterator[bytes]:
        art = self._cached_entry(ref, cache)
        meta = _file_of(art, path)
        if meta.uri is not None:  # a reference: read from where it points, checked against its checksum
            from prefect_artifacts.registry.http import _read_reference

            return _read_reference(meta, chunk_size, start, end)
        chunks = cache.open(meta.checksum, chunk_size) if meta.checksum else None
        if chunks is None:
            raise OfflineError(f"the content of {art.ref} ({meta.path}) is not cached and the server can not be"
                               " reached (its catalog entry is cached: only the content is missing)")
        if start is not None or end is not None:
            return slice_stream(chunks, start or 0, end)
        return chunks

    def _server_content(self, ref: str, path: str | None, chunk_size: int, start: int | None,
                        end: int | None) -> Iterator[bytes]:
        """Read from the server; a whole file of a cached entry fills the cache as it streams."""
        server, cache = self.server, self.cache
        if cache is None:
            return server._open_content(ref, path, chunk_size, start, end)
        parsed = parse_ref(ref)
        known = cache.entry(parsed.id) if parsed.id else None  # a version is immutable: no need to ask again
        art = known if known is not None and known.id == parsed.id else self._remember(server.get(ref), ref)
        try:
            meta = _file_of(art, path)
        except ArtifactError:
            return server._open_content(art.id, path, chunk_size, start, end)  # its own error
        chunks = server._open_content(art.id, path, chunk_size, start, end)
        if start is None and end is None and meta.uri is None and meta.checksum and len(meta.checksum) == 64:
            return cache.fill(meta.checksum, chunks)
        return chunks

    def _listing(self, fn: Callable[[Registry], T]) -> T:
        """Listings: the server's while online (``"auto"``), else the outbox's."""
        if self.mode is True:
            return fn(self.outbox)
        return self._writer(fn)[1]

    def _searched(self, fn: Callable[[Registry], T], offline: Callable[[OfflineListing], T]) -> T:
        """``list``/``count``: the server's while online, else the outbox's and the cached entries'.

        Offline, a listing covers what the outbox holds and what was read from the server
        before (the cached entries); it may miss the rest, which is logged once.
        """
        answered, result = self._try_server(fn)
        if answered:
            return cast(T, result)
        cached = self.cache.entries() if self.cache is not None else []
        if not cached and self.mode is True:
            return fn(self.outbox)  # nothing was read from the server: the outbox is all there is here
        if not self._warned_listing:
            self._warned_listing = True
            logger.warning("listing offline: the outbox and %d catalog entries cached from %s; the server may"
                           " hold more (the result may be incomplete)", len(cached),
                           getattr(self.server, "api_url", self.server))
        listing = OfflineListing(self.outbox.catalog.engine, cached, self.cache)
        try:
            return offline(listing)
        finally:
            listing.engine.dispose()

    def is_offline(self, artifact_id: str) -> bool:
        """Whether ``artifact_id`` names an artifact of the outbox (written offline).

        Example:
            ```python
            reg.is_offline(art.id)  # True for an artifact written while offline
            ```
        """
        try:
            self.outbox.get(artifact_id)
        except ArtifactError:
            return False
        return True

    def mapping(self) -> dict[str, str]:
        """Offline id → server id of every artifact synced so far (stored in the outbox).

        Example:
            ```python
            reg.mapping()[offline_id]
            ```
        """
        return self._ledger.mapping()

    def server_id(self, offline_id: str) -> str | None:
        """The server's id of a synced offline artifact; None before it is synced.

        Example:
            ```python
            reg.get(reg.server_id(art.id) or art.id)
            ```
        """
        return self._ledger.server_of(offline_id)

    def on_reconnect(self, hook: Callable[[dict[str, str]], Any]) -> Callable[[dict[str, str]], Any]:
        """Call ``hook(mapping)`` after each sync that replayed something, to rewrite what the caller held.

        ``mapping`` is every offline id → server id synced so far (the report's). A hook
        that raises is logged and the others still run: the sync itself is done. Hooks
        belong to this registry object (they do not travel with its pickle). Returns
        ``hook``, so it works as a decorator.

        Example:
            ```python
            held = {"model": art.id}

            @reg.on_reconnect
            def remap(mapping: dict[str, str]) -> None:
                held.update({k: mapping.get(v, v) for k, v in held.items()})
            ```
        """
        self._hooks.append(hook)
        return hook

    # -- primitives: the outbox's (new writes go through `upload`, routed as a whole) --

    def _put_file(self, path: str, size: int, digest: str | None, sync: bool) -> BlobInfo:
        return self.outbox._put_file(path, size, digest, sync)

    def _put_data(self, data: bytes, sync: bool) -> BlobInfo:
        return self.outbox._put_data(data, sync)

    def _create(self, manifest: ArtifactManifest, strategy: ConflictStrategy, make_folder: bool) -> Artifact:
        art = self.outbox._create(manifest, strategy, make_folder)
        self._ledger.set_strategy(art.id, strategy)
        return art

    def _open_content(
        self, ref: str, path: str | None, chunk_size: int, start: int | None, end: int | None
    ) -> Iterator[bytes]:
        def online(reg: Registry) -> Iterator[bytes]:
            if reg is self.server:
                return self._server_content(ref, path, chunk_size, start, end)
            return reg._open_content(ref, path, chunk_size, start, end)

        return self._routed(ref, online, lambda c: self._cached_content(ref, path, chunk_size, start, end, c))

    def upload(
        self,
        draft: ArtifactDraft,
        folder: str | None = None,
        make_folder: bool = False,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        *,
        idempotency_key: str | None = None,
        runs: Iterable[tuple[str, RunCategory | str]] = (),
        kind: ArtifactKind | None = None,
        original_path: str | None = None,
        serializer: Any = None,
        extra_aspects: Iterable[dict[str, Any]] = (),
        progress: Callable[[int], None] | None = None,
        group: str | None = None,
        storage: str | None = None,
    ) -> Artifact:
        """`Registry.upload` on the server when online, else into the outbox.

        Example:
            ```python
            reg.upload(ArtifactDraft(name="bundle").add_dir("plots/"), folder="/team", make_folder=True)
            ```
        """
        strategy = parse_strategy(conflict_strategy)
        links, aspects = builtins.list(runs), builtins.list(extra_aspects)  # may be used twice
        # An unknown store is refused now when the server's stores are known, else at the replay.
        if storage not in (None, "default") and self._learned_storages() is not None:
            self._check_storage(storage)

        def write(reg: Registry) -> Artifact:
            # The outbox has one store: the chosen one is the server's, given at the replay.
            return reg.upload(draft, folder, make_folder, strategy, idempotency_key=idempotency_key, runs=links,
                              kind=kind, original_path=original_path, serializer=serializer,
                              extra_aspects=aspects, progress=progress, group=group,
                              storage=storage if reg is self.server else None)

        where, art = self._writer(write)
        if where is self.outbox:
            if storage not in (None, "default"):
                self._ledger.fact(f"storage:{art.id}", storage)
            self._ledger.set_strategy(art.id, strategy)
            art._pending = True  # status "pending" until push_outbox replays it
        return art.bind(self)

    def _upload_batch(self, jobs: Sequence[BatchJob],
                      storage: str | None) -> builtins.list[Artifact | ArtifactError]:
        # Each item is an upload of its own: on the server while it answers, else queued in the
        # outbox exactly as `upload` queues it (push_outbox replays them one by one).
        out: builtins.list[Artifact | ArtifactError] = []
        for job in jobs:
            try:
                out.append(self.upload(job.draft, job.folder, job.make_folder, job.strategy,
                                       idempotency_key=job.idempotency_key, runs=job.runs,
                                       original_path=job.original_path, extra_aspects=job.extra_aspects,
                                       group=job.group, storage=storage))
            except ArtifactError as exc:
                out.append(exc)
        return out

    # -- reads and writes of existing artifacts: where they live ------------------

    def _get(self, ref: str) -> Artifact:
        def online(reg: Registry) -> Artifact:
            art = reg.get(ref)
            if reg is self.outbox:
                self._mark_pending([art])
            return self._remember(art, ref) if reg is self.server else art

        return self._routed(ref, online, lambda c: self._cached_entry(ref, c)).bind(self)

    def list(  # noqa: D102
        self, index: int = 0, page_length: int = 10, sort_by: str | None = None,
        descending: bool = False, search: str | None = None, group_id: str | None = None,
        folder: str | None = None, cursor: str | None = None,
    ) -> Page[Artifact]:
        def offline(listing: OfflineListing) -> Page[Artifact]:
            self._check_page_length(page_length, search)
            check_position("index", index)
            data, total, next_cursor = listing.list(
                index=index, page_length=page_length, sort_by=sort_by, descending=descending, search=search,
                group_id=group_id, folder=self._folder_filter(folder), cursor=cursor)
            return Page[Artifact](data=[a.bind(self) for a in data], total=total,
                                  index=index if cursor is None else -1, page_length=page_length,
                                  is_complete=next_cursor is None, next_cursor=next_cursor)

        page = self._searched(lambda r: r.list(index, page_length, sort_by, descending, search, group_id, folder,
                                               cursor), offline)
        self._mark_pending(page.data)
        return page

    def _mark_pending(self, arts: Sequence[Artifact]) -> None:
        """Outbox artifacts not pushed yet have `Artifact.status` ``pending``."""
        if not arts:
            return
        synced = self._ledger.mapping()
        for art in arts:
            if art.id not in synced and self.is_offline(art.id):
                art._pending = True

    def count(self, search: str | None = None, folder: str | None = None, group_id: str | None = None) -> int:  # noqa: D102
        def offline(listing: OfflineListing) -> int:
            self._check_page_length(1, search)
            return listing.count(search, self._folder_filter(folder), group_id)

        return self._searched(lambda r: r.count(search, folder, group_id), offline)

    def ids(self, count: int | None = None, offset: int = 0) -> builtins.list[str]:  # noqa: D102
        return self._listing(lambda r: r.ids(count, offset))

    def files(self, ref: str) -> builtins.list[ArtifactFile]:  # noqa: D102
        return self._routed(ref, lambda r: r.files(ref), lambda c: self._cached_entry(ref, c).files)

    def bundle(  # noqa: D102
        self, ref: str, file_type: BundleType | str = BundleType.TAR_GZ, artifact_path: str | None = None
    ) -> Iterator[bytes]:
        return self._routed(ref, lambda r: r.bundle(ref, file_type, artifact_path))

    def _edited(self, ref: str) -> str:
        """Where an edit of ``ref`` goes: a synced offline artifact's edits go to its server version.

        Its outbox copy is done (never replayed again), so an edit kept there would be lost.
        """
        offline_id = parse_ref(ref).id
        return (self._ledger.server_of(offline_id) or ref) if offline_id is not None else ref

    def attach(self, ref: str, run_id: str, category: RunCategory | str = RunCategory.OUTPUT) -> RunLink:  # noqa: D102
        ref = self._edited(ref)
        return self._routed(ref, lambda r: r.attach(ref, run_id, category))

    def run_artifacts(self, run_id: str, category: RunCategory | str | None = None) -> builtins.list[Artifact]:  # noqa: D102
        arts = self._listing(lambda r: r.run_artifacts(run_id, category))
        self._mark_pending(arts)
        return arts

    def lineage(self, ref: str) -> Lineage:  # noqa: D102
        return self._routed(ref, lambda r: r.lineage(ref))

    def transfers(self, ref: str) -> builtins.list[Transfer]:  # noqa: D102
        return self._routed(ref, lambda r: r.transfers(ref))

    def record_download(self, ref: str, local_path: str | None = None) -> Transfer:  # noqa: D102
        return self._routed(ref, lambda r: r.record_download(ref, local_path))

    def _where(self, art: Artifact) -> _Location:
        if not self.is_offline(art.id):
            return self.server._where(art)
        # In the outbox: not on the server (yet); its content is in the outbox's store.
        local = self.outbox._where(art)
        return _Location(download_url=local.download_url, storage_url=local.storage_url, uploaded=False)

    @property
    def storage_ids(self) -> tuple[str, ...]:  # noqa: D102 - documented on Registry
        return self._learned_storages() or ("default",)

    def _learned_storages(self) -> tuple[str, ...] | None:
        """The server's stores (where an artifact ends up), remembered for offline writes; None: never learned."""
        known = self._ledger.fact("storages")
        if not self._server_down():
            try:
                ids = tuple(self.server.storage_ids)
            except StorageError as exc:
                if not _unreachable(exc):
                    raise
                self._went_offline(exc)
            else:
                if known != json.dumps(ids):
                    self._ledger.fact("storages", json.dumps(ids))
                return ids
        return tuple(json.loads(known)) if known else None

    def add_metadata(  # noqa: D102
        self, ref: str, aspect: dict[str, Any], schema: str | dict[str, Any] | None = None,
        policy: str | None = None,
    ) -> Aspect:
        ref = self._edited(ref)
        return self._routed(ref, lambda r: r.add_metadata(ref, aspect, schema, policy))

    def get_metadata(self, ref: str) -> builtins.list[Aspect]:  # noqa: D102
        def online(reg: Registry) -> builtins.list[Aspect]:
            aspects = reg.get_metadata(ref)
            if reg is self.server and self.cache is not None:
                self.cache.put_json("metadata", ref, [a.model_dump(mode="json") for a in aspects])
            return aspects

        def cached(cache: ReadCache) -> builtins.list[Aspect]:
            found = cache.get_json("metadata", ref)
            if not isinstance(found, builtins.list):
                raise OfflineError(f"the metadata of {ref} is not cached and the server can not be reached")
            return [Aspect.model_validate(a) for a in found]

        return self._routed(ref, online, cached)

    def update(self, ref: str, description: str | None = None, labels: Sequence[str] | None = None) -> Artifact:  # noqa: D102
        ref = self._edited(ref)
        return self._routed(ref, lambda r: r.update(ref, description, labels)).bind(self)

    def set_alias(self, ref: str, alias: str) -> Artifact:  # noqa: D102
        ref = self._edited(ref)
        return self._routed(ref, lambda r: r.set_alias(ref, alias)).bind(self)

    def delete(self, ref: str) -> None:  # noqa: D102
        ref = self._edited(ref)
        self._routed(ref, lambda r: r.delete(ref))

    def gc(self, dry_run: bool = False, grace_seconds: float | None = None) -> GcReport:
        """Collect the outbox's unreferenced blobs (the server collects its own).

        Example:
            ```python
            reg.gc(dry_run=True)
            ```
        """
        return self.outbox.gc(dry_run, grace_seconds)

    def create_plugin_snapshot(  # noqa: D102
        self, plugin_name: str, version: str | None, files: Sequence[tuple[str, bytes]], group: str | None = None
    ) -> PluginSnapshot:
        return self._writer(lambda r: r.create_plugin_snapshot(plugin_name, version, files, group))[1]

    def get_plugin_snapshot(self, snapshot_id: str) -> PluginSnapshot:  # noqa: D102
        def online(reg: Registry) -> PluginSnapshot:
            snap = reg.get_plugin_snapshot(snapshot_id)
            if reg is self.server and self.cache is not None:
                self.cache.put_json("snapshot", snapshot_id, snap.model_dump(mode="json"))
            return snap

        def cached(cache: ReadCache) -> PluginSnapshot:
            found = cache.get_json("snapshot", snapshot_id)
            if found is None:
                raise OfflineError(f"plugin snapshot {snapshot_id} is not cached and the server can not be reached")
            return PluginSnapshot.model_validate(found)

        return self._routed(None, online, cached)

    def read_plugin_snapshot_file(self, snapshot_id: str, path: str) -> bytes:  # noqa: D102
        key = f"{snapshot_id}/{path}"

        def online(reg: Registry) -> bytes:
            data = reg.read_plugin_snapshot_file(snapshot_id, path)
            if reg is self.server and self.cache is not None:
                self.cache.put_json("snapshot-file", key, self.cache.put_bytes(data))
            return data

        def cached(cache: ReadCache) -> bytes:
            digest = cache.get_json("snapshot-file", key)
            chunks = cache.open(digest, 1 << 20) if isinstance(digest, str) else None
            if chunks is None:
                raise OfflineError(f"file {path} of plugin snapshot {snapshot_id} is not cached and the server"
                                   " can not be reached")
            return b"".join(chunks)

        return self._routed(None, online, cached)

    # -- the schema registry lives on the server -----------------------------------------

    def _on_server(self, what: str, fn: Callable[[Registry], T]) -> T:
        answered, result = self._try_server(fn)
        if not answered:
            raise OfflineError(f"{what} needs the server, which can not be reached (the outbox holds no schemas)")
        return cast(T, result)

    def register_schema(self, urn: str, json_schema: dict[str, Any]) -> AspectSchema:  # noqa: D102
        return self._on_server(f"registering schema {urn[:255]}", lambda r: r.register_schema(urn, json_schema))

    def get_schema(self, urn: str) -> AspectSchema:  # noqa: D102
        return self._on_server(f"schema {urn[:255]}", lambda r: r.get_schema(urn))

    def list_schemas(self, prefix: str | None = None) -> builtins.list[AspectSchema]:  # noqa: D102
        return self._on_server("listing schemas", lambda r: r.list_schemas(prefix))

    # -- sync ---------------------------------------------------------------------------

    def pending(self) -> builtins.list[Artifact]:
        """The outbox artifacts not synced yet, in the order a sync replays them (created, then version).

        Example:
            ```python
            print(len(reg.pending()), "artifacts wait for the server")
            ```
        """
        synced = self._ledger.mapping()
        return [a for a in self._replay_order() if a.id not in synced]

    def _replay_order(self) -> builtins.list[Artifact]:
        catalog = self.outbox.catalog  # by id from the catalog: ids() lists live outbox artifacts (no groups)
        return sorted((catalog.get(i).bind(self.outbox) for i in self.outbox.ids()),
                      key=lambda a: (a.created, a.version))

    def push_outbox(self, dry_run: bool = False, *, progress: Callable[[int], None] | None = None) -> SyncReport:
        """Replay the outbox to the server, in creation order, each artifact exactly once.

        Each artifact not synced yet is created on the server with its content (only the
        blobs the server lacks are sent), description, labels, metadata aspects, run
        links, serializer snapshot and aliases, under an idempotency key derived from it
        (see the module docstring); its server id is then recorded in the outbox. A
        conflict (``conflict_strategy="error"`` and the name exists on the server) is
        reported in ``conflicts`` and left unsynced; other failures go to ``errors``. When
        the server can not be reached the sync stops there (reported in ``errors``).
        ``progress``, when given, is called once per pending artifact handled: with its
        size when replayed, with 0 when it conflicted or failed.
        The outbox is read ahead (the artifacts at the start, their files, metadata and
        aliases `REPLAY_BATCH` at a time): a change made to a pending artifact while the
        sync runs may land like one made after its sync, i.e. stay in the outbox.

        Example:
            ```python
            report = reg.push_outbox()
            print(len(report.created), "synced;", report.mapping)
            ```
        """
        with self._ledger.session() as ledger:
            report = self._push(dry_run, progress, ledger)
        if report.created and not dry_run:
            for hook in builtins.list(self._hooks):
                try:
                    hook(dict(report.mapping))
                except Exception:  # noqa: BLE001 - a caller's hook: the sync is done all the same
                    logger.exception("on_reconnect hook %r failed", hook)
        return report

    def _push(self, dry_run: bool, progress: Callable[[int], None] | None, ledger: sqlite3.Connection) -> SyncReport:
        report = SyncReport(dry_run=dry_run)
        synced = self._ledger.mapping()
        order = self._replay_order()
        batch: dict[str, _Stored] = {}
        for i, art in enumerate(order):
            offline_id = art.id
            if not dry_run and i % REPLAY_BATCH == 0:
                batch = self._stored([a.id for a in order[i:i + REPLAY_BATCH] if a.id not in synced])
            if offline_id in synced:
                report.skipped.append(offline_id)
                report.mapping[offline_id] = synced[offline_id]
                continue
            strategy = self._ledger.strategy(offline_id, ledger)
            if dry_run:
                self._predict(art, strategy, report)
                continue
            try:
                made = self._replay(art, strategy, batch.get(offline_id))
            except ArtifactConflict as exc:
                report.conflicts.append(SyncConflict(offline_id=offline_id, ref=art.ref, strategy=strategy,
                                                     server_answer=exc.message))
                if progress is not None:
                    progress(0)
                continue
            except ArtifactError as exc:
                report.errors.append(SyncFailure(offline_id=offline_id, ref=art.ref,
                                                 error=f"{type(exc).__name__}: {exc.message}"))
                if _unreachable(exc):
                    report.unreachable = True
                    break  # the rest waits for the next sync, in order
                if progress is not None:
                    progress(0)
                continue
            self._ledger.record(offline_id, made.id, made.ref, ledger)
            report.mapping[offline_id] = made.id
            report.created.append(offline_id)
            if progress is not None:
                progress(art.size or 0)
        return report

    def _predict(self, art: Artifact, strategy: ConflictStrategy, report: SyncReport) -> None:
        if strategy is ConflictStrategy.ERROR:
            try:
                existing = self.server.get(artifact_ref(art.folder, art.name, "latest"))
            except ArtifactNotFound:
                pass
            except ArtifactError as exc:
                report.errors.append(SyncFailure(offline_id=art.id, ref=art.ref,
                                                 error=f"{type(exc).__name__}: {exc.message}"))
                return
            else:
                report.conflicts.append(SyncConflict(
                    offline_id=art.id, ref=art.ref, strategy=strategy,
                    server_answer=f"{existing.ref.rsplit(':', 1)[0]} already exists (version {existing.version})"))
                return
        report.created.append(art.id)

    def _replay(self, art: Artifact, strategy: ConflictStrategy, stored: _Stored | None = None) -> Artifact:
        stored = stored or self._stored([art.id])[art.id]
        storage = self._ledger.fact(f"storage:{art.id}")  # upload(storage=...) made offline
        token = _STORAGE.set(storage)
        try:
            return self._replay_to(art, strategy, stored, storage)
        finally:
            _STORAGE.reset(token)

    def _replay_to(self, art: Artifact, strategy: ConflictStrategy, stored: _Stored, storage: str | None) -> Artifact:
        outbox, server = self.outbox, self.server
        files: builtins.list[ManifestFile] = []
        for f, digest in stored.files:
            if f.uri:
                files.append(ManifestFile(path=f.path, size=f.size, checksum=f.checksum, mime_type=f.mime_type,
                                          uri=f.uri))
                continue
            assert digest is not None
            info = server._put_file(outbox.store.blob_path(digest), f.size or 0, digest, sync=True)
            files.append(ManifestFile(path=f.path, size=info.size, checksum=f.checksum, mime_type=f.mime_type,
                                      digest=info.digest))
        manifest = ArtifactManifest(
            folder=art.folder, name=art.name, kind=art.kind, files=files, is_dir=art.is_dir,
            description=art.description, labels=builtins.list(art.labels), mime_type=art.mime_type,
            size=art.size, checksum=art.checksum, original_path=art.original_path,
            serializer=self._replay_snapshot(art.serializer), idempotency_key=stored.key,
            aspects=stored.aspects,
            runs=[(link.run_id, link.category) for link in art.runs],
            # a group chosen offline goes along; the outbox's default lets the server choose, as online
            group_id=None if art.group_id in (None, DEFAULT_GROUP) else art.group_id,
            storage_id=storage,
        )
        made = server._create(manifest, strategy, True)
        for alias in stored.aliases:
            made = server.set_alias(made.id, alias)
        return made

    def _replay_snapshot(self, ref: SerializerRef | None) -> SerializerRef | None:
        if ref is None:
            return None
        try:
            snap = self.outbox.get_plugin_snapshot(ref.snapshot_id)
        except ArtifactNotFound:
            return ref  # made on the server before the registry went offline
        files = [(f.path, self.outbox.read_plugin_snapshot_file(snap.id, f.path)) for f in snap.files]
        made = self.server.create_plugin_snapshot(snap.plugin_name, snap.version, files)
        return SerializerRef(snapshot_id=made.id, task_name=ref.task_name)

    def _stored(self, offline_ids: builtins.list[str]) -> dict[str, _Stored]:
        """What a replay of each outbox artifact sends beside its catalog row: one query per table for all of them.

        Its files with their blob digests (by path), metadata aspects (oldest first), the
        idempotency key (see the module docstring) and aliases.
        """
        out = {i: _Stored(key=f"offline-sync:{i}") for i in offline_ids}
        if not out:
            return out
        with self.outbox.catalog.engine.connect() as conn:
            for r in conn.execute(select(artifacts_table.c.id, artifacts_table.c.idempotency_key)
                                  .where(artifacts_table.c.id.in_(offline_ids))):
                if r.idempotency_key:
                    out[r.id].key = str(r.idempotency_key)
            for r in conn.execute(select(files_table).where(files_table.c.artifact_id.in_(offline_ids))
                                  .order_by(files_table.c.artifact_id, files_table.c.path)):
                out[r.artifact_id].files.append((ArtifactFile(path=r.path, size=r.size, checksum=r.checksum,
                                                              mime_type=r.mime_type, uri=r.uri), r.digest))
            for r in conn.execute(select(aspects_table).where(aspects_table.c.artifact_id.in_(offline_ids))
                                  .order_by(aspects_table.c.artifact_id, aspects_table.c.created, aspects_table.c.id)):
                out[r.artifact_id].aspects.append({"content": r.content, "schema_name": r.schema_name,
                                                   "policy": r.policy})
            for r in conn.execute(select(aliases_table.c.artifact_id, aliases_table.c.alias)
                                  .where(aliases_table.c.artifact_id.in_(offline_ids))
                                  .order_by(aliases_table.c.artifact_id, aliases_table.c.alias)):
                out[r.artifact_id].aliases.append(str(r.alias))
        return out


@dataclass
class _Stored:
    """What `OfflineRegistry._replay` sends of an outbox artifact beside its catalog row."""

    key: str
    files: builtins.list[tuple[ArtifactFile, str | None]] = field(default_factory=builtins.list)
    aspects: builtins.list[dict[str, Any]] = field(default_factory=builtins.list)
    aliases: builtins.list[str] = field(default_factory=builtins.list)


def _file_of(art: Artifact, path: str | None) -> ArtifactFile:
    """The file ``path`` (None: the only file) of ``art``."""
    files = art.files
    if path is None:
        if art.is_dir or len(files) != 1:
            raise InvalidOperation(f"{art.ref} is a directory: name one of its files")
        return files[0]
    for f in files:
        if f.path == path:
            return f
    raise ArtifactNotFound(f"{art.ref} has no file {path!r}")


def with_outbox(registry: Registry) -> Registry:
    """``registry`` with its server's outbox: an `HttpRegistry` becomes its `OfflineRegistry` (``mode=True``).

    What syncs an outbox (the CLI's ``sync``, the ``sync_outbox`` task) uses it, so the
    outbox of a server is replayed whether or not the registry at hand writes offline.
    Any other registry is returned as is (its `Registry.push_outbox` reports nothing).

    Example:
        ```python
        with_outbox(HttpRegistry(url)).push_outbox()
        ```
    """
    from prefect_artifacts.registry.http import HttpRegistry

    return OfflineRegistry(registry, mode=True) if isinstance(registry, HttpRegistry) else registry


def _catalog_folder(outbox: LocalRegistry) -> Path:
    from sqlalchemy.engine import make_url

    from prefect_artifacts.catalog.engine import sqlite_file

    url = make_url(outbox.catalog.url)
    if not url.drivername.startswith("sqlite"):
        raise InvalidArtifactInput("an outbox has a SQLite catalog")
    return Path(sqlite_file(url)).parent

