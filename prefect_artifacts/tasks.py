"""Prefect tasks over the registry, and the `@artifact_task` decorator.

Every task takes an optional ``registry``: an `ArtifactRegistry` block, a saved block's
name, or None for the block named by ``PREFECT_ARTIFACTS_REGISTRY_BLOCK`` (else the
embedded registry under ``$PREFECT_ARTIFACTS_HOME``). Inside a flow run each task
associates its artifact with the current flow run in the same catalog transaction as
the write: writes as ``output``, reads (`load_object`, `download_artifact`) as
``input``, `log_code` as ``code``. Outside a flow run they work without association.

Each flow run that registers or reads artifacts gets a Prefect table artifact
(key ``artifacts-<flow name>``) listing them, and each new artifact emits the event
``prefect-artifacts.artifact.created``.

Example:
    ```python
    from prefect import flow
    from prefect_artifacts.tasks import artifact_task, load_object, upload_file

    @artifact_task(name="clean-rows", folder="/etl")
    def clean(rows: list[dict]) -> list[dict]:
        return [r for r in rows if r["ok"]]

    @flow
    def etl():
        upload_file("raw.csv", name="raw", folder="/etl")
        clean([{"ok": True}, {"ok": False}])
        return load_object("/etl/clean-rows:latest")
    ```
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_artifacts._asyncio import run_in_thread
from prefect_artifacts._paths import normalize_folder
from prefect_artifacts._prefect import RunInfo, announce, current_run, flow_source_files, is_new, now
from prefect_artifacts.blocks import ArtifactRegistry
from prefect_artifacts.draft import ArtifactDraft
from prefect_artifacts.errors import (
    ArtifactConflict,
    ArtifactIntegrityError,
    ArtifactNotFound,
    AuthenticationError,
    InvalidArtifactInput,
    MissingStorageBackend,
    PermissionDenied,
    SerializerError,
    SnapshotIntegrityError,
)
from prefect_artifacts.models import Artifact, ConflictStrategy, ManifestFile, RunCategory, RunLink
from prefect_artifacts.registry.base import Registry, manifest_checksum, parse_category
from prefect_artifacts.serializers.base import resolve_serializer, serializer_name
from prefect_artifacts.serializers.snapshot import known_snapshot, snapshot_serializer
from prefect_artifacts.settings import ArtifactSettings, get_settings

__all__ = [
    "aadd_reference",
    "aattach_artifact",
    "add_reference",
    "adownload_artifact",
    "alist_artifacts",
    "aload_object",
    "alog_code",
    "artifact_task",
    "asave_object",
    "attach_artifact",
    "aupload_dir",
    "aupload_file",
    "download_artifact",
    "is_transient",
    "list_artifacts",
    "load_object",
    "log_code",
    "resolve_registry",
    "save_object",
    "upload_dir",
    "upload_file",
]

T = TypeVar("T")
RegistryArg = ArtifactRegistry | Registry | str | None
_TASK_OPTIONS: dict[str, Any] = {"cache_policy": NO_CACHE, "persist_result": False}

# -- which registry ------------------------------------------------------------------

_cache: dict[tuple[Any, ...], ArtifactRegistry] = {}
_SETTING_VARIABLES = tuple(f"PREFECT_ARTIFACTS_{name.upper()}" for name in ArtifactSettings.model_fields)
_cache_lock = threading.Lock()


def resolve_registry(registry: RegistryArg = None) -> Registry:
    """The registry a task uses.

    ``registry`` may be an `ArtifactRegistry` block, a `Registry`, the name of a saved
    `ArtifactRegistry` block, or None: the block named by
    ``PREFECT_ARTIFACTS_REGISTRY_BLOCK`` when set, else the embedded registry. Named
    and default registries are built once per process and reused.

    Raises:
        InvalidArtifactInput: no saved `ArtifactRegistry` block has that name.
        MissingStorageBackend: the storage URL's protocol needs an extra that is not installed.

    Example:
        ```python
        reg = resolve_registry("prod")     # ArtifactRegistry.load("prod").get_registry()
        reg = resolve_registry()           # the settings' block, else the embedded registry
        ```
    """
    if isinstance(registry, Registry):
        return registry
    if isinstance(registry, ArtifactRegistry):
        return registry.get_registry()
    if registry is not None and not isinstance(registry, str):
        raise InvalidArtifactInput(
            f"registry must be an ArtifactRegistry block, a block name or None, not {type(registry).__name__}"
        )
    # Settings come from PREFECT_ARTIFACTS_* variables only: key the cache on them
    # (parsing the settings on every task call would cost milliseconds).
    from prefect.settings import PREFECT_API_URL

    env = tuple(map(os.environ.get, _SETTING_VARIABLES))
    key = (registry, str(PREFECT_API_URL.value() or ""), env)
    with _cache_lock:
        block = _cache.get(key)
    if block is None:
        name = registry or get_settings().registry_block
        block = _load_block(name) if name else ArtifactRegistry()
        block.get_registry()  # build (and fail) before caching
        with _cache_lock:
            if len(_cache) >= 64:  # environments come and go (tests): keep the newest
                _cache.pop(next(iter(_cache)))
            block = _cache.setdefault(key, block)
    return block.get_registry()


def _load_block(name: str) -> ArtifactRegistry:
    try:
        return ArtifactRegistry.load(name, _sync=True)  # type: ignore[call-arg]
    except ValueError as exc:
        if "Unable to find block document" not in str(exc) and "not found" not in str(exc).lower():
            raise
        raise InvalidArtifactInput(
            f"no ArtifactRegistry block named {name!r} on this Prefect server: create it with "
            f"ArtifactRegistry(...).save({name!r}), or fix the registry argument / "
            "PREFECT_ARTIFACTS_REGISTRY_BLOCK"
        ) from None


# -- shared implementation (sync, runs in a worker thread for the async twins) ----------


def _links(run: RunInfo, category: RunCategory) -> list[tuple[str, RunCategory]]:
    return [(run.flow_run_id, category)] if run.flow_run_id else []


def _write_core(
    registry: RegistryArg, run: RunInfo, category: RunCategory,
    write: Callable[[Registry, list[tuple[str, RunCategory]]], Artifact],
) -> tuple[Registry, Artifact, bool]:
    reg = resolve_registry(registry)
    started = now()
    art = write(reg, _links(run, category))
    if run.flow_run_id and not any(
        link.run_id == run.flow_run_id and link.category is category for link in art.runs
    ):
        # ``skip`` returned an existing version: it is still this run's output.
        art.runs.append(reg.attach(art.id, run.flow_run_id, category))
    return reg, art, is_new(art, started)


def _write(registry: RegistryArg, write: Callable[..., Artifact],
           category: RunCategory = RunCategory.OUTPUT) -> Artifact:
    run = current_run()
    reg, art, new = _write_core(registry, run, category, write)
    announce(reg, art, category, run, new)
    return art


async def _awrite(registry: RegistryArg, write: Callable[..., Artifact],
                  category: RunCategory = RunCategory.OUTPUT) -> Artifact:
    run = current_run()
    reg, art, new = await run_in_thread(_write_core, registry, run, category, write)
    announce(reg, art, category, run, new)
    return art


# The load_object run name resolves the artifact to show its pinned serializer; the task
# body, which Prefect runs next on the same thread, takes it instead of asking again.
_pinned_by_name = threading.local()


def _pin_for_body(reg: Registry, ref: str, art: Artifact) -> None:
    _pinned_by_name.entry = (reg, ref, art)


def _take_pinned(ref: str) -> tuple[Registry, Artifact] | None:
    entry = getattr(_pinned_by_name, "entry", None)
    _pinned_by_name.entry = None
    return (entry[0], entry[2]) if entry is not None and entry[1] == ref else None


def _read_core(registry: RegistryArg, run: RunInfo, ref: str, read: Callable[[Registry, Artifact], T],
               pinned: tuple[Registry, Artifact] | None = None) -> tuple[Registry, Artifact, T]:
    reg = resolve_registry(registry)
    art = pinned[1] if pinned is not None and pinned[0] is reg else reg.get(ref)
    value = read(reg, art)
    if run.flow_run_id:
        art.runs.append(reg.attach(art.id, run.flow_run_id, RunCategory.INPUT))
    return reg, art, value


def _read(registry: RegistryArg, ref: str, read: Callable[[Registry, Artifact], T], pinned: bool = False) -> T:
    run = current_run()
    reg, art, value = _read_core(registry, run, ref, read, _take_pinned(ref) if pinned else None)
    announce(reg, art, RunCategory.INPUT, run, new=False)
    return value


async def _aread(registry: RegistryArg, ref: str, read: Callable[[Registry, Artifact], T],
                 pinned: bool = False) -> T:
    run = current_run()
    taken = _take_pinned(ref) if pinned else None
    reg, art, value = await run_in_thread(_read_core, registry, run, ref, read, taken)
    announce(reg, art, RunCategory.INPUT, run, new=False)
    return value


def _existing_path(path: str | os.PathLike[str], want_dir: bool) -> str:
    text = os.fspath(path)
    if not os.path.exists(text):
        raise FileNotFoundError(f"{text!r} does not exist")
    if want_dir and not os.path.isdir(text):
        raise InvalidArtifactInput(f"{text!r} is not a directory: use upload_file")
    if not want_dir and not os.path.isfile(text):
        raise InvalidArtifactInput(f"{text!r} is not a file: use upload_dir")
    return text


def _options(**options: Any) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None}


def _save_object_call(obj: Any, name: str | None, serializer: str | None, folder: str | None,
                      description: str | None, labels: Sequence[str], metadata: dict[str, Any] | None,
                      conflict_strategy: ConflictStrategy | str, idempotency_key: str | None = None,
                      options: dict[str, Any] | None = None) -> Callable[..., Artifact]:
    def write(reg: Registry, runs: list[tuple[str, RunCategory]]) -> Artifact:
        save = getattr(reg, "save_object", None)
        if save is None:
            raise NotImplementedError(f"{type(reg).__name__} has no save_object")
        kwargs = _options(serializer=serializer, folder=folder, description=description,
                          metadata=metadata, idempotency_key=idempotency_key, options=options)
        if labels:
            kwargs["labels"] = list(labels)
        if str(getattr(conflict_strategy, "value", conflict_strategy)) != "new":
            kwargs["conflict_strategy"] = conflict_strategy
        return save(obj, name=name, runs=runs, **kwargs)

    return write


# -- serializer tasks: run names that show the pinned code, retries on transient errors ------

_PERMANENT = (InvalidArtifactInput, ArtifactNotFound, ArtifactConflict, ArtifactIntegrityError,
              AuthenticationError, PermissionDenied, MissingStorageBackend, SnapshotIntegrityError)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed serializer task is worth retrying: storage, network or OS trouble.

    Bad input, missing artifacts, integrity and permission errors fail at once; a
    serializer's failure is retried only when an ``OSError`` (network, disk) caused it.

    Example:
        ```python
        is_transient(StorageError("connection reset"))          # True
        is_transient(SerializerError("no serializer for Foo"))  # False
        ```
    """
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, SerializerError):
        return isinstance(exc.__cause__, (OSError, TimeoutError))
    return isinstance(exc, (OSError, TimeoutError))


