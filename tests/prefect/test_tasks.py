"""Prefect tasks against the test harness: run association, @artifact_task, visibility, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect import flow
from prefect.runtime import flow_run as runtime_flow_run

from prefect_artifacts import ArtifactRegistry, ArtifactStorage
from prefect_artifacts import tasks as T
from prefect_artifacts._prefect import EVENT_CREATED, short_digest, table_key
from prefect_artifacts._sizes import human_size
from prefect_artifacts.errors import InvalidArtifactInput, MissingStorageBackend, SerializerError
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.backends import hide_backend

README = Path(__file__).resolve().parents[2] / "README.md"
FAST = {"retry_delay_seconds": 0}  # the shipped delays are [1, 5] s


#: The code artifact holding the built-in serializers' snapshot, linked to runs that saved objects.
SERIALIZER_CODE = "serializer-prefect_artifacts.serializers.builtins"


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


def test_each_task_records_its_category_against_the_flow_run(tmp_path: Path, task_registry: Any) -> None:
    data, folder = _files(tmp_path)
    task_registry.upload_file(data, name="seed", folder="/t")  # read later, written outside the flow

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
    cats = _categories(task_registry, run_id)
    assert cats["output"] == {"raw", "plots", "ref", "model"}
    assert cats["input"] == {"model", "seed", "plots", "ref"}
    assert cats["code"] == {"test_tasks.py", SERIALIZER_CODE}  # the flow script, the json serializer's source
    assert out["loaded"] == {"w": [1, 2]}
    assert Path(out["local"]).read_text() == data.read_text()
    assert (Path(out["tree"]) / "sub" / "b.txt").read_text() == "bb"
    assert out["into"] == tmp_path / "into" / "data.csv" and out["into"].read_text() == data.read_text()
    assert {a.name for a in out["listed"]} >= {"raw", "plots", "ref", "model", "seed"}
    assert out["link"].run_id == run_id and out["link"].category.value == "input"
    for art in out["arts"]:
        assert any(link.run_id == run_id for link in art.runs), art.ref
    code = out["arts"][-1]
    assert code.kind.value == "file" and Path(__file__).read_bytes() == b"".join(task_registry.read(code.id))


async def test_async_twins_record_categories(tmp_path: Path, task_registry: Any) -> None:
    data, folder = _files(tmp_path)

    @flow
    async def ajob() -> str:
        await T.aupload_file(data, name="araw", folder="/a")
        await T.aupload_dir(folder, name="aplots", folder="/a")
        await T.aadd_reference(data.as_uri(), name="aref", folder="/a")
        await T.asave_object([1, 2, 3], name="alist", folder="/a")
        assert await T.aload_object("/a/alist:latest") == [1, 2, 3]
        await T.adownload_artifact("/a/araw:latest", path=tmp_path / "dl")
        assert len(await T.alist_artifacts(folder="/a")) == 5  # with the serializer code of alist
        await T.aattach_artifact("/a/aref:latest", category="code")
        await T.alog_code(paths=[data, folder / "a.txt"], name="mixed-code", folder="/a")
        return str(runtime_flow_run.id)

    run_id = await ajob()
    cats = _categories(task_registry, run_id)
    assert cats == {"output": {"araw", "aplots", "aref", "alist"}, "input": {"alist", "araw"},
                    "code": {"aref", "mixed-code", SERIALIZER_CODE}}
    mixed = task_registry.get("/a/mixed-code:latest")
    assert sorted(f.path for f in mixed.files) == ["data.csv", "plots/a.txt"]


def test_outside_a_flow_tasks_work_without_association(tmp_path: Path, task_registry: Any) -> None:
    data, _ = _files(tmp_path)
    art = T.upload_file(data, name="loose")
    assert art.runs == []
    assert task_registry.get("loose:latest").runs == []
    assert T.save_object.fn({"a": 1}, name="obj").runs == []
    assert T.load_object("obj:latest") == {"a": 1}
    assert task_registry.get("obj:latest").runs == []


def test_log_code_reuses_unchanged_code(tmp_path: Path, task_registry: Any) -> None:
    source = tmp_path / "job.py"
    source.write_text("print('v1')\n")

    @flow
    def job() -> str:
        T.log_code(source, folder="/code")
        return str(runtime_flow_run.id)

    first, second = job(), job()
    assert task_registry.get("/code/job.py:latest").version == 1
    source.write_text("print('v2')\n")
    third = job()
    assert task_registry.get("/code/job.py:latest").version == 2
    assert [a.version for a in task_registry.run_artifacts(first, "code")] == [1]
    assert [a.version for a in task_registry.run_artifacts(second, "code")] == [1]
    assert [a.version for a in task_registry.run_artifacts(third, "code")] == [2]


# -- @artifact_task ----------------------------------------------------------------------


@T.artifact_task
def plain_rows(n: int) -> list[int]:
    """Numbers."""
    return list(range(n))


@T.artifact_task(artifact_name="stats", folder="/ml", labels=["stats"], tags=["x"], retries=1,
                 task_name="compute-stats")
async def stats(values: list[int]) -> dict[str, float]:
    return {"n": len(values), "mean": sum(values) / len(values)}


def test_artifact_task_registers_return_value_once_per_run(task_registry: Any) -> None:
    assert plain_rows.name == "plain_rows" and stats.name == "compute-stats"
    assert stats.retries == 1 and stats.tags == {"x"}

    @flow
    def job(n: int) -> tuple[list[int], str]:
        return plain_rows(n), str(runtime_flow_run.id)

    values, run1 = job(3)
    assert values == [0, 1, 2]
    _, run2 = job(4)
    versions = [a for a in task_registry.iter(search="name:plain_rows")]
    assert sorted(a.version for a in versions) == [1, 2]
    assert [a.name for a in task_registry.run_artifacts(run1, "output")] == ["plain_rows"]
    art = task_registry.run_artifacts(run2, "output")[0]
    assert art.kind.value == "object" and art.description == "Numbers."
    assert task_registry.load_object(art.id) == [0, 1, 2, 3]


async def test_async_artifact_task(task_registry: Any) -> None:
    @flow
    async def job() -> dict[str, float]:
        return await stats([1, 2, 3])

    assert await job() == {"n": 3, "mean": 2.0}
    art = task_registry.get("/ml/stats:latest")
    assert art.labels == ["stats"] and task_registry.load_object(art.id) == {"n": 3, "mean": 2.0}


def test_artifact_task_name_keyword_is_deprecated_for_artifact_name() -> None:
    with pytest.warns(DeprecationWarning, match=r"artifact_name="):
        @T.artifact_task(name="old-spelling", task_name="compute")
        def old() -> int:
            return 1

    @T.artifact_task(artifact_name="new-spelling", task_name="compute")
    def new() -> int:
        return 1

    assert old.name == new.name == "compute"
    assert old.task_run_name == "compute[old-spelling]" and new.task_run_name == "compute[new-spelling]"
    with pytest.raises(TypeError, match="artifact_name="):
        T.artifact_task(name="a", artifact_name="b")


def test_artifact_task_map_and_submit_register_one_artifact_per_task_run(task_registry: Any) -> None:
    @flow
    def job() -> tuple[list[list[int]], list[int], str]:
        mapped = [f.result() for f in plain_rows.map([1, 2, 3])]
        submitted = plain_rows.with_options(retries=1).submit(4).result()
        return mapped, submitted, str(runtime_flow_run.id)

    mapped, submitted, run_id = job()
    assert mapped == [[0], [0, 1], [0, 1, 2]] and submitted == [0, 1, 2, 3]
    outputs = task_registry.run_artifacts(run_id, "output")
    assert len(outputs) == 4 and {a.name for a in outputs} == {"plain_rows"}
    assert sorted(task_registry.load_object(a.id) for a in outputs) == sorted([*mapped, submitted])


def test_artifact_task_retry_before_return_registers_once(task_registry: Any) -> None:
    attempts: list[int] = []

    @T.artifact_task(artifact_name="flaky", retries=2, retry_delay_seconds=0)
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
    assert task_registry.count("name:flaky") == 1


def test_artifact_task_retry_after_registration_registers_once(task_registry: Any, monkeypatch: Any) -> None:
    """The write commits but the call fails afterwards (e.g. a lost response): the retry reuses it."""
    real = LocalRegistry.upload
    calls: list[str | None] = []

    def lossy(self: Any, draft: Any, *args: Any, **kwargs: Any) -> Any:
        art = real(self, draft, *args, **kwargs)
        if draft.name == "committed":  # the object, not its serializer code
            calls.append(kwargs.get("idempotency_key"))
            if len(calls) == 1:
                raise ConnectionError("response lost after commit")
        return art

    monkeypatch.setattr(LocalRegistry, "upload", lossy)

    @T.artifact_task(artifact_name="committed", retries=1, retry_delay_seconds=0)
    def produce() -> list[str]:
        return ["a", "b"]

    @flow
    def job() -> list[str]:
        return produce()

    assert job() == ["a", "b"]
    assert len(calls) == 2 and calls[0] is not None and calls[0] == calls[1]
    assert task_registry.count("name:committed") == 1


def test_same_idempotency_key_registers_once(task_registry: Any) -> None:
    a = task_registry.save_object({"x": 1}, name="same", idempotency_key="k-1", runs=[("run-1", "output")])
    b = task_registry.save_object({"x": 1}, name="same", idempotency_key="k-1", runs=[("run-1", "output")])
    assert a.id == b.id and task_registry.count("name:same") == 1


# -- visibility in Prefect -------------------------------------------------------------------


def test_table_artifact_and_created_event(tmp_path: Path, task_registry: Any, poll: Any) -> None:
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
    assert seen == {("/vis/shown", "output"), ("/vis/shown", "input"), ("/vis/shown-obj", "output"),
                    (f"/vis/{SERIALIZER_CODE}", "code")}
    row = next(r for r in rows if r["name"] == "/vis/shown")
    art = task_registry.get(art_id)
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


def test_bad_inputs_fail_the_task_with_a_clear_error(tmp_path: Path, task_registry: Any, monkeypatch: Any) -> None:
    data, _ = _files(tmp_path)
    _fails_cleanly(task_registry, InvalidArtifactInput, "no ArtifactRegistry block named 'nope'",
                   lambda: T.upload_file(data, registry="nope"))
    monkeypatch.setenv("PREFECT_ARTIFACTS_REGISTRY_BLOCK", "missing-block")
    _fails_cleanly(task_registry, InvalidArtifactInput, "'missing-block'", lambda: T.upload_file(data))
    monkeypatch.delenv("PREFECT_ARTIFACTS_REGISTRY_BLOCK")
    hide_backend(monkeypatch, "gcsfs", "gcs", "gs")  # the suite installs it: as a user without the extra
    gcs = ArtifactRegistry(storage=ArtifactStorage(basepath="gcs://bucket/prefix"))
    _fails_cleanly(task_registry, MissingStorageBackend, r"prefect-artifacts\[gcs\]",
                   lambda: T.upload_file(data, registry=gcs))
    _fails_cleanly(task_registry, FileNotFoundError, "does not exist", lambda: T.upload_file(tmp_path / "nope.csv"))
    _fails_cleanly(task_registry, FileNotFoundError, "does not exist", lambda: T.upload_dir(tmp_path / "nope"))
    _fails_cleanly(task_registry, SerializerError, "no serializer named 'yaml-ish'",
                   lambda: T.save_object({"a": 1}, name="x", serializer="yaml-ish"))

    @T.artifact_task(serializer="yaml-ish")
    def returns() -> int:
        return 1

    _fails_cleanly(task_registry, SerializerError, "yaml-ish", returns)
    task_registry.upload_file(data, name="exists")
    with pytest.raises(InvalidArtifactInput, match="'input', 'output', 'code'"):
        flow(lambda: T.attach_artifact("exists", category="lineage"))()
    assert task_registry.get("exists").runs == []


# -- what a Prefect user sees: log lines, run names, retries, a quiet example ---------------------


def _task_runs(run_id: str, poll: Callable[..., Any], count: int) -> list[Any]:
    """The flow run's task runs as Prefect's API shows them (recorded from events: polled)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    def read() -> list[Any]:
        with get_client(sync_client=True) as client:
            return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(run_id)])))

    return poll(read, lambda runs: len(runs) >= count and all(r.state and r.state.is_final() for r in runs),
                timeout=30)


