"""Direct transfers on an S3 that checks what S3 checks: LocalStack, started on loopback.

moto keeps whatever a presigned URL receives, so tests/server/test_direct_transfers.py can
only force the "store checks" mode and trust S3 to refuse. LocalStack refuses as S3 does:
a body whose SHA-256 is not the signed ``x-amz-checksum-sha256`` (``400 BadDigest``), a
URL past its expiry, a request that differs from what was signed (another key, a header
left out, a forged signature) (``403``). Here the server's store probe finds that the
store checks (no setting forced), so uploads go straight to the blob's own key and the
server reads none of their bytes; what S3 refuses never becomes a blob or an artifact.
Two refusals come from the client's own side: a file that changed between its hash and
its upload (the error says so), and a download URL that expired before the client
followed it (read through the server instead).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from prefect_artifacts.errors import ArtifactIntegrityError, StorageError
from prefect_artifacts.registry import direct
from prefect_artifacts.storage.content_store import ContentStore
from prefect_artifacts.storage.presigned import checksum_b64
from tests.support.direct_transfers import (
    MULTI,
    DirectStreamContract,
    backing_registry,
    blob_data,
    counted_server,
    sha_hex,
    user_client,
    write_bytes,
)
from tests.support.live_server import LiveServer
from tests.support.services import LocalStackS3


@pytest.fixture
def store_url(localstack_s3: LocalStackS3) -> str:
    return f"s3://{localstack_s3.make_bucket()}/artifacts"


@pytest.fixture
def make_server(tmp_path: Path, localstack_s3: LocalStackS3, store_url: str
                ) -> Iterator[Callable[..., tuple[LiveServer, Counter[tuple[str, str, int]]]]]:
    started: list[LiveServer] = []

    def make(**settings: Any) -> tuple[LiveServer, Counter[tuple[str, str, int]]]:
        # presign_store_checks is not set: the server probes the store
        reg = backing_registry(tmp_path / f"server{len(started)}", store_url, localstack_s3.storage_options, **settings)
        server, seen = counted_server(reg)
        started.append(server)
        return server, seen

    yield make
    for server in started:
        server.close()


def _keys(localstack_s3: LocalStackS3, store_url: str) -> list[str]:
    root = store_url.removeprefix("s3://")
    return sorted(p.removeprefix(root + "/") for p in localstack_s3.filesystem().find(root))


def _offer(reg: Any, data: bytes) -> dict[str, Any]:
    return reg._json("POST", f"/blobs/{sha_hex(data)}/upload-url", json={"size": len(data)})


def _claim(reg: Any, data: bytes, offer: dict[str, Any]) -> httpx.Response:
    return reg._send("POST", f"/blobs/{sha_hex(data)}/uploaded", json={"size": len(data), "upload": offer["upload"]},
                     allow=(409,))


def _refused_and_nothing_kept(reg: Any, data: bytes, offer: dict[str, Any], server: LiveServer) -> None:
    """The server's view after S3 refused the PUT: no upload to claim, no blob, no artifact can use it."""
    response = _claim(reg, data, offer)
    assert response.status_code == 409, response.text
    assert reg._send("HEAD", f"/blobs/{sha_hex(data)}", allow=(404,)).status_code == 404
    body = {"name": "x", "kind": "file", "files": [{"path": "x", "checksum": sha_hex(data), "size": len(data)}]}
    assert reg._send("POST", "/artifacts", json=body, allow=(400, 404, 409)).status_code >= 400
    assert reg.count() == 0 and not server.registry.store.exists(sha_hex(data))


def test_s3_refuses_a_body_that_does_not_match_its_signed_checksum_and_the_probe_sees_it(
        localstack_s3: LocalStackS3, store_url: str) -> None:
    store: Any = ContentStore(store_url, localstack_s3.storage_options)
    digest = sha_hex(b"the announced bytes")
    signed = store.presign_put(store.blob_path(digest), digest, {}, 60)
    response = httpx.put(signed.url, content=b"other bytes", headers=signed.headers)
    assert response.status_code == 400 and "<Code>BadDigest</Code>" in response.text
    assert not store.exists(digest)
    assert httpx.put(signed.url, content=b"the announced bytes", headers=signed.headers).status_code == 200
    assert store.exists(digest) and b"".join(store.read(digest)) == b"the announced bytes"
    started = time.monotonic()
    assert store.checksum_enforced() is True
    assert time.monotonic() - started < 5  # one PUT: botocore's retries of BadDigest had taken ~9 s
    assert not list(store.iter_temp())  # the refused probe left nothing


class Answers(BaseHTTPRequestHandler):
    """An S3 endpoint answering every PUT with ``answer`` (status, body), counting them (set on a subclass)."""

    answer: tuple[int, bytes] = (503, b"")
    requests: list[str]

    def do_PUT(self) -> None:  # noqa: N802 - http.server's name
        self.requests.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = self.answer
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def s3_answering(status: int, body: bytes = b"") -> Iterator[tuple[dict[str, Any], list[str]]]:
    """An S3 endpoint on loopback answering every PUT ``status`` with ``body``: its storage_options, its requests."""
    handler = type("Answering", (Answers,), {"answer": (status, body), "requests": []})
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as http:
        threading.Thread(target=http.serve_forever, daemon=True).start()
        try:
            yield {"key": "k", "secret": "s", "endpoint_url": f"http://127.0.0.1:{http.server_port}"}, handler.requests
        finally:
            http.shutdown()


