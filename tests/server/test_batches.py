"""``POST /artifacts/batch`` and `HttpRegistry.upload_many` against a real server.

One request creates up to 500 artifacts, each item checked and reported on its own
(group, possession of its content, its name and manifest, its inline content); the
client sends small contents inside the request, splits bigger batches, retries safely
(idempotency keys fixed before the first attempt) and falls back to one create per
item on a server without the route.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_artifacts.errors import (
    ArtifactConflict,
    BlobNotFound,
    InvalidName,
    PermissionDenied,
    StorageError,
)
from prefect_artifacts.registry import http as http_module
from prefect_artifacts.registry import http_batch
from prefect_artifacts.registry.http import HttpRegistry
from tests.support.live_server import LiveServer
from tests.support.proxies import DroppingProxy, Rule
from tests.support.registries import make_registry

BATCH = "/api/v1/artifacts/batch"


@dataclass
class Seen:
    """The requests a client sent: ``METHOD path`` and, for batch creates, the item count."""

    requests: list[str] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)

    def hook(self, request: httpx.Request) -> None:
        self.requests.append(f"{request.method} {request.url.path}")
        if request.url.path == BATCH:
            self.batch_sizes.append(len(json.loads(request.content)["items"]))

    def count(self, prefix: str) -> int:
        return sum(r.startswith(prefix) for r in self.requests)


@dataclass
class World:
    server: LiveServer
    keys: dict[str, str]
    seen: Seen = field(default_factory=Seen)

    def client(self, who: str, transport: httpx.BaseTransport | None = None) -> HttpRegistry:
        client = httpx.Client(event_hooks={"request": [self.seen.hook]}, transport=transport, timeout=60)
        return HttpRegistry(self.server.url, api_key=self.keys[who], client=client, backoff=0.01)

    def post(self, who: str, body: Any) -> httpx.Response:
        return httpx.post(self.server.url + "/artifacts/batch", json=body, timeout=60,
                          headers={"Authorization": f"Bearer {self.keys[who]}"})


@pytest.fixture
def world(shared_server: LiveServer, tmp_path: Path) -> Iterator[World]:
    """alice writes team-a, carol writes team-c."""
    server = shared_server.use(make_registry(tmp_path / "server"))
    server.auth.create_user("alice", default_group="team-a")
    server.auth.create_user("carol", default_group="team-c")
    yield World(server, {who: server.auth.create_key(who)[1] for who in ("alice", "carol")})
    server.registry.close()


@pytest.fixture
def files(tmp_path: Path) -> Callable[[int], list[Path]]:
    def make(n: int, prefix: str = "f") -> list[Path]:
        (tmp_path / "in").mkdir(exist_ok=True)
        out = []
        for i in range(n):
            path = tmp_path / "in" / f"{prefix}{i}.txt"
            path.write_text(f"content of {prefix}{i}")
            out.append(path)
        return out
    return make


def _item(name: str, data: bytes, folder: str = "/carol", **extra: Any) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    return {"folder": folder, "name": name, "kind": "file",
            "files": [{"path": name, "digest": digest, "size": len(data)}], **extra}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_one_request_creates_every_item_with_its_content_inline(world: World, files: Any) -> None:
    paths = files(30)
    with world.client("alice") as reg:
        results = reg.upload_many([{"path": p, "labels": ["b"]} for p in paths], folder="/alice")
        arts = [r.unwrap() for r in results]
        assert world.seen.requests == [f"POST {BATCH}"]  # no PUT /blobs, no POST /artifacts
        assert world.seen.batch_sizes == [30]
        assert [a.name for a in arts] == [p.name for p in paths]
        assert all(a.group_id == "team-a" and a.labels == ["b"] for a in arts)
        assert b"".join(reg.read(arts[17].id)) == b"content of f17"
        assert reg.count(folder="/alice") == 30


def test_slices_of_250_go_as_requests_in_order(world: World, files: Any) -> None:
    """Each slice's request is sent while the next slice is stored; the results keep the items' order."""
    paths = files(620)
    with world.client("alice") as reg:
        results = reg.upload_many([{"path": p} for p in paths], folder="/alice")
        assert world.seen.batch_sizes == [250, 250, 120]
        assert [r.unwrap().name for r in results] == [p.name for p in paths]
        assert [b"".join(reg.read(results[i].unwrap().id)) for i in (0, 249, 250, 619)] == [
            paths[i].read_bytes() for i in (0, 249, 250, 619)]


def test_versions_of_a_name_follow_the_items_across_requests_in_flight(world: World, files: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Two requests may be in flight; one naming what an unanswered one names waits for it."""
    monkeypatch.setattr(http_batch, "BATCH_SLICE", 5)
    paths = files(40)
    with world.client("alice") as reg:
        items = [{"path": p, "name": "same" if i % 2 else p.name} for i, p in enumerate(paths)]
        arts = [r.unwrap() for r in reg.upload_many(items, folder="/alice")]
        assert world.seen.batch_sizes == [5] * 8
        assert [a.version for a in arts if a.name == "same"] == list(range(1, 21))
        assert [b"".join(reg.read(a.id)) for a in arts] == [p.read_bytes() for p in paths]


