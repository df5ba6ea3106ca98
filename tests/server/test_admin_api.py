"""Administration over REST and the CLI over HTTP: admins manage users, groups,
memberships and keys from anywhere; nobody else can, and secrets are shown once."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from prefect_artifacts._cli.main import app
from prefect_artifacts._server.auth import ApiKeyAuth
from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.errors import ArtifactConflict, ArtifactNotFound, AuthenticationError, PermissionDenied
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.http_admin import HttpAdmin
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry

runner = CliRunner()


@pytest.fixture
def served(start_server: Callable[..., LiveServer], tmp_path: Path) -> tuple[LiveServer, str, str]:
    registry = make_registry(tmp_path / "server")
    auth = AuthCatalog(registry.catalog.engine)
    server = start_server(registry, auth=ApiKeyAuth(auth, cache_seconds=0.2))
    auth.create_user("root", admin=True)
    auth.create_user("mallory")
    return server, auth.create_key("root")[1], auth.create_key("mallory")[1]


def test_an_admin_manages_everything_over_http(served: tuple[LiveServer, str, str], tmp_path: Path) -> None:
    server, root_key, _ = served
    with HttpAdmin(server.url, api_key=root_key) as admin:
        alice = admin.create_user("alice", default_group="team-a")
        assert (alice.name, alice.default_group_id, alice.groups) == ("alice", "team-a", {"team-a": True})
        admin.create_user("bob")
        with pytest.raises(ArtifactConflict):
            admin.create_user("alice")
        assert admin.create_group("shared").id == "shared"
        admin.add_member("shared", "bob", write=True)
        admin.add_member("team-a", "bob")
        groups = {g.id: g.members for g in admin.list_groups()}
        assert groups["team-a"] == {"alice": True, "bob": False} and groups["shared"] == {"bob": True}
        admin.remove_member("team-a", "bob")
        with pytest.raises(ArtifactNotFound):
            admin.remove_member("team-a", "bob")
        assert {u.name: u.groups for u in admin.list_users()}["bob"] == {"bob": True, "shared": True}
        key_id, secret = admin.create_key("alice", name="laptop")
        listed = admin.list_keys("alice")
        assert [(k.id, k.name, k.revoked) for k in listed] == [(key_id, "laptop", None)]
        assert secret not in httpx.get(f"{server.url}/admin/keys", headers={"Authorization": f"Bearer {root_key}"}).text
    (tmp_path / "a.txt").write_text("a")
    with HttpRegistry(server.url, api_key=secret) as reg:
        assert reg.upload_file(tmp_path / "a.txt", name="a", folder="/team-a").group_id == "team-a"
    with HttpAdmin(server.url, api_key=root_key) as admin:
        assert admin.revoke_key(secret) == key_id  # by the key itself: only the id travels
        assert admin.list_keys("alice")[0].revoked is not None
    with HttpRegistry(server.url, api_key=secret, retries=0) as reg, pytest.raises(AuthenticationError):
        reg.count()  # this server process forgets the key at once


def test_only_admins_administer(served: tuple[LiveServer, str, str]) -> None:
    server, _, mallory_key = served
    with HttpAdmin(server.url, api_key=mallory_key) as admin:
        for call in (admin.list_users, admin.list_groups, admin.list_keys, lambda: admin.create_user("eve", admin=True),
                     lambda: admin.create_key("root"), lambda: admin.add_member("mallory", "root"),
                     lambda: admin.create_group("x"), lambda: admin.revoke_key("000000000000")):
            with pytest.raises(PermissionDenied, match="not an admin"):
                call()
    with HttpAdmin(server.url) as anonymous, pytest.raises(AuthenticationError):
        anonymous.list_users()
    assert "eve" not in {u.name for u in AuthCatalog(server.registry.catalog.engine).list_users()}


def test_the_cli_administers_a_server_over_http(served: tuple[LiveServer, str, str]) -> None:
    server, root_key, mallory_key = served

    def cli(*args: str, key: str = root_key, code: int = 0) -> str:
        result = runner.invoke(app, ["--api-url", server.url, "--api-key", key, *args])
        assert result.exit_code == code, (args, result.output)
        return result.stdout

    assert "created user carol (default group team-c)" in cli("users", "create", "carol", "--group", "team-c")
    cli("groups", "create", "ops")
    cli("groups", "add-member", "ops", "carol", "--write")
    assert json.loads(cli("--json", "groups", "list")) and "ops" in cli("groups", "list")
    secret = cli("keys", "create", "carol").strip()
    assert secret.startswith("pa_")
    listed = json.loads(cli("--json", "keys", "list", "carol"))
    assert len(listed) == 1 and secret not in json.dumps(listed)
    said = cli("keys", "revoke", secret)
    assert secret not in said and listed[0]["id"] in said
    cli("groups", "remove-member", "ops", "carol")
    cli("users", "list", key=mallory_key, code=6)  # documented exit code for auth errors
