"""One real ``prefect server start`` for this directory: scheduler, triggers and every other service.

`prefect_test_harness` runs no services, so a scheduler that never creates a run (Prefect
3.9.0 on SQLAlchemy 2.1) goes unnoticed there. These tests start the server as a user
does, with a temporary PREFECT_HOME and SQLite database, the UI off, a 2 s scheduler loop
and one future run per schedule (PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS and
_MAX_RUNS: the same names in Prefect 3.8 and 3.9), then drive it with a real worker,
``prefect deploy`` and ``flows/serve.py`` subprocesses. Every child process gets this
server's PREFECT_API_URL and an explicit PREFECT_ARTIFACTS_HOME; the tests (autouse
fixture below) use the worker's home, so test, worker and flow runs read and write one
embedded registry.

Every process started here runs in its own process group and is stopped, with its
descendants (flow-run processes), when the session ends, whether tests passed or not.
`PrefectServer` and `Child` are in tests/support/prefect_server.py; the fixtures are here.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.prefect_server import WORK_POOL, Child, PrefectServer


def _drain_prefect_clients() -> None:
    """Send this process's pending logs, events and artifact tables before the server goes away."""
    import inspect

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    from prefect_artifacts._prefect import PUBLISHER

    PUBLISHER.flush(30)

    async def drain() -> None:
        for result in (APILogWorker.drain_all(), EventsWorker.drain_all()):
            if inspect.isawaitable(result):
                await result

    run_coro_as_sync(drain())


@pytest.fixture(scope="session")
def prefect_server(request: pytest.FixtureRequest) -> Iterator[PrefectServer]:
    """A real Prefect server for the session; this process's Prefect client talks to it.

    Its folder (database, logs, registries) is removed afterwards unless a test failed.
    """
    from prefect.context import _temporary_global_settings_context, get_settings_context
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings

    server = PrefectServer(Path(tempfile.mkdtemp(prefix="prefect-server-")))
    try:
        server.start()
        # Threads do not inherit context variables: without the global settings context, a
        # background thread (the artifact table publisher) would start an ephemeral server
        # of its own. prefect_test_harness does the same.
        with (
            temporary_settings({PREFECT_API_URL: server.url, PREFECT_SERVER_ANALYTICS_ENABLED: False}),
            _temporary_global_settings_context(get_settings_context()),
        ):
            try:
                yield server
            finally:
                _drain_prefect_clients()
    finally:
        server.stop()
    if request.session.testsfailed:
        print(f"\nprefect server folder kept: {server.root}")
    else:
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def work_pool(prefect_server: PrefectServer) -> str:
    """flows/prefect.yaml's work pool, of type ``process`` (``prefect deploy`` needs it to exist)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=WORK_POOL, type="process",
                                               base_job_template=ProcessWorker.get_default_base_job_template()))
    return WORK_POOL


@pytest.fixture(scope="session")
def process_worker(prefect_server: PrefectServer, work_pool: str) -> Child:
    """``prefect worker start --type process`` polling flows/prefect.yaml's work pool."""
    from prefect.client.orchestration import get_client

    work_dir = prefect_server.root / "worker"
    work_dir.mkdir()
    worker = prefect_server.spawn("worker", [sys.executable, "-m", "prefect", "worker", "start", "--pool", work_pool,
                                             "--type", "process", "--name", "test-worker"], cwd=work_dir)

    def workers() -> list[Any]:
        assert worker.alive(), f"worker exited:\n{worker.tail()}"
        with get_client(sync_client=True) as client:
            return client.read_workers_for_work_pool(work_pool)

    prefect_server.wait_for(workers, bool, 90, f"a worker polling work pool {work_pool!r}")
    return worker


@pytest.fixture(autouse=True)
def _worker_home(_isolated_home: Path, prefect_server: PrefectServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tests' registry is the worker's (tests/conftest.py gave each test its own home first)."""
    monkeypatch.setenv("PREFECT_ARTIFACTS_HOME", str(prefect_server.home))
    monkeypatch.setenv("PREFECT_ARTIFACTS_DURABLE", "false")
    return prefect_server.home


@pytest.fixture
def worker_registry(_worker_home: Path) -> Any:
    """The registry of the worker's home, as the tasks resolve it."""
    from prefect_artifacts.tasks import resolve_registry

    return resolve_registry()
