"""Saving and loading Python objects: the steps `Registry.save_object`/`load_object` run.

Each step is a plain function, so Prefect tasks (``prefect_artifacts.tasks``) can run
them one by one with their own run names and retries:

```python
cls = resolve_serializer(obj, serializer)                 # pick by name or by type
snap = snapshot_serializer(reg, cls)                      # pin the plugin's code
directory, relpath = serialize_to_dir(obj, cls, options)  # write the files
art = upload_serialized(reg, directory, relpath, serializer=cls, snapshot=snap, name="model")

info = object_info(reg, "model:latest")                   # serializer, snapshot, path, options
cls = load_serializer(reg, info)                          # pinned snapshot (or use_current=True)
path = fetch_object(reg, info, directory)                 # verified files on disk
obj = deserialize_from(path, cls, info.options)
```
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from prefect_artifacts._paths import safe_relpath
from prefect_artifacts.draft import ArtifactDraft
from prefect_artifacts.errors import SerializerError, UnsafePath
from prefect_artifacts.models import Artifact, ArtifactKind, ConflictStrategy, PluginSnapshot, SerializerRef

from .base import get_serializer, import_class, resolve_serializer, serializer_name, validate_options
from .loader import load_pinned_class
from .snapshot import capture_source, snapshot_serializer

if TYPE_CHECKING:
    from prefect_artifacts.registry.base import Registry

#: Schema name of the aspect that records how an object artifact was serialized.
OBJECT_ASPECT = "urn:prefect-artifacts:aspect:object:v1"


class ObjectInfo(BaseModel):
    """How an object artifact was written: serializer, pinned snapshot, path and options.

    Example:
        ```python
        info = object_info(reg, "model:latest")
        f"deserialize[{info.serializer}@{info.snapshot_id[:8]}]"
        ```
    """

    artifact_id: str
    ref: str
    serializer: str
    snapshot_id: str
    module: str | None = None
    qualname: str | None = None
    path: str = "."
    options: dict[str, Any] = Field(default_factory=dict)
    python_type: str | None = None
    is_dir: bool = False
    files: list[str] = Field(default_factory=list)


_roots: dict[str, str | None] = {}


def _scratch_root(registry: Registry) -> str | None:
    """``$PREFECT_ARTIFACTS_HOME/scratch``: on disk (``/tmp`` may be RAM) and near the store."""
    home = str(getattr(getattr(registry, "settings", None), "home", "") or "")
    if not home:
        return None  # the system temp folder
    if home not in _roots:
        try:
            root = Path(home) / "scratch"
            root.mkdir(parents=True, exist_ok=True)
            _roots[home] = str(root)
        except (OSError, TypeError):
            _roots[home] = None
    return _roots[home]


@contextmanager
def _scratch(registry: Registry) -> Iterator[Path]:
    """A new empty directory for one serializer call, removed afterwards.

    A save moves the serializer's files into the store, so ``rmdir`` both checks that
    nothing was left behind and removes the directory: two system calls per save
    (each one a GIL hand-off inside a busy flow), where a tree walk takes six or more.
    """
    try:
        path = tempfile.mkdtemp(prefix="object-", dir=_scratch_root(registry))
    except FileNotFoundError:  # the scratch root was removed since: make it again
        _roots.clear()
        path = tempfile.mkdtemp(prefix="object-", dir=_scratch_root(registry))
    try:
        yield Path(path)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    try:
        os.rmdir(path)
    except OSError:  # the serializer left other files: remove them too
        shutil.rmtree(path, ignore_errors=True)


def _fail(cls: type, step: str, exc: Exception) -> SerializerError:
    return SerializerError(f"serializer {getattr(cls, 'name', cls.__qualname__)!r} failed to {step}: "
                           f"{type(exc).__name__}: {exc}")


def _output_path(directory: Path, written: Any, name: str) -> str:
    if not isinstance(written, (str, os.PathLike)):
        raise SerializerError(f"serializer {name!r} must return the relative path it wrote, not {written!r}")
    path = Path(written)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(directory.resolve())
        except ValueError:
            raise SerializerError(f"serializer {name!r} wrote {written} outside its directory") from None
    rel = path.as_posix()
    try:
        rel = "." if rel in ("", ".") else safe_relpath(rel, "serializer output")
    except UnsafePath as exc:
        raise SerializerError(f"serializer {name!r} returned an unsafe path: {exc}") from exc
    if not (directory / rel).exists():
        raise SerializerError(f"serializer {name!r} returned {rel!r}, which it did not write")
    return rel


def serialize_to_dir(
    obj: Any, serializer: str | type | None = None, options: dict[str, Any] | None = None,
    directory: str | os.PathLike[str] | None = None,
) -> tuple[Path, str]:
    """Validate options and serialize ``obj`` into ``directory`` (a new temp dir when None).

    Returns the directory and the relative path the serializer wrote (``"."`` for
    the whole directory). The caller removes a temp directory it did not pass in.

    Raises:
        SerializerError: no serializer, invalid options, or the serializer failed.

    Example:
        ```python
        directory, relpath = serialize_to_dir({"a": 1})   # (PosixPath('/tmp/…'), 'data.json')
        shutil.rmtree(directory)
        ```
    """
    cls = resolve_serializer(obj, serializer)
    opts = validate_options(cls, options)
    created = directory is None
    dest = Path(tempfile.mkdtemp(prefix="prefect-artifacts-object-") if directory is None else directory)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        return dest, _serialize_into(obj, cls, opts, dest)
    except BaseException:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        raise


def _serialize_bytes(obj: Any, cls: type, opts: dict[str, Any]) -> tuple[str, bytes] | None:
    name = serializer_name(cls)
    method = getattr(cls, "serialize_bytes", None)
    try:
        out = method(cls(), obj, **opts) if method is not None else None
    except SerializerError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin may raise anything
        raise _fail(cls, "serialize", exc) from exc
    if out is None:
        return None
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], str)
            and isinstance(out[1], (bytes, bytearray, memoryview))):
        raise SerializerError(f"serializer {name!r}: serialize_bytes must return (relative path, bytes) or None")
    try:
        relpath = safe_relpath(out[0], "serializer output")
    except UnsafePath as exc:
        raise SerializerError(f"serializer {name!r} returned an unsafe path: {exc}") from exc
    return relpath, bytes(out[1])


def _serialize_into(obj: Any, cls: type, opts: dict[str, Any], dest: Path) -> str:
    try:
        written = cls().serialize(obj, dest, **opts)
    except SerializerError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin may raise anything
        raise _fail(cls, "serialize", exc) from exc
    return _output_path(dest, written, serializer_name(cls))


def upload_serialized(
    registry: Registry, directory: str | os.PathLike[str], path: str, *, serializer: type,
    snapshot: PluginSnapshot, name: str, options: dict[str, Any] | None = None,
    python_type: str | None = None, folder: str | None = None, description: str | None = None,
    labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, **upload_options: Any,
) -> Artifact:
    """Register what ``serialize_to_dir`` wrote as an object artifact pinned to ``snapshot``.

    The artifact's files are the serializer's output (paths relative to
    ``directory``); an aspect ``urn:prefect-artifacts:aspect:object:v1`` records the
    serializer, its module and class, the path and the options.

    Example:
        ```python
        art = upload_serialized(reg, directory, relpath, serializer=cls, snapshot=snap, name="model")
        art.serializer  # SerializerRef(snapshot_id=snap.id, task_name=cls.name)
        ```
    """
    directory = Path(directory)
    target = directory / path if path != "." else directory
    is_dir = target.is_dir()
    draft = ArtifactDraft(name=name, description=description, labels=list(labels), metadata=metadata,
                          mime_type=None if is_dir else getattr(serializer, "mime_type", None))
    # The serializer's output is scratch the registry owns: moved into the store, not copied.
    if is_dir:
        draft.add_dir(target, obj_path="" if path == "." else path, move=True)
    else:
        draft.add_file(target, obj_path=path, move=True)
    return _upload_object(registry, draft, path, serializer=serializer, snapshot=snapshot, options=options,
                          python_type=python_type, folder=folder, conflict_strategy=conflict_strategy,
                          **upload_options)


def _upload_object(
    registry: Registry, draft: ArtifactDraft, path: str, *, serializer: type, snapshot: PluginSnapshot,
    options: dict[str, Any] | None, python_type: str | None, folder: str | None,
    conflict_strategy: ConflictStrategy | str, **upload_options: Any,
) -> Artifact:
    """Upload a draft of a serializer's output as an object artifact pinned to ``snapshot``."""
    source = capture_source(serializer)
    if source.digest != snapshot.digest:
        raise SerializerError(
            f"snapshot {snapshot.id} ({snapshot.digest}) does not hold the current source of serializer "
            f"{serializer_name(serializer)!r} ({source.digest})"
        )
    aspect = {
        "$schema": OBJECT_ASPECT,
        "serializer": serializer_name(serializer),
        "serializer_version": getattr(serializer, "version", None),
        "module": source.module,
        "qualname": source.qualname,
        "snapshot_id": snapshot.id,
        "snapshot_digest": snapshot.digest,
        "path": path,
        "options": dict(options or {}),
        "python_type": python_type,
    }
    upload_options.setdefault("make_folder", True)
    make_folder = upload_options.pop("make_folder")
    return registry.upload(
        draft, folder, make_folder, conflict_strategy, kind=ArtifactKind.OBJECT,
        serializer=SerializerRef(snapshot_id=snapshot.id, task_name=serializer_name(serializer)),
        extra_aspects=[aspect, *upload_options.pop("extra_aspects", ())], **upload_options,
    )


