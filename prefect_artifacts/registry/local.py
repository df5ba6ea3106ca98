"""`LocalRegistry`: the in-process registry, a SQL catalog plus a content store.

It holds every business rule; the REST server is a thin layer over it. A registry
seen by a caller (`LocalRegistry.for_principal`) enforces the rules of a shared
server in process: reads see the caller's groups only, writes need write access,
folders belong to groups (`prefect_artifacts.catalog.folders`), and an artifact is
built only from blobs the caller possesses: content it can read through a live,
unquarantined artifact, or content it uploaded itself within the garbage-collection
grace period (``gc_grace_seconds``, the time an unreferenced upload is kept anyway).
Knowing a digest is not possessing its content; uploading the bytes again is (they are
verified and stored once).
"""

from __future__ import annotations

import builtins
import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from prefect_artifacts import references
from prefect_artifacts._aspects import policy_group, prepare_aspect
from prefect_artifacts._checksums import snapshot_digest, snapshot_manifest
from prefect_artifacts._paths import is_unicode, parse_ref, safe_relpath, validate_alias
from prefect_artifacts._progress import hashing_progress, tally
from prefect_artifacts.bundles import BundleEntry, stream_bundle
from prefect_artifacts.catalog.auth import ANONYMOUS_ADMIN, DELETIONS_KEPT, AuthCatalog, Principal
from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.catalog.schemas import SchemaCatalog
from prefect_artifacts.catalog.sql import DEFAULT_STORAGE, SqlCatalog, check_run_id, utcnow
from prefect_artifacts.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactNotFound,
    BlobNotFound,
    InvalidArtifactInput,
    InvalidOperation,
    PermissionDenied,
    SnapshotIntegrityError,
)
from prefect_artifacts.models import (
    Artifact,
    ArtifactFile,
    ArtifactManifest,
    Aspect,
    AspectSchema,
    BundleType,
    ConflictStrategy,
    GcReport,
    Lineage,
    Page,
    PluginSnapshot,
    RunCategory,
    RunLink,
    Transfer,
    TransferAction,
)
from prefect_artifacts.registry import direct
from prefect_artifacts.registry.base import (
    _STORAGE,
    Registry,
    _Location,
    check_position,
    os_user,
    parse_bundle_type,
    parse_category,
    parse_strategy,
    select_files,
    slice_stream,
    user_folder,
)
from prefect_artifacts.registry.manifest import seal_manifest
from prefect_artifacts.registry.spec import RegistrySpec, forget_registry
from prefect_artifacts.settings import ArtifactSettings, get_settings
from prefect_artifacts.storage.chunk_index import ChunkIndex
from prefect_artifacts.storage.content_store import SMALL_FILE, BlobInfo, ContentStore, check_digest
from prefect_artifacts.storage.hashing import CHUNK_SIZE, copy_chunks_hashing, hash_file
from prefect_artifacts.storage.presigned import SignedRequest

#: Seconds replicas' clocks may disagree: gc skips a blob deleted up to this long before it
#: listed the store (the blob it saw may be a newer copy; the next gc collects it).
_CLOCK_SKEW = 300.0

