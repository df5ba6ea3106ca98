"""ContentStore and LocalRegistry tests every object store runs (S3, GCS, Azure Blob), against a real emulator.

A backend's test module imports these functions (``from tests.support.object_store_cases
import *``), which pytest collects there, and defines three fixtures:

- ``store_url``: a fresh, empty ``<protocol>://<bucket>/artifacts`` for the test;
- ``store_options``: the fsspec ``storage_options`` that reach the emulator;
- ``raw_fs``: a filesystem on the same emulator, independent of the code under test's
  instance and without listing caches: what the store really holds.

The layout, atomicity and gc rules checked here are those of `storage/base.py`: a blob is
visible under ``sha256/`` only whole (small ones by one PUT, large ones written to
``tmp/`` and copied into place server-side), a reused blob is leased under ``leases/``,
and garbage collection removes stale temp objects.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.errors import ArtifactIntegrityError, BlobNotFound
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.storage.content_store import ContentStore
from prefect_artifacts.storage.fsspec_store import ObjectContentStore
from prefect_artifacts.testing import ContentsContract, DeleteContract, StreamContract, UploadContract

__all__ = [
    "registry",
    "store",
    "test_corrupted_object_is_detected",
    "test_digest_mismatch_leaves_nothing",
    "test_failing_source_leaves_no_object",
    "test_gc_removes_unreferenced_blobs_and_stale_temp_objects",
    "test_iter_blobs_and_temp_listing",
    "test_large_blob_is_never_visible_partially",
    "test_missing_blob_is_blob_not_found",
    "test_put_and_read_small_blob",
    "test_read_range",
    "test_registry_round_trip",
    "test_small_reads_are_served_from_read_ahead",
    "test_stale_listing_does_not_hide_a_deleted_blob",
    "test_touch_leases_a_reused_blob",
]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload(size: int, seed: int = 0) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def keys(raw_fs: Any, url: str) -> list[str]:
    """Every object under a store URL, relative to it, seen by a client independent of the code under test."""
    root = url.split("://", 1)[1]
    return sorted(p[len(root) + 1:] for p in raw_fs.find(root))


def blob_key(digest: str) -> str:
    return f"sha256/{digest[:2]}/{digest}"


@pytest.fixture
def store(store_url: str, store_options: dict[str, Any]) -> ContentStore:
    built = ContentStore(store_url, store_options)
    assert isinstance(built, ObjectContentStore) and built.is_object_store
    return built


@contextlib.contextmanager
def _registry_on_store(catalog_path: Path, store_url: str, store_options: dict[str, Any]) -> Iterator[LocalRegistry]:
    reg = LocalRegistry.from_urls(store_url, sqlite_url(catalog_path), storage_options=store_options)
    try:
        assert reg.store.is_object_store
        yield reg
    finally:
        reg.close()


@pytest.fixture
def registry(catalog_path: Path, store_url: str, store_options: dict[str, Any]) -> Iterator[LocalRegistry]:
    with _registry_on_store(catalog_path, store_url, store_options) as reg:
        yield reg


class ObjectStoreRegistryContract(UploadContract, StreamContract, ContentsContract, DeleteContract):
    """The store's part of the registry contract: SQLite catalog + blobs at the module's ``store_url``.

    Example:
        ```python
        class TestGcsRegistry(ObjectStoreRegistryContract):
            __test__ = True
        ```
    """

    __test__ = False

    @pytest.fixture
    def registry(self, catalog_path: Path, store_url: str, store_options: dict[str, Any]) -> Iterator[LocalRegistry]:
        with _registry_on_store(catalog_path, store_url, store_options) as reg:
            yield reg


# ContentStore ---------------------------------------------------------------------------


def test_put_and_read_small_blob(store: ContentStore, raw_fs: Any, store_url: str) -> None:
    data = b"hello object store"
    info = store.put_bytes(data)
    assert (info.digest, info.size, info.written) == (sha(data), len(data), True)
    assert store.exists(info.digest) and store.size(info.digest) == len(data)
    assert b"".join(store.read(info.digest)) == data
    assert keys(raw_fs, store_url) == [blob_key(info.digest)]  # one PUT: no temp object, no folder markers
    assert raw_fs.cat_file(store.blob_path(info.digest)) == data
    assert store.blob_uri(info.digest).endswith(f"/artifacts/{blob_key(info.digest)}")


def test_large_blob_is_never_visible_partially(store: ContentStore, raw_fs: Any, store_url: str,
                                              store_options: dict[str, Any], tmp_path: Path) -> None:
    # past gcsfs's 5 MiB block: a resumable upload to a temp object, a copy, a chunk index
    data = payload(6 * 1024 * 1024 + 17)
    seen_mid_stream: list[list[str]] = []

    def chunks() -> Iterator[bytes]:
        for offset in range(0, len(data), 256 * 1024):
            if offset in (1024 * 1024, 5632 * 1024):  # before, and after, the first block went up
                seen_mid_stream.append(keys(raw_fs, store_url))  # not even the temp object is visible yet
            yield data[offset:offset + 256 * 1024]

    started = time.monotonic()
    info = store.put_stream(chunks())
    # gcsfs's mv tried GCS's moveTo, which the emulator refuses after ~30 s of retries
    assert time.monotonic() - started < 15
    assert info.written and info.digest == sha(data) and seen_mid_stream == [[], []]
    assert keys(raw_fs, store_url) == [blob_key(info.digest), blob_key(info.digest) + ".chunks"]  # tmp/ is gone
    pieces = list(store.read(info.digest, chunk_size=1024 * 1024))
    assert len(pieces) == 7 and max(map(len, pieces)) == 1024 * 1024 and b"".join(pieces) == data
    fresh = ContentStore(store_url, store_options)  # no cached index: the stored sidecar is checked
    assert b"".join(fresh.read_range(info.digest, 524_280, 524_300)) == data[524_280:524_300]
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    again = store.put_file(src)
    assert (again.digest, again.written) == (info.digest, False)
    assert f"leases/{info.digest}" in keys(raw_fs, store_url)  # dedup leased the blob for gc's grace period


def test_small_reads_are_served_from_read_ahead(store: ContentStore) -> None:
    data = payload(300_000, seed=2)
    digest = store.put_bytes(data).digest
    started = time.monotonic()
    pieces = list(store.read(digest, chunk_size=1000))
    # one GET per 1 MiB block; gcsfs's default cache sent one per piece (4-5 s here)
    assert time.monotonic() - started < 2
    assert len(pieces) == 300 and b"".join(pieces) == data


def test_read_range(store: ContentStore) -> None:
    data = payload(200_000, seed=3)
    digest = store.put_bytes(data).digest
    assert b"".join(store.read_range(digest, 1000, 1016)) == data[1000:1016]
    assert b"".join(store.read_range(digest, 150_000, None, chunk_size=4096)) == data[150_000:]
    assert b"".join(store.read_range(digest, 0, 10**9)) == data
    assert b"".join(store.read_range(digest, 199_999, 200_000)) == data[-1:]


def test_corrupted_object_is_detected(store: ContentStore, raw_fs: Any, tmp_path: Path) -> None:
    data = payload(100_000, seed=1)
    digest = store.put_bytes(data).digest
    tampered = bytearray(data)
    tampered[50_000] ^= 0xFF
    raw_fs.pipe_file(store.blob_path(digest), bytes(tampered))
    received = bytearray()
    with pytest.raises(ArtifactIntegrityError):
        for chunk in store.read(digest, chunk_size=8192):
            received += chunk
    assert len(received) < len(data)  # the last chunk waits for the digest check
    assert store.verify(digest) is False
    dest = tmp_path / "out" / "copy.bin"
    with pytest.raises(ArtifactIntegrityError):
        store.download(digest, dest)
    assert list(dest.parent.iterdir()) == []


def test_missing_blob_is_blob_not_found(store: ContentStore, raw_fs: Any) -> None:
    digest = store.put_bytes(b"soon gone").digest
    raw_fs.rm_file(store.blob_path(digest))
    assert store.exists(digest) is False and store.blob_mtime(digest) == 0.0
    with pytest.raises(BlobNotFound):
        b"".join(store.read(digest))


def test_digest_mismatch_leaves_nothing(store: ContentStore, raw_fs: Any, store_url: str) -> None:
    store.put_bytes(b"already here")
    before = keys(raw_fs, store_url)
    with pytest.raises(ArtifactIntegrityError):
        store.put_stream(iter([payload(600_000)]), expected_digest=sha(b"announced bytes"))
    assert keys(raw_fs, store_url) == before


class _SourceFailed(Exception):
    pass


def test_failing_source_leaves_no_object(store: ContentStore, raw_fs: Any, store_url: str) -> None:
    def broken() -> Iterator[bytes]:
        yield payload(300_000)
        raise _SourceFailed("source went away")

    with pytest.raises(_SourceFailed):
        store.put_stream(broken())
    assert keys(raw_fs, store_url) == []
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do, the point is what is left
        store.put_stream(iter([payload(5000)]), max_size=1000)
    assert keys(raw_fs, store_url) == []


def test_touch_leases_a_reused_blob(store: ContentStore, raw_fs: Any, store_url: str) -> None:
    digest = store.put_bytes(b"reused").digest
    stored = store.blob_mtime(digest)
    assert stored > time.time() - 600  # the store's own clock, read back from the object's metadata
    store.touch(digest)
    leases = list(store.iter_leases())
    assert [p.rsplit("/", 1)[1] for p, _ in leases] == [digest] and leases[0][1] >= stored
    assert store.blob_mtime(digest) == max(stored, leases[0][1])
    assert keys(raw_fs, store_url) == [f"leases/{digest}", blob_key(digest)]


def test_iter_blobs_and_temp_listing(store: ContentStore, raw_fs: Any, store_url: str) -> None:
    a, b = store.put_bytes(b"a").digest, store.put_bytes(payload(600_000)).digest  # b has a chunk index
    store.touch(a)
    raw_fs.pipe_file(f"{store_url.split('://', 1)[1]}/tmp/abandoned.part", b"partial")
    blobs = {d: (size, mtime) for d, size, mtime in store.iter_blobs()}
    assert set(blobs) == {a, b} and blobs[a][0] == 1 and blobs[b][0] == 600_000 and blobs[a][1] > 0
    temps = list(store.iter_temp())
    assert [p.rsplit("/", 1)[1] for p, _ in temps] == ["abandoned.part"] and temps[0][1] > 0
    store.remove_temp(temps[0][0])
    assert not any(k.startswith("tmp/") for k in keys(raw_fs, store_url))


def test_stale_listing_does_not_hide_a_deleted_blob(store: ContentStore, raw_fs: Any) -> None:
    data = b"shared content"
    digest = store.put_bytes(data).digest
    assert [d for d, _, _ in store.iter_blobs()] == [digest]  # fills the client's listing cache
    raw_fs.rm_file(store.blob_path(digest))  # e.g. gc in another process
    assert store.exists(digest) is False
    assert store.put_bytes(data).written is True
    assert b"".join(store.read(digest)) == data


# LocalRegistry with its blobs there ---------------------------------------------------------


def test_registry_round_trip(registry: LocalRegistry, tmp_path: Path, raw_fs: Any, store_url: str) -> None:
    data = payload(1_100_000, seed=7)
    (tmp_path / "model.bin").write_bytes(data)
    art = registry.upload_file(tmp_path / "model.bin", name="model", labels=["object-store"])
    assert art.checksum == sha(data) and art.size == len(data)
    assert blob_key(art.checksum) in keys(raw_fs, store_url)
    assert art.storage_url == registry.store.blob_uri(art.checksum)
    assert registry.get("model:latest").open().read() == data
    assert b"".join(registry.read("model", start=10, end=20)) == data[10:20]
    with registry.get("model").as_local_file() as local:
        assert Path(local).read_bytes() == data


def test_gc_removes_unreferenced_blobs_and_stale_temp_objects(registry: LocalRegistry, tmp_path: Path,
                                                              raw_fs: Any, store_url: str) -> None:
    (tmp_path / "keep.txt").write_bytes(b"keep me")
    (tmp_path / "drop.txt").write_bytes(b"drop me")
    keep = registry.upload_file(tmp_path / "keep.txt", name="keep")
    drop = registry.upload_file(tmp_path / "drop.txt", name="drop")
    raw_fs.pipe_file(f"{store_url.split('://', 1)[1]}/tmp/crashed.part", b"half a blob")
    drop.delete()
    young = registry.gc(grace_seconds=3600)
    assert young.blobs_deleted == 0 and young.blobs_kept_young == 1 and young.temp_files_deleted == 0
    dry = registry.gc(dry_run=True, grace_seconds=0)
    assert dry.blobs_deleted == 1 and blob_key(drop.checksum or "") in keys(raw_fs, store_url)  # nothing deleted
    report = registry.gc(grace_seconds=0)
    assert report.blobs_deleted == 1 and report.bytes_freed == len(b"drop me") and report.temp_files_deleted == 1
    assert keys(raw_fs, store_url) == [blob_key(keep.checksum or "")]
    assert keep.open().read() == b"keep me"
    again = registry.upload_file(tmp_path / "drop.txt", name="drop")  # stored again, not deduplicated against a ghost
    assert again.open().read() == b"drop me"
