"""The CLI in process: ``cli(*args, input=None, code=0)`` runs a command and checks its exit code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from prefect_artifacts._cli.main import app


def invoker(columns: int) -> Callable[..., Any]:
    """A ``cli`` runner on a terminal ``columns`` wide; ``code=None`` skips the exit-code check."""
    runner = CliRunner(env={"COLUMNS": str(columns)})

    def invoke(*args: str, input: str | None = None, code: int | None = 0) -> Any:
        result = runner.invoke(app, list(args), input=input)
        if code is not None:
            assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
        return result

    return invoke


@pytest.fixture
def cli() -> Callable[..., Any]:
    """Wide enough that tables and messages do not wrap."""
    return invoker(250)
