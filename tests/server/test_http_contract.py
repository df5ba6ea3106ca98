"""The Registry contract suite, unchanged, against a real uvicorn server on loopback.

Two set-ups: a ``--insecure-no-auth`` server, and an authenticated server where the
client is an ordinary (non-admin) user writing to its own group, so every call goes
through the per-group scoping.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_artifacts._server import NoAuth
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.testing import RegistryContract
from tests.server.conftest import LiveServer, make_registry


class TestHttpRegistry(RegistryContract):
    __test__ = True

    @pytest.fixture
    def registry(self, shared_server: LiveServer, tmp_path: Path) -> Iterator[HttpRegistry]:
        server = shared_server.use(make_registry(tmp_path / "server"), NoAuth())
        reg = HttpRegistry(server.url)
        yield reg
        reg.close()
        server.registry.close()


class TestHttpRegistryWithApiKey(RegistryContract):
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