def _retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - classified, not handled
        return is_transient(exc)
    return False


def _pinned_name(task_name: str, pin: Callable[[], tuple[str, str]]) -> str:
    # A name must never fail the run: errors surface in the task body instead.
    try:
        serializer, snapshot_id = pin()
    except Exception:  # noqa: BLE001
        return task_name
    return f"{task_name}[{serializer}@{snapshot_id[:8]}]"


def _save_run_name(task_name: str) -> Callable[..., str]:
    def name(parameters: dict[str, Any]) -> str:
        def pin() -> tuple[str, str]:
            cls = resolve_serializer(parameters["obj"], parameters.get("serializer"))
            reg = resolve_registry(parameters.get("registry"))
            return serializer_name(cls), (known_snapshot(reg, cls) or snapshot_serializer(reg, cls)).id

        return _pinned_name(task_name, pin)

    return name


def _load_run_name(task_name: str) -> Callable[..., str]:
    def name(parameters: dict[str, Any]) -> str:
        def pin() -> tuple[str, str]:
            reg = resolve_registry(parameters.get("registry"))
            art = reg.get(parameters["ref"])
            _pin_for_body(reg, parameters["ref"], art)
            pinned = art.serializer
            if pinned is None:  # not an object artifact: the task body raises the clear error
                raise LookupError(parameters["ref"])
            return pinned.task_name, pinned.snapshot_id

        return _pinned_name(task_name, pin)

    return name


