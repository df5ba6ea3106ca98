"""The registry as Prefect result storage (results.py): both blocks, cache hits, transactions,
the default storage setting, and a pinned `ResultSerializer` read in a new process."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, task
from prefect.cache_policies import INPUTS
from prefect.settings import PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK, temporary_settings
from prefect.transactions import transaction

from prefect_artifacts import ArtifactRegistry, ArtifactStorage
from prefect_artifacts.errors import ArtifactNotFound, SerializerError
from prefect_artifacts.registry.base import Registry
from prefect_artifacts.results import RESULT_LABEL, ResultSerializer, registry_of, result_name
from prefect_artifacts.serializers import unregister_serializer

ROOT = Path(__file__).resolve().parents[2]
RESULTS = f"label:{RESULT_LABEL}"
CALLS: list[Any] = []
# Prefect takes saved blocks only; this one is the embedded registry of each test's home.
STORAGE = "artifact-registry/results-tests"


@pytest.fixture(scope="module", autouse=True)
def _saved_block(prefect_harness: str) -> None:
    ArtifactRegistry().save(STORAGE.split("/")[1], overwrite=True)


def _results(reg: Registry, search: str = "") -> list[Any]:
    return list(reg.iter(search=f"{RESULTS} {search}".strip()))


# -- persistence through both blocks ---------------------------------------------------


@pytest.mark.parametrize("kind", ["registry", "storage"])
def test_results_persist_through_both_blocks(kind: str, tmp_path: Path) -> None:
    block: Any = (ArtifactRegistry() if kind == "registry"
                  else ArtifactStorage(basepath=str(tmp_path / "result-blobs")))
    block.save(f"results-{uuid.uuid4().hex[:8]}")

    @task(persist_result=True, result_storage=block, cache_key_fn=lambda *_: uuid.uuid4().hex)
    def same(x: int) -> dict[str, int]:
        return {"value": x}

    @task(persist_result=True, result_storage=block, result_storage_key="out/{parameters[x]} odd:key.json")
    async def odd_key(x: int) -> dict[str, int]:
        return {"value": x}

    @flow(name="results both blocks", persist_result=True, result_storage=block)
    async def both(x: int) -> Any:
        from prefect.context import get_run_context

        states = [same(x, return_state=True), same(x, return_state=True), await odd_key(x, return_state=True)]
        hit = await odd_key(x, return_state=True)  # read back through aread_path
        assert hit.name == "Cached" and await hit.result() == {"value": x}  # type: ignore[misc]
        return str(get_run_context().flow_run.id), [s.data.metadata.storage_key for s in states]  # type: ignore

    import asyncio

    run_id, keys = asyncio.run(both(7))
    reg = registry_of(block)
    if kind == "storage":
        assert str(reg.store.root).startswith(str(tmp_path / "result-blobs"))  # type: ignore[attr-defined]
    arts = _results(reg, f"run:{run_id}")
    assert len(arts) == 4  # three task results and the flow's own
    assert {a.folder for a in arts} == {"/prefect/results/results both blocks"}
    assert all(link.category.value == "output" for a in arts for link in a.runs)
    assert keys[2] == "out/7 odd:key.json" and result_name(keys[2]).startswith("key-sha256-")
    by_name = {a.name: a for a in arts}
    payloads = {by_name[result_name(k)].checksum for k in keys}
    assert len(payloads) == 1  # the same value under three keys: one blob
    for key in keys:
        record = json.loads(block.read_path(key, _sync=True))
        assert record["metadata"]["storage_key"] == key
    with pytest.raises(ArtifactNotFound):
        block.read_path("never-written", _sync=True)


def test_keys_become_valid_distinct_names_and_the_newest_write_of_a_key_wins_across_flows() -> None:
    from prefect_artifacts._paths import validate_name

    odd = ["a/b c", "x" * 300, "\u00e9t\u00e9", "key-sha256-abc", ".hidden", "-x", "a:b", "A" * 101]
    names = [result_name(k) for k in odd]
    assert [validate_name(n) for n in names] == names and len(set(names)) == len(odd)
    assert all(n.startswith("key-sha256-") for n in names) and result_name("9f86d08188") == "9f86d08188"
    block = ArtifactRegistry()
    key = f"shared/{uuid.uuid4().hex}"

    @flow(name="results writer one")
    def one() -> None:
        block.write_path(key, b"first", _sync=True)

    @flow(name="results writer two")
    def two() -> bytes:
        block.write_path(key, b"second", _sync=True)
        return block.read_path(key, _sync=True)  # type: ignore[return-value]

    one()
    assert two() == b"second"
    for content in (b'{"metadata": {}, "result": "x"}', b'{"metadata":{},"result":"x"}', b"\xff\x00raw"):
        block.write_path("exact", content, _sync=True)  # any content: read back byte for byte
        assert block.read_path("exact", _sync=True) == content
    assert block.read_path(key, _sync=True) == b"second"  # outside any flow: the newest write
    reg = registry_of(block)
    assert sorted(a.folder for a in _results(reg, f'name:"{result_name(key)}"')) == [
        "/prefect/results/results writer one", "/prefect/results/results writer two"]


# -- cache hits, transactions, the default storage setting -----------------------------


@task(persist_result=True, result_storage=STORAGE, cache_policy=INPUTS)
def cached(x: str) -> str:
    CALLS.append(x)
    return f"computed {x}"


@flow(name="results cache")
def cache_flow(x: str) -> tuple[str, str]:
    from prefect.context import get_run_context

    return cached(x), str(get_run_context().flow_run.id)  # type: ignore[union-attr]


def test_a_cache_hit_in_another_flow_run_reads_back_through_the_registry() -> None:
    x = uuid.uuid4().hex
    CALLS.clear()
    value, first = cache_flow(x)
    reg = registry_of(ArtifactRegistry())
    assert value == f"computed {x}" and [x] == CALLS
    assert len(_results(reg)) == 1
    again, second = cache_flow(x)
    assert again == value and [x] == CALLS  # not computed again
    assert len(_results(reg)) == 1  # no new artifact
    [art] = _results(reg, f"run:{second}")  # the second run read it: linked as its input
    assert {(link.run_id, link.category.value) for link in art.runs} == {(first, "output"), (second, "input")}


@flow(name="results transaction")
def txn_flow(x: str, fail: bool) -> str:
    with transaction():
        value = cached(x)
        if fail:
            raise RuntimeError("roll back")
    return value


def test_a_rolled_back_transaction_commits_no_result() -> None:
    x = uuid.uuid4().hex
    CALLS.clear()
    with pytest.raises(RuntimeError, match="roll back"):
        txn_flow(x, True)
    reg = registry_of(ArtifactRegistry())
    assert [x] == CALLS and _results(reg) == []  # nothing visible
    assert txn_flow(x, False) == f"computed {x}"
    assert [x, x] == CALLS  # nothing was committed to hit
    assert len(_results(reg)) == 1


def test_the_default_result_storage_setting() -> None:
    name = f"results-default-{uuid.uuid4().hex[:8]}"
    ArtifactRegistry().save(name, overwrite=True)

    @task(persist_result=True)
    def plain(x: int) -> int:
        return x + 1

    @flow(name="results default storage")
    def default_flow() -> tuple[int, str, Any]:
        state = plain(1, return_state=True)
        return state.result(), state.data.metadata.storage_key, state.state_details.task_run_id  # type: ignore

    with temporary_settings({PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK: f"artifact-registry/{name}"}):
        value, key, task_run_id = default_flow()
    reg = registry_of(ArtifactRegistry())
    assert value == 2
    [art] = _results(reg, f'name:"{result_name(key)}"')
    assert art.folder == "/prefect/results/results default storage"
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:  # the API's state names the block: Prefect loads it to read
        state = client.read_task_run(task_run_id).state
    assert state is not None and state.result() == 2


# -- the pinned ResultSerializer -------------------------------------------------------

PLUGIN = '''
import json

from prefect_artifacts.serializers import Serializer, register_serializer


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


@register_serializer
class PointSerializer(Serializer):
    name = {name!r}
    types = (Point,)
    mime_type = "application/json"

    def serialize(self, obj, directory, **options):
        (directory / "point.json").write_text(json.dumps([obj.x, obj.y]))
        return "point.json"

    def deserialize(self, path, **options):
        return Point(*json.loads(path.read_text()))
'''

CHILD = '''
import json
from prefect import flow, task
from prefect.cache_policies import INPUTS
from prefect_artifacts.results import ResultSerializer

@task(persist_result=True, result_storage={storage!r}, cache_policy=INPUTS,
      result_serializer=ResultSerializer())
def make_point(tag):
    raise AssertionError("the cached result should have been loaded")

@flow(name="results pinned child")
def child(tag):
    return make_point(tag)

p = child({tag!r})
print(json.dumps({{"type": type(p).__name__, "module": type(p).__module__, "xy": [p.x, p.y]}}))
'''


def test_a_pinned_result_of_a_custom_type_loads_in_a_new_process_after_its_module_is_gone(
    tmp_path: Path, prefect_harness: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    module, plugin = f"results_point_{uuid.uuid4().hex[:8]}", f"point-{uuid.uuid4().hex[:8]}"
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    source = plugins / f"{module}.py"
    source.write_text(PLUGIN.format(name=plugin))
    monkeypatch.syspath_prepend(str(plugins))
    try:
        points = importlib.import_module(module)

        @task(persist_result=True, result_storage=STORAGE, cache_policy=INPUTS,
              result_serializer=ResultSerializer())
        def make_point(tag: str) -> Any:
            return points.Point(3, 4)

        @flow(name="results pinned")
        def parent(tag: str) -> Any:
            return make_point(tag)

        tag = uuid.uuid4().hex
        assert isinstance(parent(tag), points.Point)
        source.write_text(PLUGIN.format(name=plugin).replace("Point(*json.loads", "Point(0, 0) or (*json.loads"))
        source.unlink()  # edited, then deleted
        env = {**os.environ, "PREFECT_API_URL": prefect_harness, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env.pop("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", None)
        env["PYTHONPATH"] = str(ROOT)
        script = CHILD.format(tag=tag, storage=STORAGE)
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                              cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["type"] == "Point" and out["xy"] == [3, 4]
        assert out["module"] != module  # the snapshot's isolated copy: the module file is gone
    finally:
        unregister_serializer(plugin)
        sys.modules.pop(module, None)


def test_the_result_serializer_refuses_silent_pickle() -> None:
    class Opaque:
        def __init__(self) -> None:
            self.v = 5

    with pytest.raises(SerializerError, match="cloudpickle"):
        ResultSerializer().dumps(Opaque())
    loaded = ResultSerializer(allow_pickle=True).loads(ResultSerializer(allow_pickle=True).dumps(Opaque()))
    assert loaded.v == 5
    assert ResultSerializer().loads(ResultSerializer().dumps({"a": [1, 2]})) == {"a": [1, 2]}
