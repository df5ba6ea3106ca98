"""The web view over a real registry: `create_app` with API keys (two teams) or `NoAuth`, driven by TestClient.

``teams`` holds ann (writes team-a), ben (writes team-b) and their keys; ``sign_in``
returns a client with a session cookie. Clients send ``Origin`` on posts like a browser.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from prefect_artifacts._server import NoAuth, create_app
from prefect_artifacts._server.auth import ApiKeyAuth
from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.registries import make_registry

BASE = "http://testserver"


@dataclass
class Teams:
    """A registry with API keys: ann writes team-a, ben writes team-b; each registry acts as its user."""

    registry: LocalRegistry
    auth: AuthCatalog
    keys: dict[str, tuple[str, str]]  # user -> (key id, secret)
    regs: dict[str, LocalRegistry]

    def client(self) -> TestClient:
        return TestClient(create_app(self.registry, auth=ApiKeyAuth(self.auth, cache_seconds=0)), base_url=BASE)

    def sign_in(self, user: str, next_path: str = "/ui/") -> TestClient:
        client = self.client()
        r = client.post("/ui/login", data={"key": self.keys[user][1], "next": next_path},
                        headers={"Origin": BASE}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return client


@pytest.fixture
def teams(tmp_path: Path) -> Iterator[Teams]:
    registry = make_registry(tmp_path / "server")
    auth = AuthCatalog(registry.catalog.engine)
    keys = {}
    regs = {}
    for user, group in (("ann", "team-a"), ("ben", "team-b")):
        auth.create_user(user, default_group=group)
        keys[user] = auth.create_key(user)
        principal = auth.authenticate(keys[user][1])
        assert principal is not None
        regs[user] = registry.for_principal(principal)
    yield Teams(registry, auth, keys, regs)
    registry.close()


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[LocalRegistry, TestClient]]:
    """A registry and a client of its single-user web view (`NoAuth`, as ``prefect-artifacts ui``)."""
    registry = make_registry(tmp_path / "local")
    yield registry, TestClient(create_app(registry, auth=NoAuth()), base_url=BASE)
    registry.close()