def _serializer_task(name: str, run_name: Callable[[str], Callable[..., str]]) -> dict[str, Any]:
    return {"name": name, "task_run_name": run_name(name), "retries": 2, "retry_delay_seconds": [1, 5],
            "retry_condition_fn": _retry_transient, **_TASK_OPTIONS}


# -- writes ------------------------------------------------------------------------------


@task(name="upload_file", **_TASK_OPTIONS)
def upload_file(
    path: str | os.PathLike[str], name: str | None = None, folder: str | None = None,
    description: str | None = None, labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    mime_type: str | None = None, conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
    registry: RegistryArg = None,
) -> Artifact:
    """Register a local file as an artifact, an ``output`` of the current flow run.

    Args:
        path: the local file.
        name: artifact name (default: the file name).
        folder: catalog folder (default: ``PREFECT_ARTIFACTS_DEFAULT_FOLDER``).
        description: free text.
        labels: labels to search by.
        metadata: a first metadata aspect (a dict, optionally with ``$schema``).
        mime_type: overrides the detected MIME type.
        conflict_strategy: ``new`` (default), ``skip``, ``error`` or ``replace``.
        registry: block, block name or None (see `resolve_registry`).

    Returns:
        The new artifact version (or the existing one with ``skip``).

    Raises:
        FileNotFoundError: ``path`` does not exist.

    Example:
        ```python
        @flow
        def ingest():
            art = upload_file("data.csv", name="raw-data", folder="/datasets")
        ```
    """
    local = _existing_path(path, want_dir=False)
    return _write(registry, lambda reg, runs: reg.upload_file(
        local, name=name, folder=folder, description=description, labels=labels, metadata=metadata,
        mime_type=mime_type, conflict_strategy=conflict_strategy, runs=runs))


