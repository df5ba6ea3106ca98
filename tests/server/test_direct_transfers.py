"""Direct transfers: bytes go between the client and the server's S3 bucket over presigned URLs.

A real uvicorn server over a registry whose blobs are in a moto bucket; the server's
requests are counted by a middleware, so "the bytes did not pass through the server"
is seen from the server's side. moto checks neither signatures, expiry nor the signed
SHA-256 (the first test writes that down), so the server's store probe finds it does
not check and uploads go to a temp key the server hashes; the S3 mode (straight to the
blob's key, the store's check trusted) runs with ``presign_store_checks=True``. What S3
itself refuses is tested against LocalStack's S3 in test_s3_enforcement.py.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.errors import ArtifactIntegrityError, StorageError
from prefect_artifacts.registry import direct, http
from prefect_artifacts.registry.http import error_from_response
from prefect_artifacts.storage.chunk_index import ChunkIndex
from prefect_artifacts.storage.content_store import ContentStore
from prefect_artifacts.storage.hashing import INDEX_CHUNK, ChunkedSha256
from prefect_artifacts.storage.presigned import checksum_b64
from tests.support.direct_transfers import (
    MULTI,
    SIZE,
    DirectStreamContract,
    backing_registry,
    blob_data,
    counted_server,
    sha_hex,
    user_client,
    write_bytes,
)
from tests.support.live_server import LiveServer
from tests.support.services import MotoServer


class Older:
    """ASGI middleware: a server from before direct transfers (their routes answer as unknown routes do)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith(("/upload-url", "/uploaded")):
            await JSONResponse({"error": "NotFound", "message": "Not Found"}, status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


@pytest.fixture
def make_server(tmp_path: Path, s3_options: dict[str, Any], moto_server: MotoServer
                ) -> Iterator[Callable[..., tuple[LiveServer, Counter[tuple[str, str, int]]]]]:
    started: list[LiveServer] = []

    def make(storage: str | None = None, older: bool = False, **settings: Any
             ) -> tuple[LiveServer, Counter[tuple[str, str, int]]]:
        url = storage or f"s3://{moto_server.make_bucket()}/artifacts"
        reg = backing_registry(tmp_path / f"server{len(started)}", url, None if storage else s3_options, **settings)
        server, seen = counted_server(reg, *([Older] if older else []))
        started.append(server)
        return server, seen

    yield make
    for server in started:
        server.close()


def test_moto_stores_a_body_that_does_not_match_its_signed_checksum(s3_store_url: str,
                                                                    s3_options: dict[str, Any]) -> None:
    """moto does not check x-amz-checksum-sha256 (S3 does): the probe must see that, and say so."""
    from prefect_artifacts.storage.base import ContentStore

    store: Any = ContentStore(s3_store_url, s3_options)
    digest = sha_hex(b"the announced bytes")
    signed = store.presign_put(store.blob_path(digest), digest, {}, 60)
    assert signed.headers["x-amz-checksum-sha256"] == checksum_b64(digest)
    assert "x-amz-checksum-sha256" in signed.url  # signed: the client must send it as given
    response = httpx.put(signed.url, content=b"other bytes", headers=signed.headers)
    assert response.status_code == 200  # S3 would answer 400 BadDigest
    assert store.checksum_enforced() is False
    assert not list(store.iter_temp())  # the probe leaves nothing behind


@pytest.mark.parametrize("store_checks", [None, True], ids=["server-hashes", "store-checks"])
def test_upload_and_download_bypass_the_server(make_server: Any, tmp_path: Path, moto_server: MotoServer,
                                               store_checks: bool | None) -> None:
    server, seen = make_server(presign_store_checks=store_checks)
    data = blob_data(1)
    with user_client(server, "alice", "team-a") as reg:
        art = reg.upload_file(write_bytes(tmp_path, "a.bin", data), name="a")
        assert seen[("POST", "upload-url", 200)] == 1 and seen[("POST", "uploaded", 201)] == 1
        assert not any(method == "PUT" for method, _kind, _status in seen)  # no byte through PUT /blobs
        assert b"".join(reg.read(art.id)) == data
        assert seen[("GET", "contents", 303)] == 1 and seen[("GET", "contents", 200)] == 0
        target = tmp_path / "out.bin"
        reg.download(art.id, str(target))
        assert target.read_bytes() == data
    store = server.registry.store
    assert moto_server.filesystem().cat_file(store.blob_path(sha_hex(data))) == data
    assert not list(store.iter_temp())


def test_wrong_bytes_are_refused_and_no_artifact_can_use_the_digest(make_server: Any) -> None:
    server, seen = make_server()
    data, wrong = blob_data(2), blob_data(3)
    digest = sha_hex(data)
    with user_client(server, "alice", "team-a") as reg:
        offer = reg._json("POST", f"/blobs/{digest}/upload-url", json={"size": len(data)})
        assert offer["url"] and offer["upload"] != direct.FINAL  # moto: a temp key the server hashes
        assert httpx.put(offer["url"], content=wrong, headers=offer["headers"]).status_code == 200
        response = reg._send("POST", f"/blobs/{digest}/uploaded", json={"size": len(data), "upload": offer["upload"]},
                             allow=(409,))
        assert response.status_code == 409
        assert isinstance(error_from_response(response), ArtifactIntegrityError)
        assert "does not hash to" in response.json()["message"] and "http" not in response.json()["message"]
        assert reg._send("HEAD", f"/blobs/{digest}", allow=(404,)).status_code == 404
        body = {"name": "x", "kind": "file", "files": [{"path": "x", "checksum": digest, "size": len(data)}]}
        assert reg._send("POST", "/artifacts", json=body, allow=(400, 404, 409)).status_code >= 400
        assert reg.count() == 0
    store = server.registry.store
    assert not store.exists(digest) and not list(store.iter_temp())  # the temp copy was deleted


def test_a_stored_blob_of_another_group_is_not_claimed_by_asking_for_a_url(make_server: Any, tmp_path: Path) -> None:
    server, _seen = make_server()
    data = blob_data(4)
    digest = sha_hex(data)
    with user_client(server, "bob", "team-b") as bob:
        bob.upload_file(write_bytes(tmp_path, "b.bin", data), name="b", folder="data", make_folder=True)
    with user_client(server, "alice", "team-a") as alice:
        offer = alice._json("POST", f"/blobs/{digest}/upload-url", json={"size": len(data)})
        assert offer["upload"] != direct.FINAL  # moto: a temp key, whose bytes the server hashes
        claim = {"size": len(data), "upload": offer["upload"]}
        response = alice._send("POST", f"/blobs/{digest}/uploaded", json=claim, allow=(409,))
        assert response.status_code == 409 and "no upload" in response.json()["message"]
        assert alice._send("HEAD", f"/blobs/{digest}", allow=(404,)).status_code == 404
        # she sends the bytes (to the bucket; the server hashes them): now she may use them
        art = alice.upload_file(write_bytes(tmp_path, "a.bin", data), name="a", folder="data", make_folder=True)
        assert b"".join(alice.read(art.id)) == data
    assert not list(server.registry.store.iter_temp())


def test_on_a_checking_store_another_users_upload_cannot_be_claimed(make_server: Any, tmp_path: Path) -> None:
    server, _seen = make_server(presign_store_checks=True)
    data = blob_data(5)
    digest = sha_hex(data)
    with user_client(server, "bob", "team-b") as bob:
        bob.upload_file(write_bytes(tmp_path, "b.bin", data), name="b")
    with user_client(server, "alice", "team-a") as alice:
        offer = alice._json("POST", f"/blobs/{digest}/upload-url", json={"size": len(data)})
        assert offer["upload"] == direct.FINAL  # S3 would check her bytes: a PUT over the blob is harmless
        claim = {"size": len(data), "upload": direct.FINAL}
        response = alice._send("POST", f"/blobs/{digest}/uploaded", json=claim, allow=(409,))
        assert response.status_code == 409 and "not your upload" in response.json()["message"]
        assert alice._send("HEAD", f"/blobs/{digest}", allow=(404,)).status_code == 404
        forged = alice._send("POST", f"/blobs/{digest}/uploaded", json={**claim, "upload": "../../x"}, allow=(400,))
        assert forged.status_code == 400


def test_a_large_blob_goes_up_in_parallel_parts_and_the_server_hashes_it(make_server: Any, tmp_path: Path,
                                                                          moto_server: MotoServer) -> None:
    server, seen = make_server(presign_store_checks=True, presign_multipart_bytes=6 << 20, presign_part_bytes=5 << 20)
    data = blob_data(30, MULTI)
    with user_client(server, "alice", "team-a") as reg:
        art = reg.upload_file(write_bytes(tmp_path, "big.bin", data), name="big")
        assert seen[("POST", "uploaded", 201)] == 1 and not any(method == "PUT" for method, _k, _s in seen)
        assert b"".join(reg.read(art.id)) == data
    store = server.registry.store
    assert moto_server.filesystem().cat_file(store.blob_path(sha_hex(data))) == data
    kept, expected = store._load_index(sha_hex(data)), _index_of(data)
    assert kept == expected  # the server's hashing pass kept it
    assert not list(store.iter_temp()) and not list(store.iter_unfinished_uploads())


def test_multipart_content_that_hashes_differently_is_refused_and_deleted(make_server: Any) -> None:
    server, _seen = make_server(presign_store_checks=True, presign_multipart_bytes=6 << 20,
                                presign_part_bytes=5 << 20)
    data, wrong = blob_data(31, MULTI), blob_data(32, MULTI)
    digest = sha_hex(data)
    with user_client(server, "alice", "team-a") as reg:
        offer = reg._json("POST", f"/blobs/{digest}/upload-url", json={"size": MULTI})
        assert offer["url"] is None and len(offer["parts"]) == 3 and offer["partSize"] == 5 << 20
        etags = [httpx.put(url, content=wrong[i * (5 << 20):(i + 1) * (5 << 20)]).headers["etag"]
                 for i, url in enumerate(offer["parts"])]
        done = {"size": MULTI, "upload": offer["upload"], "multipart": offer["multipart"], "etags": etags}
        response = reg._send("POST", f"/blobs/{digest}/uploaded", json=done, allow=(409,))
        assert response.status_code == 409 and "does not hash to" in response.json()["message"]
        assert reg._send("HEAD", f"/blobs/{digest}", allow=(404,)).status_code == 404
    store = server.registry.store
    assert not store.exists(digest) and not list(store.iter_temp()) and not list(store.iter_unfinished_uploads())


class Progress:
    """A ``progress`` callback recording each count, its thread, and whether the blob was stored by then."""

    def __init__(self, server: LiveServer, digest: str) -> None:
        self.counts: list[int] = []
        self.stored_when_called: list[bool] = []
        self.threads: set[str] = set()
        self._store, self._digest = server.registry.store, digest
        self._lock = threading.Lock()

    def __call__(self, nbytes: int) -> None:
        stored = self._store.exists(self._digest)
        with self._lock:
            self.counts.append(nbytes)
            self.stored_when_called.append(stored)
            self.threads.add(threading.current_thread().name)

    def running(self) -> list[int]:
        return list(itertools.accumulate(self.counts))


def _multipart_server(make_server: Any) -> tuple[LiveServer, Counter[tuple[str, str, int]]]:
    """A server that sends a blob over 6 MiB up in 5 MiB parts: `MULTI` bytes go in three."""
    return make_server(presign_multipart_bytes=6 << 20, presign_part_bytes=5 << 20)


def test_every_part_of_a_multipart_upload_advances_the_progress_as_it_is_sent(make_server: Any,
                                                                             tmp_path: Path) -> None:
    server, seen = _multipart_server(make_server)
    data = blob_data(33, MULTI)
    progress = Progress(server, sha_hex(data))
    with user_client(server, "alice", "team-a") as reg:
        art = reg.upload_file(write_bytes(tmp_path, "big.bin", data), name="big", progress=progress)
        assert seen[("POST", "uploaded", 201)] == 1 and not any(method == "PUT" for method, _k, _s in seen)
        assert b"".join(reg.read(art.id)) == data
    assert sum(progress.counts) == MULTI and all(n > 0 for n in progress.counts)
    assert progress.running() == sorted(progress.running())
    # chunk by chunk as the parts went (5 + 5 + 1 MiB), none of it made up at the end, from the parts' threads
    assert len(progress.counts) >= 11 and max(progress.counts) <= http.UPLOAD_CHUNK
    assert not any(progress.stored_when_called) and len(progress.threads) > 1


class DropsAPart(httpx.HTTPTransport):
    """The client's network, where the bucket answers the first PUT of one part 503 once it has taken its body."""

    def __init__(self, bucket_port: int, part: int) -> None:
        super().__init__()
        self.bucket_port, self.part, self.dropped = bucket_port, str(part), 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if (request.url.port == self.bucket_port and request.method == "PUT" and not self.dropped
                and request.url.params.get("partNumber") == self.part):
            self.dropped += 1
            request.read()  # the whole part went out (and was reported) before the bucket failed
            return httpx.Response(503, request=request)
        return super().handle_request(request)


def test_a_retried_part_is_counted_once(make_server: Any, tmp_path: Path, moto_server: MotoServer) -> None:
    server, seen = _multipart_server(make_server)
    data = blob_data(34, MULTI)
    progress = Progress(server, sha_hex(data))
    network = DropsAPart(int(moto_server.endpoint_url.rsplit(":", 1)[1]), part=2)
    with httpx.Client(transport=network) as client, user_client(server, "alice", "team-a") as reg:
        reg.client = client
        art = reg.upload_file(write_bytes(tmp_path, "big.bin", data), name="big", progress=progress)
        assert b"".join(reg.read(art.id)) == data
    assert network.dropped == 1 and seen[("POST", "uploaded", 201)] == 1  # sent again, straight to the bucket
    assert sum(progress.counts) == MULTI and max(progress.counts) <= http.UPLOAD_CHUNK


def test_a_multipart_upload_sent_again_through_the_server_is_counted_once(make_server: Any, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Every part went up, then the server cannot finish the upload: the bytes go through it, counted once."""
    server, seen = _multipart_server(make_server)

    def failing(*args: Any, **kwargs: Any) -> str:
        raise StorageError("reading the upload back: [Errno 121] Internal Server Error")

    monkeypatch.setattr(server.registry.store, "hash_object", failing)
    data = blob_data(35, MULTI)
    progress = Progress(server, sha_hex(data))
    with user_client(server, "alice", "team-a") as reg:
        art = reg.upload_file(write_bytes(tmp_path, "big.bin", data), name="big", progress=progress)
        assert b"".join(reg.read(art.id)) == data
    assert seen[("POST", "uploaded", 502)] >= 1 and seen[("POST", "uploaded", 201)] == 0
    assert seen[("PUT", "blobs", 201)] == 1  # all MULTI bytes sent twice: to the bucket, then to the server
    assert sum(progress.counts) == MULTI and progress.running() == sorted(progress.running())


def test_an_upload_after_its_url_expired_is_refused(make_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct, "CLOCK_SKEW", 0)
    server, _seen = make_server(presign_expiry_seconds=1)
    data = blob_data(6)
    digest = sha_hex(data)
    with user_client(server, "alice", "team-a") as reg:
        offer = reg._json("POST", f"/blobs/{digest}/upload-url", json={"size": len(data)})
        assert offer["expiresIn"] == 1
        time.sleep(2.1)
        assert httpx.put(offer["url"], content=data, headers=offer["headers"]).status_code == 200  # moto: no expiry
        response = reg._send("POST", f"/blobs/{digest}/uploaded", json={"size": len(data), "upload": offer["upload"]},
                             allow=(409,))
        assert response.status_code == 409 and "expired" in response.json()["message"]
        assert reg._send("HEAD", f"/blobs/{digest}", allow=(404,)).status_code == 404
    assert not list(server.registry.store.iter_temp())


def test_the_client_verifies_a_direct_download(make_server: Any, tmp_path: Path, moto_server: MotoServer) -> None:
    server, seen = make_server()
    data = blob_data(7)
    with user_client(server, "alice", "team-a") as reg:
        art = reg.upload_file(write_bytes(tmp_path, "a.bin", data), name="a")
        tampered = bytearray(data)
        tampered[-1] ^= 1
        moto_server.filesystem().pipe_file(server.registry.store.blob_path(sha_hex(data)), bytes(tampered))
        with pytest.raises(ArtifactIntegrityError):
            b"".join(reg.read(art.id))
        assert seen[("GET", "contents", 303)] == 1  # it came from the bucket, unchecked by the server
        assert not (tmp_path / "out.bin").exists()
        with pytest.raises(ArtifactIntegrityError):
            reg.download(art.id, str(tmp_path / "out.bin"))
        assert not (tmp_path / "out.bin").exists()


def test_the_offer_reserves_the_digest_for_gc_before_the_url_exists(make_server: Any) -> None:
    server, _seen = make_server()
    digest = sha_hex(blob_data(8))
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    catalog = AuthCatalog(server.registry.catalog.engine)
    with user_client(server, "alice", "team-a") as reg:
        assert catalog.reserved([digest], since) == set()
        reg._json("POST", f"/blobs/{digest}/upload-url", json={"size": SIZE})
    assert catalog.reserved([digest], since) == {digest}  # gc on any replica keeps it while she uploads


def test_a_local_disk_server_still_proxies(make_server: Any, tmp_path: Path) -> None:
    server, seen = make_server(storage=str(tmp_path / "blobs"))
    with user_client(server, "alice", "team-a") as reg:
        first = reg.upload_file(write_bytes(tmp_path, "a.bin", blob_data(9)), name="a")
        reg.upload_file(write_bytes(tmp_path, "b.bin", blob_data(10)), name="b")
        assert b"".join(reg.read(first.id)) == blob_data(9)
    assert seen[("POST", "upload-url", 200)] == 1  # "never here" is remembered
    assert seen[("PUT", "blobs", 201)] == 2 and seen[("GET", "contents", 200)] == 1


@pytest.mark.parametrize("side", ["server", "client", "older-server"])
def test_turned_off_or_not_offered_the_bytes_go_through_the_server(make_server: Any, tmp_path: Path,
                                                                   side: str) -> None:
    server, seen = make_server(presign_urls=side == "client", older=side == "older-server")
    with user_client(server, "alice", "team-a", direct_transfers=side != "client") as reg:
        art = reg.upload_file(write_bytes(tmp_path, "a.bin", blob_data(11)), name="a")
        reg.upload_file(write_bytes(tmp_path, "b.bin", blob_data(12)), name="b")
        assert b"".join(reg.read(art.id)) == blob_data(11)
    asked = sum(n for (method, kind, _status), n in seen.items() if kind == "upload-url")
    assert asked == {"server": 1, "client": 0, "older-server": 1}[side]
    assert seen[("PUT", "blobs", 201)] == 2 and seen[("GET", "contents", 200)] == 1
    assert seen[("GET", "contents", 303)] == 0


def test_small_files_go_through_the_server(make_server: Any, tmp_path: Path) -> None:
    server, seen = make_server(presign_min_bytes=SIZE + 1)
    with user_client(server, "alice", "team-a") as reg:
        for i in range(2):
            art = reg.upload_file(write_bytes(tmp_path, f"{i}.bin", blob_data(20 + i)), name=f"f{i}")
        assert b"".join(reg.read(art.id)) == blob_data(21)
    assert seen[("POST", "upload-url", 200)] == 1  # the floor is remembered
    assert seen[("PUT", "blobs", 201)] == 2 and seen[("GET", "contents", 200)] == 1


class TestHttpS3DirectContract(DirectStreamContract):
    """`DirectStreamContract` on moto: every blob checked by the server (moto does not check)."""

    __test__ = True

    @pytest.fixture
    def bucket(self, moto_server: MotoServer) -> tuple[str, dict[str, Any]]:
        return f"s3://{moto_server.make_bucket()}/artifacts", moto_server.storage_options


def test_hostile_offer_requests_are_refused_or_bounded(make_server: Any) -> None:
    server, _seen = make_server(presign_multipart_bytes=6 << 20, presign_part_bytes=5 << 20)
    digest = sha_hex(b"x")
    with user_client(server, "mallory", "team-m") as reg:
        for body, status in (({"size": -1}, 400), ({"size": "big"}, 400), ({}, 400), ({"size": (5 << 40) + 1}, 413)):
            assert reg._send("POST", f"/blobs/{digest}/upload-url", json=body, allow=(400, 413)).status_code == status
        assert reg._send("POST", "/blobs/not-a-digest/upload-url", json={"size": 1}, allow=(400,)).status_code == 400
        started = time.process_time()
        offer = reg._json("POST", f"/blobs/{digest}/upload-url", json={"size": 5 << 40})
        assert len(offer["parts"]) <= direct.MAX_PARTS and offer["partSize"] <= 5 << 30
        assert offer["expiresIn"] == server.registry.settings.gc_grace_seconds  # gc aborts older multipart uploads
        assert time.process_time() - started < 5
        bad = {"size": 1, "upload": offer["upload"], "multipart": offer["multipart"], "etags": ["x"] * 10_001}
        assert reg._send("POST", f"/blobs/{digest}/uploaded", json=bad, allow=(400,)).status_code == 400
    with user_client(server, "reader", "team-r") as reader:
        AuthCatalog(server.registry.catalog.engine).add_member("team-r", "reader", write=False)  # writes nowhere
        assert reader._send("POST", f"/blobs/{digest}/upload-url", json={"size": 1}, allow=(403,)).status_code == 403
        done = {"size": 1, "upload": direct.FINAL}
        assert reader._send("POST", f"/blobs/{digest}/uploaded", json=done, allow=(403,)).status_code == 403
    assert not list(server.registry.store.iter_temp())


def test_an_upload_overtaken_by_another_users_is_sent_again_through_the_server(make_server: Any,
                                                                              tmp_path: Path) -> None:
    """Two users PUT the same blob to its key; the last PUT's metadata names the other: hers goes again."""
    server, seen = make_server(presign_store_checks=True)
    data = blob_data(40)
    digest = sha_hex(data)
    with user_client(server, "bob", "team-b") as bob, user_client(server, "alice", "team-a") as alice:
        bobs = bob._json("POST", f"/blobs/{digest}/upload-url", json={"size": len(data)})
        send = alice._direct._send_to_bucket

        def then_bob(*args: Any) -> str:
            etag = send(*args)  # hers lands, then bob's, before she says "uploaded"
            httpx.put(bobs["url"], content=data, headers=bobs["headers"]).raise_for_status()
            return etag

        alice._direct._send_to_bucket = then_bob  # type: ignore[method-assign]
        art = alice.upload_file(write_bytes(tmp_path, "a.bin", data), name="a")
        assert seen[("POST", "uploaded", 409)] == 1 and seen[("PUT", "blobs", 200)] == 1  # hashed, not written
        assert b"".join(alice.read(art.id)) == data


class Firewall(httpx.HTTPTransport):
    """The client's network: the bucket's port refuses connections (a store only the server reaches)."""

    def __init__(self, blocked: int) -> None:
        super().__init__()
        self.blocked, self.refused = blocked, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.port == self.blocked:
            self.refused += 1
            raise httpx.ConnectError("connection refused", request=request)
        return super().handle_request(request)


@pytest.mark.parametrize("first", ["upload", "download"])
def test_a_bucket_the_client_cannot_reach_makes_it_go_through_the_server(make_server: Any, tmp_path: Path,
                                                                        moto_server: MotoServer, first: str) -> None:
    server, seen = make_server()
    firewall = Firewall(int(moto_server.endpoint_url.rsplit(":", 1)[1]))
    if first == "download":  # stored by a client that reaches the bucket
        with user_client(server, "bob", "team-a") as bob:
            art = bob.upload_file(write_bytes(tmp_path, "a.bin", blob_data(50)), name="a")
    with httpx.Client(transport=firewall) as network, user_client(server, "alice", "team-a") as alice:
        alice.client = network
        if first == "upload":
            art = alice.upload_file(write_bytes(tmp_path, "a.bin", blob_data(50)), name="a")
            assert seen[("POST", "uploaded", 201)] == 0 and seen[("PUT", "blobs", 201)] == 1
        assert b"".join(alice.read(art.id)) == blob_data(50)
        alice.upload_file(write_bytes(tmp_path, "b.bin", blob_data(51)), name="b")
        assert b"".join(alice.read(art.id)) == blob_data(50)
    assert firewall.refused == 1  # tried once, then remembered
    assert seen[("GET", "contents", 200)] == 2


class ExpiredUrls(httpx.HTTPTransport):
    """The client's network, where the bucket answers a GET as S3 does once its URL expired (moto never does)."""

    def __init__(self, bucket_port: int) -> None:
        super().__init__()
        self.bucket_port, self.refused = bucket_port, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.port == self.bucket_port and request.method == "GET":
            self.refused += 1
            body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            return httpx.Response(403, content=body, request=request)
        return super().handle_request(request)


def test_a_download_url_the_bucket_refuses_is_read_through_the_server(make_server: Any, tmp_path: Path,
                                                                     moto_server: MotoServer) -> None:
    server, seen = make_server()
    network = ExpiredUrls(int(moto_server.endpoint_url.rsplit(":", 1)[1]))
    with httpx.Client(transport=network) as client, user_client(server, "alice", "team-a") as reg:
        reg.client = client
        art = reg.upload_file(write_bytes(tmp_path, "a.bin", blob_data(60)), name="a")
        assert b"".join(reg.read(art.id)) == blob_data(60)
        assert b"".join(reg.read(art.id)) == blob_data(60)
    assert network.refused == 2  # a refused URL is not remembered: the next one may work
    assert seen[("GET", "contents", 303)] == 2 and seen[("GET", "contents", 200)] == 2


def test_uploaded_is_idempotent_for_a_client_that_retries(make_server: Any) -> None:
    server, seen = make_server()
    data = blob_data(70)
    digest = sha_hex(data)
    with user_client(server, "alice", "team-a") as reg:
        offer = reg._json("POST", f"/blobs/{digest}/upload-url", json={"size": len(data)})
        httpx.put(offer["url"], content=data, headers=offer["headers"]).raise_for_status()
        done = {"size": len(data), "upload": offer["upload"]}
        first = reg._json("POST", f"/blobs/{digest}/uploaded", json=done)
        again = reg._json("POST", f"/blobs/{digest}/uploaded", json=done)  # its answer was lost, say
        assert (first["written"], again["written"], again["size"]) == (True, False, len(data))
    assert seen[("POST", "uploaded", 201)] == 1 and seen[("POST", "uploaded", 200)] == 1
    assert not list(server.registry.store.iter_temp())


def test_an_upload_the_server_cannot_finish_goes_through_the_server(make_server: Any, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The store fails reading the temp copy back and deleting it, every time (moto did, under load).

    Every retry of ``uploaded`` fails the same way; then the bytes go through the server.
    """
    server, seen = make_server()
    store = server.registry.store

    def failing(*args: Any, **kwargs: Any) -> str:
        raise StorageError("reading the upload back: [Errno 121] Internal Server Error")

    monkeypatch.setattr(store, "hash_object", failing)
    monkeypatch.setattr(store, "_discard", lambda path: None)  # its delete failed too: the temp copy stays
    data = blob_data(80)
    with user_client(server, "alice", "team-a") as reg:
        art = reg.upload_file(write_bytes(tmp_path, "a.bin", data), name="a")
        assert b"".join(reg.read(art.id)) == data
        assert seen[("POST", "uploaded", 502)] == reg.retries + 1 and seen[("PUT", "blobs", 201)] == 1


def test_an_upload_whose_temp_copy_gc_removed_goes_through_the_server(make_server: Any, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A gc whose grace is shorter than the upload removes its temp copy while the server hashes it."""
    server, seen = make_server()
    store = server.registry.store
    hash_object = store.hash_object

    def then_gc(path: str, *args: Any) -> str:
        digest = hash_object(path, *args)
        for temp, _mtime in store.iter_temp():
            store.remove_temp(temp)
        return digest

    monkeypatch.setattr(store, "hash_object", then_gc)
    data = blob_data(90)
    with user_client(server, "alice", "team-a") as reg:
        art = reg.upload_file(write_bytes(tmp_path, "a.bin", data), name="a")
        assert b"".join(reg.read(art.id)) == data
    assert seen[("PUT", "blobs", 201)] == 1 and not list(store.iter_temp())


# chunk indexes: the server's one read of a direct upload computes the index too -------------

INDEXED = 2 * INDEX_CHUNK + 4321  # three chunks of the stores' default index, the last one short


def _index_of(data: bytes, chunk_size: int = INDEX_CHUNK) -> ChunkIndex:
    """The chunk index of ``data``, computed here from the bytes themselves."""
    hasher = ChunkedSha256(chunk_size)
    hasher.update(data)
    return ChunkIndex.build(hasher.hexdigest(), hasher.size, chunk_size, hasher.kind, hasher.values())


class BlobReads:
    """Counts the bytes a store reads from its blobs: whole (`read`, an index rebuild) or by chunks (ranges)."""

    def __init__(self, store: ContentStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.nbytes = 0
        for name in ("_open_blob", "_open_chunked"):
            monkeypatch.setattr(store, name, self._counting(getattr(store, name)))

    def _counting(self, opener: Callable[[str, int], Any]) -> Callable[[str, int], Any]:
        def open_counted(path: str, size: int) -> Any:
            return CountedFile(opener(path, size), self)

        return open_counted


class CountedFile:
    """A blob opened for reading, adding every byte it hands out to its `BlobReads`."""

    def __init__(self, f: Any, reads: BlobReads) -> None:
        self.f, self.reads = f, reads

    def read(self, size: int = -1) -> bytes:
        data = self.f.read(size)
        self.reads.nbytes += len(data)
        return bytes(data)

    def readinto(self, buffer: Any) -> int:
        n = self.f.readinto(buffer) or 0
        self.reads.nbytes += n
        return int(n)

    def __getattr__(self, name: str) -> Any:  # seek, close…: the file's own
        return getattr(self.f, name)

    def __enter__(self) -> CountedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.f.close()


def test_a_direct_upload_keeps_the_chunk_index_its_one_read_computed(make_server: Any, tmp_path: Path,
                                                                    moto_server: MotoServer,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """moto: the server hashes the temp copy; that pass's index is stored, so no range read reads it all again."""
    server, seen = make_server()
    store = server.registry.store
    data = blob_data(100, INDEXED)
    digest = sha_hex(data)
    with user_client(server, "alice", "team-a") as reg:
        art = reg.upload_file(write_bytes(tmp_path, "big.bin", data), name="big")
        assert seen[("POST", "uploaded", 201)] == 1 and not any(method == "PUT" for method, _k, _s in seen)
        # the sidecar is in the bucket, authentic (the store's key) and the index of these very bytes
        assert moto_server.filesystem().exists(store.index_path(digest))
        kept, expected = store._load_index(digest), _index_of(data)
        assert kept == expected and expected.count == 3
        # a range over the first two chunks' boundary, through the server: it reads those two chunks only
        reads = BlobReads(store, monkeypatch)
        start, end = INDEX_CHUNK - 100, INDEX_CHUNK + 100
        assert b"".join(reg.read(art.id, start=start, end=end)) == data[start:end]
        assert reads.nbytes == 2 * INDEX_CHUNK
    # another replica (nothing in memory) trusts the sidecar too: the last, short chunk and nothing more
    replica = ContentStore(store.url, store.storage_options)
    replica_reads = BlobReads(replica, monkeypatch)
    assert b"".join(replica.read_range(digest, INDEXED - 10, None)) == data[-10:]
    assert replica_reads.nbytes == INDEXED - 2 * INDEX_CHUNK


def test_a_direct_upload_of_one_index_chunk_gets_no_sidecar(make_server: Any, tmp_path: Path,
                                                           moto_server: MotoServer) -> None:
    server, seen = make_server()
    store = server.registry.store
    data = blob_data(101)  # SIZE: under one index chunk, whose digest is its whole index
    digest = sha_hex(data)
    assert len(data) <= store.index_chunk_size
    with user_client(server, "alice", "team-a") as reg:
        art = reg.upload_file(write_bytes(tmp_path, "a.bin", data), name="a")
        assert seen[("POST", "uploaded", 201)] == 1
        assert b"".join(reg.read(art.id, start=10, end=20)) == data[10:20]
    assert not moto_server.filesystem().exists(store.index_path(digest)) and store._load_index(digest) is None


def test_on_a_checking_store_the_index_waits_for_the_first_range_read(make_server: Any, tmp_path: Path,
                                                                     moto_server: MotoServer,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 checks the upload's SHA-256 and the server reads no byte of it: the first range read builds the index."""
    server, seen = make_server(presign_store_checks=True)
    store = server.registry.store
    data = blob_data(102, INDEXED)
    digest = sha_hex(data)
    with user_client(server, "alice", "team-a") as reg:
        art = reg.upload_file(write_bytes(tmp_path, "big.bin", data), name="big")
        assert seen[("POST", "uploaded", 201)] == 1
        assert not moto_server.filesystem().exists(store.index_path(digest))
        reads = BlobReads(store, monkeypatch)
        assert b"".join(reg.read(art.id, start=0, end=10)) == data[:10]
        assert reads.nbytes == INDEXED + INDEX_CHUNK  # the whole blob once (the index), then its first chunk
    built, expected = store._load_index(digest), _index_of(data)
    assert built == expected
