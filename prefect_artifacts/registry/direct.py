"""Direct transfers: who gets a presigned URL, and how an upload through one is checked.

A client of a server whose content store signs URLs (S3, `storage.presigned`) moves a
large file's bytes to and from the bucket itself; the server only signs and checks.

**Uploads** (`offer_upload`, then `finish_upload` once the client's PUT is done):

- An offer is made only to a caller who may write. The digest is reserved in the
  catalog (`AuthCatalog.hold_blob`) *before* the URL is signed, so garbage collection
  on any replica keeps the blob while the client uploads.
- Where the store checks the signed SHA-256 (S3; probed once, or the
  ``presign_store_checks`` setting) the PUT goes to the blob's own key: the store keeps
  the body only if it hashes to the digest, so even a blob stored already can be sent
  again (same bytes) and that proves the caller holds them. `finish_upload` HEADs the
  object: its size, its stored SHA-256 checksum, and the signed metadata saying who
  uploaded it for which digest, before the URL expired.
- A store that refuses the signed checksum itself (the probe's PUT gets a 4xx other than
  ``BadDigest``, say ``InvalidArgument`` from a store without SHA-256 checksums) would
  refuse every upload URL: it gets none, and clients send through the server.
- Where the store does not check (moto, some S3-compatible stores) the PUT goes to
  ``tmp/<upload id>.part``; `finish_upload` checks the same facts, then reads the object
  and hashes it (bounded chunks) before moving it into place (or dropping it, when the
  blob is stored already); a mismatch deletes it. That one read also computes the blob's
  chunk index, stored next to it as the other write paths do (on a checking store the
  server reads no byte: the first verified range read builds the index).
- A blob larger than ``presign_multipart_bytes`` (default 5 GiB, S3's largest PUT) is
  sent in parts (``presign_part_bytes``) to a temp key, in parallel, over one presigned
  URL per part. S3 checks no whole-object SHA-256 of a multipart upload, so the server
  completes it, then hashes it like any temp key. Its URLs live longer (10 MiB/s at
  least), but not past garbage collection's grace period (``gc_grace_seconds``), after
  which gc aborts a multipart upload: each part must start before they expire.

Only then is the upload recorded as the caller's (`AuthCatalog.record_upload`, the
possession rule of `LocalRegistry.usable_blob`), so no artifact can reference content
that was not verified.

**Downloads** (`download_request`): a presigned GET of a blob the caller can read (the
caller got it from `LocalRegistry.locate_file`); the client verifies the SHA-256 of what
it streams. Content smaller than ``presign_min_bytes`` goes through the server.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prefect_artifacts._ids import new_uuid
from prefect_artifacts.errors import ArtifactIntegrityError, InvalidArtifactInput, PayloadTooLarge
from prefect_artifacts.storage.base import check_digest
from prefect_artifacts.storage.content_store import BlobInfo, ContentStore
from prefect_artifacts.storage.hashing import ChunkedSha256
from prefect_artifacts.storage.presigned import (
    META_DIGEST,
    META_EXPIRES,
    META_UPLOADER,
    PresignedS3,
    SignedRequest,
    checksum_b64,
)

if TYPE_CHECKING:
    from prefect_artifacts.registry.local import LocalRegistry

#: The upload id of a PUT straight to the blob's key (other ids name a temp key).
FINAL = "final"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
#: Tolerated difference between this server's clock and the store's.
CLOCK_SKEW = 60
#: Parts of one multipart upload at most (S3 allows 10,000; each URL costs the server ~0.3 ms
#: to sign, so larger parts rather than more URLs), S3's largest object, the life of a SigV4 URL.
MAX_PARTS, MAX_OBJECT, MAX_EXPIRY = 2_000, 5 << 40, 7 * 86400
#: The slowest transfer a multipart upload's URLs allow for (bytes per second).
SLOWEST = 10 << 20


@dataclass(frozen=True)
class UploadOffer:
    """The answer to a request for a presigned upload.

    Attributes:
        request: the PUT to send (None: send the bytes through the server, or in ``parts``).
        upload: the id to give back to `finish_upload` (``"final"`` or a temp key's id).
        parts: a multipart upload's presigned PUT URLs, part 1 first (each ``part_size``
            bytes, the last the rest).
        part_size: bytes per part.
        multipart: S3's id of the multipart upload (give it back with the parts' ETags).
        expires_in: seconds the URLs stay valid.
        reason: why there is no ``request``.
        permanent: no offer will ever be made for this store (clients stop asking).
        min_bytes: smaller content is never offered a URL (clients need not ask).

    Example:
        ```python
        offer = reg.offer_direct_upload(digest, size)
        if offer.request is None:
            send_through_the_server()
        ```
    """

    request: SignedRequest | None
    upload: str | None = None
    reason: str | None = None
    permanent: bool = False
    min_bytes: int = 0
    parts: tuple[str, ...] = ()
    part_size: int = 0
    multipart: str | None = None
    expires_in: int = 0


def uploader_tag(uploader: str) -> str:
    """The caller's id as it is signed into an upload's metadata (ASCII, fixed length).

    Example:
        ```python
        uploader_tag(principal.uploader)  # "3f2a…" (32 hex digits)
        ```
    """
    return hashlib.sha256(uploader.encode()).hexdigest()[:32]


def _caller_tag(reg: LocalRegistry) -> str:
    return uploader_tag(reg.principal.uploader if reg.principal is not None else "~")


def _presigner(reg: LocalRegistry, store: ContentStore) -> PresignedS3 | None:
    """The store, if it signs URLs and the server offers them (the ``presign_urls`` setting)."""
    return store if reg.settings.presign_urls and isinstance(store, PresignedS3) else None


def _store_checks(reg: LocalRegistry, store: PresignedS3) -> bool | None:
    """Whether the store checks signed SHA-256s (the setting, else the probe); None: it refuses them."""
    forced = reg.settings.presign_store_checks
    return store.checksum_enforced() if forced is None else forced


def offer_upload(reg: LocalRegistry, digest: str, size: int, storage: str | None = None,
                 max_size: int | None = None) -> UploadOffer:
    """A presigned PUT of blob ``digest`` (``size`` bytes) for the caller, or why not.

    Raises:
        InvalidArtifactInput: a malformed digest, a negative size, an unknown storage.
        PayloadTooLarge: ``size`` is over ``max_size`` (the server's blob limit).
        PermissionDenied: the caller may not write to any group.

    Example:
        ```python
        offer = offer_upload(reg, digest, 10 << 20)
        ```
    """
    check_digest(digest)
    if not isinstance(size, int) or size < 0:
        raise InvalidArtifactInput(f"invalid size {size!r}: give the blob's size in bytes")
    if max_size is not None and size > max_size:
        raise PayloadTooLarge(f"blob of {size} bytes is over the limit of {max_size} bytes")
    if size > MAX_OBJECT:
        raise PayloadTooLarge(f"blob of {size} bytes is over S3's limit of {MAX_OBJECT} bytes per object")
    reg._check_uploader()
    settings = reg.settings
    store = _presigner(reg, reg._named_store(storage))
    if store is None:
        return UploadOffer(None, reason="this server's store does not take presigned uploads", permanent=True)
    floor = settings.presign_min_bytes
    if size < floor:
        return UploadOffer(None, reason=f"content under {floor} bytes goes through the server", min_bytes=floor)
    multipart = size > settings.presign_multipart_bytes
    verdict = _store_checks(reg, store)
    if verdict is None:
        return UploadOffer(None, reason="this server's store refuses signed SHA-256 checksums", permanent=True)
    checks = verdict and not multipart
    reg._access.hold_blob(digest)  # before the URL exists: gc on any replica keeps the blob meanwhile
    expiry = settings.presign_expiry_seconds
    upload = FINAL if checks else new_uuid().hex
    path = store.blob_path(digest) if checks else _temp_key(store, upload)
    if multipart:  # longer, but within gc's grace: gc aborts multipart uploads older than that
        expiry = min(MAX_EXPIRY, max(expiry, min(int(settings.gc_grace_seconds), expiry + size // SLOWEST)))
    metadata = {META_UPLOADER: _caller_tag(reg), META_DIGEST: digest, META_EXPIRES: str(int(time.time()) + expiry)}
    if not multipart:
        return UploadOffer(store.presign_put(path, digest, metadata, expiry), upload, min_bytes=floor,
                           expires_in=expiry)
    part = max(settings.presign_part_bytes, -(-size // MAX_PARTS))
    upload_id, urls = store.start_parts(path, metadata, -(-size // part), expiry)
    return UploadOffer(None, upload, min_bytes=floor, parts=tuple(urls), part_size=part, multipart=upload_id,
                       expires_in=expiry)


def _temp_key(store: PresignedS3, upload: str) -> str:
    return f"{store.root}/tmp/{upload}.part"


def finish_upload(reg: LocalRegistry, digest: str, size: int, upload: str, storage: str | None = None,
                  multipart: str | None = None, etags: list[str] | None = None) -> BlobInfo:
    """Check a presigned upload and record the blob as the caller's; refused (temp copy deleted) when wrong.

    A multipart upload (``multipart``: S3's id of it, ``etags``: its parts' in order) is
    completed first. Idempotent: once the upload counted (or when the caller could use the
    blob anyway) it answers the blob's size again, and a temp copy is dropped.

    Raises:
        ArtifactIntegrityError: no such upload arrived, it is someone else's, it arrived
            after its URL expired, or its size or content does not match ``digest``.
        InvalidArtifactInput: a malformed digest or upload id, or a store without presigned uploads.
        PermissionDenied: the caller may not write to any group.

    Example:
        ```python
        info = finish_upload(reg, digest, size, offer.upload)
        ```
    """
    check_digest(digest)
    reg._check_uploader()
    store = _presigner(reg, reg._named_store(storage))
    verdict = None if store is None else _store_checks(reg, store)
    if store is None or verdict is None:
        raise InvalidArtifactInput("this server's store does not take presigned uploads")
    checks = verdict and multipart is None
    if upload == FINAL and checks:
        path = store.blob_path(digest)
    elif upload != FINAL and not checks and isinstance(upload, str) and _UPLOAD_ID.match(upload):
        path = _temp_key(store, upload)
    else:
        raise InvalidArtifactInput(f"no presigned upload {str(upload)[:40]!r} of {digest} was offered here")
    usable = reg.usable_blob(digest, storage)
    if usable is not None:  # a retry after the check counted, or content the caller holds already
        if path != store.blob_path(digest):
            store._discard(path)
        return BlobInfo(digest, usable, written=False)
    if multipart is not None:
        store.complete_parts(path, multipart, list(etags or ()))
    facts = store.object_facts(path)
    if facts is None:
        raise ArtifactIntegrityError(f"no upload of {digest} arrived at the store")
    meta = facts.metadata
    if meta.get(META_UPLOADER) != _caller_tag(reg) or meta.get(META_DIGEST) != digest:
        raise ArtifactIntegrityError(f"the stored object is not your upload of {digest}")
    hasher: ChunkedSha256 | None = None  # the chunk index, when the server reads the bytes
    try:
        deadline = int(meta.get(META_EXPIRES, "0"))
        late = facts.modified is not None and facts.modified.timestamp() > deadline + CLOCK_SKEW
        if late:
            raise ArtifactIntegrityError(f"the upload of {digest} arrived after its URL expired")
        if facts.size != size:
            raise ArtifactIntegrityError(f"the upload of {digest} holds {facts.size} bytes, not {size}")
        if checks:
            if facts.sha256 != checksum_b64(digest):
                raise ArtifactIntegrityError(f"the store holds no verified SHA-256 {digest} for the upload")
            # The store checked the SHA-256 and the server never reads these bytes: the chunk
            # index stays lazy (the first verified range read builds it from one full read).
            written = True
        else:
            written, hasher = _hash_and_commit(reg, store, path, digest)
    except BaseException:
        if not checks:
            store._discard(path)  # the temp copy: never the blob's own key
        raise
    reg._record_upload(digest)
    if hasher is not None:  # after the record: a failure here cannot undo an upload that counted
        store._keep_index(hasher)
    return BlobInfo(digest, size, written=written)


def _hash_and_commit(reg: LocalRegistry, store: PresignedS3, path: str, digest: str) -> tuple[bool, ChunkedSha256]:
    """Hash a temp upload, then move it into place (or drop it: stored already); whether moved, and the hasher.

    The hasher holds the chunk index: the server reads these bytes once, here, so that
    pass computes it too and no range read has to read the whole blob again for it.
    """
    hasher = ChunkedSha256(store.index_chunk_size)
    if store.hash_object(path, hasher) != digest:
        raise ArtifactIntegrityError(f"the uploaded content does not hash to {digest}")
    return store._commit_temp(path, digest, reg.settings.durable), hasher


def download_request(reg: LocalRegistry, digest: str, size: int, storage_id: str | None) -> SignedRequest | None:
    """A presigned GET of a blob the caller can read (found by `LocalRegistry.locate_file`), or None.

    None when the server does not presign (setting, store) or the content is small.

    Example:
        ```python
        art, meta, digest = reg.locate_file(ref)
        request = download_request(reg, digest, meta.size or 0, art.storage_id)
        ```
    """
    settings = reg.settings
    if not settings.presign_urls or size < settings.presign_min_bytes:
        return None
    store = _presigner(reg, reg._store_of(digest, storage_id))
    if store is None:
        return None
    return store.presign_get(digest, settings.presign_expiry_seconds)

