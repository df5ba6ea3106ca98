"""copy_hashing around chunk boundaries, max_size, the digest cache, and the download pipeline helpers."""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.errors import PayloadTooLarge
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.storage.content_store import SMALL_FILE
from prefect_artifacts.storage.digest_cache import DigestCache
from prefect_artifacts.storage.hashing import (
    _SMALL,
    PipelinedHash,
    copy_chunks_hashing,
    copy_hashing,
    hash_file,
    rechunk,
    write_behind,
    writev_all,
)

CHUNK = 64 * 1024


class TrickleReader(io.RawIOBase):
    """A raw reader returning at most ``step`` bytes per readinto (like a pipe or socket)."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        n = min(len(buffer), self._step, len(self._data))
        buffer[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def data_of(size: int) -> bytes:
    return (hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1))[:size]


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])
@pytest.mark.parametrize("size_hint", [None, "exact"])
def test_copy_hashing_around_chunk_boundaries(size: int, size_hint: str | None) -> None:
    data = data_of(size)
    out = io.BytesIO()
    hint = len(data) if size_hint else None
    digest, total = copy_hashing(io.BytesIO(data), out.write, chunk_size=CHUNK, size_hint=hint)
    assert (digest, total) == (hashlib.sha256(data).hexdigest(), size)
    assert out.getvalue() == data


@pytest.mark.parametrize("size", [_SMALL - 1, _SMALL, _SMALL + 1, 2 * _SMALL + 3])
def test_copy_hashing_threaded_path_with_large_chunks(size: int) -> None:
    """Chunks of >= 1 MiB are hashed on a worker thread while the next one is read."""
    data = data_of(size)
    out = io.BytesIO()
    digest, total = copy_hashing(io.BytesIO(data), out.write, chunk_size=_SMALL)
    assert (digest, total, out.getvalue() == data) == (hashlib.sha256(data).hexdigest(), size, True)


def test_copy_hashing_short_reads() -> None:
    data = data_of(5 * CHUNK + 3)
    out = io.BytesIO()
    digest, total = copy_hashing(TrickleReader(data, 1000), out.write, chunk_size=CHUNK)
    assert (digest, total) == (hashlib.sha256(data).hexdigest(), len(data))
    assert out.getvalue() == data


def test_copy_hashing_partial_raw_writes() -> None:
    """A raw ``write`` may take fewer bytes than offered: the rest must follow."""
    data = data_of(3 * CHUNK + 5)
    out = bytearray()

    def stingy_write(view: memoryview) -> int:
        out.extend(view[:777])
        return min(777, len(view))

    digest, _ = copy_hashing(io.BytesIO(data), stingy_write, chunk_size=CHUNK)
    assert bytes(out) == data and digest == hashlib.sha256(data).hexdigest()


def test_copy_hashing_hash_only() -> None:
    data = data_of(2 * CHUNK)
    assert copy_hashing(io.BytesIO(data), None, chunk_size=CHUNK) == (hashlib.sha256(data).hexdigest(), len(data))


@pytest.mark.parametrize(("size", "limit", "ok"), [(100, 100, True), (101, 100, False), (3 * CHUNK, CHUNK, False)])
def test_copy_hashing_max_size(size: int, limit: int, ok: bool) -> None:
    out = io.BytesIO()
    if ok:
        assert copy_hashing(io.BytesIO(data_of(size)), out.write, chunk_size=CHUNK, max_size=limit)[1] == size
    else:
        with pytest.raises(PayloadTooLarge):
            copy_hashing(io.BytesIO(data_of(size)), out.write, chunk_size=CHUNK, max_size=limit)
        assert out.tell() <= limit  # nothing beyond the limit was written


def test_hash_file(tmp_path: Path) -> None:
    data = data_of(3 * SMALL_FILE + 1)
    (tmp_path / "f").write_bytes(data)
    assert hash_file(str(tmp_path / "f")) == (hashlib.sha256(data).hexdigest(), len(data))


# digest cache ------------------------------------------------------------------------


def test_digest_cache_hit_and_misses(tmp_path: Path) -> None:
    cache = DigestCache(tmp_path / "digests.sqlite")
    f = tmp_path / "big.bin"
    f.write_bytes(b"a" * 1000)
    st = os.stat(f)
    assert cache.get(str(f), st) is None
    cache.put(str(f), st, "d" * 64)
    assert cache.get(str(f), os.stat(f)) == "d" * 64
    # same size, new content: mtime/ctime move on
    f.write_bytes(b"b" * 1000)
    assert cache.get(str(f), os.stat(f)) is None
    cache.put(str(f), os.stat(f), "e" * 64)
    # touch only
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert cache.get(str(f), os.stat(f)) is None
    # replaced by another file (new inode) under the same name
    cache.put(str(f), os.stat(f), "e" * 64)
    other = tmp_path / "other.bin"
    other.write_bytes(b"b" * 1000)
    os.replace(other, f)
    assert cache.get(str(f), os.stat(f)) is None
    # a second instance (another process) sees the same entries
    cache.put(str(f), os.stat(f), "f" * 64)
    assert DigestCache(tmp_path / "digests.sqlite").get(str(f), os.stat(f)) == "f" * 64


def _registry(tmp_path: Path, use_cache: bool) -> LocalRegistry:
    return LocalRegistry.from_urls(
        str(tmp_path / "blobs"), sqlite_url(tmp_path / "catalog.sqlite"), use_digest_cache=use_cache
    )


def test_registry_uses_cache_for_unchanged_large_file(tmp_path: Path) -> None:
    """A poisoned cache entry proves whether the registry trusted the cache or re-hashed."""
    big = tmp_path / "big.bin"
    big.write_bytes(data_of(SMALL_FILE + 1))
    decoy = tmp_path / "decoy.bin"
    decoy.write_bytes(b"decoy")
    real = hashlib.sha256(big.read_bytes()).hexdigest()

    cached = _registry(tmp_path, True)
    first = cached.upload_file(big, name="big")
    assert first.checksum == real
    cache = cached._digest_cache
    assert cache is not None and cache.get(str(big), os.stat(big)) == real

    decoy_digest = cached.upload_file(decoy, name="decoy").checksum
    cache.put(str(big), os.stat(big), decoy_digest)  # the key still matches: a hit
    assert cached.upload_file(big, name="big").checksum == decoy_digest

    uncached = _registry(tmp_path, False)
    assert uncached._digest_cache is None
    assert uncached.upload_file(big, name="big").checksum == real  # re-hashed, cache ignored

    os.utime(big)  # touch: the key no longer matches, so the cached registry re-hashes too
    assert cached.upload_file(big, name="big").checksum == real
    with big.open("r+b") as f:
        f.write(b"\0")
    changed = hashlib.sha256(big.read_bytes()).hexdigest()
    art = cached.upload_file(big, name="big")
    assert art.checksum == changed and b"".join(art.as_stream()) == big.read_bytes()
    cached.close()
    uncached.close()


def test_digest_cache_setting_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_ARTIFACTS_DIGEST_CACHE", "false")
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(tmp_path / "c.sqlite"))
    assert reg._digest_cache is None
    big = tmp_path / "big.bin"
    big.write_bytes(data_of(SMALL_FILE + 1))
    reg.upload_file(big, name="big")
    assert not (Path(os.environ["PREFECT_ARTIFACTS_HOME"]) / "digests.sqlite").exists()
    reg.close()


@pytest.mark.parametrize("pieces", [[], [b""], [b"ab", b"cde", b"f"], [b"x" * 10], [b"a", b"bcdefghij", b"k" * 9]])
def test_rechunk_gives_exact_chunks_of_the_same_bytes(pieces: list[bytes]) -> None:
    chunks = list(rechunk(iter(pieces), 4))
    assert b"".join(chunks) == b"".join(pieces)
    assert all(len(c) == 4 for c in chunks[:-1]) and all(0 < len(c) <= 4 for c in chunks)


def test_pipelined_hash_matches_sha256_over_mixed_chunk_sizes() -> None:
    parts = [os.urandom(n) for n in (10, 3 * 1024 * 1024, 5, 2 * 1024 * 1024 + 7, 0, 100)]
    h = PipelinedHash()
    for part in parts:
        h.update(part)
    assert h.hexdigest() == hashlib.sha256(b"".join(parts)).hexdigest()


def test_write_behind_writes_in_order_and_surfaces_errors() -> None:
    big = [os.urandom(2 * 1024 * 1024) for _ in range(3)]
    out = io.BytesIO()
    write_behind(iter([b"head", *big, b"tail"]), out.write)
    assert out.getvalue() == b"head" + b"".join(big) + b"tail"

    def failing_write(data: bytes) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_behind(iter(big), failing_write)

    written: list[int] = []

    def slow_write(data: bytes) -> None:
        time.sleep(0.05)
        written.append(len(data))

    def broken() -> Iterator[bytes]:
        yield big[0]
        raise ValueError("source failed")

    with pytest.raises(ValueError, match="source failed"):
        write_behind(broken(), slow_write)
    assert written == [len(big[0])]  # the pending write finished before the error left


@pytest.mark.parametrize("pieces", [[], [b""], [b"ab", b"", b"cde", b"f"], [b"x" * 10], [b"a" * 3, b"b" * 4, b"c" * 9]])
def test_copy_chunks_hashing_batches_the_same_bytes_in_order(pieces: list[bytes]) -> None:
    batches: list[list[bytes]] = []
    digest, size = copy_chunks_hashing(iter(pieces), batches.append, batch_size=4)
    data = b"".join(pieces)
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert b"".join(b"".join(batch) for batch in batches) == data
    assert all(batch for batch in batches) and all(sum(map(len, batch)) >= 4 for batch in batches[:-1])
    # the very objects given, empty ones dropped: nothing is copied
    assert [id(piece) for batch in batches for piece in batch] == [id(p) for p in pieces if p]


def test_copy_chunks_hashing_max_size_and_errors_wait_for_pending_writes() -> None:
    piece = os.urandom(1024 * 1024)
    with pytest.raises(PayloadTooLarge, match="limit of 2500000"):
        copy_chunks_hashing(iter([piece] * 3), lambda batch: None, batch_size=len(piece), max_size=2_500_000)
    assert copy_chunks_hashing(iter([piece] * 2), lambda batch: None, max_size=2 * len(piece))[1] == 2 * len(piece)

    written: list[int] = []

    def slow_write(batch: list[bytes]) -> None:
        time.sleep(0.05)
        written.append(len(batch))

    def broken() -> Iterator[bytes]:
        yield piece
        raise ValueError("source failed")

    with pytest.raises(ValueError, match="source failed"):
        copy_chunks_hashing(broken(), slow_write, batch_size=len(piece))
    assert written == [1]  # the pending write finished before the error left

    def failing_write(batch: list[bytes]) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        copy_chunks_hashing(iter([piece] * 3), failing_write, batch_size=len(piece))


def test_writev_all_writes_more_pieces_than_one_call_takes(tmp_path: Path) -> None:
    pieces = [os.urandom(n % 97 + 1) for n in range(2500)]  # over IOV_MAX (1024) pieces
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)
    try:
        writev_all(fd, pieces)
    finally:
        os.close(fd)
    assert (tmp_path / "out").read_bytes() == b"".join(pieces)
