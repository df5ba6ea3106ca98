"""Prefect tasks over the registry, and the `@artifact_task` decorator.

Every task takes an optional ``registry``: an `ArtifactRegistry` block, a saved block's
name, or None for the block named by ``PREFECT_ARTIFACTS_REGISTRY_BLOCK`` (else the
embedded registry under ``$PREFECT_ARTIFACTS_HOME``). Inside a flow run each task
associates its artifact with the current flow run in the same catalog transaction as
the write: writes as ``output``, reads (`load_object`, `download_artifact`) as
``input``, `log_code` as ``code``. An object's serializer plugin snapshot (`save_object`,
`@artifact_task`) is registered as the code artifact ``serializer-<plugin>`` in the
object's folder and linked as ``code`` too, once per run and snapshot (unchanged source
is one version, like `log_code`'s). Outside a flow run they work without association.

Each flow run that registers or reads artifacts gets a Prefect table artifact
(key ``artifacts-<flow name>``) listing them, each call logs one INFO line to the run
logs (``Registered /etl/raw:1 (1.2 MiB, sha256:1a2b3c4d)``), and each artifact a call
produced emits the event ``prefect-artifacts.artifact.created`` once. Writes are keyed
by the call (`idempotency_key`): task retries and flow-run retries register once. Every
task retries twice on transient I/O errors (`is_transient`).

Example:
    ```python
    from prefect import flow
    from prefect_artifacts.tasks import artifact_task, load_object, upload_file

    @artifact_task(artifact_name="clean-rows", folder="/etl")
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
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast, overload

from prefect.cache_policies import NO_CACHE

from prefect_artifacts._asyncio import run_in_thread
from prefect_artifacts._code_links import record_serializer_code
from prefect_artifacts._paths import local_name
from prefect_artifacts._prefect import (
    RunInfo,
    announce,
    current_run,
    flow_source_files,
    is_new,
    now,
    producer_aspect,
    run_logger,
)
from prefect_artifacts._prefect import registry_task as task  # prefect.task that publishes tables
from prefect_artifacts.batches import BatchResult, reworded
from prefect_artifacts.blocks import ArtifactRegistry
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
from prefect_artifacts.models import Artifact, ConflictStrategy, RunCategory, RunLink
from prefect_artifacts.references import basename
from prefect_artifacts.registry.base import (
    Registry,
    _default_name,
    parse_category,
    parse_strategy,
)
from prefect_artifacts.registry.offline import SyncReport, with_outbox
from prefect_artifacts.serializers.api import save_object as serialize_into
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
    "async_outbox",
    "attach_artifact",
    "aupload_dir",
    "aupload_file",
    "aupload_many",
    "download_artifact",
    "is_transient",
    "list_artifacts",
    "load_object",
    "log_code",
    "resolve_registry",
    "save_object",
    "sync_outbox",
    "upload_dir",
    "upload_file",
    "upload_many",
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
        # async_dispatch types load as `block | Coroutine` and without `_sync`, which makes it the block.
        return cast(ArtifactRegistry, ArtifactRegistry.load(name, _sync=True))  # type: ignore[call-arg]
    except ValueError as exc:
        if "Unable to find block document" not in str(exc) and "not found" not in str(exc).lower():
            raise
        raise InvalidArtifactInput(
            f"no ArtifactRegistry block named {name!r} on this Prefect server: create it with "
            f"ArtifactRegistry(...).save({name!r}), or fix the registry argument / "
            "PREFECT_ARTIFACTS_REGISTRY_BLOCK"
        ) from None


# -- shared implementation (sync, runs in a worker thread for the async twins) ----------


Links = list[tuple[str, RunCategory]]


class _ByRun(NamedTuple):
    """What a task call's write records about its run: run links, and the producer aspect of a new artifact."""

    links: Links
    aspects: list[dict[str, Any]]


#: How a task call writes: (registry, its run, conflict strategy, idempotency key) -> artifact.
Make = Callable[[Registry, _ByRun, ConflictStrategy, str | None], Artifact]
#: What a task call registers: (registry, its run, idempotency key) -> (artifact, made by this call).
Produce = Callable[[Registry, _ByRun, str | None], tuple[Artifact, bool]]


class _Write(NamedTuple):
    """A task call's write: how it registers, and what it is (part of its idempotency key)."""

    produce: Produce
    target: str  # "<registry method>|<folder>|<name>|<source>"


def _links(run: RunInfo, category: RunCategory) -> Links:
    return [(run.flow_run_id, category)] if run.flow_run_id else []


def _linked(art: Artifact, links: Links) -> bool:
    return any((link.run_id, link.category) in links for link in art.runs)


def _latest_or_none(reg: Registry, folder: str | None, name: str) -> Artifact | None:
    try:
        return reg.get(name=name, folder=folder or reg.settings.default_folder, version="latest")
    except ArtifactNotFound:
        return None