def _shown(art: Any) -> str:
    size = human_size(art.size, "size unknown")
    return f"{art.folder.rstrip('/')}/{art.name}:{art.version} ({size}, {short_digest(art.checksum)})"


def test_one_log_line_per_registered_or_loaded_artifact_in_the_run_logs(
    tmp_path: Path, task_registry: Any, poll: Callable[..., Any],
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    data, folder = _files(tmp_path)

    @flow
    def job() -> str:
        T.upload_file(data, name="raw", folder="/log")
        T.upload_dir(folder, name="plots", folder="/log")
        T.save_object({"a": 1}, name="obj", folder="/log")
        T.upload_file(data, name="raw", folder="/log", conflict_strategy="skip")  # the existing version
        T.load_object("/log/obj:latest")
        T.download_artifact("/log/raw:latest", path=tmp_path / "dl")
        T.attach_artifact("/log/plots:1", category="input")
        T.list_artifacts(folder="/log")  # reads no artifact: no line
        return str(runtime_flow_run.id)

    run_id = job()
    raw, plots, obj, code = (task_registry.get(f"/log/{n}:1") for n in ("raw", "plots", "obj", SERIALIZER_CODE))
    assert re.fullmatch(r"/log/raw:1 \(\d+ B, sha256:[0-9a-f]{8}\)", _shown(raw)), _shown(raw)
    expected = sorted([
        f"Registered {_shown(raw)}", f"Registered {_shown(plots)}", f"Registered {_shown(obj)}",
        f"Reused {_shown(raw)}", f"Loaded {_shown(obj)}", f"Loaded {_shown(raw)}",
        f"Attached {_shown(plots)} as input of flow run {run_id}",
        f"Registered {_shown(code)} as the serializer code of {obj.ref}",
    ])

    def ours() -> list[str]:
        with get_client(sync_client=True) as client:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(run_id)])))
        return sorted(log.message for log in logs if log.message.split(" ", 1)[0] in
                      {"Registered", "Reused", "Loaded", "Attached"} and log.level == 20)

    assert poll(ours, lambda lines: len(lines) >= len(expected), timeout=30) == expected


