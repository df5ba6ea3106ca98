"""Streamed tar.gz / zip bundles: round trips, bounded memory, unsafe entries, size checks."""

from __future__ import annotations

import hashlib
import io
import tarfile
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from prefect_artifacts.bundles import BundleEntry, stream_bundle
from prefect_artifacts.errors import ArtifactIntegrityError, UnsafePath
from prefect_artifacts.models import BundleType

BLOCK = 1 << 20


def entry(path: str, data: bytes, step: int = 64 * 1024, declared: int | None = None) -> BundleEntry:
    return BundleEntry(
        path,
        len(data) if declared is None else declared,
        lambda: iter([data[i : i + step] for i in range(0, len(data), step)] or [b""]),
    )


def extract(kind: BundleType, archive: bytes) -> dict[str, bytes]:
    if kind is BundleType.ZIP:
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            assert z.testzip() is None
            return {n: z.read(n) for n in z.namelist()}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}  # type: ignore[union-attr]


FILES = {
    "a.txt": b"hello",
    "empty.bin": b"",
    "dir/b.csv": b"x,y\n" * 1000,
    "dir/sub/c.bin": bytes(range(256)) * 4099,
    "unicodé/ü.txt": "ünïcödé".encode(),
    "exact512.bin": b"\x01" * 512,
}


@pytest.mark.parametrize("kind", [BundleType.TAR_GZ, BundleType.ZIP])
def test_round_trip(kind: BundleType) -> None:
    stamp = datetime(2026, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    archive = b"".join(stream_bundle([entry(p, d) for p, d in FILES.items()], kind, stamp))
    assert extract(kind, archive) == FILES
    if kind is BundleType.TAR_GZ:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as t:
            members = t.getmembers()
        assert {m.mtime for m in members} == {int(stamp.timestamp())}
        assert all(m.mode == 0o644 and m.isfile() for m in members)
        # the archive passes tarfile's own "data" extraction filter (no links, no escapes)
        for m in members:
            tarfile.data_filter(m, "/tmp/dest")
    else:
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            assert {i.date_time for i in z.infolist()} == {(2026, 2, 3, 4, 5, 6)}


@pytest.mark.parametrize("kind", [BundleType.TAR_GZ, BundleType.ZIP])
def test_empty_bundle(kind: BundleType) -> None:
    assert extract(kind, b"".join(stream_bundle([], kind))) == {}


def _random_block() -> bytes:
    """1 MiB that deflate cannot shrink (its window is 32 KiB, the block never repeats within it)."""
    seed = hashlib.sha256(b"seed").digest()
    return b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(BLOCK // 32))


@pytest.mark.parametrize(("kind", "mib"), [(BundleType.TAR_GZ, 64), (BundleType.ZIP, 16)])
def test_large_entry_is_streamed_with_bounded_memory(kind: BundleType, mib: int) -> None:
    block = _random_block()
    produced = 0

    def source() -> Iterator[bytes]:
        nonlocal produced
        for _ in range(mib):
            produced += len(block)
            yield block

    digest_in = hashlib.sha256()
    for _ in range(mib):
        digest_in.update(block)
    out = hashlib.sha256()
    sizes: list[int] = []
    produced_at_first_chunk = None
    total = 0
    tracemalloc.start()
    try:
        for chunk in stream_bundle([BundleEntry("big.bin", mib * BLOCK, source)], kind):
            if produced_at_first_chunk is None:
                produced_at_first_chunk = produced
            sizes.append(len(chunk))
            total += len(chunk)
            out.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert produced == mib * BLOCK
    assert produced_at_first_chunk is not None and produced_at_first_chunk <= 4 * BLOCK  # output starts early
    assert len([s for s in sizes if s]) >= mib // 2  # many chunks, not one archive at the end
    assert max(sizes) <= 4 * BLOCK
    assert peak < 16 * BLOCK, f"peak traced memory {peak / BLOCK:.1f} MiB"
    assert total > mib * BLOCK  # incompressible: the archive holds all the bytes


def test_large_entry_round_trip_content() -> None:
    block = _random_block()
    archive = b"".join(stream_bundle([BundleEntry("d/big.bin", 5 * BLOCK, lambda: iter([block] * 5))], BundleType.ZIP))
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        assert hashlib.sha256(z.read("d/big.bin")).digest() == hashlib.sha256(block * 5).digest()


@pytest.mark.parametrize("kind", [BundleType.TAR_GZ, BundleType.ZIP])
@pytest.mark.parametrize("bad", ["../evil", "/abs", "a/../../evil", "C:\\evil", "a\\..\\evil", "", "..", "a\x00b"])
def test_unsafe_entry_path_raises_before_it_is_written(kind: BundleType, bad: str) -> None:
    opened: list[str] = []

    def opener(path: str, data: bytes):  # type: ignore[no-untyped-def]
        def open_() -> Iterator[bytes]:
            opened.append(path)
            yield data

        return open_

    entries = [BundleEntry("ok.txt", 2, opener("ok.txt", b"ok")), BundleEntry(bad, 4, opener(bad, b"evil"))]
    emitted: list[bytes] = []
    with pytest.raises(UnsafePath):
        for chunk in stream_bundle(entries, kind):
            emitted.append(chunk)
    assert bad not in opened  # its content was never even read
    partial = b"".join(emitted)
    assert b"evil" not in partial
    if kind is BundleType.TAR_GZ and partial:
        import zlib

        raw = zlib.decompressobj(31).decompress(partial)
        assert b"evil" not in raw


@pytest.mark.parametrize("kind", [BundleType.TAR_GZ, BundleType.ZIP])
@pytest.mark.parametrize("declared", [3, 10])
def test_size_mismatch_raises(kind: BundleType, declared: int) -> None:
    entries = [entry("a.txt", b"12345", declared=declared)]
    with pytest.raises(ArtifactIntegrityError, match="a.txt"):
        b"".join(stream_bundle(entries, kind))


@pytest.mark.parametrize("kind", [BundleType.TAR_GZ, BundleType.ZIP])
def test_source_error_propagates(kind: BundleType) -> None:
    def broken() -> Iterator[bytes]:
        yield b"abc"
        raise ArtifactIntegrityError("blob is corrupt")

    with pytest.raises(ArtifactIntegrityError, match="corrupt"):
        b"".join(stream_bundle([BundleEntry("x", 6, broken)], kind))


@pytest.mark.parametrize("size", [100_001, 99_990, 200_000])
def test_zip_switches_to_zip64_near_the_limit(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """Scaled down: with ZIP64_LIMIT at 100 kB, entries (or their deflated form) past it need zip64.

    99,990 incompressible bytes deflate to slightly more than they are: only the declared
    size tells zipfile in time, since the header is written before the data.
    """
    data = _random_block()[:size]
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 100_000)
    archive = b"".join(stream_bundle([entry("small.txt", b"s"), entry("big.bin", data)], BundleType.ZIP))
    monkeypatch.undo()
    assert extract(BundleType.ZIP, archive) == {"small.txt": b"s", "big.bin": data}


def test_long_and_deep_entry_paths_round_trip() -> None:
    deep = "/".join(f"level{i:02d}" for i in range(40)) + "/" + "n" * 200 + ".txt"
    for kind in (BundleType.TAR_GZ, BundleType.ZIP):
        assert extract(kind, b"".join(stream_bundle([entry(deep, b"deep")], kind))) == {deep: b"deep"}
