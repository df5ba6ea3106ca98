"""Blob uploads: verified against the announced digest and Content-Length; a truncated,
mismatching or oversized upload is refused and leaves nothing behind; clients send
only what the server lacks."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from prefect_artifacts._server import Limits, NoAuth
from prefect_artifacts.errors import BlobNotFound, PayloadTooLarge
from prefect_artifacts.registry.http import HttpRegistry, error_from_response
from tests.support.live_server import LiveServer


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _nothing_stored(server: LiveServer, digest: str, timeout: float = 10.0) -> bool:
    """True once the blob is absent and no temporary upload file is left (polls: the
    server notices a dropped connection asynchronously)."""
    store = server.registry.store
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not store.exists(digest) and not list(store.iter_temp()):
            return True
        time.sleep(0.05)
    return False


def _raw_put(server: LiveServer, digest: str, declared: int, body: bytes, close: str) -> bytes:
    """PUT ``body`` announcing ``declared`` bytes over a raw socket, then half- or fully close."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = (f"PUT /api/v1/blobs/{digest} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n").encode()
    sock.sendall(head + body)
    time.sleep(0.2)  # let the server start storing what it received
    answer = b""
    if close == "half":
        sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            answer = sock.recv(65536)
    sock.close()
    return answer


@pytest.mark.parametrize(("close", "size"), [("half", 1 << 20), ("full", 1 << 20), ("half", 100_000)])
def test_truncated_upload_is_rejected_and_leaves_nothing(open_server: LiveServer, close: str, size: int) -> None:
    data = (bytes(range(256)) * 4096)[:size]  # streamed (1 MiB) or read whole (small)
    digest = _sha(data)
    answer = _raw_put(open_server, digest, len(data), data[: len(data) // 2], close)
    assert not answer.startswith(b"HTTP/1.1 2"), answer[:200]
    assert _nothing_stored(open_server, digest)
    # the same upload, complete, is then accepted
    response = httpx.put(f"{open_server.url}/blobs/{digest}", content=data)
    assert response.status_code == 201 and response.json() == {"digest": digest, "size": len(data), "written": True}
    assert b"".join(open_server.registry.store.read(digest)) == data


@pytest.mark.parametrize("repeat", [1000, 100_000])  # read whole, streamed
def test_wrong_digest_is_rejected_and_leaves_nothing(open_server: LiveServer, repeat: int) -> None:
    data, announced = b"the real content" * repeat, _sha(b"something else")
    response = httpx.put(f"{open_server.url}/blobs/{announced}", content=data)
    assert response.status_code == 409
    assert response.json()["error"] == "ArtifactIntegrityError"
    assert _nothing_stored(open_server, announced) and _nothing_stored(open_server, _sha(data))


def test_malformed_digest_is_a_400(open_server: LiveServer) -> None:
    for bad in ("abc", "G" * 64, "0" * 63):
        for method in ("PUT", "HEAD"):
            body = b"x" if method == "PUT" else None
            response = httpx.request(method, f"{open_server.url}/blobs/{bad}", content=body)
            assert response.status_code == 400, (method, bad)


def test_blob_size_limit(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(auth=NoAuth(), limits=Limits(max_blob_bytes=1000))
    data = b"y" * 2000
    declared = httpx.put(f"{server.url}/blobs/{_sha(data)}", content=data)
    assert declared.status_code == 413 and declared.json()["error"] == "PayloadTooLarge"

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while streaming
        yield data[:600]
        yield data[600:]

    streamed = httpx.put(f"{server.url}/blobs/{_sha(data)}", content=chunked())
    assert streamed.status_code == 413
    assert _nothing_stored(server, _sha(data))
    small = b"z" * 1000
    assert httpx.put(f"{server.url}/blobs/{_sha(small)}", content=small).status_code == 201
    with HttpRegistry(server.url) as reg, pytest.raises(PayloadTooLarge):
        path = Path(server.registry.store.root).parent / "big.bin"
        path.write_bytes(b"q" * 300_000)
        reg.upload_file(path, name="big")


def test_head_and_skipping_blobs_the_server_has(open_server: LiveServer, tmp_path: Path) -> None:
    data = bytes(range(256)) * 2048  # 512 KiB: above the direct-PUT size, so HEAD first
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    digest = _sha(data)
    assert httpx.head(f"{open_server.url}/blobs/{digest}").status_code == 404
    seen: list[tuple[str, str]] = []
    client = httpx.Client(event_hooks={"request": [lambda r: seen.append((r.method, r.url.path))]})
    with HttpRegistry(open_server.url, client=client, use_digest_cache=False) as reg:
        first = reg.upload_file(path, name="a")
        assert ("PUT", f"/api/v1/blobs/{digest}") in seen
        seen.clear()
        second = reg.upload_file(path, name="b")
        assert ("HEAD", f"/api/v1/blobs/{digest}") in seen
        assert not any(method == "PUT" for method, _ in seen), seen  # the server had it
        assert first.checksum == second.checksum == digest
        assert second.open().read() == data
    client.close()
    head = httpx.head(f"{open_server.url}/blobs/{digest}")
    assert head.status_code == 200 and head.headers["x-blob-size"] == str(len(data))


def test_head_keeps_an_unreferenced_blob_from_gc_until_the_create(open_server: LiveServer, tmp_path: Path) -> None:
    data = b"reused" * 100_000
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    with HttpRegistry(open_server.url, use_digest_cache=False) as reg:
        reg.upload_file(path, name="old").delete()
        blob = open_server.registry.store.blob_path(_sha(data))
        os.utime(blob, (time.time() - 3600, time.time() - 3600))  # an hour old, referenced by nothing
        assert httpx.head(f"{open_server.url}/blobs/{_sha(data)}").status_code == 200  # a client will reuse it
        assert reg.gc(grace_seconds=600).blobs_deleted == 0
        assert reg.upload_file(path, name="new").open().read() == data


def test_create_refuses_blobs_that_were_not_uploaded(open_server: LiveServer) -> None:
    missing = _sha(b"never uploaded")
    body = {"folder": "/default", "name": "ghost", "kind": "file", "files": [
        {"path": "ghost.bin", "size": 14, "checksum": missing, "digest": missing}]}
    response = httpx.post(f"{open_server.url}/artifacts", json=body)
    assert response.status_code == 404 and response.json()["error"] == "BlobNotFound"
    lying = {**body, "files": [{**body["files"][0], "checksum": _sha(b"other")}]}
    assert httpx.post(f"{open_server.url}/artifacts", json=lying).status_code == 400
    assert open_server.registry.count() == 0
    assert isinstance(error_from_response(response), BlobNotFound)  # what the client raises


def test_sixty_uploads_in_a_row_make_sixty_artifacts(open_server: LiveServer, tmp_path: Path) -> None:
    """Back-to-back uploads on one kept-alive connection (speed is bench/bench_server.py's job)."""
    paths = []
    for i in range(60):
        path = tmp_path / f"f{i}.txt"
        path.write_text(f"small file {i}")
        paths.append(path)
    with HttpRegistry(open_server.url) as reg:
        arts = [reg.upload_file(path, name=path.stem) for path in paths]
        assert [b"".join(a.as_stream()) for a in arts[:2]] == [b"small file 0", b"small file 1"]
    assert open_server.registry.count() == len(paths)


def test_small_files_travel_inside_the_create(open_server: LiveServer, tmp_path: Path) -> None:
    import base64

    path = tmp_path / "small.txt"
    path.write_text("small enough to go inline")
    seen: list[str] = []
    client = httpx.Client(event_hooks={"request": [lambda r: seen.append(f"{r.method} {r.url.path}")]})
    with HttpRegistry(open_server.url, client=client) as reg:
        art = reg.upload_file(path, name="small")
        assert seen == ["POST /api/v1/artifacts"]  # one request per small upload
        assert art.open().read() == path.read_bytes()
    client.close()
    data = b"inline content"
    body = {"folder": "/default", "name": "x", "kind": "file",
            "files": [{"path": "x.txt", "size": len(data), "checksum": _sha(data), "digest": _sha(data)}]}
    forged = {**body, "blobs": {_sha(data): base64.b64encode(b"other content").decode()}}
    response = httpx.post(f"{open_server.url}/artifacts", json=forged)
    assert response.status_code == 409 and response.json()["error"] == "ArtifactIntegrityError"
    stray = {**body, "blobs": {_sha(b"zz"): base64.b64encode(b"zz").decode()}}
    assert httpx.post(f"{open_server.url}/artifacts", json=stray).status_code == 400
    assert _nothing_stored(open_server, _sha(data)) and _nothing_stored(open_server, _sha(b"zz"))
    assert open_server.registry.count() == 1
    ok = {**body, "blobs": {_sha(data): base64.b64encode(data).decode()}}
    assert httpx.post(f"{open_server.url}/artifacts", json=ok).status_code == 201