@task(name="aupload_file", **_TASK_OPTIONS)
async def aupload_file(
    path: str | os.PathLike[str], name: str | None = None, folder: str | None = None,
    description: str | None = None, labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    mime_type: str | None = None, conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
    registry: RegistryArg = None,
) -> Artifact:
    """Async twin of `upload_file`.

    Example:
        ```python
        art = await aupload_file("data.csv", name="raw-data")
        ```
    """
    local = _existing_path(path, want_dir=False)
    return await _awrite(registry, lambda reg, runs: reg.upload_file(
        local, name=name, folder=folder, description=description, labels=labels, metadata=metadata,
        mime_type=mime_type, conflict_strategy=conflict_strategy, runs=runs))


@task(name="upload_dir", **_TASK_OPTIONS)
def upload_dir(
    path: str | os.PathLike[str], name: str | None = None, folder: str | None = None,
    description: str | None = None, labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, registry: RegistryArg = None,
) -> Artifact:
    """Register every file under a local directory as one directory artifact (``output``).

    Arguments are those of `upload_file` (without ``mime_type``).

    Raises:
        FileNotFoundError: ``path`` does not exist.

    Example:
        ```python
        @flow
        def train():
            upload_dir("checkpoints/", name="model-checkpoint", folder="/models")
        ```
    """
    local = _existing_path(path, want_dir=True)
    return _write(registry, lambda reg, runs: reg.upload_dir(
        local, name=name, folder=folder, description=description, labels=labels, metadata=metadata,
        conflict_strategy=conflict_strategy, runs=runs))


@task(name="aupload_dir", **_TASK_OPTIONS)
async def aupload_dir(
    path: str | os.PathLike[str], name: str | None = None, folder: str | None = None,
    description: str | None = None, labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, registry: RegistryArg = None,
) -> Artifact:
    """Async twin of `upload_dir`.

    Example:
        ```python
        art = await aupload_dir("checkpoints/", name="model-checkpoint")
        ```
    """
    local = _existing_path(path, want_dir=True)
    return await _awrite(registry, lambda reg, runs: reg.upload_dir(
        local, name=name, folder=folder, description=description, labels=labels, metadata=metadata,
        conflict_strategy=conflict_strategy, runs=runs))


@task(name="add_reference", **_TASK_OPTIONS)
def add_reference(
    uri: str, name: str | None = None, folder: str | None = None, description: str | None = None,
    labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, registry: RegistryArg = None,
) -> Artifact:
    """Register a URI without copying it (size and checksum recorded), as an ``output``.

    Example:
        ```python
        @flow
        def ingest():
            add_reference("s3://lake/events/2026-01-01.parquet", name="events", folder="/lake")
        ```
    """
    return _write(registry, lambda reg, runs: reg.add_reference(
        uri, name=name, folder=folder, description=description, labels=labels, metadata=metadata,
        conflict_strategy=conflict_strategy, runs=runs))


@task(name="aadd_reference", **_TASK_OPTIONS)
async def aadd_reference(
    uri: str, name: str | None = None, folder: str | None = None, description: str | None = None,
    labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, registry: RegistryArg = None,
) -> Artifact:
    """Async twin of `add_reference`.

    Example:
        ```python
        art = await aadd_reference("s3://lake/events.parquet", name="events")
        ```
    """
    return await _awrite(registry, lambda reg, runs: reg.add_reference(
        uri, name=name, folder=folder, description=description, labels=labels, metadata=metadata,
        conflict_strategy=conflict_strategy, runs=runs))


