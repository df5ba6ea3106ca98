"""`prefect-artifacts show` names an artifact's flow runs when Prefect answers, and shows ids when it does not."""

from __future__ import annotations

import json
import time
from pathlib import Path

from prefect import flow
from prefect.settings import PREFECT_API_URL, temporary_settings
from typer.testing import CliRunner

from prefect_artifacts._cli.main import app
from prefect_artifacts._cli.runs import run_names


@flow(name="cli-names-flow")
def _named_flow() -> int:
    return 1


def _show(*args: str) -> str:
    result = CliRunner(env={"COLUMNS": "250"}).invoke(app, list(args))
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout


def test_show_names_the_flow_runs_prefect_knows(tmp_path: Path) -> None:
    state = _named_flow(return_state=True)
    run_id = str(state.state_details.flow_run_id)
    data = tmp_path / "d.txt"
    data.write_text("d\n")
    _show("push", str(data), "--name", "named")
    _show("attach", "named", run_id, "--category", "input")
    _show("attach", "named", "hand-made-run", "--category", "code")  # not a Prefect id: shown as it is

    names = run_names([run_id, "hand-made-run"])
    assert list(names) == [run_id] and names[run_id].startswith("cli-names-flow/")
    table = _show("show", "named")
    row = next(line for line in table.splitlines() if run_id in line)
    assert names[run_id] in row and "input" in row
    assert "flow/run" in table and "hand-made-run" in table
    assert json.loads(_show("--json", "show", "named"))["run_names"] == names


def test_show_falls_back_to_run_ids_when_prefect_does_not_answer(tmp_path: Path) -> None:
    data = tmp_path / "d.txt"
    data.write_text("d\n")
    run_id = "0b7c3c5e-2f8e-4d0e-9a57-3f2d1c0b9a8e"
    _show("push", str(data), "--name", "lonely")
    _show("attach", "lonely", run_id)
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):  # nothing listens there
        start = time.monotonic()
        table = _show("show", "lonely")
        assert time.monotonic() - start < 10
    assert run_id in table and "flow/run" not in table
