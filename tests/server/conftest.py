"""Real uvicorn servers on free loopback ports, over registries in tmp folders."""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from prefect_artifacts._server import Limits, NoAuth, create_app
from prefect_artifacts._server.auth import ApiKeyAuth, Authenticator
from prefect_artifacts._server.protocol import server_config
from prefect_artifacts._server.state import ServerState
from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.settings import get_settings


class LiveServer:
    """A uvicorn server running in a thread on 127.0.0.1:<free port>."""

    def __init__(self, registry: LocalRegistry, auth: Authenticator | None = None,
                 limits: Limits | None = None, **config: Any) -> None:
        self.registry = registry
        self.app = create_app(registry, auth=auth, limits=limits)
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        connections = config.pop("connections", None)
        cfg = server_config(self.app, connections, log_level="warning", access_log=False, timeout_keep_alive=30,
                            **config)
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    @property
    def auth(self) -> AuthCatalog:
        return AuthCatalog(self.registry.catalog.engine)

    def use(self, registry: LocalRegistry, auth: Authenticator | None = None) -> LiveServer:
        """Serve ``registry`` from now on (tests share one running server)."""
        catalog = AuthCatalog(registry.catalog.engine)
        self.app.state.server = ServerState(registry, auth or ApiKeyAuth(catalog), catalog, Limits())
        self.registry = registry
        return self

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def close_sockets(*socks: socket.socket) -> None:
    """Shut down and close sockets, ignoring ones the peer already dropped (the test proxies)."""
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


_TEMPLATE: dict[str, Path] = {}


def make_registry(root: Path) -> LocalRegistry:
    """A fresh registry under ``root``; its catalog is a copy of an already-migrated one."""
    root.mkdir(parents=True, exist_ok=True)
    if "catalog" not in _TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="pa-template-")) / "catalog.sqlite"
        LocalRegistry.from_urls(str(template.parent / "blobs"), sqlite_url(template)).close()
        _TEMPLATE["catalog"] = template
    shutil.copyfile(_TEMPLATE["catalog"], root / "catalog.sqlite")
    # Not durable (no fsync): these tests check behaviour, and the machine is shared.
    settings = get_settings().model_copy(update={"durable": False})
    return LocalRegistry.from_urls(str(root / "blobs"), sqlite_url(root / "catalog.sqlite"), settings=settings)


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
