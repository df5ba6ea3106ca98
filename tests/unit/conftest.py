"""Fixtures of the unit tests: content stores on a local dir, memory:// and moto S3.

The registry most tests use, `local_registry`, is in tests/conftest.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from prefect_artifacts.storage.content_store import ContentStore
from tests.support.services import MotoServer


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