@task(**_serializer_task("save_object", _save_run_name))
def save_object(
    obj: Any, name: str, serializer: str | None = None, folder: str | None = None,
    description: str | None = None, labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, registry: RegistryArg = None,
    serializer_options: dict[str, Any] | None = None,
) -> Artifact:
    """Serialize a Python object into an artifact (``output``); the serializer code is pinned.

    Args:
        obj: the object.
        name: artifact name.
        serializer: a registered serializer name; None chooses one by type.
        folder: catalog folder.
        description: free text.
        labels: labels to search by.
        metadata: a first metadata aspect.
        conflict_strategy: ``new`` (default), ``skip``, ``error`` or ``replace``.
        registry: block, block name or None (see `resolve_registry`).
        serializer_options: options for the serializer (e.g. ``{"indent": 2}``).

    Raises:
        SerializerError: the serializer is unknown or can not handle ``obj``.

    Example:
        ```python
        @flow
        def train():
            save_object({"weights": [0.1, 0.2]}, name="model", serializer="json")
        ```
    """
    return _write(registry, _save_object_call(obj, name, serializer, folder, description, labels, metadata,
                                              conflict_strategy, idempotency_key(current_run()),
                                              serializer_options))


@task(**_serializer_task("asave_object", _save_run_name))
async def asave_object(
    obj: Any, name: str, serializer: str | None = None, folder: str | None = None,
    description: str | None = None, labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, registry: RegistryArg = None,
    serializer_options: dict[str, Any] | None = None,
) -> Artifact:
    """Async twin of `save_object`.

    Example:
        ```python
        art = await asave_object({"a": 1}, name="params")
        ```
    """
    return await _awrite(registry, _save_object_call(obj, name, serializer, folder, description, labels,
                                                     metadata, conflict_strategy, idempotency_key(current_run()),
                                                     serializer_options))


# -- reads -------------------------------------------------------------------------------


def _load_object(use_current: bool) -> Callable[[Registry, Artifact], Any]:
    def read(reg: Registry, art: Artifact) -> Any:
        load = getattr(reg, "load_object", None)
        if load is None:
            raise NotImplementedError(f"{type(reg).__name__} has no load_object")
        return load(art.id, use_current=use_current) if use_current else load(art.id)

    return read


@task(**_serializer_task("load_object", _load_run_name))
def load_object(ref: str, use_current: bool = False, registry: RegistryArg = None) -> Any:
    """Load an object artifact with its pinned serializer snapshot; records it as an ``input``.

    Args:
        ref: ``name``, ``name:3``, ``name:latest``, ``/folder/name:alias``, an id or a URN.
        use_current: deserialize with the currently installed serializer instead of the snapshot.
        registry: block, block name or None (see `resolve_registry`).

    Example:
        ```python
        @flow
        def score():
            model = load_object("/models/model:latest")
        ```
    """
    return _read(registry, ref, _load_object(use_current), pinned=True)


@task(**_serializer_task("aload_object", _load_run_name))
async def aload_object(ref: str, use_current: bool = False, registry: RegistryArg = None) -> Any:
    """Async twin of `load_object`.

    Example:
        ```python
        model = await aload_object("model:latest")
        ```
    """
    return await _aread(registry, ref, _load_object(use_current), pinned=True)


def _download(path: str | os.PathLike[str] | None, artifact_path: str | None,
              file_type: str | None) -> Callable[[Registry, Artifact], Path]:
    def read(reg: Registry, art: Artifact) -> Path:
        if file_type is not None:
            out = Path(path) if path is not None else Path(tempfile.mkdtemp(prefix="prefect-artifacts-"))
            return reg.get_contents(art.id, file_type=file_type, artifact_path=artifact_path, output_dir=out,
                                    file_stem=art.name)
        files = reg.files(art.id)
        if not art.is_dir or (artifact_path is not None and any(f.path == artifact_path for f in files)):
            source = artifact_path if art.is_dir else None
            filename = (artifact_path or files[0].path).rsplit("/", 1)[-1]
            if path is None:
                target = Path(tempfile.mkdtemp(prefix="prefect-artifacts-")) / filename
            else:
                target = Path(path)
                if target.is_dir() or str(path).endswith(("/", os.sep)):
                    target = target / filename
            return Path(reg.download(art.id, target, artifact_path=source))
        prefix = (artifact_path or "").strip("/")
        chosen = [f for f in files if not prefix or f.path.startswith(prefix + "/")]
        if not chosen:
            raise ArtifactNotFound(f"{art.ref} has no file or folder {prefix!r}")
        root = Path(path) if path is not None else Path(tempfile.mkdtemp(prefix="prefect-artifacts-")) / art.name
        for f in chosen:
            relative = f.path[len(prefix) + 1:] if prefix else f.path
            reg.download(art.id, root / relative, artifact_path=f.path)
        return root

    return read