def test_a_probe_without_a_verdict_raises_and_is_not_remembered() -> None:
    """A 503 (or no answer) says nothing about checksums: a verdict taken from it would last the process."""
    with s3_answering(503) as (options, requests):
        store: Any = ContentStore("s3://bucket/artifacts", options)
        for attempt in (1, 2):
            with pytest.raises(StorageError, match="HTTP 503"):
                store.checksum_enforced()
            assert len(requests) == attempt  # asked again: nothing was cached
        assert all("/artifacts/tmp/checksum-probe-" in path for path in requests)
    with pytest.raises(StorageError, match="ConnectError"):  # nobody listens there any more
        store.checksum_enforced()


INVALID_ARGUMENT = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InvalidArgument</Code>"
                    b"<Message>x-amz-checksum-sha256 is not supported</Message></Error>")


def test_a_store_that_refuses_signed_checksums_gets_no_upload_urls(tmp_path: Path) -> None:
    """Such a store would refuse every upload URL too: the server offers none, for good; the client sends it."""
    with s3_answering(400, INVALID_ARGUMENT) as (options, requests):
        backing = backing_registry(tmp_path, "s3://bucket/artifacts", options)
        server = LiveServer(backing).start()
        try:
            with user_client(server, "alice", "team-a") as reg:
                for _ in range(2):
                    offer = reg._json("POST", f"/blobs/{sha_hex(b'x')}/upload-url", json={"size": 1 << 20})
                    assert offer["url"] is None and offer["parts"] == [] and offer["permanent"] is True
                    assert "refuses signed SHA-256" in offer["reason"]
                claim = {"size": 1 << 20, "upload": direct.FINAL}
                response = reg._send("POST", f"/blobs/{sha_hex(b'x')}/uploaded", json=claim, allow=(400,))
                assert response.status_code == 400 and "does not take presigned uploads" in response.text
        finally:
            server.close()
        assert len(requests) == 1  # probed once: the refusal is the store's, remembered
        assert backing.store.checksum_enforced() is None


def test_uploads_go_to_the_blobs_key_and_the_server_reads_none_of_their_bytes(
        make_server: Any, tmp_path: Path, localstack_s3: LocalStackS3, store_url: str) -> None:
    server, seen = make_server()
    data = blob_data(41)
    with user_client(server, "alice", "team-a") as reg:
        art = reg.upload_file(write_bytes(tmp_path, "a.bin", data), name="a")
        assert seen[("POST", "upload-url", 200)] == 1 and seen[("POST", "uploaded", 201)] == 1
        assert not any(method == "PUT" for method, _kind, _status in seen)  # no byte through PUT /blobs
        target = tmp_path / "out.bin"
        reg.download(art.id, str(target))  # a presigned GET, signature checked, bytes verified by the client
        assert target.read_bytes() == data and seen[("GET", "contents", 303)] == 1
    assert server.registry.store.checksum_enforced() is True  # probed, not forced
    assert _keys(localstack_s3, store_url) == [f"sha256/{sha_hex(data)[:2]}/{sha_hex(data)}"]  # no temp key, no index


def test_wrong_bytes_sent_to_the_blobs_key_are_refused_by_s3_and_never_become_a_blob(make_server: Any) -> None:
    server, _seen = make_server()
    data, wrong = blob_data(42), blob_data(43)
    with user_client(server, "alice", "team-a") as reg:
        offer = _offer(reg, data)
        assert offer["upload"] == direct.FINAL  # the probe found a store that checks: straight to the key
        response = httpx.put(offer["url"], content=wrong, headers=offer["headers"])
        assert response.status_code == 400 and "<Code>BadDigest</Code>" in response.text
        _refused_and_nothing_kept(reg, data, offer, server)


def test_an_upload_url_past_its_expiry_is_refused_by_s3(make_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct, "CLOCK_SKEW", 0)
    server, _seen = make_server(presign_expiry_seconds=1)
    data = blob_data(44)
    with user_client(server, "alice", "team-a") as reg:
        offer = _offer(reg, data)
        assert offer["expiresIn"] == 1
        time.sleep(2.1)
        response = httpx.put(offer["url"], content=data, headers=offer["headers"])
        assert response.status_code == 403 and "expired" in response.text
        _refused_and_nothing_kept(reg, data, offer, server)


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode({**dict(parse_qsl(parts.query)), **changes})))


