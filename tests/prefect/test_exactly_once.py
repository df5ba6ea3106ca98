"""Exactly once across retries: a task retry and a flow-run retry register each call's artifact once,
and every artifact a call produced gets exactly one ``prefect-artifacts.artifact.created`` event.

Failures are real: a registry that commits a write and then loses the answer (the
embedded registry with a `ConnectionResetError` raised after its catalog commit), a
flow whose first attempt raises after its writes, and a registry server behind a
proxy that drops the create's response.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, task
from prefect.context import TaskRunContext
from prefect.runtime import flow_run as runtime_flow_run

from prefect_artifacts import tasks as T
from prefect_artifacts._prefect import EVENT_CREATED, RESOURCE_PREFIX, created_event_id, current_run
from prefect_artifacts.models import ArtifactManifest, ConflictStrategy
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.local import LocalRegistry

FAST = {"retry_delay_seconds": 0}  # the shipped delays are [1, 5] s
#: The built-in serializers' source, linked as code to the runs that saved objects (once, keyed like the writes).
SERIALIZER_CODE = "serializer-prefect_artifacts.serializers.builtins"


class LosesAnswers(LocalRegistry):
    """The embedded registry, except that chosen writes commit and then fail, like a reset connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lose: set[str] = set()  # artifact names whose next create commits, then raises
        self.lost: list[str] = []

    def _create(self, manifest: ArtifactManifest, strategy: ConflictStrategy, make_folder: bool) -> Any:
        art = super()._create(manifest, strategy, make_folder)
        if manifest.name in self.lose:
            self.lose.discard(manifest.name)
            self.lost.append(manifest.name)
            raise ConnectionResetError(f"connection reset after {manifest.name} was committed")
        return art


@pytest.fixture
def lossy(task_registry: Any) -> Iterator[LosesAnswers]:
    """A second registry object over the test's embedded home (same catalog, same blobs)."""
    reg = LosesAnswers.from_urls()
    yield reg
    reg.close()