@task(name="download_artifact", **_TASK_OPTIONS)
def download_artifact(
    ref: str, path: str | os.PathLike[str] | None = None, artifact_path: str | None = None,
    file_type: str | None = None, registry: RegistryArg = None,
) -> Path:
    """Download an artifact's verified content; records it as an ``input`` of the flow run.

    A file goes to ``path`` (a file path, or into ``path`` when it is a directory or
    ends with ``/``); a
    directory artifact is recreated under ``path``; ``file_type`` (``tar_gz``/``zip``)
    writes one bundle into ``path`` instead. ``path=None`` uses a new temporary folder.

    Args:
        ref: the artifact reference.
        path: destination (see above).
        artifact_path: one file or sub-folder of a directory artifact.
        file_type: bundle a directory as ``tar_gz`` or ``zip``.
        registry: block, block name or None (see `resolve_registry`).

    Returns:
        The downloaded file, directory or bundle.

    Example:
        ```python
        @flow
        def report():
            csv_path = download_artifact("/datasets/raw-data:latest", path="work/")
        ```
    """
    return _read(registry, ref, _download(path, artifact_path, file_type))


@task(name="adownload_artifact", **_TASK_OPTIONS)
async def adownload_artifact(
    ref: str, path: str | os.PathLike[str] | None = None, artifact_path: str | None = None,
    file_type: str | None = None, registry: RegistryArg = None,
) -> Path:
    """Async twin of `download_artifact`.

    Example:
        ```python
        local = await adownload_artifact("raw-data:latest", path="work/")
        ```
    """
    return await _aread(registry, ref, _download(path, artifact_path, file_type))


def _list(registry: RegistryArg, search: str | None, folder: str | None, sort_by: str | None,
          descending: bool, limit: int) -> list[Artifact]:
    if limit < 0:
        raise InvalidArtifactInput(f"limit must be >= 0, not {limit}")
    reg = resolve_registry(registry)
    return list(itertools.islice(reg.iter(search=search, folder=folder, sort_by=sort_by, descending=descending,
                                          page_length=max(1, min(limit, 200))), limit))


@task(name="list_artifacts", **_TASK_OPTIONS)
def list_artifacts(
    search: str | None = None, folder: str | None = None, sort_by: str | None = None,
    descending: bool = False, limit: int = 100, registry: RegistryArg = None,
) -> list[Artifact]:
    """List up to ``limit`` artifacts matching a search (no run association).

    Example:
        ```python
        @flow
        def audit():
            big = list_artifacts(search="size>100MB", sort_by="size", descending=True)
        ```
    """
    return _list(registry, search, folder, sort_by, descending, limit)


@task(name="alist_artifacts", **_TASK_OPTIONS)
async def alist_artifacts(
    search: str | None = None, folder: str | None = None, sort_by: str | None = None,
    descending: bool = False, limit: int = 100, registry: RegistryArg = None,
) -> list[Artifact]:
    """Async twin of `list_artifacts`.

    Example:
        ```python
        arts = await alist_artifacts(folder="/datasets")
        ```
    """
    return await run_in_thread(_list, registry, search, folder, sort_by, descending, limit)


def _attach_core(registry: RegistryArg, run: RunInfo, ref: str, category: RunCategory,
                 run_id: str | None) -> tuple[Registry, Artifact, RunLink]:
    target = run_id or run.flow_run_id
    if not target:
        raise InvalidArtifactInput("attach_artifact outside a flow run needs run_id=")
    reg = resolve_registry(registry)
    art = reg.get(ref)
    return reg, art, reg.attach(art.id, str(target), category)


def _attach_run(run: RunInfo, run_id: str | None) -> RunInfo:
    return run if run_id is None or str(run_id) == run.flow_run_id else RunInfo(flow_run_id=None)


