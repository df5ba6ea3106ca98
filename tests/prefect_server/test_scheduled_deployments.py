"""Scheduled maintenance runs on a real server: flows/prefect.yaml under a worker, and flows/serve.py.

Covered: retention (`daily`), verify (`weekly`) and the offline-outbox sync (`sync`, every
15 minutes, one run at a time) from prefect.yaml; flows/serve.py registering all three
(`daily-served`, `weekly-served`, `sync-served`) and running retention.

Each deployment gets an interval of a few seconds next to its cron, so the server's
scheduler (not the test) creates the run; the test waits for it to finish, pauses the
deployment, and checks what the flow did to the registry.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.support.flow_scenarios import (
    EXPECTED_DELETED,
    EXPECTED_DELETED_ANY_FOLDER,
    RETENTION_PARAMS,
    corrupt_blob,
    live_refs,
    retention_scenario,
    write_file,
)
from tests.support.prefect_server import FLOWS, PREFECT_YAML, ROOT, WORK_POOL

if TYPE_CHECKING:
    from tests.support.prefect_server import Child, PrefectServer

pytestmark = pytest.mark.slow

INTERVAL = 5  # seconds between scheduled runs
RUN_TIMEOUT = 120  # deploy, scheduler loop, worker poll, flow-run process start, the flow itself
SPEC = {d["name"]: d for d in yaml.safe_load(PREFECT_YAML.read_text())["deployments"]}
FLOW_NAMES = {"flows/retention.py:retention": "artifact-retention", "flows/verify.py:verify": "artifact-verify",
              "flows/sync.py:sync": "artifact-sync"}


def _deploy_from_yaml(server: PrefectServer, name: str, *options: str) -> Any:
    """``prefect deploy --prefect-file flows/prefect.yaml --name <name> <options>``, as a user runs it."""
    from prefect.client.orchestration import get_client

    server.cli("--no-prompt", "deploy", "--prefect-file", str(PREFECT_YAML.relative_to(ROOT)), "--name", name,
               *options)
    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(f"{FLOW_NAMES[SPEC[name]['entrypoint']]}/{name}")


def _assert_from_yaml(deployment: Any, name: str, parameters: dict[str, Any]) -> None:
    spec = SPEC[name]
    assert deployment.entrypoint == spec["entrypoint"]
    assert deployment.work_pool_name == WORK_POOL == spec["work_pool"]["name"]
    assert deployment.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]
    assert deployment.parameters == {**spec["parameters"], **parameters}
    assert sorted(deployment.tags) == sorted(spec["tags"])
    schedules = [s.schedule for s in deployment.schedules]
    assert [s.cron for s in schedules if hasattr(s, "cron")] == [spec["schedules"][0]["cron"]]
    assert [s.timezone for s in schedules if hasattr(s, "cron")] == [spec["schedules"][0]["timezone"]]
    assert [s.interval for s in schedules if hasattr(s, "interval")] == [timedelta(seconds=INTERVAL)]
    limit = deployment.global_concurrency_limit
    assert (limit.limit if limit is not None else None) == spec.get("concurrency_limit")


def _assert_created_by_a_schedule(run: Any, deployment: Any) -> None:
    """The server's scheduler made the run from one of the deployment's schedules (not the test).

    Mostly the short interval; the prefect.yaml cron too when the test runs across one
    of its times (every 15 minutes for ``sync``: CI met it at 18:15).
    """
    assert run.auto_scheduled, f"flow run {run.id} was not created by the server's scheduler"
    assert run.created_by is not None and run.created_by.type == "SCHEDULE"
    assert run.created_by.id in {s.id for s in deployment.schedules}


def _assert_scheduled_run_by_worker(run: Any, deployment: Any, worker: Child) -> None:
    _assert_created_by_a_schedule(run, deployment)
    assert run.work_pool_name == WORK_POOL
    assert str(run.id) in worker.log.read_text(), f"the worker did not run {run.id}:\n{worker.tail()}"


def test_yaml_daily_retention_runs_on_schedule_under_the_worker(
    prefect_server: PrefectServer, process_worker: Child, worker_registry: Any, tmp_path: Path,
) -> None:
    retention_scenario(tmp_path, worker_registry)
    before = live_refs(worker_registry)
    blobs_before = len(list(worker_registry.store.iter_blobs()))
    deployment = _deploy_from_yaml(prefect_server, "daily", "--interval", str(INTERVAL),
                                   "--params", json.dumps(RETENTION_PARAMS))
    try:
        _assert_from_yaml(deployment, "daily", RETENTION_PARAMS)
        run = prefect_server.run_once_on_schedule(deployment.id, RUN_TIMEOUT, "daily retention from prefect.yaml")
    finally:
        prefect_server.stop_deployment(deployment.id)
    assert run.state.is_completed(), f"{run.state!r}\n{prefect_server.logs()}"
    _assert_scheduled_run_by_worker(run, deployment, process_worker)
    assert live_refs(worker_registry) == before - set(EXPECTED_DELETED), prefect_server.logs()
    assert len(list(worker_registry.store.iter_blobs())) == blobs_before - 2  # both blobs were unique, gc grace 0


def test_yaml_weekly_verify_labels_corrupt_artifacts_under_the_worker(
    prefect_server: PrefectServer, process_worker: Child, worker_registry: Any, tmp_path: Path,
) -> None:
    good = worker_registry.upload_file(write_file(tmp_path, "good", "good weekly content"), name="good",
                                       folder="/verify")
    bad = worker_registry.upload_file(write_file(tmp_path, "bad", "bad weekly content"), name="bad", folder="/verify",
                               labels=["keep"])
    twin = worker_registry.upload_file(write_file(tmp_path, "twin", "bad weekly content"), name="bad-twin",
                                folder="/verify")  # the same blob as bad
    corrupt_blob(worker_registry, bad.checksum)
    deployment = _deploy_from_yaml(prefect_server, "weekly", "--interval", str(INTERVAL))
    try:
        _assert_from_yaml(deployment, "weekly", {})
        run = prefect_server.run_once_on_schedule(deployment.id, RUN_TIMEOUT, "weekly verify from prefect.yaml")
    finally:
        prefect_server.stop_deployment(deployment.id)
    assert run.state.is_failed(), f"{run.state!r}\n{prefect_server.logs()}"
    assert "2 corrupt artifact(s)" in (run.state.message or ""), run.state.message
    _assert_scheduled_run_by_worker(run, deployment, process_worker)
    assert worker_registry.get(bad.id).labels == ["keep", "corrupt"], prefect_server.logs()
    assert worker_registry.get(twin.id).labels == ["corrupt"]
    assert worker_registry.get(good.id).labels == []


def test_yaml_sync_completes_on_schedule_while_the_artifact_server_is_unreachable(
    prefect_server: PrefectServer, process_worker: Child, tmp_path: Path,
) -> None:
    """Every 15 minutes while offline must not be a failed run: it completes, says why, and loses nothing."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from prefect_artifacts import ArtifactRegistry
    from prefect_artifacts.registry.offline import OfflineRegistry

    down = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # bound, never listening: connection refused
    down.bind(("127.0.0.1", 0))
    api_url = f"http://127.0.0.1:{down.getsockname()[1]}/api/v1"
    ArtifactRegistry(api_url=api_url).save("sync-unreachable", overwrite=True)
    outbox = OfflineRegistry.for_server(api_url, mode=True, retries=0)  # the worker's home: the same outbox
    art = outbox.upload_file(write_file(tmp_path, "offline", "written offline"), name="offline", folder="/sync")
    params = {"registry": "sync-unreachable"}
    try:
        deployment = _deploy_from_yaml(prefect_server, "sync", "--interval", str(INTERVAL),
                                       "--params", json.dumps(params))
        try:
            _assert_from_yaml(deployment, "sync", params)
            run = prefect_server.run_once_on_schedule(deployment.id, RUN_TIMEOUT, "sync from prefect.yaml")
        finally:
            prefect_server.stop_deployment(deployment.id)
        assert run.state.is_completed(), f"{run.state!r}\n{prefect_server.logs()}"
        _assert_scheduled_run_by_worker(run, deployment, process_worker)
        with get_client(sync_client=True) as client:
            tables = client.read_artifacts(artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
        reports = [t for t in tables if t.key == "artifact-sync-report"]
        assert len(reports) == 1, tables
        assert "server unreachable: 1 artifact(s) wait" in (reports[0].description or ""), reports[0]
        assert [a.id for a in outbox.pending()] == [art.id]  # still queued for the next sync
    finally:
        outbox.close()
        down.close()


def test_served_retention_runs_on_schedule_and_leaves_the_yaml_deployment_alone(
    prefect_server: PrefectServer, work_pool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from prefect_artifacts.tasks import resolve_registry

    if str(FLOWS) not in sys.path:
        sys.path.insert(0, str(FLOWS))
    import serve

    with get_client(sync_client=True) as client:
        try:
            yaml_daily = client.read_deployment_by_name("artifact-retention/daily")
        except ObjectNotFound:  # this test alone: deploy it, paused (no run of it here)
            yaml_daily = _deploy_from_yaml(prefect_server, "daily")
            client.pause_deployment(yaml_daily.id)

    home = prefect_server.root / "serve-home"  # serve's own registry: retention over all its folders
    monkeypatch.setenv("PREFECT_ARTIFACTS_HOME", str(home))
    registry = resolve_registry()
    retention_scenario(tmp_path, registry)
    before = live_refs(registry)
    blobs_before = len(list(registry.store.iter_blobs()))
    served = prefect_server.spawn(
        "serve", [sys.executable, "flows/serve.py", "--every", str(INTERVAL), "--keep-last", "1", "--keep-days", "0"],
        env=prefect_server.env(home, PREFECT_ARTIFACTS_GC_GRACE_SECONDS="0"))
    names = {"artifact-retention": serve.RETENTION_DEPLOYMENT, "artifact-verify": serve.VERIFY_DEPLOYMENT,
             "artifact-sync": serve.SYNC_DEPLOYMENT}

    def served_deployments() -> dict[str, Any]:
        assert served.alive(), f"flows/serve.py exited:\n{served.tail()}"
        with get_client(sync_client=True) as client:
            found = {}
            for flow_name, name in names.items():
                with contextlib.suppress(ObjectNotFound):
                    found[name] = client.read_deployment_by_name(f"{flow_name}/{name}")
            return found

    deployments: dict[str, Any] = {}
    try:
        deployments = prefect_server.wait_for(served_deployments, lambda found: len(found) == 3, 90,
                                              "flows/serve.py registering its deployments")
        with get_client(sync_client=True) as client:  # only retention runs here (verify could race its gc)
            client.pause_deployment(deployments[serve.VERIFY_DEPLOYMENT].id)
            client.pause_deployment(deployments[serve.SYNC_DEPLOYMENT].id)
        retention_deployment = deployments[serve.RETENTION_DEPLOYMENT]
        run = prefect_server.run_once_on_schedule(retention_deployment.id, RUN_TIMEOUT, "served retention")
    finally:
        for deployment in deployments.values():
            prefect_server.stop_deployment(deployment.id)
        served.stop()
    assert run.state.is_completed(), f"{run.state!r}\n{prefect_server.logs()}"
    _assert_created_by_a_schedule(run, retention_deployment)
    assert run.work_pool_name is None
    assert retention_deployment.parameters == {"keep_last": 1, "keep_days": 0}
    assert [s.schedule.interval for s in retention_deployment.schedules] == [timedelta(seconds=INTERVAL)]
    sync_deployment = deployments[serve.SYNC_DEPLOYMENT]
    assert sync_deployment.parameters == {"dry_run": False}
    assert [s.schedule.interval for s in sync_deployment.schedules] == [timedelta(seconds=INTERVAL)]
    assert sync_deployment.global_concurrency_limit is not None and sync_deployment.global_concurrency_limit.limit == 1
    assert live_refs(registry) == before - set(EXPECTED_DELETED_ANY_FOLDER), prefect_server.logs()
    assert len(list(registry.store.iter_blobs())) == blobs_before - 3

    # Serving did not overwrite prefect.yaml's deployment of the same flow.
    with get_client(sync_client=True) as client:
        daily_now = client.read_deployment_by_name("artifact-retention/daily")
    assert retention_deployment.id != daily_now.id == yaml_daily.id
    assert daily_now.work_pool_name == WORK_POOL and daily_now.pull_steps == yaml_daily.pull_steps
    assert daily_now.entrypoint == SPEC["daily"]["entrypoint"]
