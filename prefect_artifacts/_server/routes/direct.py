"""Direct upload routes: presigned PUTs to the content store, then the server's check.

``POST /blobs/{digest}/upload-url`` signs a PUT (or says why the bytes must go through
``PUT /blobs/{digest}``); ``POST /blobs/{digest}/uploaded`` checks what arrived and makes
the blob the caller's. The rules are `LocalRegistry.offer_direct_upload` and
`finish_direct_upload` (`registry/direct.py`). Direct downloads are an answer of
``GET /artifacts/{id}/contents`` (see the content routes). URLs are never logged.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from prefect_artifacts._server.auth import current_principal
from prefect_artifacts._server.schemas import BlobStored, _Body
from prefect_artifacts._server.state import ServerState, dump, server_state
from prefect_artifacts.catalog.auth import Principal

router = APIRouter(tags=["content"])
Caller = Depends(current_principal)
State = Depends(server_state)


class UploadUrlRequest(_Body):
    """A request for a presigned upload of one blob.

    Example:
        ```python
        {"size": 1073741824}
        ```
    """

    size: int = Field(ge=0, le=2**62, description="The blob's size in bytes.")


class UploadUrl(_Body):
    """A presigned upload (``url`` set: PUT the bytes there with every header) or why there is none.

    Example:
        ```python
        {"url": "https://bucket.s3…", "method": "PUT", "headers": {"x-amz-checksum-sha256": "…"},
         "upload": "final", "expiresIn": 900, "minBytes": 4194304}
        ```
    """

    url: str | None = None
    method: str = "PUT"
    headers: dict[str, str] = Field(default_factory=dict)
    upload: str | None = Field(None, description="Give it back to POST …/uploaded.")
    expires_in: int | None = None
    reason: str | None = Field(None, description="Why there is no URL: send the bytes with PUT /blobs/{digest}.")
    permanent: bool = Field(False, description="No URL will be offered for this store: stop asking.")
    min_bytes: int = Field(0, description="Smaller blobs are never offered a URL.")
    parts: list[str] = Field(default_factory=list,
                             description="A multipart upload: PUT part n (partSize bytes, the last the rest) to"
                             " parts[n-1], then give the ETags back in order.")
    part_size: int | None = None
    multipart: str | None = Field(None, description="The multipart upload's id: give it back with the ETags.")


class DirectDownload(_Body):
    """A presigned GET of a whole stored file (``303`` of ``GET …/contents``); verify ``checksum``.

    Example:
        ```python
        {"url": "https://bucket.s3…", "checksum": "ab…", "size": 1073741824}
        ```
    """

    url: str
    checksum: str = Field(description="The SHA-256 the content must hash to.")
    size: int


class UploadedRequest(_Body):
    """The end of a presigned upload: what was sent, under which upload id.

    Example:
        ```python
        {"size": 1073741824, "upload": "final"}
        ```
    """

    size: int = Field(ge=0, le=2**62)
    upload: str = Field(min_length=1, max_length=64)
    multipart: str | None = Field(None, min_length=1, max_length=1024, description="A multipart upload's id.")
    etags: list[Annotated[str, Field(max_length=256)]] = Field(
        default_factory=list, max_length=10_000, description="Its parts' ETags, part 1 first.")


@router.post("/blobs/{digest}/upload-url", response_model=UploadUrl)
async def upload_url(
    digest: str, body: UploadUrlRequest, storage: str | None = Query(None, max_length=64),
    principal: Principal = Caller, state: ServerState = State,
) -> Response:
    """A presigned PUT of the blob straight to the content store, when the store signs URLs.

    The URL makes the store check the body's SHA-256 (or the bytes go to a temp key the
    server hashes, on a store that does not check); it is offered only to a caller who
    may write, after the digest is reserved for garbage collection. Without a URL, send
    the bytes with ``PUT /blobs/{digest}``.
    """
    reg = state.registry_for(principal)
    offer = await run_in_threadpool(reg.offer_direct_upload, digest, body.size, storage, state.limits.max_blob_bytes)
    request = offer.request
    return dump(UploadUrl(
        url=request.url if request else None, method=request.method if request else "PUT",
        headers=request.headers if request else {}, upload=offer.upload,
        expires_in=offer.expires_in or None, reason=offer.reason,
        permanent=offer.permanent, min_bytes=offer.min_bytes, parts=list(offer.parts),
        part_size=offer.part_size or None, multipart=offer.multipart,
    ))


@router.post("/blobs/{digest}/uploaded", response_model=BlobStored)
async def uploaded(
    digest: str, body: UploadedRequest, storage: str | None = Query(None, max_length=64),
    principal: Principal = Caller, state: ServerState = State,
) -> Response:
    """Check a presigned upload and let the caller reference the blob.

    ``409`` (and nothing usable) when the object is missing, someone else's, arrived after
    its URL expired, or does not hold the digest's bytes (a temp copy is deleted).
    """
    reg = state.registry_for(principal)
    info = await run_in_threadpool(reg.finish_direct_upload, digest, body.size, body.upload, storage,
                                   body.multipart, body.etags)
    return dump(BlobStored(digest=info.digest, size=info.size, written=info.written),
                status_code=201 if info.written else 200)