def test_501_items_take_two_requests(world: World, files: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_batch, "BATCH_SLICE", 1000)  # one slice: the request's cap of 500 splits it
    paths = files(501)
    with world.client("alice") as reg:
        results = reg.upload_many([{"path": p} for p in paths], folder="/alice")
        assert all(r.ok for r in results)
        assert world.seen.batch_sizes == [500, 1]
        assert world.seen.count("PUT ") == 0
        assert reg.count(folder="/alice") == 501
        assert b"".join(reg.read(results[500].unwrap().id)) == b"content of f500"


def test_more_than_500_items_in_one_request_are_refused_whole(world: World) -> None:
    items = [_item(f"n{i}", b"x", blobs={hashlib.sha256(b"x").hexdigest(): _b64(b"x")}) for i in range(501)]
    response = world.post("carol", {"items": items})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "InvalidArtifactInput" and "items" in body["message"] and "500" in body["message"]
    assert world.server.registry.count() == 0


def test_an_item_into_another_groups_folder_is_refused_alone(world: World, files: Any) -> None:
    a, c = files(2)
    with world.client("alice") as alice:
        alice.upload_file(a, name="theirs", folder="/shared")
    with world.client("carol") as carol:
        results = carol.upload_many([{"path": a, "name": "mine", "folder": "/shared"},
                                     {"path": c, "name": "mine", "folder": "/carol"}])
        assert isinstance(results[0].error, PermissionDenied) and str(results[0].error).startswith("item 0:")
        assert results[1].unwrap().group_id == "team-c"
    assert world.seen.count(f"POST {BATCH}") == 1
    assert sorted(a.ref for a in world.server.registry.list(page_length=10).data) == ["/carol/mine:1",
                                                                                      "/shared/theirs:1"]


def test_an_item_naming_content_the_caller_does_not_possess_is_refused_alone(world: World, tmp_path: Path) -> None:
    secret = b"alice's secret " * 10
    (tmp_path / "s.bin").write_bytes(secret)
    with world.client("alice") as alice:
        alice.upload_many([{"path": tmp_path / "s.bin", "folder": "/alice"}])
    mine = b"carol's own"
    response = world.post("carol", {  # carol knows the digest, not the content: she must not get it
        "items": [_item("steal", secret), _item("own", mine)],
        "blobs": {hashlib.sha256(mine).hexdigest(): _b64(mine)}})
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert first["index"] == 0 and first.get("artifact") is None
    assert first["error"]["type"] == "BlobNotFound" and first["error"]["status"] == 404
    assert second["created"] is True and second["artifact"]["name"] == "own"
    with world.client("carol") as carol:
        assert [a.name for a in carol.list().data] == ["own"]
        assert b"".join(carol.read(second["artifact"]["id"])) == mine


