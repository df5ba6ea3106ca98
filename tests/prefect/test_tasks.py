"""Prefect tasks against the test harness: run association, @artifact_task, visibility, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.runtime import flow_run as runtime_flow_run

from prefect_artifacts import ArtifactRegistry, ArtifactStorage
from prefect_artifacts import tasks as T
from prefect_artifacts._prefect import EVENT_CREATED, table_key
from prefect_artifacts.errors import InvalidArtifactInput, MissingStorageBackend, SerializerError
from prefect_artifacts.registry.local import LocalRegistry


def _files(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data.csv"
    data.write_text("x,y\n1,2\n3,4\n")
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("bb")
    return data, folder


def _categories(reg: Any, run_id: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for cat in ("input", "output", "code"):
        out[cat] = {a.name for a in reg.run_artifacts(run_id, cat)}
    return out


def test_each_task_records_its_category_against_the_flow_run(tmp_path: Path, registry: Any) -> None:
    data, folder = _files(tmp_path)
    registry.upload_file(data, name="seed", folder="/t")  # read later, written outside the flow

    @flow
    def job() -> dict[str, Any]:
        a = T.upload_file(data, name="raw", folder="/t", labels=["raw"])
        d = T.upload_dir(folder, name="plots", folder="/t")
        r = T.add_reference(data.as_uri(), name="ref", folder="/t")
        o = T.save_object({"w": [1, 2]}, name="model", folder="/t", serializer="json")
        loaded = T.load_object("/t/model:latest")
        local = T.download_artifact("/t/seed:latest", path=tmp_path / "out")
        tree = T.download_artifact("/t/plots:latest", path=tmp_path / "tree")
        into = T.download_artifact("/t/seed:latest", path=f"{tmp_path}/into/")
        listed = T.list_artifacts(folder="/t")
        link = T.attach_artifact("/t/ref:1", category="input")
        code = T.log_code()
        return {"run": runtime_flow_run.id, "arts": (a, d, r, o, code), "loaded": loaded, "local": local,
                "tree": tree, "into": into, "listed": listed, "link": link}

    out = job()
    run_id = out["run"]
    cats = _categories(registry, run_id)
    assert cats["output"] == {"raw", "plots", "ref", "model"}
    assert cats["input"] == {"model", "seed", "plots", "ref"}
    assert cats["code"] == {"test_tasks.py"}
    assert out["loaded"] == {"w": [1, 2]}
    assert Path(out["local"]).read_text() == data.read_text()
    assert (Path(out["tree"]) / "sub" / "b.txt").read_text() == "bb"
    assert out["into"] == tmp_path / "into" / "data.csv" and out["into"].read_text() == data.read_text()
    assert {a.name for a in out["listed"]} >= {"raw", "plots", "ref", "model", "seed"}
    assert out["link"].run_id == run_id and out["link"].category.value == "input"
    for art in out["arts"]:
        assert any(link.run_id == run_id for link in art.runs), art.ref
    code = out["arts"][-1]
    assert code.kind.value == "file" and Path(__file__).read_bytes() == b"".join(registry.read(code.id))


async def test_async_twins_record_categories(tmp_path: Path, registry: Any) -> None:
    data, folder = _files(tmp_path)

    @flow
    async def ajob() -> str:
        await T.aupload_file(data, name="araw", folder="/a")
        await T.aupload_dir(folder, name="aplots", folder="/a")
        await T.aadd_reference(data.as_uri(), name="aref", folder="/a")
        await T.asave_object([1, 2, 3], name="alist", folder="/a")
        assert await T.aload_object("/a/alist:latest") == [1, 2, 3]
        await T.adownload_artifact("/a/araw:latest", path=tmp_path / "dl")
        assert len(await T.alist_artifacts(folder="/a")) == 4
        await T.aattach_artifact("/a/aref:latest", category="code")
        await T.alog_code(paths=[data, folder / "a.txt"], name="mixed-code", folder="/a")
        return str(runtime_flow_run.id)

    run_id = await ajob()
    cats = _categories(registry, run_id)
    assert cats == {"output": {"araw", "aplots", "aref", "alist"}, "input": {"alist", "araw"},
                    "code": {"aref", "mixed-code"}}
    mixed = registry.get("/a/mixed-code:latest")
    assert sorted(f.path for f in mixed.files) == ["data.csv", "plots/a.txt"]


def test_outside_a_flow_tasks_work_without_association(tmp_path: Path, registry: Any) -> None:
    data, _ = _files(tmp_path)
    art = T.upload_file(data, name="loose")
    assert art.runs == []
    assert registry.get("loose:latest").runs == []
    assert T.save_object.fn({"a": 1}, name="obj").runs == []
    assert T.load_object("obj:latest") == {"a": 1}
    assert registry.get("obj:latest").runs == []


def test_log_code_reuses_unchanged_code(tmp_path: Path, registry: Any) -> None:
    source = tmp_path / "job.py"
    source.write_text("print('v1')\n")

    @flow
    def job() -> str:
        T.log_code(source, folder="/code")
        return str(runtime_flow_run.id)

    first, second = job(), job()
    assert registry.get("/code/job.py:latest").version == 1
    source.write_text("print('v2')\n")
    third = job()
    assert registry.get("/code/job.py:latest").version == 2
    assert [a.version for a in registry.run_artifacts(first, "code")] == [1]
    assert [a.version for a in registry.run_artifacts(second, "code")] == [1]
    assert [a.version for a in registry.run_artifacts(third, "code")] == [2]


# -- @artifact_task ----------------------------------------------------------------------


@T.artifact_task
def plain_rows(n: int) -> list[int]:
    """Numbers."""
    return list(range(n))


@T.artifact_task(name="stats", folder="/ml", labels=["stats"], tags=["x"], retries=1, task_name="compute-stats")
async def stats(values: list[int]) -> dict[str, float]:
    return {"n": len(values), "mean": sum(values) / len(values)}


def test_artifact_task_registers_return_value_once_per_run(registry: Any) -> None:
    assert plain_rows.name == "plain_rows" and stats.name == "compute-stats"
    assert stats.retries == 1 and stats.tags == {"x"}

    @flow
    def job(n: int) -> tuple[list[int], str]:
        return plain_rows(n), str(runtime_flow_run.id)

    values, run1 = job(3)
    assert values == [0, 1, 2]
    _, run2 = job(4)
    versions = [a for a in registry.iter(search="name:plain_rows")]
    assert sorted(a.version for a in versions) == [1, 2]
    assert [a.name for a in registry.run_artifacts(run1, "output")] == ["plain_rows"]
    art = registry.run_artifacts(run2, "output")[0]
    assert art.kind.value == "object" and art.description == "Numbers."
    assert registry.load_object(art.id) == [0, 1, 2, 3]


async def test_async_artifact_task(registry: Any) -> None:
    @flow
    async def job() -> dict[str, float]:
        return await stats([1, 2, 3])

    assert await job() == {"n": 3, "mean": 2.0}
    art = registry.get("/ml/stats:latest")
    assert art.labels == ["stats"] and registry.load_object(art.id) == {"n": 3, "mean": 2.0}


def test_artifact_task_map_and_submit_register_one_artifact_per_task_run(registry: Any) -> None:
    @flow
    def job() -> tuple[list[list[int]], list[int], str]:
        mapped = [f.result() for f in plain_rows.map([1, 2, 3])]
        submitted = plain_rows.with_options(retries=1).submit(4).result()
        return mapped, submitted, str(runtime_flow_run.id)

    mapped, submitted, run_id = job()
    assert mapped == [[0], [0, 1], [0, 1, 2]] and submitted == [0, 1, 2, 3]
    outputs = registry.run_artifacts(run_id, "output")
    assert len(outputs) == 4 and {a.name for a in outputs} == {"plain_rows"}
    assert sorted(registry.load_object(a.id) for a in outputs) == sorted([*mapped, submitted])


def test_artifact_task_retry_before_return_registers_once(registry: Any) -> None:
    attempts: list[int] = []

    @T.artifact_task(name="flaky", retries=2, retry_delay_seconds=0)
    def flaky() -> dict[str, int]:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("transient")
        return {"attempt": len(attempts)}

    @flow
    def job() -> dict[str, int]:
        return flaky()

    assert job() == {"attempt": 2}
    assert len(attempts) == 2
    assert registry.count("name:flaky") == 1


def test_artifact_task_retry_after_registration_registers_once(registry: Any, monkeypatch: Any) -> None:
    """The write commits but the call fails afterwards (e.g. a lost response): the retry reuses it."""
    real = LocalRegistry.save_object
    calls: list[str | None] = []

    def lossy(self: Any, *args: Any, **kwargs: Any) -> Any:
        art = real(self, *args, **kwargs)
        calls.append(kwargs.get("idempotency_key"))
        if len(calls) == 1:
            raise ConnectionError("response lost after commit")
        return art

    monkeypatch.setattr(LocalRegistry, "save_object", lossy)

    @T.artifact_task(name="committed", retries=1, retry_delay_seconds=0)
    def produce() -> list[str]:
        return ["a", "b"]

    @flow
    def job() -> list[str]:
        return produce()

    assert job() == ["a", "b"]
    assert len(calls) == 2 and calls[0] is not None and calls[0] == calls[1]
    assert registry.count("name:committed") == 1


def test_same_idempotency_key_registers_once(registry: Any) -> None:
    a = registry.save_object({"x": 1}, name="same", idempotency_key="k-1", runs=[("run-1", "output")])
    b = registry.save_object({"x": 1}, name="same", idempotency_key="k-1", runs=[("run-1", "output")])
    assert a.id == b.id and registry.count("name:same") == 1


# -- visibility in Prefect -------------------------------------------------------------------


def test_table_artifact_and_created_event(tmp_path: Path, registry: Any, poll: Any) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    data, _ = _files(tmp_path)

    @flow(name="Visible_Flow")
    def visible() -> tuple[str, str]:
        art = T.upload_file(data, name="shown", folder="/vis")
        T.save_object({"k": "v"}, name="shown-obj", folder="/vis")
        T.download_artifact("/vis/shown:latest", path=tmp_path / "dl")
        return str(runtime_flow_run.id), art.id

    run_id, art_id = visible()  # the flow-end hook publishes the final table before returning
    key = table_key("Visible_Flow")
    assert key == "artifacts-visible-flow"
    with get_client(sync_client=True) as client:
        tables = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
                                           key=ArtifactFilterKey(any_=[key])))
    assert tables, "no table artifact for the flow run"
    latest = max(tables, key=lambda a: a.created)
    rows = json.loads(latest.data) if isinstance(latest.data, str) else latest.data
    seen = {(r["name"], r["category"]) for r in rows}
    assert seen == {("/vis/shown", "output"), ("/vis/shown", "input"), ("/vis/shown-obj", "output")}
    row = next(r for r in rows if r["name"] == "/vis/shown")
    art = registry.get(art_id)
    assert row["version"] == 1 and row["size"] == art.size and row["checksum"] == art.checksum
    assert row["location"].startswith("file://") and row["location"].endswith(art.checksum)

    def events() -> list[Any]:
        with get_client(sync_client=True) as client:
            page = client.read_events(filter=EventFilter(
                event=EventNameFilter(name=[EVENT_CREATED]),
                resource=EventResourceFilter(id=[f"prefect-artifacts.artifact.{art_id}"])), limit=10)
        return list(page.events)

    found = poll(events, bool, timeout=25)
    assert found, "event prefect-artifacts.artifact.created not persisted"
    event = found[0]
    assert event.payload["name"] == "shown" and event.payload["version"] == 1
    assert event.payload["checksum"] == art.checksum and event.payload["uri"] == art.urn
    assert event.resource["prefect-artifacts.folder"] == "/vis"
    related = {r.id: r.role for r in event.related}
    assert related.get(f"prefect.flow-run.{run_id}") == "flow-run"


# -- bad input ------------------------------------------------------------------------------


def _fails_cleanly(registry: Any, exc: type[BaseException], match: str, body: Any) -> None:
    @flow
    def job() -> None:
        body()

    with pytest.raises(exc, match=match):
        job()
    assert registry.count() == 0, "something was half-registered"


def test_bad_inputs_fail_the_task_with_a_clear_error(tmp_path: Path, registry: Any, monkeypatch: Any) -> None:
    data, _ = _files(tmp_path)
    _fails_cleanly(registry, InvalidArtifactInput, "no ArtifactRegistry block named 'nope'",
                   lambda: T.upload_file(data, registry="nope"))
    monkeypatch.setenv("PREFECT_ARTIFACTS_REGISTRY_BLOCK", "missing-block")
    _fails_cleanly(registry, InvalidArtifactInput, "'missing-block'", lambda: T.upload_file(data))
    monkeypatch.delenv("PREFECT_ARTIFACTS_REGISTRY_BLOCK")
    gcs = ArtifactRegistry(storage=ArtifactStorage(basepath="gcs://bucket/prefix"))
    _fails_cleanly(registry, MissingStorageBackend, r"prefect-artifacts\[gcs\]",
                   lambda: T.upload_file(data, registry=gcs))
    _fails_cleanly(registry, FileNotFoundError, "does not exist", lambda: T.upload_file(tmp_path / "nope.csv"))
    _fails_cleanly(registry, FileNotFoundError, "does not exist", lambda: T.upload_dir(tmp_path / "nope"))
    _fails_cleanly(registry, SerializerError, "no serializer named 'yaml-ish'",
                   lambda: T.save_object({"a": 1}, name="x", serializer="yaml-ish"))

    @T.artifact_task(serializer="yaml-ish")
    def returns() -> int:
        return 1

    _fails_cleanly(registry, SerializerError, "yaml-ish", returns)
    registry.upload_file(data, name="exists")
    with pytest.raises(InvalidArtifactInput, match="'input', 'output', 'code'"):
        flow(lambda: T.attach_artifact("exists", category="lineage"))()
    assert registry.get("exists").runs == []
