"""Content stores on fsspec filesystems: object stores, ``memory://`` and any other.

`FsspecContentStore` writes a blob to ``tmp/<uuid>.part`` and ``mv``s it into place.
A reused blob cannot always get a fresh modification time there, so `touch` writes a
``leases/<digest>`` marker that garbage collection counts (and removes once stale).

`ObjectContentStore` (S3, GCS, Azure) relies on one PUT being atomic: a small blob is
written straight to its key, there are no folders to make, and range reads fetch only
the chunks they need. `S3ContentStore` also finds and aborts the multipart uploads of
writers that died mid-way. On Azure a server-side copy may finish after Azure answered:
a move into place waits for it (`wait_for_copy`) before the temp object goes, and takes
a copy that failed, or is still pending when the wait ends, off its content address
(a copy it could not stop keeps its temp object, which gc takes after its grace period).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from fsspec.asyn import sync
from fsspec.implementations.local import LocalFileSystem

from prefect_artifacts.errors import StorageError
from prefect_artifacts.storage.base import ContentStore, Fill, mtime_of, storage_errors
from prefect_artifacts.storage.presigned import PresignedS3

#: Protocols of object stores: one PUT is atomic, and there are no directories.
OBJECT_STORE_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
S3_PROTOCOLS = frozenset({"s3", "s3a"})
#: adlfs's protocols: Azure's Copy Blob may answer ``pending`` and copy afterwards.
AZURE_PROTOCOLS = frozenset({"az", "abfs", "abfss"})
#: How long a move into place waits for Azure to finish copying (seconds): a copy within one
#: account is usually done when Azure answers; this bounds the wait for one that is not.
COPY_TIMEOUT = 600.0
#: First and longest pause between two looks at a pending copy (seconds): doubling from one to the other.
COPY_POLL_FIRST, COPY_POLL_MAX = 0.05, 5.0

T = TypeVar("T")


def _protocols(fs: Any) -> frozenset[str]:
    return frozenset(fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,))


class FsspecContentStore(ContentStore):
    """Blobs named by their SHA-256 on an fsspec filesystem (``memory://``, ``sftp://``…).

    Args:
        url: fsspec URL of the store's root.
        storage_options: passed to the fsspec filesystem (credentials, endpoint…).
        durable: unused here (fsspec filesystems make their own durability promises).
        index_key: secret that authenticates chunk index sidecars (see `ContentStore`).
        index_chunk_size: bytes per chunk index entry of new indexes (default 512 KiB).

    Example:
        ```python
        store = ContentStore("memory://scratch")  # an FsspecContentStore
        digest = store.put_bytes(b"hello").digest
        ```
    """

    @classmethod
    def serves(cls, fs: Any) -> bool:
        """Whether ``fs`` is an fsspec filesystem other than the local one."""
        return not isinstance(fs, LocalFileSystem)

    def _make_folder(self, path: str) -> None:
        self.fs.makedirs(path, exist_ok=True)

    # queries ---------------------------------------------------------------------

    def _blob_exists(self, path: str) -> bool:
        # A cached listing (e.g. from gc) may hold a blob another process has deleted since:
        # trusting it would dedup new content against a missing blob.
        self.fs.invalidate_cache(path)
        return bool(self.fs.exists(path))

    def touch(self, digest: str) -> None:
        """Mark a reused blob as young, so garbage collection leaves it for the grace period.

        An object store cannot change an object's modification time (nor can fsspec
        on most other filesystems), so an empty ``leases/<digest>`` marker is written
        instead; `blob_mtime` counts it, and garbage collection removes it once stale
        (`iter_leases`).
        """
        with storage_errors(f"leasing blob {digest}"):
            self.fs.pipe_file(self._lease_path(digest), b"")

    def _lease_path(self, digest: str) -> str:
        return f"{self.root}/leases/{digest}"

    def blob_mtime(self, digest: str) -> float:
        """Modification time of a blob, or of its lease when newer (0 when unknown or missing)."""
        try:
            mtime = mtime_of(self.fs.info(self.blob_path(digest)))
        except (FileNotFoundError, OSError):
            return 0.0
        lease = self._lease_path(digest)
        self.fs.invalidate_cache(lease)  # another process may have written it since we listed leases/
        try:
            return max(mtime, mtime_of(self.fs.info(lease)))
        except (FileNotFoundError, OSError):
            return mtime

    # writes ----------------------------------------------------------------------

    def _store_bytes(self, data: bytes, digest: str, sync: bool) -> bool:
        def fill(write: Any, writev: Any) -> tuple[str, int]:
            writev([data])  # hashed already
            return digest, len(data)

        return self._put(fill, sync=sync).written

    def _write_temp(self, fill: Fill, tmp: str, sync: bool) -> tuple[str, int]:
        with self.fs.open(tmp, "wb") as dst:
            return fill(dst.write, lambda batch: [dst.write(piece) for piece in batch])

    def _move_into_place(self, tmp: str, final: str, sync: bool) -> None:
        self.fs.mv(tmp, final)

    def _discard(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError, OSError):
            self.fs.rm_file(path)

    # chunk index sidecars ----------------------------------------------------------

    def _read_sidecar(self, path: str, limit: int) -> bytes:
        self.fs.invalidate_cache(path)
        return bytes(self.fs.cat_file(path, start=0, end=limit))

    def _write_sidecar(self, path: str, data: bytes) -> None:
        self.fs.pipe_file(path, data)

    # reads -----------------------------------------------------------------------

    def _open_blob(self, path: str, block_size: int) -> Any:
        return self.fs.open(path, "rb", block_size=block_size)

    def _open_chunked(self, path: str, chunk_size: int) -> Any:
        return self.fs.open(path, "rb", block_size=chunk_size)


class ObjectContentStore(FsspecContentStore):
    """Blobs named by their SHA-256 in an object store (``gs://``, ``az://``…).

    Example:
        ```python
        store = ContentStore("gs://bucket/artifacts")  # an ObjectContentStore
        ```
    """

    is_object_store = True
    #: Seconds a move into place waits for an Azure copy to finish (`wait_for_copy`).
    copy_timeout = COPY_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Temp objects that an Azure copy may still be reading: `_discard` leaves them to gc.
        self._copy_sources: set[str] = set()

    @classmethod
    def serves(cls, fs: Any) -> bool:
        """Whether ``fs`` is an object store (S3, GCS, Azure)."""
        return bool(OBJECT_STORE_PROTOCOLS & _protocols(fs))

    def _make_folder(self, path: str) -> None:
        """Nothing to make: object stores have no directories."""

    def _store_bytes(self, data: bytes, digest: str, sync: bool) -> bool:
        # One PUT is atomic here: no temp object, copy and delete.
        with storage_errors(f"storing blob {digest}"):
            self.fs.pipe_file(self.blob_path(digest), data)
        return True

    def _move_into_place(self, tmp: str, final: str, sync: bool) -> None:
        # A server-side copy makes the blob appear whole (or not at all), then the temp
        # object goes. Not the client's mv: gcsfs tries GCS's moveTo first, which an
        # emulator (or an older deployment) answers 501 only after ~30 s of retries.
        self.fs.cp_file(tmp, final)
        if AZURE_PROTOCOLS & _protocols(self.fs):
            # adlfs's cp_file only starts a Copy Blob; deleting the source of a copy still
            # pending would fail it. A copy that did not succeed is taken off the content
            # address (`_drop_copy`); the source stays: the caller decides.
            self._await_copy(tmp, final)
        self._discard(tmp)

    def _await_copy(self, tmp: str, final: str) -> None:
        """Wait for Azure's copy of ``tmp`` into ``final`` (`wait_for_copy`); if it did not succeed, drop it.

        A copy that may still be running (its abort failed, or its state could not be
        read) keeps its source: `_discard` leaves ``tmp`` to gc, which takes temp objects
        once they are older than its grace period.

        Raises:
            StorageError: as `wait_for_copy`, once the failed or unfinished copy is dealt with.
        """
        seen: list[AzureCopy] = []

        def status() -> str | None:
            seen.append(self._copy_state(final))
            return seen[-1].status

        try:
            wait_for_copy(status, final, timeout=self.copy_timeout)
        except StorageError:
            if not seen or (seen[-1].status not in (None, "success") and not self._drop_copy(final, seen[-1])):
                self._copy_sources.add(tmp)
            raise

    def _drop_copy(self, final: str, copy: AzureCopy) -> bool:
        """Take a copy that failed, was aborted or is still pending off its content address ``final``.

        ``final`` would otherwise pass for the stored blob (`exists`), and uploads of the
        same content would reuse it. A pending copy is aborted first, by its id (Azure
        refuses another copy's id, or a copy that has ended), then looked at again. The
        blob is deleted only while it still is that copy, failed or aborted, with the etag
        it had then: a good blob that a concurrent upload of the same content put there
        since stays. Errors are swallowed: the move is failing with its own StorageError.

        Returns:
            Whether the copy is over (False: it may still be running, and needs its source).
        """
        with contextlib.suppress(StorageError):
            if copy.status == "pending":
                if copy.copy_id is not None:
                    with contextlib.suppress(StorageError):  # refused if it ended meanwhile: see below
                        self._abort_copy(final, copy.copy_id)
                now = self._copy_state(final)
                if now.copy_id != copy.copy_id:
                    return True  # another write replaced it
                copy = now
            if copy.status in ("failed", "aborted"):
                azure_delete_unchanged(self.fs, final, copy.etag)
                self.fs.invalidate_cache(final)
        return copy.status != "pending"

    def _discard(self, path: str) -> None:
        if path in self._copy_sources:  # the source of a copy that may still be running: gc takes it later
            self._copy_sources.discard(path)
            return
        super()._discard(path)

    def _copy_state(self, path: str) -> AzureCopy:
        """What Azure says of the last copy into a blob (`azure_copy`)."""
        return azure_copy(self.fs, path)

    def _abort_copy(self, path: str, copy_id: str) -> None:
        """Abort the pending copy ``copy_id`` into a blob (`azure_abort_copy`)."""
        azure_abort_copy(self.fs, path, copy_id)

    def _open_blob(self, path: str, block_size: int) -> Any:
        # Read-ahead in blocks of ``block_size`` whatever the caller's chunks: gcsfs's default
        # (adaptive) cache sends one ranged GET per read, 300 of them for a 300 kB blob in 1 kB chunks.
        return self.fs.open(path, "rb", block_size=block_size, cache_type="readahead")

    def _open_chunked(self, path: str, chunk_size: int) -> Any:
        # A ranged GET per chunk, no read-ahead past the range.
        return self.fs.open(path, "rb", block_size=chunk_size, cache_type="none")


@dataclass(frozen=True)
class AzureCopy:
    """What an Azure blob's properties say of the last copy into it (`azure_copy`).

    Attributes:
        status: ``pending``, ``success``, ``aborted``, ``failed``; None when the blob was
            written otherwise (a PUT carries no copy status).
        copy_id: the copy's id (what `azure_abort_copy` takes); None with no copy.
        etag: the blob's etag when asked (what `azure_delete_unchanged` takes).
    """

    status: str | None
    copy_id: str | None
    etag: str


def _on_blob(fs: Any, path: str, doing: str, act: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``act`` on the azure-storage-blob client of blob ``path`` of adlfs filesystem ``fs``.

    Raises:
        StorageError: the blob is missing, or Azure refused (the message starts with ``doing``).
    """
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    container, blob, _version = fs.split_path(path)

    async def run() -> T:
        return await act(fs.service_client.get_blob_client(container, blob))

    try:
        return sync(fs.loop, run)
    except ResourceNotFoundError as exc:
        raise StorageError(f"{doing} {path}: not found") from exc
    except AzureError as exc:
        raise StorageError(f"{doing} {path}: {exc}") from exc


def azure_copy(fs: Any, path: str) -> AzureCopy:
    """What Azure says of the last copy into blob ``path`` (its properties: adlfs's listings lack them).

    ``fs`` is an adlfs filesystem.

    Raises:
        StorageError: the blob is missing, or Azure could not be asked.

    Example:
        ```python
        azure_copy(fs, "container/artifacts/sha256/ab/ab12…").status  # "success"
        ```
    """

    async def read(client: Any) -> AzureCopy:
        properties = await client.get_blob_properties()
        return AzureCopy(properties.copy.status, properties.copy.id, properties.etag)

    return _on_blob(fs, path, "checking the copy into", read)


def azure_copy_status(fs: Any, path: str) -> str | None:
    """What Azure says of the last copy into blob ``path``: ``pending``, ``success``, ``aborted``, ``failed``.

    None when the blob was written otherwise (a PUT carries no copy status). See `azure_copy`.

    Raises:
        StorageError: the blob is missing, or Azure could not be asked.

    Example:
        ```python
        azure_copy_status(fs, "container/artifacts/sha256/ab/ab12…")  # "success"
        ```
    """
    return azure_copy(fs, path).status


def azure_abort_copy(fs: Any, path: str, copy_id: str) -> None:
    """Abort Azure's pending copy ``copy_id`` into blob ``path`` (its destination stays, ``aborted``).

    Raises:
        StorageError: the blob is missing, or Azure refused: ``CopyIdMismatch`` (another copy
            replaced it), ``NoPendingCopyOperation`` (the copy has ended).

    Example:
        ```python
        azure_abort_copy(fs, final, azure_copy(fs, final).copy_id)
        ```
    """

    async def abort(client: Any) -> None:
        await client.abort_copy(copy_id)

    _on_blob(fs, path, "aborting the copy into", abort)


def azure_delete_unchanged(fs: Any, path: str, etag: str) -> bool:
    """Delete blob ``path`` only while its etag is ``etag``; whether it was deleted.

    False when the blob is gone or was written again since (Azure checks the etag).

    Raises:
        StorageError: Azure refused otherwise.

    Example:
        ```python
        seen = azure_copy(fs, final)
        if seen.status == "failed":
            azure_delete_unchanged(fs, final, seen.etag)
        ```
    """
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

    async def delete(client: Any) -> bool:
        try:
            await client.delete_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    return _on_blob(fs, path, "deleting", delete)


def wait_for_copy(status: Callable[[], str | None], key: str, *, timeout: float = COPY_TIMEOUT,
                  sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
    """Return once a server-side copy into ``key`` has succeeded; ``status()`` says how it is going.

    ``status`` answers as `azure_copy_status` does (None: the destination was not copied,
    so it is whole). It is asked again while the copy is ``pending``, after pauses doubling
    from `COPY_POLL_FIRST` to `COPY_POLL_MAX` seconds, for ``timeout`` seconds at most.

    Raises:
        StorageError: the copy failed or was aborted, or is still pending after ``timeout``
            seconds (the message names ``key`` and the status).

    Example:
        ```python
        fs.cp_file(tmp, final)
        wait_for_copy(lambda: azure_copy_status(fs, final), final)
        fs.rm_file(tmp)
        ```
    """
    deadline = clock() + timeout
    pause = COPY_POLL_FIRST
    while True:
        state = status()
        if state in (None, "success"):
            return
        if state != "pending":
            raise StorageError(f"copying into {key}: copy status {state!r}")
        left = deadline - clock()
        if left <= 0:
            raise StorageError(f"copying into {key}: copy status 'pending' after {timeout:g} s")
        sleep(min(pause, left))
        pause = min(2 * pause, COPY_POLL_MAX)


class S3ContentStore(PresignedS3, ObjectContentStore):
    """Blobs named by their SHA-256 on S3 (or an S3-compatible store), via s3fs; signs URLs (`PresignedS3`).

    Example:
        ```python
        store = ContentStore("s3://bucket/artifacts", {"endpoint_url": "http://minio:9000"})
        ```
    """

    @classmethod
    def serves(cls, fs: Any) -> bool:
        """Whether ``fs`` is s3fs."""
        return bool(S3_PROTOCOLS & _protocols(fs))

    def iter_unfinished_uploads(self) -> Iterator[tuple[str, str, float]]:
        """Yield (key, upload id, start time) of multipart uploads left under the store's prefix.

        A writer that died mid-way through a large object (a ``tmp/`` write, or a client
        uploading straight to its blob's key) leaves its parts on S3, invisible to
        listings and billed until aborted.
        """
        bucket, _, prefix = f"{self.root}/".partition("/")
        markers: dict[str, str] = {}
        while True:
            with storage_errors("listing unfinished uploads"):
                page = self.fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix, **markers)
            for upload in page.get("Uploads", []):
                yield upload["Key"], upload["UploadId"], mtime_of({"created": upload.get("Initiated")})
            if not page.get("IsTruncated"):
                return
            markers = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}

    def upload_size(self, key: str, upload_id: str) -> int:
        """Bytes the parts of an unfinished multipart upload hold."""
        bucket = self.root.partition("/")[0]
        total, marker = 0, 0
        while True:
            with storage_errors(f"listing the parts of upload {key}"):
                page = self.fs.call_s3("list_parts", Bucket=bucket, Key=key, UploadId=upload_id,
                                       PartNumberMarker=marker)
            total += sum(int(part.get("Size") or 0) for part in page.get("Parts", []))
            if not page.get("IsTruncated"):
                return total
            marker = int(page["NextPartNumberMarker"])

    def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort one unfinished multipart upload (its parts are deleted)."""
        bucket = self.root.partition("/")[0]
        with storage_errors(f"aborting upload {key}"):
            self.fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
