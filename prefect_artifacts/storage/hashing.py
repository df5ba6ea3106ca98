"""Streaming copy with SHA-256, hashing on a second core while the first does I/O.

hashlib releases the GIL on large buffers, so hashing chunk *i* in a worker thread
overlaps with writing chunk *i* and reading chunk *i+1*: a copy costs about as much
as the hash alone instead of hash + copy. Two buffers bound the memory to two chunks.

The same pass also yields a blob's *chunk index* (`ChunkedSha256`): what a range read
needs to verify the fixed-size chunks it touches without reading the whole blob. With
OpenSSL's SHA-256 reachable through ``ctypes`` (the library ``hashlib`` itself uses),
the index is the SHA-256 chaining value at every chunk boundary of the blob's own
digest (kind ``sha256-state``): it costs no hashing beyond the digest, and verifying
chunk *i* means resuming SHA-256 from boundary *i* and reaching boundary *i+1* (the
last chunk reaches the blob's digest itself, which binds the length). Without it the
index holds each chunk's own SHA-256 (kind ``sha256``), a second hash of every byte.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from prefect_artifacts.errors import PayloadTooLarge

CHUNK_SIZE = 8 * 1024 * 1024
_SMALL = 1024 * 1024
#: Bytes covered by one entry of a blob's chunk index: a range read verifies whole chunks.
#: Chosen with bench/bench_ranges.py (bench/RESULTS.md): a 1 MiB range hashes 1-1.5 MiB
#: (1 MiB chunks: 1-2 MiB; 4 MiB chunks: 4-8 MiB; 256 KiB chunks hand more work between
#: threads), for 64 KiB of index per GiB of blob.
INDEX_CHUNK = 512 * 1024
#: Index kinds: SHA-256 chaining values at chunk boundaries, or each chunk's own SHA-256.
KIND_STATE = "sha256-state"
KIND_CHUNKS = "sha256"
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
    hasher: ChunkedSha256 | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[str, int]:
    """Copy ``src`` to ``write`` (or only read it, when None) and return (sha256, size).

    With a ``hasher`` (`ChunkedSha256`) the content is hashed by it, so the caller gets
    the blob's chunk index from the same pass. ``progress`` is called with the size of
    each chunk once it is written (read, without ``write``).

    Example:
        ```python
        with open("a", "rb") as s, open("b", "wb") as d:
            digest, size = copy_hashing(s, d.write)
        ```
    """
    digest: Any = hasher if hasher is not None else hashlib.sha256()
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
            if progress is not None:
                progress(n)
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
    hasher: ChunkedSha256 | None = None,
) -> tuple[str, int]:
    """Write and hash an iterable of byte chunks without copying them; return (sha256, size).

    Chunks are grouped into batches of about ``batch_size``; ``write`` gets each batch
    as a list (`writev_all` takes it whole). Batches are hashed on one worker thread and
    written on another, in order, while the caller produces the next one: three stages
    in parallel where `copy_hashing` runs two, and ``bytes`` chunks are never copied
    (mutable ones are, since their producer may refill them). At most two batches are
    in flight, so memory stays bounded. A ``hasher`` (`ChunkedSha256`) hashes instead
    of a plain SHA-256, giving the chunk index from the same pass.

    Example:
        ```python
        fd = os.open("blob.part", os.O_WRONLY | os.O_CREAT)
        digest, size = copy_chunks_hashing(request_pieces, lambda batch: writev_all(fd, batch))
        ```
    """
    digest: Any = hasher if hasher is not None else hashlib.sha256()
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


def hash_file(
    path: str, size_hint: int | None = None, progress: Callable[[int], None] | None = None
) -> tuple[str, int]:
    """SHA-256 and size of a local file, read in bounded chunks (each one's size to ``progress``).

    Example:
        ```python
        digest, size = hash_file("data.csv")
        ```
    """
    with open(path, "rb", buffering=0) as f:
        return copy_hashing(f, None, size_hint=size_hint, progress=progress)


# -- resumable SHA-256 (chunk indexes) -----------------------------------------------


class _Sha256Ctx(ctypes.Structure):
    """OpenSSL's ``SHA256_CTX`` (``openssl/sha.h``; LibreSSL and BoringSSL share the prefix)."""

    _fields_ = [
        ("h", ctypes.c_uint32 * 8), ("nl", ctypes.c_uint32), ("nh", ctypes.c_uint32),
        ("data", ctypes.c_uint32 * 16), ("num", ctypes.c_uint32), ("md_len", ctypes.c_uint32),
        ("spare", ctypes.c_uint8 * 64),  # room should a build's context be larger
    ]


class _Native:
    """``SHA256_Init``/``SHA256_Update``/``SHA256_Final`` of libcrypto, called with the GIL released."""

    def __init__(self, lib: Any) -> None:
        self.init, self.update, self.final = lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final
        self.init.argtypes = [ctypes.c_void_p]
        self.update.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        self.final.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        for function in (self.init, self.update, self.final):
            function.restype = ctypes.c_int


def _load_native() -> _Native | None:
    """The SHA-256 of libcrypto, if loadable and its context behaves as declared (self-tested)."""
    candidates: list[str] = []
    try:
        import _hashlib  # the OpenSSL binding of hashlib: its libcrypto is the one to use

        candidates.append(_hashlib.__file__)
    except (ImportError, AttributeError):  # pragma: no cover - CPython without OpenSSL
        pass
    found = ctypes.util.find_library("crypto")
    if found:
        candidates.append(found)
    for candidate in candidates:
        try:
            native = _Native(ctypes.CDLL(candidate))
            if _self_test(native):
                return native
        except (OSError, AttributeError, ValueError):
            continue
    return None


def _self_test(native: _Native) -> bool:
    data = bytes(range(256)) * 3
    first = _Resumable(native)
    first.update(data[:128])
    second = _Resumable(native, first.state(), 128)
    second.update(data[128:])
    return second.digest() == hashlib.sha256(data).digest()


class _Resumable:
    """A SHA-256 that exports its chaining value at a 64-byte boundary and resumes from one."""

    def __init__(self, native: _Native, state: bytes | None = None, offset: int = 0) -> None:
        self._native = native
        self._ctx = _Sha256Ctx()
        native.init(ctypes.byref(self._ctx))
        if state is not None:
            if len(state) != 32 or offset % 64:
                raise ValueError("a SHA-256 state is 32 bytes at a multiple of 64 bytes")
            self._ctx.h[:] = struct.unpack(">8I", state)
            bits = offset * 8
            self._ctx.nl, self._ctx.nh = bits & 0xFFFFFFFF, bits >> 32

    def update(self, data: Any) -> None:
        address, size, keep = _address(data)
        self.update_at(address, size)
        del keep

    def update_at(self, address: int, size: int) -> None:
        """Hash ``size`` bytes at ``address`` (the caller keeps the buffer alive)."""
        if size:
            self._native.update(ctypes.byref(self._ctx), address, size)

    def state(self) -> bytes:
        """The chaining value (big-endian words); only meaningful at a 64-byte boundary."""
        if self._ctx.num:
            raise ValueError("not at a 64-byte boundary")
        return struct.pack(">8I", *self._ctx.h)

    def digest(self) -> bytes:
        out = ctypes.create_string_buffer(32)
        self._native.final(out, ctypes.byref(self._ctx))
        return out.raw


def _address(data: Any) -> tuple[int, int, Any]:
    """(address, size, object to keep alive) of a contiguous buffer, without copying when possible."""
    if isinstance(data, bytes):
        pointer = ctypes.c_char_p(data)
        return ctypes.cast(pointer, ctypes.c_void_p).value or 0, len(data), pointer
    view = memoryview(data)
    if view.nbytes == 0:
        return 0, 0, None
    if view.readonly or not view.c_contiguous:
        copy = bytes(view)  # a read-only slice has no address ctypes can take: rare here
        return _address(copy)[0], len(copy), copy
    array = (ctypes.c_char * view.nbytes).from_buffer(view.cast("B"))
    return ctypes.addressof(array), view.nbytes, array


_NATIVE = _load_native()


def native_state_hashing() -> bool:
    """Whether chunk indexes of kind ``sha256-state`` can be built and checked here.

    Example:
        ```python
        native_state_hashing()  # True wherever hashlib uses OpenSSL
        ```
    """
    return _NATIVE is not None


def check_chunk(
    kind: str, data: bytes | memoryview, start: bytes | None, offset: int, expected: bytes, last: bool
) -> bool:
    """Whether one chunk of a blob matches its index entry.

    Args:
        kind: ``sha256-state`` or ``sha256``.
        data: the chunk's bytes.
        start: ``sha256-state``: the chaining value before the chunk (None for the first).
        offset: where the chunk starts in the blob.
        expected: the chaining value after the chunk, the blob's digest for the last chunk
            (``sha256-state``), or the chunk's SHA-256 (``sha256``).
        last: whether this is the blob's last chunk.

    Raises:
        ValueError: ``sha256-state`` cannot be checked on this platform, or an unknown kind.

    Example:
        ```python
        check_chunk("sha256", chunk, None, 0, hashlib.sha256(chunk).digest(), last=True)  # True
        ```
    """
    if kind == KIND_CHUNKS:
        return hashlib.sha256(data).digest() == expected
    if kind != KIND_STATE:
        raise ValueError(f"unknown chunk index kind {kind!r}")
    if _NATIVE is None:
        raise ValueError("sha256-state chunk indexes need OpenSSL's SHA-256 (not loadable here)")
    hasher = _Resumable(_NATIVE, start, offset)
    hasher.update(data)
    return (hasher.digest() if last else hasher.state()) == expected


class ChunkedSha256:
    """SHA-256 of a stream plus its chunk index, computed in the same pass (drop-in for ``hashlib.sha256``).

    Args:
        chunk_size: bytes per index entry (a multiple of 64).
        kind: ``sha256-state`` (default where OpenSSL is reachable: no extra hashing)
            or ``sha256`` (each chunk hashed a second time).

    Example:
        ```python
        h = ChunkedSha256(1 << 20)
        h.update(data)
        h.hexdigest() == hashlib.sha256(data).hexdigest()  # True
        h.values()   # one 32-byte entry per chunk; the last is the digest (sha256-state)
        ```
    """

    def __init__(self, chunk_size: int = INDEX_CHUNK, kind: str | None = None) -> None:
        if chunk_size <= 0 or chunk_size % 64:
            raise ValueError(f"chunk_size must be a positive multiple of 64, not {chunk_size}")
        self.chunk_size = chunk_size
        self.kind = kind or (KIND_STATE if _NATIVE is not None else KIND_CHUNKS)
        if self.kind == KIND_STATE and _NATIVE is None:
            raise ValueError("sha256-state chunk indexes need OpenSSL's SHA-256 (not loadable here)")
        if self.kind not in (KIND_STATE, KIND_CHUNKS):
            raise ValueError(f"unknown chunk index kind {self.kind!r}")
        self._state = _Resumable(_NATIVE) if self.kind == KIND_STATE and _NATIVE is not None else None
        self._full = hashlib.sha256() if self._state is None else None
        # sha256: the first chunk's digest is a copy of the full hash at the first boundary;
        # later chunks get a hash of their own (so a one-chunk blob is hashed once)
        self._chunk: Any = None
        self._in_chunk = 0  # bytes of the current chunk seen so far
        self._size = 0
        self._values: list[bytes] = []
        self._digest: bytes | None = None

    def update(self, data: Any) -> None:
        """Add ``data`` (bytes or any contiguous buffer) after everything added before."""
        if self._digest is not None:
            raise ValueError("update() after the digest was taken")
        if self._state is not None:
            address, size, keep = _address(data)  # fed by address: slicing bytes would copy them
        else:
            view = memoryview(data).cast("B")
            size = view.nbytes
        done = 0
        while done < size:
            if self._in_chunk == self.chunk_size:  # a new chunk starts: the previous one is complete
                self._values.append(self._state.state() if self._state is not None else self._chunk_digest())
                self._in_chunk = 0
            take = min(size - done, self.chunk_size - self._in_chunk)
            if self._state is not None:
                self._state.update_at(address + done, take)
            else:
                assert self._full is not None
                piece = view[done:done + take]
                self._full.update(piece)
                if self._chunk is not None:
                    self._chunk.update(piece)
            self._in_chunk += take
            done += take
        self._size += size
        if self._state is not None:
            del keep

    def _chunk_digest(self) -> bytes:
        assert self._full is not None
        value = (self._full if self._chunk is None else self._chunk).copy().digest()
        self._chunk = hashlib.sha256()
        return value

    def digest(self) -> bytes:
        """The SHA-256 of everything added (no update afterwards)."""
        if self._digest is None:
            if self._state is not None:
                self._digest = self._state.digest()
            else:
                assert self._full is not None
                self._digest = self._full.digest()
            if self._size:
                self._values.append(self._digest if self._state is not None else self._chunk_digest())
        return self._digest

    def hexdigest(self) -> str:
        """The SHA-256 of everything added, in hex."""
        return self.digest().hex()

    @property
    def size(self) -> int:
        """Bytes added so far."""
        return self._size

    def values(self) -> list[bytes]:
        """The index entries, one per chunk (empty for empty content); takes the digest."""
        self.digest()
        return list(self._values)
