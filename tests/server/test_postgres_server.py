"""The server over a PostgreSQL catalog: the auth tables (migration 0003), group access
and the column limits that PostgreSQL enforces."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from prefect_artifacts._server import ApiKeyAuth
from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.errors import ArtifactNotFound, PermissionDenied
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.live_server import LiveServer


@pytest.mark.slow
def test_server_over_postgres(start_server: Callable[..., LiveServer], postgres_catalog_url: str,
                              tmp_path: Path) -> None:
    registry = LocalRegistry.from_urls(str(tmp_path / "blobs"), postgres_catalog_url)
    auth = AuthCatalog(registry.catalog.engine)
    server = start_server(registry, auth=ApiKeyAuth(auth))
    auth.create_user("alice", default_group="team-a")
    auth.create_user("bob", default_group="team-b")
    auth.create_user("carol")
    auth.add_member("team-a", "bob")
    keys = {name: auth.create_key(name)[1] for name in ("alice", "bob", "carol")}
    (tmp_path / "x.txt").write_text("on postgres")
    with HttpRegistry(server.url, api_key=keys["alice"]) as alice:
        art = alice.upload_file(tmp_path / "x.txt", name="x")
        assert alice.get("x").open().read() == b"on postgres"
        snap = alice.create_plugin_snapshot("plug", "1", [("plug.py", b"X = 2\n")])
    with HttpRegistry(server.url, api_key=keys["bob"]) as bob:
        assert bob.get(art.id).open().read() == b"on postgres"
        with pytest.raises(PermissionDenied):
            bob.update(art.id, description="no")
    with HttpRegistry(server.url, api_key=keys["carol"]) as carol:
        with pytest.raises(ArtifactNotFound):
            carol.get(art.id)
        assert carol.count() == 0
        assert carol.create_plugin_snapshot("plug", "1", [("plug.py", b"X = 2\n")]).id == snap.id
        assert carol.read_plugin_snapshot_file(snap.id, "plug.py") == b"X = 2\n"
    long_mime = {"folder": "/default", "name": "m", "kind": "file", "files": [], "mimeType": "m" * 300}
    headers = {"Authorization": f"Bearer {keys['alice']}"}
    response = httpx.post(f"{server.url}/artifacts", json=long_mime, headers=headers)
    assert response.status_code == 400, response.text
    assert [u.name for u in auth.list_users()] == ["alice", "bob", "carol"]
