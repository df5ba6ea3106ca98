"""Fixtures for every test: an isolated home, a LocalRegistry on a tmp SQLite file and tmp blobs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# Helpers shared by the tests live in tests/support (see tests/README.md); their asserts
# report like the tests' own (so this comes before they are imported). The service
# fixtures (PostgreSQL, moto S3) are for every test.
pytest.register_assert_rewrite("tests.support")
pytest_plugins = ["tests.support.services"]

from prefect_artifacts.catalog.engine import sqlite_url  # noqa: E402
from prefect_artifacts.registry.local import LocalRegistry  # noqa: E402
from tests.support.catalogs import copy_migrated_catalog  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("PREFECT_ARTIFACTS_HOME", str(home))
    return home


@pytest.fixture
def catalog_path(tmp_path: Path) -> Path:
    """This test's own SQLite catalog file, empty and migrated (a copy of tests.support.catalogs' template)."""
    return copy_migrated_catalog(tmp_path / "catalog.sqlite")


@pytest.fixture
def local_registry(tmp_path: Path, catalog_path: Path) -> Iterator[LocalRegistry]:
    """A LocalRegistry on this test's `catalog_path` and a local blob folder, both in tmp."""
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(catalog_path))
    yield reg
    reg.close()