def test_malformed_items(world: World) -> None:
    good = _item("good", b"g", blobs={hashlib.sha256(b"g").hexdigest(): _b64(b"g")})
    # A missing or mistyped field: the request does not parse, nothing is created, the message names the place.
    missing = {k: v for k, v in _item("m", b"m").items() if k != "kind"}
    response = world.post("carol", {"items": [good, missing]})
    assert response.status_code == 400 and "items.1.kind" in response.json()["message"]
    response = world.post("carol", {"items": [good, {**_item("t", b"t"), "files": "nope"}]})
    assert response.status_code == 400 and "items.1.files" in response.json()["message"]
    assert world.server.registry.count() == 0
    # A bad name or digest: that item's error, the others created.
    bad_digest = {**_item("d", b"d"), "files": [{"path": "d", "digest": "not-a-digest", "size": 1}]}
    bad_base64 = {**_item("b64", b"b"), "blobs": {hashlib.sha256(b"b").hexdigest(): "%%%"}}
    response = world.post("carol", {"items": [good, _item("bad;name", b"g"), bad_digest, bad_base64]})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert results[0]["created"] is True
    assert results[1]["error"]["type"] == "InvalidName"
    assert results[2]["error"]["status"] == 400 and "digest" in results[2]["error"]["detail"]
    assert results[3]["error"]["type"] == "InvalidArtifactInput" and "base64" in results[3]["error"]["detail"]
    assert world.server.registry.count() == 1


def test_inline_content_that_does_not_match_its_digest_is_refused(world: World) -> None:
    real, fake = b"the real bytes", b"other bytes"
    digest = hashlib.sha256(real).hexdigest()
    fine = b"fine"
    response = world.post("carol", {
        "items": [_item("lie", real), _item("fine", fine)],
        "blobs": {digest: _b64(fake), hashlib.sha256(fine).hexdigest(): _b64(fine)}})
    first, second = response.json()["results"]
    assert first["error"]["type"] == "ArtifactIntegrityError" and first["error"]["status"] == 409
    assert second["created"] is True
    assert not world.server.registry.store.exists(digest)
    # content no item uses, or not base64: the whole request is refused
    response = world.post("carol", {"items": [_item("fine2", fine)], "blobs": {"ab" * 32: _b64(b"?")}})
    assert response.status_code == 400 and "not a file of any item" in response.json()["message"]
    response = world.post("carol", {"items": [_item("fine3", fine)], "blobs": {hashlib.sha256(fine).hexdigest(): "*"}})
    assert response.status_code == 400 and "base64" in response.json()["message"]
    assert world.server.registry.count() == 1


