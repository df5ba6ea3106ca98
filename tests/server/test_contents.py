"""Downloads: full content with its checksum, HTTP ranges (206/416), end-to-end integrity,
references read by the client (307), and directory bundles streamed with flat memory."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prefect_artifacts.errors import ArtifactIntegrityError
from prefect_artifacts.registry.http import HttpRegistry
from tests.support.live_server import LiveServer

DATA = bytes(range(256)) * 10_000  # 2.5 MB: several server chunks


@pytest.fixture
def http_registry(open_server: LiveServer) -> Iterator[HttpRegistry]:
    """An HttpRegistry talking to `open_server`."""
    with HttpRegistry(open_server.url) as reg:
        yield reg


@pytest.fixture
def blob_art(http_registry: HttpRegistry, tmp_path: Path) -> str:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    return http_registry.upload_file(path, name="data").id


def test_full_download_headers(open_server: LiveServer, blob_art: str) -> None:
    response = httpx.get(f"{open_server.url}/artifacts/{blob_art}/contents")
    assert response.status_code == 200 and response.content == DATA
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["accept-ranges"] == "bytes"
    checksum = open_server.registry.get(blob_art).checksum
    assert response.headers["etag"] == f'"{checksum}"' and response.headers["x-content-sha256"] == checksum


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-0", 0, 1), ("bytes=100-199", 100, 200), ("bytes=2000000-", 2_000_000, len(DATA)),
    ("bytes=-100", len(DATA) - 100, len(DATA)), ("bytes=2559990-9999999", 2_559_990, len(DATA)),
])
def test_range_requests(open_server: LiveServer, blob_art: str, header: str, start: int, end: int) -> None:
    response = httpx.get(f"{open_server.url}/artifacts/{blob_art}/contents", headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
    assert response.headers["content-length"] == str(end - start)
    assert response.content == DATA[start:end]


def test_unsatisfiable_and_ignored_ranges(open_server: LiveServer, blob_art: str) -> None:
    url = f"{open_server.url}/artifacts/{blob_art}/contents"
    for header in (f"bytes={len(DATA)}-", "bytes=-0"):
        response = httpx.get(url, headers={"Range": header})
        assert response.status_code == 416, header
        assert response.headers["content-range"] == f"bytes */{len(DATA)}"
    for header in ("bytes=0-1,5-6", "items=0-1", "bytes=abc"):  # not single byte ranges: whole content
        response = httpx.get(url, headers={"Range": header})
        assert response.status_code == 200 and response.content == DATA, header


def test_client_ranges(http_registry: HttpRegistry, blob_art: str) -> None:
    assert b"".join(http_registry.read(blob_art, start=10, end=20)) == DATA[10:20]
    assert b"".join(http_registry.read(blob_art, start=len(DATA) - 5)) == DATA[-5:]
    assert b"".join(http_registry.read(blob_art, end=7)) == DATA[:7]
    assert b"".join(http_registry.read(blob_art, start=len(DATA) + 10)) == b""
    chunks = list(http_registry.read(blob_art, chunk_size=65536))
    assert b"".join(chunks) == DATA and max(map(len, chunks)) <= 65536


def _corrupt(server: LiveServer, digest: str) -> None:
    blob = Path(server.registry.store.blob_path(digest))
    blob.chmod(0o644)
    raw = bytearray(blob.read_bytes())
    raw[-1] ^= 0xFF  # same size, last byte flipped
    blob.write_bytes(bytes(raw))


def test_corruption_is_detected_end_to_end(open_server: LiveServer, http_registry: HttpRegistry, blob_art: str,
                                           tmp_path: Path) -> None:
    small = tmp_path / "small.txt"
    small.write_text("small and corrupt")
    small_art = http_registry.upload_file(small, name="small")
    _corrupt(open_server, small_art.checksum or "")
    response = httpx.get(f"{open_server.url}/artifacts/{small_art.id}/contents")
    assert response.status_code == 409 and response.json()["error"] == "ArtifactIntegrityError"
    with pytest.raises(ArtifactIntegrityError):
        small_art.open()
    big = http_registry.get(blob_art)
    _corrupt(open_server, big.checksum or "")
    with pytest.raises(ArtifactIntegrityError):  # the server aborts mid-stream; the client checks too
        b"".join(big.as_stream())
    target = tmp_path / "out.bin"
    with pytest.raises(ArtifactIntegrityError):
        big.as_local_file(target)
    assert not target.exists()


def test_large_downloads_are_verified_by_the_client_that_asks_to(open_server: LiveServer, http_registry: HttpRegistry,
                                                                 tmp_path: Path) -> None:
    data = bytes(range(256)) * 40_000  # 10 MB: above the size the server leaves to verifying clients
    (tmp_path / "big.bin").write_bytes(data)
    art = http_registry.upload_file(tmp_path / "big.bin", name="big")
    _corrupt(open_server, art.checksum or "")
    url = f"{open_server.url}/artifacts/{art.id}/contents"
    with pytest.raises(httpx.HTTPError):  # a plain client: the server hashes and aborts the stream
        httpx.get(url)
    served = httpx.get(url, headers={"X-Client-Verifies": "sha256"})  # the server streams without hashing...
    assert served.status_code == 200 and len(served.content) == len(data) and served.content != data
    assert served.headers["x-content-sha256"] == art.checksum  # ...and names the digest the client checks
    with pytest.raises(ArtifactIntegrityError):  # HttpRegistry asks, and checks
        b"".join(art.as_stream())
    with pytest.raises(ArtifactIntegrityError):
        art.as_local_file(tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()


def test_references_are_read_by_the_client(
    open_server: LiveServer, http_registry: HttpRegistry, tmp_path: Path,
) -> None:
    folder = tmp_path / "refs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("A" * 100)
    (folder / "sub" / "b.txt").write_text("B")
    one = http_registry.add_reference((folder / "a.txt").as_uri(), name="one")
    response = httpx.get(f"{open_server.url}/artifacts/{one.id}/contents")
    assert response.status_code == 307
    assert response.headers["location"] == (folder / "a.txt").as_uri()
    assert response.json()["files"][0]["uri"] == (folder / "a.txt").as_uri()
    assert one.open().read() == b"A" * 100
    assert b"".join(http_registry.read(one.id, start=10, end=15)) == b"AAAAA"
    tree = http_registry.add_reference(folder.as_uri() + "/", name="tree")
    bundle = tree.get_contents(file_type="tar_gz", output_dir=tmp_path / "out")
    with tarfile.open(bundle) as archive:
        names = {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}  # type: ignore[union-attr]
    assert names == {"a.txt": b"A" * 100, "sub/b.txt": b"B"}
    (folder / "a.txt").write_text("changed!")
    with pytest.raises(ArtifactIntegrityError):
        one.open()


def test_bundles(http_registry: HttpRegistry, open_server: LiveServer, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "plots").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "plots" / "p.bin").write_bytes(DATA[:300_000])
    art = http_registry.upload_dir(root, name="tree")
    response = httpx.get(f"{open_server.url}/artifacts/{art.id}/contents", params={"fileType": "zip"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert "tree.zip" in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.read("a.txt") == b"alpha" and archive.read("plots/p.bin") == DATA[:300_000]
    sub = httpx.get(f"{open_server.url}/artifacts/{art.id}/contents", params={"fileType": "tar_gz", "path": "plots"})
    with tarfile.open(fileobj=io.BytesIO(sub.content)) as archive:
        assert archive.getnames() == ["plots/p.bin"]
    missing = httpx.get(f"{open_server.url}/artifacts/{art.id}/contents", params={"fileType": "zip", "path": "nope"})
    assert missing.status_code == 404 and missing.json()["error"] == "ArtifactNotFound"
    single = http_registry.upload_file(root / "a.txt", name="single")
    refused = httpx.get(f"{open_server.url}/artifacts/{single.id}/contents", params={"fileType": "zip"})
    assert refused.status_code == 400 and refused.json()["error"] == "InvalidOperation"


# -- memory: a bundle much larger than the memory it may use ------------------------

_SERVE = """
import sys, uvicorn
from prefect_artifacts._server import NoAuth, create_app
from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry
root, port = sys.argv[1], int(sys.argv[2])
registry = LocalRegistry.from_urls(root + "/blobs", sqlite_url(root + "/catalog.sqlite"))
uvicorn.run(create_app(registry, auth=NoAuth()), host="127.0.0.1", port=port, log_level="warning")
"""


def _status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_large_bundle_streams_with_flat_server_memory(tmp_path: Path) -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(tmp_path / "server"), str(port)])
    try:
        url = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/health").raise_for_status()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
                time.sleep(0.1)
        root = tmp_path / "big"
        root.mkdir()
        block = os.urandom(4 * 1024 * 1024)  # incompressible: the archive is as large as the data
        for i in range(24):  # 96 MiB of files (one blob: content is stored once)
            (root / f"part-{i:02d}.bin").write_bytes(block)
        total = 24 * len(block)
        with HttpRegistry(url) as reg:
            art = reg.upload_dir(root, name="big")
            assert art.size == total
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
            before = _status(proc.pid)["VmRSS"]
            received = 0
            with httpx.stream("GET", f"{url}/artifacts/{art.id}/contents", params={"fileType": "tar_gz"},
                              timeout=300) as response:
                assert response.status_code == 200
                assert response.headers.get("transfer-encoding") == "chunked"
                assert "content-length" not in response.headers
                for chunk in response.iter_raw(1 << 20):
                    received += len(chunk)
            peak = _status(proc.pid)["VmHWM"]
        growth = peak - before
        print(f"\nbundle of {total >> 20} MiB streamed ({received >> 20} MiB tar.gz); "
              f"server RSS {before >> 20} MiB before, peak growth {growth >> 20} MiB")
        assert received > total  # incompressible: nothing was skipped
        assert growth < total // 2
    finally:
        proc.terminate()
        proc.wait(30)


def test_empty_ranges_still_check_the_file(http_registry: HttpRegistry, blob_art: str) -> None:
    from prefect_artifacts.errors import ArtifactNotFound

    assert b"".join(http_registry.read(blob_art, start=5, end=5)) == b""
    with pytest.raises(ArtifactNotFound):
        http_registry.read(blob_art, path="missing.bin", start=5, end=5)
