"""Maintenance flows, their deployments and triggers, and the example pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.exceptions import ParameterTypeError
from prefect.settings import PREFECT_API_URL

from prefect_artifacts import tasks as T
from prefect_artifacts.errors import ArtifactIntegrityError
from tests.support.flow_scenarios import (
    EXPECTED_DELETED,
    RETENTION_PARAMS,
    corrupt_blob,
    live_refs,
    retention_scenario,
    write_file,
)

FLOWS = Path(__file__).resolve().parents[2] / "flows"
sys.path.insert(0, str(FLOWS))

import example_pipeline  # noqa: E402
import retention as retention_mod  # noqa: E402
import serve as serve_mod  # noqa: E402
import sync as sync_mod  # noqa: E402
import verify as verify_mod  # noqa: E402


def _execute_flow_run(flow_run_id: Any) -> None:
    """Run a scheduled flow run to its end through Prefect's public CLI, as a worker's process would."""
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    done = subprocess.run([sys.executable, "-m", "prefect", "flow-run", "execute", str(flow_run_id)],
                          env=env, cwd=FLOWS.parent, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def test_retention_rules_dry_run_and_validation(tmp_path: Path, task_registry: Any) -> None:
    retention_scenario(tmp_path, task_registry)
    before = live_refs(task_registry)
    report = retention_mod.retention(**RETENTION_PARAMS, dry_run=True)
    assert report["deleted"] == EXPECTED_DELETED
    assert set(report["protected"]) == {"/ret/raw:1", "/ret/seed:1"}  # seed:1 transitively
    assert live_refs(task_registry) == before and report["gc"]["dry_run"] is True
    kept_all = retention_mod.retention(keep_last=1, keep_days=30, folder="/ret", dry_run=True)
    assert kept_all["deleted"] == []  # everything is younger than 30 days
    with pytest.raises(ParameterTypeError):
        retention_mod.retention(keep_last=-1)
    with pytest.raises(ParameterTypeError):
        retention_mod.retention(keep_days="soon")


async def test_retention_deployment_runs_and_deletes_exactly_its_rules(tmp_path: Path, task_registry: Any) -> None:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    retention_scenario(tmp_path, task_registry)
    blobs_before = len(list(task_registry.store.iter_blobs()))
    before = live_refs(task_registry)
    deployment_id = await (await retention_mod.retention.ato_deployment(name="test-retention")).apply()
    flow_run = await run_deployment("artifact-retention/test-retention", parameters=RETENTION_PARAMS, timeout=0)
    assert flow_run.deployment_id == deployment_id and flow_run.state.is_scheduled()
    _execute_flow_run(flow_run.id)
    async with get_client() as client:
        done = await client.read_flow_run(flow_run.id)
    assert done.state.is_completed(), done.state
    assert before - live_refs(task_registry) == set(EXPECTED_DELETED)
    assert len(list(task_registry.store.iter_blobs())) == blobs_before - 2  # both blobs were unique
    assert task_registry.get("/ret/raw:1").version == 1 and task_registry.get("/other/other:1").version == 1


async def test_event_trigger_starts_a_deployment_run(tmp_path: Path, poll: Any) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.events import DeploymentEventTrigger

    trigger = DeploymentEventTrigger(
        expect={"prefect-artifacts.artifact.created"},
        match={"prefect.resource.id": "prefect-artifacts.artifact.*", "prefect-artifacts.folder": "/trigger"},
        parameters={"folder": "{{ event.payload.folder }}", "dry_run": True},
    )
    deployment = await retention_mod.retention.ato_deployment(name="on-artifact", triggers=[trigger])
    deployment_id = await deployment.apply()
    data = write_file(tmp_path, "t.txt", "trigger me")

    @flow
    async def producer() -> None:
        await T.aupload_file(data, name="trigger-me", folder="/trigger")

    await producer()

    def runs() -> list[Any]:
        with get_client(sync_client=True) as client:
            return client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))

    found = poll(runs, bool, timeout=30)
    assert found, "no flow run created by the DeploymentEventTrigger"
    assert found[0].parameters["folder"] == "/trigger" and found[0].parameters["dry_run"] is True


def test_verify_flags_corrupt_artifacts_and_fails(tmp_path: Path, task_registry: Any) -> None:
    good = task_registry.upload_file(write_file(tmp_path, "good", "good content"), name="good")
    bad = task_registry.upload_file(write_file(tmp_path, "bad", "bad content"), name="bad", labels=["keep"])
    twin = task_registry.upload_file(write_file(tmp_path, "twin", "bad content"), name="bad-twin")  # same blob
    tree = task_registry.upload_dir(_tree(tmp_path), name="tree")
    report = verify_mod.verify()
    assert report["corrupt"] == {} and report["blobs_checked"] == 4 and report["artifacts"] == 4
    corrupt_blob(task_registry, bad.checksum)
    with pytest.raises(ArtifactIntegrityError, match="2 corrupt"):
        verify_mod.verify()
    assert task_registry.get(bad.id).labels == ["keep", "corrupt"]
    assert task_registry.get(twin.id).labels == ["corrupt"]
    assert task_registry.get(good.id).labels == [] and task_registry.get(tree.id).labels == []


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "a").mkdir(parents=True)
    (root / "a" / "one.txt").write_text("one")
    (root / "two.txt").write_text("two")
    return root


def test_serve_deployments_have_cron_schedules() -> None:
    from prefect.client.orchestration import get_client

    deployments = serve_mod.deployments(registry="prod", keep_last=7)
    ids = [d.apply() for d in deployments]
    with get_client(sync_client=True) as client:
        applied = [client.read_deployment(i) for i in ids]
    crons = {d.name: [s.schedule.cron for s in d.schedules] for d in applied}
    assert crons == {"daily-served": [serve_mod.RETENTION_CRON], "weekly-served": [serve_mod.VERIFY_CRON],
                     "sync-served": ["*/15 * * * *"]}
    assert {d.name: [s.schedule.timezone for s in d.schedules] for d in applied} == {
        "daily-served": ["UTC"], "weekly-served": ["UTC"], "sync-served": ["UTC"]}
    daily = next(d for d in applied if d.name == "daily-served")
    assert daily.parameters == {"keep_last": 7, "keep_days": 30, "registry": "prod"}
    assert daily.entrypoint.endswith("retention.py:retention")
    synced = next(d for d in applied if d.name == "sync-served")
    assert synced.entrypoint.endswith("sync.py:sync") and synced.flow_id != daily.flow_id
    assert synced.parameters == {"dry_run": False, "registry": "prod"}
    assert set(synced.parameters) <= set(sync_mod.sync.parameters.properties)  # the flow's own parameters
    assert synced.global_concurrency_limit is not None and synced.global_concurrency_limit.limit == 1
    assert serve_mod.deployments()[2].parameters == {"dry_run": False}  # no registry: the tasks' default


def test_serve_every_replaces_the_crons_with_an_interval() -> None:
    from datetime import timedelta

    deployments = serve_mod.deployments(every=5, retention_cron="1 2 * * *")
    intervals = {d.name: [s.schedule.interval for s in d.schedules] for d in deployments}
    assert intervals == {"daily-served": [timedelta(seconds=5)], "weekly-served": [timedelta(seconds=5)],
                         "sync-served": [timedelta(seconds=5)]}
    assert [s.schedule.cron for s in serve_mod.deployments(sync_cron="*/5 * * * *")[2].schedules] == ["*/5 * * * *"]
    with pytest.raises(ValueError, match="positive"):
        serve_mod.deployments(every=0)
    with pytest.raises(SystemExit):
        serve_mod.main(["--every", "-1"])


def test_served_and_prefect_yaml_deployments_have_distinct_names() -> None:
    """Serving must not overwrite the work-pool deployments (same flow + same name = same deployment)."""
    import yaml

    flows_by_entrypoint = {"flows/retention.py:retention": retention_mod.retention.name,
                           "flows/verify.py:verify": verify_mod.verify.name,
                           "flows/sync.py:sync": sync_mod.sync.name}
    spec = yaml.safe_load((FLOWS / "prefect.yaml").read_text())
    from_yaml = {(flows_by_entrypoint[d["entrypoint"]], d["name"]) for d in spec["deployments"]}
    served = {(d.flow_name, d.name) for d in serve_mod.deployments()}
    assert len(from_yaml) == 3 and len(served) == 3
    assert from_yaml.isdisjoint(served), from_yaml & served


def test_prefect_yaml_declares_the_three_scheduled_deployments() -> None:
    import yaml

    spec = yaml.safe_load((FLOWS / "prefect.yaml").read_text())
    by_name = {d["name"]: d for d in spec["deployments"]}
    assert sorted(by_name) == ["daily", "sync", "weekly"]
    assert by_name["daily"]["entrypoint"] == "flows/retention.py:retention"
    assert by_name["weekly"]["entrypoint"] == "flows/verify.py:verify"
    assert by_name["sync"]["entrypoint"] == "flows/sync.py:sync"
    assert by_name["daily"]["schedules"][0]["cron"] == serve_mod.RETENTION_CRON
    assert by_name["weekly"]["schedules"][0]["cron"] == serve_mod.VERIFY_CRON
    assert by_name["sync"]["schedules"] == [{"cron": "*/15 * * * *", "timezone": "UTC", "active": True}]
    assert by_name["sync"]["schedules"][0]["cron"] == serve_mod.SYNC_CRON
    assert by_name["sync"]["concurrency_limit"] == 1
    assert by_name["sync"]["parameters"] == {"dry_run": False}
    assert set(by_name["sync"]["parameters"]) <= set(sync_mod.sync.parameters.properties)
    assert by_name["sync"]["work_pool"] == by_name["daily"]["work_pool"]
    for d in by_name.values():
        path, name = d["entrypoint"].split(":")
        assert (FLOWS.parent / path).is_file() and f"def {name}(" in (FLOWS.parent / path).read_text()


def test_example_pipeline_prints_lineage_back_to_raw(task_registry: Any, capsys: Any) -> None:
    example_pipeline.main()
    out = capsys.readouterr().out
    assert "Registered by this run" in out and "Lineage" in out
    assert "prefect-artifacts ls --folder /examples/housing" in out
    assert "prefect-artifacts show /examples/housing/housing-report:1" in out
    lines = out.split("Lineage", 1)[1].splitlines()[1:]
    depth = {}
    for line in lines:
        for name in ("housing-report:1", "price-model:1", "housing-clean:1", "housing-raw:1"):
            if f"/{name} " in line:
                depth.setdefault(name, (len(line) - len(line.lstrip(" └─")) - 2) // 4)
    assert depth["housing-report:1"] == 0 and lines[0].strip().startswith("/examples/housing/housing-report:1")
    assert depth["housing-clean:1"] == 1 and depth["price-model:1"] == 1 and depth["housing-raw:1"] == 2
    report = task_registry.get(f"{example_pipeline.FOLDER}/housing-report:latest")
    graph = task_registry.lineage(report.id)
    names = {a.name for a in graph.artifacts}
    assert {"housing-raw", "housing-clean", "price-model", "example_pipeline.py"} <= names
    assert task_registry.get(f"{example_pipeline.FOLDER}/price-model-checkpoints:1").file_count == 3
    assert task_registry.load_object(f"{example_pipeline.FOLDER}/price-model:1")["trained_on"] > 400