def _keyed(make: Make, strategy: ConflictStrategy | str, folder: str | None, name: str, target: str) -> _Write:
    """A write under the call's idempotency key: it registers once, and knows if it made the artifact.

    Under ``new``, ``error`` and ``replace`` a write returns an existing version only for
    a used key, so whatever it returns is this call's. ``skip`` may return somebody
    else's latest version: a latest version not yet linked to this run as this category
    is someone else's (skipped to, without the key, as before); otherwise the key is
    tried under ``error`` first (it returns this call's recorded version, or makes one),
    and an `ArtifactConflict` means the latest is someone else's after all.
    """
    parsed = parse_strategy(strategy)

    def produce(reg: Registry, by: _ByRun, key: str | None) -> tuple[Artifact, bool]:
        started = now()
        if key is None or parsed is not ConflictStrategy.SKIP:
            art = make(reg, by, parsed, key)
            return art, key is not None or is_new(art, started)
        latest = _latest_or_none(reg, folder, name)
        if latest is None or _linked(latest, by.links):
            try:
                return make(reg, by, ConflictStrategy.ERROR, key), True
            except ArtifactConflict:
                pass  # the live latest version is not this call's: skip to it
        art = make(reg, by, ConflictStrategy.SKIP, None)
        return art, is_new(art, started)

    return _Write(produce, target)


class _Written(NamedTuple):
    """What a task call's write did."""

    registry: Registry
    artifact: Artifact
    made: bool  # made by this call (now, or by an earlier attempt of it)
    fresh: bool  # made just now
    code: tuple[Artifact, bool] | None  # the serializer code linked to the run, and whether it is new


def _serializer_code(reg: Registry, art: Artifact, run: RunInfo) -> tuple[Artifact, bool] | None:
    """Link the serializer snapshot that wrote an object to the run as ``code``.

    A transient error fails the call (its retry finds the object and the link by their
    keys); any other is logged: the object is written, the link is only missing.
    """
    if art.serializer is None or not run.flow_run_id:
        return None
    try:
        return record_serializer_code(reg, art, run.flow_run_id)
    except Exception as exc:
        if is_transient(exc):
            raise  # the task retries: the object and its code link are keyed, each registers once
        run_logger().warning("could not link the serializer code of %s to flow run %s: %s", art.ref,
                             run.flow_run_id, exc)
        return None


def _write_core(registry: RegistryArg, run: RunInfo, category: RunCategory, produce: Produce,
                key: str | None) -> _Written:
    """Resolve the registry and write; an object's serializer code is linked to the run as ``code``."""
    reg = resolve_registry(registry)
    started = now()
    art, made = produce(reg, _ByRun(_links(run, category), producer_aspect(run)), key)
    if run.flow_run_id and not any(
        link.run_id == run.flow_run_id and link.category is category for link in art.runs
    ):
        # ``skip`` returned an existing version: it is still this run's output.
        art.runs.append(reg.attach(art.id, run.flow_run_id, category))
    fresh = is_new(art, started)
    return _Written(reg, art, made, fresh, _serializer_code(reg, art, run))


def _announce_write(written: _Written, category: RunCategory, run: RunInfo) -> None:
    reg, art, made, fresh, code = written
    note = "(recorded by an earlier attempt of this call)" if made and not fresh else None
    announce(reg, art, category, run, made, "Registered" if made else "Reused", note)
    if code is not None:
        announce(reg, code[0], RunCategory.CODE, run, code[1], "Registered" if code[1] else "Linked",
                 f"as the serializer code of {art.ref}")


def _write(registry: RegistryArg, write: _Write, category: RunCategory = RunCategory.OUTPUT) -> Artifact:
    run = current_run()
    key = idempotency_key(run, write.target)
    written = _write_core(registry, run, category, write.produce, key)
    _announce_write(written, category, run)
    return written.artifact


async def _awrite(registry: RegistryArg, write: _Write,
                  category: RunCategory = RunCategory.OUTPUT) -> Artifact:
    run = current_run()
    key = idempotency_key(run, write.target)  # read here: the task run context is this thread's
    written = await run_in_thread(_write_core, registry, run, category, write.produce, key)
    _announce_write(written, category, run)
    return written.artifact


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
    announce(reg, art, RunCategory.INPUT, run, new=False, action="Loaded")
    return value


async def _aread(registry: RegistryArg, ref: str, read: Callable[[Registry, Artifact], T],
                 pinned: bool = False) -> T:
    run = current_run()
    taken = _take_pinned(ref) if pinned else None
    reg, art, value = await run_in_thread(_read_core, registry, run, ref, read, taken)
    announce(reg, art, RunCategory.INPUT, run, new=False, action="Loaded")
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


def _save_object_call(obj: Any, name: str, serializer: str | None, folder: str | None,
                      description: str | None, labels: Sequence[str], metadata: dict[str, Any] | None,
                      conflict_strategy: ConflictStrategy | str,
                      options: dict[str, Any] | None = None, group: str | None = None) -> _Write:
    def make(reg: Registry, by: _ByRun, strategy: ConflictStrategy, key: str | None) -> Artifact:
        kwargs = _options(serializer=serializer, folder=folder, description=description,
                          metadata=metadata, idempotency_key=key, options=options, group=group)
        if labels:
            kwargs["labels"] = list(labels)
        if strategy is not ConflictStrategy.NEW:
            kwargs["conflict_strategy"] = strategy
        # Not reg.save_object: the task links the serializer code itself (announced, retried).
        return serialize_into(reg, obj, name=name, runs=by.links, extra_aspects=by.aspects, **kwargs)

    return _keyed(make, conflict_strategy, folder, name, f"save_object|{folder or ''}|{name}")


