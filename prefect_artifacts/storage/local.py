"""`LocalContentStore`: a content store on a local disk, written with bare system calls.

Blobs are written to ``tmp/<uuid>.part`` (read-only from the start: blobs are
immutable), fsynced when the store is durable, then renamed into place with
``os.replace`` and their folder fsynced, so a blob is visible only once it is complete
and on disk. Large writes start their writeback at once (``sync_file_range``), and
`adopt_file` renames a file the caller gives up into the store instead of copying it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
from pathlib import Path
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from prefect_artifacts.errors import ArtifactIntegrityError, InvalidArtifactInput
from prefect_artifacts.storage.base import (
    SMALL_FILE,
    BlobInfo,
    ContentStore,
    Fill,
    storage_errors,
)
from prefect_artifacts.storage.hashing import (
    WORKER_POOL,
    ChunkedSha256,
    copy_hashing,
    write_all,
    writev_all,
)


class LocalContentStore(ContentStore):
    """Blobs named by their SHA-256 in a local folder (what ``ContentStore(path)`` builds).

    Args:
        url: local path or ``file://`` URL of the store's root.
        storage_options: passed to fsspec's local filesystem (rarely needed).
        durable: fsync blobs and their folder before they become visible.
        index_key: secret that authenticates chunk index sidecars (see `ContentStore`).
        index_chunk_size: bytes per chunk index entry of new indexes (default 512 KiB).

    Example:
        ```python
        store = ContentStore("/var/lib/artifacts/blobs")  # a LocalContentStore
        info = store.adopt_file("scratch/model.npy")        # renamed in, not copied
        ```
    """

    is_local = True

    @classmethod
    def serves(cls, fs: Any) -> bool:
        """Whether ``fs`` is fsspec's local filesystem."""
        return isinstance(fs, LocalFileSystem)

    # folders ---------------------------------------------------------------------

    def _make_folder(self, path: str) -> None:
        if path.startswith(f"{self.root}/sha256/"):
            self._make_blob_folders()
        else:
            os.makedirs(path, exist_ok=True)

    def _make_blob_folders(self) -> None:
        """Make all 256 ``sha256/xx`` folders of a local store at once, durably.

        Then storing a blob never makes a folder (a stat and a mkdir saved on most writes
        to a young store), and a blob's durability never hangs on a new folder's entry in
        ``sha256/``, which renaming the blob and syncing its own folder would not flush.
        """
        base = f"{self.root}/sha256"
        made = not os.path.isdir(base)
        os.makedirs(base, exist_ok=True)
        for i in range(256):
            with contextlib.suppress(FileExistsError):
                os.mkdir(f"{base}/{i:02x}")
                made = True
        if made and self.durable:
            _fsync_dir(base)
            _fsync_dir(self.root)
        self._made_dirs.update(f"{base}/{i:02x}" for i in range(256))

    # queries ---------------------------------------------------------------------

    def _blob_exists(self, path: str) -> bool:
        return os.path.exists(path)

    def _blob_size(self, path: str) -> int:
        return os.stat(path).st_size  # fsspec's info() costs ~20x the stat

    def touch(self, digest: str) -> None:
        """Give a reused blob a fresh mtime, so garbage collection leaves it for the grace period."""
        with contextlib.suppress(FileNotFoundError):
            os.utime(self.blob_path(digest))

    def blob_mtime(self, digest: str) -> float:
        """Modification time of a blob (0 when missing)."""
        try:
            return os.stat(self.blob_path(digest)).st_mtime
        except (FileNotFoundError, OSError):
            return 0.0

    # writes ----------------------------------------------------------------------

    def adopt_file(self, path: str | os.PathLike[str], sync: bool = True) -> BlobInfo:
        """Take over a local file the caller gives up: hash it, then rename it into place.

        On the store's own filesystem this costs one hash and no copy; across
        filesystems (or for a symlink, stored as a copy of its target) the file is
        copied, then removed. The source file is gone afterwards.
        """
        path = os.fspath(path)
        fd = _open_unless_symlink(path)
        if fd is None:  # renaming a symlink would store the link: its target is copied instead
            return self._adopt_by_copy(path, sync)
        durable = self.durable and sync
        with storage_errors(f"adopting {path}"):
            try:
                hasher, size, flushed = self._hash_adopted(fd, durable)
                digest = hasher.hexdigest()
                if self.exists(digest) and self.hold(digest):
                    return self._drop_duplicate(path, digest, size, hasher)
                if durable and not flushed:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if not self._rename_into_store(path, digest, durable):  # another filesystem
                return self._adopt_by_copy(path, sync, digest)
            self._keep_index(hasher)
            return BlobInfo(digest, size, written=True)

    def _hash_adopted(self, fd: int, durable: bool) -> tuple[Any, int, bool]:
        """Hash an open file: (hasher, size, whether its bytes are already flushed to disk).

        A small file is read and hashed in one call (a short read of a regular file is
        its end) and flushed later, only if the store lacks it; a large one is flushed by
        the disk while the CPU hashes it.
        """
        size = os.fstat(fd).st_size
        if size <= SMALL_FILE:
            data = os.read(fd, size + 1)
            if len(data) <= size:
                hasher = self._hasher(len(data))
                hasher.update(data)
                return hasher, len(data), False
            # it grew since fstat: hashed as a large file, from the start
        return self._hash_large(fd, size, durable)

    def _hash_large(self, fd: int, size_hint: int, durable: bool) -> tuple[ChunkedSha256, int, bool]:
        """Hash an open file from its start while a worker fsyncs it (when ``durable``)."""
        os.lseek(fd, 0, os.SEEK_SET)
        flushed = WORKER_POOL.submit(os.fsync, fd) if durable else None
        hasher = ChunkedSha256(self.index_chunk_size)
        try:
            with open(fd, "rb", buffering=0, closefd=False) as src:
                _digest, size = copy_hashing(src, None, size_hint=size_hint, hasher=hasher)
        finally:
            if flushed is not None:
                flushed.result()
        return hasher, size, durable

    def _drop_duplicate(self, path: str, digest: str, size: int, hasher: Any) -> BlobInfo:
        """The store holds the adopted file's content already (held: see `hold`), drop the file."""
        os.unlink(path)
        self._keep_index(hasher)
        return BlobInfo(digest, size, written=False)

    def _rename_into_store(self, path: str, digest: str, durable: bool) -> bool:
        """Rename a hashed file to its blob path; False (file left as it was) across filesystems."""
        final = self.blob_path(digest)
        folder = final.rsplit("/", 1)[0]
        self._makedirs(folder)
        os.chmod(path, 0o444)  # before the rename: a blob is never writable once visible
        try:
            os.rename(path, final)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            os.chmod(path, 0o644)
            return False
        if durable:
            _fsync_dir(folder)
        return True

    def link_verified(self, digest: str, dest: str | os.PathLike[str]) -> bool:
        """Verify a blob and hard-link it at ``dest`` (read-only use only).

        Returns False (nothing done) when the link is not possible, e.g. across
        filesystems. Raises `ArtifactIntegrityError` if the blob is corrupt.
        """
        if not self.verify(digest):
            raise ArtifactIntegrityError(f"blob {digest} is corrupt")
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.blob_path(digest), dest)
        except OSError:
            return False
        return True

    def _store_bytes(self, data: bytes, digest: str, sync: bool) -> bool:
        """Write hashed bytes to a temp file and rename it into place: bare system calls only."""
        tmp = self._temp_path()
        final = self.blob_path(digest)
        folder = final.rsplit("/", 1)[0]
        durable = self.durable and sync
        with storage_errors(f"storing blob {digest}"):
            self._makedirs(folder)
            try:
                _write_new_file(tmp, data, fsync=durable)
                os.replace(tmp, final)  # identical content from a concurrent writer: same bytes
            except BaseException:
                self._discard(tmp)
                raise
            if durable:
                _fsync_dir(folder)
        return True

    def flush(self) -> None:
        """Make every blob written with ``sync=False`` durable (one ``syncfs``)."""
        if self.durable:
            _syncfs(self.root)

    def _write_temp(self, fill: Fill, tmp: str, sync: bool) -> tuple[str, int]:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)  # blobs are immutable
        try:
            out = _TempFile(fd, writeback=self.durable)
            result = fill(out.write, out.writev)
            if self.durable and sync:
                os.fsync(fd)
            return result
        finally:
            os.close(fd)

    def _move_into_place(self, tmp: str, final: str, sync: bool) -> None:
        os.replace(tmp, final)
        if self.durable and sync:
            _fsync_dir(final.rsplit("/", 1)[0])

    def _discard(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError, OSError):
            os.unlink(path)

    # chunk index sidecars ----------------------------------------------------------

    def _read_sidecar(self, path: str, limit: int) -> bytes:
        with open(path, "rb", buffering=0) as f:
            return f.read(limit)

    def _write_sidecar(self, path: str, data: bytes) -> None:
        tmp = self._temp_path()
        try:
            _write_new_file(tmp, data, fsync=False)
            os.replace(tmp, path)
        except BaseException:
            self._discard(tmp)
            raise

    # reads -----------------------------------------------------------------------

    def _open_blob(self, path: str, block_size: int) -> Any:
        return open(path, "rb", buffering=0)  # noqa: SIM115 - the caller closes it

    def _open_chunked(self, path: str, chunk_size: int) -> Any:
        return open(path, "rb", buffering=0)  # noqa: SIM115 - the caller closes it


