"""Streaming helpers: request bodies into the content store, HTTP ranges, primed iterators."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import AsyncIterator, Iterator

import anyio.from_thread
import anyio.to_thread
from starlette.requests import ClientDisconnect, Request

from prefect_artifacts.errors import ArtifactIntegrityError, InvalidArtifactInput, PayloadTooLarge
from prefect_artifacts.storage.content_store import BlobInfo, ContentStore

_BATCH = 1024 * 1024
_BUFFERED = 8  # batches between the event loop and the writer thread
#: Bodies up to this size are read whole and stored in one write.
SMALL_BODY = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


async def _next_pieces(chunks: AsyncIterator[bytes]) -> list[bytes]:
    """About ``_BATCH`` bytes of the body as received (no copy); empty at the end."""
    parts: list[bytes] = []
    size = 0
    while size < _BATCH:
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            break
        except ClientDisconnect as exc:
            raise InvalidArtifactInput("upload truncated: the client disconnected before the end") from exc
        if chunk:
            parts.append(chunk)
            size += len(chunk)
    return parts


async def store_body(request: Request, store: ContentStore, digest: str, max_size: int | None) -> BlobInfo:
    """Stream a request body into the store, verified against ``digest`` and Content-Length.

    The body is read on the event loop and handed, as received (no copy), to a worker
    thread that writes and hashes it; a short, long or mismatching body leaves nothing
    behind.

    Raises:
        InvalidArtifactInput: the body is shorter or longer than its Content-Length.
        ArtifactIntegrityError: the content does not hash to ``digest``.
        PayloadTooLarge: the body exceeds ``max_size``.

    Example:
        ```python
        info = await store_body(request, registry.store, digest, None)
        ```
    """
    declared = request.headers.get("content-length")
    expected = int(declared) if declared and declared.isdigit() else None
    if expected is not None and max_size is not None and expected > max_size:
        raise PayloadTooLarge(f"blob of {expected} bytes exceeds the limit of {max_size} bytes")
    stream = request.stream().__aiter__()
    if expected is not None and expected <= SMALL_BODY:
        return await _store_small(stream, store, digest, expected)
    # The event loop keeps receiving while the writer thread hashes and writes: a few
    # batches buffered between them bound the memory, and neither waits on the other.
    send, receive = anyio.create_memory_object_stream[list[bytes]](max_buffer_size=_BUFFERED)
    failure: list[BaseException] = []

    async def pump() -> None:
        async with send:
            try:
                while batch := await _next_pieces(stream):
                    await send.send(batch)
            except anyio.BrokenResourceError:  # the writer gave up (bad digest, too large)
                pass
            except Exception as exc:  # noqa: BLE001 - handed to the writer, raised there
                failure.append(exc)

    def chunks() -> Iterator[bytes]:
        received = 0
        while True:
            try:
                batch = anyio.from_thread.run(receive.receive)
            except anyio.EndOfStream:
                break
            for piece in batch:
                received += len(piece)
                yield piece
        if failure:
            raise failure[0]
        if expected is not None and received != expected:
            raise InvalidArtifactInput(f"upload truncated: received {received} of {expected} bytes")

    def write() -> BlobInfo:
        with receive:
            return store.put_stream(chunks(), expected_digest=digest, max_size=max_size)

    pumping = asyncio.ensure_future(pump())
    try:
        return await anyio.to_thread.run_sync(write)
    finally:
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumping


async def _store_small(stream: AsyncIterator[bytes], store: ContentStore, digest: str, expected: int) -> BlobInfo:
    """Small bodies are read whole (bounded by ``SMALL_BODY``), checked, then stored at once."""
    data = b"".join(await _next_pieces(stream))
    if len(data) != expected:
        raise InvalidArtifactInput(f"upload truncated: received {len(data)} of {expected} bytes")
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise ArtifactIntegrityError(f"content digest {actual} does not match the announced {digest}")
    return await anyio.to_thread.run_sync(store.put_bytes, data)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``[start, end)`` of a single-range ``Range`` header; None to send everything.

    Multiple ranges and malformed headers are ignored (RFC 9110 allows that).

    Raises:
        RangeNotSatisfiable: the range starts beyond the end.

    Example:
        ```python
        parse_range("bytes=0-99", 1000)  # (0, 100)
        parse_range("bytes=-10", 1000)   # (990, 1000)
        ```
    """
    match = _RANGE.match(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - suffix), size
    start = int(first)
    end = min(size, int(last) + 1) if last else size
    if start >= size or end <= start:
        raise RangeNotSatisfiable(size)
    return start, end


class RangeNotSatisfiable(Exception):
    """The requested range lies outside the content (answered with 416)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for {size} bytes")
        self.size = size


def primed(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Pull the first chunk now, so errors surface before the response starts.

    Example:
        ```python
        body = await run_in_threadpool(primed, registry.read(ref))
        ```
    """
    first = next(chunks, None)

    def chain() -> Iterator[bytes]:
        if first is not None:
            yield first
        yield from chunks

    return chain()
