"""Fixtures of the unit tests: registries on tmp SQLite + local blobs, stores, a moto S3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.storage.content_store import ContentStore
from tests.support.catalogs import copy_migrated_catalog
from tests.support.services import MotoServer


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    """A LocalRegistry on a tmp SQLite file (a copy of the migrated template) and tmp local blobs."""
    catalog = copy_migrated_catalog(tmp_path / "catalog.sqlite")
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(catalog))
    yield reg
    reg.close()


def _make_store(request: pytest.FixtureRequest, tmp_path: Path) -> ContentStore:
    if request.param == "local":
        return ContentStore(str(tmp_path / "store"))
    if request.param == "memory":
        return ContentStore(f"memory://store-{uuid.uuid4().hex}")
    server: MotoServer = request.getfixturevalue("moto_server")
    return ContentStore(f"s3://{server.make_bucket()}/store", server.storage_options)


@pytest.fixture(params=["local", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ContentStore:
    """A ContentStore on a local dir, a unique memory:// root, or a moto S3 bucket."""
    return _make_store(request, tmp_path)


@pytest.fixture(params=["local", "memory"])
def lean_store(request: pytest.FixtureRequest, tmp_path: Path) -> ContentStore:
    """A ContentStore on a local dir or memory:// (for edge cases whose code path S3 shares)."""
    return _make_store(request, tmp_path)
