"""Verified random access: every byte a range read returns was checked against the blob's chunk index.

Stores on a local dir, memory:// and a moto S3 bucket use small index chunks (16 KiB) so a
blob of several chunks stays small; the embedded registry uses the default index chunks.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from prefect_artifacts.errors import ArtifactIntegrityError, BlobNotFound, InvalidArtifactInput
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.storage.chunk_index import ChunkIndex, InvalidChunkIndex
from prefect_artifacts.storage.content_store import ContentStore
from prefect_artifacts.storage.hashing import (
    INDEX_CHUNK,
    KIND_CHUNKS,
    KIND_STATE,
    ChunkedSha256,
    check_chunk,
    copy_chunks_hashing,
    copy_hashing,
    native_state_hashing,
)
from tests.support.services import MotoServer

C = 16 * 1024  # index chunk of the test stores
SIZE = 5 * C + 123  # five whole chunks and a short last one
FIRST, MIDDLE, LAST = 0, 2, 5  # chunk numbers


def pattern(size: int, seed: int = 0) -> bytes:
    block = b"".join(hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(2048))  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


DATA = pattern(SIZE, 1)


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest, **options: object) -> ContentStore:
    if kind == "local":
        return ContentStore(str(tmp_path / "store"), durable=False, index_chunk_size=C, **options)  # type: ignore[arg-type]
    if kind == "memory":
        return ContentStore(f"memory://ranges-{uuid.uuid4().hex}", index_chunk_size=C, **options)  # type: ignore[arg-type]
    server: MotoServer = request.getfixturevalue("moto_server")
    return ContentStore(f"s3://{server.make_bucket()}/store", server.storage_options, index_chunk_size=C,
                        **options)  # type: ignore[arg-type]


@pytest.fixture(params=["local", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ContentStore:
    return make_store(request.param, tmp_path, request)


@pytest.fixture(params=["local", "memory"])
def lean_store(request: pytest.FixtureRequest, tmp_path: Path) -> ContentStore:
    return make_store(request.param, tmp_path, request)


def reopen(store: ContentStore, **options: object) -> ContentStore:
    """The same store seen by another process: nothing verified in memory."""
    return ContentStore(store.url, store.storage_options, durable=store.durable, index_chunk_size=C,
                        **options)  # type: ignore[arg-type]


def flip(store: ContentStore, path: str, offset: int) -> None:
    """Flip one byte of a stored object in place (blob or sidecar)."""
    if store.is_local:
        os.chmod(path, 0o644)
    raw = bytearray(store.fs.cat_file(path))
    raw[offset] ^= 0x01
    store.fs.pipe_file(path, bytes(raw))
    store.fs.invalidate_cache()


def has_index(store: ContentStore, digest: str) -> bool:
    store.fs.invalidate_cache()
    return bool(store.fs.exists(store.index_path(digest)))


def read_until_error(store: ContentStore, digest: str, start: int, end: int | None) -> bytes:
    """The bytes a range read yielded before it raised `ArtifactIntegrityError` (which it must)."""
    got = bytearray()
    with pytest.raises(ArtifactIntegrityError):
        for piece in store.read_range(digest, start, end, chunk_size=4096):
            got += piece
    return bytes(got)


# hashing: the index comes from the same pass as the digest --------------------------------


@pytest.mark.parametrize("kind", [KIND_STATE, KIND_CHUNKS])
@pytest.mark.parametrize("size", [0, 1, C - 1, C, C + 1, 3 * C, 3 * C + 65])
def test_chunked_sha256_is_sha256_and_its_entries_check_each_chunk(kind: str, size: int) -> None:
    if kind == KIND_STATE and not native_state_hashing():
        pytest.skip("OpenSSL's SHA-256 is not reachable here")
    data = pattern(size, size)
    hasher = ChunkedSha256(C, kind)
    for i in range(0, size, 5000):  # pieces that straddle chunk boundaries
        hasher.update(data[i:i + 5000] if i % 2 else bytearray(data[i:i + 5000]))
    assert hasher.hexdigest() == hashlib.sha256(data).hexdigest() and hasher.size == size
    values = hasher.values()
    index = ChunkIndex.build(hasher.hexdigest(), size, C, kind, values)
    assert len(values) == index.count == -(-size // C)
    for number in range(index.count):
        low, high = index.span(number)
        index.check(number, data[low:high])
        damaged = bytearray(data[low:high])
        damaged[-1] ^= 0x80
        with pytest.raises(ArtifactIntegrityError, match="do not match"):
            index.check(number, bytes(damaged))
        with pytest.raises(ArtifactIntegrityError, match="bytes"):
            index.check(number, data[low:high - 1])  # one byte short


def test_state_entries_chain_to_the_digest_which_binds_the_length() -> None:
    if not native_state_hashing():
        pytest.skip("OpenSSL's SHA-256 is not reachable here")
    hasher = ChunkedSha256(C)
    hasher.update(DATA)
    values = hasher.values()
    assert hasher.kind == KIND_STATE and values[-1] == hashlib.sha256(DATA).digest()
    assert check_chunk(KIND_STATE, DATA[C:2 * C], values[0], C, values[1], last=False)
    assert not check_chunk(KIND_STATE, DATA[2 * C:3 * C], values[0], C, values[1], last=False)  # another chunk
    assert not check_chunk(KIND_STATE, DATA[C:2 * C], values[1], C, values[2], last=False)  # moved one chunk on
    tail = DATA[5 * C:]
    assert check_chunk(KIND_STATE, tail, values[4], 5 * C, values[5], last=True)
    assert not check_chunk(KIND_STATE, tail, values[4], 4 * C, values[5], last=True)  # the padding holds the length


def test_copy_helpers_fill_a_chunked_hasher_in_their_single_pass() -> None:
    import io

    streamed, copied = ChunkedSha256(C), ChunkedSha256(C)
    digest, size = copy_chunks_hashing([DATA[:7000], DATA[7000:]], lambda batch: None, hasher=streamed)
    out = io.BytesIO()
    assert copy_hashing(io.BytesIO(DATA), out.write, chunk_size=C + 64, hasher=copied) == (digest, size)
    assert (digest, size, out.getvalue() == DATA) == (hashlib.sha256(DATA).hexdigest(), SIZE, True)
    assert streamed.values() == copied.values() and len(copied.values()) == 6


@pytest.mark.parametrize("chunk_size", [0, 100, 1024, 64 * 1024 * 1024])
def test_bad_index_chunk_sizes_are_refused_by_name(tmp_path: Path, chunk_size: int) -> None:
    with pytest.raises(InvalidArtifactInput, match="index_chunk_size"):
        ContentStore(str(tmp_path / "s"), index_chunk_size=chunk_size)


# the sidecar ----------------------------------------------------------------------------------


def test_sidecars_next_to_multi_chunk_blobs_only_and_never_listed_as_blobs(store: ContentStore,
                                                                          tmp_path: Path) -> None:
    small = store.put_bytes(DATA[:C])  # one chunk: its digest is its whole index
    big = store.put_bytes(DATA)
    src = tmp_path / "f.bin"
    src.write_bytes(pattern(4 * C, 7))
    from_file = store.put_file(src)
    streamed = store.put_stream(iter([pattern(3 * C, 8)]))
    assert not has_index(store, small.digest)
    assert all(has_index(store, d) for d in (big.digest, from_file.digest, streamed.digest))
    assert {d for d, _, _ in store.iter_blobs()} == {small.digest, big.digest, from_file.digest, streamed.digest}
    raw = store.fs.cat_file(store.index_path(big.digest))
    index = ChunkIndex.from_sidecar(raw, big.digest, None)
    assert (index.size, index.chunk_size, index.count) == (SIZE, C, 6)
    assert len(raw) == 56 + 32 * 6 + 32  # header, one entry per chunk, tag: small next to its blob


def test_adopt_file_writes_the_index_too(lean_store: ContentStore, tmp_path: Path) -> None:
    src = tmp_path / "adopted.bin"
    src.write_bytes(DATA)
    info = lean_store.adopt_file(src)
    assert has_index(lean_store, info.digest) and not src.exists()
    assert b"".join(reopen(lean_store).read_range(info.digest, C - 1, C + 1)) == DATA[C - 1:C + 1]


def test_delete_and_gc_remove_the_sidecar_with_its_blob(local_registry: LocalRegistry, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(pattern(2 * INDEX_CHUNK + 5, 3))
    art = local_registry.upload_file(src, name="big")
    digest = art.checksum or ""
    assert os.path.exists(local_registry.store.index_path(digest))
    art.delete()
    report = local_registry.gc(grace_seconds=0)
    assert report.blobs_deleted == 1 and report.bytes_freed == 2 * INDEX_CHUNK + 5  # blobs only, no sidecar
    assert not os.path.exists(local_registry.store.blob_path(digest))
    assert not os.path.exists(local_registry.store.index_path(digest))
    other = local_registry.store.put_bytes(pattern(2 * INDEX_CHUNK, 4)).digest
    local_registry.store.delete(other)
    assert os.listdir(os.path.dirname(local_registry.store.blob_path(other))) == []


# ranges ----------------------------------------------------------------------------------------

BOUNDARIES = sorted({0, 1, C - 1, C, C + 1, 2 * C - 1, 2 * C, 2 * C + 1, 5 * C - 1, 5 * C, 5 * C + 1,
                     SIZE - 1, SIZE})


@pytest.mark.parametrize("start", BOUNDARIES)
def test_ranges_starting_and_ending_on_and_around_chunk_boundaries(lean_store: ContentStore, start: int) -> None:
    digest = lean_store.put_bytes(DATA).digest
    fresh = reopen(lean_store)
    for end in [*BOUNDARIES, SIZE + 10, None]:
        if end is not None and end < start:
            continue
        assert b"".join(fresh.read_range(digest, start, end, chunk_size=5000)) == DATA[start:end], (start, end)


def test_ranges_on_every_store(store: ContentStore) -> None:
    digest = store.put_bytes(DATA).digest
    fresh = reopen(store)
    for start, end in [(0, 1), (C - 1, C + 1), (C, 2 * C), (2 * C + 1, 5 * C - 1), (SIZE - 1, SIZE), (0, None)]:
        assert b"".join(fresh.read_range(digest, start, end)) == DATA[start:end]


def test_empty_ranges_yield_nothing_but_still_need_the_blob(lean_store: ContentStore) -> None:
    digest = lean_store.put_bytes(DATA).digest
    for start, end in [(0, 0), (C, C), (SIZE, None), (SIZE + 5, SIZE + 9), (7, 3)]:
        assert list(lean_store.read_range(digest, start, end)) == []
    with pytest.raises(BlobNotFound):
        list(lean_store.read_range("0" * 64, 5, 5))


def test_a_range_over_many_chunks_streams_bounded_pieces(lean_store: ContentStore) -> None:
    data = pattern(40 * C + 1, 9)
    digest = lean_store.put_bytes(data).digest
    pieces = list(reopen(lean_store).read_range(digest, 3, len(data) - 2, chunk_size=1000))
    assert b"".join(pieces) == data[3:-2] and max(map(len, pieces)) <= 1000


def test_last_short_chunk_truncation_and_appended_bytes(lean_store: ContentStore) -> None:
    store = lean_store
    digest = store.put_bytes(DATA).digest
    assert b"".join(store.read_range(digest, 5 * C + 100, None)) == DATA[5 * C + 100:]
    path = store.blob_path(digest)
    if store.is_local:
        os.chmod(path, 0o644)
    store.fs.pipe_file(path, DATA + b"appended")  # bytes past the recorded size are never returned
    store.fs.invalidate_cache()
    assert b"".join(reopen(store).read_range(digest, 5 * C, None)) == DATA[5 * C:]
    store.fs.pipe_file(path, DATA[:-1])  # one byte short: the last chunk no longer matches
    store.fs.invalidate_cache()
    assert read_until_error(reopen(store), digest, 5 * C + 100, None) == b""
    assert b"".join(reopen(store).read_range(digest, 0, 5 * C)) == DATA[:5 * C]


@pytest.mark.parametrize("chunk", [FIRST, MIDDLE, LAST])
def test_corruption_in_one_chunk_refuses_exactly_the_ranges_touching_it(store: ContentStore, chunk: int) -> None:
    digest = store.put_bytes(DATA).digest
    low = chunk * C
    flip(store, store.blob_path(digest), low + 7)
    for fresh in (store, reopen(store)):  # the index in memory, and the one loaded from its sidecar
        assert read_until_error(fresh, digest, low + 7, low + 8) == b""
        assert read_until_error(fresh, digest, low, None) == b""
        before = read_until_error(fresh, digest, 0, None)  # the chunks before it were served, not it
        assert before == DATA[:low]
        for start, end in [(0, low), (low + C, SIZE)]:  # ranges that miss it are served
            if start < end and start < SIZE:
                assert b"".join(fresh.read_range(digest, start, end)) == DATA[start:end]
    with pytest.raises(ArtifactIntegrityError):
        b"".join(store.read(digest))
    assert store.verify(digest) is False


# a missing or tampered index is never trusted ------------------------------------------------


def test_missing_index_is_rebuilt_from_a_full_verified_read(store: ContentStore) -> None:
    digest = store.put_bytes(DATA).digest
    store.fs.rm_file(store.index_path(digest))  # as for a blob stored before chunk indexes existed
    assert not has_index(store, digest)
    assert b"".join(reopen(store).read_range(digest, 2 * C + 3, 3 * C + 5)) == DATA[2 * C + 3:3 * C + 5]
    assert has_index(store, digest)
    store.fs.rm_file(store.index_path(digest))
    flip(store, store.blob_path(digest), SIZE - 1)  # corrupt and unindexed: the rebuild refuses it
    assert read_until_error(reopen(store), digest, 0, 10) == b""
    assert not has_index(store, digest)


@pytest.mark.parametrize("reader", ["read", "download", "verify"])
def test_full_verified_reads_build_a_missing_index(lean_store: ContentStore, tmp_path: Path, reader: str) -> None:
    digest = lean_store.put_bytes(DATA).digest
    lean_store.fs.rm_file(lean_store.index_path(digest))
    fresh = reopen(lean_store)
    if reader == "read":
        assert b"".join(fresh.read(digest, chunk_size=7000)) == DATA
    elif reader == "download":
        assert fresh.download(digest, tmp_path / "out.bin").read_bytes() == DATA
    else:
        assert fresh.verify(digest) is True
    assert has_index(lean_store, digest)
    raw = lean_store.fs.cat_file(lean_store.index_path(digest))
    assert ChunkIndex.from_sidecar(raw, digest, None).count == 6


@pytest.mark.parametrize("offset", [0, 9, 20, 60, 56 + 32 * 2 + 5, -1])  # magic, sizes, digest, an entry, tag
def test_tampered_sidecar_is_rebuilt_not_trusted(store: ContentStore, offset: int) -> None:
    digest = store.put_bytes(DATA).digest
    path = store.index_path(digest)
    original = store.fs.cat_file(path)
    flip(store, path, offset % len(original))
    assert b"".join(reopen(store).read_range(digest, C - 3, 4 * C)) == DATA[C - 3:4 * C]
    store.fs.invalidate_cache()
    assert store.fs.cat_file(path) == original  # written again from the rebuild


def test_sidecar_of_another_blob_or_cut_short_is_refused(lean_store: ContentStore) -> None:
    store = lean_store
    digest = store.put_bytes(DATA).digest
    other = store.put_bytes(pattern(SIZE, 2)).digest
    original = store.fs.cat_file(store.index_path(digest))
    with pytest.raises(InvalidChunkIndex, match="stored as that of"):
        ChunkIndex.from_sidecar(store.fs.cat_file(store.index_path(other)), digest, None)
    store.fs.pipe_file(store.index_path(digest), store.fs.cat_file(store.index_path(other)))
    assert b"".join(reopen(store).read_range(digest, 0, 2 * C)) == DATA[:2 * C]
    store.fs.pipe_file(store.index_path(digest), original[:-40])
    assert b"".join(reopen(store).read_range(digest, 0, 2 * C)) == DATA[:2 * C]
    assert store.fs.cat_file(store.index_path(digest)) == original
    with pytest.raises(InvalidChunkIndex, match="truncated"):
        ChunkIndex.from_sidecar(b"PACHUNK1", digest, None)


def test_a_forged_sidecar_needs_the_index_key(lean_store: ContentStore) -> None:
    """Someone who can write the store replaces a chunk *and* recomputes its sidecar.

    Without a secret the tag is only a checksum, so the forgery passes a range read of that
    chunk (full reads and verify still refuse it); with ``index_key`` it is refused.
    """
    key = b"k" * 32
    keyed = reopen(lean_store, index_key=key)
    digest = keyed.put_bytes(DATA).digest
    assert ChunkIndex.from_sidecar(keyed.fs.cat_file(keyed.index_path(digest)), digest, key).count == 6
    forged = bytearray(DATA)
    forged[C + 1] ^= 0xFF
    hasher = ChunkedSha256(C)
    hasher.update(bytes(forged))
    index = ChunkIndex(digest, SIZE, C, hasher.kind, tuple(hasher.values()[:-1]) + (bytes.fromhex(digest),))
    path = keyed.blob_path(digest)
    if keyed.is_local:
        os.chmod(path, 0o644)
    keyed.fs.pipe_file(path, bytes(forged))
    keyed.fs.pipe_file(keyed.index_path(digest), index.to_sidecar(None))  # the attacker has no key
    with pytest.raises(ArtifactIntegrityError):  # the sidecar fails its tag: rebuilt, and the rebuild refuses
        b"".join(reopen(lean_store, index_key=key).read_range(digest, C, C + 10))
    assert reopen(lean_store).verify(digest) is False


def test_an_index_of_the_other_kind_is_honoured(lean_store: ContentStore) -> None:
    if not native_state_hashing():
        pytest.skip("OpenSSL's SHA-256 is not reachable here: the store writes sha256 indexes already")
    digest = lean_store.put_bytes(DATA).digest
    kind = KIND_CHUNKS
    hasher = ChunkedSha256(C, kind)
    hasher.update(DATA)
    sidecar = ChunkIndex.build(digest, SIZE, C, kind, hasher.values()).to_sidecar(None)
    lean_store.fs.pipe_file(lean_store.index_path(digest), sidecar)
    fresh = reopen(lean_store)
    assert fresh.chunk_index(digest).kind == kind
    assert b"".join(fresh.read_range(digest, C + 5, 3 * C)) == DATA[C + 5:3 * C]
    flip(lean_store, lean_store.blob_path(digest), 2 * C)
    assert read_until_error(reopen(lean_store), digest, C + 5, 3 * C) == DATA[C + 5:2 * C]


# the embedded registry (default index chunks) -------------------------------------------------


def test_registry_ranges_are_verified(local_registry: LocalRegistry, tmp_path: Path) -> None:
    size = 3 * INDEX_CHUNK + 1000
    data = pattern(size, 5)
    (tmp_path / "d.bin").write_bytes(data)
    art = local_registry.upload_file(tmp_path / "d.bin", name="d")
    chunk = INDEX_CHUNK
    for start, end in [(0, 1), (chunk - 1, chunk + 1), (chunk, 2 * chunk), (2 * chunk + 1, None), (size, None)]:
        assert b"".join(local_registry.read(art.id, start=start, end=end)) == data[start:end]
    flip(local_registry.store, local_registry.store.blob_path(art.checksum or ""), chunk + 10)
    with pytest.raises(ArtifactIntegrityError):
        b"".join(local_registry.read(art.id, start=chunk + 5, end=chunk + 20))
    got = bytearray()
    with pytest.raises(ArtifactIntegrityError):
        for piece in local_registry.read(art.id, start=10, chunk_size=65536):
            got += piece
    assert bytes(got) == data[10:chunk]  # the first chunk, checked; nothing of the corrupt one
    assert b"".join(local_registry.read(art.id, start=2 * chunk)) == data[2 * chunk:]


def test_registry_range_of_a_reference_is_checked_against_its_checksum(local_registry: LocalRegistry,
                                                                       tmp_path: Path) -> None:
    target = tmp_path / "ref.bin"
    target.write_bytes(DATA)
    art = local_registry.add_reference(target.as_uri(), name="ref")
    assert b"".join(local_registry.read(art.id, start=10, end=20)) == DATA[10:20]
    changed = bytearray(DATA)
    changed[-1] ^= 0x01  # far outside the range: only the whole-content checksum sees it
    target.write_bytes(bytes(changed))
    with pytest.raises(ArtifactIntegrityError):
        b"".join(local_registry.read(art.id, start=10, end=20))


@pytest.mark.parametrize("kind", [KIND_STATE, KIND_CHUNKS])
def test_parts_of_an_index_cover_exactly_the_chunks_they_can_check(kind: str) -> None:
    if kind == KIND_STATE and not native_state_hashing():
        pytest.skip("OpenSSL's SHA-256 is not reachable here")
    hasher = ChunkedSha256(C, kind)
    hasher.update(DATA)
    whole = ChunkIndex.build(hasher.hexdigest(), SIZE, C, kind, hasher.values())
    assert whole.whole() and whole.last_covered() == 5 and all(whole.covers(n) for n in range(6))
    for first, last in [(0, 0), (2, 3), (4, 5), (5, 5)]:
        part = ChunkIndex.from_json(whole.covering(first, last).to_json())  # as a client receives it
        covered = [n for n in range(6) if part.covers(n)]
        assert covered[0] <= first and part.last_covered() >= last and covered == list(range(covered[0],
                                                                                             part.last_covered() + 1))
        for n in covered:
            part.check(n, DATA[n * C:(n + 1) * C])
        outside = [n for n in range(6) if n not in covered]
        for n in outside:
            with pytest.raises(ArtifactIntegrityError, match="does not cover"):
                part.check(n, DATA[n * C:(n + 1) * C])


def test_interleaved_and_concurrent_range_reads_never_share_buffers(lean_store: ContentStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    other = pattern(SIZE, 3)
    a, b = lean_store.put_bytes(DATA).digest, lean_store.put_bytes(other).digest
    first, second = lean_store.read_range(a, 1, SIZE - 1, chunk_size=C // 3), lean_store.read_range(b, 2, None)
    got_a, got_b = bytearray(), bytearray()
    for _ in range(6):  # both generators hold buffers at once
        got_a += next(first)
        got_b += next(second)
    got_a += b"".join(first)
    got_b += b"".join(second)
    assert bytes(got_a) == DATA[1:-1] and bytes(got_b) == other[2:]
    if lean_store.is_local:  # memory:// hands every reader of a path the same file object
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda i: b"".join(lean_store.read_range((a, b)[i % 2], i * 100, None)),
                                    range(16)))
        assert all(r == (DATA, other)[i % 2][i * 100:] for i, r in enumerate(results))
    assert len(lean_store._buffers) <= 8  # a bounded pool
