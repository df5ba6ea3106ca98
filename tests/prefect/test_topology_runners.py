"""Prefect flows on a process pool and on Dask, writing through docs/deploy.md's topology.

The registry is an `ArtifactRegistry` block pointing at the balancer in front of two
replicas (`tests.support.topology`); the block is pickled to the task runner's workers,
which open their own connections, so the two replicas share one flow's writes. The
suite's other runner test (test_runners.py) does the same at 200 task runs on the
embedded registry; this one keeps the run small and checks what a shared deployment
adds: one flow's versions gap-free across replicas, and every byte readable through
either replica.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.task_runners import ProcessPoolTaskRunner
from prefect.utilities.annotations import unmapped

from prefect_artifacts import ArtifactRegistry
from prefect_artifacts import tasks as T
from prefect_artifacts.registry.http import HttpRegistry
from tests.support.topology import Topology, new_key

pytestmark = pytest.mark.slow

FILES, OBJECTS = 8, 6


def _dask_runner() -> Any:
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 2, "processes": True,
                                          "dashboard_address": None, "worker_dashboard_address": None})


@pytest.mark.parametrize("kind", ["processes", "dask"])
def test_mapped_tasks_on_worker_processes_write_through_two_replicas(
    kind: str, topology: Topology, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    if kind == "dask":  # its sampling profiler logs tracebacks of its own on 3.11 (see test_runners.py)
        import dask
        import distributed  # noqa: F401  (adds its defaults to dask's config)

        monkeypatch.setitem(dask.config.config["distributed"]["worker"]["profile"], "enabled", False)
    key = new_key(topology, "writer")
    block = ArtifactRegistry(api_url=topology.url, api_key=key)
    files = []
    for i in range(FILES):
        files.append(tmp_path / f"{kind}-{i}.txt")
        files[-1].write_text(f"{kind} row {i}\n")
    runner = ProcessPoolTaskRunner(max_workers=2) if kind == "processes" else _dask_runner()

    @flow(name=f"topology-{kind}", task_runner=runner)
    def fan_out() -> tuple[list[Any], list[Any]]:
        uploaded = T.upload_file.map(files, name=[f"{kind}-{i}" for i in range(FILES)], folder=unmapped("/team"),
                                     registry=unmapped(block))
        saved = T.save_object.map(list(range(OBJECTS)), name=unmapped(f"{kind}-obj"), folder=unmapped("/team"),
                                  registry=unmapped(block))
        return [f.result() for f in uploaded], [f.result() for f in saved]

    uploaded, saved = fan_out()
    assert sorted(a.version for a in saved) == list(range(1, OBJECTS + 1))  # one name, every worker: gap-free
    for replica in topology.replicas:  # each replica serves every byte
        with HttpRegistry(replica.url, api_key=key) as reader:
            for i, art in enumerate(uploaded):
                assert b"".join(reader.get(art.id).as_stream()) == f"{kind} row {i}\n".encode()
            assert sorted(reader.load_object(a.id) for a in saved) == list(range(OBJECTS))
            assert reader.count(search=f"name:{kind}-obj") == OBJECTS
    assert all(a.checksum == hashlib.sha256(f"{kind} row {i}\n".encode()).hexdigest()
               for i, a in enumerate(uploaded))
