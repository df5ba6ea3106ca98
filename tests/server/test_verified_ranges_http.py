"""Verified ranges over HTTP: the server's 206 answers, ``GET …/chunks``, and the client's own checks.

The client does not take the server's word for a range: a proxy that flips one byte in
transit (or cuts the connection and flips a byte of the resumed answer) must be caught.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from prefect_artifacts.errors import ArtifactIntegrityError, ArtifactNotFound
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.storage.chunk_index import ChunkIndex
from prefect_artifacts.storage.hashing import INDEX_CHUNK
from tests.support.live_server import LiveServer
from tests.support.proxies import close_sockets

C = INDEX_CHUNK
SIZE = 4 * C + 777  # four whole chunks and a short last one
DATA = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(SIZE // 32 + 1))[:SIZE]


@dataclass
class TamperingProxy:
    """Forwards TCP both ways; each request matching ``marker`` takes the next action, if any.

    An action flips the body byte at ``flip_at`` or cuts the connection after ``cut_after``
    body bytes of that request's answer. Requests for a path containing ``unknown`` get
    the ``404`` a server without that route answers (an older server).
    """

    upstream: int
    marker: bytes = b"/contents"
    actions: list[dict[str, int]] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)
    unknown: bytes | None = None

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            state: dict[str, object] = {"action": None}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, state: dict[str, object]) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                line = data.split(b"\r\n", 1)[0]
                if line.split(b" ")[0] in (b"GET", b"PUT", b"POST", b"HEAD"):
                    self.requests.append(line)
                    if self.unknown is not None and self.unknown in line:
                        body = b'{"error":"NotFound","message":"Not Found"}'
                        client.sendall(b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"
                                       b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
                        break
                    # a new request on this connection: a fresh answer to parse
                    action = self.actions.pop(0) if self.marker in line and self.actions else None
                    state.update(action=action, head=b"", body=-1)
                server.sendall(data)
        close_sockets(client, server)

    def _down(self, server: socket.socket, client: socket.socket, state: dict[str, object]) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                action = state["action"]
                if not isinstance(action, dict):
                    client.sendall(data)
                    continue
                buffer = bytearray(data)
                body = int(state["body"])  # type: ignore[call-overload]
                if body < 0:  # still in the head
                    head = bytes(state["head"]) + data  # type: ignore[call-overload]
                    state["head"] = head
                    end = head.find(b"\r\n\r\n")
                    if end < 0:
                        client.sendall(buffer)
                        continue
                    offset = len(buffer) - (len(head) - end - 4)  # where the body starts in this buffer
                    body = 0
                else:
                    offset = 0
                arrived = len(buffer) - offset
                flip_at, cut_after = action.get("flip_at"), action.get("cut_after")
                if flip_at is not None and body <= flip_at < body + arrived:
                    buffer[offset + flip_at - body] ^= 0x01
                if cut_after is not None and body + arrived >= cut_after:
                    client.sendall(buffer[:offset + cut_after - body])
                    break  # the client sees the connection die
                state["body"] = body + arrived
                client.sendall(buffer)
        close_sockets(client, server)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def http_registry(open_server: LiveServer) -> Iterator[HttpRegistry]:
    """An HttpRegistry talking to `open_server`."""
    with HttpRegistry(open_server.url, backoff=0.01) as reg:
        yield reg


@pytest.fixture
def art_id(http_registry: HttpRegistry, tmp_path: Path) -> str:
    (tmp_path / "data.bin").write_bytes(DATA)
    return http_registry.upload_file(tmp_path / "data.bin", name="data").id


def _flip_stored(server: LiveServer, digest: str, offset: int) -> None:
    blob = Path(server.registry.store.blob_path(digest))
    blob.chmod(0o644)
    raw = bytearray(blob.read_bytes())
    raw[offset] ^= 0xFF
    blob.write_bytes(bytes(raw))


def _digest(server: LiveServer, art_id: str) -> str:
    return server.registry.get(art_id).checksum or ""


@pytest.fixture
def proxy(open_server: LiveServer) -> Iterator[TamperingProxy]:
    proxy = TamperingProxy(open_server.port)
    yield proxy
    proxy.close()


def test_chunks_endpoint_gives_the_entries_a_range_needs(open_server: LiveServer, art_id: str) -> None:
    url = f"{open_server.url}/artifacts/{art_id}/chunks"
    whole = ChunkIndex.from_json(httpx.get(url).json())
    assert (whole.digest, whole.size, whole.chunk_size, whole.count) == (_digest(open_server, art_id), SIZE, C, 5)
    for number in range(5):
        whole.check(number, DATA[number * C:(number + 1) * C])
    part = ChunkIndex.from_json(httpx.get(url, params={"start": 2 * C + 1, "end": 3 * C + 1}).json())
    part.check(2, DATA[2 * C:3 * C])
    part.check(3, DATA[3 * C:4 * C])
    with pytest.raises(ArtifactIntegrityError):
        part.check(0, DATA[:C])  # not covered: the client asked for chunks 2-3 only
    assert len(part.values) <= 3
    empty = httpx.get(url, params={"start": SIZE, "end": SIZE + 5}).json()
    assert empty["values"] == [] and empty["size"] == SIZE
    assert httpx.get(f"{open_server.url}/artifacts/nope/chunks").status_code == 404
    assert httpx.get(url, params={"start": -1}).status_code == 400


def test_chunks_are_readable_only_by_who_can_read_the_artifact(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = start_server()
    server.auth.create_user("alice", default_group="alice")
    server.auth.create_user("bob", default_group="bob")
    alice = {"Authorization": f"Bearer {server.auth.create_key('alice')[1]}"}
    bob = {"Authorization": f"Bearer {server.auth.create_key('bob')[1]}"}
    (tmp_path / "a.bin").write_bytes(DATA)
    with HttpRegistry(server.url, api_key=alice["Authorization"][7:]) as reg:
        art = reg.upload_file(tmp_path / "a.bin", name="a")
    url = f"{server.url}/artifacts/{art.id}/chunks"
    assert httpx.get(url, headers=alice).status_code == 200
    refused = httpx.get(url, headers=bob)
    assert refused.status_code == 404 and refused.json()["error"] == "ArtifactNotFound"
    assert httpx.get(url).status_code == 401


@pytest.mark.parametrize(("start", "end"), [
    (0, 1), (C - 1, C), (C - 1, C + 1), (C, 2 * C), (C + 1, 2 * C - 1), (2 * C - 1, 3 * C + 1),
    (4 * C, SIZE), (4 * C + 5, None), (1, SIZE - 1), (SIZE - 1, None),
])
def test_client_ranges_at_chunk_boundaries(
    http_registry: HttpRegistry, art_id: str, start: int, end: int | None,
) -> None:
    pieces = list(http_registry.read(art_id, start=start, end=end, chunk_size=100_000))
    assert b"".join(pieces) == DATA[start:end]
    assert max(map(len, pieces), default=0) <= 100_000


def test_empty_client_ranges(http_registry: HttpRegistry, art_id: str) -> None:
    assert b"".join(http_registry.read(art_id, start=C, end=C)) == b""
    assert b"".join(http_registry.read(art_id, start=SIZE + 10)) == b""
    with pytest.raises(ArtifactNotFound):
        http_registry.read(art_id, path="missing.bin", start=5, end=5)


def test_server_refuses_a_range_over_a_corrupt_first_chunk_with_a_clean_409(
    open_server: LiveServer, http_registry: HttpRegistry, art_id: str
) -> None:
    _flip_stored(open_server, _digest(open_server, art_id), 2 * C + 10)
    response = httpx.get(f"{open_server.url}/artifacts/{art_id}/contents", headers={"Range": f"bytes={2 * C}-"})
    assert response.status_code == 409 and response.json()["error"] == "ArtifactIntegrityError"
    with pytest.raises(ArtifactIntegrityError):
        b"".join(http_registry.read(art_id, start=2 * C + 5, end=2 * C + 6))
    assert b"".join(http_registry.read(art_id, start=3 * C)) == DATA[3 * C:]  # other chunks are still served
    ok = httpx.get(f"{open_server.url}/artifacts/{art_id}/contents", headers={"Range": f"bytes=0-{C - 1}"})
    assert ok.status_code == 206 and ok.content == DATA[:C]


def test_server_aborts_a_started_range_before_sending_a_corrupt_chunk(open_server: LiveServer, art_id: str) -> None:
    _flip_stored(open_server, _digest(open_server, art_id), 3 * C + 1)
    received = bytearray()
    with pytest.raises(httpx.HTTPError), httpx.stream(  # noqa: PT012 - the body is what fails
        "GET", f"{open_server.url}/artifacts/{art_id}/contents", headers={"Range": "bytes=10-"}
    ) as response:
        assert response.status_code == 206
        for piece in response.iter_bytes():
            received += piece
    assert len(received) <= 3 * C - 10 and bytes(received) == DATA[10:10 + len(received)]


def test_client_catches_a_byte_flipped_in_transit(art_id: str, proxy: TamperingProxy) -> None:
    proxy.actions.append({"flip_at": C + 3})  # intact from the server, altered in chunk 1 (whole chunks are asked)
    with HttpRegistry(proxy.url, backoff=0.01) as reg:
        got = bytearray()
        with pytest.raises(ArtifactIntegrityError):
            for piece in reg.read(art_id, start=5, end=3 * C, chunk_size=C):
                got += piece
        assert bytes(got) == DATA[5:C]  # the first chunk, checked; nothing of the altered one
        assert b"".join(reg.read(art_id, start=5, end=3 * C)) == DATA[5:3 * C]  # untouched this time


def test_resumed_range_download_is_verified(art_id: str, proxy: TamperingProxy) -> None:
    proxy.actions.append({"cut_after": C + C // 2})  # dropped mid-chunk: the resume starts there
    with HttpRegistry(proxy.url, backoff=0.01) as reg:
        assert b"".join(reg.read(art_id, start=100, end=SIZE - 100, chunk_size=65536)) == DATA[100:SIZE - 100]
        contents = [r for r in proxy.requests if b"/contents" in r]
        assert len(contents) == 2  # the range, then one resume from where the drop left it
        # the same drop, and the resumed answer altered in transit: refused, nothing altered handed out
        proxy.actions += [{"cut_after": C + C // 2}, {"flip_at": 10}]
        got = bytearray()
        with pytest.raises(ArtifactIntegrityError):
            for piece in reg.read(art_id, start=100, end=SIZE - 100, chunk_size=65536):
                got += piece
        assert bytes(got) == DATA[100:C]  # chunk 0 only: chunk 1 spans the drop and was altered


def test_resumed_whole_download_is_verified(art_id: str, proxy: TamperingProxy) -> None:
    proxy.actions += [{"cut_after": C // 2 + 1000}, {"flip_at": C + 7}]  # a drop, then an altered resumed answer
    with HttpRegistry(proxy.url, backoff=0.01) as reg:
        got = bytearray()
        with pytest.raises(ArtifactIntegrityError, match="chunk index"):  # refused at its chunk, not at the end
            for piece in reg.read(art_id, chunk_size=65536):
                got += piece
        assert len(got) <= C and bytes(got) == DATA[:len(got)]
        resumed = [r for r in proxy.requests if b"/contents" in r or b"/chunks" in r]
        assert [b"/chunks" in r for r in resumed] == [False, True, False]  # the download, its index, the resume
        assert b"".join(reg.read(art_id)) == DATA


def test_missing_sidecar_is_rebuilt_by_the_server(
    open_server: LiveServer, http_registry: HttpRegistry, art_id: str,
) -> None:
    store = open_server.registry.store
    digest = _digest(open_server, art_id)
    Path(store.index_path(digest)).unlink()
    store._forget_index(digest)  # as after a restart: nothing verified in memory
    assert b"".join(http_registry.read(art_id, start=C - 2, end=C + 2)) == DATA[C - 2:C + 2]
    assert Path(store.index_path(digest)).exists()


def test_reference_ranges_are_read_and_checked_by_the_client(http_registry: HttpRegistry, tmp_path: Path) -> None:
    target = tmp_path / "ref.bin"
    target.write_bytes(DATA[:50_000])
    art = http_registry.add_reference(target.as_uri(), name="ref")
    assert b"".join(http_registry.read(art.id, start=10, end=20)) == DATA[10:20]
    target.write_bytes(DATA[1:50_001])  # same size, other bytes
    with pytest.raises(ArtifactIntegrityError):
        b"".join(http_registry.read(art.id, start=10, end=20))


def test_a_server_without_chunk_indexes_still_gets_checked_reads(art_id: str, proxy: TamperingProxy) -> None:
    proxy.unknown = b"/chunks"  # an older server: no such route
    proxy.actions.append({"cut_after": C // 2})
    with HttpRegistry(proxy.url, backoff=0.01) as reg:
        assert b"".join(reg.read(art_id, start=C - 3, end=C + 3)) == DATA[C - 3:C + 3]  # the whole file, checked
        assert b"".join(reg.read(art_id, chunk_size=65536)) == DATA  # resumed as before: the whole checksum decides
        assert sum(b"/chunks" in r for r in proxy.requests) == 2 and sum(b"/contents" in r for r in proxy.requests) == 3
        with pytest.raises(ArtifactNotFound):
            reg.read("missing", start=1, end=2)


def test_chunk_entries_come_in_bounded_windows(art_id: str, proxy: TamperingProxy,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect_artifacts._server.routes import content

    monkeypatch.setattr(content, "MAX_CHUNK_ENTRIES", 2)  # the server answers two chunks' entries at a time
    doc = httpx.get(f"{proxy.url}/artifacts/{art_id}/chunks", params={"start": C + 1}).json()
    assert ChunkIndex.from_json(doc).last_covered() == 2 and len(doc["values"]) == 3  # chunk 0's state too
    proxy.requests.clear()
    proxy.actions.append({"cut_after": C + 100})  # and a drop inside the first window
    with HttpRegistry(proxy.url, backoff=0.01) as reg:
        assert b"".join(reg.read(art_id, start=5, end=SIZE - 5, chunk_size=65536)) == DATA[5:SIZE - 5]
        assert b"".join(reg.read(art_id, start=3 * C)) == DATA[3 * C:]
    asked = [r.split(b" ")[1].split(b"?")[0].rsplit(b"/", 1)[-1] for r in proxy.requests]
    # first read: entries for chunks 0-1, their bytes (dropped after chunk 0), chunk 1 again, then entries
    # 1-3 (the last chunk's entry is the digest: 2-4 are checkable) and their bytes; second read: one window
    assert asked == [b"chunks", b"contents", b"contents", b"chunks", b"contents", b"chunks", b"contents"]