def _file_call(method: str, source: str, name: str, folder: str | None, conflict_strategy: ConflictStrategy | str,
               **fields: Any) -> _Write:
    """`upload_file`, `upload_dir` or `add_reference` of the registry, as a keyed write."""

    def make(reg: Registry, by: _ByRun, strategy: ConflictStrategy, key: str | None) -> Artifact:
        options = {"idempotency_key": key} if key is not None else {}
        return getattr(reg, method)(source, name=name, folder=folder, conflict_strategy=strategy, runs=by.links,
                                    extra_aspects=by.aspects, **fields, **options)

    origin = source if method == "add_reference" else os.path.abspath(source)
    return _keyed(make, conflict_strategy, folder, name, f"{method}|{folder or ''}|{name}|{origin}")


# -- every I/O task: run names that show the artifact, retries on transient errors -----------

_PERMANENT = (InvalidArtifactInput, ArtifactNotFound, ArtifactConflict, ArtifactIntegrityError,
              AuthenticationError, PermissionDenied, MissingStorageBackend, SnapshotIntegrityError)
# OS errors about the caller's own paths: retrying can not make a missing input file appear.
_PERMANENT_OS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)


def _transient_os(exc: BaseException | None) -> bool:
    return isinstance(exc, (OSError, TimeoutError)) and not isinstance(exc, _PERMANENT_OS)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed task is worth retrying: storage, network or OS trouble.

    Bad input (a missing local file included), missing artifacts, conflicts, integrity
    and permission errors fail at once; a serializer's failure is retried only when an
    ``OSError`` (network, disk) caused it. `StorageError` (the registry's I/O errors, a
    lost connection to a registry server among them) is transient.

    Example:
        ```python
        is_transient(StorageError("connection reset"))          # True
        is_transient(SerializerError("no serializer for Foo"))  # False
        is_transient(FileNotFoundError("data.csv"))             # False
        ```
    """
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, SerializerError):
        return _transient_os(exc.__cause__)
    return _transient_os(exc)


def _retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    # The engine hands a task's exception over as the failed state's data. (``state.result()``
    # would return a coroutine instead of raising it in an async task's event loop.)
    data = getattr(state, "data", None)
    if isinstance(data, BaseException):
        return is_transient(data)
    try:
        result = state.result()
    except Exception as exc:  # noqa: BLE001 - classified, not handled
        return is_transient(exc)
    if inspect.iscoroutine(result):
        result.close()
    return False


def _bracketed(task_name: str, *parts: str | None) -> str:
    shown = [p if len(p) <= 80 else p[:77] + "..." for p in parts if p]
    return f"{task_name}[{', '.join(shown)}]" if shown else task_name


def _run_name(task_name: str, label: Callable[[dict[str, Any]], str | None]) -> Callable[..., str]:
    """A task run name showing what the call works on: ``upload_file[my-data]``."""

    def name(parameters: dict[str, Any]) -> str:
        try:  # a name must never fail the run: errors surface in the task body instead
            return _bracketed(task_name, label(parameters))
        except Exception:  # noqa: BLE001
            return task_name

    return name


def _pinned_name(task_name: str, label: str | None, pin: Callable[[], tuple[str, str]]) -> str:
    # A name must never fail the run: errors surface in the task body instead.
    try:
        serializer, snapshot_id = pin()
    except Exception:  # noqa: BLE001
        return _bracketed(task_name, label)
    return _bracketed(task_name, label, f"{serializer}@{snapshot_id[:8]}")


def _save_run_name(task_name: str) -> Callable[..., str]:
    def name(parameters: dict[str, Any]) -> str:
        def pin() -> tuple[str, str]:
            cls = resolve_serializer(parameters["obj"], parameters.get("serializer"))
            reg = resolve_registry(parameters.get("registry"))
            return serializer_name(cls), (known_snapshot(reg, cls) or snapshot_serializer(reg, cls)).id

        return _pinned_name(task_name, _text(parameters.get("name")), pin)

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

        return _pinned_name(task_name, _text(parameters.get("ref")), pin)

    return name


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _path_label(parameters: dict[str, Any]) -> str | None:
    """The artifact name an ``upload_file``/``upload_dir`` call registers."""
    return _text(parameters.get("name")) or _default_name(os.fspath(parameters["path"]))


def _reference_label(parameters: dict[str, Any]) -> str | None:
    return _text(parameters.get("name")) or _default_name(basename(parameters["uri"]))


def _ref_label(parameters: dict[str, Any]) -> str | None:
    return _text(parameters.get("ref"))


def _list_label(parameters: dict[str, Any]) -> str | None:
    return _text(parameters.get("search")) or _text(parameters.get("folder"))


def _code_label(parameters: dict[str, Any]) -> str | None:
    if _text(parameters.get("name")):
        return parameters["name"]
    paths = parameters.get("paths")
    if paths is None:
        files = flow_source_files(current_run())
        return files[0].name if files else None
    given = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    return _code_name(current_run(), [Path(p) for p in given]) if given else None


_RETRY_TRANSIENT: dict[str, Any] = {"retries": 2, "retry_delay_seconds": [1, 5],
                                    "retry_condition_fn": _retry_transient}


def _io_task(name: str, label: Callable[[dict[str, Any]], str | None]) -> dict[str, Any]:
    """``@task`` options of a shipped task: a run name showing ``label``, two retries on transient errors."""
    return {"name": name, "task_run_name": _run_name(name, label), **_RETRY_TRANSIENT, **_TASK_OPTIONS}


def _serializer_task(name: str, run_name: Callable[[str], Callable[..., str]]) -> dict[str, Any]:
    """``@task`` options of `save_object`/`load_object`: the run name also shows the pinned serializer."""
    return {"name": name, "task_run_name": run_name(name), **_RETRY_TRANSIENT, **_TASK_OPTIONS}


# -- writes ------------------------------------------------------------------------------


@task(**_io_task("upload_file", _path_label))
def upload_file(
    path: str | os.PathLike[str], name: str | None = None, folder: str | None = None,
    description: str | None = None, labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    mime_type: str | None = None, conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
    registry: RegistryArg = None, group: str | None = None,
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
        group: the group that owns the artifact (default: the folder's group, else the
            caller's default group; see `Registry.upload`).

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
    return _write(registry, _file_call(
        "upload_file", local, name if name is not None else _default_name(local), folder, conflict_strategy,
        description=description, labels=labels, metadata=metadata, mime_type=mime_type, group=group))


@task(**_io_task("aupload_file", _path_label))
async def aupload_file(
    path: str | os.PathLike[str], name: str | None = None, folder: str | None = None,
    description: str | None = None, labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    mime_type: str | None = None, conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
    registry: RegistryArg = None, group: str | None = None,
) -> Artifact:
    """Async twin of `upload_file`."""
    local = _existing_path(path, want_dir=False)
    return await _awrite(registry, _file_call(
        "upload_file", local, name if name is not None else _default_name(local), folder, conflict_strategy,
        description=description, labels=labels, metadata=metadata, mime_type=mime_type, group=group))


def _items_label(parameters: dict[str, Any]) -> str | None:
    """How many files an ``upload_many`` call registers."""
    return f"{len(parameters['items'])} files"


def _upload_many_core(registry: RegistryArg, run: RunInfo, key: str | None, items: Sequence[Mapping[str, Any]],
                      folder: str | None, conflict_strategy: ConflictStrategy | str,
                      group: str | None) -> tuple[Registry, list[BatchResult]]:
    """`Registry.upload_many` with this run's links, producer aspect and a key per item (``<call key>:<index>``)."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise InvalidArtifactInput(f"upload_many takes a list of mappings, not {type(items).__name__}")
    by = _ByRun(_links(run, RunCategory.OUTPUT), producer_aspect(run))
    keyed = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InvalidArtifactInput(f"item {index}: the task takes mappings of upload_file's arguments, not "
                                       f"{type(item).__name__} (for drafts, call Registry.upload_many)")
        keyed.append({**item, "runs": [*(item.get("runs") or ()), *by.links],
                      "extra_aspects": [*(item.get("extra_aspects") or ()), *by.aspects],
                      **({"idempotency_key": f"{key}:{index}"} if key is not None else {})})
    reg = resolve_registry(registry)
    return reg, reg.upload_many(keyed, folder=folder, conflict_strategy=conflict_strategy, group=group)


