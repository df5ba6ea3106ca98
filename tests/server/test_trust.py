"""A server many teams share: what a caller may take from a digest, a name or its own claims.

Each test is an attack on a real uvicorn server with API keys, first as it was reported
(every one succeeded before the rules moved into the registry), then the next thing a
careful attacker would try. alice writes team-a; bob writes team-b (the attacker);
carol writes team-c and reads team-a; root is an admin.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_artifacts._server import ApiKeyAuth
from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.settings import get_settings
from prefect_artifacts.testing import TenancyContract, payload
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry

BIG = 3_000_000  # over the client's direct-PUT size: it asks HEAD first


@dataclass
class World:
    server: LiveServer
    keys: dict[str, str]
    secret: bytes  # team-a's content
    digest: str
    art_id: str

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}", **kwargs.pop("headers", {})}
        return httpx.request(method, self.server.url + path, headers=headers, timeout=60, **kwargs)

    def client(self, who: str, **kwargs: Any) -> HttpRegistry:
        return HttpRegistry(self.server.url, api_key=self.keys[who], **kwargs)

    def put(self, who: str, data: bytes) -> httpx.Response:
        return self.call(who, "PUT", f"/blobs/{_sha(data)}", content=data,
                         headers={"Content-Type": "application/octet-stream"})

    def blob_count(self) -> int:
        return sum(1 for _ in self.server.registry.store.iter_blobs())


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _users(registry: LocalRegistry) -> dict[str, str]:
    auth = AuthCatalog(registry.catalog.engine)
    for name, group in (("alice", "team-a"), ("bob", "team-b"), ("carol", "team-c")):
        auth.create_user(name, default_group=group)
    auth.create_user("root", admin=True)
    auth.add_member("team-a", "carol", write=False)
    return {name: auth.create_key(name)[1] for name in ("alice", "bob", "carol", "root")}


def _world(start_server: Callable[..., LiveServer], registry: LocalRegistry, tmp_path: Path) -> World:
    server = start_server(registry, auth=ApiKeyAuth(AuthCatalog(registry.catalog.engine), cache_seconds=0.2))
    keys = _users(registry)
    secret = payload(BIG, seed=1)
    (tmp_path / "model.bin").write_bytes(secret)
    with HttpRegistry(server.url, api_key=keys["alice"]) as alice:
        art = alice.upload_file(tmp_path / "model.bin", name="model", folder="/team-a/models")
    return World(server, keys, secret, _sha(secret), art.id)


@pytest.fixture
def world(start_server: Callable[..., LiveServer], tmp_path: Path) -> World:
    return _world(start_server, make_registry(tmp_path / "server"), tmp_path)


def _file_artifact(folder: str, name: str, files: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"folder": folder, "name": name, "kind": "file", "files": files, **fields}


def _stored(path: str, digest: str, **fields: Any) -> dict[str, Any]:
    return {"path": path, "digest": digest, **fields}


# -- possession, not knowledge --------------------------------------------------------


def test_head_blob_answers_only_what_the_caller_possesses(world: World) -> None:
    path, random = f"/blobs/{world.digest}", f"/blobs/{_sha(b'never stored')}"
    for who in ("alice", "carol", "root"):  # the uploader, a reader of team-a, an admin
        found = world.call(who, "HEAD", path)
        assert found.status_code == 200 and found.headers["x-blob-size"] == str(BIG), who
    assert world.call("bob", "HEAD", path).status_code == 404  # stored, but not his to know
    for who in ("alice", "bob", "carol", "root"):
        assert world.call(who, "HEAD", random).status_code == 404


def test_a_known_digest_does_not_give_another_groups_content(world: World) -> None:
    """The first report: HEAD said 200, then a create naming the digest, then GET …/contents."""
    attempts = {}
    for digest in (world.digest, _sha(b"never stored")):
        body = _file_artifact("/team-b", "stolen", [_stored("m.bin", digest, size=BIG, checksum=digest)])
        attempts[digest] = world.call("bob", "POST", "/artifacts", json=body)
    stolen, random = attempts.values()
    assert stolen.status_code == 404 and stolen.json()["error"] == "BlobNotFound"
    # The same answer as for content that does not exist at all (the digest aside).
    assert stolen.text.replace(world.digest, "<d>") == random.text.replace(_sha(b"never stored"), "<d>")
    assert world.call("bob", "GET", "/artifact-count").json() == 0


def test_a_reference_cannot_carry_a_digest(world: World) -> None:
    """A reference is read from its URI: with a digest, the server used to serve that blob."""
    body = {"folder": "/team-b", "name": "ref", "kind": "reference", "files": [
        {"path": "m.bin", "uri": "https://example.invalid/m.bin", "digest": world.digest, "size": BIG,
         "checksum": "etag:x"}]}
    response = world.call("bob", "POST", "/artifacts", json=body)
    assert response.status_code == 400 and "no digest" in response.json()["message"]
    assert world.call("bob", "GET", "/artifact-count").json() == 0


def test_a_plugin_snapshot_cannot_name_another_groups_blob(world: World) -> None:
    listed = [{"path": "stolen.py", "checksum": world.digest, "size": BIG}]
    digest = _sha(f"stolen.py\0{world.digest}\n".encode())
    response = world.call("bob", "POST", "/plugin-snapshots",
                          json={"pluginName": "stolen", "version": "1", "digest": digest, "files": listed})
    assert response.status_code == 409 and response.json()["error"] == "SnapshotIntegrityError"
    assert "has not been uploaded" in response.json()["message"]


def test_uploading_the_bytes_makes_them_yours_and_stores_them_once(world: World, tmp_path: Path) -> None:
    seen: list[tuple[str, str, int]] = []

    def record(response: httpx.Response) -> None:
        seen.append((response.request.method, response.request.url.path.rsplit("/", 1)[-1], response.status_code))

    before = world.blob_count()
    (tmp_path / "same.bin").write_bytes(world.secret)
    with httpx.Client(event_hooks={"response": [record]}) as client, world.client("bob", client=client) as bob:
        mine = bob.upload_file(tmp_path / "same.bin", name="model", folder="/team-b")
        assert b"".join(mine.as_stream()) == world.secret
    assert ("HEAD", world.digest, 404) in seen and ("PUT", world.digest, 200) in seen  # sent, verified, not rewritten
    assert world.blob_count() == before  # stored once
    assert (mine.group_id, mine.size, mine.checksum) == ("team-b", BIG, world.digest)
    # Now bob possesses it: his HEAD says so, and a create may name it without the bytes.
    assert world.call("bob", "HEAD", f"/blobs/{world.digest}").status_code == 200
    again = _file_artifact("/team-b", "again", [_stored("m.bin", world.digest)])
    assert world.call("bob", "POST", "/artifacts", json=again).status_code == 201
    assert world.call("alice", "DELETE", f"/artifacts/{world.art_id}").status_code == 204
    assert world.call("bob", "GET", f"/artifacts/{mine.id}/contents").content == world.secret


def test_a_wrong_upload_gives_nothing(world: World) -> None:
    """Bytes that do not hash to the digest are refused, even for content stored already."""
    response = world.call("bob", "PUT", f"/blobs/{world.digest}", content=b"x" * 1000,
                          headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 409 and response.json()["error"] == "ArtifactIntegrityError"
    assert world.call("bob", "HEAD", f"/blobs/{world.digest}").status_code == 404


def test_content_sent_with_the_create_counts_as_uploaded(world: World) -> None:
    data = b"small and inline"
    digest = _sha(data)
    body = _file_artifact("/team-b", "inline", [_stored("s.txt", digest)],
                          blobs={digest: base64.b64encode(data).decode()})
    created = world.call("bob", "POST", "/artifacts", json=body)
    assert created.status_code == 201 and created.json()["artifact"]["size"] == len(data)
    later = _file_artifact("/team-b", "later", [_stored("s.txt", digest)])  # through his artifact now
    assert world.call("bob", "POST", "/artifacts", json=later).status_code == 201
    lying = _file_artifact("/team-b", "lying", [_stored("s.txt", world.digest)],
                           blobs={world.digest: base64.b64encode(data).decode()})
    response = world.call("bob", "POST", "/artifacts", json=lying)
    assert response.status_code == 409 and response.json()["error"] == "ArtifactIntegrityError"


def test_possession_ends_with_deletion_and_quarantine(world: World) -> None:
    """carol reads team-a, so she may build from its content, until it is quarantined or deleted."""
    head = f"/blobs/{world.digest}"
    body = _file_artifact("/team-c", "copy", [_stored("m.bin", world.digest)])
    for label in ("quarantined", "corrupt"):
        assert world.call("alice", "PATCH", f"/artifacts/{world.art_id}", json={"labels": [label]}).status_code == 200
        assert world.call("carol", "HEAD", head).status_code == 404
        refused = world.call("carol", "POST", "/artifacts", json=body)
        assert refused.status_code == 404 and refused.json()["error"] == "BlobNotFound"
        assert world.call("alice", "PATCH", f"/artifacts/{world.art_id}", json={"labels": []}).status_code == 200
        assert world.call("carol", "HEAD", head).status_code == 200
    assert world.call("alice", "DELETE", f"/artifacts/{world.art_id}").status_code == 204
    assert world.call("carol", "HEAD", head).status_code == 404
    assert world.call("carol", "POST", "/artifacts", json=body).status_code == 404
    assert world.call("root", "HEAD", head).status_code == 404  # admins too: nothing live holds it
    assert world.call("alice", "HEAD", head).status_code == 200  # she uploaded it within the grace period


def test_an_upload_is_yours_for_the_grace_period(start_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    settings = get_settings().model_copy(update={"durable": False, "gc_grace_seconds": 1.0})
    registry = LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(tmp_path / "c.sqlite"), settings=settings)
    world = _world(start_server, registry, tmp_path)
    data = payload(300_000, seed=2)
    assert world.put("bob", data).status_code == 201
    body = _file_artifact("/team-b", "late", [_stored("d.bin", _sha(data))])
    assert world.call("bob", "HEAD", f"/blobs/{_sha(data)}").status_code == 200
    time.sleep(1.2)  # past the grace period: garbage collection may take the blob at any time now
    assert world.call("bob", "HEAD", f"/blobs/{_sha(data)}").status_code == 404
    assert world.call("bob", "POST", "/artifacts", json=body).status_code == 404
    assert world.put("bob", data).status_code == 200  # sent again: verified, not rewritten, his again
    assert world.call("bob", "POST", "/artifacts", json=body).status_code == 201


def test_garbage_collection_forgets_uploads(world: World) -> None:
    data = payload(300_000, seed=3)
    assert world.put("bob", data).status_code == 201
    with world.server.registry.catalog.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM blob_uploads").scalar() >= 2  # alice's and bob's
    assert world.call("root", "POST", "/admin/gc", params={"graceSeconds": 0}).status_code == 200
    with world.server.registry.catalog.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM blob_uploads").scalar() == 0
    assert world.call("bob", "HEAD", f"/blobs/{_sha(data)}").status_code == 404


# -- folders belong to groups ---------------------------------------------------------


def _inline(data: bytes) -> dict[str, Any]:
    digest = _sha(data)
    return {"files": [_stored("x.txt", digest)], "blobs": {digest: base64.b64encode(data).decode()}}


def test_a_group_cannot_create_names_in_another_groups_folder(world: World, tmp_path: Path) -> None:
    """The second report: bob made /team-a/models/future-model; alice's upload became v2."""
    squat = {"folder": "/team-a/models", "name": "future-model", "kind": "file", **_inline(b"bob's")}
    response = world.call("bob", "POST", "/artifacts", json=squat)
    assert response.status_code == 403 and response.json()["error"] == "PermissionDenied"
    (tmp_path / "f.bin").write_bytes(b"alice's future model")
    with world.client("alice") as alice:
        future = alice.upload_file(tmp_path / "f.bin", name="future-model", folder="/team-a/models")
        assert (future.version, future.group_id) == (1, "team-a")
        replaced = alice.upload_file(tmp_path / "f.bin", name="future-model", folder="/team-a/models",
                                     conflict_strategy="replace")
        assert replaced.version == 2


