"""Each flow run's lineage graph (a Prefect markdown artifact) and serializer code linked to runs."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.runtime import flow_run as runtime_flow_run

from prefect_artifacts import tasks as T
from prefect_artifacts._cli.main import app
from prefect_artifacts._lineage_view import node_id
from prefect_artifacts._prefect import PUBLISHER, lineage_key, table_key
from prefect_artifacts.models import RunCategory

FLOWS = Path(__file__).resolve().parents[2] / "flows"
if str(FLOWS) not in sys.path:
    sys.path.insert(0, str(FLOWS))

import example_pipeline  # noqa: E402

SERIALIZER_CODE = "serializer-prefect_artifacts.serializers.builtins"


def _prefect_artifacts(run_id: str, key: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return list(client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]), key=ArtifactFilterKey(any_=[key]))))


def _duration(run_id: str) -> float:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
    assert run.start_time is not None and run.end_time is not None
    return (run.end_time - run.start_time).total_seconds()


def _producer(art: Any) -> str:
    (run_id,) = [link.run_id for link in art.runs if link.category is RunCategory.OUTPUT]
    return run_id


def _mermaid(markdown: str) -> str:
    found = re.search(r"```mermaid\n(.*?)\n```", markdown, re.S)
    assert found, markdown
    return found.group(1)


def test_example_pipeline_publishes_each_runs_lineage_back_to_raw(task_registry: Any, tmp_path: Any) -> None:
    report = example_pipeline.pipeline(tmp_path)
    folder = example_pipeline.FOLDER
    arts = {n: task_registry.get(f"{folder}/{n}:1") for n in (
        "housing-raw", "housing-clean", "price-model", "price-model-checkpoints", "housing-report",
        "example_pipeline.py", SERIALIZER_CODE)}
    runs = {"ingest": _producer(arts["housing-raw"]), "transform": _producer(arts["housing-clean"]),
            "train": _producer(arts["price-model"]), "report": _producer(report)}

    # The serializer that wrote the model is the train run's code, with the flow script.
    code = {a.name for a in task_registry.run_artifacts(runs["train"], "code")}
    assert code == {"example_pipeline.py", SERIALIZER_CODE}
    assert task_registry.lineage(report.id).upstream(arts["price-model"].id) == sorted(
        [arts["housing-clean"].id, arts["example_pipeline.py"].id, arts[SERIALIZER_CODE].id])
    assert arts["housing-raw"].id in task_registry.lineage(report.id).upstream(arts["housing-clean"].id)

    published = _prefect_artifacts(runs["report"], lineage_key("report"))
    assert len(published) == 1, "one lineage graph, published when the run ended"
    for stage, run_id in runs.items():  # one table per run, from its end hook (unless it ran past the debounce)
        if _duration(run_id) < PUBLISHER.min_interval:
            assert len(_prefect_artifacts(run_id, table_key(stage))) == 1, stage
    assert published[0].type == "markdown" and lineage_key("report") == "lineage-report"
    text = _mermaid(published[0].data)
    a = {n: node_id("a", art.id) for n, art in arts.items()}
    r = {n: node_id("r", run_id) for n, run_id in runs.items()}
    nodes = set(re.findall(r"^  ([ar][0-9a-f]{12})[\[(]", text, re.M))
    assert nodes == set(r.values()) | {a[n] for n in arts if n != "price-model-checkpoints"}
    edges = {line.strip() for line in text.splitlines() if "->" in line}
    assert edges == {
        f"{a['price-model']} -->|input| {r['report']}", f"{a['housing-clean']} -->|input| {r['report']}",
        f"{a['example_pipeline.py']} -.->|code| {r['report']}", f"{r['report']} -->|output| {a['housing-report']}",
        f"{r['train']} -->|output| {a['price-model']}", f"{r['transform']} -->|output| {a['housing-clean']}",
        f"{a['housing-clean']} -->|input| {r['train']}", f"{a['example_pipeline.py']} -.->|code| {r['train']}",
        f"{a[SERIALIZER_CODE]} -.->|code| {r['train']}",
        f"{a['housing-raw']} -->|input| {r['transform']}", f"{a['example_pipeline.py']} -.->|code| {r['transform']}",
        f"{r['ingest']} -->|output| {a['housing-raw']}", f"{a['example_pipeline.py']} -.->|code| {r['ingest']}",
    }
    for stage in runs:  # runs are named after their flows
        assert re.search(rf'{r[stage]}\(\["{stage} / [a-z0-9-]+"\]\)', text), (stage, text)
    assert f'{a["housing-raw"]}["{folder}/housing-raw:1 · file, ' in text
    assert text.endswith(f"class {r['report']} thisrun") and "more[" not in text
    # The same walk as a table, which Prefect's UI renders (it shows Mermaid as text).
    row = re.search(r"^\| `report / [a-z0-9-]+` \(this run\) \| (.*) \|$", published[0].data, re.M)
    assert row is not None, published[0].data
    assert row.group(1) == (f"`{arts['housing-clean'].ref}`<br>`{arts['price-model'].ref}` | "
                            f"`{arts['example_pipeline.py'].ref}` | `{arts['housing-report'].ref}`")

    ingest = _prefect_artifacts(runs["ingest"], lineage_key("ingest"))
    assert len(ingest) == 1 and len(re.findall(r"->", _mermaid(ingest[0].data))) == 2  # code in, raw out

    # The train run's table names the model's serializer, snapshot and code artifact.
    tables = _prefect_artifacts(runs["train"], table_key("train"))
    rows = json.loads(max(tables, key=lambda t: t.created).data)
    model_row = next(row for row in rows if row["name"] == f"{folder}/price-model")
    snapshot_id = arts["price-model"].serializer.snapshot_id
    assert model_row["serializer"] == f"json, snapshot {snapshot_id[:12]}, code {arts[SERIALIZER_CODE].ref}"
    assert {(row["name"], row["category"]) for row in rows if row["category"] == "code"} == {
        (f"{folder}/example_pipeline.py", "code"), (f"{folder}/{SERIALIZER_CODE}", "code")}


def test_serializer_code_is_one_version_per_snapshot_linked_to_each_run(task_registry: Any) -> None:
    from typer.testing import CliRunner

    @T.artifact_task(artifact_name="counts", folder="/objs")
    def counts(n: int) -> dict[str, int]:
        return {"n": n}

    @flow
    def saves() -> str:
        T.save_object({"a": 1}, name="first", folder="/objs")
        T.save_object("text", name="second", folder="/objs")  # same plugin (the built-ins), same snapshot
        counts(2)
        return str(runtime_flow_run.id)

    first_run, second_run = saves(), saves()
    PUBLISHER.flush()
    code = task_registry.get(f"/objs/{SERIALIZER_CODE}:latest")
    assert code.version == 1 and task_registry.count(f'name:"{SERIALIZER_CODE}"') == 1
    assert sorted((link.run_id, link.category.value) for link in code.runs) == sorted(
        [(first_run, "code"), (second_run, "code")])
    assert code.labels == ["serializer-code"]
    snapshot = task_registry.get_plugin_snapshot(task_registry.get("/objs/first:1").serializer.snapshot_id)
    assert [f.checksum for f in snapshot.files] == [code.checksum]  # its content is the snapshot's file
    (aspect,) = task_registry.get_metadata(code.id)
    assert aspect.content["snapshot_id"] == snapshot.id and aspect.content["digest"] == snapshot.digest

    result = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["--json", "show", "/objs/first:1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["serializer_code"] == [code.ref]
    shown = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["show", "/objs/second:1"]).stdout
    assert re.search(rf"serializer code\s+{re.escape(code.ref)}", shown), shown
    plain = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["--json", "show", code.ref])
    assert json.loads(plain.stdout)["serializer_code"] == []  # not an object: no serializer
