"""Client retries through a real TCP proxy that drops connections at chosen moments.

The proxy (`tests.support.proxies.DroppingProxy`) forwards bytes both ways; when a request
matching a rule passes through, it cuts the connection once the server has answered: with
none of the answer forwarded (the server committed, the client saw nothing) or after part of it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_artifacts.errors import StorageError
from prefect_artifacts.registry.http import HttpRegistry
from tests.support.live_server import LiveServer
from tests.support.proxies import DroppingProxy, Rule


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
