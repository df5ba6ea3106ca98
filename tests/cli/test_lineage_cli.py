"""`prefect-artifacts lineage`: the lineage of an artifact as a tree, upstream or downstream, and as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from prefect_artifacts._cli.main import app


@pytest.fixture
def cli() -> Any:
    runner = CliRunner(env={"COLUMNS": "250"})

    def invoke(*args: str, code: int | None = 0) -> Any:
        result = runner.invoke(app, list(args))
        if code is not None:
            assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
        return result

    return invoke


@pytest.fixture
def pipeline(cli: Any, tmp_path: Path) -> None:
    """raw --prep(prep.py)--> clean --train(train.py)--> model."""
    for name in ("raw", "prep.py", "clean", "train.py", "model"):
        path = tmp_path / name
        path.write_text(f"content of {name}")
        cli("push", str(path), "--name", name, "--folder", "/p")
    for name, run, category in [("raw", "run-prep", "input"), ("prep.py", "run-prep", "code"),
                                ("clean", "run-prep", "output"), ("clean", "run-train", "input"),
                                ("train.py", "run-train", "code"), ("model", "run-train", "output")]:
        cli("attach", f"/p/{name}", run, "--category", category)


def test_lineage_prints_the_upstream_tree(cli: Any, pipeline: None) -> None:
    out = cli("lineage", "/p/model:latest").stdout
    assert out.splitlines() == [
        "/p/model:1",
        "├── /p/clean:1  [input]",
        "│   ├── /p/prep.py:1  [code]",
        "│   └── /p/raw:1  [input]",
        "└── /p/train.py:1  [code]",
    ]


def test_lineage_downstream(cli: Any, pipeline: None) -> None:
    out = cli("lineage", "/p/raw", "--downstream").stdout
    assert out.splitlines() == ["/p/raw:1", "└── /p/clean:1  [output]", "    └── /p/model:1  [output]"]
    leaf = cli("lineage", "/p/model", "--downstream").stdout
    assert leaf.splitlines() == ["/p/model:1", "nothing downstream recorded (no flow run links it to other artifacts)"]


def test_lineage_json_is_one_nested_document(cli: Any, pipeline: None) -> None:
    doc = json.loads(cli("--json", "lineage", "/p/model").stdout)
    assert doc["root"] == "/p/model:1" and doc["direction"] == "upstream" and doc["tree"]["id"] == doc["id"]
    clean, code = doc["tree"]["children"]
    assert (clean["ref"], clean["category"], clean["runs"], clean["kind"]) == ("/p/clean:1", "input", ["run-train"],
                                                                               "file")
    assert (code["ref"], code["category"], code["children"]) == ("/p/train.py:1", "code", [])
    assert [(c["ref"], c["runs"]) for c in clean["children"]] == [("/p/prep.py:1", ["run-prep"]),
                                                                  ("/p/raw:1", ["run-prep"])]
    down = json.loads(cli("--json", "lineage", "/p/clean", "--downstream").stdout)
    assert down["direction"] == "downstream"
    assert [(c["ref"], c["category"]) for c in down["tree"]["children"]] == [("/p/model:1", "output")]


def test_lineage_of_a_missing_or_lonely_artifact(cli: Any, pipeline: None, tmp_path: Path) -> None:
    missing = cli("lineage", "/p/nope", code=3)
    assert missing.stderr.startswith("error: ") and missing.stdout == ""
    (tmp_path / "alone").write_text("alone")
    cli("push", str(tmp_path / "alone"), "--name", "alone")
    assert cli("lineage", "alone").stdout.splitlines() == [
        "/default/alone:1", "nothing upstream recorded (no flow run links it to other artifacts)"]
    assert json.loads(cli("--json", "lineage", "alone").stdout)["tree"]["children"] == []
