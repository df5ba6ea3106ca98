"""Provenance of what Prefect tasks and result storage write: the producing task run and deployment.

The flow runs from a deployment on the harness server (created through the client and
executed in process with `run_flow`, as a worker would run it), so its flow run carries
a deployment id; the record names that deployment, the task run that wrote each artifact,
and the serializer snapshot linked to the run as code.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.flow_engine import run_flow

from prefect_artifacts import ArtifactRegistry
from prefect_artifacts._code_links import serializer_code
from prefect_artifacts.results import RESULT_LABEL
from prefect_artifacts.tasks import save_object, upload_file


@task(persist_result=True, result_storage="artifact-registry/provenance-results")
def double(x: int) -> int:
    return 2 * x


@flow(name="provenance-producer")
def producer(path: str, folder: str) -> dict[str, str]:
    written = upload_file(path, name="report", folder=folder)
    stats = save_object({"rows": double(21)}, name="stats", folder=folder)
    return {"report": written.id, "stats": stats.id}


def _run_from_deployment(parameters: dict[str, Any]) -> tuple[Any, str]:
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow(producer)
        deployment_id = client.create_deployment(flow_id, f"provenance-{uuid.uuid4().hex[:8]}",
                                                 entrypoint="tests/prefect/test_provenance_runs.py:producer")
        flow_run = client.create_flow_run_from_deployment(deployment_id, parameters=parameters)
    return run_flow(producer, flow_run=flow_run, parameters=parameters), str(deployment_id)


def test_record_names_the_task_run_and_deployment_that_wrote_each_artifact(
    task_registry: Any, tmp_path: Path,
) -> None:
    ArtifactRegistry().save("provenance-results", overwrite=True)
    (tmp_path / "report.md").write_text("# report\n")
    folder = f"/prov-{uuid.uuid4().hex[:8]}"
    ids, deployment_id = _run_from_deployment({"path": str(tmp_path / "report.md"), "folder": folder})

    task_runs: dict[str, Any] = {}
    for key, ref in ids.items():
        [run] = task_registry.provenance(ref).predicate["producedBy"]
        assert run["deploymentId"] == deployment_id and run["flowName"] == "provenance-producer"
        task_runs[key] = run
    with get_client(sync_client=True) as client:
        names = {key: client.read_task_run(run["taskRunId"]).name for key, run in task_runs.items()}
        flow_run = client.read_flow_run(task_runs["report"]["flowRunId"])
    assert str(flow_run.deployment_id) == deployment_id
    assert names == {key: run["taskRunName"] for key, run in task_runs.items()}
    assert names["report"].startswith("upload_file") and names["stats"].startswith("save_object")
    assert task_runs["report"]["taskRunId"] != task_runs["stats"]["taskRunId"]

    # The object's serializer snapshot is the run's code, and the record pins both.
    stats = task_registry.get(ids["stats"])
    [code] = serializer_code(task_registry, stats)
    record = task_registry.provenance(stats.id).predicate
    assert code.id in [c["id"] for c in record["producedBy"][0]["code"]]
    assert record["serializer"]["snapshotId"] == stats.serializer.snapshot_id

    # A persisted result is an artifact too, produced by the `double` task run of the deployment.
    [result] = task_registry.iter(search=f"label:{RESULT_LABEL} run:{flow_run.id}")
    [by] = task_registry.provenance(result.id).predicate["producedBy"]
    assert by["deploymentId"] == deployment_id and by["taskRunName"].startswith("double")
