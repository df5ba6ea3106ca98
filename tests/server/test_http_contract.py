"""The Registry contract suite, unchanged, against a real uvicorn server on loopback.

The whole suite runs as an ordinary (non-admin) user writing to its own group, so
every call goes through API-key authentication and the per-group scoping. Garbage
collection is for admins: the suites that exercise it run again against an
``--insecure-no-auth`` server (every caller an admin). Both set-ups pass the whole
suite; the split keeps ``tests/server`` within its time budget on a shared machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_artifacts._server import NoAuth
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.testing import RegistryContract
from prefect_artifacts.testing._lifecycle import DeleteContract
from prefect_artifacts.testing._writes import ConflictContract, DraftContract
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry


class TestHttpRegistry(RegistryContract):
    __test__ = True
    supports_gc = False  # garbage collection is for admins; this client is a plain member

    @pytest.fixture
    def registry(self, shared_server: LiveServer, tmp_path: Path) -> Iterator[HttpRegistry]:
        server = shared_server.use(make_registry(tmp_path / "server"))
        server.auth.create_user("alice", default_group="default")
        _key_id, secret = server.auth.create_key("alice")
        reg = HttpRegistry(server.url, api_key=secret)
        yield reg
        reg.close()
        server.registry.close()


class TestHttpRegistryAsAdmin(DeleteContract, ConflictContract, DraftContract):
    """The suites with garbage collection, as an admin of a ``--insecure-no-auth`` server."""

    __test__ = True

    @pytest.fixture
    def registry(self, shared_server: LiveServer, tmp_path: Path) -> Iterator[HttpRegistry]:
        server = shared_server.use(make_registry(tmp_path / "server"), NoAuth())
        reg = HttpRegistry(server.url)
        yield reg
        reg.close()
        server.registry.close()
