"""Prefect result storage on the registry, and a result serializer pinned to plugin snapshots.

`ArtifactRegistry` and `ArtifactStorage` are Prefect ``WritableFileSystem`` blocks: their
``read_path``/``write_path`` (and ``aread_path``/``awrite_path``) delegate here, so either
block works as ``result_storage=`` on tasks and flows, as the default result storage
(``PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK="artifact-registry/<name>"``) and for cache
policies and transactions (a cache hit reads back through the registry).

Each persisted result is one artifact:

- in the folder ``PREFECT_ARTIFACTS_RESULTS_FOLDER`` (default ``/prefect/results/{flow_name}``,
  ``{flow_name}`` made a valid folder component), named after Prefect's storage key
  (`result_name`: the key itself when it is a plain name, else ``key-sha256-<digest>``);
  ``read_path(key)`` finds the newest one of that name under the results root (the last
  write wins, whichever flow made it);
- content-addressed: of Prefect's JSON result record, only the serialized value is the
  artifact's file ``result``, so the same value written under many keys is one blob in the
  store; the record's metadata goes to the aspect below;
- linked to the current flow run as ``output`` (found by ``run:<flow run id>``) and, when
  a later run reads it back (a cache hit), to that run as ``input``;
- labelled ``prefect-result``, with an aspect ``urn:prefect-artifacts:aspect:prefect-result:v1``
  holding the full key, the flow name, the runs and the record's metadata (``record``).

`ResultSerializer` is a Prefect ``Serializer`` (``result_serializer=ResultSerializer()``)
that writes values through our serializer plugins pinned to plugin snapshots: a cached
value of a custom type still loads after its plugin module changed or was deleted. It
never pickles unless told to (``allow_pickle=True`` or ``serializer="cloudpickle"``).

Example:
    ```python
    from prefect import flow, task
    from prefect.cache_policies import INPUTS
    from prefect_artifacts import ArtifactRegistry
    from prefect_artifacts.results import ResultSerializer

    @task(persist_result=True, result_storage=ArtifactRegistry(), cache_policy=INPUTS,
          result_serializer=ResultSerializer())
    def square(x: int) -> int:
        return x * x
    ```
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect.serializers import Serializer
from pydantic import BaseModel, Field

from prefect_artifacts._asyncio import run_in_thread

if TYPE_CHECKING:
    from prefect.blocks.core import Block

    from prefect_artifacts._prefect import RunInfo
    from prefect_artifacts.models import Artifact
    from prefect_artifacts.registry.base import Registry

__all__ = [
    "DEFAULT_RESULTS_FOLDER",
    "RESULTS_FOLDER_ENV",
    "RESULT_ASPECT",
    "RESULT_LABEL",
    "ResultSerializer",
    "aread_result",
    "awrite_result",
    "find_result",
    "read_result",
    "registry_of",
    "result_name",
    "results_folder",
    "write_result",
]

logger = logging.getLogger("prefect_artifacts.results")

#: Environment variable naming the folder of result artifacts; ``{flow_name}`` is replaced.
RESULTS_FOLDER_ENV = "PREFECT_ARTIFACTS_RESULTS_FOLDER"
#: The folder of result artifacts when ``PREFECT_ARTIFACTS_RESULTS_FOLDER`` is unset.
DEFAULT_RESULTS_FOLDER = "/prefect/results/{flow_name}"
#: Schema of the aspect that records which Prefect storage key an artifact holds.
RESULT_ASPECT = "urn:prefect-artifacts:aspect:prefect-result:v1"
#: Label of every result artifact.
RESULT_LABEL = "prefect-result"

_PAYLOAD = "result"
_HASHED = "key-sha256-"
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}")
_BAD_COMPONENT = re.compile(r"[^A-Za-z0-9_.\- ]+")
_NO_FLOW = "no-flow"


def result_name(key: str) -> str:
    """The artifact name of a Prefect storage key (deterministic, always a valid name).

    A key of up to 100 letters, digits, ``_``, ``-`` and ``.`` (not starting with ``-`` or
    ``.``) is its own name (Prefect's keys are hex digests); any other key (with ``/``,
    spaces, other characters, or longer) becomes ``key-sha256-<first 40 hex digits>``.

    Example:
        ```python
        result_name("9f86d081884c7d65")      # "9f86d081884c7d65"
        result_name("out/{x}.json")          # "key-sha256-…"
        ```
    """
    if _PLAIN_KEY.fullmatch(key) and not key.startswith(_HASHED):
        return key
    return _HASHED + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _component(flow_name: str | None) -> str:
    text = _BAD_COMPONENT.sub("-", flow_name or "").strip(" .-")[:100].rstrip(" .-")
    if not text:
        return _NO_FLOW
    return text if re.match(r"[A-Za-z0-9_]", text) else f"_{text}"


def _template() -> str:
    return os.environ.get(RESULTS_FOLDER_ENV) or DEFAULT_RESULTS_FOLDER


def results_folder(flow_name: str | None) -> str:
    """The folder a result written in flow ``flow_name`` goes to.

    ``PREFECT_ARTIFACTS_RESULTS_FOLDER`` (default ``/prefect/results/{flow_name}``), with
    ``{flow_name}`` replaced by the flow's name made a valid folder component (other
    characters become ``-``; ``no-flow`` outside a flow run).

    Example:
        ```python
        results_folder("My ETL")   # "/prefect/results/My ETL"
        results_folder(None)       # "/prefect/results/no-flow"
        ```
    """
    return _template().replace("{flow_name}", _component(flow_name))


def _results_root() -> str:
    """The part of the folder template before ``{flow_name}``: where ``read_path`` looks."""
    template = _template()
    root = template.split("{flow_name}", 1)[0].rstrip("/")
    return root or "/"


# -- which registry a block stores results in -----------------------------------------

_SETTING_VARIABLES: tuple[str, ...] | None = None
_blocks: dict[tuple[Any, ...], Any] = {}
_blocks_lock = threading.Lock()


def _settings_env() -> tuple[str | None, ...]:
    global _SETTING_VARIABLES
    if _SETTING_VARIABLES is None:
        from prefect_artifacts.settings import ArtifactSettings

        _SETTING_VARIABLES = tuple(f"PREFECT_ARTIFACTS_{name.upper()}" for name in ArtifactSettings.model_fields)
    return tuple(map(os.environ.get, _SETTING_VARIABLES))


def _plain(value: Any) -> Any:
    """A block's configuration, secrets revealed, as JSON-able data.

    Not ``model_dump``: a block's builds its JSON schema to find secrets (~30 ms, on every task run).
    """
    if isinstance(value, BaseModel):
        return [type(value).__name__, {name: _plain(getattr(value, name)) for name in type(value).model_fields}]
    if hasattr(value, "get_secret_value"):
        return _plain(value.get_secret_value())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def registry_of(block: Block) -> Registry:
    """The registry an `ArtifactRegistry` or `ArtifactStorage` block stores results in.

    An `ArtifactRegistry` block: its own registry. An `ArtifactStorage` block has no
    catalog of its own: its results go to the registry ``ArtifactRegistry(storage=block)``
    configures (this store, the settings' catalog: by default SQLite in the home).
    Prefect loads a saved block again for every task run; a registry is built once per
    block configuration (and ``PREFECT_ARTIFACTS_*`` environment) per process and reused.

    Example:
        ```python
        registry_of(ArtifactStorage(basepath="/data/blobs")).store
        ```
    """
    from prefect_artifacts.blocks import ArtifactRegistry, ArtifactStorage

    if isinstance(block, ArtifactRegistry) and (block._registry is not None or block._spec is not None):
        return block.get_registry()
    if not isinstance(block, (ArtifactRegistry, ArtifactStorage)):
        raise TypeError(f"results are stored through ArtifactRegistry or ArtifactStorage blocks, not {block!r}")
    key = (type(block).__name__, json.dumps(_plain(block), sort_keys=True, default=str), _settings_env())
    with _blocks_lock:
        owner = _blocks.get(key)
    if owner is None:
        # A copy: the block itself may be shared by tasks running under other environments.
        owner = block.model_copy() if isinstance(block, ArtifactRegistry) else ArtifactRegistry(storage=block)
        owner.get_registry()  # build (and fail) before caching
        with _blocks_lock:
            if len(_blocks) >= 32:  # environments come and go (tests): keep the newest
                _blocks.pop(next(iter(_blocks)))
            owner = _blocks.setdefault(key, owner)
    registry: Registry = owner.get_registry()
    return registry


# -- the record's layout in an artifact ---------------------------------------------------


def _split_record(content: bytes) -> tuple[bytes, dict[str, Any]] | None:
    """(serialized value, the record's metadata) of a Prefect result record; None for other content.

    Only content that `_join_record` gives back byte for byte is split: ``read_path``
    returns exactly what ``write_path`` got, whatever it was.
    """
    if not content.startswith(b'{"metadata":{'):
        return None
    try:
        record = json.loads(content)
    except ValueError:
        return None
    if (not isinstance(record, dict) or list(record) != ["metadata", "result"]
            or not isinstance(record["result"], str) or not isinstance(record["metadata"], dict)):
        return None
    try:
        payload = record["result"].encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: keep the record whole
        return None
    return (payload, record["metadata"]) if _join_record(payload, record["metadata"]) == content else None


def _join_record(payload: bytes, metadata: dict[str, Any]) -> bytes:
    record = {"metadata": metadata, "result": payload.decode("utf-8")}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _write(registry: Registry, key: str, content: bytes, run: RunInfo) -> str:
    from prefect_artifacts._prefect import producer_aspect
    from prefect_artifacts.draft import ArtifactDraft
    from prefect_artifacts.models import RunCategory

    aspect: dict[str, Any] = {"$schema": RESULT_ASPECT, "key": key, "flow_name": run.flow_name,
                              "task_run_id": run.task_run_id, "flow_run_id": run.flow_run_id}
    split = _split_record(content)
    if split is not None:  # the value alone is the file (one blob per distinct value), the rest an aspect
        content, aspect["record"] = split
    draft = ArtifactDraft(name=result_name(key), description=f"Prefect result {key}"[:2000], labels=[RESULT_LABEL])
    runs = [(run.flow_run_id, RunCategory.OUTPUT)] if run.flow_run_id else []
    registry.upload(draft.add_bytes(content, _PAYLOAD), results_folder(run.flow_name), True, "new", runs=runs,
                    extra_aspects=[aspect, *producer_aspect(run)])
    return key


def find_result(registry: Registry, key: str) -> Artifact:
    """The artifact holding Prefect storage key ``key``: the newest one under the results root.

    A cache key is shared by flows, and each flow writes to its own folder: as in a
    file system, the last write wins, whichever flow made it. Folders outside the root of
    ``PREFECT_ARTIFACTS_RESULTS_FOLDER`` and artifacts not labelled ``prefect-result`` are
    not results.

    Raises:
        ArtifactNotFound: no result artifact holds that key.

    Example:
        ```python
        find_result(reg, "9f86d081884c7d65").files  # [ArtifactFile(path="result", ...)]
        ```
    """
    from prefect_artifacts.errors import ArtifactNotFound

    name = result_name(key)
    root = _results_root()
    prefix = "/" if root == "/" else f"{root}/"
    # By name only (an indexed match); the other conditions cost 10x more in SQL than here.
    for art in registry.iter(search=f'name:"{name}"', page_length=20, sort_by="created", descending=True):
        if art.name == name and RESULT_LABEL in art.labels and f"{art.folder.rstrip('/')}/".startswith(prefix):
            return art
    raise ArtifactNotFound(f"no result artifact holds the key {key!r} (looked for {name!r} under {root})")


def _read(registry: Registry, key: str, run: RunInfo) -> bytes:
    from prefect_artifacts.models import RunCategory

    art = find_result(registry, key)
    content = b"".join(registry.read(art.id))
    for aspect in registry.get_metadata(art.id):
        if aspect.schema_name == RESULT_ASPECT and isinstance(aspect.content.get("record"), dict):
            content = _join_record(content, aspect.content["record"])
    if run.flow_run_id and not any(link.run_id == run.flow_run_id for link in art.runs):
        registry.attach(art.id, run.flow_run_id, RunCategory.INPUT)  # a cache hit: this run used it
    return content


def _current_run() -> RunInfo:
    from prefect_artifacts._prefect import current_run

    return current_run()


def write_result(block: Block, path: str, content: bytes) -> str:
    """Store ``content`` under Prefect storage key ``path`` as a result artifact; returns ``path``.

    Example:
        ```python
        write_result(ArtifactRegistry(), "my-key", b"payload")
        ```
    """
    return _write(registry_of(block), path, bytes(content), _current_run())


async def awrite_result(block: Block, path: str, content: bytes) -> str:
    """Async twin of `write_result`.

    Example:
        ```python
        await awrite_result(ArtifactRegistry(), "my-key", b"payload")
        ```
    """
    run = _current_run()  # read here: the run context belongs to this thread
    return await run_in_thread(lambda: _write(registry_of(block), path, bytes(content), run))


def read_result(block: Block, path: str) -> bytes:
    """The content stored under Prefect storage key ``path`` (see `find_result`).

    Raises:
        ArtifactNotFound: nothing is stored under that key.

    Example:
        ```python
        read_result(ArtifactRegistry(), "my-key")  # b"payload"
        ```
    """
    return _read(registry_of(block), path, _current_run())


async def aread_result(block: Block, path: str) -> bytes:
    """Async twin of `read_result`.

    Example:
        ```python
        await aread_result(ArtifactRegistry(), "my-key")
        ```
    """
    run = _current_run()
    return await run_in_thread(lambda: _read(registry_of(block), path, run))


# -- a result serializer pinned to plugin snapshots ----------------------------------------

_FORMAT = "prefect-artifacts-result/1"


def _files_of(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


class ResultSerializer(Serializer):  # not Serializer[Any]: a parametrized class has no dispatch key
    """A Prefect result serializer that writes through our serializer plugins, pinned.

    ``dumps`` picks the plugin (``serializer`` by name, else by the value's type), stores
    the snapshot of its source in ``registry`` (idempotently: the same source is one
    snapshot) and returns a JSON envelope: the plugin's name, the snapshot's id and
    digest, the plugin's module and class, and the plugin's output files (base64, each
    with its SHA-256). ``loads`` imports the plugin from that snapshot (verified,
    isolated: see `prefect_artifacts.serializers`) and calls its ``deserialize``, so a
    value still loads after the plugin's module was edited or deleted.

    A type no safe plugin handles is refused (`SerializerError`, which Prefect reports as
    a serialization failure) unless ``allow_pickle=True`` (cloudpickle, with a warning:
    such a result runs arbitrary code when loaded) or ``serializer="cloudpickle"``.

    Snapshots live in ``registry`` (the name of a saved `ArtifactRegistry` block; None:
    the registry tasks use, ``PREFECT_ARTIFACTS_REGISTRY_BLOCK`` or the embedded one),
    whatever the result storage is: the process that loads the value must reach it.

    Example:
        ```python
        @task(persist_result=True, result_storage=ArtifactRegistry(),
              result_serializer=ResultSerializer())
        def train() -> MyModel: ...
        ```
    """

    type: str = Field(default="prefect-artifacts", frozen=True)
    serializer: str | None = Field(default=None, description="Plugin name; None: chosen by the value's type.")
    options: dict[str, Any] = Field(default_factory=dict, description="Options passed to the plugin.")
    allow_pickle: bool = Field(default=False, description="Pickle (cloudpickle) types no safe plugin handles.")
    registry: str | None = Field(default=None, description="Saved ArtifactRegistry block holding the snapshots.")

    def _registry(self) -> Registry:
        from prefect_artifacts.tasks import resolve_registry

        return resolve_registry(self.registry)

    def _plugin(self, obj: Any) -> builtins.type:
        from prefect_artifacts.errors import SerializerError
        from prefect_artifacts.serializers import resolve_serializer

        try:
            return resolve_serializer(obj, self.serializer)
        except SerializerError:
            if self.serializer is not None or not self.allow_pickle:
                raise
        logger.warning("pickling a result of type %s.%s (allow_pickle=True): loading it runs arbitrary code",
                       type(obj).__module__, type(obj).__qualname__)
        return resolve_serializer(obj, "cloudpickle")

    def dumps(self, obj: Any) -> bytes:
        """Serialize ``obj`` with its plugin, pinned to the plugin's snapshot (a JSON envelope).

        Raises:
            SerializerError: no safe plugin for the type (and pickling not allowed), or
                the plugin failed.

        Example:
            ```python
            blob = ResultSerializer().dumps({"a": 1})
            ```
        """
        import shutil

        from prefect_artifacts.serializers import capture_source, serialize_to_dir, snapshot_serializer
        from prefect_artifacts.serializers.base import serializer_name, validate_options

        cls = self._plugin(obj)
        options = validate_options(cls, self.options)
        snapshot = snapshot_serializer(self._registry(), cls)
        source = capture_source(cls)
        directory, relpath = serialize_to_dir(obj, cls, options)
        try:
            files = _files_of(directory)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        envelope = {
            "format": _FORMAT, "serializer": serializer_name(cls), "snapshot_id": snapshot.id,
            "snapshot_digest": snapshot.digest, "module": source.module, "qualname": source.qualname,
            "path": relpath, "options": options, "python_type": f"{type(obj).__module__}.{type(obj).__qualname__}",
            "files": {path: {"sha256": hashlib.sha256(data).hexdigest(), "data": base64.b64encode(data).decode()}
                      for path, data in files.items()},
        }
        return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()

    def loads(self, blob: bytes) -> Any:
        """Load a value written by `dumps` with the pinned snapshot of its plugin.

        Raises:
            SnapshotIntegrityError: the snapshot is missing, tampered, or not the one recorded.
            SerializerError: not an envelope of this serializer, a file does not match its
                checksum, or the plugin failed.

        Example:
            ```python
            ResultSerializer().loads(ResultSerializer().dumps({"a": 1}))  # {"a": 1}
            ```
        """
        from prefect_artifacts._paths import safe_relpath
        from prefect_artifacts.errors import SerializerError, SnapshotIntegrityError
        from prefect_artifacts.serializers import deserialize_from, load_pinned_class

        try:
            envelope = json.loads(blob)
            if envelope.get("format") != _FORMAT:
                raise ValueError(envelope.get("format"))
        except (ValueError, AttributeError) as exc:
            raise SerializerError(f"not a {_FORMAT} envelope: {exc}") from exc
        registry = self._registry()
        snapshot = registry.get_plugin_snapshot(envelope["snapshot_id"])
        if snapshot.digest != envelope["snapshot_digest"]:
            raise SnapshotIntegrityError(f"plugin snapshot {snapshot.id} has digest {snapshot.digest}, the result "
                                         f"was written with {envelope['snapshot_digest']}")
        cls = load_pinned_class(registry, envelope["snapshot_id"], envelope.get("module"), envelope.get("qualname"),
                                envelope["serializer"])
        with tempfile.TemporaryDirectory(prefix="result-") as tmp:
            root = Path(tmp)
            for rel, entry in envelope["files"].items():
                data = base64.b64decode(entry["data"])
                if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                    raise SerializerError(f"result file {rel!r} does not match its SHA-256")
                target = root / safe_relpath(rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            path = root if envelope["path"] == "." else root / safe_relpath(envelope["path"])
            return deserialize_from(path, cls, envelope.get("options") or {})
