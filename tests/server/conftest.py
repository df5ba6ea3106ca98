"""Real uvicorn servers on free loopback ports, over registries in tmp folders.

`LiveServer` and `make_registry` are in tests/support; the fixtures that start servers are here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_artifacts._server import NoAuth
from prefect_artifacts._server.auth import Authenticator
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry


@pytest.fixture(scope="session")
def shared_server() -> Iterator[LiveServer]:
    """One server for a whole session; `LiveServer.use` points it at a fresh registry."""
    server = LiveServer(make_registry(Path(tempfile.mkdtemp(prefix="pa-shared-")))).start()
    yield server
    server.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def start(registry: LocalRegistry | None = None, auth: Authenticator | None = None, **kwargs: Any) -> LiveServer:
        reg = registry or make_registry(tmp_path / f"server{len(started)}")
        server = LiveServer(reg, auth=auth, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
        server.registry.close()


@pytest.fixture
def open_server(start_server: Callable[..., LiveServer]) -> LiveServer:
    """A server in ``--insecure-no-auth`` mode."""
    return start_server(auth=NoAuth())
