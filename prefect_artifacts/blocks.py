"""Prefect blocks: `ArtifactStorage` (where blobs live) and `ArtifactRegistry` (the registry).

`ArtifactRegistry` exposes every `Registry` method, delegated to the registry it
builds (`get_registry`): in-process over storage + catalog, or HTTP to a server.
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.filesystems import WritableFileSystem
from prefect.types import SecretDict
from pydantic import Field, HttpUrl, PrivateAttr, SecretStr

from prefect_artifacts import results
from prefect_artifacts._localfile import TemporaryLocalFile
from prefect_artifacts.batches import BatchItem, BatchResult
from prefect_artifacts.draft import ArtifactDraft
from prefect_artifacts.models import (
    Artifact,
    ArtifactFile,
    ArtifactKind,
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
)
from prefect_artifacts.registry.base import Registry
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.registry.offline import OfflineMode, OfflineRegistry, SyncReport
from prefect_artifacts.registry.spec import RegistrySpec, open_registry, remember_registry
from prefect_artifacts.settings import get_settings
from prefect_artifacts.storage.content_store import ContentStore
from prefect_artifacts.storage.hashing import CHUNK_SIZE

if TYPE_CHECKING:  # importing the block does not load cryptography
    from prefect_artifacts.provenance import ProvenanceRecord

_DOCS = HttpUrl("https://github.com/prefect-artifacts/prefect-artifacts#readme")
# No `_logo_url`: Prefect takes only an http(s) URL, and a hot-linked image breaks on
# servers without internet access; the UI shows its own block icon instead.


class ArtifactStorage(WritableFileSystem):
    """Content storage for artifacts: any fsspec URL plus its options.

    Example:
        Load a saved storage block:
        ```python
        from prefect_artifacts import ArtifactStorage

        storage = ArtifactStorage.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "Artifact Storage"
    _block_type_slug = "artifact-storage"
    _documentation_url = _DOCS

    basepath: str | None = Field(
        default=None,
        title="Base path",
        description="fsspec URL or local path of the content store; default $PREFECT_ARTIFACTS_HOME/blobs.",
    )
    storage_options: SecretDict = Field(
        default_factory=lambda: SecretDict({}),
        title="Storage options",
        description="Options for the fsspec filesystem (credentials, endpoint_url, ...).",
    )

    def get_store(self, durable: bool | None = None) -> ContentStore:
        """Open the content store this block describes.

        Example:
            ```python
            store = ArtifactStorage(basepath="memory://x").get_store()
            ```
        """
        settings = get_settings()
        url = self.basepath or settings.storage_url or str(settings.home / "blobs")
        options = self.storage_options.get_secret_value() if self.storage_options else {}
        return ContentStore(url, dict(options), durable=settings.durable if durable is None else durable)

    # -- Prefect result storage (WritableFileSystem; logic in prefect_artifacts.results) ----

    async def aread_path(self, path: str) -> bytes:
        """Async twin of `read_path`."""
        return await results.aread_result(self, path)

    @async_dispatch(aread_path)
    def read_path(self, path: str) -> bytes:  # type: ignore[override] # sync or async, as LocalFileSystem
        """The Prefect result stored under storage key ``path`` (`results.read_result`).

        Results go to the registry ``ArtifactRegistry(storage=self)`` configures: this store
        and the settings' catalog (`results.registry_of`).

        Raises:
            ArtifactNotFound: nothing is stored under that key.

        Example:
            ```python
            storage.read_path("9f86d081884c7d65")
            ```
        """
        return results.read_result(self, path)

    async def awrite_path(self, path: str, content: bytes) -> str:
        """Async twin of `write_path`."""
        return await results.awrite_result(self, path, content)

    @async_dispatch(awrite_path)
    def write_path(self, path: str, content: bytes) -> str:  # type: ignore[override] # as LocalFileSystem
        """Store a Prefect result under storage key ``path`` as a result artifact; returns ``path``.

        The artifact goes to the registry ``ArtifactRegistry(storage=self)`` configures.

        Example:
            ```python
            storage.write_path("my-key", b"payload")  # see prefect_artifacts.results
            ```
        """
        return results.write_result(self, path, content)

    def _resolve_path(self, path: str) -> None:
        # Prefect's ResultStore asks storage blocks for a base path; None: keys are used as given.
        return None


class ArtifactRegistry(WritableFileSystem):
    """The artifact registry: embedded (SQLite + local blobs), storage + catalog, or a server.

    With no arguments it is the embedded registry under ``$PREFECT_ARTIFACTS_HOME``
    (default ``~/.prefect-artifacts``). Every `Registry` method is available on the
    block (``upload_file``, ``get``, ``list``, ``aget``, …); ``delete_artifact``
    stands for ``Registry.delete`` because ``Block.delete`` removes saved blocks.

    Example:
        Load a saved registry block:
        ```python
        from prefect_artifacts import ArtifactRegistry

        registry = ArtifactRegistry.load("BLOCK_NAME")
        art = registry.upload_file("data.csv", name="my-data")
        ```
    """

    _block_type_name = "Artifact Registry"
    _block_type_slug = "artifact-registry"
    _documentation_url = _DOCS

    storage: ArtifactStorage | None = Field(
        default=None, title="Storage",
        description="Where artifact content is stored (in-process registry only); default: local blobs in the home.",
    )
    catalog_url: SecretStr | None = Field(
        default=None, title="Catalog URL",
        description="SQLAlchemy URL of the catalog database (in-process registry only); default: SQLite in the home.",
    )
    api_url: str | None = Field(
        default=None, title="API URL",
        description="URL of a prefect-artifacts server, e.g. http://host:4300/api/v1; set it to use the server.",
    )
    api_key: SecretStr | None = Field(default=None, title="API key", description="API key for the server.")
    offline: OfflineMode | None = Field(
        default=None, title="Offline",
        description="With a server: true writes to a local outbox (replayed by `prefect-artifacts sync`); 'auto'"
        " uses the server while it answers and the outbox when it can not be reached; false never goes offline."
        " Default: $PREFECT_ARTIFACTS_OFFLINE (false).",
    )

    _registry: Registry | None = PrivateAttr(default=None)
    # After unpickling: the registry the block had built, opened again on first use.
    _spec: RegistrySpec | None = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    def get_registry(self) -> Registry:
        """The registry this block describes (built once, then reused).

        A block pickled after it built its registry carries that registry's `RegistrySpec`
        (not the registry): the other process opens the same configuration once per
        process, whatever its own environment says.

        Example:
            ```python
            ArtifactRegistry().get_registry()  # LocalRegistry on the embedded home
            ```
        """
        with self._lock:
            if self._registry is None:
                if self._spec is not None:
                    self._registry = open_registry(self._spec)
                else:
                    self._registry = self._build()
                    remember_registry(self._registry)  # artifacts unpickled here bind to it
            return self._registry

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        private = dict(state.get("__pydantic_private__") or {})
        private.pop("_lock", None)
        registry = private.get("_registry")
        private["_registry"] = None
        if registry is not None:
            private["_spec"] = remember_registry(registry)
        state["__pydantic_private__"] = private
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._lock = threading.Lock()

    def _build(self) -> Registry:
        settings = get_settings()
        api_url = self.api_url or (settings.api_url if self.storage is None and self.catalog_url is None else None)
        if api_url:
            from prefect_artifacts.registry.http import HttpRegistry

            key = self.api_key.get_secret_value() if self.api_key else settings.api_key
            offline = settings.offline if self.offline is None else self.offline
            if offline is not False:
                return OfflineRegistry.for_server(api_url, api_key=key, mode=offline, settings=settings)
            return HttpRegistry(api_url, api_key=key, settings=settings)
        store = (self.storage or ArtifactStorage()).get_store(durable=settings.durable)
        from prefect_artifacts.catalog.engine import sqlite_url
        from prefect_artifacts.catalog.sql import SqlCatalog

        catalog_url = (self.catalog_url.get_secret_value() if self.catalog_url else None) or settings.catalog_url
        catalog = SqlCatalog(catalog_url or sqlite_url(settings.home / "catalog.sqlite"), durable=settings.durable)
        return LocalRegistry(store, catalog, settings)

    def delete_artifact(self, ref: str) -> None:
        """Delete an artifact version (``Registry.delete``).

        Example:
            ```python
            registry.delete_artifact("my-data:1")
            ```
        """
        self.get_registry().delete(ref)

    async def adelete_artifact(self, ref: str) -> None:
        """Async twin of `delete_artifact`."""
        await self.get_registry().adelete(ref)

    # -- Prefect result storage (WritableFileSystem; logic in prefect_artifacts.results) ----

    async def aread_path(self, path: str) -> bytes:
        """Async twin of `read_path`."""
        return await results.aread_result(self, path)

    @async_dispatch(aread_path)
    def read_path(self, path: str) -> bytes:  # type: ignore[override] # sync or async, as LocalFileSystem
        """The Prefect result stored under storage key ``path`` in this registry (`results.read_result`).

        Raises:
            ArtifactNotFound: nothing is stored under that key.

        Example:
            ```python
            registry.read_path("9f86d081884c7d65")
            ```
        """
        return results.read_result(self, path)

    async def awrite_path(self, path: str, content: bytes) -> str:
        """Async twin of `write_path`."""
        return await results.awrite_result(self, path, content)

    @async_dispatch(awrite_path)
    def write_path(self, path: str, content: bytes) -> str:  # type: ignore[override] # as LocalFileSystem
        """Store a Prefect result under storage key ``path`` as a result artifact in this registry; returns ``path``.

        Example:
            ```python
            registry.write_path("my-key", b"payload")  # see prefect_artifacts.results
            ```
        """
        return results.write_result(self, path, content)

    def _resolve_path(self, path: str) -> None:
        # Prefect's ResultStore asks storage blocks for a base path; None: keys are used as given.
        return None

    # -- every Registry method, on the registry this block describes (get_registry) ----
    # (Block.delete/adelete remove saved blocks: delete_artifact stands for Registry.delete.)

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
        """`Registry.upload` on this block's registry."""
        return self.get_registry().upload(draft, folder, make_folder, conflict_strategy,
                                          idempotency_key=idempotency_key, runs=runs, kind=kind,
                                          original_path=original_path, serializer=serializer,
                                          extra_aspects=extra_aspects, progress=progress, group=group,
                                          storage=storage)

    def upload_file(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        mime_type: str | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        make_folder: bool = True,
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """`Registry.upload_file` on this block's registry."""
        return self.get_registry().upload_file(path, name, folder, description, labels, metadata, mime_type,
                                               conflict_strategy, make_folder, group, **options)

    def upload_dir(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        make_folder: bool = True,
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """`Registry.upload_dir` on this block's registry."""
        return self.get_registry().upload_dir(path, name, folder, description, labels, metadata, conflict_strategy,
                                              make_folder, group, **options)

    def upload_many(
        self,
        items: Sequence[BatchItem],
        *,
        folder: str | None = None,
        make_folder: bool = True,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        group: str | None = None,
        runs: Sequence[tuple[str, RunCategory | str]] = (),
        storage: str | None = None,
    ) -> builtins.list[BatchResult]:
        """`Registry.upload_many` on this block's registry."""
        return self.get_registry().upload_many(items, folder=folder, make_folder=make_folder,
                                                conflict_strategy=conflict_strategy, group=group, runs=runs,
                                                storage=storage)

    def add_reference(
        self,
        uri: str,
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        make_folder: bool = True,
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """`Registry.add_reference` on this block's registry."""
        return self.get_registry().add_reference(uri, name, folder, description, labels, metadata, conflict_strategy,
                                                 make_folder, group, **options)

    def upload_code(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """`Registry.upload_code` on this block's registry."""
        return self.get_registry().upload_code(paths, name, folder, description, labels, group, **options)

    def save_object(
        self,
        obj: Any,
        name: str,
        serializer: str | type | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        options: dict[str, Any] | None = None,
        group: str | None = None,
        **upload_options: Any,
    ) -> Artifact:
        """`Registry.save_object` on this block's registry."""
        return self.get_registry().save_object(obj, name, serializer, folder, description, labels, metadata,
                                               conflict_strategy, options, group, **upload_options)

    def load_object(self, ref: str, use_current: bool = False) -> Any:
        """`Registry.load_object` on this block's registry."""
        return self.get_registry().load_object(ref, use_current)

    def check_loadable(self, refs: Sequence[str] | None = None) -> builtins.list[Any]:
        """`Registry.check_loadable` on this block's registry."""
        return self.get_registry().check_loadable(refs)

    def provenance(self, ref: str) -> ProvenanceRecord:
        """`Registry.provenance` on this block's registry."""
        return self.get_registry().provenance(ref)

    def push_outbox(self, dry_run: bool = False) -> SyncReport:
        """`Registry.push_outbox` on this block's registry."""
        return self.get_registry().push_outbox(dry_run)

    def get(self, ref: str | None = None, *, name: str | None = None, folder: str | None = None,
            version: int | str | None = None) -> Artifact:
        """`Registry.get` on this block's registry."""
        return self.get_registry().get(ref, name=name, folder=folder, version=version)

    def list(
        self, index: int = 0, page_length: int = 10, sort_by: str | None = None,
        descending: bool = False, search: str | None = None, group_id: str | None = None,
        folder: str | None = None, cursor: str | None = None,
    ) -> Page[Artifact]:
        """`Registry.list` on this block's registry."""
        return self.get_registry().list(index, page_length, sort_by, descending, search, group_id, folder, cursor)

    def iter(self, search: str | None = None, folder: str | None = None, page_length: int = 200,
             sort_by: str | None = None, descending: bool = False) -> Iterator[Artifact]:
        """`Registry.iter` on this block's registry."""
        return self.get_registry().iter(search, folder, page_length, sort_by, descending)

    def count(self, search: str | None = None, folder: str | None = None, group_id: str | None = None) -> int:
        """`Registry.count` on this block's registry."""
        return self.get_registry().count(search, folder, group_id)

    def ids(self, count: int | None = None, offset: int = 0) -> builtins.list[str]:
        """`Registry.ids` on this block's registry."""
        return self.get_registry().ids(count, offset)

    def files(self, ref: str) -> builtins.list[ArtifactFile]:
        """`Registry.files` on this block's registry."""
        return self.get_registry().files(ref)

    def read(
        self, ref: str, path: str | None = None, chunk_size: int = CHUNK_SIZE,
        start: int | None = None, end: int | None = None,
    ) -> Iterator[bytes]:
        """`Registry.read` on this block's registry."""
        return self.get_registry().read(ref, path, chunk_size, start, end)

    def bundle(
        self, ref: str, file_type: BundleType | str = BundleType.TAR_GZ, artifact_path: str | None = None
    ) -> Iterator[bytes]:
        """`Registry.bundle` on this block's registry."""
        return self.get_registry().bundle(ref, file_type, artifact_path)

    def download(self, ref: str, path: str | os.PathLike[str] | None = None, chunk_size: int = -1,
                 artifact_path: str | None = None) -> Path | TemporaryLocalFile:
        """`Registry.download` on this block's registry."""
        return self.get_registry().download(ref, path, chunk_size, artifact_path)

    def get_contents(
        self, ref: str, file_type: BundleType | str | None = None, artifact_path: str | None = None,
        output_dir: str | os.PathLike[str] | None = None, file_stem: str = "contents",
    ) -> Path:
        """`Registry.get_contents` on this block's registry."""
        return self.get_registry().get_contents(ref, file_type, artifact_path, output_dir, file_stem)

    def download_dir(
        self, ref: str, path: str | os.PathLike[str] | None = None, artifact_path: str | None = None,
        full_paths: bool = False, progress: Callable[[int], None] | None = None,
    ) -> Path:
        """`Registry.download_dir` on this block's registry."""
        return self.get_registry().download_dir(ref, path, artifact_path, full_paths, progress)

    def attach(self, ref: str, run_id: str, category: RunCategory | str = RunCategory.OUTPUT) -> RunLink:
        """`Registry.attach` on this block's registry."""
        return self.get_registry().attach(ref, run_id, category)

    def run_artifacts(self, run_id: str, category: RunCategory | str | None = None) -> builtins.list[Artifact]:
        """`Registry.run_artifacts` on this block's registry."""
        return self.get_registry().run_artifacts(run_id, category)

    def lineage(self, ref: str) -> Lineage:
        """`Registry.lineage` on this block's registry."""
        return self.get_registry().lineage(ref)

    def transfers(self, ref: str) -> builtins.list[Transfer]:
        """`Registry.transfers` on this block's registry."""
        return self.get_registry().transfers(ref)

    def record_download(self, ref: str, local_path: str | None = None) -> Transfer:
        """`Registry.record_download` on this block's registry."""
        return self.get_registry().record_download(ref, local_path)

    def add_metadata(
        self, ref: str, aspect: dict[str, Any], schema: str | dict[str, Any] | None = None,
        policy: str | None = None,
    ) -> Aspect:
        """`Registry.add_metadata` on this block's registry."""
        return self.get_registry().add_metadata(ref, aspect, schema, policy)

    def get_metadata(self, ref: str) -> builtins.list[Aspect]:
        """`Registry.get_metadata` on this block's registry."""
        return self.get_registry().get_metadata(ref)

    def list_aspects(self, ref: str, schema: str | None = None) -> builtins.list[Aspect]:
        """`Registry.list_aspects` on this block's registry."""
        return self.get_registry().list_aspects(ref, schema)

    def register_schema(self, urn: str, json_schema: dict[str, Any]) -> AspectSchema:
        """`Registry.register_schema` on this block's registry."""
        return self.get_registry().register_schema(urn, json_schema)

    def get_schema(self, urn: str) -> AspectSchema:
        """`Registry.get_schema` on this block's registry."""
        return self.get_registry().get_schema(urn)

    def list_schemas(self, prefix: str | None = None) -> builtins.list[AspectSchema]:
        """`Registry.list_schemas` on this block's registry."""
        return self.get_registry().list_schemas(prefix)

    def update(self, ref: str, description: str | None = None, labels: Sequence[str] | None = None) -> Artifact:
        """`Registry.update` on this block's registry."""
        return self.get_registry().update(ref, description, labels)

    def set_alias(self, ref: str, alias: str) -> Artifact:
        """`Registry.set_alias` on this block's registry."""
        return self.get_registry().set_alias(ref, alias)

    def gc(self, dry_run: bool = False, grace_seconds: float | None = None) -> GcReport:
        """`Registry.gc` on this block's registry."""
        return self.get_registry().gc(dry_run, grace_seconds)

    def close(self) -> None:
        """`Registry.close` on this block's registry."""
        self.get_registry().close()

    def create_plugin_snapshot(
        self, plugin_name: str, version: str | None, files: Sequence[tuple[str, bytes]], group: str | None = None
    ) -> PluginSnapshot:
        """`Registry.create_plugin_snapshot` on this block's registry."""
        return self.get_registry().create_plugin_snapshot(plugin_name, version, files, group)

    def get_plugin_snapshot(self, snapshot_id: str) -> PluginSnapshot:
        """`Registry.get_plugin_snapshot` on this block's registry."""
        return self.get_registry().get_plugin_snapshot(snapshot_id)

    def read_plugin_snapshot_file(self, snapshot_id: str, path: str) -> bytes:
        """`Registry.read_plugin_snapshot_file` on this block's registry."""
        return self.get_registry().read_plugin_snapshot_file(snapshot_id, path)

    # -- async twins ----------------------------------------------------------------

    async def aupload(
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
        """Async twin of `upload`."""
        return await self.get_registry().aupload(draft, folder, make_folder, conflict_strategy,
                                                 idempotency_key=idempotency_key, runs=runs, kind=kind,
                                                 original_path=original_path, serializer=serializer,
                                                 extra_aspects=extra_aspects, progress=progress, group=group,
                                                 storage=storage)

    async def aupload_file(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        mime_type: str | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        make_folder: bool = True,
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """Async twin of `upload_file`."""
        return await self.get_registry().aupload_file(path, name, folder, description, labels, metadata, mime_type,
                                                      conflict_strategy, make_folder, group, **options)

    async def aupload_dir(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        make_folder: bool = True,
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """Async twin of `upload_dir`."""
        return await self.get_registry().aupload_dir(path, name, folder, description, labels, metadata,
                                                     conflict_strategy, make_folder, group, **options)

    async def aupload_many(
        self,
        items: Sequence[BatchItem],
        *,
        folder: str | None = None,
        make_folder: bool = True,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        group: str | None = None,
        runs: Sequence[tuple[str, RunCategory | str]] = (),
        storage: str | None = None,
    ) -> builtins.list[BatchResult]:
        """Async twin of `upload_many`."""
        return await self.get_registry().aupload_many(items, folder=folder, make_folder=make_folder,
                                                conflict_strategy=conflict_strategy, group=group, runs=runs,
                                                storage=storage)

    async def aadd_reference(
        self,
        uri: str,
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        make_folder: bool = True,
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """Async twin of `add_reference`."""
        return await self.get_registry().aadd_reference(uri, name, folder, description, labels, metadata,
                                                        conflict_strategy, make_folder, group, **options)

    async def aupload_code(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """Async twin of `upload_code`."""
        return await self.get_registry().aupload_code(paths, name, folder, description, labels, group, **options)

    async def asave_object(
        self,
        obj: Any,
        name: str,
        serializer: str | type | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        options: dict[str, Any] | None = None,
        group: str | None = None,
        **upload_options: Any,
    ) -> Artifact:
        """Async twin of `save_object`."""
        return await self.get_registry().asave_object(obj, name, serializer, folder, description, labels, metadata,
                                                      conflict_strategy, options, group, **upload_options)

    async def aload_object(self, ref: str, use_current: bool = False) -> Any:
        """Async twin of `load_object`."""
        return await self.get_registry().aload_object(ref, use_current)

    async def acheck_loadable(self, refs: Sequence[str] | None = None) -> builtins.list[Any]:
        """Async twin of `check_loadable`."""
        return await self.get_registry().acheck_loadable(refs)

    async def aprovenance(self, ref: str) -> ProvenanceRecord:
        """Async twin of `provenance`."""
        return await self.get_registry().aprovenance(ref)

    async def apush_outbox(self, dry_run: bool = False) -> SyncReport:
        """Async twin of `push_outbox`."""
        return await self.get_registry().apush_outbox(dry_run)

    async def aget(self, ref: str | None = None, *, name: str | None = None, folder: str | None = None,
                   version: int | str | None = None) -> Artifact:
        """Async twin of `get`."""
        return await self.get_registry().aget(ref, name=name, folder=folder, version=version)

    async def alist(
        self, index: int = 0, page_length: int = 10, sort_by: str | None = None,
        descending: bool = False, search: str | None = None, group_id: str | None = None,
        folder: str | None = None, cursor: str | None = None,
    ) -> Page[Artifact]:
        """Async twin of `list`."""
        return await self.get_registry().alist(index, page_length, sort_by, descending, search, group_id, folder,
                                               cursor)

    async def acount(self, search: str | None = None, folder: str | None = None, group_id: str | None = None) -> int:
        """Async twin of `count`."""
        return await self.get_registry().acount(search, folder, group_id)

    async def aids(self, count: int | None = None, offset: int = 0) -> builtins.list[str]:
        """Async twin of `ids`."""
        return await self.get_registry().aids(count, offset)

    async def afiles(self, ref: str) -> builtins.list[ArtifactFile]:
        """Async twin of `files`."""
        return await self.get_registry().afiles(ref)

    async def adownload(self, ref: str, path: str | os.PathLike[str] | None = None, chunk_size: int = -1,
                        artifact_path: str | None = None) -> Path | TemporaryLocalFile:
        """Async twin of `download`."""
        return await self.get_registry().adownload(ref, path, chunk_size, artifact_path)

    async def aget_contents(
        self, ref: str, file_type: BundleType | str | None = None, artifact_path: str | None = None,
        output_dir: str | os.PathLike[str] | None = None, file_stem: str = "contents",
    ) -> Path:
        """Async twin of `get_contents`."""
        return await self.get_registry().aget_contents(ref, file_type, artifact_path, output_dir, file_stem)

    async def adownload_dir(
        self, ref: str, path: str | os.PathLike[str] | None = None, artifact_path: str | None = None,
        full_paths: bool = False, progress: Callable[[int], None] | None = None,
    ) -> Path:
        """Async twin of `download_dir`."""
        return await self.get_registry().adownload_dir(ref, path, artifact_path, full_paths, progress)

    async def aattach(self, ref: str, run_id: str, category: RunCategory | str = RunCategory.OUTPUT) -> RunLink:
        """Async twin of `attach`."""
        return await self.get_registry().aattach(ref, run_id, category)

    async def arun_artifacts(self, run_id: str, category: RunCategory | str | None = None) -> builtins.list[Artifact]:
        """Async twin of `run_artifacts`."""
        return await self.get_registry().arun_artifacts(run_id, category)

    async def alineage(self, ref: str) -> Lineage:
        """Async twin of `lineage`."""
        return await self.get_registry().alineage(ref)

    async def atransfers(self, ref: str) -> builtins.list[Transfer]:
        """Async twin of `transfers`."""
        return await self.get_registry().atransfers(ref)

    async def arecord_download(self, ref: str, local_path: str | None = None) -> Transfer:
        """Async twin of `record_download`."""
        return await self.get_registry().arecord_download(ref, local_path)

    async def aadd_metadata(
        self, ref: str, aspect: dict[str, Any], schema: str | dict[str, Any] | None = None,
        policy: str | None = None,
    ) -> Aspect:
        """Async twin of `add_metadata`."""
        return await self.get_registry().aadd_metadata(ref, aspect, schema, policy)

    async def aget_metadata(self, ref: str) -> builtins.list[Aspect]:
        """Async twin of `get_metadata`."""
        return await self.get_registry().aget_metadata(ref)

    async def alist_aspects(self, ref: str, schema: str | None = None) -> builtins.list[Aspect]:
        """Async twin of `list_aspects`."""
        return await self.get_registry().alist_aspects(ref, schema)

    async def aregister_schema(self, urn: str, json_schema: dict[str, Any]) -> AspectSchema:
        """Async twin of `register_schema`."""
        return await self.get_registry().aregister_schema(urn, json_schema)

    async def aget_schema(self, urn: str) -> AspectSchema:
        """Async twin of `get_schema`."""
        return await self.get_registry().aget_schema(urn)

    async def alist_schemas(self, prefix: str | None = None) -> builtins.list[AspectSchema]:
        """Async twin of `list_schemas`."""
        return await self.get_registry().alist_schemas(prefix)

    async def aupdate(self, ref: str, description: str | None = None, labels: Sequence[str] | None = None) -> Artifact:
        """Async twin of `update`."""
        return await self.get_registry().aupdate(ref, description, labels)

    async def aset_alias(self, ref: str, alias: str) -> Artifact:
        """Async twin of `set_alias`."""
        return await self.get_registry().aset_alias(ref, alias)

    async def agc(self, dry_run: bool = False, grace_seconds: float | None = None) -> GcReport:
        """Async twin of `gc`."""
        return await self.get_registry().agc(dry_run, grace_seconds)

    async def aclose(self) -> None:
        """Async twin of `close`."""
        await self.get_registry().aclose()

    async def acreate_plugin_snapshot(
        self, plugin_name: str, version: str | None, files: Sequence[tuple[str, bytes]], group: str | None = None
    ) -> PluginSnapshot:
        """Async twin of `create_plugin_snapshot`."""
        return await self.get_registry().acreate_plugin_snapshot(plugin_name, version, files, group)

    async def aget_plugin_snapshot(self, snapshot_id: str) -> PluginSnapshot:
        """Async twin of `get_plugin_snapshot`."""
        return await self.get_registry().aget_plugin_snapshot(snapshot_id)

    async def aread_plugin_snapshot_file(self, snapshot_id: str, path: str) -> bytes:
        """Async twin of `read_plugin_snapshot_file`."""
        return await self.get_registry().aread_plugin_snapshot_file(snapshot_id, path)