def _announce_many(reg: Registry, results: list[BatchResult], run: RunInfo, keyed: bool,
                   started: datetime) -> list[Artifact]:
    """Announce every artifact made; raise the first item's error (after the others are announced)."""
    for result in results:
        if result.artifact is not None:
            made = keyed or is_new(result.artifact, started)
            announce(reg, result.artifact, RunCategory.OUTPUT, run, made, "Registered" if made else "Reused")
    errors = [r.error for r in results if r.error is not None]
    if errors:
        first = errors[0]
        if len(errors) > 1:
            first = reworded(first, f"{first} (and {len(errors) - 1} more of {len(results)} items failed)")
        raise first  # its class decides a retry: every item is keyed, so a retry makes none twice
    return [r.unwrap() for r in results]


@task(**_io_task("upload_many", _items_label))
def upload_many(
    items: Sequence[Mapping[str, Any]], folder: str | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, registry: RegistryArg = None,
    group: str | None = None,
) -> list[Artifact]:
    """Register many local files in one call, each an ``output`` of the current flow run.

    One `Registry.upload_many` (one catalog transaction embedded, one request per 500
    items over HTTP) instead of one task run per file. Each item is a mapping of
    `upload_file`'s arguments (``path`` required); the keyword arguments are every
    item's defaults. Each item is keyed from the call, so a retried task run returns the
    artifacts its first attempt made. ``skip`` returns the latest version as
    `Registry.upload_many` does.

    Returns:
        The artifacts, in the items' order.

    Raises:
        ArtifactError: the first failed item's error (its message names the item and how
            many others failed), after the other items were registered and announced.

    Example:
        ```python
        @flow
        def ingest(paths: list[str]):
            upload_many([{"path": p, "labels": ["raw"]} for p in paths], folder="/datasets/raw")
        ```
    """
    run = current_run()
    key = idempotency_key(run, f"upload_many|{folder or ''}")
    started = now()
    reg, results = _upload_many_core(registry, run, key, items, folder, conflict_strategy, group)
    return _announce_many(reg, results, run, key is not None, started)


