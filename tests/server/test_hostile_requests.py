"""Requests built to tie the server up: slow or oversized heads, stalled bodies, huge
label lists, positions beyond what SQL can hold. Each gets a quick, clear refusal and
the server keeps answering everyone else."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from prefect_artifacts._server import NoAuth
from prefect_artifacts._server.protocol import ConnectionLimits
from prefect_artifacts.errors import InvalidArtifactInput, InvalidName
from prefect_artifacts.registry.base import MAX_POSITION
from prefect_artifacts.registry.http import HttpRegistry
from tests.support.live_server import LiveServer

FAST = ConnectionLimits(header_timeout=1.0, body_timeout=1.0, max_header_bytes=8 * 1024)


@pytest.fixture
def guarded(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server(auth=NoAuth(), connections=FAST)


def _connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> bytes:
    """Read until the server closes the connection; fail if it is still open after ``seconds``."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {seconds} s")
    return received


def _health_ok(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


def test_a_silent_connection_is_closed_after_the_head_deadline(guarded: LiveServer) -> None:
    sock = _connect(guarded)
    started = time.monotonic()
    assert _closed_within(sock, 5) == b""
    assert 0.9 <= time.monotonic() - started < 5
    _health_ok(guarded)


def test_a_head_sent_byte_by_byte_is_cut_at_the_deadline(guarded: LiveServer) -> None:
    sock = _connect(guarded)
    head = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    started = time.monotonic()
    try:  # 240 bytes at 20 a second: 12 s if nobody cuts it
        for byte in head:
            sock.sendall(bytes([byte]))
            time.sleep(0.05)
    except OSError:
        pass  # cut while sending
    else:
        _closed_within(sock, 5)
    assert time.monotonic() - started < 5
    _health_ok(guarded)


def test_a_stalled_body_is_cut_but_a_steady_one_is_not(guarded: LiveServer) -> None:
    url = "/api/v1/artifacts"
    head = (f"POST {url} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n").encode()
    stalled = _connect(guarded)
    stalled.sendall(head + b'{"name": ')
    started = time.monotonic()
    _closed_within(stalled, 5)
    assert time.monotonic() - started < 5
    # A body that keeps coming, slower than the timeout in total but never pausing that long, is read.
    steady = _connect(guarded)
    body = b'{"folder": "/default", "name": "steady", "kind": "directory", "isDir": true, "files": []}'
    steady.sendall(head.replace(b"1000", str(len(body)).encode()))
    for i in range(0, len(body), 10):
        steady.sendall(body[i:i + 10])
        time.sleep(0.3)  # 9 pauses of 0.3 s: 2.7 s in all, each pause well under the 1 s timeout
    steady.settimeout(10)
    answer = steady.recv(65536)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    steady.close()


def test_an_oversized_head_gets_431(guarded: LiveServer) -> None:
    sock = _connect(guarded)
    sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
    answer = _closed_within(sock, 5)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    huge_target = httpx.get(f"{guarded.url}/health", params={"q": "a" * 20_000}, timeout=5)
    assert huge_target.status_code == 431
    _health_ok(guarded)


def test_default_limits_keep_big_uploads_and_ordinary_heads_working(open_server: LiveServer, tmp_path: Path) -> None:
    data = tmp_path / "big.bin"
    data.write_bytes(b"x" * (8 * 1024 * 1024))
    with HttpRegistry(open_server.url) as reg:
        art = reg.upload_file(data, name="big", labels=["a" * 100] * 3)
        assert art.size == 8 * 1024 * 1024
    headers = {f"X-H{i}": "v" * 100 for i in range(100)}  # ~10 KB of headers: fine by default
    assert httpx.get(f"{open_server.url}/health", headers=headers).status_code == 200


def test_a_hundred_thousand_labels_are_refused_at_once(open_server: LiveServer, tmp_path: Path) -> None:
    data = tmp_path / "a.txt"
    data.write_text("a")
    with HttpRegistry(open_server.url) as reg:
        art = reg.upload_file(data, name="a")
        labels = [f"label-{i}" for i in range(100_000)]
        started = time.monotonic()
        answer = httpx.patch(f"{open_server.url}/artifacts/{art.id}", json={"labels": labels}, timeout=60)
        assert answer.status_code == 400 and "too many labels" in answer.json()["message"]
        assert time.monotonic() - started < 10
        with pytest.raises(InvalidName, match="too many labels"):
            reg.update(art.id, labels=labels)
        kept = reg.update(art.id, labels=[f"l{i % 1000}" for i in range(50_000)])  # duplicates collapse
        assert len(kept.labels) == 1000
    with pytest.raises(InvalidName, match="too many labels"):
        open_server.registry.update(art.id, labels=labels)


@pytest.mark.parametrize("value", [2**63, 2**63 - 1 + 10, MAX_POSITION + 1, 10**30])
def test_positions_beyond_sql_are_a_400(open_server: LiveServer, value: int) -> None:
    for path, params in (("artifact-ids", {"offset": value}), ("artifact-ids", {"count": value}),
                         ("artifacts", {"index": value})):
        answer = httpx.get(f"{open_server.url}/{path}", params=params)
        assert answer.status_code == 400, (path, params, answer.text)
        assert answer.json()["error"] in ("InvalidArtifactInput", "RequestValidationError"), answer.text
    with pytest.raises(InvalidArtifactInput):
        open_server.registry.ids(offset=value)
    with pytest.raises(InvalidArtifactInput):
        open_server.registry.list(index=value)
    assert open_server.registry.ids(offset=MAX_POSITION) == []
    assert open_server.registry.list(index=MAX_POSITION).data == []
