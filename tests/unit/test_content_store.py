"""ContentStore on a local directory, memory:// and s3:// (moto): writes, reads, integrity."""

from __future__ import annotations

import copy
import errno
import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_artifacts.errors import (
    ArtifactIntegrityError,
    BlobNotFound,
    InvalidArtifactInput,
    MissingStorageBackend,
    PayloadTooLarge,
)
from prefect_artifacts.storage.content_store import (
    SMALL_FILE,
    ContentStore,
    FsspecContentStore,
    LocalContentStore,
    ObjectContentStore,
    S3ContentStore,
)
from prefect_artifacts.storage.hashing import CHUNK_SIZE
from prefect_artifacts.storage.local import _sync_file_range, _TempFile
from tests.support.backends import hide_backend
from tests.support.services import MotoServer


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pattern(size: int, seed: int = 0) -> bytes:
    """Incompressible-enough, reproducible bytes of ``size``."""
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def stored_files(store: ContentStore) -> list[str]:
    """Every file under the store root (blobs and temp files)."""
    store.fs.invalidate_cache()
    if not store.fs.exists(store.root):
        return []
    return sorted(p for p in store.fs.find(store.root))


def corrupt(store: ContentStore, digest: str, offset: int) -> None:
    """Flip one byte of a stored blob in place."""
    path = store.blob_path(digest)
    data = bytearray(store.fs.cat_file(path))
    data[offset] ^= 0xFF
    store.fs.pipe_file(path, bytes(data))
    store.fs.invalidate_cache()


# writes ------------------------------------------------------------------------------


def test_put_bytes_stores_identical_content_once(store: ContentStore) -> None:
    data = b"hello content-addressed world"
    first = store.put_bytes(data)
    second = store.put_bytes(data)
    assert first.digest == second.digest == sha(data)
    assert (first.written, second.written) == (True, False)
    assert first.size == len(data)
    assert [d for d, _, _ in store.iter_blobs()] == [sha(data)]
    assert b"".join(store.read(first.digest)) == data


@pytest.mark.parametrize("size", [0, 1, SMALL_FILE - 1, SMALL_FILE, SMALL_FILE + 1, CHUNK_SIZE + 5])
def test_put_file_small_and_large(lean_store: ContentStore, tmp_path: Path, size: int) -> None:
    check_put_file(lean_store, tmp_path, size)


@pytest.mark.parametrize("size", [1, SMALL_FILE + 1])
def test_put_file_small_and_large_on_s3(moto_server: MotoServer, tmp_path: Path, size: int) -> None:
    check_put_file(ContentStore(f"s3://{moto_server.make_bucket()}/store", moto_server.storage_options), tmp_path, size)


def check_put_file(store: ContentStore, tmp_path: Path, size: int) -> None:
    data = pattern(size, size)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    info = store.put_file(src)
    assert (info.digest, info.size, info.written) == (sha(data), size, True)
    assert store.exists(info.digest) and store.size(info.digest) == size
    again = store.put_file(src)
    assert (again.digest, again.written) == (info.digest, False)
    assert b"".join(store.read(info.digest, chunk_size=256 * 1024)) == data
    assert list(store.iter_temp()) == []


def test_put_file_with_known_digest_copies_nothing(lean_store: ContentStore, tmp_path: Path) -> None:
    store = lean_store
    src = tmp_path / "a.bin"
    src.write_bytes(b"abc" * 1000)
    info = store.put_file(src)
    again = store.put_file(src, digest=info.digest)
    assert (again.digest, again.size, again.written) == (info.digest, 3000, False)


def test_put_file_missing_source_is_invalid_input(lean_store: ContentStore, tmp_path: Path) -> None:
    store = lean_store
    with pytest.raises(InvalidArtifactInput):
        store.put_file(tmp_path / "nope.bin")
    assert stored_files(store) == []


@pytest.mark.parametrize("size", [0, 10, SMALL_FILE, SMALL_FILE + 1])
def test_adopt_file_moves_the_file_in_and_dedups_the_second_copy(store: ContentStore, tmp_path: Path,
                                                                  size: int) -> None:
    data = pattern(size, seed=3)
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    first.write_bytes(data)
    second.write_bytes(data)
    a, b = store.adopt_file(first), store.adopt_file(second)
    assert (a.digest, a.size, a.written) == (sha(data), size, True)
    assert (b.digest, b.written) == (sha(data), False)
    assert not first.exists() and not second.exists()  # both given up: one moved in, one dropped
    assert b"".join(store.read(a.digest)) == data
    if store.is_local:
        assert (os.stat(store.blob_path(a.digest)).st_mode & 0o777) == 0o444