def _files(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data.csv"
    data.write_text("x,y\n1,2\n")
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("bb")
    return data, folder


def _versions(reg: Any, folder: str, name: str) -> list[int]:
    return sorted(a.version for a in reg.iter(folder=folder) if a.name == name)


def created_events(art_ids: list[str], poll: Callable[..., Any]) -> dict[str, int]:
    """How many ``artifact.created`` events Prefect stored per artifact, once all sent so far are stored.

    A sentinel event is emitted after everything else; events go out in order, so once
    it is stored every earlier one (a duplicate included) would be stored too.
    """
    from prefect.client.orchestration import get_client
    from prefect.events import emit_event
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    sentinel = f"prefect-artifacts.test.sentinel.{uuid.uuid4()}"
    emit_event("prefect-artifacts.test.sentinel", resource={"prefect.resource.id": sentinel})

    def read(name: str, ids: list[str]) -> list[Any]:
        with get_client(sync_client=True) as client:
            page = client.read_events(filter=EventFilter(event=EventNameFilter(name=[name]),
                                                         resource=EventResourceFilter(id=ids)), limit=50)
        return list(page.events)

    assert poll(lambda: read("prefect-artifacts.test.sentinel", [sentinel]), bool, timeout=40), "sentinel not stored"
    counts = dict.fromkeys(art_ids, 0)
    for event in read(EVENT_CREATED, [f"{RESOURCE_PREFIX}{i}" for i in art_ids]):
        counts[event.resource.id.removeprefix(RESOURCE_PREFIX)] += 1
        assert event.id == created_event_id(event.resource.id.removeprefix(RESOURCE_PREFIX))
    return counts


# -- the call key ----------------------------------------------------------------------------

seen: list[tuple[int, str, str, str | None]] = []  # (flow attempt, call label, task run id, key)
flow_attempt: list[int] = []  # the running flow attempt (not a task argument: arguments name the call)


@task
def probe(label: str) -> None:
    ctx = TaskRunContext.get()
    assert ctx is not None
    seen.append((flow_attempt[-1], label, str(ctx.task_run.id), T.idempotency_key(current_run(), "w")))


@task(retries=1, retry_delay_seconds=0)
def flaky_probe(label: str) -> None:
    probe.fn(label)
    ctx = TaskRunContext.get()
    if ctx is not None and ctx.task_run.run_count == 1:
        raise RuntimeError("first try of the task fails")


def test_call_keys_are_stable_across_task_and_flow_run_retries() -> None:
    """A call's key is the same in every attempt of its flow run and in every try of its task run.

    Prefect's own ``dynamic_key`` is random for local task runs (Prefect 3.8 and 3.9), so
    the key is made of the task, its arguments and its number among identical calls.
    """
    seen.clear()
    flow_attempt.clear()

    @flow(retries=1, retry_delay_seconds=0)
    def job() -> str:
        flow_attempt.append(len(flow_attempt) + 1)
        probe("a")
        probe("b")
        probe("same")  # two identical calls: numbered 0 and 1
        probe("same")
        [f.result() for f in probe.map(["m0", "m1"])]
        flaky_probe("f")
        if flow_attempt[-1] == 1:
            raise RuntimeError("the first attempt of the flow run fails after its calls")
        return str(runtime_flow_run.id)

    run_id = job()
    assert flow_attempt == [1, 2]
    calls: dict[int, dict[tuple[str, int], tuple[str, str | None]]] = {1: {}, 2: {}}
    for attempt, label, task_run_id, key in seen:  # (label, n-th record of it) -> (task run, key)
        nth = sum(1 for other in calls[attempt] if other[0] == label)
        calls[attempt][(label, nth)] = (task_run_id, key)
    expected = [("a", 0), ("b", 0), ("same", 0), ("same", 1), ("m0", 0), ("m1", 0), ("f", 0), ("f", 1)]
    assert sorted(calls[1]) == sorted(calls[2]) == sorted(expected)
    keys = {call: calls[1][call][1] for call in expected}
    assert {call: calls[2][call][1] for call in expected} == keys, "a call changed its key on the flow-run retry"
    assert all(k is not None and k.startswith(f"prefect-call:{run_id}:") and len(k) <= 100 for k in keys.values())
    assert len(set(keys.values())) == 7, "distinct calls must have distinct keys (f's two tries share one)"
    assert calls[1][("f", 0)] == calls[1][("f", 1)]  # the task retry: one task run, one key
    assert not {tr for tr, _ in calls[1].values()} & {tr for tr, _ in calls[2].values()}  # new task runs


def test_outside_a_flow_run_the_key_is_the_task_runs() -> None:
    keys: list[str | None] = []

    @task
    def loose() -> None:
        keys.append(T.idempotency_key(current_run()))

    loose()
    assert keys[0] is not None and keys[0].startswith("prefect-task-run:-:")
    assert T.idempotency_key(current_run()) is None  # no task run: no key


# -- a task retry after a committed write ----------------------------------------------------------


def test_task_retry_after_a_committed_write_registers_once_with_one_event(
    tmp_path: Path, task_registry: Any, lossy: LosesAnswers, poll: Callable[..., Any],
) -> None:
    data, folder = _files(tmp_path)
    code = tmp_path / "job_code.py"
    code.write_text("print('job')\n")
    lossy.lose = {"raw", "plots", "ref", "model", "job_code.py", "made", SERIALIZER_CODE}

    @T.artifact_task(artifact_name="made", folder="/once", registry=lossy, retries=1, retry_delay_seconds=0)
    def make() -> dict[str, int]:
        return {"rows": 2}

    @flow
    def job() -> tuple[str, list[Any]]:
        arts = [
            T.upload_file.with_options(**FAST)(data, name="raw", folder="/once", registry=lossy),
            T.upload_dir.with_options(**FAST)(folder, name="plots", folder="/once", registry=lossy),
            T.add_reference.with_options(**FAST)(data.as_uri(), name="ref", folder="/once", registry=lossy),
            T.save_object.with_options(**FAST)({"w": 1}, name="model", folder="/once", registry=lossy),
            T.log_code.with_options(**FAST)(code, folder="/once", registry=lossy),
        ]
        make()
        return str(runtime_flow_run.id), arts

    run_id, arts = job()
    assert sorted(lossy.lost) == sorted(["raw", "plots", "ref", "model", "job_code.py", "made", SERIALIZER_CODE])
    names = ["raw", "plots", "ref", "model", "job_code.py", "made", SERIALIZER_CODE]
    for name in names:
        assert _versions(task_registry, "/once", name) == [1], name
    outputs = sorted(a.name for a in task_registry.run_artifacts(run_id, "output"))
    assert outputs == sorted(["raw", "plots", "ref", "model", "made"])
    assert sorted(a.name for a in task_registry.run_artifacts(run_id, "code")) == ["job_code.py", SERIALIZER_CODE]
    # the retries returned them
    assert [a.id for a in arts] == [task_registry.get(f"/once/{n}:1").id for n in names[:5]]
    ids = [task_registry.get(f"/once/{n}:1").id for n in names]
    assert created_events(ids, poll) == dict.fromkeys(ids, 1)


async def test_async_task_retry_after_a_committed_write_registers_once(
    tmp_path: Path, task_registry: Any, lossy: LosesAnswers,
) -> None:
    data, _ = _files(tmp_path)
    lossy.lose = {"araw", "aobj"}

    @flow
    async def ajob() -> str:
        await T.aupload_file.with_options(**FAST)(data, name="araw", folder="/once", registry=lossy)
        await T.asave_object.with_options(**FAST)([1, 2], name="aobj", folder="/once", registry=lossy)
        return str(runtime_flow_run.id)

    run_id = await ajob()
    assert sorted(lossy.lost) == ["aobj", "araw"]
    assert _versions(task_registry, "/once", "araw") == _versions(task_registry, "/once", "aobj") == [1]
    assert sorted(a.name for a in task_registry.run_artifacts(run_id, "output")) == ["aobj", "araw"]


# -- a flow-run retry ---------------------------------------------------------------------------


def test_flow_run_retry_registers_each_output_once_with_one_event(
    tmp_path: Path, task_registry: Any, poll: Callable[..., Any],
) -> None:
    data, folder = _files(tmp_path)
    code = tmp_path / "flow_code.py"
    code.write_text("print('flow')\n")
    attempts: list[int] = []

    @T.artifact_task(artifact_name="made", folder="/fr")
    def make(n: int) -> list[int]:
        return list(range(n))

    @flow(retries=1, retry_delay_seconds=0)
    def job() -> str:
        attempts.append(1)
        T.upload_file(data, name="raw", folder="/fr")
        T.upload_dir(folder, name="plots", folder="/fr")
        T.add_reference(data.as_uri(), name="ref", folder="/fr")
        T.save_object({"w": 1}, name="model", folder="/fr")
        T.log_code(code, folder="/fr")
        make(3)
        if len(attempts) == 1:
            raise RuntimeError("the first attempt fails after its writes")
        return str(runtime_flow_run.id)

    run_id = job()
    assert len(attempts) == 2
    names = ["raw", "plots", "ref", "model", "flow_code.py", "made", SERIALIZER_CODE]
    for name in names:
        assert _versions(task_registry, "/fr", name) == [1], name
    outputs = [a.name for a in task_registry.run_artifacts(run_id, "output")]
    assert sorted(outputs) == sorted(["raw", "plots", "ref", "model", "made"])  # each once
    assert sorted(a.name for a in task_registry.run_artifacts(run_id, "code")) == ["flow_code.py", SERIALIZER_CODE]
    ids = [task_registry.get(f"/fr/{n}:1").id for n in names]
    assert created_events(ids, poll) == dict.fromkeys(ids, 1)


def test_a_reused_key_returns_the_recorded_artifact_even_if_the_content_changed(
    tmp_path: Path, task_registry: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    """The first committed write of a call wins: a retry that computed other bytes gets the recorded version."""
    out = tmp_path / "result.txt"
    attempts: list[int] = []

    @flow(retries=1, retry_delay_seconds=0)
    def job() -> Any:
        attempts.append(1)
        out.write_text(f"attempt {len(attempts)}")
        art = T.upload_file(out, name="result", folder="/fr")
        if len(attempts) == 1:
            raise RuntimeError("fails after the write")
        return art

    with caplog.at_level("INFO"):
        art = job()
    assert _versions(task_registry, "/fr", "result") == [1]
    assert b"".join(task_registry.read(art.id)) == b"attempt 1" and art.version == 1
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Registered /fr/result:1")]
    assert len(lines) == 2 and lines[1].endswith("(recorded by an earlier attempt of this call)"), lines


# -- skip: this call's version or somebody else's -----------------------------------------------


def test_skip_to_somebody_elses_version_emits_nothing_but_a_committed_own_write_emits_once(
    tmp_path: Path, task_registry: Any, poll: Callable[..., Any],
) -> None:
    data, _ = _files(tmp_path)
    theirs = task_registry.upload_file(data, name="theirs", folder="/skip")  # outside Prefect: no event
    attempts: list[int] = []

    @flow(retries=1, retry_delay_seconds=0)
    def job() -> tuple[str, Any, Any, Any]:
        attempts.append(1)
        skipped = T.upload_file(data, name="theirs", folder="/skip", conflict_strategy="skip")
        mine = T.upload_file(data, name="mine", folder="/skip", conflict_strategy="skip")
        again = T.upload_file(data, name="mine", folder="/skip", conflict_strategy="skip")  # another call
        if len(attempts) == 1:
            raise RuntimeError("fails after the writes")
        return str(runtime_flow_run.id), skipped, mine, again

    run_id, skipped, mine, again = job()
    assert skipped.id == theirs.id and _versions(task_registry, "/skip", "theirs") == [1]
    assert _versions(task_registry, "/skip", "mine") == [1] and mine.id == again.id
    assert sorted(a.name for a in task_registry.run_artifacts(run_id, "output")) == ["mine", "theirs"]
    assert created_events([theirs.id, mine.id], poll) == {theirs.id: 0, mine.id: 1}


# -- a registry server that loses the create's answer ----------------------------------------------


def test_http_registry_create_answer_lost_registers_once_with_one_event(
    tmp_path: Path, poll: Callable[..., Any],
) -> None:
    from prefect_artifacts._server import NoAuth
    from tests.support.live_server import LiveServer
    from tests.support.proxies import DroppingProxy, Rule
    from tests.support.registries import make_registry

    server = LiveServer(make_registry(tmp_path / "server"), auth=NoAuth()).start()
    proxy = DroppingProxy(server.port)
    try:
        proxy.rules.append(Rule(b"POST /api/v1/artifacts ", times=1))  # committed, the client sees nothing
        data = tmp_path / "over-http.txt"
        data.write_text("exactly once over HTTP")
        with HttpRegistry(proxy.url(), retries=0, backoff=0.01) as http:

            @flow
            def job() -> tuple[str, Any]:
                art = T.upload_file.with_options(**FAST)(data, name="over-http", folder="/http", registry=http)
                return str(runtime_flow_run.id), art

            run_id, art = job()
        creates = [r for r in proxy.requests if r.startswith(b"POST /api/v1/artifacts ")]
        assert len(creates) == 2  # the lost one and the task retry's, under the same key
        stored = server.registry.list(page_length=10).data
        assert [a.id for a in stored] == [art.id] and art.version == 1
        assert [a.id for a in server.registry.run_artifacts(run_id, "output")] == [art.id]
        assert created_events([art.id], poll) == {art.id: 1}
    finally:
        proxy.close()
        server.stop()
        server.registry.close()
