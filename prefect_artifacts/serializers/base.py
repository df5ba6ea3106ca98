"""The `Serializer` base class and the process-wide table of registered serializers."""

from __future__ import annotations

import importlib
import json
import sys
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from prefect_artifacts._jsonschema import SchemaProblem, compile_schema, first_error
from prefect_artifacts.errors import SerializerError

#: Entry-point group through which installed distributions ship serializers.
ENTRY_POINT_GROUP = "prefect_artifacts.serializers"

#: Top-level package under which plugin snapshots are imported (see ``loader``).
SNAPSHOT_NAMESPACE = "_prefect_artifacts_snapshots"


class Serializer:
    """Base class of serializer plugins: turn an object into files and back.

    Subclasses set ``name`` (unique), ``types`` (classes, or dotted names such as
    ``"numpy.ndarray"`` resolved only once that module is imported), ``mime_type``,
    ``version`` and optionally ``options_schema`` (a JSON Schema of the keyword
    options, checked before ``serialize`` and ``deserialize`` run). ``auto = False``
    keeps a serializer out of automatic selection by type (explicit opt-in only).

    ``serialize`` writes into ``directory`` and returns the relative path of the file
    or folder it wrote; ``deserialize`` receives that path (absolute) and the same
    options, and must return a fully loaded object (the files are removed after).

    The plugin snapshot of a serializer is its module's file when the module is
    top-level, else every ``.py`` file of its package; a module that sets
    ``__plugin_snapshot__ = "module"`` is captured alone.

    Example:
        ```python
        from prefect_artifacts.serializers import Serializer, register_serializer

        @register_serializer
        class UpperText(Serializer):
            name = "upper-text"
            types = (str,)
            mime_type = "text/plain"
            version = "1"
            auto = False

            def serialize(self, obj, directory, **options):
                (directory / "data.txt").write_text(obj.upper())
                return "data.txt"

            def deserialize(self, path, **options):
                return path.read_text()
        ```
    """

    name: ClassVar[str] = ""
    types: ClassVar[tuple[type | str, ...]] = ()
    mime_type: ClassVar[str | None] = None
    version: ClassVar[str | None] = None
    options_schema: ClassVar[dict[str, Any] | None] = None
    auto: ClassVar[bool] = True

    def serialize(self, obj: Any, directory: Path, **options: Any) -> str:
        """Write ``obj`` under ``directory``; return the relative path written.

        Example:
            ```python
            relpath = JsonSerializer().serialize({"a": 1}, Path("/tmp/x"))  # "data.json"
            ```
        """
        raise NotImplementedError

    def serialize_bytes(self, obj: Any, **options: Any) -> tuple[str, bytes] | None:
        """Optionally, the one file ``serialize`` would write, as (relative path, content).

        A serializer whose output is one small file built in memory anyway may return
        it here: `save_object` then stores the bytes without a scratch file. None (the
        default) means "call ``serialize``". ``deserialize`` still reads a file, so the
        content must be exactly what ``serialize`` writes.

        Example:
            ```python
            JsonSerializer().serialize_bytes({"a": 1})  # ("data.json", b'{"a": 1}')
            ```
        """
        return None

    def deserialize(self, path: Path, **options: Any) -> Any:
        """Read back the object that ``serialize`` wrote at ``path``.

        Example:
            ```python
            JsonSerializer().deserialize(Path("/tmp/x/data.json"))  # {"a": 1}
            ```
        """
        raise NotImplementedError


_lock = threading.RLock()
_registry: dict[str, type] = {}
_order: dict[str, int] = {}
_counter = 0
_discovered = False


def _is_serializer_class(cls: Any) -> bool:
    return isinstance(cls, type) and callable(getattr(cls, "serialize", None)) and callable(
        getattr(cls, "deserialize", None)
    )


