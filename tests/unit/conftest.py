"""Fixtures of the unit tests: registries on tmp SQLite + local blobs, stores, a moto S3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.storage.content_store import ContentStore

from .s3 import MotoS3, moto_s3, s3_bucket  # noqa: F401 - fixtures re-exported for this directory


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    """A LocalRegistry on a tmp SQLite file and tmp local blobs."""
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(tmp_path / "catalog.sqlite"))
    yield reg
    reg.close()


@pytest.fixture(params=["local", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ContentStore:
    """A ContentStore on a local dir, a unique memory:// root, or a moto S3 bucket."""
    if request.param == "local":
        return ContentStore(str(tmp_path / "store"))
    if request.param == "memory":
        return ContentStore(f"memory://store-{uuid.uuid4().hex}")
    server: MotoS3 = request.getfixturevalue("moto_s3")
    return ContentStore(f"s3://{server.make_bucket()}/store", server.storage_options)
