"""Capture of a serializer plugin's source as files for an immutable `PluginSnapshot`.

A serializer defined in a top-level module is captured as that one file; one
defined in a package is captured with every ``.py`` file of its package (sub-packages
included), stored under the package's dotted path (``pkg/sub/mod.py``) so the
loader can import them back under the same names. A module inside a package that
sets ``__plugin_snapshot__ = "module"`` declares itself self-contained and is
captured alone (its imports of the package then resolve to the installed package;
the built-ins do this, so their snapshot pins only ``builtins.py``). Captures are cached per module
and the files' (mtime, size), and snapshots per registry and digest, so only the
first use of a plugin pays for reading and storing its source; the files are looked at
again when the class changes (a reload) or a second after the last look.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
import time
import warnings
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prefect_artifacts._checksums import snapshot_manifest
from prefect_artifacts.errors import SerializerError, SnapshotIntegrityError
from prefect_artifacts.models import PluginSnapshot, SnapshotFile

from .base import SNAPSHOT_NAMESPACE

if TYPE_CHECKING:
    from prefect_artifacts.registry.base import Registry

#: A package with more source than this cannot be snapshotted (move the plugin).
MAX_FILES = 1000
MAX_BYTES = 32 * 1024 * 1024

_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages"}


@dataclass(frozen=True)
class PluginSource:
    """The captured source of the plugin that defines one serializer class.

    Example:
        ```python
        src = capture_source(get_serializer("json"))
        src.plugin_name, src.module, [p for p, _ in src.files]
        ```
    """

    plugin_name: str
    version: str | None
    module: str
    qualname: str
    files: tuple[tuple[str, bytes], ...]
    digest: str
    manifest: tuple[SnapshotFile, ...]


@dataclass(frozen=True)
class _Capture:
    stamps: tuple[tuple[str, int, int], ...]
    plugin_name: str
    version: str | None
    files: tuple[tuple[str, bytes], ...]
    digest: str
    manifest: tuple[SnapshotFile, ...]


_lock = threading.Lock()
_captures: dict[tuple[str, str], _Capture] = {}
# registry -> (source digest, group) -> snapshot stored for that group
_snapshots: weakref.WeakKeyDictionary[Any, dict[tuple[str, str | None], PluginSnapshot]] = weakref.WeakKeyDictionary()
# (module, file) -> (class, monotonic time) of the last check of a capture's stamps. A
# save checks twice (snapshot, then upload); a reload makes a new class, checked at once.
_checked: dict[tuple[str, str], tuple[type, float]] = {}
#: Seconds a capture stays trusted for the same class without looking at its files again.
RECHECK_SECONDS = 1.0


def _stamp(path: str) -> tuple[str, int, int]:
    st = os.stat(path)
    return (path, st.st_mtime_ns, st.st_size)


def _still_valid(capture: _Capture) -> bool:
    try:
        return all(_stamp(stamp[0]) == stamp for stamp in capture.stamps)
    except OSError:
        return False


def _walk_package(pkg_dir: str, prefix: str) -> tuple[list[tuple[str, str]], list[str]]:
    files: list[tuple[str, str]] = []
    dirs: list[str] = []
    total = 0
    for root, subdirs, names in os.walk(pkg_dir):
        subdirs[:] = sorted(d for d in subdirs if d.isidentifier() and d not in _SKIP_DIRS)
        dirs.append(root)
        for name in sorted(names):
            if not name.endswith(".py") or not name[:-3].isidentifier():
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, pkg_dir).replace(os.sep, "/")
            files.append((f"{prefix}/{rel}", path))
            total += os.path.getsize(path)
        if len(files) > MAX_FILES or total > MAX_BYTES:
            raise SerializerError(
                f"package {prefix.replace('/', '.')} has more than {MAX_FILES} source files or "
                f"{MAX_BYTES // 2**20} MiB: move the serializer into a smaller package to snapshot it"
            )
    return files, dirs


def _warn_if_edited_since_import(module_name: str, module: Any, source_file: str) -> None:
    """Warn when the source on disk differs from the one the running module was compiled from.

    The bytecode cache written at import records the source's mtime and size; a
    mismatch means the file changed after import, so the snapshot (the file on disk)
    would not be the code that runs. Without a timestamp-based cache, nothing is said.
    """
    cached = getattr(getattr(module, "__spec__", None), "cached", None)
    try:
        with open(cached or "", "rb") as f:
            header = f.read(16)
        st = os.stat(source_file)
    except OSError:
        return
    if len(header) < 16 or int.from_bytes(header[4:8], "little") != 0:
        return
    mtime, size = int.from_bytes(header[8:12], "little"), int.from_bytes(header[12:16], "little")
    if (mtime, size) != (int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF):
        warnings.warn(
            f"the source of {module_name} ({source_file}) changed after it was imported: the plugin snapshot "
            "holds the file on disk, not the code running now; reload the module before saving",
            stacklevel=4,
        )


def _capture_module(module_name: str) -> _Capture:
    module = sys.modules.get(module_name)
    if module is None:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise SerializerError(f"cannot import serializer module {module_name!r}: {exc}") from exc
    if module_name == "__main__":
        raise SerializerError(
            "a serializer defined in __main__ (a script or notebook) cannot be snapshotted: "
            "define it in an importable module"
        )
    source_file = getattr(module, "__file__", None)
    if not source_file or not source_file.endswith(".py") or not os.path.isfile(source_file):
        raise SerializerError(
            f"serializer module {module_name!r} has no Python source file ({source_file!r}); "
            "plugin snapshots need .py sources"
        )
    spec = getattr(module, "__spec__", None)
    parent = (spec.parent if spec is not None else module.__package__) or ""
    is_package = os.path.basename(source_file) == "__init__.py"
    if not parent or (getattr(module, "__plugin_snapshot__", None) == "module" and not is_package):
        files = [(module_name.replace(".", "/") + ".py", source_file)]
        dirs: list[str] = []
        plugin_name = module_name
    else:
        files, dirs = _walk_package(os.path.dirname(source_file), parent.replace(".", "/"))
        plugin_name = parent
    _warn_if_edited_since_import(module_name, module, source_file)
    stamps = [_stamp(p) for _, p in files] + [_stamp(d) for d in dirs]
    contents = []
    for rel, path in files:
        with open(path, "rb") as f:
            contents.append((rel, f.read()))
    digest, manifest = snapshot_manifest(contents)
    version = None
    for owner in (module_name, parent, module_name.partition(".")[0]):
        version = getattr(sys.modules.get(owner), "__version__", None) if owner else None
        if version is not None:
            break
    return _Capture(tuple(stamps), plugin_name, str(version) if version is not None else None,
                    tuple(contents), digest, tuple(manifest))


def capture_source(serializer: type) -> PluginSource:
    """The source files of the plugin that defines ``serializer`` (cached).

    A class imported from a plugin snapshot is captured from that snapshot's files,
    so re-saving with a pinned serializer pins the same code.

    Raises:
        SerializerError: the class has no importable ``.py`` source (``__main__``,
            a notebook, a compiled module) or its package is too large.

    Example:
        ```python
        src = capture_source(get_serializer("json"))
        src.digest  # SHA-256 of the manifest, as PluginSnapshot.digest
        ```
    """
    module_name = serializer.__module__
    if module_name.startswith(SNAPSHOT_NAMESPACE + "."):
        from .loader import mounted_source

        return mounted_source(serializer)
    file_key = getattr(sys.modules.get(module_name), "__file__", None) or ""
    key = (module_name, file_key)
    now = time.monotonic()
    with _lock:
        cached = _captures.get(key)
        last = _checked.get(key)
    fresh = last is not None and last[0] is serializer and now - last[1] < RECHECK_SECONDS
    if cached is None or not (fresh or _still_valid(cached)):
        cached = _capture_module(module_name)
        with _lock:
            _captures[key] = cached
    if not fresh:
        with _lock:
            _checked[key] = (serializer, now)
    version = cached.version or getattr(serializer, "version", None)
    return PluginSource(cached.plugin_name, version, module_name, serializer.__qualname__, cached.files,
                        cached.digest, cached.manifest)


def known_snapshot(registry: Registry, serializer: type) -> PluginSnapshot | None:
    """The snapshot this process last pinned for ``serializer`` in ``registry``, if any.

    A cache lookup only (no file checks, no registry call): for labels such as task run
    names. Saving goes through `snapshot_serializer`, which re-checks the source.

    Example:
        ```python
        snap = known_snapshot(reg, cls) or snapshot_serializer(reg, cls)
        ```
    """
    key = (serializer.__module__, getattr(sys.modules.get(serializer.__module__), "__file__", None) or "")
    with _lock:
        cached = _captures.get(key)
        per_registry = _snapshots.get(registry) if cached is not None else None
    if per_registry is None or cached is None:
        return None
    return next((snap for (digest, _group), snap in per_registry.items() if digest == cached.digest), None)


def snapshot_serializer(registry: Registry, serializer: type, group: str | None = None) -> PluginSnapshot:
    """Store (idempotently) the snapshot of a serializer's plugin for ``group``; cached per registry.

    Raises:
        SerializerError: the source cannot be captured.
        SnapshotIntegrityError: the registry returned a snapshot of other content.

    Example:
        ```python
        snap = snapshot_serializer(reg, get_serializer("json"))
        snap.id == snapshot_serializer(reg, get_serializer("json")).id  # True
        ```
    """
    source = capture_source(serializer)
    with _lock:
        per_registry = _snapshots.get(registry)
        found = per_registry.get((source.digest, group)) if per_registry is not None else None
    if found is not None:
        return found
    snap = registry.create_plugin_snapshot(source.plugin_name, source.version, list(source.files), group)
    if snap.digest != source.digest:
        raise SnapshotIntegrityError(
            f"registry stored plugin snapshot {snap.id} with digest {snap.digest}, expected {source.digest}"
        )
    with _lock, contextlib.suppress(TypeError):  # TypeError: not weakly referenceable, no caching
        _snapshots.setdefault(registry, {})[(source.digest, group)] = snap
    return snap


def clear_caches() -> None:
    """Forget cached captures and snapshot ids (tests, or after deleting snapshots).

    Example:
        ```python
        clear_caches()
        ```
    """
    with _lock:
        _captures.clear()
        _checked.clear()
        _snapshots.clear()
