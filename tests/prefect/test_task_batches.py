"""The ``upload_many`` task: many files in one task run, each an output of the flow run, keyed per item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.runtime import flow_run as runtime_flow_run

from prefect_artifacts import tasks as T
from prefect_artifacts._aspects import PRODUCER_ASPECT
from prefect_artifacts.errors import InvalidArtifactInput


def _files(tmp_path: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        paths.append(tmp_path / f"f{i}.csv")
        paths[-1].write_text(f"x\n{i}\n")
    return paths


def test_upload_many_registers_each_file_as_an_output_of_the_run(tmp_path: Path, task_registry: Any) -> None:
    paths = _files(tmp_path, 4)

    @flow
    def ingest() -> tuple[str, list[Any]]:
        items = [{"path": str(p), "labels": ["raw"]} for p in paths[:3]] + [{"path": str(paths[3]), "name": "last"}]
        return str(runtime_flow_run.id), T.upload_many(items, folder="/batch")

    run_id, arts = ingest()
    assert [a.name for a in arts] == ["f0.csv", "f1.csv", "f2.csv", "last"]
    assert [a.open().read() for a in arts] == [f"x\n{i}\n".encode() for i in range(4)]
    assert sorted(a.name for a in task_registry.run_artifacts(run_id, "output")) == ["f0.csv", "f1.csv", "f2.csv",
                                                                                       "last"]
    assert task_registry.get("/batch/f0.csv").labels == ["raw"]
    producers = task_registry.list_aspects(arts[0].id, schema=PRODUCER_ASPECT)
    assert len(producers) == 1 and producers[0].content["flow_run_id"] == run_id  # written in the create
    assert producers[0].content["task_run_name"].startswith("upload_many[4 files]")


def test_a_retried_upload_many_makes_no_item_twice(tmp_path: Path, task_registry: Any) -> None:
    paths = _files(tmp_path, 3)
    missing = paths[1]
    missing.unlink()  # the first attempt fails on this item, after the others are registered
    attempts = []

    def file_arrives_then_retry(task: Any, task_run: Any, state: Any) -> bool:
        attempts.append(state)
        missing.write_text("x\n1\n")
        return True

    flaky = T.upload_many.with_options(retries=1, retry_delay_seconds=0, retry_condition_fn=file_arrives_then_retry)

    @flow
    def ingest() -> list[Any]:
        return flaky([{"path": str(p)} for p in paths], folder="/retried")

    arts = ingest()
    assert len(attempts) == 1 and [a.name for a in arts] == ["f0.csv", "f1.csv", "f2.csv"]
    for name in ("f0.csv", "f1.csv", "f2.csv"):  # the retry returned the first attempt's artifacts
        assert [a.version for a in task_registry.list(search=f"name:{name}").data] == [1]


def test_upload_many_names_a_bad_item_and_registers_the_others(tmp_path: Path, task_registry: Any) -> None:
    paths = _files(tmp_path, 2)

    @flow
    def ingest() -> list[Any]:
        return T.upload_many([{"path": str(paths[0])}, {"path": str(tmp_path / "nope.csv")}, {"path": str(paths[1])},
                              {"path": str(paths[1]), "conflict_strategy": "sometimes"}], folder="/partial")

    with pytest.raises(InvalidArtifactInput, match=r"item 1: .*nope.csv.* \(and 1 more of 4 items failed\)"):
        ingest()
    assert sorted(a.name for a in task_registry.list(folder="/partial").data) == ["f0.csv", "f1.csv"]
    with pytest.raises(InvalidArtifactInput, match="list of mappings"):
        T.upload_many.fn("a.csv")


async def test_aupload_many_in_an_async_flow(tmp_path: Path, task_registry: Any) -> None:
    paths = _files(tmp_path, 2)

    @flow
    async def ingest() -> tuple[str, list[Any]]:
        return str(runtime_flow_run.id), await T.aupload_many([{"path": str(p)} for p in paths], folder="/async")

    run_id, arts = await ingest()
    assert [a.name for a in arts] == ["f0.csv", "f1.csv"]
    assert sorted(a.name for a in task_registry.run_artifacts(run_id, "output")) == ["f0.csv", "f1.csv"]