def _open_unless_symlink(path: str) -> int | None:
    """Open a file to read, or None when ``path`` is a symlink (raises `InvalidArtifactInput` if unreadable)."""
    nofollow = getattr(os, "O_NOFOLLOW", None)
    if nofollow is None and os.path.islink(path):  # no O_NOFOLLOW: asked first, a small race
        return None
    try:
        return os.open(path, os.O_RDONLY | (nofollow or 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW refused a symlink
            return None
        raise InvalidArtifactInput(f"cannot read {path!r}: {exc.strerror or exc}") from exc


def _write_new_file(path: str, data: bytes, fsync: bool) -> None:
    """Create ``path`` read-only and write ``data`` to it (the file must not exist)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o444)
    try:
        write_all(functools.partial(os.write, fd), memoryview(data).cast("B"))
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: str) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class _TempFile:
    """A blob's temp file; with ``writeback``, each large write starts going to disk at once.

    ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` (Linux) queues the written range for the
    disk without waiting, so the final ``fsync`` of a large blob (or the ``syncfs`` that
    makes a batch of ``sync=False`` blobs durable) waits for the last pieces instead of
    everything: the flush overlaps reading, receiving and hashing.
    """

    def __init__(self, fd: int, writeback: bool) -> None:
        self.fd = fd
        self.offset = 0
        self.writeback = writeback and _sync_file_range is not None

    def write(self, view: memoryview) -> int:
        n = os.write(self.fd, view)
        self._written(n)
        return n

    def writev(self, batch: list[bytes]) -> None:
        writev_all(self.fd, batch)
        self._written(sum(map(len, batch)))

    def _written(self, n: int) -> None:
        if self.writeback and n >= SMALL_FILE:
            _sync_file_range(self.fd, self.offset, n, _SYNC_FILE_RANGE_WRITE)  # advisory: fsync still decides
        self.offset += n


def _load_sync_file_range() -> Any:
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):  # not Linux
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return function


_SYNC_FILE_RANGE_WRITE = 2
_sync_file_range = _load_sync_file_range()


def _syncfs(path: str) -> None:
    """Flush the filesystem holding ``path`` (Linux ``syncfs``; ``sync`` elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()