def test_task_run_names_carry_the_artifact(tmp_path: Path, task_registry: Any, poll: Callable[..., Any]) -> None:
    data, folder = _files(tmp_path)

    @T.artifact_task(artifact_name="made", folder="/names")
    def produce() -> list[int]:
        return [1]

    @flow
    def job() -> str:
        T.upload_file(data, folder="/names")  # named after the file
        T.upload_dir(folder, name="plots", folder="/names")
        T.add_reference(data.as_uri(), name="ref", folder="/names")
        T.save_object({"a": 1}, name="obj", folder="/names", serializer="json")
        T.load_object("/names/obj:latest")
        T.download_artifact("/names/data.csv:latest", path=tmp_path / "dl")
        T.list_artifacts(folder="/names")
        T.attach_artifact("/names/ref:1")
        T.log_code()
        produce()
        return str(runtime_flow_run.id)

    run_id = job()
    pin = f"json@{task_registry.get('/names/obj:1').serializer.snapshot_id[:8]}"
    names = sorted(r.name for r in _task_runs(run_id, poll, 10))
    assert names == sorted([
        "upload_file[data.csv]", "upload_dir[plots]", "add_reference[ref]", f"save_object[obj, {pin}]",
        f"load_object[/names/obj:latest, {pin}]", "download_artifact[/names/data.csv:latest]",
        "list_artifacts[/names]", "attach_artifact[/names/ref:1]", "log_code[test_tasks.py]", "produce[made]",
    ])