@pytest.mark.parametrize("size", [10, SMALL_FILE + 1])
def test_adopt_file_across_filesystems_copies_the_file_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          size: int) -> None:
    store = ContentStore(str(tmp_path / "s"))
    rename = os.rename

    def other_filesystem(src: str, dst: str) -> None:
        if dst.startswith(f"{store.root}/sha256/"):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        rename(src, dst)

    monkeypatch.setattr(os, "rename", other_filesystem)
    data = pattern(size, seed=4)
    info = store.adopt_file(_written(tmp_path / "elsewhere.bin", data))
    assert (info.digest, info.size, info.written) == (sha(data), size, True)
    assert not (tmp_path / "elsewhere.bin").exists()
    assert b"".join(store.read(info.digest)) == data
    assert (os.stat(store.blob_path(info.digest)).st_mode & 0o777) == 0o444
    assert list(store.iter_temp()) == []


def test_a_local_store_makes_all_blob_folders_with_its_first_blob(tmp_path: Path) -> None:
    root = tmp_path / "s"
    (root / "sha256" / "ab").mkdir(parents=True)  # a store made by an older version: some folders exist
    (root / "sha256" / "ab" / "keep").write_bytes(b"x")
    store = ContentStore(str(root))
    info = store.put_bytes(b"first")
    assert sorted(p.name for p in (root / "sha256").iterdir()) == [f"{i:02x}" for i in range(256)]
    assert (root / "sha256" / "ab" / "keep").read_bytes() == b"x"
    assert b"".join(store.read(info.digest)) == b"first"
    assert store.adopt_file(_written(tmp_path / "second.bin", b"second")).written


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_adopt_file_stores_a_symlink_as_a_copy_of_its_target(lean_store: ContentStore, tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_bytes(b"kept by its owner")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    info = lean_store.adopt_file(link)
    assert info.digest == sha(b"kept by its owner")
    assert not link.exists() and target.read_bytes() == b"kept by its owner"  # the target stays
    if lean_store.is_local:
        assert not os.path.islink(lean_store.blob_path(info.digest))


def test_adopt_file_missing_source_is_invalid_input(lean_store: ContentStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidArtifactInput, match="missing.bin"):
        lean_store.adopt_file(tmp_path / "missing.bin")
    assert stored_files(lean_store) == []


def test_put_stream_dedups_and_checks_expected_digest(store: ContentStore) -> None:
    chunks = [b"a" * 1000, b"b" * 70_000, b"", b"c"]
    data = b"".join(chunks)
    info = store.put_stream(iter(chunks), expected_digest=sha(data))
    assert (info.digest, info.size, info.written) == (sha(data), len(data), True)
    again = store.put_stream(chunks)
    assert (again.digest, again.written) == (sha(data), False)
    assert b"".join(store.read(info.digest)) == data


def test_put_stream_digest_mismatch_leaves_nothing(store: ContentStore) -> None:
    data = pattern(2 * SMALL_FILE + 3)
    with pytest.raises(ArtifactIntegrityError):
        store.put_stream([data[:SMALL_FILE], data[SMALL_FILE:]], expected_digest=sha(b"other"))
    assert stored_files(store) == []
    assert not store.exists(sha(data))
    assert list(store.iter_temp()) == [] and list(store.iter_blobs()) == []


def test_put_stream_over_max_size_leaves_nothing(store: ContentStore) -> None:
    with pytest.raises(PayloadTooLarge):
        store.put_stream((b"x" * 4096 for _ in range(100)), max_size=10_000)
    assert stored_files(store) == []
    info = store.put_stream([b"x" * 10_000], max_size=10_000)  # exactly the limit is fine
    assert info.size == 10_000


def test_put_stream_source_failure_leaves_nothing(lean_store: ContentStore) -> None:
    store = lean_store

    def chunks():
        yield b"x" * 100_000
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        store.put_stream(chunks())
    assert stored_files(store) == []


@pytest.mark.skipif(sys.platform != "linux", reason="sync_file_range is Linux-only")
def test_large_durable_writes_start_their_writeback_at_once(tmp_path: Path) -> None:
    assert _sync_file_range is not None  # loaded from libc on Linux
    fd = os.open(tmp_path / "blob.part", os.O_WRONLY | os.O_CREAT)
    try:
        out = _TempFile(fd, writeback=True)
        assert out.writeback
        first, rest = pattern(SMALL_FILE + 5), [pattern(SMALL_FILE, 1), b"", pattern(7, 2)]
        view = memoryview(first)
        while view:
            view = view[out.write(view):]
        out.writev(rest)
        assert out.offset == len(first) + sum(map(len, rest))  # ranges handed to the kernel follow the file
        os.fsync(fd)
    finally:
        os.close(fd)
    assert (tmp_path / "blob.part").read_bytes() == first + b"".join(rest)
    assert not _TempFile(-1, writeback=False).writeback


def test_put_stream_of_many_pieces_stores_them_in_order(store: ContentStore) -> None:
    pieces = [pattern(64 * 1024 + i, seed=i) for i in range(3 * CHUNK_SIZE // (64 * 1024))]  # > 3 batches
    data = b"".join(pieces)
    info = store.put_stream(iter(pieces), expected_digest=sha(data))
    assert (info.digest, info.size, info.written) == (sha(data), len(data), True)
    assert b"".join(store.read(info.digest)) == data


def test_put_stream_from_a_refilled_buffer_stores_every_chunk_as_it_was(store: ContentStore) -> None:
    parts = [pattern(CHUNK_SIZE // 2 + 1, seed=i) for i in range(5)]
    buffer = bytearray(len(parts[0]))

    def refilled() -> Iterator[bytearray]:
        for part in parts:  # one buffer, refilled for each chunk (like readinto)
            buffer[:] = part
            yield buffer

    data = b"".join(parts)
    assert store.put_stream(refilled(), expected_digest=sha(data)).size == len(data)
    assert b"".join(store.read(sha(data))) == data


def test_put_stream_rejects_malformed_expected_digest(lean_store: ContentStore) -> None:
    store = lean_store
    with pytest.raises(InvalidArtifactInput):
        store.put_stream([b"x"], expected_digest="ABC")
    assert stored_files(store) == []


# reads -------------------------------------------------------------------------------


def test_read_of_corrupted_blob_raises_and_withholds_last_chunk(store: ContentStore) -> None:
    data = pattern(SMALL_FILE + 12345, 7)
    info = store.put_bytes(data[:100])  # an unrelated blob stays intact
    digest = store.put_stream([data]).digest
    corrupt(store, digest, len(data) - 10)
    received = []
    with pytest.raises(ArtifactIntegrityError, match="corrupt"):
        for chunk in store.read(digest, chunk_size=64 * 1024):
            received.append(chunk)
    assert 0 < sum(map(len, received)) < len(data)
    assert b"".join(received) == data[: sum(map(len, received))]
    assert b"".join(store.read(info.digest)) == data[:100]
    # without verification the (corrupt) bytes are returned as stored
    raw = b"".join(store.read(digest, verify=False))
    assert len(raw) == len(data) and raw != data


def test_read_single_chunk_corruption_yields_nothing(lean_store: ContentStore) -> None:
    store = lean_store
    digest = store.put_bytes(b"0123456789").digest
    corrupt(store, digest, 0)
    received = []
    with pytest.raises(ArtifactIntegrityError):
        for chunk in store.read(digest):
            received.append(chunk)
    assert received == []


def test_download_of_corrupted_blob_leaves_no_file(store: ContentStore, tmp_path: Path) -> None:
    data = pattern(3 * SMALL_FILE, 3)
    digest = store.put_stream([data]).digest
    out = tmp_path / "out" / "data.bin"
    assert store.download(digest, out).read_bytes() == data
    out.unlink()
    corrupt(store, digest, SMALL_FILE)
    with pytest.raises(ArtifactIntegrityError):
        store.download(digest, out)
    assert os.listdir(out.parent) == []


def test_download_and_read_of_missing_blob(lean_store: ContentStore, tmp_path: Path) -> None:
    store = lean_store
    missing = "0" * 64
    with pytest.raises(BlobNotFound):
        list(store.read(missing))
    with pytest.raises(BlobNotFound):
        store.download(missing, tmp_path / "out" / "x")
    assert list((tmp_path / "out").iterdir()) == []  # neither the file nor a partial one


@pytest.mark.parametrize(
    ("start", "end"), [(0, 16), (10, None), (1000, 1000), (99_990, 200_000), (5, 70_001), (200_000, None)]
)
def test_read_range(lean_store: ContentStore, start: int, end: int | None) -> None:
    store = lean_store
    data = pattern(100_000, 1)
    digest = store.put_bytes(data).digest
    got = b"".join(store.read_range(digest, start, end, chunk_size=4096))
    assert got == data[start:end]


@pytest.mark.parametrize("chunk_size", [0, -1])
def test_non_positive_chunk_sizes_stream_in_bounded_chunks(lean_store: ContentStore, chunk_size: int) -> None:
    store = lean_store
    data = pattern(CHUNK_SIZE + 100, 5) if store.is_local else pattern(3000, 5)
    digest = store.put_stream([data]).digest
    chunks = list(store.read(digest, chunk_size=chunk_size))
    assert b"".join(chunks) == data  # an intact blob is never reported corrupt
    assert max(map(len, chunks)) <= CHUNK_SIZE
    assert b"".join(store.read_range(digest, 10, None, chunk_size=chunk_size)) == data[10:]


def test_verify_detects_corruption(store: ContentStore) -> None:
    digest = store.put_bytes(pattern(5000)).digest
    assert store.verify(digest) is True
    corrupt(store, digest, 4999)
    assert store.verify(digest) is False


def test_iter_blobs_and_iter_temp(store: ContentStore) -> None:
    payloads = [b"one", b"two" * 100, pattern(SMALL_FILE + 1)]
    for p in payloads:
        store.put_bytes(p) if len(p) <= SMALL_FILE else store.put_stream([p])
    listed = {d: size for d, size, _ in store.iter_blobs()}
    assert listed == {sha(p): len(p) for p in payloads}
    assert all(mtime > 0 for _, _, mtime in store.iter_blobs())
    assert list(store.iter_temp()) == []
    tmp = f"{store.root}/tmp/leftover.part"
    store.fs.pipe_file(tmp, b"partial")
    store.fs.invalidate_cache()
    temps = [p for p, _ in store.iter_temp()]
    assert [p.rsplit("/", 1)[-1] for p in temps] == ["leftover.part"]
    store.remove_temp(temps[0])
    store.fs.invalidate_cache()
    assert list(store.iter_temp()) == []
    assert {d for d, _, _ in store.iter_blobs()} == set(listed)  # temp files are never blobs


def test_delete_blob(lean_store: ContentStore) -> None:
    store = lean_store
    digest = store.put_bytes(b"bye").digest
    store.delete(digest)
    store.fs.invalidate_cache()
    assert not store.exists(digest)
    assert list(store.iter_blobs()) == []


@pytest.mark.parametrize("bad", ["", "0" * 63, "G" * 64, "A" * 64, "../" + "0" * 61])
def test_blob_path_refuses_non_digests(tmp_path: Path, bad: str) -> None:
    store = ContentStore(str(tmp_path))
    with pytest.raises(InvalidArtifactInput):
        store.blob_path(bad)


# backends ----------------------------------------------------------------------------


def test_unknown_protocol_is_missing_backend(tmp_path: Path) -> None:
    with pytest.raises(MissingStorageBackend, match="nosuchproto"):
        ContentStore("nosuchproto://bucket/x")


def test_gcs_without_gcsfs_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_backend(monkeypatch, "gcsfs", "gcs", "gs")
    with pytest.raises(MissingStorageBackend, match=r"prefect-artifacts\[gcs\]"):
        ContentStore("gcs://bucket/prefix")


def test_azure_without_adlfs_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_backend(monkeypatch, "adlfs", "az", "abfs", "abfss")
    with pytest.raises(MissingStorageBackend, match=r"prefect-artifacts\[azure\]"):
        ContentStore("az://container/prefix")


def test_local_blob_layout(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "s"))
    digest = store.put_bytes(b"layout").digest
    assert (tmp_path / "s" / "sha256" / digest[:2] / digest).read_bytes() == b"layout"
    assert store.blob_uri(digest).startswith("file://")


# one store per medium --------------------------------------------------------------------


def test_content_store_builds_the_store_of_the_urls_medium(tmp_path: Path, moto_server: MotoServer) -> None:
    s3 = ContentStore(f"s3://{moto_server.make_bucket()}/store", moto_server.storage_options)
    built = {
        "path": ContentStore(str(tmp_path / "a")),
        "file": ContentStore(f"file://{tmp_path / 'b'}"),
        "memory": ContentStore("memory://medium"),
        "s3": s3,
    }
    assert {name: type(store) for name, store in built.items()} == {
        "path": LocalContentStore, "file": LocalContentStore, "memory": FsspecContentStore, "s3": S3ContentStore,
    }
    assert all(isinstance(store, ContentStore) for store in built.values())
    assert [(s.is_local, s.is_object_store) for s in built.values()] == [
        (True, False), (True, False), (False, False), (False, True),
    ]
    assert type(copy.copy(built["memory"])) is FsspecContentStore
    assert list(built["memory"].iter_unfinished_uploads()) == []  # only S3 has multipart uploads


def test_every_store_implements_every_primitive_of_its_medium() -> None:
    primitives = {name for name, value in vars(ContentStore).items() if getattr(value, "__primitive__", False)}
    assert {"_store_bytes", "_open_chunked", "touch"} <= primitives
    for cls in (LocalContentStore, FsspecContentStore, ObjectContentStore, S3ContentStore):
        missing = sorted(name for name in primitives if getattr(cls, name) is getattr(ContentStore, name))
        assert missing == [], f"{cls.__name__} lacks {missing}"


def test_a_store_class_named_directly_must_serve_the_url(tmp_path: Path) -> None:
    assert type(LocalContentStore(str(tmp_path / "s"))) is LocalContentStore
    with pytest.raises(InvalidArtifactInput, match="LocalContentStore cannot hold 'memory://x'"):
        LocalContentStore("memory://x")
    with pytest.raises(InvalidArtifactInput, match="FsspecContentStore cannot hold"):
        FsspecContentStore(str(tmp_path / "s"))