class LocalRegistry(Registry):
    """The registry running in this process.

    Args:
        store: where blobs live.
        catalog: where artifacts are catalogued.
        settings: limits and defaults (read from the environment when None).
        use_digest_cache: reuse digests of unchanged large files (default: settings).
        group_ids: when set, only artifacts of these groups are visible.
        principal: the caller whose rules apply (see `for_principal`); None: none.
        stores: more content stores by id, chosen with ``upload(storage=...)``; None: those
            of the ``storages`` setting (``PREFECT_ARTIFACTS_STORAGES``), opened here.

    Example:
        ```python
        reg = LocalRegistry.from_urls("s3://bucket/artifacts", "postgresql://db/artifacts")
        reg = LocalRegistry.embedded()          # SQLite + blobs under $PREFECT_ARTIFACTS_HOME
        ```
    """

    def __init__(
        self, store: ContentStore, catalog: SqlCatalog, settings: ArtifactSettings | None = None,
        use_digest_cache: bool | None = None, group_ids: Sequence[str] | None = None,
        principal: Principal | None = None, stores: Mapping[str, ContentStore] | None = None,
    ) -> None:
        super().__init__(settings, use_digest_cache)
        self.store = store
        if stores is None:
            stores = {sid: ContentStore(url, durable=self.settings.durable)
                      for sid, url in self.settings.storages.items()}
        if DEFAULT_STORAGE in stores:
            raise InvalidArtifactInput(f"{DEFAULT_STORAGE!r} names the registry's own store: give the others other ids")
        #: Every content store by id: "default" (``store``) first, then the named ones.
        self.stores: dict[str, ContentStore] = {DEFAULT_STORAGE: store, **stores}
        self.catalog = catalog
        self.principal = principal
        if group_ids is None and principal is not None and principal.readable is not None:
            group_ids = sorted(principal.readable)
        self.group_ids = list(group_ids) if group_ids is not None else None
        self._access = AuthCatalog(catalog.engine)
        self._schemas = SchemaCatalog(catalog.engine)
        for each in self.stores.values():  # reused blobs are reserved in the catalog, for gc on any replica
            each.reuse_guard = self._access.hold_blob

    @classmethod
    def from_urls(
        cls, storage_url: str | None = None, catalog_url: str | None = None,
        storage_options: dict[str, Any] | None = None, settings: ArtifactSettings | None = None,
        **kwargs: Any,
    ) -> LocalRegistry:
        """Open a registry from a storage URL and a catalog URL (defaults: the embedded home).

        Example:
            ```python
            reg = LocalRegistry.from_urls("memory://test", "sqlite:////tmp/c.sqlite")
            ```
        """
        settings = settings or get_settings()
        home = Path(settings.home).expanduser()
        storage_url = storage_url or settings.storage_url or str(home / "blobs")
        catalog_url = catalog_url or settings.catalog_url or sqlite_url(home / "catalog.sqlite")
        store = ContentStore(storage_url, storage_options, durable=settings.durable)
        return cls(store, SqlCatalog(catalog_url, durable=settings.durable), settings, **kwargs)

    @classmethod
    def embedded(cls, home: str | Path | None = None, **kwargs: Any) -> LocalRegistry:
        """The embedded default: SQLite catalog and local blobs under ``home``.

        Example:
            ```python
            reg = LocalRegistry.embedded("/tmp/artifacts")
            ```
        """
        settings = get_settings()
        if home is not None:
            settings = settings.model_copy(update={"home": Path(home).expanduser()})
        return cls.from_urls(settings=settings, **kwargs)

    def scoped(self, group_ids: Sequence[str] | None) -> LocalRegistry:
        """The same registry seeing only ``group_ids`` (None: every group).

        Example:
            ```python
            reg.scoped(["team-a"]).list()
            ```
        """
        scoped = LocalRegistry(self.store, self.catalog, self.settings, use_digest_cache=False, group_ids=group_ids,
                               stores=self._named_stores())
        scoped._digest_cache = self._digest_cache
        return scoped

    def for_principal(self, principal: Principal) -> LocalRegistry:
        """The same registry as ``principal`` sees it: the rules of a shared server, in process.

        Reads see the principal's groups only (others' artifacts are not found); writes
        need write access to the artifact's group (`PermissionDenied`); creates follow
        the folder rules of `prefect_artifacts.catalog.folders` and use only blobs the
        principal possesses (see the module docstring); garbage collection is for admins.

        Example:
            ```python
            principal = AuthCatalog(reg.catalog.engine).authenticate(api_key)
            reg.for_principal(principal).upload_file("data.csv", name="data", folder="/team-a")
            ```
        """
        scoped = LocalRegistry(self.store, self.catalog, self.settings, use_digest_cache=False, principal=principal,
                               stores=self._named_stores())
        scoped._digest_cache = self._digest_cache
        return scoped

    @property
    def current_user(self) -> str:  # noqa: D102 - documented on Registry
        if self.principal is None or self.principal.user_name == ANONYMOUS_ADMIN.user_name:
            return os_user()
        return user_folder(self.principal.user_name)

    def spec(self) -> RegistrySpec:
        """A picklable description: store URL and options, catalog URL, settings, groups.

        Example:
            ```python
            spec = reg.spec()   # RegistrySpec(kind='local', storage_url=..., catalog_url=...)
            ```
        """
        if self.principal is not None:
            raise NotImplementedError("a registry seen by a principal is not reopened elsewhere (its rules would go)")
        return RegistrySpec(
            "local", self.settings, storage_url=self.store.url, storage_options=self.store.storage_options,
            catalog_url=self.catalog.url, durable=self.store.durable, group_ids=self.group_ids,
            use_digest_cache=self._digest_cache is not None,
        )

    def close(self) -> None:
        """Release the catalog's connections.

        Example:
            ```python
            reg.close()
            ```
        """
        forget_registry(self)
        self.catalog.close()

    def _bind(self, art: Artifact) -> Artifact:
        return art.bind(self)

    def _id(self, ref: str) -> str:
        return self.catalog.resolve(parse_ref(ref), self.group_ids)

    def _writable_id(self, ref: str) -> str:
        """The id of ``ref`` as the caller sees it (not found if unreadable), if it may write it."""
        principal = self.principal
        if principal is None or principal.writable is None:
            return self._id(ref)
        art = self.get(ref)
        if not principal.can_write(art.group_id):
            raise PermissionDenied(f"user {principal.user_name!r} may not write to group {art.group_id!r}")
        return art.id

    # possession -------------------------------------------------------------------

    def _possessed(self, digests: Iterable[str]) -> set[str]:
        """Which of ``digests`` the caller may build artifacts from (all of them without a principal)."""
        wanted = set(digests)
        if self.principal is None or not wanted:
            return wanted
        since = _ago(self.settings.gc_grace_seconds)
        return self._access.possessed(wanted, self.principal.uploader, self.principal.readable, since)

    def _record_upload(self, digest: str) -> None:
        if self.principal is not None:
            self._access.record_upload(self.principal.uploader, digest)

    def usable_blob(self, digest: str, storage: str | None = None) -> int | None:
        """The size of blob ``digest`` if the caller may build artifacts from it, else None.

        ``storage`` is the store it must be in (None: the default one; see `storage_ids`).

        None both when the blob is not stored and when the caller does not possess it
        (see the module docstring), so the answer reveals nothing about other groups'
        content. A usable blob is touched: garbage collection keeps it for the grace
        period, as the caller is about to reference it.

        Raises:
            InvalidArtifactInput: ``digest`` is not a SHA-256 hex digest, or ``storage`` no store's id.

        Example:
            ```python
            if reg.usable_blob(digest) is None:
                upload_the_bytes()
            ```
        """
        check_digest(digest)
        store = self._named_store(storage)
        if digest not in self._possessed([digest]) or not (store.exists(digest) and store.hold(digest)):
            return None
        return store.size(digest)

    def receive_blob(self, digest: str, storage: str | None = None) -> BlobReceiver:
        """Where an upload of ``digest`` goes: verified, stored once, recorded as the caller's.

        The receiver's ``usable`` is the blob's size when the caller may already use the
        blob (the bytes need not be sent), else None; then its ``put_stream`` or
        ``put_bytes`` takes the bytes, into the store ``storage`` (None: the default one).

        Raises:
            InvalidArtifactInput: ``digest`` is not a SHA-256 hex digest, or ``storage`` no store's id.
            PermissionDenied: the caller may not write to any group.

        Example:
            ```python
            receiver = reg.receive_blob(digest)
            if receiver.usable is None:
                receiver.put_stream(chunks, expected_digest=digest)
            ```
        """
        self._check_uploader()
        return BlobReceiver(self, self.usable_blob(digest, storage), self._named_store(storage))

    def _check_uploader(self) -> None:
        """Refuse a caller who may not write to any group (it has nothing to upload blobs for)."""
        principal = self.principal
        if principal is not None and principal.writable is not None and not principal.writable:
            raise PermissionDenied(f"user {principal.user_name!r} may not write to any group")

    def offer_direct_upload(self, digest: str, size: int, storage: str | None = None,
                            max_size: int | None = None) -> direct.UploadOffer:
        """A presigned PUT that sends blob ``digest`` straight to the store, or why not (`registry.direct`).

        The digest is reserved for garbage collection before the URL is signed.

        Raises:
            InvalidArtifactInput: a malformed digest or size, or an unknown ``storage``.
            PayloadTooLarge: ``size`` is over ``max_size``.
            PermissionDenied: the caller may not write to any group.

        Example:
            ```python
            offer = reg.offer_direct_upload(digest, size)
            ```
        """
        return direct.offer_upload(self, digest, size, storage, max_size)

    def finish_direct_upload(self, digest: str, size: int, upload: str, storage: str | None = None,
                             multipart: str | None = None, etags: Sequence[str] | None = None) -> BlobInfo:
        """Check a presigned upload (`offer_direct_upload`) and make the blob the caller's to use.

        A multipart upload (``multipart``, the parts' ``etags`` in order) is completed first.

        Raises:
            ArtifactIntegrityError: the upload is missing, someone else's, late, or not ``digest``'s
                bytes (a temp copy is deleted; nothing can reference the digest).
            InvalidArtifactInput: no such upload was offered here.

        Example:
            ```python
            reg.finish_direct_upload(digest, size, offer.upload)
            ```
        """
        return direct.finish_upload(self, digest, size, upload, storage, multipart, list(etags or ()))

    def direct_download(self, meta: ArtifactFile, digest: str, storage_id: str | None = None) -> SignedRequest | None:
        """A presigned GET of a stored file the caller located (`locate_file`), or None (`registry.direct`).

        Example:
            ```python
            art, meta, digest = reg.locate_file(ref)
            request = reg.direct_download(meta, digest, art.storage_id)
            ```
        """
        return direct.download_request(self, digest, meta.size or 0, storage_id)

    # primitives -----------------------------------------------------------------

    def _put_file(self, path: str, size: int, digest: str | None, sync: bool) -> BlobInfo:
        if digest is None and size > SMALL_FILE and self.catalog.has_file_of_size(size):
            # Probably stored already (same size catalogued): one read-only hash pass may
            # spare the copy. New content is copied and hashed again in one pass.
            known, _ = hash_file(path, size_hint=size, progress=hashing_progress())
            store = self._named_store(_STORAGE.get())
            if store.exists(known) and store.hold(known):
                return BlobInfo(known, size, written=False)
        return self._named_store(_STORAGE.get()).put_file(path, digest, sync=sync)

    def _adopt_file(self, path: str, sync: bool) -> BlobInfo:
        return self._named_store(_STORAGE.get()).adopt_file(path, sync=sync)

    def _put_data(self, data: bytes, sync: bool) -> BlobInfo:
        return self._named_store(_STORAGE.get()).put_bytes(data, sync=sync)

    def _materialize(self, ref: str, target: Path, artifact_path: str | None) -> None:
        art, _meta, digest = self.locate_file(ref, artifact_path)
        if digest is None or not self._store_of(digest, art.storage_id).link_verified(digest, target):
            super()._materialize(ref, target, artifact_path)

    def _flush_blobs(self) -> None:
        self._named_store(_STORAGE.get()).flush()

    # content stores -----------------------------------------------------------------

    @property
    def storage_ids(self) -> tuple[str, ...]:  # noqa: D102 - documented on Registry
        return tuple(self.stores)

    def _named_stores(self) -> dict[str, ContentStore]:
        return {sid: store for sid, store in self.stores.items() if sid != DEFAULT_STORAGE}

    def _named_store(self, storage: str | None) -> ContentStore:
        """The store ``storage`` names (None: the default one)."""
        if storage is None:
            return self.store
        self._check_storage(storage)
        return self.stores[storage]

    def _store_of(self, digest: str, storage: str | None = None) -> ContentStore:
        """The store holding blob ``digest``: the artifact's (``storage``) when known, else the first that has it."""
        if storage is not None and storage in self.stores:
            return self.stores[storage]
        if len(self.stores) == 1 or self.store.exists(digest):
            return self.store
        return next((s for s in self.stores.values() if s.exists(digest)), self.store)

    def _create(self, manifest: ArtifactManifest, strategy: ConflictStrategy, make_folder: bool) -> Artifact:
        # upload() stored every blob from the caller's own files just now and measured them.
        self._named_store(manifest.storage_id)
        sealed = self._checked_refs(seal_manifest(manifest, None, self._schemas.find))
        art, created = self.catalog.create(self._keyed(sealed), strategy, make_folder, self.principal)
        art._just_created = created
        return self._bind(art)

    def _create_many(
        self, requests: Sequence[tuple[ArtifactManifest, ConflictStrategy, bool]],
    ) -> builtins.list[Artifact | ArtifactError]:
        # upload_many stored (and flushed) every blob from the caller's own files just now.
        out: builtins.list[Artifact | ArtifactError | None] = [None] * len(requests)
        sealed: builtins.list[tuple[int, tuple[ArtifactManifest, ConflictStrategy, bool]]] = []
        for i, (manifest, strategy, make_folder) in enumerate(requests):
            try:
                self._named_store(manifest.storage_id)
                checked = self._checked_refs(seal_manifest(manifest, None, self._schemas.find))
                sealed.append((i, (self._keyed(checked), strategy, make_folder)))
            except ArtifactError as exc:
                out[i] = exc
        made = self.catalog.create_many([r for _, r in sealed], self.principal) if sealed else []
        for (i, _r), result in zip(sealed, made, strict=True):
            if isinstance(result, ArtifactError):
                out[i] = result
            else:
                art, created = result
                art._just_created = created
                out[i] = self._bind(art)
        return [r for r in out if r is not None]

    def create_many(
        self, requests: Sequence[tuple[ArtifactManifest, ConflictStrategy | str, bool, Mapping[str, bytes]]],
    ) -> builtins.list[tuple[Artifact, bool] | ArtifactError]:
        """`create` of many manifests (the server's batch create): one catalog transaction, a result per request.

        Each request is checked as `create` checks it (group, possession of its blobs or
        the small contents sent with it); one that fails is reported as its error and
        the others are created.

        Example:
            ```python
            results = reg.create_many([(manifest, "new", True, {})])
            ```
        """
        out: builtins.list[tuple[Artifact, bool] | ArtifactError | None] = [None] * len(requests)
        sealed: builtins.list[tuple[int, tuple[ArtifactManifest, ConflictStrategy, bool]]] = []
        unsynced: dict[int, ContentStore] = {}  # stores holding sent contents written without fsync
        for i, (manifest, conflict_strategy, make_folder, blobs) in enumerate(requests):
            try:
                sealed.append((i, (self._sealed_for_create(manifest, blobs, sync=False),
                                   parse_strategy(conflict_strategy), make_folder)))
                if blobs:
                    store = self._named_store(manifest.storage_id)
                    unsynced[id(store)] = store
            except ArtifactError as exc:
                out[i] = exc
        for store in unsynced.values():  # sent contents durable before any artifact names them
            store.flush()
        made = self.catalog.create_many([r for _, r in sealed], self.principal) if sealed else []
        for (i, _r), result in zip(sealed, made, strict=True):
            out[i] = result if isinstance(result, ArtifactError) else (self._bind(result[0]), result[1])
        return [r for r in out if r is not None]

    def create(self, manifest: ArtifactManifest, conflict_strategy: ConflictStrategy | str = "new",
               make_folder: bool = False, blobs: Mapping[str, bytes] | None = None) -> tuple[Artifact, bool]:
        """Catalog a manifest whose blobs are stored already, or sent along (the server's create).

        Everything derivable is derived and every claim checked (`seal_manifest`); each
        stored file's blob must be one the caller possesses (see the module docstring),
        or be in ``blobs``: small contents sent with the create (digest → bytes), which
        are verified and stored, and count as uploaded for this create (afterwards the
        new artifact gives possession; a refused create needs them sent again).

        Raises:
            BlobNotFound: a file's blob is not stored, or not the caller's to use (the same answer).
            InvalidArtifactInput: the manifest contradicts its content or itself.
            ArtifactIntegrityError: a sent blob does not hash to its digest.
            PermissionDenied: the caller may not create names in the folder or group.

        Example:
            ```python
            art, created = reg.create(manifest, "new", make_folder=True)
            ```
        """
        strategy = parse_strategy(conflict_strategy)
        sealed = self._sealed_for_create(manifest, blobs or {})
        art, created = self.catalog.create(sealed, strategy, make_folder, self.principal)
        return self._bind(art), created

    def _sealed_for_create(self, manifest: ArtifactManifest, blobs: Mapping[str, bytes],
                           sync: bool = True) -> ArtifactManifest:
        """`create`'s checks (the caller's group, possession of the blobs or ``blobs`` sent): the sealed manifest.

        ``sync=False``: sent contents are written without fsync (the caller flushes their store).
        """
        principal = self.principal
        if principal is not None and manifest.group_id is not None and not principal.can_write(manifest.group_id):
            raise PermissionDenied(f"user {principal.user_name!r} may not write to group {manifest.group_id!r}")
        store = self._named_store(manifest.storage_id)  # where the blobs must be (an unknown id: refused)
        sent = self._store_sent(manifest, blobs, sync)
        claimed = {f.digest for f in manifest.files if f.uri is None and isinstance(f.digest, str)} - sent
        usable = sent | self._possessed(claimed)

        def blob_size(digest: str) -> int:
            if digest not in usable:
                raise BlobNotFound(f"content {digest} has not been uploaded")
            if digest in sent:  # stored from these very bytes just now
                return len(blobs[digest])
            try:
                return store.size(digest)
            except BlobNotFound:
                raise BlobNotFound(f"content {digest} has not been uploaded") from None

        return self._keyed(self._checked_refs(seal_manifest(manifest, blob_size, self._schemas.find)))

    def _checked_refs(self, manifest: ArtifactManifest) -> ArtifactManifest:
        """Check what a manifest points at: a readable serializer snapshot, aspect policies of the caller's groups."""
        if manifest.serializer is not None:
            try:
                self.get_plugin_snapshot(manifest.serializer.snapshot_id)
            except ArtifactNotFound:
                raise InvalidArtifactInput(f"serializer snapshot {manifest.serializer.snapshot_id!r} does not exist "
                                           "(or is not readable): create it with create_plugin_snapshot") from None
        for aspect in manifest.aspects:
            self._check_policy(aspect.get("policy"))
        return manifest

    def _check_policy(self, policy: str | None) -> None:
        """A caller may give an aspect only the policy of a group it is a member of (it must read it back)."""
        group = policy_group(policy)
        principal = self.principal
        if group is not None and principal is not None and not principal.can_read(group):
            raise PermissionDenied(f"user {principal.user_name!r} is not a member of group {group!r}: "
                                   f"it may not write aspects with the policy {policy}")

    def _visible(self, aspect: Aspect) -> bool:
        """Whether the caller reads ``aspect``: a policy naming no group, or one of its groups."""
        if aspect.policy is None or self.group_ids is None:
            return True
        try:
            group = policy_group(aspect.policy)
        except InvalidArtifactInput:  # stored before policies were checked: a group URN gone wrong
            return False
        return group is None or group in self.group_ids

    def _store_sent(self, manifest: ArtifactManifest, blobs: Mapping[str, bytes], sync: bool = True) -> set[str]:
        """Verify and store small contents sent with a create; their digests."""
        wanted = {f.digest for f in manifest.files if f.uri is None}
        for digest, data in blobs.items():
            if digest not in wanted:
                raise InvalidArtifactInput(f"sent content {str(digest)[:16]}… is not a file of this artifact")
            actual = hashlib.sha256(data).hexdigest()
            if actual != digest:
                raise ArtifactIntegrityError(f"sent content digest {actual} does not match the announced {digest}")
        store = self._named_store(manifest.storage_id)
        for data in blobs.values():
            store.put_bytes(data, sync)
        return set(blobs)

    def _keyed(self, manifest: ArtifactManifest) -> ArtifactManifest:
        """Idempotency keys are per user: another user's key never returns (or blocks) a create."""
        key, principal = manifest.idempotency_key, self.principal
        if key is None or principal is None:
            return manifest
        return manifest.model_copy(update={"idempotency_key": f"{principal.user_id or '-'}:{key}"})

    def _get(self, ref: str) -> Artifact:
        return self._bind(self.catalog.get(self._id(ref)))

    def list(
        self, index: int = 0, page_length: int = 10, sort_by: str | None = None, descending: bool = False,
        search: str | None = None, group_id: str | None = None, folder: str | None = None,
        cursor: str | None = None, *, total_limit: int | None = None,
    ) -> Page[Artifact]:
        """One page of artifacts (see `Registry.list`).

        ``total_limit`` (embedded only) counts at most that many matches plus one, so a
        page of a broad filter does not visit every match: ``page.total > total_limit``
        means "more than" (the web view shows "1,000+").

        Example:
            ```python
            page = reg.list(page_length=50, search="label:prod", total_limit=1000)
            ```
        """
        self._check_page_length(page_length, search)
        check_position("index", index)
        data, total, next_cursor = self.catalog.list(
            index=index, page_length=page_length, sort_by=sort_by, descending=descending, search=search,
            group_id=group_id, folder=self._folder_filter(folder), cursor=cursor, group_ids=self.group_ids,
            total_limit=total_limit,
        )
        start = index if cursor is None else -1
        return Page[Artifact](
            data=[self._bind(a) for a in data], total=total, index=start, page_length=page_length,
            is_complete=next_cursor is None, next_cursor=next_cursor,
        )

    def count(self, search: str | None = None, folder: str | None = None, group_id: str | None = None) -> int:  # noqa: D102
        self._check_page_length(1, search)
        return self.catalog.count(search, self._folder_filter(folder), group_id, self.group_ids)

    def ids(self, count: int | None = None, offset: int = 0) -> builtins.list[str]:  # noqa: D102
        check_position("offset", offset)
        if count is not None:
            check_position("count", count)
        return self.catalog.ids(count, offset, self.group_ids)

    def files(self, ref: str) -> builtins.list[ArtifactFile]:  # noqa: D102
        return self.catalog.files(self._id(ref))

    def locate_file(self, ref: str, path: str | None = None) -> tuple[Artifact, ArtifactFile, str | None]:
        """The artifact, its file ``path`` (its only file when None) and that file's blob digest.

        The digest is None for a reference: its content lives at the file's ``uri``. With
        `open_content` this is how a front end (the server) streams what ``read`` would.

        Raises:
            ArtifactNotFound: no such artifact (or not readable), or no such file in it.
            InvalidOperation: a directory artifact and no ``path``.

        Example:
            ```python
            art, meta, digest = reg.locate_file("/team/checkpoint:3", "weights.bin")
            ```
        """
        art = self.get(ref)
        if path is None:
            if art.is_dir:
                raise InvalidOperation(f"{art.ref} is a directory: name a file with path=")
            rows = self.catalog.file_digests(art.id)
            if not rows:
                raise ArtifactNotFound(f"{art.ref} has no content")
            return art, *rows[0]
        return art, *self.catalog.file_digest(art.id, safe_relpath(path))

    def _open_content(
        self, ref: str, path: str | None, chunk_size: int, start: int | None, end: int | None
    ) -> Iterator[bytes]:
        art, meta, digest = self.locate_file(ref, path)
        return self.open_content(meta, digest, chunk_size, start, end, storage_id=art.storage_id)

    def open_content(self, meta: ArtifactFile, digest: str | None, chunk_size: int = CHUNK_SIZE,
                     start: int | None = None, end: int | None = None, verify: bool = True,
                     storage_id: str | None = None) -> Iterator[bytes]:
        """Stream a file found by `locate_file`: all of it, or bytes ``[start, end)``.

        Every byte is verified: a whole file against its SHA-256 (``verify=False`` only
        when the consumer checks the digest itself), a range chunk by chunk against the
        blob's chunk index, a reference against its recorded checksum. ``storage_id`` is
        the artifact's store (None: the store that holds the blob).

        Example:
            ```python
            art, meta, digest = reg.locate_file("data:latest")
            first_kib = b"".join(reg.open_content(meta, digest, start=0, end=1024))
            ```
        """
        if digest is None:
            chunks = references.read(meta.uri or "", meta.checksum, chunk_size)
            return chunks if start is None and end is None else slice_stream(chunks, start or 0, end)
        store = self._store_of(digest, storage_id)
        if start is None and end is None:
            return store.read(digest, chunk_size, verify=verify)
        return store.read_range(digest, start or 0, end, chunk_size)

    def _download_to(self, ref: str, target: Path, chunk_size: int, artifact_path: str | None) -> None:
        art, meta, digest = self.locate_file(ref, artifact_path)
        if digest is None:
            super()._download_to(ref, target, chunk_size, artifact_path)
        else:
            self._store_of(digest, art.storage_id).download(digest, target)

    def bundle(  # noqa: D102
        self, ref: str, file_type: BundleType | str = BundleType.TAR_GZ, artifact_path: str | None = None
    ) -> Iterator[bytes]:
        bundle_type = parse_bundle_type(file_type) or BundleType.TAR_GZ
        art, rows = self.bundle_files(ref, artifact_path)
        entries = [BundleEntry(meta.path, meta.size or 0, _opener(self, meta, digest, art.storage_id))
                   for meta, digest in rows]
        return stream_bundle(entries, bundle_type, art.created)

    def bundle_files(
        self, ref: str, artifact_path: str | None = None
    ) -> tuple[Artifact, builtins.list[tuple[ArtifactFile, str | None]]]:
        """The files a bundle of a directory (or of its sub-folder) holds, with their blob digests.

        A None digest is a reference: a server answers those with their URIs instead of a bundle.

        Raises:
            InvalidOperation: a single-file artifact (it has no bundle).
            ArtifactNotFound: no such artifact, or no file or folder ``artifact_path`` in it.

        Example:
            ```python
            art, rows = reg.bundle_files("checkpoint:latest", "plots")
            ```
        """
        art = self.get(ref)
        if not art.is_dir:
            raise InvalidOperation(f"{art.ref} is a single file: it has no bundle")
        prefix = safe_relpath(artifact_path, "artifact_path") if artifact_path else ""
        rows = self.catalog.file_digests(art.id, prefix)  # the query selects; the rule checks and says so
        return art, select_files(art, rows, prefix, path_of=lambda row: row[0].path)

    def chunk_entries(self, digest: str, start: int = 0, end: int | None = None,
                      max_entries: int = 4096) -> ChunkIndex:
        """The chunk index entries that verify bytes ``[start, end)`` of a blob (at most ``max_entries``).

        The stored index is checked first; a missing or tampered one is rebuilt from a
        full verified read. Call it for a digest found by `locate_file` (which applies
        the caller's read access).

        Example:
            ```python
            art, meta, digest = reg.locate_file("data:latest")
            entries = reg.chunk_entries(digest, 0, 1024)
            ```
        """
        index = self._store_of(digest).chunk_index(digest)
        stop = index.size if end is None else min(end, index.size)
        if start >= stop:
            return ChunkIndex(index.digest, index.size, index.chunk_size, index.kind, ())
        first, last = index.chunks_for(start, stop)
        return index.covering(first, min(last, first + max_entries - 1))

    def attach(self, ref: str, run_id: str, category: RunCategory | str = RunCategory.OUTPUT) -> RunLink:  # noqa: D102
        cat = parse_category(category)
        return self.catalog.attach(self._writable_id(ref), check_run_id(run_id), cat)

    def run_artifacts(self, run_id: str, category: RunCategory | str | None = None) -> builtins.list[Artifact]:  # noqa: D102
        cat = parse_category(category) if category is not None else None
        arts = [self._bind(a) for a in self.catalog.run_artifacts(str(run_id), cat, self.group_ids)]
        for art in arts:
            art._seen_run = str(run_id)  # Artifact.get_category answers for this run
        return arts

    def lineage(self, ref: str) -> Lineage:  # noqa: D102
        root = self._id(ref)
        arts, edges = self.catalog.lineage(root, group_ids=self.group_ids)
        return Lineage(root=root, artifacts=[self._bind(a) for a in arts], edges=edges)

    def add_metadata(  # noqa: D102
        self, ref: str, aspect: dict[str, Any], schema: str | dict[str, Any] | None = None,
        policy: str | None = None,
    ) -> Aspect:
        prepared = prepare_aspect(aspect, schema, policy, self._schemas.find)
        artifact_id = self._writable_id(ref)
        self._check_policy(policy)
        return self.catalog.add_aspect(artifact_id, prepared["content"], prepared["schema_name"], policy)

    def get_metadata(self, ref: str) -> builtins.list[Aspect]:  # noqa: D102
        return [a for a in self.catalog.aspects(self._id(ref)) if self._visible(a)]

    def register_schema(self, urn: str, json_schema: dict[str, Any]) -> AspectSchema:  # noqa: D102
        principal = self.principal
        if principal is not None and principal.writable is not None and not principal.writable:
            raise PermissionDenied(f"user {principal.user_name!r} may not write to any group: "
                                   "it may not register schemas")
        return self._schemas.register(urn, json_schema)[0]

    def get_schema(self, urn: str) -> AspectSchema:  # noqa: D102
        return self._schemas.get(urn)

    def list_schemas(self, prefix: str | None = None) -> builtins.list[AspectSchema]:  # noqa: D102
        return self._schemas.list(prefix)

    def update(self, ref: str, description: str | None = None, labels: Sequence[str] | None = None) -> Artifact:  # noqa: D102
        return self._bind(self.catalog.update(self._writable_id(ref), description, self._check_labels(labels)))

    def set_alias(self, ref: str, alias: str) -> Artifact:  # noqa: D102
        artifact_id = self._writable_id(ref)
        self.catalog.set_alias(artifact_id, validate_alias(alias))
        return self.get(artifact_id)

    def delete(self, ref: str) -> None:  # noqa: D102
        self.catalog.delete(self._writable_id(ref))

    def transfers(self, ref: str) -> builtins.list[Transfer]:  # noqa: D102
        return self.catalog.transfers(self._id(ref))

    def record_download(self, ref: str, local_path: str | None = None) -> Transfer:  # noqa: D102
        if local_path is not None and (not isinstance(local_path, str) or "\x00" in local_path
                                       or len(local_path) > 4096 or not is_unicode(local_path)):
            raise InvalidArtifactInput(f"local_path must be a path of at most 4096 characters, not {local_path!r:.80}")
        return self.catalog.add_transfer(self._id(ref), TransferAction.DOWNLOAD, self.principal, local_path)

    def _where(self, art: Artifact) -> _Location:
        # No server: no url. A single stored file's blob is its storage_url; a local store's is
        # also its download_url (file://), an object store's a presigned URL where it signs.
        if art.kind == "reference":
            uri = None if art.is_dir else art.files[0].uri
            return _Location(download_url=uri, storage_url=uri, uploaded=False)
        if art.is_dir:
            return _Location()
        _art, meta, digest = self.locate_file(art.id)
        if digest is None:
            return _Location(download_url=meta.uri, storage_url=meta.uri)
        store = self._store_of(digest, art.storage_id)
        blob = store.blob_uri(digest)
        return _Location(download_url=blob if store.is_local else _signed(store, digest), storage_url=blob)

    def gc(self, dry_run: bool = False, grace_seconds: float | None = None) -> GcReport:  # noqa: D102
        if self.principal is not None and not self.principal.is_admin:
            raise PermissionDenied("only admins may run garbage collection")
        grace = self.settings.gc_grace_seconds if grace_seconds is None else grace_seconds
        now = utcnow()
        cutoff = now.timestamp() - grace
        report = GcReport(dry_run=dry_run, grace_seconds=grace)
        if not dry_run:
            report.artifacts_purged = self.catalog.purge_deleted()
            # Uploads older than the grace period no longer make their blobs the uploader's.
            self._access.prune_uploads(_ago(grace))
        # Every store (the named ones too). A digest any live artifact references is kept in
        # every store holding it: safe, if not minimal, when the same content is in two stores.
        listed = _ago(_CLOCK_SKEW)  # deletions this long before the listing count as after it
        blobs = [(store, *blob) for store in self.stores.values() for blob in store.iter_blobs()]
        referenced = self.catalog.referenced(builtins.list({d for _, d, _, _ in blobs}), live_only=dry_run)
        # An upload reusing a blob reserves it in the catalog (any replica): young too.
        reserved = self._access.reserved({d for _, d, _, _ in blobs if d not in referenced}, _ago(grace))
        step = tally()  # the CLI's count bar, when it listens
        for i, (store, digest, size, mtime) in enumerate(blobs):
            if i % 64 == 0:
                step(i, len(blobs))
            if digest in referenced:
                continue
            if mtime > cutoff or digest in reserved:
                report.blobs_kept_young += 1
                report.bytes_kept_young += size
                continue
            if self._collect(store, digest, cutoff, grace, listed, dry_run):
                report.blobs_deleted += 1
                report.bytes_freed += size
        step(len(blobs), len(blobs))
        if not dry_run:
            self._access.prune_deletions(_ago(DELETIONS_KEPT))
        for store in self.stores.values():
            for path, mtime in itertools.chain(store.iter_temp(), store.iter_leases()):
                if mtime <= cutoff:
                    if not dry_run:
                        store.remove_temp(path)
                    report.temp_files_deleted += 1
            unfinished = list(store.iter_unfinished_uploads())  # S3 parts of dead writers
            # Old by the store's date and by gc's own first sighting (a store's date may be fixed or skewed).
            seen = self._access.sight_uploads(store.url, [(k, u) for k, u, _ in unfinished], now,
                                              record=not dry_run) if unfinished or not dry_run else {}
            for key, upload_id, started in unfinished:
                if started <= cutoff and seen[(key, upload_id)].timestamp() <= cutoff:
                    report.uploads_aborted += 1
                    report.upload_bytes_aborted += store.upload_size(key, upload_id)
                    if not dry_run:
                        store.abort_upload(key, upload_id)
        return report

    def _collect(self, store: ContentStore, digest: str, cutoff: float, grace: float, listed: datetime,
                 dry_run: bool) -> bool:
        """Delete one unreferenced old blob unless an upload reserved it meanwhile; whether (it would be) deleted.

        The claim in the catalog comes first, then the re-checks, then the delete: an upload
        on any replica that reserves the blob either is seen here, or sees the claim and
        looks at the store again once the delete is done (`AuthCatalog.hold_blob`).
        """
        def kept() -> bool:
            return bool(store.blob_mtime(digest) > cutoff or self._access.reserved([digest], _ago(grace))
                        or self.catalog.referenced([digest], live_only=dry_run))

        if dry_run:
            return not kept()
        if not self._access.claim_deletion(digest, listed):
            return False  # another collection is on it, or deleted it since we listed the store
        deleted = False
        try:
            if not kept():
                store.delete(digest)
                deleted = True
        finally:
            self._access.finish_deletion(digest, deleted)
        return deleted

    def create_plugin_snapshot(  # noqa: D102
        self, plugin_name: str, version: str | None, files: Sequence[tuple[str, bytes]], group: str | None = None
    ) -> PluginSnapshot:
        digest, listed = snapshot_manifest(files)
        group = self._snapshot_group(group)
        for _path, data in files:
            self.store.put_bytes(data)
        return self._catalog_snapshot(plugin_name, version, digest, listed, group)

    def register_plugin_snapshot(self, plugin_name: str, version: str | None, digest: str,
                                 files: Sequence[Any], group_id: str | None = None) -> PluginSnapshot:
        """Catalog a snapshot whose file blobs are stored already (the server's create).

        Each file's blob must be one the caller possesses (see the module docstring).
        The snapshot's group (``group_id``, default: the caller's) may read it; the same
        code registered by another group gives the same snapshot, readable by both.

        Raises:
            SnapshotIntegrityError: the digest does not match the file list, or a file's
                blob is not stored or not the caller's to use (the same answer).
            PermissionDenied: the caller may not write to the group.

        Example:
            ```python
            reg.register_plugin_snapshot("json", "1", digest, snapshot_files)
            ```
        """
        group = self._snapshot_group(group_id)
        listed = sorted(files, key=lambda f: f.path)
        if snapshot_digest(listed) != digest:
            raise SnapshotIntegrityError(f"snapshot digest {digest} does not match its file list")
        usable = self._possessed(f.checksum for f in listed)
        for f in listed:
            if f.checksum not in usable or not self.store.exists(f.checksum):
                raise SnapshotIntegrityError(f"snapshot file {f.path!r} ({f.checksum}) has not been uploaded")
        return self._catalog_snapshot(plugin_name, version, digest, listed, group)

    def _snapshot_group(self, group_id: str | None) -> str | None:
        principal = self.principal
        if principal is None:
            return group_id
        group = group_id or principal.default_group
        if not principal.can_write(group):
            raise PermissionDenied(f"user {principal.user_name!r} may not write to group {group!r}")
        return group

    def _catalog_snapshot(self, plugin_name: str, version: str | None, digest: str,
                          files: Sequence[Any], group: str | None) -> PluginSnapshot:
        snapshot = self.catalog.create_snapshot(plugin_name, version, digest, files, group)
        if self.principal is not None and group is not None:
            self._access.grant_snapshot(snapshot.id, group)  # the same code from another group: both read it
        return snapshot

    def _readable_snapshot(self, snapshot_id: str) -> None:
        readable = self.principal.readable if self.principal is not None else None
        if readable is not None and not self._access.snapshot_groups(snapshot_id) & readable:
            raise ArtifactNotFound(f"no plugin snapshot with id {snapshot_id}")

    def get_plugin_snapshot(self, snapshot_id: str) -> PluginSnapshot:  # noqa: D102
        self._readable_snapshot(snapshot_id)
        return self.catalog.get_snapshot(snapshot_id)

    def read_plugin_snapshot_file(self, snapshot_id: str, path: str) -> bytes:  # noqa: D102
        self._readable_snapshot(snapshot_id)
        snapshot = self.catalog.get_snapshot(snapshot_id)
        entry = next((f for f in snapshot.files if f.path == path), None)
        if entry is None:
            raise ArtifactNotFound(f"plugin snapshot {snapshot_id} has no file {path!r}")
        try:
            return b"".join(self.store.read(entry.checksum))
        except (ArtifactIntegrityError, BlobNotFound) as exc:
            raise SnapshotIntegrityError(
                f"plugin snapshot {snapshot_id} file {path!r} is tampered or missing: {exc}"
            ) from exc