def test_a_request_that_differs_from_what_was_signed_is_refused_by_s3(make_server: Any) -> None:
    """A URL for one digest writes nothing else: not another key, not without its checksum, not re-signed."""
    server, _seen = make_server()
    data, other = blob_data(45), blob_data(46)
    with user_client(server, "alice", "team-a") as reg:
        offer = _offer(reg, data)
        url, headers = offer["url"], offer["headers"]
        attempts = {
            "another key": (url.replace(sha_hex(data), sha_hex(other)), headers, other),
            "no checksum header": (url, {k: v for k, v in headers.items() if k != "x-amz-checksum-sha256"}, data),
            "the checksum of other bytes": (url, {**headers, "x-amz-checksum-sha256": checksum_b64(sha_hex(other))},
                                            other),
            "a forged signature": (_with_query(url, **{"X-Amz-Signature": "0" * 64}), headers, data),
            "a longer expiry": (_with_query(url, **{"X-Amz-Expires": "604800"}), headers, data),
        }
        for what, (target, sent_headers, body) in attempts.items():
            response = httpx.put(target, content=body, headers=sent_headers)
            assert response.status_code == 403, (what, response.status_code, response.text[:300])
        _refused_and_nothing_kept(reg, data, offer, server)
        assert not server.registry.store.exists(sha_hex(other))


def test_a_multipart_upload_completes_on_s3_and_the_server_hashes_it(make_server: Any, tmp_path: Path,
                                                                      localstack_s3: LocalStackS3,
                                                                      store_url: str) -> None:
    server, seen = make_server(presign_multipart_bytes=6 << 20, presign_part_bytes=5 << 20)
    data = blob_data(47, MULTI)
    with user_client(server, "alice", "team-a") as reg:
        art = reg.upload_file(write_bytes(tmp_path, "big.bin", data), name="big")
        assert seen[("POST", "uploaded", 201)] == 1 and not any(method == "PUT" for method, _k, _s in seen)
        assert b"".join(reg.read(art.id)) == data
    store = server.registry.store
    assert localstack_s3.filesystem().cat_file(store.blob_path(sha_hex(data))) == data
    assert not list(store.iter_temp()) and not list(store.iter_unfinished_uploads())


class Hook(httpx.HTTPTransport):
    """The client's network: ``hook`` runs before each request ``when`` picks; the bucket's answers are kept."""

    def __init__(self, bucket: LocalStackS3, when: Callable[[httpx.Request], bool], hook: Callable[[], None]) -> None:
        super().__init__()
        self.bucket_port, self.when, self.hook = urlsplit(bucket.endpoint_url).port, when, hook
        self.bucket_answers: list[tuple[str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.when(request):
            self.hook()
        response = super().handle_request(request)
        if request.url.port == self.bucket_port:
            self.bucket_answers.append((request.method, response.status_code))
        return response


def test_a_file_that_changes_between_its_hash_and_its_upload_is_refused_by_s3(
        make_server: Any, tmp_path: Path, localstack_s3: LocalStackS3, store_url: str) -> None:
    """The client hashed one content and sent another: S3 refuses it, the error says why, nothing is kept."""
    server, seen = make_server()
    size = 2 << 20  # over SMALL_FILE: streamed from the file (a smaller one is read once, hashed and sent)
    path = write_bytes(tmp_path, "a.bin", blob_data(48, size))
    network = Hook(localstack_s3, lambda r: r.url.path.endswith("/upload-url"),  # hashed by now; the PUT is next
                   lambda: Path(path).write_bytes(blob_data(49, size)))
    with httpx.Client(transport=network) as client, user_client(server, "alice", "team-a") as reg:
        reg.client = client
        with pytest.raises(ArtifactIntegrityError, match="did the file change"):
            reg.upload_file(path, name="a")
        assert network.bucket_answers == [("PUT", 400)] and reg.count() == 0  # BadDigest, not retried; no artifact
    assert seen[("POST", "uploaded", 201)] == 0 and not any(method == "PUT" for method, _k, _s in seen)
    assert _keys(localstack_s3, store_url) == []


def test_a_download_url_that_expired_before_its_get_is_read_through_the_server(
        make_server: Any, tmp_path: Path, localstack_s3: LocalStackS3) -> None:
    server, seen = make_server(presign_expiry_seconds=1)
    data = blob_data(50)
    network = Hook(localstack_s3, lambda r: r.url.port == urlsplit(localstack_s3.endpoint_url).port
                   and r.method == "GET", lambda: time.sleep(2.1))  # the client is slow to follow the redirect
    with httpx.Client(transport=network) as client, user_client(server, "alice", "team-a") as reg:
        reg.client = client
        art = reg.upload_file(write_bytes(tmp_path, "a.bin", data), name="a")
        assert b"".join(reg.read(art.id)) == data
    assert network.bucket_answers == [("PUT", 200), ("GET", 403)]  # S3's "Request has expired", for real
    assert seen[("GET", "contents", 303)] == 1 and seen[("GET", "contents", 200)] == 1  # then the server served it


class TestHttpEnforcingS3DirectContract(DirectStreamContract):
    """`DirectStreamContract` on LocalStack: every blob PUT to its own key, its SHA-256 checked by S3."""

    __test__ = True

    @pytest.fixture
    def bucket(self, localstack_s3: LocalStackS3) -> tuple[str, dict[str, Any]]:
        return f"s3://{localstack_s3.make_bucket()}/artifacts", localstack_s3.storage_options
