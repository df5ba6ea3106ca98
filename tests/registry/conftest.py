"""Fixtures for the Registry contract runs: registries on real SQLite files and blobs.

Every test gets its own, empty catalog file: a copy of the catalog migrated once per
session (tests.support.catalogs), which the registry still opens and checks as usual.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.catalogs import copy_migrated_catalog


@pytest.fixture
def catalog_path(tmp_path: Path) -> Path:
    """This test's own catalog file, a copy of the migrated template (tests.support.catalogs)."""
    return copy_migrated_catalog(tmp_path / "c.sqlite")


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
