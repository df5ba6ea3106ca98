"""Content routes: artifact downloads (ranges, bundles) and blob uploads.

Stored content streams from the content store in bounded chunks; bundles are built
as they stream. The server never reads a reference's URI on a client's behalf (that
would let any writer read the server's disk or network): a reference answers
``307`` with its URI and checksum in the body, and the client reads it itself.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from prefect_artifacts._server.auth import current_principal
from prefect_artifacts._server.routes import direct
from prefect_artifacts._server.routes.direct import DirectDownload
from prefect_artifacts._server.schemas import BlobStored, ChunkEntries, ErrorBody, ReferenceRedirect
from prefect_artifacts._server.state import ServerState, dump, server_state
from prefect_artifacts._server.streams import RangeNotSatisfiable, parse_range, primed, store_body
from prefect_artifacts.catalog.auth import Principal
from prefect_artifacts.models import BundleType
from prefect_artifacts.registry.local import LocalRegistry

router = APIRouter(tags=["content"])
router.include_router(direct.router)  # presigned uploads
Caller = Depends(current_principal)
State = Depends(server_state)
STREAM_CHUNK = 1024 * 1024
#: A client that sends ``X-Client-Verifies: sha256`` checks ``X-Content-SHA256`` itself: content
#: this large then streams without the server hashing it too (small content stays verified
#: here, so corruption is a clean 409 before the response starts).
CLIENT_VERIFIES = "x-client-verifies"
CLIENT_VERIFIED_MIN = 4 * STREAM_CHUNK
#: A client that sends ``X-Direct-Download: presigned`` (and verifies) may get a ``303`` whose
#: body (`DirectDownload`) is a presigned GET of the blob in the content store.
DIRECT_DOWNLOAD = "x-direct-download"
#: Chunks one ``GET …/chunks`` answer covers at most (2 GiB at 512 KiB chunks, ~280 KB of JSON):
#: a client reading further asks again from where it got to.
MAX_CHUNK_ENTRIES = 4096

_CONTENT_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The file's content, or a tar.gz/zip bundle with fileType."},
    206: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The requested byte range (Content-Range)."},
    303: {"model": DirectDownload,
          "description": "To a client sending X-Direct-Download: presigned: GET the content from this URL."},
    307: {"model": ReferenceRedirect,
          "description": "References: read them from their URIs (body: the file, or the bundle's files)."},
    416: {"model": ErrorBody, "description": "The range lies outside the content."},
}


@router.get("/artifacts/{id}/contents", response_class=Response, responses=_CONTENT_RESPONSES)
async def contents(
    id: str,
    request: Request,
    path: str | None = Query(None, max_length=4096),
    file_type: BundleType | None = Query(None, alias="fileType"),
    principal: Principal = Caller,
    state: ServerState = State,
) -> Response:
    """Download one file (``path`` inside a directory), honouring ``Range``, or a bundle.

    Every byte is verified: a whole file against its SHA-256 (by the server, or by a
    client that sends ``X-Client-Verifies: sha256``), a range chunk by chunk against the
    blob's chunk index (``GET …/chunks`` gives clients the same entries). A corrupt first
    chunk is a ``409``; a later one aborts the connection before any of its bytes is sent.
    """
    reader = state.registry_for(principal)
    if file_type is not None:
        return await _bundle(reader, id, file_type, path)
    art, meta, digest = await run_in_threadpool(reader.locate_file, id, path)
    if digest is None:
        return _redirect(ReferenceRedirect(artifact=art, files=[meta]), meta.uri)
    size = meta.size or 0
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{meta.checksum}"', "X-Content-SHA256": meta.checksum or ""}
    try:
        span = parse_range(request.headers.get("range"), size)
    except RangeNotSatisfiable:
        return JSONResponse({"error": "RangeNotSatisfiable", "message": f"the content has {size} bytes"},
                            status_code=416, headers={"Content-Range": f"bytes */{size}"})
    media = meta.mime_type or "application/octet-stream"
    if span is None:
        client_verifies = request.headers.get(CLIENT_VERIFIES, "").lower() == "sha256" and meta.checksum == digest
        if client_verifies and request.headers.get(DIRECT_DOWNLOAD, "").lower() == "presigned":
            signed = await run_in_threadpool(reader.direct_download, meta, digest, art.storage_id)
            if signed is not None:
                return dump(DirectDownload(url=signed.url, checksum=digest, size=size), status_code=303)
        verify = not client_verifies or size < CLIENT_VERIFIED_MIN
        body = await run_in_threadpool(
            lambda: primed(reader.open_content(meta, digest, STREAM_CHUNK, verify=verify)))
        return StreamingResponse(body, media_type=media, headers={**headers, "Content-Length": str(size)})
    start, end = span
    body = await run_in_threadpool(lambda: primed(reader.open_content(meta, digest, STREAM_CHUNK, start, end)))
    headers.update({"Content-Range": f"bytes {start}-{end - 1}/{size}", "Content-Length": str(end - start)})
    return StreamingResponse(body, status_code=206, media_type=media, headers=headers)


@router.get(
    "/artifacts/{id}/chunks", response_model=ChunkEntries,
    responses={307: {"model": ReferenceRedirect, "description": "A reference: it has no chunk index."}},
)
async def chunks(
    id: str,
    path: str | None = Query(None, max_length=4096),
    start: int = Query(0, ge=0, le=2**62, description="First byte of the range to verify."),
    end: int | None = Query(None, ge=0, le=2**62, description="End (exclusive) of the range; default: the end."),
    principal: Principal = Caller,
    state: ServerState = State,
) -> Response:
    """The chunk index entries a client needs to verify bytes ``[start, end)`` of one file.

    Readable by whoever can read the artifact. The server checks its stored index first
    (a missing or tampered one is rebuilt from a full verified read of the blob). One
    answer covers at most ``MAX_CHUNK_ENTRIES`` chunks from the one holding ``start``.
    """
    reader = state.registry_for(principal)
    art, meta, digest = await run_in_threadpool(reader.locate_file, id, path)
    if digest is None:
        return _redirect(ReferenceRedirect(artifact=art, files=[meta]), meta.uri)
    entries = await run_in_threadpool(reader.chunk_entries, digest, start, end, MAX_CHUNK_ENTRIES)
    return JSONResponse(entries.to_json())


async def _bundle(reader: LocalRegistry, ref: str, file_type: BundleType, path: str | None) -> Response:
    def open_bundle() -> Response:
        art, rows = reader.bundle_files(ref, path)
        if any(digest is None for _meta, digest in rows):
            return _redirect(ReferenceRedirect(artifact=art, files=[meta for meta, _digest in rows]), None)
        chunks = primed(reader.bundle(art.id, file_type, path))
        name = f"{art.name}{file_type.suffix}"
        disposition = f"attachment; filename*=UTF-8''{quote(name)}"
        return StreamingResponse(chunks, media_type=file_type.mime_type,
                                 headers={"Content-Disposition": disposition})

    return await run_in_threadpool(open_bundle)


def _redirect(body: ReferenceRedirect, uri: str | None) -> Response:
    headers = {"Location": quote(uri, safe=":/?#[]@!$&'()*+,;=%~")} if uri else {}
    return JSONResponse(body.model_dump(mode="json", by_alias=True), status_code=307, headers=headers)


@router.head("/blobs/{digest}", responses={404: {"description": "Not stored."}})
def head_blob(
    digest: str, storage: str | None = Query(None, max_length=64), principal: Principal = Caller,
    state: ServerState = State,
) -> Response:
    """Whether the caller may reference this content without sending it (clients skip uploading it).

    ``404`` unless the caller possesses the blob: it can read an artifact holding it, or
    uploaded it recently (`LocalRegistry.usable_blob`); so the answer says nothing about
    other groups' content. A usable blob is kept young for garbage collection. ``storage``:
    the content store it must be in (``GET /storages``; default: the default store).
    """
    size = state.registry_for(principal).usable_blob(digest, storage)
    if size is None:
        return Response(status_code=404)
    return Response(status_code=200, headers={"X-Blob-Size": str(size)})


@router.put(
    "/blobs/{digest}", response_model=BlobStored,
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def put_blob(
    digest: str, request: Request, storage: str | None = Query(None, max_length=64), principal: Principal = Caller,
    state: ServerState = State,
) -> Response:
    """Upload content under its SHA-256; refused (and nothing kept) if it hashes differently.

    Content stored already is verified as it arrives and not written again; the upload
    lets the caller reference it (`LocalRegistry.receive_blob`). ``storage``: the content
    store to write to (``GET /storages``; default: the default store).
    """
    receiver = await run_in_threadpool(state.registry_for(principal).receive_blob, digest, storage)
    if receiver.usable is not None:
        return dump(BlobStored(digest=digest, size=receiver.usable, written=False))
    info = await store_body(request, receiver, digest, state.limits.max_blob_bytes)  # type: ignore[arg-type]
    return dump(BlobStored(digest=info.digest, size=info.size, written=info.written),
                status_code=201 if info.written else 200)
