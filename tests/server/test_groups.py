"""Choosing the group on every write: ``group=`` on the Python API (both registries),
the Prefect tasks and ``push --group``; the folder rules still decide what is allowed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefect_artifacts._cli.main import app
from prefect_artifacts._server.auth import ApiKeyAuth
from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.errors import ArtifactNotFound, InvalidArtifactInput, PermissionDenied
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry


@pytest.fixture
def teams(start_server: Callable[..., LiveServer], tmp_path: Path) -> tuple[LiveServer, dict[str, str]]:
    """dana writes team-a (default) and team-b; bert reads team-b only; alma reads team-a only."""
    registry = make_registry(tmp_path / "server")
    auth = AuthCatalog(registry.catalog.engine)
    server = start_server(registry, auth=ApiKeyAuth(auth, cache_seconds=0))
    auth.create_user("dana", default_group="team-a")
    auth.create_user("bert", default_group="bert")
    auth.create_user("alma", default_group="alma")
    auth.create_group("team-b")
    auth.add_member("team-b", "dana", write=True)
    auth.add_member("team-b", "bert")
    auth.add_member("team-a", "alma")
    return server, {u: auth.create_key(u)[1] for u in ("dana", "bert", "alma")}


def test_group_chooses_the_owner_of_new_folders_and_artifacts(teams: tuple[LiveServer, dict[str, str]],
                                                               tmp_path: Path) -> None:
    server, keys = teams
    data = tmp_path / "d.txt"
    data.write_text("data")
    with HttpRegistry(server.url, api_key=keys["dana"]) as dana:
        mine = dana.upload_file(data, name="default-group", folder="/proj-a")
        theirs = dana.upload_file(data, name="b-owned", folder="/proj-b", group="team-b")
        obj = dana.save_object({"lr": 0.1}, name="params", folder="/proj-b", group="team-b")
        assert (mine.group_id, theirs.group_id, obj.group_id) == ("team-a", "team-b", "team-b")
        later = dana.upload_file(data, name="later", folder="/proj-b")  # the folder's group by default
        assert later.group_id == "team-b"
        with pytest.raises(InvalidArtifactInput, match="belong to its group 'team-b'"):
            dana.upload_file(data, name="x", folder="/proj-b", group="team-a")
        with pytest.raises(PermissionDenied):
            dana.upload_file(data, name="x", folder="/proj-c", group="alma")
    with HttpRegistry(server.url, api_key=keys["bert"]) as bert:
        assert bert.get("/proj-b/b-owned").checksum == theirs.checksum
        assert bert.load_object("/proj-b/params") == {"lr": 0.1}  # the snapshot was granted to team-b
        with pytest.raises(ArtifactNotFound):
            bert.get("/proj-a/default-group")
    with HttpRegistry(server.url, api_key=keys["alma"]) as alma:
        assert alma.get("/proj-a/default-group").group_id == "team-a"
        with pytest.raises(ArtifactNotFound):
            alma.get("/proj-b/b-owned")


def test_push_group_over_http(teams: tuple[LiveServer, dict[str, str]], tmp_path: Path) -> None:
    server, keys = teams
    data = tmp_path / "p.txt"
    data.write_text("pushed")
    result = CliRunner().invoke(app, ["--api-url", server.url, "--api-key", keys["dana"], "--json", "push", str(data),
                                      "--folder", "/pushed", "--group", "team-b"])
    assert result.exit_code == 0, result.output
    with HttpRegistry(server.url, api_key=keys["bert"]) as bert:
        assert bert.get("/pushed/p.txt").group_id == "team-b"


def test_embedded_registry_records_the_chosen_group(tmp_path: Path) -> None:
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    data = tmp_path / "e.txt"
    data.write_text("e")
    assert reg.upload_file(data, name="e", folder="/ml", group="research").group_id == "research"
    assert reg.save_object([1, 2], name="o", folder="/ml").group_id == "research"  # the folder's group
    reg.close()
