"""Pinned loading: import a plugin snapshot's code in its own module namespace.

The files of snapshot ``<id>`` are fetched through the `Registry` interface, checked
against the snapshot's digest, and imported from memory as
``_prefect_artifacts_snapshots.s<id hex>.<original module path>``. Each snapshot gets
its own namespace, so it never clashes with the installed version of the plugin and
two snapshots of one plugin live side by side in one process.

Inside a snapshot, relative imports resolve within the snapshot, and absolute
imports of the snapshotted package itself (``import mypkg.util``) are redirected to
the snapshot too; names the snapshot does not contain (``from ..errors import X``
outside a captured sub-package, or any other library) resolve to the installed
modules. Mounted snapshots stay loaded for the life of the process.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import linecache
import re
import sys
import threading
import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prefect_artifacts._checksums import snapshot_manifest
from prefect_artifacts.errors import ArtifactIntegrityError, ArtifactNotFound, SerializerError, SnapshotIntegrityError
from prefect_artifacts.models import SnapshotFile

from .base import SNAPSHOT_NAMESPACE, _is_serializer_class

if TYPE_CHECKING:
    from prefect_artifacts.registry.base import Registry

    from .snapshot import PluginSource

_lock = threading.RLock()


@dataclass
class Mount:
    """A plugin snapshot whose files are verified and importable in this process.

    Example:
        ```python
        mount = mount_snapshot(reg, art.serializer.snapshot_id)
        mount.prefix  # "_prefect_artifacts_snapshots.s3f2a…"
        ```
    """

    snapshot_id: str
    digest: str
    plugin_name: str
    version: str | None
    prefix: str
    files: tuple[tuple[str, bytes], ...]
    manifest: tuple[SnapshotFile, ...]
    sources: dict[str, tuple[str, bytes, bool]] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    tops: frozenset[str] = frozenset()
    builtins: dict[str, Any] = field(default_factory=dict)

    def module_name(self, original: str) -> str:
        """The isolated name of an original module of this snapshot.

        Example:
            ```python
            mount.module_name("my_plugin.ser")  # "_prefect_artifacts_snapshots.s….my_plugin.ser"
            ```
        """
        return f"{self.prefix}.{original}"


_mounts: dict[str, Mount] = {}


def namespace_key(snapshot_id: str) -> str:
    """The namespace segment of a snapshot id (``s`` + its letters and digits).

    Example:
        ```python
        namespace_key("3f2a-…")  # "s3f2a…"
        ```
    """
    return "s" + re.sub(r"[^0-9A-Za-z]", "", snapshot_id)


def _virtual_path(mount: Mount, relpath: str) -> str:
    return f"<plugin-snapshot {mount.snapshot_id}>/{relpath}"


class _SourceLoader(importlib.abc.InspectLoader):
    def __init__(self, mount: Mount, original: str) -> None:
        self.mount = mount
        self.original = original

    def is_package(self, fullname: str) -> bool:
        return self.mount.sources[self.original][2]

    def get_source(self, fullname: str) -> str:
        return self.mount.sources[self.original][1].decode("utf-8")

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        relpath, data, _ = self.mount.sources[self.original]
        filename = _virtual_path(self.mount, relpath)
        text = data.decode("utf-8")
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        module.__dict__["__builtins__"] = self.mount.builtins
        module.__file__ = filename
        exec(compile(text, filename, "exec", dont_inherit=True), module.__dict__)  # noqa: S102 - verified snapshot


class _ProxyLoader(importlib.abc.Loader):
    """A module of the snapshot namespace that stands for an installed module."""

    def __init__(self, original: str, optional: bool) -> None:
        self.original = original
        self.optional = optional

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        try:
            target: types.ModuleType | None = importlib.import_module(self.original)
        except ImportError:
            if not self.optional:
                raise
            target = None
        if target is not None:
            module.__dict__.update({k: v for k, v in vars(target).items()
                                    if not (k.startswith("__") and k.endswith("__")) or k in ("__all__", "__doc__")})

        def __getattr__(name: str) -> Any:  # noqa: N807 - PEP 562 module hook
            if target is None:
                raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")
            return getattr(target, name)

        module.__getattr__ = __getattr__  # type: ignore[method-assign]


class _SnapshotFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(SNAPSHOT_NAMESPACE + "."):
            return None
        key, _, original = fullname[len(SNAPSHOT_NAMESPACE) + 1:].partition(".")
        mount = _mounts.get(key)
        if mount is None or not original:
            return None
        if original in mount.sources:
            relpath, _, is_pkg = mount.sources[original]
            spec = importlib.machinery.ModuleSpec(fullname, _SourceLoader(mount, original),
                                                  origin=_virtual_path(mount, relpath), is_package=is_pkg)
            return spec
        if original in mount.dirs:
            return importlib.machinery.ModuleSpec(fullname, _ProxyLoader(original, optional=True), is_package=True)
        try:
            installed = importlib.util.find_spec(original)
        except (ImportError, ValueError):
            installed = None
        if installed is None:
            raise ModuleNotFoundError(
                f"No module named {original!r} (imported by plugin snapshot {mount.snapshot_id} "
                f"of {mount.plugin_name!r}; it is neither in the snapshot nor installed)", name=fullname)
        return importlib.machinery.ModuleSpec(fullname, _ProxyLoader(original, optional=False),
                                              is_package=installed.submodule_search_locations is not None)


_FINDER = _SnapshotFinder()


def _package(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = []
    module.__package__ = name
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    return module


def _make_import(mount: Mount) -> Any:
    real_import = builtins.__import__

    def _import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if level == 0:
            top = name.partition(".")[0]
            if top in mount.tops:
                module = real_import(f"{mount.prefix}.{name}", globals, locals, fromlist, 0)
                return module if fromlist else sys.modules[f"{mount.prefix}.{top}"]
        return real_import(name, globals, locals, fromlist, level)

    return _import


def _build_mount(snapshot_id: str, digest: str, plugin_name: str, version: str | None,
                 files: list[tuple[str, bytes]], manifest: list[SnapshotFile]) -> Mount:
    mount = Mount(snapshot_id, digest, plugin_name, version, f"{SNAPSHOT_NAMESPACE}.{namespace_key(snapshot_id)}",
                  tuple(files), tuple(manifest))
    for relpath, data in files:
        if not relpath.endswith(".py"):
            continue
        parts = relpath[:-3].split("/")
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        if not parts or not all(p.isidentifier() for p in parts):
            continue
        mount.sources[".".join(parts)] = (relpath, data, is_pkg)
        for i in range(1, len(parts)):
            mount.dirs.add(".".join(parts[:i]))
    mount.tops = frozenset(name.partition(".")[0] for name in mount.sources)
    mount.builtins = dict(builtins.__dict__)
    mount.builtins["__import__"] = _make_import(mount)
    return mount


def mount_snapshot(registry: Registry, snapshot_id: str) -> Mount:
    """Fetch, verify and make importable a plugin snapshot (once per process).

    Every file is read through ``registry.read_plugin_snapshot_file`` and the
    manifest digest is recomputed; anything missing or different is refused.

    Raises:
        SnapshotIntegrityError: the snapshot or one of its files is missing, or the
            content does not match the recorded digest.

    Example:
        ```python
        mount = mount_snapshot(reg, art.serializer.snapshot_id)
        ```
    """
    try:
        snap = registry.get_plugin_snapshot(snapshot_id)
    except ArtifactNotFound as exc:
        raise SnapshotIntegrityError(f"plugin snapshot {snapshot_id} is missing from the registry: {exc}") from exc
    key = namespace_key(snapshot_id)
    with _lock:
        existing = _mounts.get(key)
        if existing is not None:
            if existing.digest != snap.digest:
                raise SnapshotIntegrityError(
                    f"plugin snapshot {snapshot_id} is already loaded with digest {existing.digest}, "
                    f"but this registry records {snap.digest}"
                )
            return existing
        try:
            files = [(f.path, registry.read_plugin_snapshot_file(snapshot_id, f.path)) for f in snap.files]
        except SnapshotIntegrityError:
            raise
        except (ArtifactNotFound, ArtifactIntegrityError) as exc:
            raise SnapshotIntegrityError(f"plugin snapshot {snapshot_id} cannot be read: {exc}") from exc
        digest, manifest = snapshot_manifest(files)
        if digest != snap.digest:
            raise SnapshotIntegrityError(
                f"plugin snapshot {snapshot_id} ({snap.plugin_name}) is tampered: its files hash to "
                f"{digest}, but its recorded digest is {snap.digest}; refusing to run it"
            )
        mount = _build_mount(snapshot_id, snap.digest, snap.plugin_name, snap.version, files, manifest)
        if SNAPSHOT_NAMESPACE not in sys.modules:
            sys.modules[SNAPSHOT_NAMESPACE] = _package(SNAPSHOT_NAMESPACE)
        root = sys.modules[SNAPSHOT_NAMESPACE]
        holder = _package(mount.prefix)
        sys.modules[mount.prefix] = holder
        setattr(root, key, holder)
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)
        _mounts[key] = mount
        return mount


def _import(mount: Mount, original: str) -> types.ModuleType:
    try:
        return importlib.import_module(mount.module_name(original))
    except Exception as exc:  # noqa: BLE001 - any error raised by the snapshot's code
        raise SerializerError(
            f"plugin snapshot {mount.snapshot_id} ({mount.plugin_name}) failed to import {original}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def load_pinned_class(registry: Registry, snapshot_id: str, module: str | None, qualname: str | None,
                      task_name: str | None = None) -> type:
    """The serializer class as it is in the snapshot, imported in isolation.

    With no ``module``/``qualname`` (an artifact written without object metadata),
    the snapshot's modules are searched for a serializer named ``task_name``.

    Raises:
        SnapshotIntegrityError: the snapshot is missing or tampered.
        SerializerError: the snapshot's code fails to import or lacks the class.

    Example:
        ```python
        cls = load_pinned_class(reg, ref.snapshot_id, "my_plugin.ser", "MySerializer")
        cls().deserialize(path)
        ```
    """
    mount = mount_snapshot(registry, snapshot_id)
    if module and qualname:
        if module not in mount.sources:
            raise SerializerError(f"plugin snapshot {snapshot_id} has no module {module!r}")
        target: Any = _import(mount, module)
        for part in qualname.split("."):
            target = getattr(target, part, None)
            if target is None:
                raise SerializerError(f"plugin snapshot {snapshot_id} module {module!r} has no class {qualname!r}")
        if not _is_serializer_class(target):
            raise SerializerError(f"{module}.{qualname} in plugin snapshot {snapshot_id} is not a serializer")
        return target
    for original in sorted(mount.sources):
        for value in vars(_import(mount, original)).values():
            if _is_serializer_class(value) and getattr(value, "name", None) == task_name and (
                    value.__module__ == mount.module_name(original)):
                return value
    raise SerializerError(f"plugin snapshot {snapshot_id} defines no serializer named {task_name!r}")


def mounted_source(serializer: type) -> PluginSource:
    """The captured source of a serializer class that was loaded from a snapshot.

    Raises:
        SerializerError: the class's snapshot is not mounted in this process.

    Example:
        ```python
        mounted_source(pinned_cls).digest
        ```
    """
    from .snapshot import PluginSource

    key, _, original = serializer.__module__[len(SNAPSHOT_NAMESPACE) + 1:].partition(".")
    mount = _mounts.get(key)
    if mount is None:
        raise SerializerError(f"serializer {serializer.__qualname__} comes from an unknown plugin snapshot")
    return PluginSource(mount.plugin_name, mount.version, original, serializer.__qualname__, mount.files,
                        mount.digest, mount.manifest)


def mounted_snapshots() -> dict[str, Mount]:
    """The plugin snapshots loaded in this process, by snapshot id.

    Example:
        ```python
        sorted(mounted_snapshots())
        ```
    """
    with _lock:
        return {m.snapshot_id: m for m in _mounts.values()}