@task(**_io_task("aupload_many", _items_label))
async def aupload_many(
    items: Sequence[Mapping[str, Any]], folder: str | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, registry: RegistryArg = None,
    group: str | None = None,
) -> list[Artifact]:
    """Async twin of `upload_many`."""
    run = current_run()
    key = idempotency_key(run, f"upload_many|{folder or ''}")  # read here: the task run context is this thread's
    started = now()
    reg, results = await run_in_thread(_upload_many_core, registry, run, key, items, folder, conflict_strategy,
                                       group)
    return _announce_many(reg, results, run, key is not None, started)


@task(**_io_task("upload_dir", _path_label))
def upload_dir(
    path: str | os.PathLike[str], name: str | None = None, folder: str | None = None,
    description: str | None = None, labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, registry: RegistryArg = None,
    group: str | None = None,
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
    return _write(registry, _file_call(
        "upload_dir", local, name if name is not None else _default_name(local), folder, conflict_strategy,
        description=description, labels=labels, metadata=metadata, group=group))


@task(**_io_task("aupload_dir", _path_label))
async def aupload_dir(
    path: str | os.PathLike[str], name: str | None = None, folder: str | None = None,
    description: str | None = None, labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, registry: RegistryArg = None,
    group: str | None = None,
) -> Artifact:
    """Async twin of `upload_dir`."""
    local = _existing_path(path, want_dir=True)
    return await _awrite(registry, _file_call(
        "upload_dir", local, name if name is not None else _default_name(local), folder, conflict_strategy,
        description=description, labels=labels, metadata=metadata, group=group))


@task(**_io_task("add_reference", _reference_label))
def add_reference(
    uri: str, name: str | None = None, folder: str | None = None, description: str | None = None,
    labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, registry: RegistryArg = None,
    group: str | None = None,
) -> Artifact:
    """Register a URI without copying it (size and checksum recorded), as an ``output``.

    Example:
        ```python
        @flow
        def ingest():
            add_reference("s3://lake/events/2026-01-01.parquet", name="events", folder="/lake")
        ```
    """
    return _write(registry, _file_call(
        "add_reference", uri, name if name is not None else _default_name(basename(uri)), folder,
        conflict_strategy, description=description, labels=labels, metadata=metadata, group=group))


@task(**_io_task("aadd_reference", _reference_label))
async def aadd_reference(
    uri: str, name: str | None = None, folder: str | None = None, description: str | None = None,
    labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, registry: RegistryArg = None,
    group: str | None = None,
) -> Artifact:
    """Async twin of `add_reference`."""
    return await _awrite(registry, _file_call(
        "add_reference", uri, name if name is not None else _default_name(basename(uri)), folder,
        conflict_strategy, description=description, labels=labels, metadata=metadata, group=group))


@task(**_serializer_task("save_object", _save_run_name))
def save_object(
    obj: Any, name: str, serializer: str | None = None, folder: str | None = None,
    description: str | None = None, labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, registry: RegistryArg = None,
    serializer_options: dict[str, Any] | None = None, group: str | None = None,
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
        group: the group that owns the artifact and may read its serializer snapshot
            (default: the folder's group, else the caller's default group).

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
                                              conflict_strategy, serializer_options, group))


@task(**_serializer_task("asave_object", _save_run_name))
async def asave_object(
    obj: Any, name: str, serializer: str | None = None, folder: str | None = None,
    description: str | None = None, labels: Sequence[str] = (), metadata: dict[str, Any] | None = None,
    conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW, registry: RegistryArg = None,
    serializer_options: dict[str, Any] | None = None, group: str | None = None,
) -> Artifact:
    """Async twin of `save_object`."""
    return await _awrite(registry, _save_object_call(obj, name, serializer, folder, description, labels,
                                                     metadata, conflict_strategy, serializer_options, group))


# -- reads -------------------------------------------------------------------------------


def _load_object(use_current: bool) -> Callable[[Registry, Artifact], Any]:
    def read(reg: Registry, art: Artifact) -> Any:
        return reg.load_object(art.id, use_current=use_current)

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
    """Async twin of `load_object`."""
    return await _aread(registry, ref, _load_object(use_current), pinned=True)