@pytest.mark.parametrize("make_folder", [True, False])
def test_probing_names_gets_one_answer_byte_for_byte(world: World, make_folder: bool) -> None:
    """Every strategy, an existing name or not, an existing sub-folder or not: the same bytes."""
    answers: dict[tuple[str, str, str], httpx.Response] = {}
    for strategy in ("skip", "error", "new", "replace"):
        for folder in ("/team-a/models", "/team-a/no-such-folder", "/Team-A/models"):
            for name in ("model", "no-such-name"):
                body = {"folder": folder, "name": name, "kind": "file", "conflictStrategy": strategy,
                        "makeFolder": make_folder, **_inline(b"probe")}
                answers[(strategy, folder, name)] = world.call("bob", "POST", "/artifacts", json=body)
    shapes = {(r.status_code, r.text.replace(folder, "<folder>")) for (_s, folder, _n), r in answers.items()}
    assert len(shapes) == 1, shapes
    status, text = shapes.pop()
    assert status == 403 and "PermissionDenied" in text
    assert world.call("bob", "GET", "/artifact-count").json() == 0


def test_an_admin_creates_anywhere_for_the_folders_group(world: World) -> None:
    body = {"folder": "/team-a/models", "name": "fix", "kind": "file", **_inline(b"admin's fix")}
    created = world.call("root", "POST", "/artifacts", json=body)
    assert created.status_code == 201 and created.json()["artifact"]["groupId"] == "team-a"
    assert world.call("alice", "GET", "/resolve", params={"ref": "/team-a/models/fix"}).status_code == 200