class BlobReceiver:
    """Takes one upload for `LocalRegistry.receive_blob`: verifies it, stores it once, records it.

    Content already stored (for another group, say) is hashed as it arrives and not
    written again; either way the upload makes the blob the caller's to use.

    Attributes:
        usable: the blob's size when the caller may use it already (no bytes needed), else None.

    Example:
        ```python
        receiver = reg.receive_blob(digest)
        info = receiver.put_stream(iter([data]), expected_digest=digest)
        ```
    """

    def __init__(self, registry: LocalRegistry, usable: int | None, store: ContentStore | None = None) -> None:
        self._registry = registry
        self._store = registry.store if store is None else store
        self.usable = usable

    def put_stream(self, chunks: Iterable[bytes], expected_digest: str | None = None,
                   max_size: int | None = None) -> BlobInfo:
        """Store bytes from an iterable, refused (nothing kept) if they hash differently.

        Raises:
            ArtifactIntegrityError: the content does not hash to ``expected_digest``.
            PayloadTooLarge: the content exceeds ``max_size``.

        Example:
            ```python
            receiver.put_stream(request_chunks, expected_digest=digest, max_size=2**30)
            ```
        """
        store = self._store
        if expected_digest is not None and store.exists(expected_digest) and store.hold(expected_digest):
            digest, size = copy_chunks_hashing(chunks, lambda _batch: None, max_size=max_size)  # hashed, not kept
            if digest != expected_digest:
                raise ArtifactIntegrityError(f"content digest {digest} does not match the announced {expected_digest}")
            info = BlobInfo(digest, size, written=False)
        else:
            info = store.put_stream(chunks, expected_digest=expected_digest, max_size=max_size)
        self._registry._record_upload(info.digest)
        return info

    def put_bytes(self, data: bytes, sync: bool = True) -> BlobInfo:
        """Store a small payload the caller has checked against its digest.

        Example:
            ```python
            receiver.put_bytes(b"hello")
            ```
        """
        info = self._store.put_bytes(data, sync=sync)
        self._registry._record_upload(info.digest)
        return info


def _ago(seconds: float) -> datetime:
    """The time ``seconds`` ago (the beginning of time for a grace period longer than that)."""
    try:
        return utcnow() - timedelta(seconds=seconds)
    except OverflowError:
        return datetime.min.replace(tzinfo=timezone.utc)


def _signed(store: ContentStore, digest: str, expiration: int = 3600) -> str | None:
    """A presigned URL of a blob of an object store (valid ``expiration`` seconds), or None if it cannot sign."""
    try:
        return str(store.fs.sign(store.blob_path(digest), expiration=expiration))
    except Exception:  # noqa: BLE001 - NotImplementedError, or a store without credentials to sign with
        return None


def _opener(reg: LocalRegistry, meta: ArtifactFile, digest: str | None, storage_id: str | None = None) -> Any:
    return lambda: reg.open_content(meta, digest, storage_id=storage_id)