def save_object(
    registry: Registry, obj: Any, name: str, serializer: str | type | None = None, folder: str | None = None,
    description: str | None = None, labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, options: dict[str, Any] | None = None,
    **upload_options: Any,
) -> Artifact:
    """Serialize ``obj``, snapshot its serializer's plugin and register an object artifact.

    Raises:
        SerializerError: no safe serializer for the type (the message names the
            ``serializer="cloudpickle"`` opt-in), invalid options, or a failed write.

    Example:
        ```python
        art = save_object(reg, {"lr": 0.1}, name="config")
        art.kind, art.serializer.task_name  # (ArtifactKind.OBJECT, 'json')
        ```
    """
    cls = resolve_serializer(obj, serializer)
    opts = validate_options(cls, options)
    snap = snapshot_serializer(registry, cls, upload_options.get("group"))
    upload_options.update(serializer=cls, snapshot=snap, options=opts, folder=folder,
                          python_type=f"{type(obj).__module__}.{type(obj).__qualname__}",
                          conflict_strategy=conflict_strategy)
    in_memory = _serialize_bytes(obj, cls, opts)
    if in_memory is not None:  # one small file: stored from memory, no scratch directory
        relpath, data = in_memory
        draft = ArtifactDraft(name=name, description=description, labels=list(labels), metadata=metadata,
                              mime_type=getattr(cls, "mime_type", None))
        return _upload_object(registry, draft.add_bytes(data, relpath), relpath, **upload_options)
    with _scratch(registry) as scratch:
        relpath = _serialize_into(obj, cls, opts, scratch)
        return upload_serialized(registry, scratch, relpath, name=name, description=description, labels=labels,
                                 metadata=metadata, **upload_options)


