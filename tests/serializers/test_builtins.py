"""Built-in serializers: round trips, selection by type, options, the pickle opt-in."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prefect_artifacts import ArtifactKind, SerializerError
from prefect_artifacts.serializers import (
    OBJECT_ASPECT,
    Serializer,
    discover_serializers,
    get_serializer,
    register_serializer,
    serialize_to_dir,
    serializer_for,
    unregister_serializer,
)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"a": [1, 2.5, None, True], "b": {"c": "é"}}, "json"),
        ([1, "two", 3.0], "json"),
        (42, "json"),
        (None, "json"),
        ("line one\r\nline two\n", "text"),
        (b"\x00\x01\xff" * 100, "bytes"),
        (bytearray(b"abc"), "bytes"),
    ],
)
def test_round_trip_plain_builtins(embedded_registry, obj, expected) -> None:
    art = embedded_registry.save_object(obj, name="obj")
    assert art.kind is ArtifactKind.OBJECT
    assert art.serializer is not None and art.serializer.task_name == expected
    loaded = embedded_registry.load_object("obj:latest")
    assert loaded == obj and type(loaded) is type(obj)


def test_numpy_round_trip_keeps_dtype_and_shape(embedded_registry) -> None:
    arr = (np.arange(24, dtype=np.float32) / 7).reshape(2, 3, 4)
    art = embedded_registry.save_object(arr, name="weights")
    assert art.serializer.task_name == "numpy"
    assert [f.path for f in art.files] == ["array.npy"] and art.mime_type == "application/x-npy"
    loaded = embedded_registry.load_object(art.id)
    assert loaded.dtype == np.float32 and loaded.shape == (2, 3, 4)
    np.testing.assert_array_equal(loaded, arr)
    scalar = np.int64(7)
    assert embedded_registry.load_object(embedded_registry.save_object(scalar, name="n").id) == scalar
    assert type(embedded_registry.load_object("n")) is np.int64


def test_numpy_object_array_is_refused_with_the_opt_in(embedded_registry) -> None:
    with pytest.raises(SerializerError, match="cloudpickle"):
        embedded_registry.save_object(np.array([{"a": 1}], dtype=object), name="bad")


def test_dataframe_round_trip_parquet_and_csv(embedded_registry) -> None:
    df = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"], "z": [0.5, None, 2.0]})
    art = embedded_registry.save_object(df, name="table")
    assert art.serializer.task_name == "pandas" and art.files[0].path == "data.parquet"
    pd.testing.assert_frame_equal(embedded_registry.load_object("table"), df)
    csv = embedded_registry.save_object(df, name="table-csv", options={"format": "csv"})
    assert csv.files[0].path == "data.csv"
    pd.testing.assert_frame_equal(embedded_registry.load_object(csv.id), df)


def test_object_aspect_records_how_to_load(embedded_registry) -> None:
    art = embedded_registry.save_object({"k": 1}, name="cfg", options={"indent": 2}, metadata={"team": "x"})
    aspects = {a.schema_name: a.content for a in embedded_registry.get_metadata(art.id)}
    recorded = aspects[OBJECT_ASPECT]
    assert recorded["serializer"] == "json" and recorded["path"] == "data.json"
    assert recorded["options"] == {"indent": 2} and recorded["snapshot_id"] == art.serializer.snapshot_id
    assert recorded["python_type"] == "builtins.dict"
    assert any(a.get("team") == "x" for a in aspects.values())
    assert embedded_registry.count("kind:object") == 1


def test_invalid_options_are_refused_before_writing(embedded_registry) -> None:
    with pytest.raises(SerializerError, match="indent"):
        embedded_registry.save_object({"a": 1}, name="cfg", options={"indent": "wide"})
    with pytest.raises(SerializerError, match="Additional properties"):
        embedded_registry.save_object({"a": 1}, name="cfg", options={"colour": True})
    with pytest.raises(SerializerError, match="format"):
        embedded_registry.save_object(pd.DataFrame({"a": [1]}), name="t", options={"format": "xlsx"})
    assert embedded_registry.count() == 0


def test_json_rejects_nan_and_non_json_cleanly(embedded_registry) -> None:
    with pytest.raises(SerializerError, match="NaN"):
        embedded_registry.save_object({"x": math.nan}, name="bad")
    with pytest.raises(SerializerError, match="keys must be strings"):
        embedded_registry.save_object({1: "a"}, name="bad")
    with pytest.raises(SerializerError, match=r"builtins.tuple at \$.t.*cloudpickle"):
        embedded_registry.save_object({"t": (1, 2)}, name="bad")
    assert embedded_registry.count() == 0


def test_unsafe_type_names_the_cloudpickle_opt_in(embedded_registry) -> None:
    with pytest.raises(SerializerError, match="serializer='cloudpickle'") as info:
        embedded_registry.save_object({1, 2, 3}, name="s")
    assert "builtins.set" in str(info.value)
    with pytest.raises(SerializerError, match="cloudpickle"):
        serializer_for(object())


def test_cloudpickle_is_opt_in_only(embedded_registry) -> None:
    assert get_serializer("cloudpickle").auto is False
    fn = lambda x: x * 3  # noqa: E731 - a lambda needs cloudpickle
    art = embedded_registry.save_object({"fn": fn, "s": {1, 2}}, name="p", serializer="cloudpickle")
    assert art.serializer.task_name == "cloudpickle"
    loaded = embedded_registry.load_object("p")
    assert loaded["fn"](5) == 15 and loaded["s"] == {1, 2}


def test_most_specific_type_wins_and_user_overrides_builtins() -> None:
    class Config(dict):
        pass

    assert serializer_for(Config()).name == "json"
    assert serializer_for(np.float64(1.5)).name == "numpy"  # float64 subclasses float
    assert serializer_for(True).name == "json"

    @register_serializer
    class ConfigSerializer(Serializer):
        name = "config-test"
        types = (Config,)

        def serialize(self, obj, directory, **options):
            return "x"

        def deserialize(self, path, **options):
            return None

    try:
        assert serializer_for(Config()) is ConfigSerializer
        assert serializer_for({}).name == "json"
        with pytest.raises(SerializerError, match="already registered"):
            register_serializer(type("Other", (ConfigSerializer,), {}), name="config-test")
    finally:
        unregister_serializer("config-test")


def test_serializer_output_must_be_inside_its_directory() -> None:
    class Liar(Serializer):
        name = "liar-test"

        def serialize(self, obj, directory, **options):
            return "../escape.txt"

    with pytest.raises(SerializerError):
        serialize_to_dir("x", Liar)
    directory, relpath = serialize_to_dir({"a": 1}, "json", {"sort_keys": True})
    assert relpath == "data.json" and (directory / relpath).read_text() == '{"a": 1}'


def test_directory_output_round_trip(embedded_registry, plugins) -> None:
    module = plugins.unique()
    plugins.serializers.append("dir-test-" + module)
    plugins.write(f"{module}.py", f'''
        from prefect_artifacts.serializers import Serializer, register_serializer

        @register_serializer
        class Parts(Serializer):
            name = "dir-test-{module}"
            types = ()

            def serialize(self, obj, directory, **options):
                out = directory / "parts"
                (out / "nested").mkdir(parents=True)
                for key, value in obj.items():
                    (out / "nested" / key).write_text(value)
                return "parts"

            def deserialize(self, path, **options):
                return {{p.name: p.read_text() for p in (path / "nested").iterdir()}}
    ''')
    plugins.load(module)
    art = embedded_registry.save_object({"a": "1", "b": "2"}, name="parts", serializer=f"dir-test-{module}")
    assert art.is_dir and sorted(f.path for f in art.files) == ["parts/nested/a", "parts/nested/b"]
    assert embedded_registry.load_object(art.id) == {"a": "1", "b": "2"}


def test_entry_point_discovery(tmp_path: Path, monkeypatch) -> None:
    site = tmp_path / "site"
    (site / "ep_plugin_test").mkdir(parents=True)
    (site / "ep_plugin_test" / "__init__.py").write_text(textwrap.dedent('''
        from prefect_artifacts.serializers import Serializer

        class EpSerializer(Serializer):
            name = "ep-test"
            types = ()

            def serialize(self, obj, directory, **options):
                (directory / "x").write_text(obj)
                return "x"

            def deserialize(self, path, **options):
                return path.read_text()
    '''))
    dist = site / "ep_plugin_test-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin-test\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[prefect_artifacts.serializers]\nep-test = ep_plugin_test:EpSerializer\n")
    monkeypatch.syspath_prepend(str(site))
    try:
        discover_serializers(refresh=True)
        assert get_serializer("ep-test").__module__ == "ep_plugin_test"
    finally:
        unregister_serializer("ep-test")
