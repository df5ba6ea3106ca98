"""Streaming copy with SHA-256, hashing on a second core while the first does I/O.

hashlib releases the GIL on large buffers, so hashing chunk *i* in a worker thread
overlaps with writing chunk *i* and reading chunk *i+1*: a copy costs about as much
as the hash alone instead of hash + copy. Two buffers bound the memory to two chunks.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from prefect_artifacts.errors import PayloadTooLarge

CHUNK_SIZE = 8 * 1024 * 1024
_SMALL = 1024 * 1024
#: Threads for hashing and flushing beside the caller's I/O (both release the GIL).
WORKER_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="prefect-artifacts-io")


class ReadInto(Protocol):
    """Anything with ``readinto`` (files, fsspec buffered files)."""

    def readinto(self, buffer: Any, /) -> int | None: ...  # noqa: D102


def write_all(write: Callable[[memoryview], int | None], view: memoryview) -> None:
    """Call a raw ``write`` until every byte of ``view`` is written.

    Example:
        ```python
        write_all(os.write.__get__(fd), memoryview(b"data"))
        ```
    """
    while view:
        n = write(view)
        if n is None:  # buffered writers write everything or raise
            return
        view = view[n:]


def writev_all(fd: int, batch: list[bytes]) -> None:
    """``os.writev`` until every byte of ``batch`` is written (a write may be short).

    Example:
        ```python
        writev_all(fd, [b"head", b"body"])
        ```
    """
    views = [memoryview(piece) for piece in batch]
    while views:
        written = os.writev(fd, views[:1024])  # IOV_MAX
        while views and written >= len(views[0]):
            written -= len(views.pop(0))
        if written:
            views[0] = views[0][written:]


def copy_hashing(
    src: ReadInto,
    write: Callable[[memoryview], int | None] | None,
    *,
    size_hint: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    max_size: int | None = None,
) -> tuple[str, int]:
    """Copy ``src`` to ``write`` (or only read it, when None) and return (sha256, size).

    Example:
        ```python
        with open("a", "rb") as s, open("b", "wb") as d:
            digest, size = copy_hashing(s, d.write)
        ```
    """
    digest = hashlib.sha256()
    if size_hint is not None and size_hint <= _SMALL:
        chunk_size = max(64 * 1024, min(chunk_size, size_hint + 1))
        buffers = [bytearray(chunk_size)]
    else:
        buffers = [bytearray(chunk_size), bytearray(chunk_size)]
    pending: Future[None] | None = None
    total = 0
    i = 0
    try:
        while True:
            buffer = buffers[i % len(buffers)]
            n = src.readinto(buffer) or 0
            if n == 0:
                break
            total += n
            if max_size is not None and total > max_size:
                raise PayloadTooLarge(f"content exceeds the limit of {max_size} bytes")
            view = memoryview(buffer)[:n]
            if pending is not None:
                pending.result()
                pending = None
            if len(buffers) == 1 or n < _SMALL:
                digest.update(view)
            else:
                pending = WORKER_POOL.submit(digest.update, view)
            if write is not None:
                write_all(write, view)
            i += 1
    finally:
        if pending is not None:
            pending.result()
    return digest.hexdigest(), total


def copy_chunks_hashing(
    chunks: Iterable[bytes],
    write: Callable[[list[bytes]], Any],
    *,
    batch_size: int = CHUNK_SIZE,
    max_size: int | None = None,
) -> tuple[str, int]:
    """Write and hash an iterable of byte chunks without copying them; return (sha256, size).

    Chunks are grouped into batches of about ``batch_size``; ``write`` gets each batch
    as a list (`writev_all` takes it whole). Batches are hashed on one worker thread and
    written on another, in order, while the caller produces the next one: three stages
    in parallel where `copy_hashing` runs two, and ``bytes`` chunks are never copied
    (mutable ones are, since their producer may refill them). At most two batches are
    in flight, so memory stays bounded.

    Example:
        ```python
        fd = os.open("blob.part", os.O_WRONLY | os.O_CREAT)
        digest, size = copy_chunks_hashing(request_pieces, lambda batch: writev_all(fd, batch))
        ```
    """
    digest = hashlib.sha256()
    hashing: Future[None] | None = None
    writing: Future[Any] | None = None
    total = 0

    def hash_batch(batch: list[bytes]) -> None:
        for piece in batch:
            digest.update(piece)

    try:
        for batch in _batches(chunks, batch_size):
            total += sum(map(len, batch))
            if max_size is not None and total > max_size:
                raise PayloadTooLarge(f"content exceeds the limit of {max_size} bytes")
            if hashing is not None:
                hashing.result()
            hashing = WORKER_POOL.submit(hash_batch, batch)
            if writing is not None:
                writing.result()
            writing = WORKER_POOL.submit(write, batch)
    finally:  # never return (or raise) while a write may still touch the caller's file
        for future in (hashing, writing):
            if future is not None:
                future.exception()
    for future in (hashing, writing):
        if future is not None:
            future.result()
    return digest.hexdigest(), total


def _batches(chunks: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    held = 0
    for chunk in chunks:
        if chunk:
            # bytes are kept as they are; a bytearray or memoryview may be refilled by
            # its producer while this batch still waits for its write: copy those
            batch.append(chunk if type(chunk) is bytes else bytes(chunk))
            held += len(chunk)
        if held >= size:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


def rechunk(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Join small pieces (e.g. 64 KiB socket reads) into chunks of exactly ``size`` bytes (the last shorter).

    One copy per byte, where a ``BytesIO`` re-chunker makes two.

    Example:
        ```python
        list(rechunk([b"ab", b"cde", b"f"], 4))  # [b"abcd", b"ef"]
        ```
    """
    held: list[bytes] = []
    total = 0
    for piece in pieces:
        while piece:
            take = min(len(piece), size - total)
            held.append(piece if take == len(piece) else piece[:take])
            piece = piece[take:] if take < len(piece) else b""
            total += take
            if total == size:
                yield held[0] if len(held) == 1 else b"".join(held)
                held, total = [], 0
    if total:
        yield b"".join(held)


