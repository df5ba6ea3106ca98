"""References (no copy): file://, http(s) via a real local server, s3:// via moto.

Each is probed once when registered; reading content that changed since raises
`ArtifactIntegrityError` instead of returning the new bytes.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from prefect_artifacts.errors import ArtifactIntegrityError, ArtifactNotFound, InvalidArtifactInput, StorageError
from prefect_artifacts.models import ArtifactKind
from prefect_artifacts.references import probe, read
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.services import MotoServer


def read_all(reg: LocalRegistry, ref: str, path: str | None = None, chunk_size: int = 1024) -> bytes:
    return b"".join(reg.read(ref, path=path, chunk_size=chunk_size))


def read_until_error(reg: LocalRegistry, ref: str, chunk_size: int = 1024) -> list[bytes]:
    received: list[bytes] = []
    with pytest.raises(ArtifactIntegrityError, match="changed"):
        for chunk in reg.read(ref, chunk_size=chunk_size):
            received.append(chunk)
    return received


# file:// ------------------------------------------------------------------------------


def test_file_reference_detects_changed_content(local_registry: LocalRegistry, tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    original = bytes(range(256)) * 40
    target.write_bytes(original)
    art = local_registry.add_reference(str(target), name="ref")
    assert art.kind is ArtifactKind.REFERENCE
    (f,) = art.files
    assert (f.uri, f.size, f.checksum) == (target.as_uri(), len(original), hashlib.sha256(original).hexdigest())
    assert read_all(local_registry, "ref") == original
    assert list(local_registry.store.iter_blobs()) == []  # nothing was copied

    changed = bytearray(original)
    changed[-1] ^= 1  # same size, last byte differs
    target.write_bytes(bytes(changed))
    received = read_until_error(local_registry, "ref")
    assert sum(map(len, received)) < len(original)  # the last chunk is withheld
    with pytest.raises(ArtifactIntegrityError):
        art.open()
    target.write_bytes(original)  # restored: readable again
    assert art.open().read() == original


@pytest.mark.parametrize("chunk_size", [0, -1])
def test_reference_reads_with_non_positive_chunk_size(
    local_registry: LocalRegistry, tmp_path: Path, chunk_size: int
) -> None:
    target = tmp_path / "data.bin"
    target.write_bytes(b"intact content")
    local_registry.add_reference(str(target), name="ref")
    assert read_all(local_registry, "ref", chunk_size=chunk_size) == b"intact content"


def test_file_reference_deleted_target(local_registry: LocalRegistry, tmp_path: Path) -> None:
    target = tmp_path / "gone.txt"
    target.write_text("x")
    local_registry.add_reference(target.as_uri(), name="gone")
    target.unlink()
    with pytest.raises((StorageError, ArtifactNotFound)):
        read_all(local_registry, "gone")


def test_file_directory_reference(local_registry: LocalRegistry, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "sub" / "b.txt").write_text("b")
    art = local_registry.add_reference(root.as_uri() + "/", name="tree")
    assert [f.path for f in art.files] == ["a.txt", "sub/b.txt"]
    assert art.is_dir and art.kind is ArtifactKind.REFERENCE
    paths = [f.path for f in art.files]
    (root / "sub" / "b.txt").write_text("B")
    assert read_all(local_registry, "tree", path=paths[0]) == b"a"
    with pytest.raises(ArtifactIntegrityError):
        read_all(local_registry, "tree", path=paths[1])


def test_missing_reference_is_refused_and_nothing_catalogued(local_registry: LocalRegistry, tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        local_registry.add_reference(str(tmp_path / "nope.bin"), name="nope")
    assert local_registry.count() == 0


def test_file_uri_without_a_path_is_invalid_input() -> None:
    with pytest.raises(InvalidArtifactInput, match="has no path"):
        probe("file://")
    with pytest.raises(InvalidArtifactInput, match="has no path"):
        list(read("file://", None))


# http(s):// ----------------------------------------------------------------------------


class Site:
    """A tiny HTTP server on 127.0.0.1 serving mutable bodies, with or without ETags."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}
        self.etags = True
        self.weak = False
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _head(self) -> bytes | None:
                site.requests.append(f"{self.command} {self.path}")
                body = site.bodies.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                if site.etags:
                    tag = f'"{hashlib.md5(body).hexdigest()}"'
                    self.send_header("ETag", f"W/{tag}" if site.weak else tag)
                self.end_headers()
                return body

            def do_HEAD(self) -> None:  # noqa: N802
                self._head()

            def do_GET(self) -> None:  # noqa: N802
                body = self._head()
                if body:
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.close()


