"""Downloads of the web view: a file, a bundle (tar.gz or zip), raw image bytes for previews.

A bundle holds a directory artifact or one of its sub-folders.

Content streams from the content store in bounded, verified chunks; the first chunk is
read before the response starts, so a corrupt blob is an error page, not a broken file.
Everything is an attachment except raster images and SVG, which ``raw`` serves with
their own type (SVG under a sandboxing CSP, so its scripts never run).
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response, StreamingResponse

from prefect_artifacts._server.streams import primed
from prefect_artifacts._web.access import UiRoute, Viewer, current_viewer, error_page
from prefect_artifacts._web.security import SVG_CSP
from prefect_artifacts.models import ArtifactFile, BundleType

router = APIRouter(route_class=UiRoute)
CHUNK = 1024 * 1024
#: Types ``raw`` serves inline (by the file's extension or recorded MIME type).
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp", ".svg": "image/svg+xml"}


def attachment(filename: str) -> str:
    """A ``Content-Disposition`` value that makes browsers save ``filename`` (RFC 5987 encoded).

    Example:
        ```python
        attachment("résumé.pdf")  # "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
        ```
    """
    return f"attachment; filename*=UTF-8''{quote(filename, safe='')}"


def _reference_page(request: Request, meta: ArtifactFile) -> Response:
    return error_page(request, 409, "Stored elsewhere",
                      f"{meta.path} is a reference: read it from its URI ({meta.uri}).")


def image_type(meta: ArtifactFile) -> str | None:
    """The inline type of an image file (PNG, JPEG, GIF, WebP, SVG), else None.

    Example:
        ```python
        image_type(ArtifactFile(path="a.png"))  # "image/png"
        ```
    """
    by_mime = {v: v for v in IMAGE_TYPES.values()}
    recorded = (meta.mime_type or "").split(";")[0].strip().lower()
    return by_mime.get(recorded) or IMAGE_TYPES.get(posixpath.splitext(meta.path.lower())[1])


@router.get("/artifacts/{artifact_id}/files/{path:path}", include_in_schema=False)
def download_file(request: Request, artifact_id: str, path: str, viewer: Viewer = Depends(current_viewer)) -> Response:
    """One file of an artifact, as an attachment."""
    reg = viewer.registry
    _art, meta, digest = reg.locate_file(artifact_id, path)
    if digest is None:
        return _reference_page(request, meta)
    body = primed(reg.open_content(meta, digest, CHUNK))
    headers = {"Content-Disposition": attachment(posixpath.basename(meta.path)), "Content-Length": str(meta.size or 0),
               "X-Content-SHA256": meta.checksum or ""}
    return StreamingResponse(body, media_type="application/octet-stream", headers=headers)


def _bundle(request: Request, artifact_id: str, path: str, file_type: BundleType, viewer: Viewer) -> Response:
    reg = viewer.registry
    art, rows = reg.bundle_files(artifact_id, path or None)
    reference = next((meta for meta, digest in rows if digest is None), None)
    if reference is not None:
        return _reference_page(request, reference)
    stem = art.name if not path else f"{art.name}-{posixpath.basename(path.rstrip('/'))}"
    chunks = primed(reg.bundle(art.id, file_type, path or None))
    return StreamingResponse(chunks, media_type=file_type.mime_type,
                             headers={"Content-Disposition": attachment(stem + file_type.suffix)})


@router.get("/artifacts/{artifact_id}/bundle.tar.gz", include_in_schema=False)
def download_tar(request: Request, artifact_id: str, path: str = "",
                 viewer: Viewer = Depends(current_viewer)) -> Response:
    """A directory artifact (or its sub-folder ``path``) as a tar.gz, built as it streams."""
    return _bundle(request, artifact_id, path, BundleType.TAR_GZ, viewer)


@router.get("/artifacts/{artifact_id}/bundle.zip", include_in_schema=False)
def download_zip(request: Request, artifact_id: str, path: str = "",
                 viewer: Viewer = Depends(current_viewer)) -> Response:
    """A directory artifact (or its sub-folder ``path``) as a zip, built as it streams."""
    return _bundle(request, artifact_id, path, BundleType.ZIP, viewer)


@router.get("/artifacts/{artifact_id}/raw/{path:path}", include_in_schema=False)
def raw_file(request: Request, artifact_id: str, path: str, viewer: Viewer = Depends(current_viewer)) -> Response:
    """A file's bytes for ``<img>``: raster images with their type, SVG sandboxed, anything else an attachment."""
    reg = viewer.registry
    _art, meta, digest = reg.locate_file(artifact_id, path)
    if digest is None:
        return _reference_page(request, meta)
    body = primed(reg.open_content(meta, digest, CHUNK))
    media = image_type(meta)
    headers = {"Content-Length": str(meta.size or 0), "X-Content-Type-Options": "nosniff", "Cache-Control": "private"}
    if media == "image/svg+xml":
        headers["Content-Security-Policy"] = SVG_CSP
    elif media is None:
        media = "application/octet-stream"
        headers["Content-Disposition"] = attachment(posixpath.basename(meta.path))
    return StreamingResponse(body, media_type=media, headers=headers)
