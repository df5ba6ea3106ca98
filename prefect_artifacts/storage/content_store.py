"""Content-addressed blob store over any fsspec filesystem: the public names.

``ContentStore(url)`` builds the store for the URL's medium; the code lives in

- `base`: the contract every store keeps — the layout (``sha256/ab/<digest>``, its
  ``.chunks`` index sidecar, ``tmp/<uuid>.part``, ``leases/<digest>``), hashing,
  deduplication, chunk indexes and verified (range) reads;
- `local`: `LocalContentStore`, a local disk written with system calls (fsync,
  writeback, renaming adopted files into place);
- `fsspec_store`: `FsspecContentStore` for other fsspec filesystems (``memory://``…),
  with leases instead of mtimes, and `ObjectContentStore` / `S3ContentStore` for
  object stores (one-PUT writes, multipart upload clean-up).

Example:
    ```python
    from prefect_artifacts.storage.content_store import ContentStore

    store = ContentStore("memory://blobs")
    digest = store.put_bytes(b"hello").digest
    ```
"""

from __future__ import annotations

from prefect_artifacts.storage.base import (
    INDEX_CACHE_BYTES,
    INDEX_SUFFIX,
    SMALL_FILE,
    BlobInfo,
    ContentStore,
    check_digest,
    open_filesystem,
    storage_errors,
    store_class,
)
from prefect_artifacts.storage.fsspec_store import FsspecContentStore, ObjectContentStore, S3ContentStore
from prefect_artifacts.storage.local import LocalContentStore

__all__ = [
    "INDEX_CACHE_BYTES",
    "INDEX_SUFFIX",
    "SMALL_FILE",
    "BlobInfo",
    "ContentStore",
    "FsspecContentStore",
    "LocalContentStore",
    "ObjectContentStore",
    "S3ContentStore",
    "check_digest",
    "open_filesystem",
    "storage_errors",
    "store_class",
]
