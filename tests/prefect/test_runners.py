"""Tasks under every task runner: results cross process boundaries, one complete table, one event each.

Each runner runs one flow of 200 mapped task runs: `save_object` (one name: versions
1..67), `upload_file` (67 names: version 1 each, through an `ArtifactRegistry` block
pickled to the workers) and an `@artifact_task` (one name: versions 1..66). The 200
are split over the three tasks rather than 200 each: Prefect serializes its whole
context and settings for every submission to a process pool (3.9) or a Dask cluster,
about 0.1-0.3 s of CPU in the flow's process on this machine, so 600 Dask task runs
alone would take minutes.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, task
from prefect.runtime import flow_run as runtime_flow_run
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import unmapped

from prefect_artifacts import Artifact, ArtifactRegistry
from prefect_artifacts import _prefect as P
from prefect_artifacts import tasks as T
from prefect_artifacts._prefect import EVENT_CREATED, RESOURCE_PREFIX, table_key

N = 200
SAVED, UPLOADED, SQUARED = 67, 67, 66  # N task runs in all
FOLDER = "/runners"
#: The objects' serializer source: one code artifact, linked to the run once, whichever process saved first.
SERIALIZER_CODE = "serializer-prefect_artifacts.serializers.builtins"


@T.artifact_task(artifact_name="square", folder=FOLDER)
def square(x: int) -> int:
    """The square of x."""
    return x * x


@task(persist_result=False)
def probe() -> dict[str, Any]:
    """What a task sees of its process: run placement and table publishing state."""
    # Module attributes, not imported names: this function is pickled by value, and
    # PUBLISHER itself (a lock and a thread) can not be.
    return {
        "pid": os.getpid(),
        "in_flow_process": P.in_flow_process(),
        "publisher_threads": [t.name for t in threading.enumerate() if t.name == "prefect-artifacts-tables"],
        "atexit": P.PUBLISHER._atexit,
    }


def _dask_runner() -> Any:
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(cluster_kwargs={
        "n_workers": 2, "threads_per_worker": 2, "processes": True, "dashboard_address": None,
        "worker_dashboard_address": None,
    })


RUNNERS: dict[str, Callable[[], Any]] = {
    "threads": lambda: ThreadPoolTaskRunner(max_workers=8),
    "processes": lambda: ProcessPoolTaskRunner(max_workers=2),
    "dask": _dask_runner,
}


def _fan_out(kind: str, files: list[Path]) -> Any:
    names = [f"file-{i:03d}" for i in range(UPLOADED)]

    @flow(name=f"runners-{kind}", task_runner=RUNNERS[kind]())
    def fan_out() -> dict[str, Any]:
        saved = T.save_object.map(list(range(SAVED)), name=unmapped("obj"), folder=unmapped(FOLDER))
        uploaded = T.upload_file.map(files, name=names, folder=unmapped(FOLDER),
                                     registry=unmapped(ArtifactRegistry()))
        squared = square.map(list(range(SQUARED)))
        out = {
            "run_id": str(runtime_flow_run.id),
            "saved": [f.result() for f in saved],
            "uploaded": [f.result() for f in uploaded],
            "squared": [f.result() for f in squared],
        }
        out["probe"] = probe.submit().result()
        return out

    return fan_out


def _tables(run_id: str, key: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]), key=ArtifactFilterKey(any_=[key])))


def _created_events(run_id: str, artifact_ids: list[str] | None = None) -> tuple[int, list[str]]:
    """(how many ``artifact.created`` events of the run there are, resource ids of those read).

    With ``artifact_ids`` (at most 50), only the events of those artifacts: one page,
    since paging through events that share a timestamp can repeat or skip some.
    """
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter, EventResourceFilter

    wanted = EventResourceFilter(id=[RESOURCE_PREFIX + i for i in artifact_ids]) if artifact_ids else None
    with get_client(sync_client=True) as client:
        page = client.read_events(filter=EventFilter(
            event=EventNameFilter(name=[EVENT_CREATED]), resource=wanted,
            related=EventRelatedFilter(id=[f"prefect.flow-run.{run_id}"])), limit=50 if artifact_ids else 1)
    return page.total, [e.resource.id for e in page.events]


def _problem_logs(run_id: str) -> tuple[list[str], int]:
    """(WARNING and worse log lines of the run, count of all its log lines) from the API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        logs, offset = [], 0
        while True:
            batch = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])),
                                     limit=200, offset=offset)
            logs.extend(batch)
            offset += len(batch)
            if len(batch) < 200:
                break
    return [f"{log.level} {log.message}" for log in logs if log.level >= 30], len(logs)