BODY = b"0123456789abcdef" * 1000


def test_http_reference_with_etag(local_registry: LocalRegistry, site: Site) -> None:
    site.bodies["/data/x.bin"] = BODY
    art = local_registry.add_reference(f"{site.url}/data/x.bin", name="web")
    (f,) = art.files
    assert f.checksum == f'etag:"{hashlib.md5(BODY).hexdigest()}"'
    assert f.size == len(BODY) and f.path == "x.bin"
    assert not any(r.startswith("GET") for r in site.requests)  # probed with HEAD only
    assert read_all(local_registry, "web") == BODY
    site.bodies["/data/x.bin"] = BODY[::-1]
    with pytest.raises(ArtifactIntegrityError, match="changed"):
        read_all(local_registry, "web")


@pytest.mark.parametrize("weak", [False, True])
def test_http_reference_without_usable_etag_records_sha256(
    local_registry: LocalRegistry, site: Site, weak: bool
) -> None:
    site.etags, site.weak = weak, weak  # no ETag at all, or only a weak one
    site.bodies["/x.bin"] = BODY
    art = local_registry.add_reference(f"{site.url}/x.bin", name="web")
    (f,) = art.files
    assert (f.checksum, f.size) == (hashlib.sha256(BODY).hexdigest(), len(BODY))
    assert read_all(local_registry, "web") == BODY
    site.bodies["/x.bin"] = BODY[:-1] + b"!"
    received = read_until_error(local_registry, "web")
    assert sum(map(len, received)) < len(BODY)


def test_http_reference_missing_is_refused(local_registry: LocalRegistry, site: Site) -> None:
    with pytest.raises(StorageError):
        local_registry.add_reference(f"{site.url}/missing.bin", name="web")
    assert local_registry.count() == 0


def test_http_reference_vanished_is_storage_error(local_registry: LocalRegistry, site: Site) -> None:
    site.bodies["/x.bin"] = BODY
    local_registry.add_reference(f"{site.url}/x.bin", name="web")
    del site.bodies["/x.bin"]
    with pytest.raises(StorageError):
        read_all(local_registry, "web")


# s3:// (moto) --------------------------------------------------------------------------


def test_s3_reference_records_etag_and_detects_overwrite(
    local_registry: LocalRegistry, moto_s3_env: MotoServer
) -> None:
    moto_server = moto_s3_env
    bucket = moto_server.make_bucket("refs")
    writer = moto_server.filesystem()
    writer.pipe(f"{bucket}/raw/key.parquet", BODY)
    art = local_registry.add_reference(f"s3://{bucket}/raw/key.parquet", name="raw")
    (f,) = art.files
    assert f.checksum is not None and f.checksum.startswith('etag:"')
    assert f.size == len(BODY) and f.uri == f"s3://{bucket}/raw/key.parquet"
    assert read_all(local_registry, "raw") == BODY
    writer.pipe(f"{bucket}/raw/key.parquet", BODY[::-1])  # overwritten by another client
    with pytest.raises(ArtifactIntegrityError, match="changed"):
        read_all(local_registry, "raw")


def test_s3_prefix_reference(local_registry: LocalRegistry, moto_s3_env: MotoServer) -> None:
    moto_server = moto_s3_env
    bucket = moto_server.make_bucket("refs")
    writer = moto_server.filesystem()
    writer.pipe({f"{bucket}/p/a.txt": b"a", f"{bucket}/p/sub/b.txt": b"bb"})
    art = local_registry.add_reference(f"s3://{bucket}/p/", name="prefix")
    assert sorted((f.path.rsplit("/", 1)[-1], f.size) for f in art.files) == [("a.txt", 1), ("b.txt", 2)]
    by_name = {f.path.rsplit("/", 1)[-1]: f.path for f in art.files}
    assert read_all(local_registry, "prefix", path=by_name["b.txt"]) == b"bb"
    writer.pipe(f"{bucket}/p/sub/b.txt", b"changed")
    with pytest.raises(ArtifactIntegrityError):
        read_all(local_registry, "prefix", path=by_name["b.txt"])
    assert read_all(local_registry, "prefix", path=by_name["a.txt"]) == b"a"
