"""URI references: content that stays where it is, recorded with a checksum.

A reference is probed once when registered: its size and a checksum — the store's
ETag (plus version id) where it offers one, else a streamed SHA-256. Reading it
later checks that checksum and raises `ArtifactIntegrityError` if the content
changed. ``http(s)://`` goes through httpx, everything else through fsspec.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from prefect_artifacts._mime import detect_mime
from prefect_artifacts.errors import ArtifactIntegrityError, InvalidArtifactInput, StorageError
from prefect_artifacts.storage.content_store import open_filesystem, storage_errors
from prefect_artifacts.storage.hashing import CHUNK_SIZE

MAX_OBJECTS = 10_000
#: httpx's timeouts (seconds): 30 per step, 10 to connect. httpx is imported where a URL is read
#: (it costs ~0.1 s and every CLI command imports this module).
_TIMEOUT = {"timeout": 30.0, "connect": 10.0}


@dataclass(frozen=True)
class ReferenceInfo:
    """What was recorded about one referenced object.

    Example:
        ```python
        info = probe("s3://bucket/key.parquet")[0]
        info.checksum  # 'etag:"…"' or a SHA-256
        ```
    """

    relpath: str
    uri: str
    size: int | None
    checksum: str | None
    mime_type: str


def normalize_uri(uri: str) -> str:
    """Turn a local path into a ``file://`` URI; keep other URIs as given.

    Example:
        ```python
        normalize_uri("data/x.csv")  # "file:///abs/data/x.csv"
        ```
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidArtifactInput(f"invalid reference URI {uri!r}")
    if "://" not in uri:
        return Path(uri).expanduser().resolve().as_uri()
    if urlsplit(uri).password:
        raise InvalidArtifactInput(
            "reference URIs must not carry credentials (user:password@): every reader would see "
            "them; give credentials through storage options or the environment instead"
        )
    return uri


def basename(uri: str) -> str:
    """Last path segment of a URI (used as the default in-artifact path).

    Example:
        ```python
        basename("s3://b/a/x.bin?v=1")  # "x.bin"
        ```
    """
    path = unquote(urlsplit(uri).path).rstrip("/")
    return path.rsplit("/", 1)[-1] or urlsplit(uri).netloc or "reference"


def _etag(info: dict[str, Any]) -> str | None:
    tag = info.get("ETag") or info.get("etag") or info.get("md5Hash")
    if not tag:
        return None
    version = info.get("VersionId") or info.get("generation")
    return f"etag:{tag}" + (f"@{version}" if version and version != "null" else "")


def _is_http(uri: str) -> bool:
    return uri.split("://", 1)[0].lower() in ("http", "https")


def probe(uri: str, max_objects: int = MAX_OBJECTS) -> list[ReferenceInfo]:
    """Size and checksum of the object(s) at ``uri``; a folder yields one per object.

    Raises:
        StorageError: the URI cannot be reached or does not exist.
        InvalidArtifactInput: a folder holds more than ``max_objects`` objects.

    Example:
        ```python
        [i.relpath for i in probe("file:///data/images/")]
        ```
    """
    uri = normalize_uri(uri)
    if _is_http(uri):
        return [_probe_http(uri)]
    fs, path = _open_filesystem(uri)
    with storage_errors(f"reference {uri}"):
        if not fs.exists(path):
            raise StorageError(f"reference {uri} does not exist")
        if not fs.isdir(path):
            return [_probe_fs(fs, path, uri, basename(uri))]
        found = fs.find(path, detail=True, maxdepth=None)
        if len(found) > max_objects:
            raise InvalidArtifactInput(f"{uri} holds {len(found)} objects, over the limit of {max_objects}")
        root = path.rstrip("/") + "/"
        child = (lambda p: Path(p).as_uri()) if uri.startswith("file://") else fs.unstrip_protocol
        return [_probe_fs(fs, p, child(p), p[len(root):], info)
                for p, info in sorted(found.items())]


def _probe_fs(fs: Any, path: str, uri: str, relpath: str, info: dict[str, Any] | None = None) -> ReferenceInfo:
    info = info or fs.info(path)
    checksum = _etag(info)
    if checksum is None:
        with fs.open(path, "rb") as f:
            digest = hashlib.sha256()
            while chunk := f.read(CHUNK_SIZE):
                digest.update(chunk)
            checksum = digest.hexdigest()
    size = info.get("size")
    return ReferenceInfo(relpath, uri, int(size) if size is not None else None, checksum,
                         detect_mime(relpath))


