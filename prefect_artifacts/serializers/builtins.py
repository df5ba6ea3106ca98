"""Built-in serializers: json, text, bytes, numpy, pandas and the cloudpickle opt-in.

numpy, pandas and cloudpickle serializers are registered only when the library is
installed, and none of them imports it before it is used. This module is
self-contained (``__plugin_snapshot__ = "module"``): its plugin snapshot is this one
file, which depends only on the stable `Serializer` / `register_serializer` /
`SerializerError` API.
"""

from __future__ import annotations

import codecs
import importlib.util
import json
import math
import os
from pathlib import Path
from typing import Any

from prefect_artifacts.errors import SerializerError

from .base import Serializer, register_serializer

__plugin_snapshot__ = "module"

_IN_MEMORY = 1024 * 1024  # bytes payloads up to this size skip the scratch file (serialize_bytes)
_OPT_IN = "serializer='cloudpickle' (explicit opt-in; load pickles only from sources you trust)"


def _write(path: Path, data: bytes | bytearray | memoryview) -> None:
    """Write a new file with bare system calls.

    ``open()`` adds stat, ioctl and seek calls: each one more GIL hand-off while a busy
    Prefect flow waits for the GIL.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        view = memoryview(data).cast("B")
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _check_json(obj: Any) -> None:
    stack: list[tuple[Any, str]] = [(obj, "$")]
    seen: set[int] = set()
    while stack:
        value, where = stack.pop()
        if value is None or isinstance(value, (str, bool, int)):
            continue
        if isinstance(value, float):
            if not math.isfinite(value):
                raise SerializerError(
                    f"json cannot store {value!r} at {where} (NaN and Infinity are not JSON); "
                    f"replace it, or use {_OPT_IN}"
                )
            continue
        if isinstance(value, (dict, list)):
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, dict):
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise SerializerError(
                            f"json object keys must be strings; {where} has key {key!r} "
                            f"({type(key).__name__}); convert the keys or use {_OPT_IN}"
                        )
                    stack.append((item, f"{where}.{key}"))
            else:
                stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value))
            continue
        raise SerializerError(
            f"json cannot store {type(value).__module__}.{type(value).__qualname__} at {where} "
            f"(it would not come back as the same type); choose another serializer or use {_OPT_IN}"
        )


@register_serializer
class JsonSerializer(Serializer):
    """Dicts, lists and scalars (str keys; no NaN/Infinity) as one UTF-8 JSON file.

    Example:
        ```python
        reg.save_object({"lr": 0.1, "layers": [64, 32]}, name="config")
        ```
    """

    name = "json"
    types = (dict, list, int, float, bool, type(None))
    mime_type = "application/json"
    version = "1"
    options_schema = {
        "type": "object",
        "properties": {
            "indent": {"type": ["integer", "null"], "minimum": 0, "maximum": 16},
            "sort_keys": {"type": "boolean"},
        },
        "additionalProperties": False,
    }

    def serialize_bytes(self, obj: Any, indent: int | None = None, sort_keys: bool = False,
                        **options: Any) -> tuple[str, bytes]:
        """``data.json`` (strict JSON) as bytes.

        Example:
            ```python
            JsonSerializer().serialize_bytes([1, 2])  # ("data.json", b"[1, 2]")
            ```
        """
        _check_json(obj)
        try:
            text = json.dumps(obj, allow_nan=False, ensure_ascii=False, indent=indent, sort_keys=sort_keys)
        except (TypeError, ValueError) as exc:  # e.g. a circular reference
            raise SerializerError(f"json cannot store this object: {exc}; use {_OPT_IN}") from exc
        return "data.json", text.encode("utf-8")

    def serialize(self, obj: Any, directory: Path, **options: Any) -> str:
        """Write ``data.json`` (strict JSON).

        Example:
            ```python
            JsonSerializer().serialize([1, 2], Path(tmp))  # "data.json"
            ```
        """
        name, data = self.serialize_bytes(obj, **options)
        _write(directory / name, data)
        return name

    def deserialize(self, path: Path, **options: Any) -> Any:
        """Parse the JSON file.

        Example:
            ```python
            JsonSerializer().deserialize(Path(tmp) / "data.json")
            ```
        """
        with open(path, encoding="utf-8") as f:
            return json.load(f)


@register_serializer
class TextSerializer(Serializer):
    """A ``str`` as a text file, newlines kept exactly.

    Example:
        ```python
        reg.save_object("hello", name="greeting", options={"encoding": "utf-16"})
        ```
    """

    name = "text"
    types = (str,)
    mime_type = "text/plain"
    version = "1"
    options_schema = {
        "type": "object",
        "properties": {"encoding": {"type": "string", "minLength": 1}},
        "additionalProperties": False,
    }

    @staticmethod
    def _codec(encoding: str) -> str:
        try:
            return codecs.lookup(encoding).name
        except LookupError:
            raise SerializerError(f"unknown text encoding {encoding!r}") from None

    def serialize(self, obj: Any, directory: Path, encoding: str = "utf-8", **options: Any) -> str:
        """Write ``data.txt``.

        Example:
            ```python
            TextSerializer().serialize("hi", Path(tmp))  # "data.txt"
            ```
        """
        try:
            with open(directory / "data.txt", "w", encoding=self._codec(encoding), newline="") as f:
                f.write(obj)
        except UnicodeEncodeError as exc:
            raise SerializerError(f"text cannot be encoded as {encoding}: {exc}") from exc
        return "data.txt"

    def deserialize(self, path: Path, encoding: str = "utf-8", **options: Any) -> Any:
        """Read the text back.

        Example:
            ```python
            TextSerializer().deserialize(Path(tmp) / "data.txt")
            ```
        """
        with open(path, encoding=self._codec(encoding), newline="") as f:
            return f.read()


@register_serializer
class BytesSerializer(Serializer):
    """``bytes`` and ``bytearray`` as a binary file (the type is kept).

    Example:
        ```python
        reg.save_object(bytes(range(4)), name="blob")
        ```
    """

    name = "bytes"
    types = (bytes, bytearray)
    mime_type = "application/octet-stream"
    version = "1"

    def serialize_bytes(self, obj: Any, **options: Any) -> tuple[str, bytes] | None:
        """Small payloads as they are (None above 1 MiB: ``serialize`` writes those without a copy).

        Example:
            ```python
            BytesSerializer().serialize_bytes(b"x")  # ("data.bin", b"x")
            ```
        """
        return (self._name(obj), bytes(obj)) if len(obj) <= _IN_MEMORY else None

    def serialize(self, obj: Any, directory: Path, **options: Any) -> str:
        """Write ``data.bin`` (``data.bytearray.bin`` for a bytearray).

        Example:
            ```python
            BytesSerializer().serialize(b"x", Path(tmp))  # "data.bin"
            ```
        """
        name = self._name(obj)
        _write(directory / name, obj)
        return name

    @staticmethod
    def _name(obj: Any) -> str:
        return "data.bytearray.bin" if isinstance(obj, bytearray) else "data.bin"

    def deserialize(self, path: Path, **options: Any) -> Any:
        """Read the bytes back.

        Example:
            ```python
            BytesSerializer().deserialize(Path(tmp) / "data.bin")
            ```
        """
        data = Path(path).read_bytes()
        return bytearray(data) if Path(path).name == "data.bytearray.bin" else data


if _available("numpy"):

    @register_serializer
    class NumpySerializer(Serializer):
        """NumPy arrays and scalars as ``.npy`` (dtype and shape kept; pickle disallowed).

        Example:
            ```python
            reg.save_object(np.zeros((3, 4), dtype="float32"), name="weights")
            ```
        """

        name = "numpy"
        types = ("numpy.ndarray", "numpy.generic")
        mime_type = "application/x-npy"
        version = "1"

        def serialize(self, obj: Any, directory: Path, **options: Any) -> str:
            """Write ``array.npy`` (``scalar.npy`` for a NumPy scalar).

            Example:
                ```python
                NumpySerializer().serialize(np.arange(3), Path(tmp))  # "array.npy"
                ```
            """
            import numpy as np

            name = "array.npy" if isinstance(obj, np.ndarray) else "scalar.npy"
            try:
                with open(directory / name, "wb") as f:
                    np.save(f, obj, allow_pickle=False)
            except ValueError as exc:  # object arrays need pickle
                raise SerializerError(
                    f"numpy cannot store dtype {np.asarray(obj).dtype} without pickle ({exc}); "
                    f"use {_OPT_IN}"
                ) from exc
            return name

        def deserialize(self, path: Path, **options: Any) -> Any:
            """Load the array (pickle disallowed).

            Example:
                ```python
                NumpySerializer().deserialize(Path(tmp) / "array.npy")
                ```
            """
            import numpy as np

            value = np.load(path, allow_pickle=False)
            return value[()] if Path(path).name == "scalar.npy" else value


if _available("pandas"):

    @register_serializer
    class PandasSerializer(Serializer):
        """pandas DataFrames as Parquet (when pyarrow is installed) or CSV.

        Example:
            ```python
            reg.save_object(df, name="table")                                # Parquet
            reg.save_object(df, name="table-csv", options={"format": "csv"})
            ```
        """

        name = "pandas"
        types = ("pandas.DataFrame",)
        mime_type = "application/vnd.apache.parquet"
        version = "1"
        options_schema = {
            "type": "object",
            "properties": {"format": {"enum": ["parquet", "csv"]}},
            "additionalProperties": False,
        }

        def serialize(self, obj: Any, directory: Path, format: str | None = None, **options: Any) -> str:
            """Write ``data.parquet`` or ``data.csv``.

            Example:
                ```python
                PandasSerializer().serialize(df, Path(tmp))  # "data.parquet"
                ```
            """
            fmt = format or ("parquet" if _available("pyarrow") else "csv")
            try:
                if fmt == "parquet":
                    obj.to_parquet(directory / "data.parquet")
                    return "data.parquet"
                obj.to_csv(directory / "data.csv")
                return "data.csv"
            except (ValueError, TypeError, ImportError) as exc:
                raise SerializerError(f"pandas cannot write this DataFrame as {fmt}: {exc}") from exc

        def deserialize(self, path: Path, **options: Any) -> Any:
            """Read the DataFrame back (the format follows the file name).

            Example:
                ```python
                PandasSerializer().deserialize(Path(tmp) / "data.parquet")
                ```
            """
            import pandas as pd

            if Path(path).suffix == ".parquet":
                return pd.read_parquet(path)
            return pd.read_csv(path, index_col=0)


if _available("cloudpickle"):

    @register_serializer
    class CloudpickleSerializer(Serializer):
        """Any picklable object, by explicit opt-in only (never chosen by type).

        Unpickling runs code chosen by whoever wrote the file: load these artifacts
        only from registries you trust.

        Example:
            ```python
            reg.save_object(lambda x: x + 1, name="fn", serializer="cloudpickle")
            ```
        """

        name = "cloudpickle"
        types = (object,)
        mime_type = "application/vnd.python.pickle"
        version = "1"
        auto = False
        options_schema = {
            "type": "object",
            "properties": {"protocol": {"type": "integer", "minimum": 2, "maximum": 5}},
            "additionalProperties": False,
        }

        def serialize(self, obj: Any, directory: Path, protocol: int | None = None, **options: Any) -> str:
            """Write ``object.pkl``.

            Example:
                ```python
                CloudpickleSerializer().serialize({1, 2}, Path(tmp))  # "object.pkl"
                ```
            """
            import cloudpickle

            try:
                with open(directory / "object.pkl", "wb") as f:
                    cloudpickle.dump(obj, f, protocol=protocol)
            except Exception as exc:  # noqa: BLE001 - anything pickle raises
                raise SerializerError(f"cloudpickle cannot pickle this object: {exc}") from exc
            return "object.pkl"

        def deserialize(self, path: Path, **options: Any) -> Any:
            """Unpickle the object.

            Example:
                ```python
                CloudpickleSerializer().deserialize(Path(tmp) / "object.pkl")
                ```
            """
            import pickle

            with open(path, "rb") as f:
                return pickle.load(f)  # noqa: S301 - explicit opt-in, documented trust model