def _download(path: str | os.PathLike[str] | None, artifact_path: str | None,
              file_type: str | None) -> Callable[[Registry, Artifact], Path]:
    def read(reg: Registry, art: Artifact) -> Path:
        if file_type is not None:
            out = Path(path) if path is not None else Path(tempfile.mkdtemp(prefix="prefect-artifacts-"))
            return reg.get_contents(art.id, file_type=file_type, artifact_path=artifact_path, output_dir=out,
                                    file_stem=local_name(art.name))
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
        return reg.download_dir(art.id, path, artifact_path)

    return read


@task(**_io_task("download_artifact", _ref_label))
def download_artifact(
    ref: str, path: str | os.PathLike[str] | None = None, artifact_path: str | None = None,
    file_type: str | None = None, registry: RegistryArg = None,
) -> Path:
    """Download an artifact's verified content; records it as an ``input`` of the flow run.

    A file goes to ``path`` (a file path, or into ``path`` when it is a directory or
    ends with ``/``); a directory artifact is recreated under ``path`` (`Registry.download_dir`:
    nothing is written through a symlink already there); ``file_type`` (``tar_gz``/``zip``)
    writes one bundle into ``path`` instead. ``path=None`` uses a new temporary folder.

    Args:
        ref: the artifact reference.
        path: destination (see above).
        artifact_path: one file or sub-folder of a directory artifact.
        file_type: bundle a directory as ``tar_gz`` or ``zip``.
        registry: block, block name or None (see `resolve_registry`).

    Returns:
        The downloaded file, directory or bundle.

    Raises:
        ArtifactNotFound: ``artifact_path`` names no file or folder.
        UnsafePath: a file of the directory would be written through a symlink (nothing is written).

    Example:
        ```python
        @flow
        def report():
            csv_path = download_artifact("/datasets/raw-data:latest", path="work/")
        ```
    """
    return _read(registry, ref, _download(path, artifact_path, file_type))


@task(**_io_task("adownload_artifact", _ref_label))
async def adownload_artifact(
    ref: str, path: str | os.PathLike[str] | None = None, artifact_path: str | None = None,
    file_type: str | None = None, registry: RegistryArg = None,
) -> Path:
    """Async twin of `download_artifact`."""
    return await _aread(registry, ref, _download(path, artifact_path, file_type))


def _list(registry: RegistryArg, search: str | None, folder: str | None, sort_by: str | None,
          descending: bool, limit: int) -> list[Artifact]:
    if limit < 0:
        raise InvalidArtifactInput(f"limit must be >= 0, not {limit}")
    reg = resolve_registry(registry)
    return list(itertools.islice(reg.iter(search=search, folder=folder, sort_by=sort_by, descending=descending,
                                          page_length=max(1, min(limit, 200))), limit))


@task(**_io_task("list_artifacts", _list_label))
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


@task(**_io_task("alist_artifacts", _list_label))
async def alist_artifacts(
    search: str | None = None, folder: str | None = None, sort_by: str | None = None,
    descending: bool = False, limit: int = 100, registry: RegistryArg = None,
) -> list[Artifact]:
    """Async twin of `list_artifacts`."""
    return await run_in_thread(_list, registry, search, folder, sort_by, descending, limit)


def _sync_label(parameters: dict[str, Any]) -> str | None:
    return "dry-run" if parameters.get("dry_run") else None


def _sync(registry: RegistryArg, dry_run: bool) -> SyncReport:
    return with_outbox(resolve_registry(registry)).push_outbox(dry_run)


@task(**_io_task("sync_outbox", _sync_label))
def sync_outbox(dry_run: bool = False, registry: RegistryArg = None) -> SyncReport:
    """Replay the artifacts written offline to the server, each exactly once (`Registry.push_outbox`).

    The registry's server outbox is synced whether or not the registry writes offline
    itself; a sync interrupted at any point (a retry, a crash) is simply run again.
    Schedule a flow calling it to sync outboxes regularly.

    Example:
        ```python
        @flow
        def sync_artifacts():
            report = sync_outbox(registry="prod")
            assert not report.conflicts, report.conflicts
        ```
    """
    return _sync(registry, dry_run)


@task(**_io_task("async_outbox", _sync_label))
async def async_outbox(dry_run: bool = False, registry: RegistryArg = None) -> SyncReport:
    """Async twin of `sync_outbox`."""
    return await run_in_thread(_sync, registry, dry_run)


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


@task(**_io_task("attach_artifact", _ref_label))
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
    announce(reg, art, cat, _attach_run(run, run_id), new=False, action="Attached",
             note=f"as {cat.value} of flow run {link.run_id}")
    return link


@task(**_io_task("aattach_artifact", _ref_label))
async def aattach_artifact(ref: str, category: RunCategory | str = RunCategory.INPUT, run_id: str | None = None,
                           registry: RegistryArg = None) -> RunLink:
    """Async twin of `attach_artifact`."""
    cat = parse_category(category)
    run = current_run()
    reg, art, link = await run_in_thread(_attach_core, registry, run, ref, cat, run_id)
    announce(reg, art, cat, _attach_run(run, run_id), new=False, action="Attached",
             note=f"as {cat.value} of flow run {link.run_id}")
    return link


