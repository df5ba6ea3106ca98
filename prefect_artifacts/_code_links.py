"""Serializer plugin snapshots as ``code`` artifacts of the flow runs that wrote objects with them.

A flow run's flow script is a ``code`` artifact of the run (`log_code`); the serializer
code that wrote its objects is recorded the same way: the snapshot's files go through
`Registry.upload_code` as the artifact ``serializer-<plugin>`` in the object's folder,
linked to the run as ``code``. Being content-addressed, unchanged plugin source is the
latest version again (and its bytes are stored once), so a snapshot gives one version,
linked to every run that used it. Lineage then shows the serializer code next to the
flow script, and `serializer_code` finds it again for an object artifact.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from prefect_artifacts._paths import safe_relpath
from prefect_artifacts.models import Artifact, PluginSnapshot, RunCategory

if TYPE_CHECKING:  # no import of the registry at load: `Registry.save_object` may call this module
    from prefect_artifacts.registry.base import Registry

#: Schema name of the aspect a serializer-code artifact records its snapshot in.
SNAPSHOT_ASPECT = "urn:prefect-artifacts:aspect:plugin-snapshot:v1"
#: Label of serializer-code artifacts (``prefect-artifacts ls -s label:serializer-code``).
CODE_LABEL = "serializer-code"

_lock = threading.Lock()
# (registry, run id, snapshot id, folder) -> the code artifact linked: once per run and snapshot
_recorded: OrderedDict[tuple[int, str, str, str], Artifact] = OrderedDict()
_snapshots: OrderedDict[tuple[int, str], PluginSnapshot] = OrderedDict()  # immutable: cached
_MAX_CACHED = 4096


def code_name(plugin_name: str) -> str:
    """The artifact name of a serializer plugin's code: ``serializer-<plugin>`` (at most 128 characters).

    Example:
        ```python
        code_name("prefect_artifacts.serializers.builtins")  # "serializer-prefect_artifacts.serializers.builtins"
        ```
    """
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in plugin_name).strip("-.") or "plugin"
    return f"serializer-{cleaned}"[:128]


def get_snapshot(registry: Registry, snapshot_id: str) -> PluginSnapshot:
    """A plugin snapshot, cached per registry (snapshots never change).

    Example:
        ```python
        get_snapshot(reg, art.serializer.snapshot_id).plugin_name
        ```
    """
    key = (id(registry), snapshot_id)
    with _lock:
        found = _snapshots.get(key)
    if found is None:
        found = registry.get_plugin_snapshot(snapshot_id)
        with _lock:
            _snapshots[key] = found
            while len(_snapshots) > _MAX_CACHED:
                _snapshots.popitem(last=False)
    return found


def holds_snapshot(art: Artifact, snapshot: PluginSnapshot) -> bool:
    """Whether an artifact holds exactly a snapshot's files (same contents, compared by SHA-256).

    Example:
        ```python
        holds_snapshot(reg.get("/p/serializer-my_plugin:1"), snap)  # True
        ```
    """
    if not art.is_dir:
        return len(snapshot.files) == 1 and art.checksum == snapshot.files[0].checksum
    if art.file_count != len(snapshot.files):
        return False
    return sorted(f.checksum or "" for f in art.files) == sorted(f.checksum for f in snapshot.files)


def record_serializer_code(registry: Registry, art: Artifact, run_id: str,
                           group: str | None = None) -> tuple[Artifact, bool] | None:
    """Link the serializer code that wrote an object artifact to a run as ``code``.

    The snapshot's files are registered with `Registry.upload_code` as
    ``serializer-<plugin>`` in the object's folder (unchanged source reuses the latest
    version), under an idempotency key of the run and snapshot, and linked to the run.
    Done once per (run, snapshot, folder) in this process.

    Returns:
        (the code artifact, whether this call made a new version), or None for an
        artifact without a serializer, or when the run already has it (cached).

    Example:
        ```python
        art = reg.save_object({"a": 1}, name="obj", runs=[(run_id, "output")])
        code, made = record_serializer_code(reg, art, run_id)
        ```
    """
    if art.serializer is None:
        return None
    key = (id(registry), run_id, art.serializer.snapshot_id, art.folder)
    with _lock:
        if key in _recorded:
            return None
    snapshot = get_snapshot(registry, art.serializer.snapshot_id)
    with _lock:  # held while recording: concurrent saves of one run record the snapshot once
        if key in _recorded:
            return None
        code, made = _upload(registry, art, snapshot, run_id, group)
        _recorded[key] = code
        while len(_recorded) > _MAX_CACHED:
            _recorded.popitem(last=False)
    return code, made


def _upload(registry: Registry, art: Artifact, snapshot: PluginSnapshot, run_id: str,
            group: str | None) -> tuple[Artifact, bool]:
    digest = hashlib.sha256(f"{run_id}\n{snapshot.id}\n{art.folder}".encode()).hexdigest()[:32]
    aspect = {"$schema": SNAPSHOT_ASPECT, "snapshot_id": snapshot.id, "plugin_name": snapshot.plugin_name,
              "version": snapshot.version, "digest": snapshot.digest}
    version = f" {snapshot.version}" if snapshot.version else ""
    with tempfile.TemporaryDirectory(prefix="prefect-artifacts-snapshot-") as scratch:
        paths = []
        for f in sorted(snapshot.files, key=lambda f: f.path):
            target = Path(scratch, *safe_relpath(f.path, "snapshot path").split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(registry.read_plugin_snapshot_file(snapshot.id, f.path))
            paths.append(target)
        code, reused = registry._upload_code(
            paths, code_name(snapshot.plugin_name), art.folder,
            f"Source of serializer plugin {snapshot.plugin_name}{version} (plugin snapshot {snapshot.id}): "
            "the code that wrote the objects of the flow runs it is linked to.",
            [CODE_LABEL], group, runs=[(run_id, RunCategory.CODE)], original_path=f"plugin-snapshot:{snapshot.id}",
            extra_aspects=[aspect], idempotency_key=f"prefect-serializer-code:{digest}",
        )
    return code, not reused


def serializer_code(registry: Registry, art: Artifact) -> list[Artifact]:
    """The code artifacts holding the serializer snapshot of an object artifact.

    Looked up among the ``code`` artifacts of the runs that wrote it (what
    `record_serializer_code` linked), matched by content; newest first.

    Example:
        ```python
        [c.ref for c in serializer_code(reg, reg.get("model"))]  # ["/ml/serializer-my_plugin:2"]
        ```
    """
    if art.serializer is None:
        return []
    snapshot = get_snapshot(registry, art.serializer.snapshot_id)
    found: dict[str, Artifact] = {}
    for run in sorted({link.run_id for link in art.runs if link.category is RunCategory.OUTPUT}):
        for code in registry.run_artifacts(run, RunCategory.CODE):
            if code.id not in found and holds_snapshot(code, snapshot):
                found[code.id] = code
    return sorted(found.values(), key=lambda c: (c.created, c.version), reverse=True)