@task(name="attach_artifact", **_TASK_OPTIONS)
def attach_artifact(ref: str, category: RunCategory | str = RunCategory.INPUT, run_id: str | None = None,
                    registry: RegistryArg = None) -> RunLink:
    """Associate an existing artifact with the current flow run (or ``run_id``).

    Args:
        ref: the artifact reference.
        category: ``input`` (default), ``output`` or ``code``.
        run_id: another flow run id; required outside a flow run.
        registry: block, block name or None (see `resolve_registry`).

    Raises:
        InvalidArtifactInput: the category is not input, output or code.

    Example:
        ```python
        @flow
        def evaluate():
            attach_artifact("/datasets/holdout:3", category="input")
        ```
    """
    cat = parse_category(category)
    run = current_run()
    reg, art, link = _attach_core(registry, run, ref, cat, run_id)
    announce(reg, art, cat, _attach_run(run, run_id), new=False)
    return link


@task(name="aattach_artifact", **_TASK_OPTIONS)
async def aattach_artifact(ref: str, category: RunCategory | str = RunCategory.INPUT, run_id: str | None = None,
                           registry: RegistryArg = None) -> RunLink:
    """Async twin of `attach_artifact`.

    Example:
        ```python
        await aattach_artifact("holdout:3", category="input")
        ```
    """
    cat = parse_category(category)
    run = current_run()
    reg, art, link = await run_in_thread(_attach_core, registry, run, ref, cat, run_id)
    announce(reg, art, cat, _attach_run(run, run_id), new=False)
    return link


# -- code ---------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _code_name(run: RunInfo, files: list[Path]) -> str:
    base = files[0].name if len(files) == 1 else (f"{run.flow_name}-code" if run.flow_name else "code")
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in base).strip("-.") or "code"
    return cleaned[:128]


def _log_code_write(paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None, run: RunInfo,
                    name: str | None, folder: str | None, description: str | None,
                    labels: Sequence[str]) -> Callable[[Registry, list[tuple[str, RunCategory]]], Artifact]:
    if paths is None:
        files = flow_source_files(run)
        if not files:
            raise InvalidArtifactInput("log_code needs paths= outside a flow run whose source file is known")
    else:
        given = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        files = [Path(_existing_path(p, want_dir=False)).resolve() for p in given]
        if not files:
            raise InvalidArtifactInput("log_code: paths is empty")
    art_name = name or _code_name(run, files)
    root = Path(os.path.commonpath([str(f.parent) for f in files]))
    relative = [f.relative_to(root).as_posix() for f in files]

    def write(reg: Registry, runs: list[tuple[str, RunCategory]]) -> Artifact:
        # Unchanged code is the same artifact version: associate it instead of adding one.
        if len(files) == 1:
            checksum = _sha256(files[0])
        else:
            checksum = manifest_checksum([ManifestFile(path=r, size=f.stat().st_size, checksum=_sha256(f))
                                          for r, f in zip(relative, files, strict=True)])
        target_folder = normalize_folder(folder, reg.settings.default_folder)
        try:
            latest = reg.get(f"{target_folder.rstrip('/')}/{art_name}:latest")
        except ArtifactNotFound:
            latest = None
        if latest is not None and latest.checksum == checksum and latest.is_dir == (len(files) > 1):
            return latest  # _write_core attaches it as code
        draft = ArtifactDraft(name=art_name, description=description, labels=list(labels))
        for rel, f in zip(relative, files, strict=True):
            draft.add_file(str(f), obj_path=rel if len(files) > 1 else None)
        return reg.upload(draft, folder=folder, make_folder=True, runs=runs,
                          original_path=str(files[0] if len(files) == 1 else root))

    return write


@task(name="log_code", **_TASK_OPTIONS)
def log_code(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None, name: str | None = None,
    folder: str | None = None, description: str | None = None, labels: Sequence[str] = (),
    registry: RegistryArg = None,
) -> Artifact:
    """Register source code as a ``code`` artifact of the flow run.

    With ``paths=None`` the running flow's source file is logged. Unchanged code
    reuses the latest version (same checksum) instead of adding a new one.

    Args:
        paths: a file or files; None: the flow function's source file.
        name: artifact name (default: the file name; ``<flow name>-code`` for several files).
        folder: catalog folder.
        description: free text.
        labels: labels to search by.
        registry: block, block name or None (see `resolve_registry`).

    Example:
        ```python
        @flow
        def etl():
            log_code()                               # this flow's .py file
            log_code(["etl/transform.py", "etl/schema.sql"], name="etl-code")
        ```
    """
    run = current_run()
    return _write(registry, _log_code_write(paths, run, name, folder, description, labels), RunCategory.CODE)


