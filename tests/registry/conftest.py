"""Fixtures for the Registry contract runs: registries on real SQLite files and blobs.

`local_registry` and `catalog_path` (this test's own, empty catalog file) are in
tests/conftest.py; here is the registry whose blobs live in fsspec's memory filesystem.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry


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
