"""Fixtures for the Registry contract runs: registries on real SQLite files and blobs.

Every test gets its own, empty catalog file. Migrating a fresh SQLite file costs
about 0.2 s, so the catalog is migrated once per session and each test starts from
a copy of that file (the registry still opens and checks it as usual).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry


@pytest.fixture(scope="session")
def catalog_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite catalog to copy for each test."""
    root = tmp_path_factory.mktemp("catalog-template")
    reg = LocalRegistry.from_urls(str(root / "blobs"), sqlite_url(root / "template.sqlite"))
    assert reg.count() == 0
    reg.close()
    return root / "template.sqlite"


@pytest.fixture
def catalog_path(tmp_path: Path, catalog_template: Path) -> Path:
    """This test's own catalog file, a copy of the migrated template."""
    path = tmp_path / "c.sqlite"
    shutil.copyfile(catalog_template, path)
    return path


@pytest.fixture
def local_registry(tmp_path: Path, catalog_path: Path) -> Iterator[LocalRegistry]:
    """A LocalRegistry over a SQLite file and a local blob folder, both in tmp."""
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(catalog_path))
    yield reg
    reg.close()


@pytest.fixture
def memory_registry(catalog_path: Path) -> Iterator[LocalRegistry]:
    """A LocalRegistry whose blobs live in fsspec's memory filesystem, under a unique root."""
    root = f"memory://contract-{uuid.uuid4().hex}"
    reg = LocalRegistry.from_urls(root, sqlite_url(catalog_path))
    yield reg
    reg.close()
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)