IO_TASKS = [T.upload_file, T.aupload_file, T.upload_dir, T.aupload_dir, T.add_reference, T.aadd_reference,
            T.save_object, T.asave_object, T.load_object, T.aload_object, T.download_artifact,
            T.adownload_artifact, T.list_artifacts, T.alist_artifacts, T.attach_artifact, T.aattach_artifact,
            T.log_code, T.alog_code]


def test_every_io_task_retries_transient_errors_twice_with_backoff() -> None:
    for task in IO_TASKS:
        assert task.retries == 2 and task.retry_delay_seconds == [1, 5], task.name
        assert task.retry_condition_fn is T._retry_transient, task.name
    assert T.is_transient(ConnectionResetError("reset")) and T.is_transient(TimeoutError())
    assert not T.is_transient(FileNotFoundError("data.csv")) and not T.is_transient(PermissionError("denied"))


class FlakyReads(LocalRegistry):
    """The embedded registry whose chosen reads fail once, like a network blip."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fail: set[str] = set()  # refs whose next get fails; "list" for the next list
        self.failed: list[str] = []

    def _blip(self, what: str) -> None:
        if what in self.fail:
            self.fail.discard(what)
            self.failed.append(what)
            raise ConnectionResetError(f"connection reset while reading {what}")

    def get(self, ref: str) -> Any:
        self._blip(ref)
        return super().get(ref)

    def list(self, *args: Any, **kwargs: Any) -> Any:
        self._blip("list")
        return super().list(*args, **kwargs)


async def test_transient_read_failures_are_retried_and_bad_input_is_not(
    tmp_path: Path, task_registry: Any, poll: Callable[..., Any],
) -> None:
    data, _ = _files(tmp_path)
    task_registry.upload_file(data, name="raw", folder="/retry")
    flaky = FlakyReads.from_urls()
    flaky.fail = {"/retry/raw:latest", "list", "/retry/raw:1", "/retry/raw"}

    @flow
    async def reads() -> tuple[Any, Any, Any, Any]:
        local = T.download_artifact.with_options(**FAST)("/retry/raw:latest", path=tmp_path / "dl", registry=flaky)
        listed = T.list_artifacts.with_options(**FAST)(folder="/retry", registry=flaky)
        link = T.attach_artifact.with_options(**FAST)("/retry/raw:1", registry=flaky)
        alink = await T.aattach_artifact.with_options(**FAST)("/retry/raw", category="code", registry=flaky)
        return local, listed, link, alink

    local, listed, link, alink = await reads()
    assert sorted(flaky.failed) == sorted(["/retry/raw:latest", "list", "/retry/raw:1", "/retry/raw"])
    assert Path(local).read_text() == data.read_text() and [a.name for a in listed] == ["raw"]
    assert link.category.value == "input" and alink.category.value == "code"

    @flow
    def missing() -> None:
        T.upload_file(tmp_path / "nope.csv", name="nope")

    state = missing(return_state=True)
    assert state.is_failed()
    runs = _task_runs(str(state.state_details.flow_run_id), poll, 1)
    assert [(r.name, r.run_count) for r in runs] == [("upload_file[nope]", 1)]  # not retried


def test_readme_flow_example_runs_without_errors_or_exit_noise(tmp_path: Path) -> None:
    """The README's Prefect example, as a user runs it: no telemetry ERROR, no 'Still processing items'."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    example = next(b for b in blocks if "def demo()" in b)
    (tmp_path / "demo.py").write_text(example)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT")}  # not the harness's settings
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_ARTIFACTS_HOME=str(tmp_path / "artifacts"),
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180")  # a new database on a busy machine
    result = subprocess.run([sys.executable, "demo.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=400)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "{'n': 4, 'mean': 2.5}" in result.stdout
    assert "Task run 'upload_file[data]' - Registered /demo/data:1 (7 B, sha256:" in output, output[-4000:]
    assert "Task run 'load_object[/demo/stats:latest, json@" in output
    noise = [line for line in output.splitlines()
             if "| ERROR" in line or "Traceback" in line or "Still processing items" in line]
    assert noise == [], output[-4000:]


def test_every_writing_task_takes_the_group(tmp_path: Path, task_registry: Any) -> None:
    data = tmp_path / "g.txt"
    data.write_text("g")
    (tmp_path / "gdir").mkdir()
    (tmp_path / "gdir" / "x.txt").write_text("x")

    @T.artifact_task(artifact_name="computed", folder="/g-task", group="research")
    def compute() -> dict:
        return {"n": 1}

    @flow
    def grouped() -> list[str]:
        return [a.group_id for a in (
            T.upload_file(data, name="f", folder="/g-file", group="research"),
            T.upload_dir(tmp_path / "gdir", name="d", folder="/g-dir", group="research"),
            T.add_reference(data.as_uri(), name="r", folder="/g-ref", group="research"),
            T.save_object([1], name="o", folder="/g-obj", group="research"),
            T.log_code(paths=[data], name="c", folder="/g-code", group="research"),
        )] + [task_registry.get("/g-task/computed").group_id if compute() else ""]

    assert grouped() == ["research"] * 6


def test_the_table_thread_uses_the_requesters_prefect_settings(tmp_path: Path, task_registry: Any) -> None:
    """A table requested under temporary_settings goes to that API (threads start with no context)."""
    import http.server
    import threading
    import uuid

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_artifacts._prefect import PUBLISHER, RunInfo

    posted: list[str] = []

    class Api(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            posted.append(f"{self.command} {self.path} {self.rfile.read(length)[:200]!r}")
            self.send_response(201 if self.command == "POST" else 404)  # 404: a server without CSRF tokens
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = _answer  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    try:
        run_id = str(uuid.uuid4())
        with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{api.server_address[1]}/api"}):
            PUBLISHER.request(task_registry, RunInfo(flow_run_id=run_id, flow_name="ctx-flow"))
        assert PUBLISHER.flush(30)
    finally:
        api.shutdown()
        api.server_close()
    assert any(p.startswith("POST /api/artifacts/") and run_id in p for p in posted), posted
