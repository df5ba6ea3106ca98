"""Registry methods and async twins for objects; the step functions used by Prefect tasks."""

from __future__ import annotations

import shutil
import uuid

import pytest

from prefect_artifacts import ArtifactKind, ArtifactRegistry, SerializerError
from prefect_artifacts.serializers import (
    deserialize_from,
    fetch_object,
    get_serializer,
    load_serializer,
    object_info,
    serialize_to_dir,
    snapshot_serializer,
    upload_serialized,
)


async def test_async_twins(embedded_registry) -> None:
    art = await embedded_registry.asave_object({"a": [1, 2]}, name="cfg", folder="/team", labels=["x"])
    assert art.folder == "/team" and art.labels == ["x"]
    assert await embedded_registry.aload_object("/team/cfg:latest") == {"a": [1, 2]}
    reports = await embedded_registry.acheck_loadable()
    assert [r.ok for r in reports] == [True]


def test_block_delegates_and_upload_options_pass_through(embedded_registry) -> None:
    block = ArtifactRegistry()
    run_id = str(uuid.uuid4())
    art = block.save_object("hello", name="greeting", runs=[(run_id, "output")], conflict_strategy="skip")
    assert [link.run_id for link in art.runs] == [run_id]
    assert block.save_object("other", name="greeting", conflict_strategy="skip").id == art.id
    assert block.load_object("greeting") == "hello"
    assert embedded_registry.run_artifacts(run_id)[0].id == art.id


def test_step_functions_compose_like_save_and_load(embedded_registry, tmp_path) -> None:
    cls = get_serializer("json")
    snap = snapshot_serializer(embedded_registry, cls)
    directory, relpath = serialize_to_dir({"k": "v"}, cls, {"indent": 1})
    try:
        art = upload_serialized(embedded_registry, directory, relpath, serializer=cls, snapshot=snap, name="stepwise",
                                options={"indent": 1})
    finally:
        shutil.rmtree(directory)
    assert art.kind is ArtifactKind.OBJECT and art.serializer.snapshot_id == snap.id
    info = object_info(embedded_registry, "stepwise")
    assert (info.serializer, info.path, info.options) == ("json", "data.json", {"indent": 1})
    pinned = load_serializer(embedded_registry, info)
    assert pinned is not cls and pinned.__module__.startswith("_prefect_artifacts_snapshots.")
    path = fetch_object(embedded_registry, info, tmp_path)
    assert path == tmp_path / "data.json" and path.read_text() == '{\n "k": "v"\n}'
    assert deserialize_from(path, pinned, info.options) == {"k": "v"}
    assert deserialize_from(path, art.serializer, registry=embedded_registry) == {"k": "v"}
    assert deserialize_from(path, "json") == {"k": "v"}


def test_scratch_files_are_removed_after_save_load_and_failures(embedded_registry, _isolated_home) -> None:
    embedded_registry.save_object(b"x" * 1000, name="b")
    assert embedded_registry.load_object("b") == b"x" * 1000
    with pytest.raises(SerializerError):
        embedded_registry.save_object({"bad": float("nan")}, name="nan")
    scratch = _isolated_home / "scratch"
    assert scratch.is_dir() and list(scratch.iterdir()) == []


def test_scratch_left_behind_by_a_serializer_is_removed(embedded_registry, plugins, _isolated_home) -> None:
    name = plugins.serializer("""
        def serialize(self, obj, directory, **options):
            (directory / "work" / "deep").mkdir(parents=True)
            (directory / "work" / "deep" / "tmp.bin").write_bytes(b"scratch")
            (directory / "out.txt").write_text(obj)
            return "out.txt"

        def deserialize(self, path, **options):
            return path.read_text()
    """)
    art = embedded_registry.save_object("kept", name="messy", serializer=name)
    assert [f.path for f in art.files] == ["out.txt"] and embedded_registry.load_object(art.id) == "kept"
    assert list((_isolated_home / "scratch").iterdir()) == []  # the stray folder went too


@pytest.mark.parametrize("obj", [{"a": [1, 2], "é": None}, b"\x00raw", bytearray(b"ba"), b"x" * (1024 * 1024 + 1)])
def test_in_memory_and_file_serialization_store_the_same_content(embedded_registry, obj) -> None:
    art = embedded_registry.save_object(obj, name="same")
    directory, relpath = serialize_to_dir(obj)
    try:
        assert [f.path for f in art.files] == [relpath]
        assert b"".join(embedded_registry.read(art.id)) == (directory / relpath).read_bytes()
    finally:
        shutil.rmtree(directory)
    assert embedded_registry.load_object(art.id) == obj and type(embedded_registry.load_object(art.id)) is type(obj)


@pytest.mark.parametrize(("returned", "message"), [
    ("('x.bin', 'not bytes')", "must return"),
    ("'x.bin'", "must return"),
    ("('../escape.bin', b'x')", "unsafe path"),
    ("1 / 0", "ZeroDivisionError"),
])
def test_bad_serialize_bytes_is_a_clear_error_and_stores_nothing(embedded_registry, plugins, returned, message) -> None:
    name = plugins.serializer(f"""
        def serialize_bytes(self, obj, **options):
            return {returned}

        def serialize(self, obj, directory, **options):
            raise AssertionError("not reached")

        def deserialize(self, path, **options):
            return path.read_bytes()
    """)
    with pytest.raises(SerializerError, match=message):
        embedded_registry.save_object("x", name="bad", serializer=name)
    assert embedded_registry.count() == 0