_ERROR_LINE = re.compile(r"Traceback|can't register atexit|Error|ERROR|Exception", re.IGNORECASE)


@pytest.mark.parametrize("kind", list(RUNNERS))
def test_tasks_under_a_task_runner(kind: str, tmp_path: Path, poll: Any, monkeypatch: pytest.MonkeyPatch,
                                   capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PREFECT_ARTIFACTS_DURABLE", "false")  # no fsync (inherited by the workers)
    registry = T.resolve_registry()  # what the tasks of this flow's process use
    files = []
    for i in range(UPLOADED):
        path = tmp_path / "in" / f"f{i:03d}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"row {i}\n")
        files.append(path)

    if kind == "dask":
        # Dask's sampling profiler walks other threads' frames every 10 ms and, on Python
        # 3.11, sometimes meets one being torn down: it then logs a traceback of its own
        # ("'bool' object has no attribute 'f_back'", kin of dask/distributed#8163) that
        # says nothing about our tasks. The nannies copy this config into their workers.
        import dask
        import distributed  # noqa: F401  (adds its defaults to dask's config)

        monkeypatch.setitem(dask.config.config["distributed"]["worker"]["profile"], "enabled", False)
    started = time.monotonic()
    out = _fan_out(kind, files)()
    timings = {"flow": time.monotonic() - started}
    run_id = out["run_id"]

    # Every result is a usable Artifact; unpickled ones bind (lazily) to one registry.
    saved: list[Artifact] = out["saved"]
    uploaded: list[Artifact] = out["uploaded"]
    assert all(isinstance(a, Artifact) for a in saved + uploaded)
    assert {a.name for a in saved} == {"obj"}
    assert sorted(a.version for a in saved) == list(range(1, SAVED + 1)), "one name: unique versions"
    assert sorted(json.loads(a.refresh().open().read()) for a in saved) == list(range(SAVED))
    assert sorted(a.name for a in uploaded) == [f"file-{i:03d}" for i in range(UPLOADED)]
    assert {a.version for a in uploaded} == {1}, "distinct names: one version each"
    assert [a.refresh().open().read() for a in uploaded] == [f"row {i}\n".encode() for i in range(UPLOADED)]
    if kind != "threads":
        assert {id(a._reg()) for a in saved + uploaded} == {id(registry)}, "unpickled: one shared registry"
    with uploaded[7].as_local_file() as local:  # the slower read paths, on a few
        assert local.read_text() == "row 7\n"
    assert registry.load_object(saved[3].id) == json.loads(saved[3].open().read())
    assert out["squared"] == [i * i for i in range(SQUARED)]
    squares = [a for a in registry.run_artifacts(run_id, "output") if a.name == "square"]
    assert sorted(a.version for a in squares) == list(range(1, SQUARED + 1))
    assert sorted(json.loads(a.open().read()) for a in squares) == [i * i for i in range(SQUARED)]
    assert registry.load_object(squares[0].id) == json.loads(squares[0].open().read())

    # Where the tasks ran, and that workers publish nothing themselves.
    seen = out["probe"]
    if kind == "threads":
        assert seen["pid"] == os.getpid() and seen["in_flow_process"] is True
    else:
        assert seen["pid"] != os.getpid() and seen["in_flow_process"] is False
        assert seen["publisher_threads"] == [] and seen["atexit"] is False

    # The run's table lists all 200 rows and the serializer code; a worker runner's run publishes it once, at the end.
    tables = _tables(run_id, table_key(f"runners-{kind}"))
    assert tables, "no table artifact for the flow run"
    latest = max(tables, key=lambda a: a.created)
    rows = json.loads(latest.data) if isinstance(latest.data, str) else latest.data
    assert len(rows) == N + 1
    assert [(r["name"], r["version"], r["category"]) for r in rows if r["category"] != "output"] == [
        (f"{FOLDER}/{SERIALIZER_CODE}", 1, "code")]
    rows = [r for r in rows if r["category"] == "output"]
    by_name: dict[str, list[int]] = {}
    for row in rows:
        by_name.setdefault(row["name"], []).append(row["version"])
    assert sorted(by_name.pop(f"{FOLDER}/obj")) == list(range(1, SAVED + 1))
    assert sorted(by_name.pop(f"{FOLDER}/square")) == list(range(1, SQUARED + 1))
    assert by_name == {f"{FOLDER}/file-{i:03d}": [1] for i in range(UPLOADED)}
    assert {r["category"] for r in rows} == {"output"}
    if kind != "threads":
        assert len(tables) == 1, f"{len(tables)} table versions: workers published too"

    # Exactly one artifact.created event per artifact, each related to the flow run.
    ids = sorted({a.id for a in saved + uploaded + squares})
    assert len(ids) == N
    total, _ = poll(lambda: _created_events(run_id), lambda found: found[0] >= N + 1, timeout=40, every=1.0)
    assert total == N + 1, f"{total} {EVENT_CREATED} events for {N} artifacts and the serializer code"
    for chunk in (ids[i:i + 40] for i in range(0, N, 40)):
        total, resources = _created_events(run_id, chunk)
        assert total == len(chunk) and sorted(resources) == [RESOURCE_PREFIX + i for i in chunk]

    # No error anywhere: not in the run's logs (the workers' included), not on any process's output.
    problems, total = _problem_logs(run_id)
    assert total > 0 and problems == []
    captured = capfd.readouterr()
    bad = [line for line in (captured.out + captured.err).splitlines() if _ERROR_LINE.search(line)]
    assert bad == []
    timings["total"] = time.monotonic() - started
    with capfd.disabled():
        print(f"\n{kind}: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))


def test_registry_tasks_know_their_registry_and_keep_it_through_with_options(tmp_path: Path) -> None:
    """What the flow's process notes for the end-of-run table, from each kind of task call."""
    block = ArtifactRegistry()
    assert isinstance(T.save_object, P.RegistryTask) and isinstance(square, P.RegistryTask)
    patient = T.save_object.with_options(retries=5)
    assert isinstance(patient, P.RegistryTask) and patient.retries == 5
    assert patient._registry_argument((1,), {"name": "x", "registry": "prod"}) == "prod"
    assert patient._registry_argument((1,), {"name": "x", "registry": unmapped(block)}) is block
    assert patient._registry_argument((1,), {"name": "x"}) is None
    names = list(inspect.signature(T.upload_file.fn).parameters)
    by_position = tuple("by-position" if n == "registry" else None for n in names[:names.index("registry") + 1])
    assert T.upload_file._registry_argument(by_position, {}) == "by-position"
    assert T.upload_file._registry_argument(([tmp_path],), {"registry": ["a", "b"]}) == "a"

    @T.artifact_task(registry="team", task_name="fixed")
    def fixed(registry: str) -> str:  # a parameter of the user's own, not the artifact registry
        return registry

    assert fixed.table_registry == "team" and fixed.with_options(retries=1).table_registry == "team"
    assert fixed._registry_argument(("other",), {}) == "team"


def test_in_flow_process_in_the_flow_and_its_threads() -> None:
    """Outside a run, in a flow and in its thread-pool tasks: the flow's own process."""

    @task(persist_result=False)
    def where() -> bool:
        return P.in_flow_process()

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def here() -> tuple[bool, bool, bool]:
        return P.in_flow_process(), where(), where.submit().result()

    assert P.in_flow_process() is True
    assert here() == (True, True, True)