def object_info(registry: Registry, ref: str | Artifact) -> ObjectInfo:
    """What ``load_object`` needs to know about an object artifact.

    Raises:
        SerializerError: the artifact has no serializer (not an object artifact).

    Example:
        ```python
        object_info(reg, "config").serializer  # "json"
        ```
    """
    art = ref if isinstance(ref, Artifact) else registry.get(ref)
    if art.serializer is None:
        raise SerializerError(
            f"{art.ref} is not an object artifact (kind {art.kind.value}); read it with download() or get_contents()"
        )
    recorded: dict[str, Any] = {}
    for aspect in registry.get_metadata(art.id):
        if aspect.schema_name == OBJECT_ASPECT:
            recorded = aspect.content
    files = [f.path for f in art.files]
    default_path = "." if art.is_dir else (files[0] if files else ".")
    return ObjectInfo(
        artifact_id=art.id, ref=art.ref, serializer=art.serializer.task_name,
        snapshot_id=art.serializer.snapshot_id, module=recorded.get("module"), qualname=recorded.get("qualname"),
        path=recorded.get("path") or default_path, options=recorded.get("options") or {},
        python_type=recorded.get("python_type"), is_dir=art.is_dir, files=files,
    )


def load_serializer(registry: Registry, info: ObjectInfo, use_current: bool = False) -> type:
    """The serializer class that reads an object artifact.

    By default the class comes from the pinned plugin snapshot (verified, isolated);
    ``use_current=True`` takes the installed serializer of that name (or, if none is
    registered, the recorded module and class as installed now).

    Raises:
        SnapshotIntegrityError: the snapshot is missing or tampered.
        SerializerError: the code cannot be imported.

    Example:
        ```python
        cls = load_serializer(reg, object_info(reg, "model"))
        ```
    """
    if not use_current:
        return load_pinned_class(registry, info.snapshot_id, info.module, info.qualname, info.serializer)
    try:
        return get_serializer(info.serializer)
    except SerializerError:
        if info.module and info.qualname:
            return import_class(info.module, info.qualname)
        raise