@task(name="alog_code", **_TASK_OPTIONS)
async def alog_code(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None, name: str | None = None,
    folder: str | None = None, description: str | None = None, labels: Sequence[str] = (),
    registry: RegistryArg = None,
) -> Artifact:
    """Async twin of `log_code`.

    Example:
        ```python
        await alog_code()
        ```
    """
    run = current_run()
    return await _awrite(registry, _log_code_write(paths, run, name, folder, description, labels),
                         RunCategory.CODE)


# -- @artifact_task -------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


def idempotency_key(run: RunInfo) -> str | None:
    """Key making a task run register its return value once, across retries.

    Example:
        ```python
        idempotency_key(current_run())  # "prefect-task-run:<flow run id>:<task run id>"
        ```
    """
    if run.task_run_id is None:
        return None
    return f"prefect-task-run:{run.flow_run_id or '-'}:{run.task_run_id}"


@overload
def artifact_task(__fn: F) -> Any: ...


@overload
def artifact_task(
    __fn: None = None, *, name: str | None = ..., serializer: str | None = ..., folder: str | None = ...,
    labels: Sequence[str] = ..., description: str | None = ..., metadata: dict[str, Any] | None = ...,
    registry: RegistryArg = ..., task_name: str | None = ..., serializer_options: dict[str, Any] | None = ...,
    **task_kwargs: Any,
) -> Callable[[F], Any]: ...


def artifact_task(
    __fn: Callable[..., Any] | None = None, *, name: str | None = None, serializer: str | None = None,
    folder: str | None = None, labels: Sequence[str] = (), description: str | None = None,
    metadata: dict[str, Any] | None = None, registry: RegistryArg = None, task_name: str | None = None,
    serializer_options: dict[str, Any] | None = None, **task_kwargs: Any,
) -> Any:
    """A drop-in for ``@task`` that registers the return value as an ``output`` artifact.

    The value is saved with ``registry.save_object`` (serializer chosen by type unless
    given) and returned unchanged. A task run registers once: retries and re-executions
    of the same task run reuse an idempotency key made of the flow and task run ids.
    Works with or without parentheses, on sync and async functions.

    Args:
        name: artifact name (default: the function name). The Prefect task's own name
            is ``task_name`` (default: the function name).
        serializer: serializer name; None chooses by type.
        folder: catalog folder.
        labels: labels of the artifact.
        description: artifact description (default: the function's docstring summary).
        metadata: a first metadata aspect.
        registry: block, block name or None (see `resolve_registry`).
        task_name: the Prefect task name.
        serializer_options: options for the serializer.
        **task_kwargs: any other ``@task`` keyword (``retries``, ``tags``, ``cache_policy``, …).

    Example:
        ```python
        @artifact_task(name="features", folder="/ml", retries=2)
        def featurize(rows: list[dict]) -> list[list[float]]:
            return [[r["x"], r["x"] ** 2] for r in rows]

        @artifact_task
        async def summary(values: list[float]) -> dict:
            return {"n": len(values)}
        ```
    """

    def decorate(fn: Callable[..., Any]) -> Any:
        art_name = name or fn.__name__
        doc = (inspect.getdoc(fn) or "").strip().split("\n\n", 1)[0] or None
        art_description = description if description is not None else doc

        def register(run: RunInfo, value: Any) -> tuple[Registry, Artifact, bool]:
            write = _save_object_call(value, art_name, serializer, folder, art_description, labels, metadata,
                                      ConflictStrategy.NEW, idempotency_key(run), serializer_options)
            return _write_core(registry, run, RunCategory.OUTPUT, write)

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                value = await fn(*args, **kwargs)
                run = current_run()
                reg, art, new = await run_in_thread(register, run, value)
                announce(reg, art, RunCategory.OUTPUT, run, new)
                return value

            wrapper: Callable[..., Any] = async_wrapper
        else:
            @functools.wraps(fn)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                value = fn(*args, **kwargs)
                run = current_run()
                reg, art, new = register(run, value)
                announce(reg, art, RunCategory.OUTPUT, run, new)
                return value

            wrapper = sync_wrapper
        options = dict(task_kwargs)
        options.setdefault("name", task_name or fn.__name__)
        return task(**options)(wrapper)

    if __fn is not None:
        return decorate(__fn)
    return decorate
