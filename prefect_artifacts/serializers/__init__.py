"""Serializer plugins pinned to immutable plugin snapshots.

A serializer turns a Python object into files (``serialize(obj, directory, **options)
-> relative path``) and back (``deserialize(path, **options) -> obj``). Built-ins cover
JSON, text, bytes, NumPy arrays and pandas DataFrames (when installed); cloudpickle is
an explicit opt-in (``serializer="cloudpickle"``) and never chosen by type. Third-party
packages ship serializers through the ``prefect_artifacts.serializers`` entry points.

The first time a serializer is used with a registry, the source of its plugin (its
module, or its package's ``.py`` files) is stored as an immutable `PluginSnapshot`;
the same source gives the same snapshot. Every object artifact records
``SerializerRef(snapshot_id, task_name)``, and `load_object` imports that snapshot's
code in an isolated namespace and calls its ``deserialize``: objects load even after
the plugin changed or was deleted.

Trust model:
    Loading an object runs the code of its plugin snapshot. Snapshot code is fetched
    and executed only from the registry you configured (the one ``load_object`` is
    called on), never from a path or URL stored in an artifact. Every file is checked
    against its SHA-256 and the snapshot's manifest digest is recomputed before any of
    it runs; a mismatch or a missing file raises `SnapshotIntegrityError` and nothing
    is executed. Whoever can write to your registry can therefore choose the code your
    loads run, exactly as with pickles: give write access only to people you trust,
    and use ``use_current=True`` to read with the serializer installed here instead.
    Pickle-based artifacts (``cloudpickle``) run arbitrary code on load by design.

Example:
    ```python
    from prefect_artifacts import ArtifactRegistry
    from prefect_artifacts.serializers import Serializer, register_serializer

    # my_plugin.py (an importable module: its source is what gets snapshotted)
    @register_serializer
    class Lines(Serializer):
        name = "lines"
        types = (tuple,)
        mime_type = "text/plain"

        def serialize(self, obj, directory, **options):
            (directory / "lines.txt").write_text(chr(10).join(obj))
            return "lines.txt"

        def deserialize(self, path, **options):
            return tuple(path.read_text().split(chr(10)))

    reg = ArtifactRegistry()
    reg.save_object(("a", "b"), name="lines")
    reg.load_object("lines:latest")  # ('a', 'b'), read by the pinned snapshot of Lines
    ```
"""

from . import builtins as _builtins  # noqa: F401 - registers the built-in serializers
from .api import (
    OBJECT_ASPECT,
    ObjectInfo,
    deserialize_from,
    fetch_object,
    load_object,
    load_serializer,
    object_info,
    save_object,
    serialize_to_dir,
    upload_serialized,
)
from .base import (
    ENTRY_POINT_GROUP,
    SNAPSHOT_NAMESPACE,
    Serializer,
    discover_serializers,
    get_serializer,
    list_serializers,
    register_serializer,
    resolve_serializer,
    serializer_for,
    unregister_serializer,
    validate_options,
)
from .check import LoadReport, check_loadable
from .loader import load_pinned_class, mount_snapshot, mounted_snapshots
from .snapshot import PluginSource, capture_source, clear_caches, snapshot_serializer

__all__ = [
    "ENTRY_POINT_GROUP",
    "OBJECT_ASPECT",
    "SNAPSHOT_NAMESPACE",
    "LoadReport",
    "ObjectInfo",
    "PluginSource",
    "Serializer",
    "capture_source",
    "check_loadable",
    "clear_caches",
    "deserialize_from",
    "discover_serializers",
    "fetch_object",
    "get_serializer",
    "list_serializers",
    "load_object",
    "load_pinned_class",
    "load_serializer",
    "mount_snapshot",
    "mounted_snapshots",
    "object_info",
    "register_serializer",
    "resolve_serializer",
    "save_object",
    "serialize_to_dir",
    "serializer_for",
    "snapshot_serializer",
    "unregister_serializer",
    "upload_serialized",
    "validate_options",
]