def register_serializer(
    cls: type | None = None, *, name: str | None = None, replace: bool = False
) -> Any:
    """Register a serializer class, as a decorator (with or without arguments) or a call.

    Classes imported from a plugin snapshot are never registered: a pinned copy of a
    plugin must not replace the installed one. Registering another class under a
    taken name raises unless ``replace=True`` or it is the same class reloaded
    (same module and qualified name).

    Raises:
        SerializerError: not a serializer class, no name, or the name is taken.

    Example:
        ```python
        @register_serializer(name="csv-table")
        class CsvTable(Serializer):
            ...

        register_serializer(CsvTable, name="csv", replace=True)
        ```
    """

    def apply(target: type) -> type:
        global _counter
        if not _is_serializer_class(target):
            raise SerializerError(f"{target!r} is not a serializer class (it needs serialize and deserialize)")
        if target.__module__.startswith(SNAPSHOT_NAMESPACE + "."):
            return target
        key = name or getattr(target, "name", "") or ""
        if not key or not isinstance(key, str):
            raise SerializerError(f"serializer {target.__qualname__} has no name: set `name = '...'`")
        if name and getattr(target, "name", "") != name:
            target.name = name  # type: ignore[attr-defined]
        with _lock:
            current = _registry.get(key)
            same = current is not None and (current.__module__, current.__qualname__) == (
                target.__module__, target.__qualname__)
            if current is not None and current is not target and not (replace or same):
                raise SerializerError(
                    f"a serializer named {key!r} is already registered ({_describe(current)}); "
                    "pass replace=True to replace it"
                )
            _counter += 1
            _registry[key] = target
            _order[key] = _counter
        return target

    if cls is None:
        return apply
    return apply(cls)


def unregister_serializer(name: str) -> None:
    """Remove a serializer from the table (no error if absent).

    Example:
        ```python
        unregister_serializer("upper-text")
        ```
    """
    with _lock:
        _registry.pop(name, None)
        _order.pop(name, None)


def discover_serializers(refresh: bool = False) -> None:
    """Load serializers shipped through the ``prefect_artifacts.serializers`` entry points.

    An entry point names a serializer class (registered under its ``name``, or the
    entry point's name) or a module that registers its classes when imported. A
    broken entry point is skipped with a warning.

    Example:
        ```python
        # pyproject.toml of a plugin distribution:
        # [project.entry-points."prefect_artifacts.serializers"]
        # parquet-table = "my_plugin.serializers:ParquetTable"
        discover_serializers(refresh=True)
        ```
    """
    global _discovered
    with _lock:
        if _discovered and not refresh:
            return
        _discovered = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
            if isinstance(target, type):
                key = getattr(target, "name", "") or ep.name
                if _registry.get(key) is not target:
                    register_serializer(target, name=key)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the others
            warnings.warn(f"serializer entry point {ep.name!r} ({ep.value}) failed to load: {exc}", stacklevel=2)


def get_serializer(name: str) -> type:
    """The serializer class registered under ``name`` (entry points are searched too).

    Raises:
        SerializerError: no serializer has that name.

    Example:
        ```python
        get_serializer("json")().serialize({"a": 1}, Path("/tmp/out"))
        ```
    """
    with _lock:
        found = _registry.get(name)
    if found is None:
        discover_serializers()
        with _lock:
            found = _registry.get(name)
    if found is None:
        raise SerializerError(f"no serializer named {name!r}; registered: {', '.join(sorted(_registry)) or 'none'}")
    return found


def list_serializers() -> dict[str, type]:
    """Every registered serializer by name (after entry-point discovery).

    Example:
        ```python
        sorted(list_serializers())  # ['bytes', 'cloudpickle', 'json', 'numpy', 'pandas', 'text']
        ```
    """
    discover_serializers()
    with _lock:
        return dict(_registry)


def _resolve_type(spec: type | str) -> type | None:
    if isinstance(spec, type):
        return spec
    module_name, _, attr = spec.rpartition(".")
    module = sys.modules.get(module_name)
    if module is None:
        return None
    found = getattr(module, attr, None)
    return found if isinstance(found, type) else None


def _score(cls: type, obj: Any, mro: tuple[type, ...]) -> int | None:
    best: int | None = None
    for spec in getattr(cls, "types", ()):
        target = _resolve_type(spec)
        if target is None:
            continue
        if target in mro:
            rank = mro.index(target)
        elif isinstance(obj, target):
            rank = len(mro)
        else:
            continue
        best = rank if best is None else min(best, rank)
    return best


