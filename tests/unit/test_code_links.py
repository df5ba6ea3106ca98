"""Serializer snapshots recorded as ``code`` artifacts of runs (`prefect_artifacts._code_links`), without Prefect."""

from __future__ import annotations

from prefect_artifacts._code_links import (
    CODE_LABEL,
    code_name,
    holds_snapshot,
    record_serializer_code,
    serializer_code,
)
from prefect_artifacts.models import RunCategory, SerializerRef
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.serializers.api import save_object as serialize_into


def test_a_snapshot_is_one_code_version_linked_once_per_run(local_registry: LocalRegistry) -> None:
    reg = local_registry
    # The module function writes the object only; Registry.save_object would link the code too.
    first = serialize_into(reg, {"a": 1}, name="obj", folder="/o", runs=[("run-1", "output")])
    code, made = record_serializer_code(reg, first, "run-1")  # type: ignore[misc]
    assert made and code.name == code_name("prefect_artifacts.serializers.builtins") and code.folder == "/o"
    assert code.labels == [CODE_LABEL] and [(r.run_id, r.category) for r in code.runs] == [("run-1", RunCategory.CODE)]
    assert record_serializer_code(reg, first, "run-1") is None  # this run has it already
    second = serialize_into(reg, "text", name="other", folder="/o", runs=[("run-2", "output")])
    again, made_again = record_serializer_code(reg, second, "run-2")  # type: ignore[misc]
    assert again.id == code.id and not made_again  # same snapshot: the same version, linked to run-2 too
    assert {r.run_id for r in reg.get(code.id).runs} == {"run-1", "run-2"}
    assert [c.id for c in serializer_code(reg, reg.get(second.id))] == [code.id]
    assert reg.lineage(second.id).upstream(second.id) == [code.id]
    plain = reg.upload_file(__file__, name="plain", folder="/o", runs=[("run-3", "output")])
    assert record_serializer_code(reg, plain, "run-3") is None and serializer_code(reg, plain) == []


def test_a_package_snapshot_is_a_directory_code_artifact(local_registry: LocalRegistry) -> None:
    reg = local_registry
    snap = reg.create_plugin_snapshot("my_pkg", "2.0", [("my_pkg/__init__.py", b"from .ser import S\n"),
                                                       ("my_pkg/sub/ser.py", b"class S: ...\n")])
    obj = reg.save_object({"a": 1}, name="obj", folder="/pkg", runs=[("run-p", "output")])
    pinned = obj.model_copy(update={"serializer": SerializerRef(snapshot_id=snap.id, task_name="mine")})
    code, made = record_serializer_code(reg, pinned, "run-p")  # type: ignore[misc]
    assert made and code.name == "serializer-my_pkg" and code.is_dir
    assert sorted(f.path for f in reg.files(code.id)) == ["__init__.py", "sub/ser.py"]
    assert b"".join(reg.read(code.id, path="sub/ser.py")) == b"class S: ...\n"
    assert holds_snapshot(reg.get(code.id), snap)
    other = reg.get_plugin_snapshot(obj.serializer.snapshot_id)  # type: ignore[union-attr]
    assert not holds_snapshot(reg.get(code.id), other)
    (aspect,) = reg.get_metadata(code.id)
    assert aspect.content["snapshot_id"] == snap.id and aspect.content["version"] == "2.0"
    assert [c.id for c in serializer_code(reg, pinned)] == [code.id]
    assert code_name("a b/" + "x" * 200) == ("serializer-a-b-" + "x" * 200)[:128]


def test_registry_save_object_links_the_serializer_code_to_its_output_runs(local_registry: LocalRegistry) -> None:
    reg = local_registry
    art = reg.save_object({"a": 1}, name="direct", folder="/d",
                          runs=iter([("run-d", "output"), ("run-i", "input")]))  # any iterable, read once
    [code] = serializer_code(reg, art)
    assert code.labels == [CODE_LABEL] and code.folder == "/d"
    assert [(r.run_id, r.category) for r in reg.get(code.id).runs] == [("run-d", RunCategory.CODE)]
    assert {(r.run_id, r.category) for r in art.runs} == {("run-d", RunCategory.OUTPUT), ("run-i", RunCategory.INPUT)}
    assert serializer_code(reg, reg.save_object({"b": 2}, name="unlinked", folder="/d")) == []
