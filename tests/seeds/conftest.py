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


@pytest.fixture(params=BACKENDS)
def seed_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """A fresh registry: embedded, or a server's as user ``alice`` (writes group ``default``)."""
    if request.param == "embedded":
        reg = make_registry(tmp_path / "embedded")
        yield reg
        reg.close()
        return
    server: LiveServer = request.getfixturevalue("seed_server")
    server.use(make_registry(tmp_path / "server"))
    server.auth.create_user("alice", default_group="default")
    client = HttpRegistry(server.url, api_key=server.auth.create_key("alice")[1])
    yield client
    client.close()
    server.registry.close()