def serializer_for(obj: Any) -> type:
    """The serializer chosen for ``obj`` by type: the most specific handled type wins.

    Ties go to the most recently registered serializer, so a user's registration
    overrides a built-in. Opt-in serializers (``auto = False``, e.g. cloudpickle) are
    never chosen here.

    Raises:
        SerializerError: no safe serializer handles the type; the message names the
            ``serializer="cloudpickle"`` opt-in.

    Example:
        ```python
        serializer_for({"a": 1}).name  # "json"
        ```
    """
    discover_serializers()
    mro = type(obj).__mro__
    with _lock:
        candidates = [(key, cls) for key, cls in _registry.items() if getattr(cls, "auto", True)]
        order = dict(_order)
    best: tuple[int, int, type] | None = None
    for key, cls in candidates:
        rank = _score(cls, obj, mro)
        if rank is None:
            continue
        entry = (rank, -order.get(key, 0), cls)
        if best is None or entry[:2] < best[:2]:
            best = entry
    if best is None:
        type_name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        raise SerializerError(
            f"no safe serializer handles objects of type {type_name}; register one with "
            "@register_serializer, pass serializer=<name>, or opt in to pickling with "
            "serializer='cloudpickle' (load such artifacts only from sources you trust)"
        )
    return best[2]


def resolve_serializer(obj: Any, serializer: str | type | None = None) -> type:
    """The serializer class to use: by name, the class itself, or by type when None.

    Raises:
        SerializerError: unknown name, not a serializer, or no serializer for the type.

    Example:
        ```python
        resolve_serializer([1, 2], None).name         # "json"
        resolve_serializer(obj, "cloudpickle").name   # explicit opt-in
        ```
    """
    if serializer is None:
        return serializer_for(obj)
    if isinstance(serializer, str):
        return get_serializer(serializer)
    if _is_serializer_class(serializer):
        return serializer
    if _is_serializer_class(type(serializer)):
        return type(serializer)
    raise SerializerError(f"{serializer!r} is not a serializer name or class")


def serializer_name(cls: type) -> str:
    """The registered name of a serializer class.

    Example:
        ```python
        serializer_name(get_serializer("json"))  # "json"
        ```
    """
    name = getattr(cls, "name", "") or ""
    if not name:
        raise SerializerError(f"serializer {cls.__qualname__} has no name")
    return name


_VALIDATORS: dict[tuple[type, str], Any] = {}


def _options_validator(cls: type, schema: dict[str, Any]) -> Any:
    """A checked validator for a serializer's options schema, built once per schema."""
    key = (cls, json.dumps(schema, sort_keys=True, default=str))
    validator = _VALIDATORS.get(key)
    if validator is None:
        try:
            validator = _VALIDATORS[key] = compile_schema(schema)
        except SchemaProblem as exc:
            raise SerializerError(f"serializer {serializer_name(cls)!r} has an invalid options_schema: {exc}") from None
    return validator


def validate_options(cls: type, options: dict[str, Any] | None) -> dict[str, Any]:
    """Check options against the serializer's JSON Schema; return them as a plain dict.

    Options are recorded with the artifact (and passed again to ``deserialize``), so
    they must be JSON-serializable.

    Raises:
        SerializerError: options that violate the schema, an invalid schema, or
            options that are not JSON.

    Example:
        ```python
        validate_options(get_serializer("json"), {"indent": 2})
        ```
    """
    opts = dict(options or {})
    try:
        json.dumps(opts, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SerializerError(f"serializer options must be JSON values: {exc}") from exc
    schema = getattr(cls, "options_schema", None)
    if schema is None:
        return opts
    error = first_error(_options_validator(cls, schema), opts)
    if error:
        raise SerializerError(f"invalid options for serializer {serializer_name(cls)!r} at {error}")
    return opts


def import_class(module: str, qualname: str) -> type:
    """Import ``module`` and return the class ``qualname`` inside it.

    Raises:
        SerializerError: the module or class cannot be found.

    Example:
        ```python
        import_class("prefect_artifacts.serializers.builtins", "JsonSerializer")
        ```
    """
    try:
        target: Any = importlib.import_module(module)
    except ImportError as exc:
        raise SerializerError(f"cannot import serializer module {module!r}: {exc}") from exc
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise SerializerError(f"module {module!r} has no serializer class {qualname!r}")
    if not _is_serializer_class(target):
        raise SerializerError(f"{module}.{qualname} is not a serializer class")
    return target


def _describe(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def builtin_names() -> Iterable[str]:
    """Names of the serializers shipped with prefect-artifacts (present ones only).

    Example:
        ```python
        "json" in builtin_names()  # True
        ```
    """
    with _lock:
        return [k for k, c in _registry.items() if c.__module__ == __package__ + ".builtins"]
