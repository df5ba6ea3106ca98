"""Authentication and group access: 401 without a valid key, 404 for what a caller cannot
read, 403 for a write it may not do, on every endpoint; the client maps them back."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_artifacts._server import ApiKeyAuth
from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.errors import (
    ArtifactNotFound,
    AuthenticationError,
    PermissionDenied,
)
from prefect_artifacts.registry.http import HttpRegistry
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry

RUN_ID = "5f0c6a4e-0000-4000-8000-000000000001"


@dataclass
class World:
    server: LiveServer
    keys: dict[str, str]
    art_id: str
    snapshot_id: str

    def call(self, who: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return httpx.request(method, self.server.url + path, headers=headers, timeout=30, **kwargs)

    def client(self, who: str) -> HttpRegistry:
        return HttpRegistry(self.server.url, api_key=self.keys[who])


@pytest.fixture
def world(start_server: Callable[..., LiveServer], tmp_path: Path) -> World:
    """alice writes team-a; bob reads team-a (writes team-b); carol has only team-c."""
    registry = make_registry(tmp_path / "server")
    auth = AuthCatalog(registry.catalog.engine)
    server = start_server(registry, auth=ApiKeyAuth(auth, cache_seconds=0.2))
    auth.create_user("alice", default_group="team-a")
    auth.create_user("bob", default_group="team-b")
    auth.create_user("carol", default_group="team-c")
    auth.create_user("root", admin=True)
    auth.add_member("team-a", "bob", write=False)
    keys = {name: auth.create_key(name)[1] for name in ("alice", "bob", "carol", "root")}
    keys["wrong"] = keys["alice"][:-4] + "XXXX"
    (tmp_path / "x.txt").write_text("secret data")
    alice = HttpRegistry(server.url, api_key=keys["alice"])
    art = alice.upload_file(tmp_path / "x.txt", name="x", folder="/shared")
    snap = alice.create_plugin_snapshot("plug", "1", [("plug.py", b"X = 1\n")])
    alice.close()
    return World(server, keys, art.id, snap.id)


READS = [
    ("GET", "/artifacts/{id}"),
    ("GET", "/resolve?ref=/shared/x:1"),
    ("GET", "/artifacts/{id}/files"),
    ("GET", "/artifacts/{id}/contents"),
    ("GET", "/artifacts/{id}/runs"),
    ("GET", "/artifacts/{id}/aspects"),
    ("GET", "/artifacts/{id}/lineage"),
    ("GET", "/artifacts/{id}/transfers"),
    ("GET", "/plugin-snapshots/{snap}"),
    ("GET", "/plugin-snapshots/{snap}/files?path=plug.py"),
]
WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("PATCH", "/artifacts/{id}", {"json": {"description": "changed"}}),
    ("POST", "/artifacts/{id}/runs", {"json": {"runId": RUN_ID, "category": "input"}}),
    ("POST", "/artifacts/{id}/aspects", {"json": {"aspect": {"rows": 1}}}),
    ("POST", "/artifacts/{id}/aliases", {"json": {"alias": "prod"}}),
    ("DELETE", "/artifacts/{id}", {}),
]
LISTINGS = ["/artifacts", "/artifact-count", "/artifact-ids", f"/runs/{RUN_ID}/artifacts", f"/jobs/{RUN_ID}/artifacts"]


def _path(world: World, template: str) -> str:
    return template.format(id=world.art_id, snap=world.snapshot_id)


ENDPOINTS = READS + [(m, t) for m, t, _ in WRITES] + [("GET", p) for p in LISTINGS] + [
    ("POST", "/artifacts"), ("POST", "/artifacts/batch"), ("HEAD", "/blobs/" + "0" * 64), ("PUT", "/blobs/" + "0" * 64),
    ("POST", "/plugin-snapshots"), ("POST", "/admin/gc"), ("GET", "/whoami"), ("GET", "/storages"),
    ("POST", "/artifacts/{id}/transfers"),
    ("GET", "/groups"), ("GET", "/groups/team-a"), ("GET", f"/jobs/{RUN_ID}"),
    ("POST", "/schemas"), ("GET", "/schemas"), ("GET", "/schemas/urn:example:s:1")]


def test_every_endpoint_needs_a_valid_key(world: World) -> None:
    for method, template in ENDPOINTS:
        for who in (None, "wrong"):
            response = world.call(who, method, _path(world, template))
            assert response.status_code == 401, (who, method, template, response.text)
            if method != "HEAD":
                assert response.json()["error"] == "AuthenticationError"
            assert response.headers["www-authenticate"] == "Bearer"
    assert world.call(None, "GET", "/health").status_code == 200


def test_reads(world: World) -> None:
    for method, template in READS:
        path = _path(world, template)
        assert world.call("alice", method, path).status_code == 200, template
        assert world.call("bob", method, path).status_code == 200, template  # read-only member
        assert world.call("root", method, path).status_code == 200, template
        hidden = world.call("carol", method, path)
        assert hidden.status_code == 404, (template, hidden.text)  # not 403: existence is not revealed
        assert hidden.json()["error"] == "ArtifactNotFound"


@pytest.mark.parametrize(("method", "template", "kwargs"), WRITES)
def test_writes(world: World, method: str, template: str, kwargs: dict[str, Any]) -> None:
    path = _path(world, template)
    assert world.call("carol", method, path, **kwargs).status_code == 404
    refused = world.call("bob", method, path, **kwargs)
    assert refused.status_code == 403 and refused.json()["error"] == "PermissionDenied"
    before = world.call("alice", "GET", f"/artifacts/{world.art_id}").json()
    assert before["description"] is None and before["runs"] == []  # refused writes changed nothing
    assert world.call("alice", "GET", f"/artifacts/{world.art_id}/aspects").json() == []
    assert world.call("alice", method, path, **kwargs).status_code in (200, 201, 204)
    after = world.call("alice", "GET", f"/artifacts/{world.art_id}")
    if method == "DELETE":
        assert after.status_code == 404
        return
    changed = {
        "/artifacts/{id}": lambda: after.json()["description"] == "changed",
        "/artifacts/{id}/runs": lambda: after.json()["runs"][0]["runId"] == RUN_ID,
        "/artifacts/{id}/aspects": lambda: len(world.call("bob", "GET", _path(world, template)).json()) == 1,
        "/artifacts/{id}/aliases": lambda: world.call("bob", "GET", "/resolve?ref=/shared/x:prod").status_code == 200,
    }
    assert changed[template]()


def test_listings_show_only_readable_groups(world: World) -> None:
    assert world.call("alice", "POST", f"/artifacts/{world.art_id}/runs",
                      json={"runId": RUN_ID, "category": "output"}).status_code == 201
    for who, expected in (("alice", 1), ("bob", 1), ("root", 1), ("carol", 0)):
        page = world.call(who, "GET", "/artifacts").json()
        assert page["totalNumResults"] == expected and len(page["data"]) == expected, who
        assert world.call(who, "GET", "/artifact-count").json() == expected
        assert len(world.call(who, "GET", "/artifact-ids").json()) == expected
        assert len(world.call(who, "GET", f"/runs/{RUN_ID}/artifacts").json()) == expected
        assert len(world.call(who, "GET", f"/jobs/{RUN_ID}/artifacts").json()) == expected
        job = world.call(who, "GET", f"/jobs/{RUN_ID}")
        assert job.status_code == (200 if expected else 404), who  # a job with nothing readable is not found
        assert not expected or [a["id"] for a in job.json()["outputs"]] == [world.art_id]
        assert world.call(who, "GET", "/artifacts", params={"search": "name:x"}).json()["totalNumResults"] == expected


def test_creates_need_write_access_to_the_target_group(world: World, tmp_path: Path) -> None:
    (tmp_path / "y.txt").write_text("y")
    for who in ("bob", "carol"):
        with world.client(who) as reg:
            art = reg.upload_file(tmp_path / "y.txt", name=f"own-{who}", folder=f"/{who}")  # own group: fine
            assert art.group_id == f"team-{who[0]}"
            body = {"folder": f"/{who}", "name": "into-a", "kind": "file", "files": [], "groupId": "team-a"}
            response = world.call(who, "POST", "/artifacts", json=body)
            assert response.status_code == 403 and response.json()["error"] == "PermissionDenied"
    with world.client("alice") as reg:
        assert reg.upload_file(tmp_path / "y.txt", name="by-alice", folder="/alice").group_id == "team-a"


def test_client_raises_the_same_exceptions(world: World, tmp_path: Path) -> None:
    with HttpRegistry(world.server.url, api_key=world.keys["wrong"]) as reg, pytest.raises(AuthenticationError):
        reg.list()
    with HttpRegistry(world.server.url) as reg, pytest.raises(AuthenticationError):
        reg.get(world.art_id)
    with world.client("carol") as reg:
        with pytest.raises(ArtifactNotFound):
            reg.get(world.art_id)
        with pytest.raises(ArtifactNotFound):
            reg.get("/shared/x")
        with pytest.raises(ArtifactNotFound):
            reg.delete(world.art_id)
        with pytest.raises(ArtifactNotFound):
            reg.get_plugin_snapshot(world.snapshot_id)
        with pytest.raises(PermissionDenied):
            reg.gc()
    with world.client("bob") as reg:
        art = reg.get("/shared/x:latest")
        assert art.open().read() == b"secret data"
        with pytest.raises(PermissionDenied):
            art.delete()
        with pytest.raises(PermissionDenied):
            art.add_metadata({"a": 1})
        with pytest.raises(PermissionDenied):
            reg.set_alias(art.id, "prod")
    with world.client("root") as reg:
        assert reg.gc(dry_run=True).dry_run


def test_other_groups_names_cannot_be_replaced_or_skipped_into(world: World, tmp_path: Path) -> None:
    # /shared is team-a's folder: nobody else creates names in it, with any strategy
    # (a new version of team-a's name used to go to team-c: see tests/server/test_trust.py).
    (tmp_path / "x.txt").write_text("carol's")
    with world.client("carol") as reg:
        for strategy in ("replace", "skip", "error", "new"):
            with pytest.raises(PermissionDenied):
                reg.upload_file(tmp_path / "x.txt", name="x", folder="/shared", conflict_strategy=strategy)
    with world.client("bob") as reg:  # can read team-a but not write it: refused too
        (tmp_path / "b.txt").write_text("bob")
        with pytest.raises(PermissionDenied):
            reg.upload_file(tmp_path / "b.txt", name="x", folder="/shared", conflict_strategy="replace")
    with world.client("alice") as reg:
        assert reg.get(world.art_id).open().read() == b"secret data"  # untouched


def test_idempotency_keys_are_per_user(world: World, tmp_path: Path) -> None:
    (tmp_path / "k.txt").write_text("k")
    with world.client("alice") as alice, world.client("carol") as carol:
        first = alice.upload_file(tmp_path / "k.txt", name="k", idempotency_key="same-key")
        again = alice.upload_file(tmp_path / "k.txt", name="k", idempotency_key="same-key")
        assert again.id == first.id
        other = carol.upload_file(tmp_path / "k.txt", name="k2", folder="/carol", idempotency_key="same-key")
        assert other.id != first.id and other.group_id == "team-c"


def test_snapshots_shared_by_content_are_readable_by_both_groups(world: World) -> None:
    with world.client("carol") as carol:
        snap = carol.create_plugin_snapshot("plug", "1", [("plug.py", b"X = 1\n")])
        assert snap.id == world.snapshot_id  # same code, same snapshot
        assert carol.read_plugin_snapshot_file(snap.id, "plug.py") == b"X = 1\n"


def test_revoked_keys_stop_working(world: World) -> None:
    assert world.call("alice", "GET", "/whoami").json()["user"] == "alice"
    AuthCatalog(world.server.registry.catalog.engine).revoke_key(world.keys["alice"])
    time.sleep(0.3)  # the server trusts a verified key for cache_seconds (0.2 here)
    assert world.call("alice", "GET", "/whoami").status_code == 401


def test_keys_are_stored_hashed(world: World) -> None:
    with world.server.registry.catalog.engine.connect() as conn:
        stored = {row[0] for row in conn.exec_driver_sql("SELECT key_hash FROM api_keys")}
    secret = world.keys["alice"]
    assert secret not in stored and hashlib.sha256(secret.encode()).hexdigest() in stored


def test_whoami(world: World) -> None:
    assert world.call("bob", "GET", "/whoami").json() == {
        "user": "bob", "isAdmin": False, "defaultGroup": "team-b", "groups": {"team-a": False, "team-b": True}}
    assert world.call("root", "GET", "/whoami").json()["groups"] is None


def test_groups_are_the_callers_own(world: World) -> None:
    """``GET /groups`` lists the caller's groups (an admin's: all); another group is not found."""
    def groups(who: str) -> dict[str, bool]:
        return {g["id"]: g["canWrite"] for g in world.call(who, "GET", "/groups").json()}

    assert groups("alice") == {"team-a": True}
    assert groups("bob") == {"team-a": False, "team-b": True}
    assert {"team-a", "team-b", "team-c"} <= set(groups("root"))
    assert world.call("bob", "GET", "/groups/team-a").json() == {"id": "team-a", "canWrite": False,
                                                                 "isDefault": False}
    hidden = world.call("carol", "GET", "/groups/team-a")
    assert hidden.status_code == 404 and hidden.json()["error"] == "ArtifactNotFound"