def _probe_http(uri: str) -> ReferenceInfo:
    import httpx

    try:
        with httpx.Client(follow_redirects=True, timeout=httpx.Timeout(**_TIMEOUT)) as client:
            head = client.head(uri)
            etag = head.headers.get("etag") if head.status_code < 400 else None
            size = head.headers.get("content-length") if head.status_code < 400 else None
            mime = (head.headers.get("content-type") or "").split(";")[0] or detect_mime(basename(uri))
            if etag and not etag.startswith("W/"):
                return ReferenceInfo(basename(uri), uri, int(size) if size else None, f"etag:{etag}", mime)
            digest, total = hashlib.sha256(), 0
            with client.stream("GET", uri) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes(CHUNK_SIZE):
                    digest.update(chunk)
                    total += len(chunk)
            return ReferenceInfo(basename(uri), uri, total, digest.hexdigest(), mime)
    except httpx.HTTPError as exc:
        raise StorageError(f"cannot reach reference {uri}: {exc}") from exc


def _changed(uri: str, recorded: str, now: str | None) -> ArtifactIntegrityError:
    return ArtifactIntegrityError(
        f"reference {uri} changed since it was registered (checksum {recorded}, now {now})"
    )


def read(uri: str, checksum: str | None, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Stream a referenced object, refusing it if it no longer matches ``checksum``.

    Example:
        ```python
        data = b"".join(read(f.uri, f.checksum))
        ```
    """
    chunk_size = chunk_size if chunk_size > 0 else CHUNK_SIZE  # 0 would read nothing, -1 everything at once
    if _is_http(uri):
        yield from _read_http(uri, checksum, chunk_size)
        return
    fs, path = _open_filesystem(uri)
    with storage_errors(f"reference {uri}"):
        if checksum and checksum.startswith("etag:"):
            fs.invalidate_cache(path)  # a listing cached at probe time would hide a newer ETag
            now = _etag(fs.info(path))
            if now != checksum:
                raise _changed(uri, checksum, now)
            with fs.open(path, "rb") as f:
                while chunk := f.read(chunk_size):
                    yield chunk
            return
        with fs.open(path, "rb") as f:
            yield from _verified(iter(lambda: f.read(chunk_size), b""), uri, checksum)


def _verified(chunks: Iterator[bytes], uri: str, checksum: str | None) -> Iterator[bytes]:
    digest, held = hashlib.sha256(), None
    for chunk in chunks:
        digest.update(chunk)
        if held is not None:
            yield held
        held = chunk
    if checksum and digest.hexdigest() != checksum:
        raise _changed(uri, checksum, digest.hexdigest())
    if held is not None:
        yield held


def _read_http(uri: str, checksum: str | None, chunk_size: int) -> Iterator[bytes]:
    import httpx

    try:
        with httpx.Client(follow_redirects=True, timeout=httpx.Timeout(**_TIMEOUT)) as client, \
                client.stream("GET", uri) as response:
            response.raise_for_status()
            if checksum and checksum.startswith("etag:"):
                now = response.headers.get("etag")
                if f"etag:{now}" != checksum:
                    raise _changed(uri, checksum, now and f"etag:{now}")
                yield from response.iter_bytes(chunk_size)
            else:
                yield from _verified(response.iter_bytes(chunk_size), uri, checksum)
    except httpx.HTTPError as exc:
        raise StorageError(f"cannot read reference {uri}: {exc}") from exc


def _open_filesystem(uri: str) -> tuple[Any, str]:
    if not uri.startswith("file://"):
        return open_filesystem(uri)
    path = local_path(uri)
    if path is None:
        raise InvalidArtifactInput(f"reference URI {uri!r} has no path")
    return open_filesystem(path)


def local_path(uri: str) -> str | None:
    """The local file path of a ``file://`` URI, else None.

    Example:
        ```python
        local_path("file:///tmp/x")  # "/tmp/x"
        ```
    """
    if uri.startswith("file://"):
        return unquote(urlsplit(uri).path) or None
    return None if "://" in uri else os.path.abspath(uri)
