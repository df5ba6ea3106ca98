"""Fixtures of the seed-name tests: one registry per backend (embedded and over HTTP), sharing a server.

`seed_registry` is parametrized: each test runs on a fresh embedded `LocalRegistry` and on
an `HttpRegistry` of an ordinary user (API key, group ``default``) of a server started
once for the module and pointed at a fresh registry per test.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_artifacts.registry.base import Registry
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.storage.content_store import ContentStore
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry

BACKENDS = ["embedded", "http"]


@pytest.fixture(scope="module")
def seed_server() -> Iterator[LiveServer]:
    """One server for the module; `seed_registry` points it at a fresh registry per test."""
    server = LiveServer(make_registry(Path(tempfile.mkdtemp(prefix="pa-seeds-")))).start()
    yield server
    server.stop()
    server.registry.close()


def _registry(root: Path, named_stores: bool) -> LocalRegistry:
    reg = make_registry(root)
    if not named_stores:
        return reg
    archive = ContentStore(str(root / "archive"), durable=False)
    return LocalRegistry(reg.store, reg.catalog, reg.settings, stores={"archive": archive})


@pytest.fixture(params=BACKENDS)
def seed_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """A fresh registry: embedded, or a server's as user ``alice`` (writes group ``default``)."""
    yield from _fresh(request, tmp_path, named_stores=False)


@pytest.fixture(params=BACKENDS)
def archive_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """`seed_registry` with a second content store, ``archive`` (under ``<tmp>/<backend>/archive``)."""
    yield from _fresh(request, tmp_path, named_stores=True)


def _fresh(request: pytest.FixtureRequest, tmp_path: Path, named_stores: bool) -> Iterator[Registry]:
    if request.param == "embedded":
        reg = _registry(tmp_path / "embedded", named_stores)
        yield reg
        reg.close()
        return
    server: LiveServer = request.getfixturevalue("seed_server")
    server.use(_registry(tmp_path / "server", named_stores))
    server.auth.create_user("alice", default_group="default")
    client = HttpRegistry(server.url, api_key=server.auth.create_key("alice")[1])
    yield client
    client.close()
    server.registry.close()
