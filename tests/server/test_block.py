"""`ArtifactRegistry(api_url=..., api_key=...)`: the Prefect block talks to the server."""

from __future__ import annotations

from pathlib import Path

from prefect_artifacts._server import ApiKeyAuth
from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.registry.http import HttpRegistry
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry


def test_block_with_api_url_uses_the_server(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from prefect_artifacts import ArtifactRegistry

    registry = make_registry(tmp_path / "server")
    auth = AuthCatalog(registry.catalog.engine)
    server: LiveServer = start_server(registry, auth=ApiKeyAuth(auth))
    auth.create_user("alice", default_group="team-a")
    _key_id, secret = auth.create_key("alice")
    block = ArtifactRegistry(api_url=server.url, api_key=secret)
    assert isinstance(block.get_registry(), HttpRegistry)
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    art = block.upload_file(tmp_path / "data.csv", name="my-data", folder="/team/datasets")
    assert art.group_id == "team-a"
    assert registry.get("/team/datasets/my-data:latest").id == art.id  # stored by the server
    assert block.get("/team/datasets/my-data:1").open().read() == b"a,b\n1,2\n"
    assert [a.name for a in block.list(search="name:my-*").data] == ["my-data"]
    block.get_registry().close()