def test_a_server_side_failure_of_one_item_hides_its_details(world: World, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    store_type = type(world.server.registry.store)
    real_put = store_type.put_bytes

    def failing_put(self: Any, data: bytes, sync: bool = True) -> Any:  # a disk failing on one content
        if data == b"boom":
            raise StorageError("write failed under /srv/secret/blobs")
        return real_put(self, data, sync)

    monkeypatch.setattr(store_type, "put_bytes", failing_put)
    blobs = {hashlib.sha256(d).hexdigest(): _b64(d) for d in (b"boom", b"fine")}
    response = world.post("carol", {"items": [_item("boom", b"boom"), _item("fine", b"fine")], "blobs": blobs})
    first, second = response.json()["results"]
    assert first["error"]["type"] == "StorageError" and first["error"]["status"] == 502
    assert "/srv/secret" not in response.text and "server log" in first["error"]["detail"]
    assert "/srv/secret" in caplog.text
    assert second["created"] is True


def test_a_retried_request_returns_the_same_artifacts(world: World) -> None:
    data = b"once"
    body = {"items": [_item(f"r{i}", data, idempotencyKey=f"key-{i}") for i in range(3)],
            "blobs": {hashlib.sha256(data).hexdigest(): _b64(data)}}
    first = world.post("carol", body).json()["results"]
    again = world.post("carol", body).json()["results"]
    assert [r["created"] for r in first] == [True] * 3 and [r["created"] for r in again] == [False] * 3
    assert [r["artifact"]["id"] for r in again] == [r["artifact"]["id"] for r in first]
    assert world.server.registry.count() == 3
    # the same keys from another user are that user's own
    other = world.post("alice", {**body, "items": [{**i, "folder": "/alice"} for i in body["items"]]}).json()
    assert {r["artifact"]["id"] for r in other["results"]}.isdisjoint(r["artifact"]["id"] for r in first)


def test_the_client_retries_a_dropped_batch_without_duplicates(open_server: LiveServer, files: Any) -> None:
    proxy = DroppingProxy(open_server.port)
    proxy.rules.append(Rule(f"POST {BATCH} ".encode(), times=1))  # the server commits, the answer is lost
    try:
        with HttpRegistry(proxy.url(), backoff=0.01) as reg:
            results = reg.upload_many([{"path": p} for p in files(5)], folder="/retry")
            assert all(r.ok for r in results)
            assert [r.unwrap().version for r in results] == [1] * 5
        assert sum(r.startswith(f"POST {BATCH} ".encode()) for r in proxy.requests) == 2
        assert open_server.registry.count() == 5
    finally:
        proxy.close()


def test_item_errors_come_back_as_the_servers_exception_classes(world: World, files: Any) -> None:
    a, b, c = files(3)
    with world.client("carol") as reg:
        reg.upload_file(a, name="taken", folder="/carol")
        results = reg.upload_many([{"path": b, "name": "taken", "conflict_strategy": "error"},
                                   {"path": c, "name": "bad;name"}, {"path": a, "name": "ok"}], folder="/carol")
        assert isinstance(results[0].error, ArtifactConflict)
        assert isinstance(results[1].error, InvalidName)
        assert results[2].ok


def test_big_inline_totals_go_as_blob_uploads(world: World, files: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_batch, "MAX_REQUEST_INLINE_BYTES", 30)  # two 13-byte contents fit, 3 are PUT
    paths = files(5)
    with world.client("carol") as reg:
        results = reg.upload_many([{"path": p} for p in paths], folder="/carol")
        assert [b"".join(reg.read(r.unwrap().id)) for r in results] == [p.read_bytes() for p in paths]
    assert world.seen.count("PUT /api/v1/blobs/") == 3 and world.seen.count(f"POST {BATCH}") == 1


def test_the_client_holds_a_bounded_amount_of_small_contents(world: World, files: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_module, "BATCH_INLINE_BYTES", 30)  # two 13-byte contents held, 3 PUT at once
    paths = files(5)
    with world.client("carol") as reg:
        results = reg.upload_many([{"path": p} for p in paths], folder="/carol")
        assert [b"".join(reg.read(r.unwrap().id)) for r in results] == [p.read_bytes() for p in paths]
    assert world.seen.count("PUT /api/v1/blobs/") == 3 and world.seen.count(f"POST {BATCH}") == 1
    puts = [i for i, r in enumerate(world.seen.requests) if r.startswith("PUT ")]
    assert max(puts) < world.seen.requests.index(f"POST {BATCH}")  # the PUTs came first


def test_the_server_refuses_too_much_inline_content(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect_artifacts._server.routes import artifacts

    monkeypatch.setattr(artifacts, "MAX_REQUEST_INLINE_BYTES", 10)
    data = b"eleven byte"
    response = world.post("carol", {"items": [_item("big", data)],
                                    "blobs": {hashlib.sha256(data).hexdigest(): _b64(data)}})
    assert response.status_code == 413 and "inline content" in response.json()["message"]
    assert world.server.registry.count() == 0


def test_an_older_server_gets_one_create_per_item(world: World, files: Any) -> None:
    real = httpx.HTTPTransport()

    class WithoutBatches(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == BATCH:
                return httpx.Response(404, json={"error": "NotFound", "message": "Not Found"})
            return real.handle_request(request)

    paths = files(3)
    with world.client("carol", transport=WithoutBatches()) as reg:
        results = reg.upload_many([{"path": p} for p in paths], folder="/carol")
        assert [b"".join(reg.read(r.unwrap().id)) for r in results] == [p.read_bytes() for p in paths]
        reg.upload_many([{"path": paths[0], "name": "again"}], folder="/carol")
    assert world.seen.count(f"POST {BATCH}") == 1  # asked once, then remembered
    assert world.seen.requests.count("POST /api/v1/artifacts") == 4  # one create per item
    assert world.seen.count("PUT /api/v1/blobs/") == 4  # each item's content uploaded before its create

    def missing_blob(request: httpx.Request) -> httpx.Response:  # a 404 with an error body is a real error
        return httpx.Response(404, json={"error": "BlobNotFound", "message": "content x has not been uploaded"})

    with world.client("carol", transport=httpx.MockTransport(missing_blob)) as reg, pytest.raises(BlobNotFound):
        reg.upload_many([{"path": paths[0]}], folder="/carol")
