"""An automation on ``prefect-artifacts.artifact.created`` runs a deployment with the event's payload."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.prefect_server import FLOWS, ROOT, WORK_POOL

if TYPE_CHECKING:
    from tests.support.prefect_server import Child, PrefectServer

pytestmark = pytest.mark.slow

PRODUCER = textwrap.dedent('''
    import sys

    from prefect import flow

    from prefect_artifacts.tasks import upload_file


    @flow(name="artifact-producer")
    def produce(path: str, folder: str) -> str:
        return upload_file(path, name="produced", folder=folder).ref


    if __name__ == "__main__":
        print("PRODUCED", produce(sys.argv[1], sys.argv[2]))
''')


def test_artifact_created_event_runs_the_deployment_with_the_payload(
    prefect_server: PrefectServer, process_worker: Child, worker_registry: Any, tmp_path: Path,
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.events import DeploymentEventTrigger

    if str(FLOWS) not in sys.path:
        sys.path.insert(0, str(FLOWS))
    import retention

    folder = "/on-artifact"
    trigger = DeploymentEventTrigger(
        expect={"prefect-artifacts.artifact.created"},
        match={"prefect.resource.id": "prefect-artifacts.artifact.*", "prefect-artifacts.folder": folder},
        parameters={"folder": "{{ event.payload.folder }}", "dry_run": True},
    )
    # No pull steps (not from prefect.yaml): the worker runs it from the repository root.
    deployment_id = retention.retention.to_deployment(
        name="on-artifact-created", triggers=[trigger], work_pool_name=WORK_POOL,
        job_variables={"working_dir": str(ROOT)}).apply()
    try:
        with get_client(sync_client=True) as client:
            automations = client.read_resource_related_automations(f"prefect.deployment.{deployment_id}")
        assert len(automations) == 1, automations
        assert prefect_server.runs_of(deployment_id) == []

        script = tmp_path / "producer.py"
        script.write_text(PRODUCER)
        data = tmp_path / "data.txt"
        data.write_text("an artifact to react to")
        done = subprocess.run([sys.executable, str(script), str(data), folder], env=prefect_server.env(), cwd=ROOT,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        produced = worker_registry.get(f"{folder}/produced:latest")
        assert f"PRODUCED {produced.ref}" in done.stdout

        runs = prefect_server.wait_for(lambda: prefect_server.runs_of(deployment_id), bool, 60,
                                       "a flow run created by the automation")
        assert len(runs) == 1, runs
        run = runs[0]
        assert run.parameters == {"folder": produced.folder, "dry_run": True}
        assert run.created_by is not None and run.created_by.type == "AUTOMATION"
        assert run.created_by.id == automations[0].id
        finished = prefect_server.wait_for_final_run(deployment_id, 90, "the triggered run under the worker")
        assert finished.id == run.id
        assert finished.state.is_completed(), f"{finished.state!r}\n{prefect_server.logs()}"
        assert str(run.id) in process_worker.log.read_text(), "the worker did not run it"
    finally:
        with get_client(sync_client=True) as client:
            client.delete_resource_owned_automations(f"prefect.deployment.{deployment_id}")
            client.delete_deployment(deployment_id)
