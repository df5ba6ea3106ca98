"""The Registry contract suite run against an offline registry: its outbox behaves as online.

The server is an `HttpRegistry` on a loopback port nothing listens on, so every call is
served by the outbox (`offline=True`); the outbox is the test's `local_registry`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.registry.offline import OfflineRegistry
from prefect_artifacts.testing import RegistryContract


@pytest.fixture(scope="module")
def closed_port() -> Iterator[int]:
    """A loopback port bound but never listening: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


class TestOfflineRegistry(RegistryContract):
    """`OfflineRegistry(offline=True)` with the server unreachable: the outbox answers."""

    __test__ = True

    @pytest.fixture
    def registry(self, local_registry: LocalRegistry, closed_port: int) -> Iterator[OfflineRegistry]:
        server = HttpRegistry(f"http://127.0.0.1:{closed_port}/api/v1", retries=0)
        reg = OfflineRegistry(server, True, outbox=local_registry)
        yield reg
        server.close()
