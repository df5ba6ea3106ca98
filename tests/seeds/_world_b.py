"""The registries the seed 002/003 tests run against: embedded (in process) and over HTTP.

Both apply a shared server's rules: alice writes team-a, bob reads team-a and writes
team-b, carol is in team-c only. ``world.reg(who)`` is that user's registry (a test module imports ``world_fixture`` and
``seeds_b_server_fixture`` to use the ``world`` fixture): the
embedded one is `LocalRegistry.for_principal`, the HTTP one an `HttpRegistry` with the
user's key against a live server over the same kind of catalog.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from prefect_artifacts._server.auth import ApiKeyAuth
from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.registry.base import Registry
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry

USERS = {"alice": "team-a", "bob": "team-b", "carol": "team-c"}


@dataclass
class World:
    """One backend, its users' registries and (over HTTP) the server they talk to."""

    kind: str
    server_registry: LocalRegistry
    keys: dict[str, str]
    server: LiveServer | None = None
    _open: dict[str, Registry] = field(default_factory=dict)

    def reg(self, who: str = "alice") -> Registry:
        if who not in self._open:
            if self.server is None:
                principal = AuthCatalog(self.server_registry.catalog.engine).authenticate(self.keys[who])
                assert principal is not None
                self._open[who] = self.server_registry.for_principal(principal)
            else:
                self._open[who] = HttpRegistry(self.server.url, api_key=self.keys[who])
        return self._open[who]

    def http(self, method: str, path: str, who: str = "alice", **kwargs: object) -> httpx.Response:
        """A raw REST call as ``who`` (HTTP backend only)."""
        assert self.server is not None
        headers = {"Authorization": f"Bearer {self.keys[who]}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return httpx.request(method, self.server.url + path, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        for reg in self._open.values():
            reg.close()


@pytest.fixture(scope="module", name="seeds_b_server")
def seeds_b_server_fixture() -> Iterator[LiveServer]:
    server = LiveServer(make_registry(Path(tempfile.mkdtemp(prefix="pa-seeds-b-")))).start()
    yield server
    server.stop()


@pytest.fixture(params=["embedded", "http"], name="world")
def world_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    registry = make_registry(tmp_path / "catalog")
    auth = AuthCatalog(registry.catalog.engine)
    for name, group in USERS.items():
        auth.create_user(name, default_group=group)
    auth.add_member("team-a", "bob", write=False)
    keys = {name: auth.create_key(name)[1] for name in USERS}
    server = None
    if request.param == "http":
        server = request.getfixturevalue("seeds_b_server").use(registry, ApiKeyAuth(auth, cache_seconds=0))
    w = World(request.param, registry, keys, server)
    yield w
    w.close()
    registry.close()

