"""Serializer tasks: run names that show the serializer and its snapshot; retries on transient errors only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.context import TaskRunContext

from prefect_artifacts import tasks as T
from prefect_artifacts.errors import ArtifactNotFound, SerializerError, StorageError
from prefect_artifacts.serializers import Serializer, register_serializer, unregister_serializer

#: What each serialize call saw: the task run name and its attempt number.
calls: list[tuple[str | None, int]] = []
#: How serialize fails, per call: an exception to raise, or None to write.
failures: list[BaseException | None] = []


def _run() -> tuple[str | None, int]:
    ctx = TaskRunContext.get()
    return (ctx.task_run.name, ctx.task_run.run_count) if ctx else (None, 0)


class Flaky(Serializer):
    """Writes JSON after the failures queued in failures; loads report the task run they ran in."""

    name = "flaky-test"
    types = ()
    mime_type = "application/json"
    auto = False

    def serialize(self, obj: Any, directory: Path, **options: Any) -> str:
        calls.append(_run())
        failure = failures.pop(0) if failures else None
        if failure is not None:
            raise failure
        (directory / "obj.json").write_text(json.dumps(obj))
        return "obj.json"

    def deserialize(self, path: Path, **options: Any) -> Any:
        # Runs from the pinned snapshot (another module object): report through the value.
        return {"value": json.loads(path.read_text()), "run": _run()[0]}


@pytest.fixture(autouse=True)
def flaky() -> Iterator[None]:
    register_serializer(Flaky)
    calls.clear()
    failures.clear()
    yield
    unregister_serializer("flaky-test")


FAST = {"retry_delay_seconds": 0}  # the shipped delays are [1, 5] s


def test_run_names_show_serializer_and_snapshot_and_a_transient_failure_is_retried_once(task_registry: Any) -> None:
    failures.append(ConnectionResetError("disk went away for a moment"))
    save = T.save_object.with_options(**FAST)

    @flow
    def job() -> Any:
        art = save({"a": 1}, name="flaky", serializer="flaky-test", folder="/st")
        return art, T.load_object("/st/flaky:latest")

    art, loaded = job()
    pin = f"flaky-test@{art.serializer.snapshot_id[:8]}"
    assert calls == [(f"save_object[flaky, {pin}]", 1), (f"save_object[flaky, {pin}]", 2)]
    assert loaded == {"value": {"a": 1}, "run": f"load_object[/st/flaky:latest, {pin}]"}
    assert [a.version for a in task_registry.iter(search="name:flaky")] == [1]  # the retry made no second artifact


def test_load_object_asks_the_registry_once_for_its_name_and_its_body(
    task_registry: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    task_registry.save_object({"a": 1}, name="once", serializer="flaky-test", folder="/st")
    asked: list[str] = []
    get = type(task_registry).get
    monkeypatch.setattr(type(task_registry), "get", lambda self, ref: (asked.append(ref), get(self, ref))[1])

    @flow
    def job() -> Any:
        return T.load_object("/st/once:latest")

    # The name resolved it (the pinned serializer)...
    assert job()["run"].startswith("load_object[/st/once:latest, flaky-test@")
    assert asked.count("/st/once:latest") == 1  # ...and the body used that, not a second lookup


def test_shipped_tasks_retry_twice_with_backoff() -> None:
    for task in (T.save_object, T.asave_object, T.load_object, T.aload_object):
        assert task.retries == 2 and task.retry_delay_seconds == [1, 5], task.name


def test_permanent_errors_fail_at_once_and_transient_ones_after_the_retries(task_registry: Any) -> None:
    save = T.save_object.with_options(**FAST)

    @flow
    def job(name: str) -> None:
        save({"a": 1}, name=name, serializer="flaky-test", folder="/st")

    failures.append(ValueError("this object can never be written"))
    with pytest.raises(SerializerError, match="never be written"):
        job("bad")
    assert [attempt for _, attempt in calls] == [1]

    calls.clear()
    failures.extend([OSError("disk full")] * 3)
    with pytest.raises(SerializerError, match="disk full"):
        job("full")
    assert [attempt for _, attempt in calls] == [1, 2, 3]
    with pytest.raises(ArtifactNotFound):
        task_registry.get("/st/full")


def test_unknown_serializer_keeps_the_plain_run_name_and_fails_with_the_clear_error() -> None:
    @flow
    def job() -> str:
        T.save_object({"a": 1}, name="x", serializer="no-such-serializer")

    with pytest.raises(SerializerError, match="no-such-serializer"):
        job()
    assert calls == []


def test_is_transient_classifies_causes() -> None:
    wrapped = SerializerError("serializer 'x' failed to serialize: OSError: disk full")
    wrapped.__cause__ = OSError("disk full")
    assert T.is_transient(StorageError("connection reset")) and T.is_transient(wrapped)
    assert not T.is_transient(SerializerError("no serializer handles object"))
    assert not T.is_transient(ArtifactNotFound("x")) and not T.is_transient(ValueError("x"))


async def test_async_twins_are_named_too(task_registry: Any) -> None:
    @flow
    async def ajob() -> Any:
        art = await T.asave_object([1, 2], name="aflaky", serializer="flaky-test", folder="/st")
        return art, await T.aload_object("/st/aflaky:latest")

    art, loaded = await ajob()
    pin = f"flaky-test@{art.serializer.snapshot_id[:8]}"
    assert calls == [(f"asave_object[aflaky, {pin}]", 1)]
    assert loaded["run"] == f"aload_object[/st/aflaky:latest, {pin}]"
