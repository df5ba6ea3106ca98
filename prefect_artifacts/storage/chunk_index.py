"""A blob's chunk index: what a range read needs to verify the chunks it touches.

A blob of ``size`` bytes is cut into chunks of ``chunk_size`` bytes (the last one
shorter); the index holds one 32-byte entry per chunk (see `hashing.ChunkedSha256`):

- ``sha256-state``: the SHA-256 chaining value of the blob's own digest after each
  chunk; the last entry is the digest itself. Chunk *i* is checked by resuming SHA-256
  from entry *i-1* (the initial value for the first chunk) and reaching entry *i*.
- ``sha256``: each chunk's own SHA-256.

Stored next to its blob as ``<blob>.chunks`` (the sidecar), in this layout (integers
big-endian)::

    b"PACHUNK1"  kind (1 byte: 1 sha256-state, 2 sha256)  3 zero bytes
    chunk_size (4)  size (8)  the blob's SHA-256 (32)  entries (32 each)  tag (32)

The tag is HMAC-SHA-256 over everything before it, keyed with the store's index key
(``PREFECT_ARTIFACTS_INDEX_KEY``) or, without one, a fixed public key. It binds the
entries to the blob's digest, size and chunk size: a sidecar with a flipped byte, a
sidecar of another blob, or one cut short is refused, and the store rebuilds it from a
full verified read. Without a key the tag is only a checksum: whoever can write to the
store *and* compute SHA-256 could forge a sidecar matching bytes they changed (full
reads and `ContentStore.verify` still refuse those bytes); with a key they also need
the key.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prefect_artifacts.errors import ArtifactIntegrityError
from prefect_artifacts.storage.hashing import KIND_CHUNKS, KIND_STATE, check_chunk, native_state_hashing

MAGIC = b"PACHUNK1"
_KINDS = {KIND_STATE: 1, KIND_CHUNKS: 2}
_KIND_NAMES = {code: name for name, code in _KINDS.items()}
_HEADER = struct.Struct(">8sB3xIQ32s")
#: The HMAC key of sidecars when the store has no secret one (a checksum, not a secret).
PUBLIC_KEY = b"prefect-artifacts chunk index v1"
#: Chunk sizes an index may declare: a range read holds up to two chunks in memory.
MIN_CHUNK = 4 * 1024
MAX_CHUNK = 16 * 1024 * 1024


class InvalidChunkIndex(ValueError):
    """A sidecar or an index document that cannot be trusted (tampered, truncated, foreign)."""


@dataclass(frozen=True)
class ChunkIndex:
    """The chunk index of one blob, or the part of it covering some chunks (``first`` on).

    Attributes:
        digest: the blob's SHA-256 (hex).
        size: the blob's size in bytes.
        chunk_size: bytes per chunk (the last chunk is shorter).
        kind: ``sha256-state`` or ``sha256``.
        values: entries ``first``, ``first + 1``, … (32 bytes each).
        first: number of the chunk ``values[0]`` belongs to.

    Example:
        ```python
        index = store.chunk_index(digest)
        a, b = index.chunks_for(start, end)
        index.check(a, chunk_bytes)   # raises ArtifactIntegrityError on a mismatch
        ```
    """

    digest: str
    size: int
    chunk_size: int
    kind: str
    values: tuple[bytes, ...]
    first: int = 0

    @property
    def count(self) -> int:
        """Number of chunks of the blob (0 for an empty blob)."""
        return -(-self.size // self.chunk_size)

    def span(self, chunk: int) -> tuple[int, int]:
        """Byte offsets ``[start, end)`` of one chunk.

        Example:
            ```python
            index.span(0)  # (0, 524288)
            ```
        """
        start = chunk * self.chunk_size
        return start, min(start + self.chunk_size, self.size)

    def chunks_for(self, start: int, end: int) -> tuple[int, int]:
        """First and last chunk touched by bytes ``[start, end)`` (``end > start``).

        Example:
            ```python
            index.chunks_for(0, 10)  # (0, 0)
            ```
        """
        return start // self.chunk_size, (end - 1) // self.chunk_size

    def _entry(self, chunk: int) -> bytes:
        if chunk == self.count - 1 and self.kind == KIND_STATE:
            return bytes.fromhex(self.digest)
        position = chunk - self.first
        if not 0 <= position < len(self.values):
            raise ArtifactIntegrityError(f"the chunk index of blob {self.digest} does not cover chunk {chunk}")
        return self.values[position]

    def check(self, chunk: int, data: bytes | memoryview) -> None:
        """Raise `ArtifactIntegrityError` unless ``data`` is chunk number ``chunk`` as stored.

        Example:
            ```python
            index.check(3, data)
            ```
        """
        start, end = self.span(chunk)
        if not 0 <= chunk < self.count or len(data) != end - start:
            raise ArtifactIntegrityError(
                f"blob {self.digest} is corrupt: chunk {chunk} has {len(data)} bytes, not {max(end - start, 0)}"
            )
        before = self._entry(chunk - 1) if self.kind == KIND_STATE and chunk > 0 else None
        if not check_chunk(self.kind, data, before, start, self._entry(chunk), chunk == self.count - 1):
            raise ArtifactIntegrityError(
                f"blob {self.digest} is corrupt: bytes {start}-{end - 1} do not match its chunk index"
            )

    def covering(self, first: int, last: int) -> ChunkIndex:
        """The part of this index needed to check chunks ``first`` … ``last``.

        Example:
            ```python
            index.covering(*index.chunks_for(start, end))
            ```
        """
        if self.count == 0:
            return self
        low = first - 1 if self.kind == KIND_STATE and first > 0 else first
        low, high = max(low, self.first), min(last, self.first + len(self.values) - 1)
        values = self.values[low - self.first: high - self.first + 1]
        return ChunkIndex(self.digest, self.size, self.chunk_size, self.kind, tuple(values), low)

    def covers(self, chunk: int) -> bool:
        """Whether this (part of an) index holds what checking chunk ``chunk`` needs.

        Example:
            ```python
            part.covers(3)
            ```
        """
        if not 0 <= chunk < self.count:
            return False
        needs = [chunk - 1, chunk] if self.kind == KIND_STATE and chunk > 0 else [chunk]
        if self.kind == KIND_STATE and chunk == self.count - 1:
            needs = needs[:-1]  # the last entry is the blob's digest
        return all(self.first <= n < self.first + len(self.values) for n in needs)

    def last_covered(self) -> int:
        """The last chunk this (part of an) index can check (-1: none).

        Example:
            ```python
            part.last_covered()
            ```
        """
        last = min(self.count, self.first + len(self.values)) - 1
        if self.kind == KIND_STATE and self.first + len(self.values) == self.count - 1:
            last = self.count - 1  # the digest is the last chunk's entry
        return last

    @property
    def nbytes(self) -> int:
        """Memory held by the entries (for caches)."""
        return 32 * len(self.values) + 200

    # the sidecar ------------------------------------------------------------------

    def to_sidecar(self, key: bytes | None) -> bytes:
        """The sidecar bytes of a whole index, tagged with ``key`` (None: the public key).

        Example:
            ```python
            store.fs.pipe_file(store.index_path(digest), index.to_sidecar(None))
            ```
        """
        if self.first != 0 or len(self.values) != self.count:
            raise ValueError("only a whole chunk index is stored")
        body = _HEADER.pack(MAGIC, _KINDS[self.kind], self.chunk_size, self.size, bytes.fromhex(self.digest))
        body += b"".join(self.values)
        return body + hmac.new(key or PUBLIC_KEY, body, hashlib.sha256).digest()

    @classmethod
    def from_sidecar(cls, raw: bytes, digest: str, key: bytes | None) -> ChunkIndex:
        """Parse and authenticate a sidecar that must belong to blob ``digest``.

        Raises:
            InvalidChunkIndex: wrong tag, layout, blob, size or chunk size.

        Example:
            ```python
            index = ChunkIndex.from_sidecar(store.fs.cat_file(path), digest, None)
            ```
        """
        if len(raw) < _HEADER.size + 32:
            raise InvalidChunkIndex(f"chunk index of blob {digest} is truncated ({len(raw)} bytes)")
        body, tag = raw[:-32], raw[-32:]
        if not hmac.compare_digest(hmac.new(key or PUBLIC_KEY, body, hashlib.sha256).digest(), tag):
            raise InvalidChunkIndex(f"chunk index of blob {digest} fails its tag (tampered, or another key)")
        magic, code, chunk_size, size, bound = _HEADER.unpack_from(body)
        if magic != MAGIC or code not in _KIND_NAMES:
            raise InvalidChunkIndex(f"chunk index of blob {digest} has an unknown format")
        if bound.hex() != digest:
            raise InvalidChunkIndex(f"chunk index of blob {bound.hex()} is stored as that of blob {digest}")
        entries = body[_HEADER.size:]
        index = cls.build(digest, size, chunk_size, _KIND_NAMES[code],
                          [entries[i:i + 32] for i in range(0, len(entries), 32)])
        if len(entries) % 32 or not index.whole():
            raise InvalidChunkIndex(f"chunk index of blob {digest} does not hold one entry per chunk")
        return index

    @classmethod
    def build(cls, digest: str, size: int, chunk_size: int, kind: str, values: Sequence[bytes],
              first: int = 0) -> ChunkIndex:
        """A checked index (or part of one, from chunk ``first``): sizes, counts and the final entry.

        Raises:
            InvalidChunkIndex: inconsistent fields.

        Example:
            ```python
            ChunkIndex.build(digest, size, 1 << 20, "sha256-state", hasher.values())
            ```
        """
        if kind not in _KINDS:
            raise InvalidChunkIndex(f"unknown chunk index kind {kind!r}")
        if not (MIN_CHUNK <= chunk_size <= MAX_CHUNK) or chunk_size % 64 or size < 0:
            raise InvalidChunkIndex(f"chunk index of blob {digest}: chunk size {chunk_size} or size {size} refused")
        index = cls(digest, size, chunk_size, kind, tuple(bytes(v) for v in values), first)
        if any(len(v) != 32 for v in index.values) or first < 0 or first + len(values) > index.count:
            raise InvalidChunkIndex(f"chunk index of blob {digest}: entries do not fit {index.count} chunks")
        if kind == KIND_STATE and index.count and first + len(values) == index.count \
                and index.values[-1] != bytes.fromhex(digest):
            raise InvalidChunkIndex(f"chunk index of blob {digest} does not end with its digest")
        return index

    def whole(self) -> bool:
        """Whether this is a whole index (every chunk's entry).

        Example:
            ```python
            index.whole()
            ```
        """
        return self.first == 0 and len(self.values) == self.count

    def checkable(self) -> bool:
        """Whether this platform can check this kind of index.

        Example:
            ```python
            index.checkable()  # False only for sha256-state without OpenSSL's SHA-256
            ```
        """
        return self.kind == KIND_CHUNKS or native_state_hashing()

    # over HTTP --------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The document ``GET …/chunks`` answers (entries in hex).

        Example:
            ```python
            index.covering(0, 3).to_json()
            ```
        """
        return {"digest": self.digest, "size": self.size, "chunkSize": self.chunk_size, "kind": self.kind,
                "first": self.first, "values": [v.hex() for v in self.values]}

    @classmethod
    def from_json(cls, doc: Any) -> ChunkIndex:
        """Parse a ``GET …/chunks`` document.

        Raises:
            InvalidChunkIndex: malformed or inconsistent.

        Example:
            ```python
            ChunkIndex.from_json(response.json())
            ```
        """
        try:
            values = [bytes.fromhex(v) for v in doc["values"]]
            digest = str(doc["digest"])
            if len(digest) != 64 or bytes.fromhex(digest).hex() != digest:
                raise ValueError(f"bad digest {digest!r}")
            return cls.build(digest, int(doc["size"]), int(doc["chunkSize"]), str(doc["kind"]), values,
                             int(doc["first"]))
        except InvalidChunkIndex:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidChunkIndex(f"malformed chunk index document: {exc}") from exc


def single_chunk(digest: str, size: int, chunk_size: int) -> ChunkIndex:
    """The index of a blob that fits in one chunk: its one entry is its digest (no sidecar).

    Example:
        ```python
        single_chunk(digest, 10, 1 << 20).check(0, data)
        ```
    """
    return ChunkIndex(digest, size, chunk_size, KIND_CHUNKS, (bytes.fromhex(digest),) if size else ())
