"""Picklable descriptions of registries, and one open registry per description per process.

A registry holds connections, locks and thread-locals that can not cross a process
boundary. What crosses instead is a `RegistrySpec`: the configuration it was opened
with (store URL and options, catalog URL, settings; or API URL and key). Pickling a
registry, an `Artifact` or an `ArtifactRegistry` block carries its spec, and the other
process opens the registry again with `open_registry`, which keeps one registry per
spec per process: 200 unpickled artifacts share one catalog, not 200.

A ``memory://`` store or an in-memory SQLite catalog lives in one process only: a
spec of one reopens an empty registry elsewhere.
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from prefect_artifacts.settings import ArtifactSettings

if TYPE_CHECKING:
    from prefect_artifacts.registry.base import Registry

__all__ = ["RegistrySpec", "forget_registry", "open_registry", "remember_registry"]

#: Registries opened from specs that this process keeps open (least recently used go first).
MAX_OPENED = 16


def _hide_password(url: str | None) -> str | None:
    if url is None:
        return None
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a SQLAlchemy URL: show its scheme only
        return url.split("://", 1)[0] + "://***" if "://" in url else "***"


class RegistrySpec:
    """How to open a registry again, in this or another process (picklable, hashable).

    ``kind`` is ``"local"`` (store + catalog in-process), ``"http"`` (a server) or
    ``"offline"`` (a server and its outbox under the home, `OfflineRegistry`).
    Secrets (storage options, the catalog URL's password, the API key) travel with the
    spec, since the other process needs them, but never appear in its ``repr``.
    Two specs are equal when they open the same registry the same way.

    Args:
        kind: ``"local"``, ``"http"`` or ``"offline"``.
        settings: the registry's settings (limits, home, defaults).
        storage_url: fsspec URL of the content store (local).
        storage_options: options of the store's filesystem (local).
        catalog_url: SQLAlchemy URL of the catalog (local).
        durable: whether the store and catalog write durably (local).
        group_ids: groups a scoped registry sees; None: every group (local).
        api_url: base URL of the API (http).
        api_key: API key (http).
        retries: attempts after the first for idempotent calls (http).
        backoff: first retry delay in seconds (http).
        timeout: seconds to wait for the server at each step (http).
        use_digest_cache: reuse digests of unchanged large files.
        offline: ``True`` or ``"auto"`` (offline).

    Example:
        ```python
        spec = reg.spec()                  # RegistrySpec(kind='local', storage=..., catalog=...)
        same = open_registry(pickle.loads(pickle.dumps(spec)))
        ```
    """

    __slots__ = ("_key", "api_key", "api_url", "backoff", "catalog_url", "durable", "group_ids", "kind",
                 "offline", "retries", "settings", "storage_options", "storage_url", "timeout", "use_digest_cache")

    def __init__(
        self, kind: Literal["local", "http", "offline"], settings: ArtifactSettings, *,
        storage_url: str | None = None,
        storage_options: Mapping[str, Any] | None = None, catalog_url: str | None = None, durable: bool = True,
        group_ids: Sequence[str] | None = None, api_url: str | None = None, api_key: str | None = None,
        retries: int = 4, backoff: float = 0.1, timeout: float = 300.0, use_digest_cache: bool = True,
        offline: bool | str = False,
    ) -> None:
        if kind not in ("local", "http", "offline"):
            raise ValueError(f"unknown registry kind {kind!r}")
        self.kind = kind
        self.settings = settings
        self.storage_url = storage_url
        self.storage_options = dict(storage_options or {})
        self.catalog_url = catalog_url
        self.durable = durable
        self.group_ids = tuple(group_ids) if group_ids is not None else None
        self.api_url = api_url
        self.api_key = api_key
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.use_digest_cache = use_digest_cache
        self.offline = offline
        self._key = json.dumps([
            kind, storage_url, self.storage_options, catalog_url, durable, self.group_ids, api_url, api_key,
            retries, backoff, timeout, use_digest_cache, offline, settings.model_dump(mode="json"),
        ], sort_keys=True, default=repr)

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__ if name != "_key"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state.pop("kind"), state.pop("settings"), **state)  # type: ignore[misc]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RegistrySpec) and other._key == self._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        if self.kind in ("http", "offline"):
            key = "'**********'" if self.api_key else "None"
            mode = f", offline={self.offline!r}" if self.kind == "offline" else ""
            return f"RegistrySpec(kind={self.kind!r}, api_url={self.api_url!r}, api_key={key}{mode})"
        options = f", storage_options=<{len(self.storage_options)} hidden>" if self.storage_options else ""
        groups = f", group_ids={list(self.group_ids)!r}" if self.group_ids is not None else ""
        return (f"RegistrySpec(kind='local', storage_url={self.storage_url!r}{options}, "
                f"catalog_url={_hide_password(self.catalog_url)!r}{groups})")

    def build(self) -> Registry:
        """Open a new registry from this spec (`open_registry` reuses one per process instead).

        Example:
            ```python
            reg = spec.build()
            ```
        """
        if self.kind == "offline":
            from prefect_artifacts.registry.offline import OfflineRegistry

            mode: Any = self.offline
            return OfflineRegistry.for_server(self.api_url or "", api_key=self.api_key, mode=mode,
                                              settings=self.settings, retries=self.retries, backoff=self.backoff,
                                              timeout=self.timeout, use_digest_cache=self.use_digest_cache)
        if self.kind == "http":
            from prefect_artifacts.registry.http import HttpRegistry

            return HttpRegistry(self.api_url or "", api_key=self.api_key, settings=self.settings,
                                retries=self.retries, backoff=self.backoff, timeout=self.timeout,
                                use_digest_cache=self.use_digest_cache)
        from prefect_artifacts.catalog.sql import SqlCatalog
        from prefect_artifacts.registry.local import LocalRegistry
        from prefect_artifacts.storage.content_store import ContentStore

        store = ContentStore(self.storage_url or "", dict(self.storage_options), durable=self.durable)
        catalog = SqlCatalog(self.catalog_url or "", durable=self.durable)
        return LocalRegistry(store, catalog, self.settings, use_digest_cache=self.use_digest_cache,
                             group_ids=self.group_ids)


class _Registries:
    """This process's registries by spec: ones it made itself (weakly) and ones opened from specs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.known: weakref.WeakValueDictionary[RegistrySpec, Registry] = weakref.WeakValueDictionary()
        self.opened: OrderedDict[RegistrySpec, Registry] = OrderedDict()

    def check_pid(self) -> None:
        """Under the lock: a forked child must not use its parent's connections."""
        if self.pid != os.getpid():
            self.pid = os.getpid()
            self.known = weakref.WeakValueDictionary()
            self.opened = OrderedDict()


_REGISTRIES = _Registries()


def open_registry(spec: RegistrySpec) -> Registry:
    """The registry ``spec`` describes, opened once per process and then shared.

    A registry this process made and described (`remember_registry`) is returned
    itself, so an artifact pickled and unpickled in one process keeps its registry.

    Example:
        ```python
        reg = open_registry(spec)
        assert open_registry(spec) is reg
        ```
    """
    cache = _REGISTRIES
    with cache.lock:
        cache.check_pid()
        registry = cache.known.get(spec) or cache.opened.get(spec)
        if registry is not None:
            if spec in cache.opened:
                cache.opened.move_to_end(spec)
            return registry
        # Built under the lock: concurrent unpicklers of one spec must share one registry.
        registry = spec.build()
        cache.opened[spec] = registry
        while len(cache.opened) > MAX_OPENED:  # dropped, not closed: artifacts may still use it
            cache.opened.popitem(last=False)
        return registry


def remember_registry(registry: Registry) -> RegistrySpec | None:
    """Make ``registry`` the one `open_registry` returns for its spec in this process.

    The first registry remembered for a spec stays (registries are held weakly).
    Returns the spec, or None when the registry can not be described.

    Example:
        ```python
        remember_registry(reg)
        ```
    """
    try:
        spec = registry.spec()
    except NotImplementedError:
        return None
    with _REGISTRIES.lock:
        _REGISTRIES.check_pid()
        if spec not in _REGISTRIES.opened:
            _REGISTRIES.known.setdefault(spec, registry)
    return spec


def forget_registry(registry: Registry) -> None:
    """Stop handing out ``registry`` (it was closed); its spec opens a new one next time.

    Example:
        ```python
        forget_registry(reg)
        ```
    """
    try:
        spec = registry.spec()
    except NotImplementedError:
        return
    with _REGISTRIES.lock:
        if _REGISTRIES.known.get(spec) is registry:
            del _REGISTRIES.known[spec]
        if _REGISTRIES.opened.get(spec) is registry:
            del _REGISTRIES.opened[spec]
