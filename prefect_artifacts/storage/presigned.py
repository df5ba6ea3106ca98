"""Presigned S3 URLs: clients move a blob's bytes to and from the bucket themselves.

`PresignedS3` (mixed into `S3ContentStore`) signs the requests; the rules about who may
get one and how an upload is checked afterwards are the registry's
(`registry/direct.py`). What a signed upload commits the client to:

- ``x-amz-checksum-sha256`` (the base64 of the blob's SHA-256) is signed into the URL, so
  the client must send it, and a store that checks it (S3 does) stores the object only
  if the whole body hashes to it: a single PUT is verified by the store itself. Whether
  the store really does is probed once per store (`checksum_enforced`: a PUT whose body
  does not match its checksum must be refused); one that does not (moto, some
  S3-compatible stores) gets uploads to a temp key that the server hashes itself, and one
  that refuses the signed checksum itself (a store without SHA-256 checksums) gets none.
- ``x-amz-meta-pa-uploader``/``-pa-digest``/``-pa-expires`` are signed in too: a HEAD of
  the object afterwards says who uploaded it, for which digest and until when the URL
  was valid, so no one can claim someone else's upload (`ObjectFacts`).

URLs are signed with SigV4 (a sibling s3fs filesystem with ``signature_version="s3v4"``
when the store's own is not): the signed headers are then headers the client must
send, not query parameters. URLs and keys are never logged.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fsspec.asyn import sync

from prefect_artifacts._ids import new_uuid
from prefect_artifacts.errors import ArtifactIntegrityError, BlobNotFound, StorageError
from prefect_artifacts.storage.base import storage_errors
from prefect_artifacts.storage.hashing import ChunkedSha256, copy_chunks_hashing

#: The metadata signed into an upload URL (sent back by the client as ``x-amz-meta-…``).
META_UPLOADER, META_DIGEST, META_EXPIRES = "pa-uploader", "pa-digest", "pa-expires"


#: S3's error codes for a body that does not match its signed checksum.
CHECKSUM_MISMATCH_CODES = ("BadDigest", "XAmzContentChecksumMismatch")


def checksum_b64(digest: str) -> str:
    """The base64 SHA-256 S3 checks (``x-amz-checksum-sha256``) of a hex digest.

    Example:
        ```python
        checksum_b64("e3b0c442…")  # "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        ```
    """
    return base64.b64encode(bytes.fromhex(digest)).decode()


@dataclass(frozen=True)
class SignedRequest:
    """One presigned request: the client sends it as is (method, URL, every header).

    Attributes:
        method: ``PUT`` or ``GET``.
        url: the presigned URL (a secret until it expires: never logged).
        headers: headers the client must send (they are signed).

    Example:
        ```python
        httpx.request(req.method, req.url, headers=req.headers, content=body)
        ```
    """

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectFacts:
    """What a HEAD of an uploaded object says (``None`` where the store says nothing).

    Example:
        ```python
        facts = store.object_facts(key)
        facts.sha256 == checksum_b64(digest)
        ```
    """

    size: int
    sha256: str | None
    metadata: dict[str, str]
    modified: datetime | None


class PresignedS3:
    """Presigned uploads and downloads of an `S3ContentStore` (a mixin: needs ``fs``, ``root``, ``blob_path``).

    Example:
        ```python
        req = store.presign_put(store.blob_path(digest), digest, {"pa-uploader": "u1"}, 600)
        ```
    """

    fs: Any
    root: str
    _probed: bool = False
    _verdict: bool | None = None  # `checksum_enforced`'s answer, once probed
    _signer: Any = None
    # the store's own, used here and by `registry.direct`
    blob_path: Callable[[str], str]
    exists: Callable[[str], bool]
    index_chunk_size: int
    _commit_temp: Callable[[str, str, bool], bool]
    _discard: Callable[[str], None]
    _keep_index: Callable[[ChunkedSha256], None]

    def _signing_fs(self) -> Any:
        """The s3fs filesystem that signs: the store's own if it signs SigV4, else a sibling that does."""
        if self._signer is None:
            fs = self.fs
            config = dict(getattr(fs, "config_kwargs", None) or {})
            if config.get("signature_version") != "s3v4":
                options = {**getattr(fs, "storage_options", {}), "skip_instance_cache": True,
                           "config_kwargs": {**config, "signature_version": "s3v4"}}
                fs = type(fs)(**options)
            self._signer = fs
        return self._signer

    def _presign(self, method: str, params: dict[str, Any], expires: int) -> str:
        fs = self._signing_fs()

        async def sign() -> str:
            await fs.set_session()
            return str(await fs.s3.generate_presigned_url(ClientMethod=method, Params=params, ExpiresIn=expires))

        with storage_errors("signing a URL"):
            return str(sync(fs.loop, sign))

    def _bucket_key(self, path: str) -> tuple[str, str]:
        bucket, _, key = path.partition("/")
        return bucket, key

    def presign_put(self, path: str, digest: str, metadata: dict[str, str], expires: int) -> SignedRequest:
        """A PUT of ``digest``'s bytes to ``path`` that carries its SHA-256 and ``metadata``, signed.

        Example:
            ```python
            req = store.presign_put(store.blob_path(digest), digest, {"pa-uploader": "u1"}, 600)
            ```
        """
        bucket, key = self._bucket_key(path)
        checksum = checksum_b64(digest)
        url = self._presign("put_object", {"Bucket": bucket, "Key": key, "ChecksumSHA256": checksum,
                                           "ChecksumAlgorithm": "SHA256", "Metadata": metadata}, expires)
        headers = {"x-amz-checksum-sha256": checksum, "x-amz-sdk-checksum-algorithm": "SHA256",
                   **{f"x-amz-meta-{k}": v for k, v in metadata.items()}}
        return SignedRequest("PUT", url, headers)

    def start_parts(self, path: str, metadata: dict[str, str], parts: int, expires: int) -> tuple[str, list[str]]:
        """Start a multipart upload to ``path`` (with ``metadata``) and sign a PUT URL for each of its ``parts``.

        Returns S3's upload id and the URLs of parts 1 to ``parts``. S3 checks no whole-object
        SHA-256 of a multipart upload: whoever completes it must hash the object.

        Example:
            ```python
            upload_id, urls = store.start_parts(temp_key, {"pa-uploader": "u1"}, 3, 600)
            ```
        """
        bucket, key = self._bucket_key(path)
        with storage_errors("starting a multipart upload"):
            started = self.fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key, Metadata=metadata,
                                      ContentType="application/octet-stream")
        upload_id = str(started["UploadId"])
        urls = [self._presign("upload_part", {"Bucket": bucket, "Key": key, "UploadId": upload_id,
                                              "PartNumber": number}, expires) for number in range(1, parts + 1)]
        return upload_id, urls

    def complete_parts(self, path: str, upload_id: str, etags: list[str]) -> None:
        """Assemble the parts of a multipart upload (ETags in part order); aborted if S3 refuses.

        Raises:
            ArtifactIntegrityError: S3 refused the parts (missing, too small, wrong ETags).

        Example:
            ```python
            store.complete_parts(temp_key, upload_id, etags)
            ```
        """
        bucket, key = self._bucket_key(path)
        parts = [{"PartNumber": number, "ETag": etag} for number, etag in enumerate(etags, 1)]
        try:
            self.fs.call_s3("complete_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id,
                            MultipartUpload={"Parts": parts})
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
            code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code") or type(exc).__name__
            raise ArtifactIntegrityError(f"the store refused to assemble the uploaded parts ({code})") from exc

    def presign_get(self, digest: str, expires: int) -> SignedRequest:
        """A GET of blob ``digest``, signed for ``expires`` seconds.

        Example:
            ```python
            httpx.get(store.presign_get(digest, 600).url)
            ```
        """
        bucket, key = self._bucket_key(self.blob_path(digest))
        return SignedRequest("GET", self._presign("get_object", {"Bucket": bucket, "Key": key}, expires))

    def object_facts(self, path: str) -> ObjectFacts | None:
        """Size, stored SHA-256 checksum and metadata of the object at ``path`` (None: no such object).

        Example:
            ```python
            facts = store.object_facts(store.blob_path(digest))
            ```
        """
        bucket, key = self._bucket_key(path)
        try:
            with storage_errors("inspecting an uploaded object"):
                head = self.fs.call_s3("head_object", Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        except BlobNotFound:
            return None
        meta = {str(k).lower(): str(v) for k, v in (head.get("Metadata") or {}).items()}
        return ObjectFacts(int(head.get("ContentLength") or 0), head.get("ChecksumSHA256"), meta,
                           head.get("LastModified"))

    def checksum_enforced(self) -> bool | None:
        """Whether the store refuses a PUT whose body does not match its ``x-amz-checksum-sha256``.

        Probed once per store, as clients upload: one presigned PUT of a few bytes under
        ``tmp/`` whose signed checksum is another content's. One request, not retried:
        botocore retries BadDigest, which had made the first upload to a real S3 wait ~9 s.

        Returns:
            True: S3's answer, ``400 BadDigest`` (nothing kept). False: the store kept a
            body it did not check (the object is removed again). None: the store refused
            the request otherwise (a 4xx such as ``InvalidArgument``, or ``501``: it does not
            take a signed SHA-256, so it would refuse every upload URL too).

        Raises:
            StorageError: no verdict (a 5xx, or the store could not be reached); the next
                call probes again, as a verdict taken from a blip would last the process.

        Example:
            ```python
            store.checksum_enforced()  # True on S3 (and LocalStack), False on moto
            ```
        """
        if not self._probed:
            import httpx  # here: a CLI command on an embedded registry never loads it (start-up time)

            path = f"{self.root}/tmp/checksum-probe-{new_uuid().hex}.part"
            signed = self.presign_put(path, hashlib.sha256(b"").hexdigest(), {}, 60)
            try:
                response = httpx.put(signed.url, content=b"probe", headers=signed.headers, timeout=30.0)
            except httpx.HTTPError as exc:  # no URL in the message: it is a credential until it expires
                raise StorageError(f"probing the store's checksum check failed: {type(exc).__name__}") from exc
            status = response.status_code
            if status == 200:
                self._discard(path)
                self._verdict = False
            elif any(f"<Code>{code}</Code>".encode() in response.content for code in CHECKSUM_MISMATCH_CODES):
                self._verdict = True
            elif not (400 <= status < 500 or status == 501):  # refused otherwise: e.g. InvalidArgument, 501
                raise StorageError(f"probing the store's checksum check: HTTP {status}")
            self._probed = True
        return self._verdict

    def hash_object(self, path: str, hasher: ChunkedSha256 | None = None) -> str:
        """The SHA-256 of the object at ``path``, streamed in bounded chunks (the server's own check).

        One presigned GET read to the end (hashed on a second core): one request, where
        fsspec's reader would send a ranged GET per block. A ``hasher`` (`ChunkedSha256`)
        hashes instead of a plain SHA-256, so the same pass gives the object's chunk index.

        Raises:
            BlobNotFound: there is no such object.
            StorageError: the store could not be read.

        Example:
            ```python
            store.hash_object(temp_key) == digest
            hasher = ChunkedSha256(store.index_chunk_size)
            store.hash_object(temp_key, hasher)  # hasher.values(): the chunk index
            ```
        """
        import httpx  # here: a CLI command on an embedded registry never loads it (start-up time)

        bucket, key = self._bucket_key(path)
        url = self._presign("get_object", {"Bucket": bucket, "Key": key}, 300)
        try:
            with httpx.stream("GET", url, timeout=httpx.Timeout(300.0, connect=10.0)) as response:
                if response.status_code == 404:
                    raise BlobNotFound("the uploaded object is gone")
                if response.status_code != 200:
                    raise StorageError(f"reading an uploaded object: HTTP {response.status_code}")
                return copy_chunks_hashing(response.iter_bytes(1 << 20), lambda _batch: None, hasher=hasher)[0]
        except httpx.HTTPError as exc:  # no URL in the message: it is a credential until it expires
            raise StorageError(f"reading an uploaded object failed: {type(exc).__name__}") from exc