class PipelinedHash:
    """SHA-256 fed in order, large chunks hashed on a worker thread while the caller goes on.

    Example:
        ```python
        h = PipelinedHash()
        for chunk in chunks:
            h.update(chunk)
        h.hexdigest()
        ```
    """

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._pending: Future[None] | None = None

    def update(self, data: bytes) -> None:
        """Add ``data`` after everything added before (waits for the previous large chunk)."""
        self._wait()
        if len(data) >= _SMALL:
            self._pending = WORKER_POOL.submit(self._digest.update, data)
        else:
            self._digest.update(data)

    def hexdigest(self) -> str:
        """The digest of everything added (waits for pending work)."""
        self._wait()
        return self._digest.hexdigest()

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()


def write_behind(chunks: Iterable[bytes], write: Callable[[bytes], Any]) -> None:
    """Write each chunk on a worker thread while the next one is produced (one write in flight).

    Example:
        ```python
        with open("copy.bin", "wb") as out:
            write_behind(reg.read("data"), out.write)
        ```
    """
    pending: Future[Any] | None = None
    try:
        for chunk in chunks:
            if pending is not None:
                pending.result()
                pending = None
            if len(chunk) >= _SMALL:
                pending = WORKER_POOL.submit(write, chunk)
            else:
                write(chunk)
    except BaseException:
        if pending is not None:  # let the write finish before the caller closes the file
            pending.exception()
        raise
    if pending is not None:
        pending.result()


def hash_file(path: str, size_hint: int | None = None) -> tuple[str, int]:
    """SHA-256 and size of a local file, read in bounded chunks.

    Example:
        ```python
        digest, size = hash_file("data.csv")
        ```
    """
    with open(path, "rb", buffering=0) as f:
        return copy_hashing(f, None, size_hint=size_hint)
