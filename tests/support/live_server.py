"""`LiveServer`: the REST server under a real uvicorn, in a thread, on 127.0.0.1:<free port>.

The fixtures that start them (``shared_server``, ``start_server``, ``open_server``) are in
tests/server/conftest.py; tests elsewhere start one directly::

    server = LiveServer(make_registry(tmp_path / "server"), auth=NoAuth()).start()
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from prefect_artifacts._server import Limits, create_app
from prefect_artifacts._server.auth import ApiKeyAuth, Authenticator
from prefect_artifacts._server.protocol import server_config
from prefect_artifacts._server.state import ServerState
from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.registry.local import LocalRegistry


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

    def close(self) -> None:
        """Stop the server if it was started (else release its bound socket), then close its registry."""
        if self.server.started:
            self.stop()
        else:
            self.sock.close()
        self.registry.close()
