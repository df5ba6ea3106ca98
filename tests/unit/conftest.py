"""Fixtures of the unit tests: content stores on a local dir, memory://, moto S3, emulated GCS and Azurite.

The registry most tests use, `local_registry`, is in tests/conftest.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from prefect_artifacts.storage.content_store import ContentStore
from tests.support.services import AzuriteServer, GcsEmulator, MotoServer


def _make_store(request: pytest.FixtureRequest, tmp_path: Path) -> ContentStore:
    if request.param == "local":
        return ContentStore(str(tmp_path / "store"))
    if request.param == "memory":
        return ContentStore(f"memory://store-{uuid.uuid4().hex}")
    if request.param == "gcs":
        gcs: GcsEmulator = request.getfixturevalue("gcs_server")
        return ContentStore(f"gs://{gcs.make_bucket()}/store", gcs.storage_options)
    if request.param == "azure":
        azure: AzuriteServer = request.getfixturevalue("azurite_server")
        return ContentStore(f"abfs://{azure.make_bucket()}/store", azure.storage_options)
    server: MotoServer = request.getfixturevalue("moto_server")
    return ContentStore(f"s3://{server.make_bucket()}/store", server.storage_options)


@pytest.fixture(params=["local", "memory", "s3", "gcs", "azure"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ContentStore:
    """A ContentStore on a local dir, a unique memory:// root, a moto S3 bucket, a GCS or an Azure emulator's."""
    return _make_store(request, tmp_path)


@pytest.fixture(params=["local", "memory"])
def lean_store(request: pytest.FixtureRequest, tmp_path: Path) -> ContentStore:
    """A ContentStore on a local dir or memory:// (for edge cases whose code path S3 shares)."""
    return _make_store(request, tmp_path)