def fetch_object(registry: Registry, info: ObjectInfo, directory: str | os.PathLike[str]) -> Path:
    """Download an object artifact's verified files into ``directory``; return the path to deserialize.

    Example:
        ```python
        path = fetch_object(reg, info, tmp_dir)  # tmp_dir / "data.json"
        ```
    """
    directory = Path(directory)
    # Verified, read-only copies (hard links to local blobs when possible, else downloads).
    for rel in info.files:
        registry._materialize(info.artifact_id, directory / safe_relpath(rel), rel if info.is_dir else None)
    return directory if info.path == "." else directory / safe_relpath(info.path)


def deserialize_from(
    path: str | os.PathLike[str], serializer: str | type | SerializerRef, options: dict[str, Any] | None = None,
    *, registry: Registry | None = None,
) -> Any:
    """Read an object back from ``path`` with a serializer (name, class, or pinned reference).

    A `SerializerRef` loads the pinned snapshot's class, so it needs ``registry``.

    Raises:
        SerializerError: invalid options, or the serializer failed.

    Example:
        ```python
        obj = deserialize_from(path, cls, info.options)
        obj = deserialize_from(path, art.serializer, registry=reg)
        ```
    """
    if isinstance(serializer, SerializerRef):
        if registry is None:
            raise SerializerError("deserialize_from(SerializerRef) needs the registry that holds the snapshot")
        cls = load_pinned_class(registry, serializer.snapshot_id, None, None, serializer.task_name)
    elif isinstance(serializer, str):
        cls = get_serializer(serializer)
    else:
        cls = serializer
    opts = validate_options(cls, options)
    try:
        return cls().deserialize(Path(path), **opts)
    except SerializerError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin may raise anything
        raise _fail(cls, "deserialize", exc) from exc


def load_object(registry: Registry, ref: str | Artifact, use_current: bool = False) -> Any:
    """Load an object artifact with its pinned serializer snapshot (or the installed one).

    Raises:
        SerializerError: not an object artifact, or its code cannot run.
        SnapshotIntegrityError: the pinned snapshot is missing or tampered.

    Example:
        ```python
        config = load_object(reg, "config:latest")
        ```
    """
    info = object_info(registry, ref)
    cls = load_serializer(registry, info, use_current)
    with tempfile.TemporaryDirectory(prefix="object-", dir=_scratch_root(registry)) as tmp:
        return deserialize_from(fetch_object(registry, info, tmp), cls, info.options)
