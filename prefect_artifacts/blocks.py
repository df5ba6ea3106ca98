"""Prefect blocks: `ArtifactStorage` (where blobs live) and `ArtifactRegistry` (the registry).

`ArtifactRegistry` exposes every `Registry` method, delegated to the registry it
builds (`get_registry`): in-process over storage + catalog, or HTTP to a server.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from prefect.blocks.core import Block
from prefect.types import SecretDict
from pydantic import Field, PrivateAttr, SecretStr

from prefect_artifacts.registry.base import SYNC_METHODS, Registry
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.registry.spec import RegistrySpec, open_registry, remember_registry
from prefect_artifacts.settings import get_settings
from prefect_artifacts.storage.content_store import ContentStore

_DOCS = "https://github.com/prefect-artifacts/prefect-artifacts#readme"
# No `_logo_url`: Prefect takes only an http(s) URL, and a hot-linked image breaks on
# servers without internet access; the UI shows its own block icon instead.


class ArtifactStorage(Block):
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


class ArtifactRegistry(Block):
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
        """Async twin of `delete_artifact`.

        Example:
            ```python
            await registry.adelete_artifact("my-data:1")
            ```
        """
        await self.get_registry().adelete(ref)  # type: ignore[attr-defined]


def _delegate(name: str) -> Any:
    target = getattr(Registry, name)

    @functools.wraps(target)
    def method(self: ArtifactRegistry, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.get_registry(), name)(*args, **kwargs)

    return method


# Block.delete/adelete remove saved blocks: those two stay the block's own.
for _name in (*SYNC_METHODS, *(f"a{n}" for n in SYNC_METHODS), "iter", "read", "bundle"):
    if _name not in ("delete", "adelete"):
        setattr(ArtifactRegistry, _name, _delegate(_name))