# -- the server derives what it can ---------------------------------------------------


@pytest.fixture
def uploaded(world: World) -> tuple[bytes, str]:
    data = payload(BIG, seed=4)
    assert world.put("bob", data).status_code == 201
    return data, _sha(data)


@pytest.mark.parametrize("claim", [10, 9_000_000, -5])
def test_a_files_size_is_its_stored_size(world: World, uploaded: tuple[bytes, str], claim: int) -> None:
    _data, digest = uploaded
    body = _file_artifact("/team-b", "sized", [_stored("weights.bin", digest, size=claim)])
    response = world.call("bob", "POST", "/artifacts", json=body)
    assert response.status_code == 400 and "weights.bin" in response.json()["message"], response.text
    assert world.call("bob", "GET", "/artifact-count").json() == 0


def test_derived_fields_are_filled_in_and_downloads_work(world: World, uploaded: tuple[bytes, str]) -> None:
    data, digest = uploaded
    created = world.call("bob", "POST", "/artifacts", json=_file_artifact("/team-b", "ok", [_stored("w.bin", digest)]))
    assert created.status_code == 201
    art = created.json()["artifact"]
    assert (art["size"], art["checksum"], created.json()["files"][0]["size"]) == (BIG, digest, BIG)
    assert world.call("bob", "GET", f"/artifacts/{art['id']}/contents").content == data