# -- code ---------------------------------------------------------------------------------


def _code_name(run: RunInfo, files: list[Path]) -> str:
    base = files[0].name if len(files) == 1 else (f"{run.flow_name}-code" if run.flow_name else "code")
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in base).strip("-.") or "code"
    return cleaned[:128]


def _log_code_write(paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None, run: RunInfo,
                    name: str | None, folder: str | None, description: str | None,
                    labels: Sequence[str], group: str | None = None) -> _Write:
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

    def produce(reg: Registry, by: _ByRun, key: str | None) -> tuple[Artifact, bool]:
        # Unchanged code is the latest version (Registry.upload_code): associated, not added again.
        started = now()
        art, reused = reg._upload_code(files, art_name, folder, description, labels, group, runs=by.links,
                                       extra_aspects=by.aspects, idempotency_key=key)
        return art, not reused and (key is not None or is_new(art, started))

    return _Write(produce, f"log_code|{folder or ''}|{art_name}|{'|'.join(map(str, files))}")


@task(**_io_task("log_code", _code_label))
def log_code(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None, name: str | None = None,
    folder: str | None = None, description: str | None = None, labels: Sequence[str] = (),
    registry: RegistryArg = None, group: str | None = None,
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
        group: the group that owns the code artifact (default: the folder's, else yours).

    Example:
        ```python
        @flow
        def etl():
            log_code()                               # this flow's .py file
            log_code(["etl/transform.py", "etl/schema.sql"], name="etl-code")
        ```
    """
    run = current_run()
    return _write(registry, _log_code_write(paths, run, name, folder, description, labels, group), RunCategory.CODE)


@task(**_io_task("alog_code", _code_label))
async def alog_code(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None, name: str | None = None,
    folder: str | None = None, description: str | None = None, labels: Sequence[str] = (),
    registry: RegistryArg = None, group: str | None = None,
) -> Artifact:
    """Async twin of `log_code`."""
    run = current_run()
    return await _awrite(registry, _log_code_write(paths, run, name, folder, description, labels, group),
                         RunCategory.CODE)


# -- @artifact_task -------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


_calls_lock = threading.Lock()


def _digest(*parts: object) -> str:
    return hashlib.sha256("\n".join(map(str, parts)).encode()).hexdigest()[:32]


def _call_number(flow_ctx: Any, task_run_id: str, signature: str) -> int:
    """This task run's number among the calls with its signature in this flow-run attempt.

    Counted in Prefect's per-attempt counter dict (a flow-run retry counts from 0
    again) and fixed per task run (a task retry keeps its number).
    """
    counters = flow_ctx.task_run_dynamic_keys
    mine = f"prefect-artifacts:run:{task_run_id}"
    with _calls_lock:
        if mine not in counters:
            slot = f"prefect-artifacts:call:{signature}"
            counters[slot] = int(counters.get(slot, -1)) + 1
            counters[mine] = counters[slot]
        return int(counters[mine])


def idempotency_key(run: RunInfo, target: str = "") -> str | None:
    """The key that makes a task call register its artifact once, across task and flow-run retries.

    Inside a flow run it names the *call*, from what is the same in every attempt of
    the flow run: the flow run id, the task (Prefect's ``task_key``), the call's
    arguments (Prefect's inputs hash, the ``registry`` argument left out), the call's
    number among identical calls (same task, same arguments) in this attempt, and
    ``target``, what the write is (its folder, name and source). Prefect's own
    ``dynamic_key`` can not serve: local task runs get a random one. A task retry (the
    same task run) and a flow-run retry (new task runs, numbered again from 0) both find
    the artifact the call's first committed attempt recorded, and return it: the first
    committed write wins, even if the retry's content differs.

    Identical calls running concurrently (``.map``/``.submit`` with equal arguments)
    are numbered in the order they start; being identical, they may swap keys on a
    flow-run retry. A task run in another process (a process pool, a Dask worker) can
    not be numbered: its key is its task run's (retries of the task, not of the flow
    run, find it). Outside a flow run the key is the task run's, as before; outside a
    task run there is none.

    Example:
        ```python
        idempotency_key(current_run(), "upload_file|/data|raw|/tmp/raw.csv")  # "prefect-call:<flow run id>:<hex>"
        ```
    """
    if run.task_run_id is None:
        return None
    if not run.flow_run_id:
        return f"prefect-task-run:-:{run.task_run_id}"
    from prefect.context import FlowRunContext, TaskRunContext
    from prefect.utilities.hashing import hash_objects

    task_ctx, flow_ctx = TaskRunContext.get(), FlowRunContext.get()
    numbered = (
        task_ctx is not None and str(task_ctx.task_run.id) == run.task_run_id
        and flow_ctx is not None and not flow_ctx.detached and flow_ctx.flow_run is not None
        and str(flow_ctx.flow_run.id) == run.flow_run_id
    )
    if not numbered:
        return f"prefect-task-run:{run.flow_run_id}:{_digest(run.task_run_id, target)}"
    arguments = {k: v for k, v in (task_ctx.parameters or {}).items() if k != "registry"}  # type: ignore[union-attr]
    signature = f"{task_ctx.task_run.task_key}:{hash_objects(arguments) or 'unhashable'}"  # type: ignore[union-attr]
    number = _call_number(flow_ctx, run.task_run_id, signature)
    return f"prefect-call:{run.flow_run_id}:{_digest(signature, number, target)}"  # 82 characters (at most 100)


@overload
def artifact_task(__fn: F) -> Any: ...


@overload
def artifact_task(
    __fn: None = None, *, artifact_name: str | None = ..., serializer: str | None = ..., folder: str | None = ...,
    labels: Sequence[str] = ..., description: str | None = ..., metadata: dict[str, Any] | None = ...,
    registry: RegistryArg = ..., task_name: str | None = ..., serializer_options: dict[str, Any] | None = ...,
    group: str | None = ..., name: str | None = ..., **task_kwargs: Any,
) -> Callable[[F], Any]: ...


def artifact_task(
    __fn: Callable[..., Any] | None = None, *, artifact_name: str | None = None, serializer: str | None = None,
    folder: str | None = None, labels: Sequence[str] = (), description: str | None = None,
    metadata: dict[str, Any] | None = None, registry: RegistryArg = None, task_name: str | None = None,
    serializer_options: dict[str, Any] | None = None, group: str | None = None, name: str | None = None,
    **task_kwargs: Any,
) -> Any:
    """A drop-in for ``@task`` that registers the return value as an ``output`` artifact.

    The value is saved with ``registry.save_object`` (serializer chosen by type unless
    given) and returned unchanged. A call registers once: task retries and flow-run
    retries reuse its idempotency key (see `idempotency_key`), so they return the
    version the first committed attempt recorded. Works with or without parentheses,
    on sync and async functions.

    Args:
        artifact_name: the artifact's name (default: the function name). The Prefect
            task's own name is ``task_name`` (default: the function name).
        serializer: serializer name; None chooses by type.
        folder: catalog folder.
        labels: labels of the artifact.
        description: artifact description (default: the function's docstring summary).
        metadata: a first metadata aspect.
        registry: block, block name or None (see `resolve_registry`).
        task_name: the Prefect task name; its runs are named ``<task_name>[<name>]``
            unless ``task_run_name`` is given.
        serializer_options: options for the serializer.
        group: the group that owns the artifacts (default: the folder's, else yours).
        name: deprecated spelling of ``artifact_name`` (it warns with a
            `DeprecationWarning`); a later major version may give it ``@task``'s meaning.
        **task_kwargs: any other ``@task`` keyword (``retries``, ``tags``, ``cache_policy``, …).

    Raises:
        TypeError: both ``name`` and ``artifact_name`` are given.

    Example:
        ```python
        @artifact_task(artifact_name="features", folder="/ml", retries=2)
        def featurize(rows: list[dict]) -> list[list[float]]:
            return [[r["x"], r["x"] ** 2] for r in rows]

        @artifact_task
        async def summary(values: list[float]) -> dict:
            return {"n": len(values)}
        ```
    """
    if name is not None:
        if artifact_name is not None:
            raise TypeError("@artifact_task: give the artifact's name once, as artifact_name= (name= is deprecated)")
        warnings.warn("@artifact_task(name=...) is deprecated: the artifact's name is artifact_name=, "
                      "the Prefect task's name task_name=", DeprecationWarning, stacklevel=2)
        artifact_name = name

    def decorate(fn: Callable[..., Any]) -> Any:
        art_name = artifact_name or fn.__name__
        doc = (inspect.getdoc(fn) or "").strip().split("\n\n", 1)[0] or None
        art_description = description if description is not None else doc

        def output(value: Any) -> _Write:
            return _save_object_call(value, art_name, serializer, folder, art_description, labels, metadata,
                                     ConflictStrategy.NEW, serializer_options, group)

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                value = await fn(*args, **kwargs)
                run, write = current_run(), output(value)
                written = await run_in_thread(_write_core, registry, run, RunCategory.OUTPUT,
                                              write.produce, idempotency_key(run, write.target))
                _announce_write(written, RunCategory.OUTPUT, run)
                return value

            wrapper: Callable[..., Any] = async_wrapper
        else:
            @functools.wraps(fn)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                value = fn(*args, **kwargs)
                run, write = current_run(), output(value)
                written = _write_core(registry, run, RunCategory.OUTPUT, write.produce,
                                      idempotency_key(run, write.target))
                _announce_write(written, RunCategory.OUTPUT, run)
                return value

            wrapper = sync_wrapper
        options = dict(task_kwargs)
        options.setdefault("name", task_name or fn.__name__)
        options.setdefault("task_run_name", _bracketed(options["name"], art_name))  # "summarize[stats]"
        return task(registry=registry, **options)(wrapper)

    if __fn is not None:
        return decorate(__fn)
    return decorate
