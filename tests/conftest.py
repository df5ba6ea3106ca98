"""Shared fixtures: isolated homes, registries on SQLite files and local blobs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# Helpers shared by the tests live in tests/support (see tests/README.md); their asserts
# report like the tests' own. The service fixtures (PostgreSQL, moto S3) are for every test.
pytest.register_assert_rewrite("tests.support")
pytest_plugins = ["tests.support.services"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("PREFECT_ARTIFACTS_HOME", str(home))
    return home