@pytest.mark.parametrize(("fields", "files", "named"), [
    ({"checksum": "0" * 64}, [("w.bin", {})], "checksum"),
    ({"size": 1}, [("w.bin", {})], "size"),
    ({"kind": "directory"}, [("w.bin", {})], "is_dir"),  # a directory without isDir
    ({"kind": "file", "isDir": True}, [("w.bin", {})], "'file'"),
    ({"kind": "directory", "isDir": True}, [("same", {}), ("./same", {})], "'same' appears twice"),
    ({"kind": "directory", "isDir": True}, [("a", {}), ("a/b", {})], "both a file and a folder"),
    ({"kind": "directory", "isDir": True}, [("A.txt", {}), ("a.txt", {})], "differ only in case"),
    ({"kind": "directory", "isDir": True}, [("caf\u00e9", {}), ("cafe\u0301", {})], "Unicode form"),
    ({"kind": "object"}, [("w.bin", {})], "serializer"),
    ({}, [("w.bin", {"checksum": "0" * 64})], "w.bin"),
    ({}, [("w.bin", {"digest": "not-a-digest"})], "digest"),
])
def test_claims_that_contradict_the_content_are_refused(
    world: World, uploaded: tuple[bytes, str], fields: dict[str, Any], files: list[tuple[str, dict[str, Any]]],
    named: str,
) -> None:
    _data, digest = uploaded
    listed = [{**_stored(path, digest), **extra} for path, extra in files]
    response = world.call("bob", "POST", "/artifacts", json={**_file_artifact("/team-b", "bad", listed), **fields})
    assert response.status_code == 400 and named in response.json()["message"], response.text
    assert world.call("bob", "GET", "/artifact-count").json() == 0


def test_the_zip_of_a_refused_tree_never_exists(world: World, uploaded: tuple[bytes, str]) -> None:
    """The third report's symptom: `same` and `./same` used to make a zip holding `same` twice."""
    _data, digest = uploaded
    body = {"folder": "/team-b", "name": "twice", "kind": "directory", "isDir": True,
            "files": [_stored("same", digest), _stored("./same", digest)]}
    assert world.call("bob", "POST", "/artifacts", json=body).status_code == 400
    assert world.call("bob", "GET", "/resolve", params={"ref": "/team-b/twice"}).status_code == 404


# -- the same rules through the client ------------------------------------------------


class TestHttpTenancy(TenancyContract):
    """The tenancy contract against the server, each caller with its own API key."""

    __test__ = True

    @pytest.fixture
    def tenants(self, shared_server: LiveServer, tmp_path: Path) -> Iterator[dict[str, HttpRegistry]]:
        server = shared_server.use(make_registry(tmp_path / "server"))
        keys = _users(server.registry)
        clients = {name: HttpRegistry(server.url, api_key=key) for name, key in keys.items()}
        yield clients
        for client in clients.values():
            client.close()
        server.registry.close()
