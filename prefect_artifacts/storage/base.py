"""The content store contract: blobs named by their SHA-256, whatever the medium.

Layout under the base URL::

    sha256/ab/abcdef…          one blob per distinct content, named by its SHA-256
    sha256/ab/abcdef….chunks   its chunk index (blobs of more than one index chunk)
    tmp/<uuid>.part            blobs being written; renamed into place once complete
    leases/<digest>            fsspec stores: a reused blob's "touch" (gc keeps it for the grace period)

A blob is visible only once complete: it is written to ``tmp/`` while hashed, then
renamed (local disks: ``os.replace`` after ``fsync``; other filesystems: ``mv``; object
stores write a small blob with one atomic PUT instead). Reads re-hash what they stream
and raise `ArtifactIntegrityError` on a mismatch; the last chunk is held back until the
digest has been checked.

Range reads verify the chunks they touch against the blob's chunk index
(`chunk_index.ChunkIndex`), computed in the same hashing pass that stores the blob
and kept in an authenticated sidecar. A missing, tampered or foreign sidecar is never
trusted: it is rebuilt from a full verified read (as it is for blobs stored before
indexes existed, on their first full read or `verify`).

`ContentStore` holds everything the media share: the layout, hashing, deduplication,
chunk indexes and verified reads. Each medium fills in the few primitives it does its
own way (`local.LocalContentStore`: bare system calls; `fsspec_store.FsspecContentStore`
and its object-store subclasses: fsspec calls), and ``ContentStore(url)`` picks it.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import fsspec

from prefect_artifacts._ids import new_uuid
from prefect_artifacts._progress import current as current_meter
from prefect_artifacts.errors import (
    ArtifactIntegrityError,
    BlobNotFound,
    InvalidArtifactInput,
    MissingStorageBackend,
    StorageError,
    StorageFull,
)
from prefect_artifacts.storage.chunk_index import (
    MAX_CHUNK,
    MIN_CHUNK,
    ChunkIndex,
    InvalidChunkIndex,
    single_chunk,
)
from prefect_artifacts.storage.hashing import (
    CHUNK_SIZE,
    INDEX_CHUNK,
    WORKER_POOL,
    ChunkedSha256,
    ReadInto,
    copy_chunks_hashing,
    copy_hashing,
)
from prefect_artifacts.storage.local_files import part_file

SMALL_FILE = 1024 * 1024
#: Largest sidecar read (an index of 1 TiB at 512 KiB chunks); a larger one is refused and rebuilt.
_INDEX_MAX_BYTES = 64 * 1024 * 1024
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
#: Suffix of a blob's chunk index, stored next to it.
INDEX_SUFFIX = ".chunks"
#: Chunk buffers one store keeps for range reads (two per read in flight).
_POOLED_BUFFERS = 8
#: Memory the verified chunk indexes kept by one store may hold (32 bytes per chunk).
INDEX_CACHE_BYTES = 16 * 1024 * 1024
logger = logging.getLogger(__name__)
_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}
#: Fills a temp file given its ``write(view)`` and ``writev(batch)``; returns (sha256, size).
Fill = Callable[[Callable[[memoryview], Any], Callable[[list[bytes]], Any]], tuple[str, int]]
_Store = TypeVar("_Store", bound="ContentStore")
_Method = TypeVar("_Method", bound=Callable[..., Any])


def primitive(method: _Method) -> _Method:
    """Mark one of the primitives each medium implements (the base's raises NotImplementedError).

    ``ContentStore`` is not an ABC so that ``ContentStore(url)`` type-checks; the
    store tests check that every concrete store overrides every primitive.
    """
    method.__primitive__ = True  # type: ignore[attr-defined]
    return method


@dataclass(frozen=True)
class BlobInfo:
    """A stored blob: its digest, size, and whether this put wrote new bytes.

    Example:
        ```python
        info = store.put_file("data.csv")
        info.digest, info.size, info.written
        ```
    """

    digest: str
    size: int
    written: bool


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a lowercase SHA-256 hex string, else raise.

    Example:
        ```python
        check_digest("0" * 64)
        ```
    """
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InvalidArtifactInput(f"invalid SHA-256 digest {digest!r}")
    return digest


def open_filesystem(url: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """Resolve an fsspec URL to (filesystem, root path), naming the extra to install.

    Directory listings are not cached unless ``storage_options`` ask for it
    (``use_listings_cache``): a store is shared with other processes (server replicas,
    workers), and a listing cached by one garbage collection would hide every blob
    another process wrote since, so reads of them would fail as not found.

    Example:
        ```python
        fs, root = open_filesystem("memory://store")
        ```
    """
    options = {"use_listings_cache": False, **(storage_options or {})}
    try:
        try:
            return fsspec.core.url_to_fs(url, **options)
        except TypeError:  # a filesystem that takes no listing-cache options
            return fsspec.core.url_to_fs(url, **(storage_options or {}))
    except (ImportError, ValueError) as exc:
        protocol = url.split("://", 1)[0] if "://" in url else "file"
        extra = _EXTRAS.get(protocol)
        hint = f"pip install 'prefect-artifacts[{extra}]'" if extra else "install its fsspec backend"
        if isinstance(exc, ImportError) or "Protocol not known" in str(exc):
            raise MissingStorageBackend(
                f"storage protocol {protocol!r} of {url!r} is not available: {hint}"
            ) from exc
        raise StorageError(f"cannot open storage {url!r}: {exc}") from exc


def mtime_of(info: dict[str, Any]) -> float:
    """Modification time in an fsspec ``info`` dict, whichever key the filesystem uses (0 if none)."""
    for key in ("mtime", "LastModified", "last_modified", "created", "updated"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Translate fsspec/OS errors raised inside the block into the error tree.

    Example:
        ```python
        with storage_errors("reading blob"):
            fs.cat_file(path)
        ```
    """
    try:
        yield
    except (ArtifactIntegrityError, InvalidArtifactInput, StorageError):
        raise
    except FileNotFoundError as exc:
        raise BlobNotFound(f"{what}: not found ({exc})") from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(f"{what}: no space left ({exc})") from exc
        raise StorageError(f"{what}: {exc}") from exc


def store_class(fs: Any) -> type[ContentStore]:
    """The content store class for an fsspec filesystem (what ``ContentStore(url)`` builds).

    Example:
        ```python
        store_class(fsspec.filesystem("memory"))  # FsspecContentStore
        ```
    """
    # Imported here: the media modules subclass ContentStore, so they import this one.
    from prefect_artifacts.storage.fsspec_store import FsspecContentStore, ObjectContentStore, S3ContentStore
    from prefect_artifacts.storage.local import LocalContentStore

    for cls in (LocalContentStore, S3ContentStore, ObjectContentStore):  # most specific first
        if cls.serves(fs):
            return cls
    return FsspecContentStore


class ContentStore:
    """Blobs named by their SHA-256 under an fsspec base URL.

    ``ContentStore(url)`` returns the store for the URL's medium: a
    `local.LocalContentStore` for a local path or ``file://`` URL, an
    `fsspec_store.S3ContentStore` or `fsspec_store.ObjectContentStore` for object
    stores, an `fsspec_store.FsspecContentStore` for any other fsspec filesystem.
    All of them are ``ContentStore`` instances with the methods below.

    Args:
        url: fsspec URL or local path of the store's root.
        storage_options: passed to the fsspec filesystem (credentials, endpoint…).
        durable: fsync local blobs and their folder before they become visible.
        index_key: secret that authenticates chunk index sidecars (default: the
            ``PREFECT_ARTIFACTS_INDEX_KEY`` setting; None: a public checksum key).
            Every process sharing the store must use the same key, or each rebuilds
            the indexes the others wrote.
        index_chunk_size: bytes per chunk index entry of new indexes (default 512 KiB).

    Example:
        ```python
        store = ContentStore("s3://bucket/artifacts", {"anon": False})
        info = store.put_file("model.bin")
        data = b"".join(store.read(info.digest))
        ```
    """

    #: Blobs are files on this machine: `blob_path` can be opened and linked with ``os`` calls.
    is_local: ClassVar[bool] = False
    #: Writes of one object are atomic and there are no folders (S3, GCS, Azure).
    is_object_store: ClassVar[bool] = False

    def __new__(cls: type[_Store], url: str = "", storage_options: dict[str, Any] | None = None,
                *args: Any, **kwargs: Any) -> _Store:
        """Build the store class the URL's filesystem needs (`store_class`), as `pathlib.Path` does.

        A subclass named directly is built as it is (`__init__` checks that it `serves`
        the URL), and so is a copy (``copy.copy`` calls this with no arguments).
        """
        if cls is not ContentStore:
            return super().__new__(cls)
        fs, _root = open_filesystem(str(url), storage_options)  # fsspec caches it: __init__ gets it back
        return super().__new__(store_class(fs))  # type: ignore[return-value]  # a subclass of cls

    def __init__(
        self, url: str, storage_options: dict[str, Any] | None = None, durable: bool = True,
        index_key: str | bytes | None = None, index_chunk_size: int = INDEX_CHUNK,
    ) -> None:
        self.url = str(url)
        self.storage_options = dict(storage_options or {})  # kept to open the store again elsewhere
        self.fs, root = open_filesystem(self.url, storage_options)
        if not self.serves(self.fs):
            raise InvalidArtifactInput(
                f"{type(self).__name__} cannot hold {self.url!r}: ContentStore(url) picks the right store"
            )
        self.root = root.rstrip("/")
        self.durable = durable
        self._made_dirs: set[str] = set()
        if index_key is None:
            from prefect_artifacts.settings import get_settings

            secret = get_settings().index_key
            index_key = secret.get_secret_value() if secret is not None else None
        self._index_key = index_key.encode() if isinstance(index_key, str) else index_key
        if not (MIN_CHUNK <= index_chunk_size <= MAX_CHUNK) or index_chunk_size % 64:
            raise InvalidArtifactInput(
                f"index_chunk_size must be a multiple of 64 from {MIN_CHUNK} to {MAX_CHUNK}, not {index_chunk_size}"
            )
        self.index_chunk_size = index_chunk_size
        self._indexes: OrderedDict[str, ChunkIndex] = OrderedDict()  # verified, most recent last
        self._indexes_bytes = 0
        self._indexes_lock = threading.Lock()
        self._buffers: list[bytearray] = []  # chunk buffers of range reads, reused (bounded)
        #: Set by a registry: reserves a reused blob in its catalog and says whether garbage
        #: collection took (or is taking) it meanwhile, i.e. whether to ask the store again.
        self.reuse_guard: Callable[[str], bool] | None = None

    @classmethod
    def serves(cls, fs: Any) -> bool:
        """Whether this kind of store can hold blobs on the fsspec filesystem ``fs``.

        Example:
            ```python
            LocalContentStore.serves(fsspec.filesystem("file"))  # True
            ```
        """
        return True

    # the medium's primitives ----------------------------------------------------------

    @primitive
    def _make_folder(self, path: str) -> None:
        """Make the folder ``path`` (and its parents) exist."""
        raise NotImplementedError

    @primitive
    def _blob_exists(self, path: str) -> bool:
        """Whether the blob at ``path`` exists now (not in some cached listing)."""
        raise NotImplementedError

    @primitive
    def touch(self, digest: str) -> None:
        """Mark a reused blob as young, so garbage collection leaves it for the grace period.

        Example:
            ```python
            store.touch(digest)
            ```
        """
        raise NotImplementedError

    def hold(self, digest: str) -> bool:
        """Keep a stored blob an upload is about to reuse; whether it is still stored.

        Call it once `exists` said yes: the blob is touched, and reserved through
        ``reuse_guard`` when a registry set one (its catalog then keeps garbage
        collection, on any replica, off the blob for the grace period). False when a
        garbage collection deleted the blob since `exists` answered: store it again.

        Example:
            ```python
            if not (store.exists(digest) and store.hold(digest)):
                store.put_bytes(data)
            ```
        """
        self.touch(digest)
        guard = self.reuse_guard
        return guard is None or not guard(digest) or self.exists(digest)

    @primitive
    def blob_mtime(self, digest: str) -> float:
        """Modification time of a blob, or of its lease when newer (0 when unknown or missing).

        Example:
            ```python
            time.time() - store.blob_mtime(digest)
            ```
        """
        raise NotImplementedError

    @primitive
    def _store_bytes(self, data: bytes, digest: str, sync: bool) -> bool:
        """Store hashed bytes the store lacks as blob ``digest``; whether they were written."""
        raise NotImplementedError

    @primitive
    def _write_temp(self, fill: Fill, tmp: str, sync: bool) -> tuple[str, int]:
        """Create the temp file ``tmp`` and let ``fill`` write it; return what ``fill`` returns."""
        raise NotImplementedError

    @primitive
    def _move_into_place(self, tmp: str, final: str, sync: bool) -> None:
        """Rename a complete temp file to its blob path (replacing a concurrent identical one)."""
        raise NotImplementedError

    @primitive
    def _discard(self, path: str) -> None:
        """Delete a file if it is there (no error when it is not, or cannot be)."""
        raise NotImplementedError

    @primitive
    def _open_blob(self, path: str, block_size: int) -> Any:
        """Open a blob for a sequential read (readinto and read, in chunks of about ``block_size``)."""
        raise NotImplementedError

    @primitive
    def _open_chunked(self, path: str, chunk_size: int) -> Any:
        """Open a blob for a verified range read: seek, then whole index chunks of ``chunk_size``."""
        raise NotImplementedError

    @primitive
    def _read_sidecar(self, path: str, limit: int) -> bytes:
        """At most ``limit`` bytes of a chunk index sidecar, read fresh (FileNotFoundError if none)."""
        raise NotImplementedError

    @primitive
    def _write_sidecar(self, path: str, data: bytes) -> None:
        """Replace a chunk index sidecar atomically (no fsync: a lost one is rebuilt)."""
        raise NotImplementedError

    # paths --------------------------------------------------------------------

    def blob_path(self, digest: str) -> str:
        """Filesystem path of a blob.

        Example:
            ```python
            store.blob_path(digest)  # ".../sha256/ab/ab…"
            ```
        """
        check_digest(digest)
        return f"{self.root}/sha256/{digest[:2]}/{digest}"

    def index_path(self, digest: str) -> str:
        """Filesystem path of a blob's chunk index sidecar.

        Example:
            ```python
            store.index_path(digest)  # ".../sha256/ab/ab….chunks"
            ```
        """
        return self.blob_path(digest) + INDEX_SUFFIX

    def blob_uri(self, digest: str) -> str:
        """Protocol-qualified URI of a blob.

        Example:
            ```python
            store.blob_uri(digest)  # "file:///…/sha256/ab/ab…"
            ```
        """
        return str(self.fs.unstrip_protocol(self.blob_path(digest)))

    def _makedirs(self, path: str) -> None:
        if path not in self._made_dirs:
            self._make_folder(path)
            self._made_dirs.add(path)

    def _temp_path(self) -> str:
        self._makedirs(f"{self.root}/tmp")
        return f"{self.root}/tmp/{new_uuid().hex}.part"

    # queries ------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        """Whether the blob is stored.

        Example:
            ```python
            store.exists(digest)
            ```
        """
        path = self.blob_path(digest)
        with storage_errors(f"checking blob {digest}"):
            return self._blob_exists(path)

    def size(self, digest: str) -> int:
        """Size in bytes of a stored blob.

        Example:
            ```python
            store.size(digest)
            ```
        """
        with storage_errors(f"blob {digest}"):
            return self._blob_size(self.blob_path(digest))

    def _blob_size(self, path: str) -> int:
        return int(self.fs.size(path))

    # writes -------------------------------------------------------------------

    def put_file(
        self, path: str | os.PathLike[str], digest: str | None = None, sync: bool = True
    ) -> BlobInfo:
        """Store a local file; with a known ``digest`` already stored, nothing is copied.

        With ``sync=False`` the blob is not fsynced: call `flush` before cataloguing it.

        Example:
            ```python
            info = store.put_file("data.csv")
            ```
        """
        path = os.fspath(path)
        if digest is not None and self.exists(digest) and self.hold(digest):
            return BlobInfo(digest, os.path.getsize(path), written=False)
        try:
            src = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise InvalidArtifactInput(f"cannot read {path!r}: {exc.strerror or exc}") from exc
        with src:
            size = os.fstat(src.fileno()).st_size
            if size <= SMALL_FILE:
                return self.put_bytes(src.read(SMALL_FILE + 1), sync=sync)
            return self._put_reader(src, size_hint=size, sync=sync)

    def adopt_file(self, path: str | os.PathLike[str], sync: bool = True) -> BlobInfo:
        """Take over a local file the caller gives up: store it, then remove it.

        A local store on the same filesystem renames the file into place (one hash, no
        copy); other stores copy it, then remove it. The source file is gone afterwards.

        Example:
            ```python
            info = store.adopt_file("scratch/model.npy")
            ```
        """
        return self._adopt_by_copy(os.fspath(path), sync)

    def _adopt_by_copy(self, path: str, sync: bool, digest: str | None = None) -> BlobInfo:
        info = self.put_file(path, digest, sync=sync)
        os.unlink(path)
        return info

    def link_verified(self, digest: str, dest: str | os.PathLike[str]) -> bool:
        """Verify a local blob and hard-link it at ``dest`` (read-only use only).

        Returns False (nothing done) when the store is not local or the link is not
        possible, e.g. across filesystems. Raises `ArtifactIntegrityError` if corrupt.

        Example:
            ```python
            store.link_verified(digest, scratch / "model.npy") or store.download(digest, ...)
            ```
        """
        return False

    def put_bytes(self, data: bytes, sync: bool = True) -> BlobInfo:
        """Store a small in-memory payload (skips the write when already stored).

        Example:
            ```python
            store.put_bytes(b"hello")
            ```
        """
        hasher = self._hasher(len(data))
        hasher.update(data)
        digest = hasher.hexdigest()
        if self.exists(digest) and self.hold(digest):
            self._keep_index(hasher)
            return BlobInfo(digest, len(data), written=False)
        written = self._store_bytes(data, digest, sync)
        self._keep_index(hasher)
        return BlobInfo(digest, len(data), written=written)

    def _hasher(self, size: int) -> Any:
        """A plain SHA-256 for content of one index chunk (it needs no index), else a `ChunkedSha256`."""
        return hashlib.sha256() if size <= self.index_chunk_size else ChunkedSha256(self.index_chunk_size)

    def flush(self) -> None:  # noqa: B027 - a no-op on purpose: only local disks hold writes back
        """Make every blob written with ``sync=False`` durable (local disks: one ``syncfs``).

        Example:
            ```python
            for p in paths:
                store.put_file(p, sync=False)
            store.flush()
            ```
        """

    def put_stream(
        self,
        chunks: Iterable[bytes],
        expected_digest: str | None = None,
        max_size: int | None = None,
    ) -> BlobInfo:
        """Store bytes from an iterable; refuse them if ``expected_digest`` differs.

        A mismatch or an oversized stream leaves nothing behind.

        Example:
            ```python
            store.put_stream(iter([b"hello"]), expected_digest=hashlib.sha256(b"hello").hexdigest())
            ```
        """
        if expected_digest is not None:
            check_digest(expected_digest)

        hasher = ChunkedSha256(self.index_chunk_size)

        def fill(write: Callable[[memoryview], Any], writev: Callable[[list[bytes]], Any]) -> tuple[str, int]:
            # the chunks are the caller's own bytes: written and hashed as they are, no copy
            return copy_chunks_hashing(chunks, writev, max_size=max_size, hasher=hasher)

        info = self._put(fill, expected_digest=expected_digest)
        self._keep_index(hasher)
        return info

    def _put_reader(self, src: ReadInto, *, size_hint: int | None = None, sync: bool = True) -> BlobInfo:
        hasher = ChunkedSha256(self.index_chunk_size)
        progress = current_meter()  # a registry's upload counting the bytes as they are written

        def fill(write: Callable[[memoryview], Any], writev: Callable[[list[bytes]], Any]) -> tuple[str, int]:
            return copy_hashing(src, write, size_hint=size_hint, hasher=hasher, progress=progress)

        info = self._put(fill, sync=sync)
        self._keep_index(hasher)
        return info

    def _put(self, fill: Fill, *, expected_digest: str | None = None, sync: bool = True) -> BlobInfo:
        """Fill a temp file (``fill`` gets a write and a writev), check it, move it into place."""
        tmp = self._temp_path()
        try:
            with storage_errors("writing blob"):
                digest, size = self._write_temp(fill, tmp, sync)
            if expected_digest is not None and digest != expected_digest:
                raise ArtifactIntegrityError(
                    f"content digest {digest} does not match the announced {expected_digest}"
                )
            return BlobInfo(digest, size, written=self._commit_temp(tmp, digest, sync))
        except BaseException:
            self._discard(tmp)
            raise

    def _commit_temp(self, tmp: str, digest: str, sync: bool) -> bool:
        """Move a complete temp file into place, unless the blob is stored (then drop it); whether moved."""
        final = self.blob_path(digest)
        with storage_errors(f"storing blob {digest}"):
            self._makedirs(final.rsplit("/", 1)[0])
            if self.exists(digest) and self.hold(digest):  # identical content is stored once
                self._discard(tmp)
                return False
            self._move_into_place(tmp, final, sync)
            return True

    def delete(self, digest: str) -> None:
        """Remove a blob and its chunk index (garbage collection only: the catalog must not reference it).

        The index goes first: a delete cut short leaves at worst a blob without an index
        (rebuilt when needed), never an index without its blob.

        Example:
            ```python
            store.delete(digest)
            ```
        """
        path = self.blob_path(digest)
        self._forget_index(digest)
        self._discard(path + INDEX_SUFFIX)
        self._discard(path)

    # chunk indexes --------------------------------------------------------------

    def chunk_index(self, digest: str) -> ChunkIndex:
        """The verified chunk index of a blob: cached, loaded from its sidecar, or rebuilt.

        A blob of at most one index chunk needs no sidecar (its digest is its one entry).
        A missing, tampered, foreign or (here) uncheckable sidecar is never trusted: the
        index is rebuilt from a full verified read of the blob and stored again.

        Raises:
            BlobNotFound: the blob is not stored.
            ArtifactIntegrityError: the index had to be rebuilt and the blob is corrupt.

        Example:
            ```python
            index = store.chunk_index(digest)
            index.chunk_size, index.count
            ```
        """
        cached = self._cached_index(digest)
        if cached is not None:
            return cached
        index = self._load_index(digest)
        if index is None:
            size = self.size(digest)
            if size <= self.index_chunk_size:
                return single_chunk(digest, size, self.index_chunk_size)
            index = self._rebuild_index(digest)
        self._cache_index(index)
        return index

    def _index_of(self, hasher: ChunkedSha256) -> ChunkIndex:
        return ChunkIndex.build(hasher.hexdigest(), hasher.size, hasher.chunk_size, hasher.kind, hasher.values())

    def _keep_index(self, hasher: Any) -> None:
        """After a write: store the index its hashing pass computed (blobs of several chunks)."""
        if not isinstance(hasher, ChunkedSha256) or hasher.size <= hasher.chunk_size:
            return
        index = self._index_of(hasher)
        if self._cached_index(index.digest) is None:
            self._write_index(index)
            self._cache_index(index)

    def _learn_index(self, hasher: ChunkedSha256, check_stored: bool = False) -> None:
        """After a full verified read: keep the index it computed, storing it if the sidecar differs."""
        if hasher.size <= hasher.chunk_size:
            return
        index = self._index_of(hasher)
        if not check_stored and self._cached_index(index.digest) is not None:
            return
        if self._load_index(index.digest) != index:
            self._write_index(index)
        self._cache_index(index)

    def _load_index(self, digest: str) -> ChunkIndex | None:
        """The sidecar's index if it is authentic and checkable here, else None (missing, tampered…)."""
        limit = _INDEX_MAX_BYTES
        try:
            with storage_errors(f"reading the chunk index of blob {digest}"):
                raw = self._read_sidecar(self.index_path(digest), limit + 1)
        except BlobNotFound:
            return None
        except StorageError as exc:
            logger.warning("%s: rebuilding it", exc)
            return None
        try:
            if len(raw) > limit:
                raise InvalidChunkIndex(f"chunk index of blob {digest} is larger than {limit} bytes")
            index = ChunkIndex.from_sidecar(raw, digest, self._index_key)
        except InvalidChunkIndex as exc:
            logger.warning("%s: rebuilding it from a full verified read", exc)
            return None
        return index if index.checkable() else None

    def _rebuild_index(self, digest: str) -> ChunkIndex:
        hasher = ChunkedSha256(self.index_chunk_size)
        with self._open(digest) as src, storage_errors(f"reading blob {digest}"):
            actual, _ = copy_hashing(src, None, hasher=hasher)
        if actual != digest:
            raise ArtifactIntegrityError(f"blob {digest} is corrupt: its content hashes to {actual}")
        index = self._index_of(hasher)
        self._write_index(index)
        return index

    def _write_index(self, index: ChunkIndex) -> None:
        """Store a sidecar (atomically; not fsynced: a lost or torn one is rebuilt, never trusted)."""
        try:
            with storage_errors(f"storing the chunk index of blob {index.digest}"):
                self._write_sidecar(self.index_path(index.digest), index.to_sidecar(self._index_key))
        except StorageError as exc:  # the blob is stored; its index is only rebuilt later
            logger.warning("%s", exc)

    def _cached_index(self, digest: str) -> ChunkIndex | None:
        with self._indexes_lock:
            index = self._indexes.get(digest)
            if index is not None:
                self._indexes.move_to_end(digest)
            return index

    def _cache_index(self, index: ChunkIndex) -> None:
        if index.count <= 1:
            return
        with self._indexes_lock:
            old = self._indexes.pop(index.digest, None)
            self._indexes_bytes -= old.nbytes if old is not None else 0
            self._indexes[index.digest] = index
            self._indexes_bytes += index.nbytes
            while self._indexes_bytes > INDEX_CACHE_BYTES and len(self._indexes) > 1:
                _digest, evicted = self._indexes.popitem(last=False)
                self._indexes_bytes -= evicted.nbytes

    def _forget_index(self, digest: str) -> None:
        with self._indexes_lock:
            old = self._indexes.pop(digest, None)
            self._indexes_bytes -= old.nbytes if old is not None else 0

    # reads --------------------------------------------------------------------

    def _open(self, digest: str, block_size: int = CHUNK_SIZE) -> Any:
        path = self.blob_path(digest)
        with storage_errors(f"blob {digest}"):
            return self._open_blob(path, block_size)

    def read(self, digest: str, chunk_size: int = CHUNK_SIZE, verify: bool = True) -> Iterator[bytes]:
        """Yield a blob's bytes; with ``verify`` the last chunk waits for the digest check.

        A verified read also computes the blob's chunk index (free with the
        ``sha256-state`` kind) and stores it when the sidecar is missing or wrong.

        Example:
            ```python
            for chunk in store.read(digest, chunk_size=1 << 20):
                sink.write(chunk)
            ```
        """
        chunk_size = chunk_size if chunk_size > 0 else CHUNK_SIZE  # 0 would read nothing, -1 everything at once
        f = self._open(digest, block_size=max(chunk_size, 1 << 20))
        hasher: Any = None
        if verify:
            known = self._cached_index(digest) is not None
            hasher = hashlib.sha256() if known else ChunkedSha256(self.index_chunk_size)
        held: bytes | None = None
        with f, storage_errors(f"reading blob {digest}"):
            while chunk := f.read(chunk_size):
                if hasher is not None:
                    hasher.update(chunk)
                if held is not None:
                    yield held
                held = chunk
        if hasher is not None and hasher.hexdigest() != digest:
            raise ArtifactIntegrityError(
                f"blob {digest} is corrupt: its content hashes to {hasher.hexdigest()}"
            )
        if isinstance(hasher, ChunkedSha256):
            self._learn_index(hasher)
        if held is not None:
            yield held

    def read_range(
        self, digest: str, start: int, end: int | None, chunk_size: int = CHUNK_SIZE, verify: bool = True
    ) -> Iterator[bytes]:
        """Yield bytes ``[start, end)`` of a blob, every one verified (``end`` None: to the end).

        The chunks of the blob's chunk index that the range touches are read whole and
        checked before any of their bytes is yielded (two chunks are checked at once on
        worker threads), so a range costs about one chunk more than its own length.
        ``verify=False`` yields the bytes as stored.

        Raises:
            ArtifactIntegrityError: a touched chunk does not match the index (nothing of
                that chunk is yielded), or the index had to be rebuilt from a corrupt blob.
            BlobNotFound: the blob is not stored.

        Example:
            ```python
            header = b"".join(store.read_range(digest, 0, 16))
            ```
        """
        chunk_size = chunk_size if chunk_size > 0 else CHUNK_SIZE
        if verify:
            yield from self._read_verified_range(digest, start, end, chunk_size)
            return
        f = self._open(digest, block_size=max(chunk_size, 1 << 16))
        with f, storage_errors(f"reading blob {digest}"):
            f.seek(start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                n = chunk_size if remaining is None else min(chunk_size, remaining)
                chunk = f.read(n)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def _read_verified_range(self, digest: str, start: int, end: int | None, chunk_size: int) -> Iterator[bytes]:
        index = self.chunk_index(digest)
        stop = index.size if end is None else min(end, index.size)
        if start >= stop:
            return
        first, last = index.chunks_for(start, stop)
        path = self.blob_path(digest)
        with storage_errors(f"blob {digest}"):
            f = self._open_chunked(path, index.chunk_size)
        buffers = self._take_buffers(index.chunk_size)
        try:
            with f, storage_errors(f"reading blob {digest}"):
                for number, data in _verified_chunks(f, index, first, last, buffers):
                    low = index.span(number)[0]
                    a, b = max(start, low) - low, min(stop, low + len(data)) - low
                    for offset in range(a, b, chunk_size):  # copies: the buffers are read into again
                        yield bytes(data[offset:min(b, offset + chunk_size)])
        finally:
            self._give_buffers(buffers)

    def _take_buffers(self, size: int) -> list[bytearray]:
        """Two chunk buffers for a range read, reused across reads.

        Their pages stay mapped and hot, where a fresh chunk-sized ``bytes`` per read costs
        page faults (expensive on VMs that hand freed memory back to their host).
        """
        with self._indexes_lock:
            taken = [b for b in self._buffers if len(b) == size][:2]
            for buffer in taken:
                self._buffers.remove(buffer)
        return taken + [bytearray(size) for _ in range(2 - len(taken))]

    def _give_buffers(self, buffers: list[bytearray]) -> None:
        with self._indexes_lock:
            for buffer in buffers:
                if len(buffer) == self.index_chunk_size and len(self._buffers) < _POOLED_BUFFERS:
                    self._buffers.append(buffer)

    def download(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Copy a blob to a local file, verified; the file appears only if intact.

        Example:
            ```python
            store.download(digest, "out/data.csv")
            ```
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        hasher = None if self._cached_index(digest) is not None else ChunkedSha256(self.index_chunk_size)
        with part_file(dest) as tmp:
            with self._open(digest) as src, open(tmp, "wb", buffering=0) as out, storage_errors(
                f"reading blob {digest}"
            ):
                actual, _ = copy_hashing(src, out.write, hasher=hasher)
            if actual != digest:
                raise ArtifactIntegrityError(f"blob {digest} is corrupt: content hashes to {actual}")
        if hasher is not None:
            self._learn_index(hasher)
        return dest

    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob; False when its content no longer matches.

        An intact blob also gets its chunk index checked: a missing, tampered or wrong
        sidecar is written again from this pass.

        Example:
            ```python
            bad = [d for d, *_ in store.iter_blobs() if not store.verify(d)]
            ```
        """
        hasher = ChunkedSha256(self.index_chunk_size)
        with self._open(digest) as src, storage_errors(f"reading blob {digest}"):
            actual, _ = copy_hashing(src, None, hasher=hasher)
        if actual != digest:
            return False
        self._learn_index(hasher, check_stored=True)
        return True

    # listing (garbage collection) ---------------------------------------------

    def iter_blobs(self) -> Iterator[tuple[str, int, float]]:
        """Yield (digest, size, mtime) of every stored blob.

        Example:
            ```python
            total = sum(size for _, size, _ in store.iter_blobs())
            ```
        """
        with storage_errors("listing blobs"):
            if not self.fs.exists(f"{self.root}/sha256"):
                return
            found = self.fs.find(f"{self.root}/sha256", detail=True)
        for path, info in found.items():
            name = path.rsplit("/", 1)[-1]
            if _DIGEST.match(name):
                yield name, int(info.get("size") or 0), mtime_of(info)

    def iter_temp(self) -> Iterator[tuple[str, float]]:
        """Yield (path, mtime) of partial writes in ``tmp/``.

        Example:
            ```python
            list(store.iter_temp())
            ```
        """
        return self._iter_files("tmp", "listing temporary files")

    def iter_leases(self) -> Iterator[tuple[str, float]]:
        """Yield (path, mtime) of the leases `touch` wrote for reused blobs (fsspec stores).

        Example:
            ```python
            stale = [path for path, mtime in store.iter_leases() if mtime < cutoff]
            ```
        """
        return self._iter_files("leases", "listing blob leases")

    def _iter_files(self, folder: str, doing: str) -> Iterator[tuple[str, float]]:
        with storage_errors(doing):
            if not self.fs.exists(f"{self.root}/{folder}"):
                return
            found = self.fs.find(f"{self.root}/{folder}", detail=True)
        for path, info in found.items():
            yield path, mtime_of(info)

    def remove_temp(self, path: str) -> None:
        """Delete one partial write or stale lease (garbage collection).

        Example:
            ```python
            for path, mtime in store.iter_temp():
                store.remove_temp(path)
            ```
        """
        self._discard(path)

    def upload_size(self, key: str, upload_id: str) -> int:
        """Bytes the parts of an unfinished S3 multipart upload hold (0 on other stores).

        Example:
            ```python
            sum(store.upload_size(key, upload_id) for key, upload_id, _ in store.iter_unfinished_uploads())
            ```
        """
        return 0

    def iter_unfinished_uploads(self) -> Iterator[tuple[str, str, float]]:
        """Yield (key, upload id, start time) of S3 multipart uploads left under the store's prefix.

        A writer that died mid-way through a large object leaves its parts on S3,
        invisible to listings and billed until aborted. Other stores yield nothing.

        Example:
            ```python
            for key, upload_id, started in store.iter_unfinished_uploads():
                store.abort_upload(key, upload_id)
            ```
        """
        return iter(())

    def abort_upload(self, key: str, upload_id: str) -> None:  # noqa: B027 - only S3 has multipart uploads
        """Abort one unfinished S3 multipart upload (its parts are deleted); other stores have none.

        Example:
            ```python
            store.abort_upload(key, upload_id)
            ```
        """


def _read_into(f: Any, buffer: bytearray, size: int) -> memoryview:
    """Read up to ``size`` bytes into ``buffer`` (short only at the end of the file)."""
    view = memoryview(buffer)[:size]
    got = 0
    while got < size:
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    return view[:got]


def _verified_chunks(f: Any, index: ChunkIndex, first: int, last: int,
                     buffers: list[bytearray]) -> Iterator[tuple[int, memoryview]]:
    """Read chunks ``first`` … ``last`` whole and yield (number, bytes) once each is checked.

    Chunks go in pairs: a worker thread checks the first while this thread reads and
    checks the second (hashing releases the GIL), so two cores share the hashing with one
    hand-off per pair; a lone last chunk is checked here. The bytes are views of the two
    ``buffers``, valid until the next pair is read.
    """
    f.seek(first * index.chunk_size)
    number = first
    while number <= last:
        low, high = index.span(number)
        data = _read_into(f, buffers[0], high - low)
        if number == last:
            index.check(number, data)
            yield number, data
            return
        checking = WORKER_POOL.submit(index.check, number, data)
        failure: ArtifactIntegrityError | None = None
        try:
            low, high = index.span(number + 1)
            second = _read_into(f, buffers[1], high - low)
            try:
                index.check(number + 1, second)
            except ArtifactIntegrityError as exc:
                failure = exc
        finally:
            checking.exception()  # never leave a worker reading a buffer that is handed back
        checking.result()  # the earlier chunk's verdict comes first
        yield number, data
        if failure is not None:
            raise failure
        yield number + 1, second
        number += 2
