"""Client retries through a real TCP proxy that drops connections at chosen moments.

The proxy forwards bytes both ways; when a request matching a rule passes through,
it cuts the connection after the server has answered (``drop_response``: the server
committed, the client saw nothing) or after part of the response (``cut_after``).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from prefect_artifacts.errors import StorageError
from prefect_artifacts.registry.http import HttpRegistry
from tests.server.conftest import LiveServer, close_sockets


@dataclass
class Rule:
    marker: bytes  # e.g. b"POST /api/v1/artifacts "
    times: int = 1  # how many matching requests to sabotage
    cut_after: int = 0  # response bytes forwarded before cutting (0: none)
    hits: int = 0


@dataclass
class DroppingProxy:
    upstream: int
    rules: list[Rule] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            state: dict[str, Rule | None] = {"rule": None}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, state: dict[str, Rule | None]) -> None:
        try:
            while data := client.recv(65536):
                for rule in self.rules:
                    if rule.marker in data and rule.hits < rule.times:
                        rule.hits += 1
                        state["rule"] = rule
                if data[:8].split(b" ")[0] in (b"GET", b"POST", b"PUT", b"HEAD", b"PATCH", b"DELETE"):
                    self.requests.append(data.split(b"\r\n", 1)[0])
                server.sendall(data)
        except OSError:
            pass
        close_sockets(client, server)

    def _down(self, server: socket.socket, client: socket.socket, state: dict[str, Rule | None]) -> None:
        forwarded = 0
        try:
            while data := server.recv(65536):
                rule = state["rule"]
                if rule is not None:
                    room = rule.cut_after - forwarded
                    if room > 0:
                        client.sendall(data[:room])
                        forwarded += min(room, len(data))
                    if forwarded >= rule.cut_after:
                        break  # drop the rest: the client sees the connection die
                    continue
                client.sendall(data)
        except OSError:
            pass
        close_sockets(client, server)

    def close(self) -> None:
        self.closed = True
        self.listener.close()


@pytest.fixture
def proxy(open_server: LiveServer) -> Iterator[DroppingProxy]:
    proxy = DroppingProxy(open_server.port)
    yield proxy
    proxy.close()


def test_create_retried_after_the_connection_drops_makes_one_artifact(
    open_server: LiveServer, proxy: DroppingProxy, tmp_path: Path
) -> None:
    path = tmp_path / "a.txt"
    path.write_text("exactly once")
    proxy.rules.append(Rule(b"POST /api/v1/artifacts ", times=2))
    with HttpRegistry(proxy.url(), backoff=0.01) as reg:
        art = reg.upload_file(path, name="a")
        assert art.open().read() == b"exactly once"
    creates = [r for r in proxy.requests if r.startswith(b"POST /api/v1/artifacts ")]
    assert len(creates) == 3  # two answers lost, the third retry got one
    assert open_server.registry.count() == 1
    assert [a.id for a in open_server.registry.list().data] == [art.id]
    assert art.version == 1


def test_blob_upload_retried_after_a_drop(open_server: LiveServer, proxy: DroppingProxy, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(256)) * 8192)  # 2 MiB: HEAD then a streamed PUT
    proxy.rules.append(Rule(b"PUT /api/v1/blobs/"))
    with HttpRegistry(proxy.url(), backoff=0.01, use_digest_cache=False) as reg:
        art = reg.upload_file(path, name="big")
        assert art.open().read() == path.read_bytes()
    assert sum(r.startswith(b"PUT ") for r in proxy.requests) == 2


def test_download_resumes_with_a_range_after_a_drop(
    open_server: LiveServer, proxy: DroppingProxy, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 12_000  # ~3 MiB
    path = tmp_path / "d.bin"
    path.write_bytes(data)
    with HttpRegistry(open_server.url) as direct:
        art_id = direct.upload_file(path, name="d").id
    proxy.rules.append(Rule(b"/contents", cut_after=1_000_000))
    with HttpRegistry(proxy.url(), backoff=0.01) as reg:
        assert b"".join(reg.read(art_id, chunk_size=65536)) == data
    assert sum(b"/contents" in r for r in proxy.requests) == 2  # the first, then one resume


def test_non_idempotent_calls_are_not_retried(open_server: LiveServer, proxy: DroppingProxy, tmp_path: Path) -> None:
    path = tmp_path / "m.txt"
    path.write_text("m")
    with HttpRegistry(open_server.url) as direct:
        art_id = direct.upload_file(path, name="m").id
    proxy.rules.append(Rule(b"/aspects "))
    with HttpRegistry(proxy.url(), backoff=0.01) as reg, pytest.raises(StorageError):
        reg.add_metadata(art_id, {"rows": 1})
    assert len(open_server.registry.get_metadata(art_id)) == 1  # committed once, never duplicated


def test_unreachable_server_is_a_storage_error(tmp_path: Path) -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there any more
    with HttpRegistry(f"http://127.0.0.1:{port}/api/v1", retries=2, backoff=0.01) as reg, \
            pytest.raises(StorageError, match="cannot connect"):
        reg.list()
