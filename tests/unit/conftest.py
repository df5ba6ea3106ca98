"""Fixtures of the unit tests: registries on tmp SQLite + local blobs, stores, a moto S3."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.settings import ArtifactSettings
from prefect_artifacts.storage.content_store import ContentStore
from tests.support.services import MotoServer


@pytest.fixture(scope="session")
def migrated_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite catalog file already migrated to head: copying it skips the migrations per test."""
    root = tmp_path_factory.mktemp("template")
    settings = ArtifactSettings(home=root / "home")
    reg = LocalRegistry.from_urls(
        str(root / "blobs"), sqlite_url(root / "catalog.sqlite"), settings=settings, use_digest_cache=False
    )
    reg.close()  # the last connection checkpoints the WAL into the main file
    return root / "catalog.sqlite"


@pytest.fixture
def registry(tmp_path: Path, migrated_catalog: Path) -> Iterator[LocalRegistry]:
    """A LocalRegistry on a tmp SQLite file and tmp local blobs."""
    shutil.copyfile(migrated_catalog, tmp_path / "catalog.sqlite")
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(tmp_path / "catalog.sqlite"))
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
