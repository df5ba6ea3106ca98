"""`HttpRegistry`: the `Registry` interface over a prefect-artifacts server, with httpx.

Uploads hash locally and send only the blobs the server lacks (``HEAD`` then
``PUT``, streamed in bounded chunks); a create carries an ``Idempotency-Key`` reused
across retries, so a retried create never makes two artifacts. Idempotent calls are
retried with exponential backoff on connection errors and 5xx answers. Downloads
stream, are verified end to end against the recorded SHA-256, and resume with a
``Range`` request when a connection drops mid-stream. References are read by the
client itself (the server answers ``307`` with their URIs). A byte range is verified
too: the client asks ``GET …/chunks`` for the chunk index entries of the range, fetches
the whole chunks it touches and checks each before handing out any of its bytes
(resumed ranges included). Server errors come back as the same exception classes the
in-process registry raises.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json as jsonlib
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future
from typing import Any
from urllib.parse import quote

import httpx

from prefect_artifacts import references
from prefect_artifacts._aspects import check_urn, is_urn, prepare_aspect
from prefect_artifacts._checksums import snapshot_manifest
from prefect_artifacts._paths import is_unicode, parse_ref
from prefect_artifacts._progress import HighWater, hashing_progress
from prefect_artifacts.batches import BatchJob
from prefect_artifacts.bundles import BundleEntry, stream_bundle
from prefect_artifacts.catalog.auth import ANONYMOUS_ADMIN
from prefect_artifacts.errors import (
    ERRORS_BY_NAME,
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactNotFound,
    AuthenticationError,
    InvalidArtifactInput,
    PayloadTooLarge,
    PermissionDenied,
    SnapshotIntegrityError,
    StorageError,
)
from prefect_artifacts.models import (
    Artifact,
    ArtifactFile,
    ArtifactManifest,
    Aspect,
    AspectSchema,
    BundleType,
    ConflictStrategy,
    GcReport,
    Lineage,
    Page,
    PluginSnapshot,
    RunCategory,
    RunLink,
    Transfer,
)
from prefect_artifacts.registry.base import (
    _STORAGE,
    Registry,
    _Location,
    os_user,
    parse_bundle_type,
    parse_category,
    slice_stream,
    user_folder,
)
from prefect_artifacts.registry.http_direct import DirectTransfers
from prefect_artifacts.registry.spec import RegistrySpec, forget_registry
from prefect_artifacts.settings import ArtifactSettings
from prefect_artifacts.storage.chunk_index import ChunkIndex, InvalidChunkIndex
from prefect_artifacts.storage.content_store import BlobInfo
from prefect_artifacts.storage.hashing import CHUNK_SIZE, WORKER_POOL, PipelinedHash, hash_file, rechunk

#: Files up to this size are PUT directly (one round trip) instead of HEAD, then PUT.
DIRECT_PUT = 256 * 1024
#: Files up to this size travel inside the create request (no request of their own)...
INLINE_MAX = 64 * 1024
#: ...up to this many bytes per create.
INLINE_TOTAL = 1024 * 1024
#: Most bytes of small contents `upload_many` holds in memory to send with its create requests (the rest are PUT).
BATCH_INLINE_BYTES = 64 * 1024 * 1024
UPLOAD_CHUNK = 1024 * 1024
_FALLBACK = {400: InvalidArtifactInput, 401: AuthenticationError, 403: PermissionDenied, 404: ArtifactNotFound,
             409: ArtifactError, 413: PayloadTooLarge, 414: PayloadTooLarge}
# Transient answers only: a gateway or storage hiccup, an overloaded server. Not 500 (a bug or a
# damaged catalog does not heal in a second), not 507 (a full disk), not any 4xx.
_RETRY_STATUS = {502, 503, 504}


def json_body(value: Any) -> bytes:
    r"""A request's JSON: ASCII only (a lone surrogate travels as its escape: the server names the field), no NaN.

    Example:
        ```python
        json_body({"description": "café"})  # b'{"description":"caf\u00e9"}'
        ```
    """
    return jsonlib.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def error_from_response(response: httpx.Response) -> ArtifactError:
    """The exception a server error response stands for (same class as in-process).

    Example:
        ```python
        raise error_from_response(response)
        ```
    """
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    name = body.get("error")
    message = str(body.get("message") or f"HTTP {response.status_code} from {response.request.url}")
    exc = error_of(name, message, response.status_code)
    if "position" in body:
        exc.position = body["position"]  # type: ignore[attr-defined]
    return exc


def error_of(name: Any, message: str, status: int) -> ArtifactError:
    """The exception of a server error: its class by ``name``, else by HTTP ``status``.

    Example:
        ```python
        error_of("BlobNotFound", "content … has not been uploaded", 404)   # BlobNotFound(...)
        ```
    """
    cls = ERRORS_BY_NAME.get(name) if isinstance(name, str) else None
    if cls is None:
        cls = _FALLBACK.get(status, StorageError if status >= 500 else ArtifactError)
    exc = cls.__new__(cls)
    ArtifactError.__init__(exc, message)
    return exc


class HttpRegistry(Registry):
    """The registry served by a prefect-artifacts server.

    Args:
        api_url: base URL of the API, e.g. ``http://127.0.0.1:4300/api/v1``.
        api_key: API key sent as ``Authorization: Bearer``.
        settings: limits and defaults (read from the environment when None).
        client: an ``httpx.Client`` to use (tests inject transports); closed by the
            caller. Default: a pooled client owned by this registry.
        retries: attempts after the first for idempotent calls.
        backoff: first retry delay in seconds (doubles each time, with jitter).
        timeout: seconds to wait for the server at each step of a request.
        use_digest_cache: reuse digests of unchanged large files (default: settings).

    Example:
        ```python
        reg = HttpRegistry("http://127.0.0.1:4300/api/v1", api_key="pa_…")
        art = reg.upload_file("data.csv", name="my-data")
        ```
    """

    store_workers = 4  # blob uploads are network-bound: overlap them

    def __init__(
        self, api_url: str, api_key: str | None = None, settings: ArtifactSettings | None = None, *,
        client: httpx.Client | None = None, retries: int = 4, backoff: float = 0.1, timeout: float = 300.0,
        use_digest_cache: bool | None = None,
    ) -> None:
        super().__init__(settings, use_digest_cache)
        self.api_url = api_url.rstrip("/")
        self._storage_ids: tuple[str, ...] | None = None  # the server's content stores, asked once
        self.retries = retries
        self.backoff = backoff
        self._api_key = api_key
        self._user: str | None = None
        self._timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._inline = threading.local()  # small blobs waiting for this thread's next create (or batch)
        self._batch_route: bool | None = None  # whether the server has POST /artifacts/batch (None: not asked yet)
        self._direct = DirectTransfers(self)  # presigned URLs to the server's bucket (http_direct)
        self._owns_client = client is None
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=10.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=4.0),
        )

    def __repr__(self) -> str:
        return f"HttpRegistry({self.api_url!r})"

    @property
    def current_user(self) -> str:  # noqa: D102 - documented on Registry
        if self._user is None:  # asked once, when a relative folder first needs it
            user = self._json("GET", "/whoami")["user"] if self._api_key else ANONYMOUS_ADMIN.user_name
            self._user = os_user() if user == ANONYMOUS_ADMIN.user_name else user_folder(user)
        return self._user

    def spec(self) -> RegistrySpec:
        """A picklable description: API URL and key, retry policy, settings (not an injected client).

        Example:
            ```python
            spec = reg.spec()   # RegistrySpec(kind='http', api_url=..., api_key='**********')
            ```
        """
        return RegistrySpec(
            "http", self.settings, api_url=self.api_url, api_key=self._api_key, retries=self.retries,
            backoff=self.backoff, timeout=self._timeout, use_digest_cache=self._digest_cache is not None,
        )

    def __enter__(self) -> HttpRegistry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections (when the client is this registry's own).

        Example:
            ```python
            reg.close()
            ```
        """
        forget_registry(self)
        if self._owns_client:
            self.client.close()

    # transport ------------------------------------------------------------------

    def _sleep(self, attempt: int) -> None:
        time.sleep(self.backoff * (2**attempt) * (0.5 + random.random()))

    def _send(
        self, method: str, path: str, *, idempotent: bool = True, stream: bool = False,
        params: dict[str, Any] | None = None, json: Any = None, content: Any = None,
        headers: dict[str, str] | None = None, allow: Sequence[int] = (),
    ) -> httpx.Response:
        """Send a request, retrying what is safe to retry; raise the server's error."""
        url = f"{self.api_url}{path}"
        params = {k: v for k, v in (params or {}).items() if v is not None}
        for name, value in params.items():  # httpx would fail to encode it, naming nothing
            if isinstance(value, str) and not is_unicode(value):
                raise InvalidArtifactInput(f"{name} {value[:60]!r} is not valid Unicode text (a lone surrogate)")
        if json is not None:  # encoded once for every attempt
            content = json_body(json)
            headers = {"Content-Type": "application/json", **(headers or {})}
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            body = content() if callable(content) else content
            request = self.client.build_request(method, url, params=params, content=body,
                                                headers={**self._headers, **(headers or {})})
            try:
                response = self.client.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if last:
                    raise StorageError(f"cannot connect to {self.api_url}: {exc}") from exc
                self._sleep(attempt)  # never sent: always safe to retry
                continue
            except httpx.TransportError as exc:
                if last or not idempotent:
                    raise StorageError(f"{method} {path} failed: {exc}") from exc
                self._sleep(attempt)
                continue
            if response.status_code in _RETRY_STATUS and idempotent and not last:
                response.close()
                self._sleep(attempt)
                continue
            if response.status_code == 404 and method == "DELETE" and attempt > 0:
                return response  # the first attempt deleted it before the connection dropped
            if response.status_code >= 400 and response.status_code not in allow:
                if stream:
                    response.read()
                    response.close()
                raise error_from_response(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()

    def _artifact(self, data: dict[str, Any]) -> Artifact:
        return Artifact.model_validate(data).bind(self)

    def _ref_path(self, ref: str) -> str:
        """``/artifacts/<ref>``: ids and folder-less refs go in the path; others are resolved."""
        parsed = parse_ref(ref)
        if parsed.id:
            return f"/artifacts/{parsed.id}"
        if "/" in ref:
            return f"/artifacts/{self.get(ref).id}"
        return f"/artifacts/{quote(ref.strip(), safe='')}"

    # primitives -------------------------------------------------------------------

    def _pending(self) -> dict[str, bytes]:
        pending: dict[str, bytes] | None = getattr(self._inline, "blobs", None)
        if pending is None:
            pending = self._inline.blobs = {}
        return pending

    def _put_file(self, path: str, size: int, digest: str | None, sync: bool) -> BlobInfo:
        if size <= DIRECT_PUT:
            with open(path, "rb") as f:
                data = f.read(DIRECT_PUT + 1)
            return self._put_data(data, sync, digest)
        if digest is None:
            digest, size = hash_file(path, size_hint=size, progress=hashing_progress())
        if self._server_has(digest):
            return BlobInfo(digest, size, written=False)
        sent = HighWater()  # a retried PUT sends the file again: count each byte once
        direct = self._direct.upload(digest, size, lambda: _file_chunks(path, size, sent),
                                     lambda offset, length: _file_chunks(path, length, offset=offset), _storage_param(),
                                     sent)
        return direct or self._put_blob(digest, size, lambda: _file_chunks(path, size, sent))

    def _server_has(self, digest: str) -> bool:
        return self._send("HEAD", f"/blobs/{digest}", allow=(404,), params=_storage_param()).status_code == 200

    def _put_data(self, data: bytes, sync: bool, digest: str | None = None) -> BlobInfo:
        digest = digest or hashlib.sha256(data).hexdigest()
        if len(data) > DIRECT_PUT and self._server_has(digest):  # worth a round trip to skip
            return BlobInfo(digest, len(data), written=False)
        batch: dict[str, bytes] | None = getattr(self._inline, "batch", None)
        if batch is not None and len(data) <= INLINE_MAX and self._inline.batch_bytes + len(data) <= BATCH_INLINE_BYTES:
            batch[digest] = data  # sent with the batch's create requests (http_batch)
            self._inline.batch_bytes += len(data)
            return BlobInfo(digest, len(data), written=False)
        pending = self._pending()
        # sync: a single-file upload, stored and created by this thread (batches may use a pool)
        if sync and len(data) <= INLINE_MAX and sum(map(len, pending.values())) + len(data) <= INLINE_TOTAL:
            pending[digest] = data  # sent with the create: one request per small upload
            return BlobInfo(digest, len(data), written=False)
        direct = self._direct.upload(digest, len(data), lambda: [data],
                                     lambda offset, length: [data[offset:offset + length]], _storage_param())
        return direct or self._put_blob(digest, len(data), lambda: data)

    def _put_blob(self, digest: str, size: int, body: Any) -> BlobInfo:
        response = self._send("PUT", f"/blobs/{digest}", content=body, params=_storage_param(),
                              headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"})
        data = response.json()
        return BlobInfo(data["digest"], data["size"], written=bool(data["written"]))

    def _upload_batch(self, jobs: Sequence[BatchJob],
                      storage: str | None) -> builtins.list[Artifact | ArtifactError]:
        from prefect_artifacts.registry.http_batch import upload_in_slices

        return upload_in_slices(self, jobs, storage)

    def _created(self, data: dict[str, Any]) -> Artifact:
        """The artifact of a create's answer (``artifact``, ``files``, ``created``)."""
        files = [ArtifactFile.model_validate(f) for f in data["files"]]
        art = self._artifact(data["artifact"]).with_files(files)
        art._just_created = bool(data.get("created"))
        return art

    def _create(self, manifest: ArtifactManifest, strategy: ConflictStrategy, make_folder: bool) -> Artifact:
        key = manifest.idempotency_key or uuid.uuid4().hex
        body = manifest.model_dump(mode="json", by_alias=True, exclude={"idempotency_key"})
        body.update(conflictStrategy=strategy.value, makeFolder=make_folder)
        pending = self._pending()
        inline = {f.digest: pending[f.digest] for f in manifest.files if f.digest in pending}
        pending.clear()
        if inline:
            body["blobs"] = {d: base64.b64encode(data).decode() for d, data in inline.items()}
        return self._created(self._json("POST", "/artifacts", json=body, headers={"Idempotency-Key": key}))

    def _get(self, ref: str) -> Artifact:
        parsed = parse_ref(ref)
        if parsed.id:
            return self._artifact(self._json("GET", f"/artifacts/{parsed.id}"))
        return self._artifact(self._json("GET", "/resolve", params={"ref": ref}))

    def list(  # noqa: D102
        self, index: int = 0, page_length: int = 10, sort_by: str | None = None, descending: bool = False,
        search: str | None = None, group_id: str | None = None, folder: str | None = None,
        cursor: str | None = None,
    ) -> Page[Artifact]:
        self._check_query(search)
        data = self._json("GET", "/artifacts", params={
            "index": index, "pageLength": page_length, "sortBy": sort_by, "descending": descending,
            "search": search, "groupId": group_id, "folder": self._folder_filter(folder), "cursor": cursor,
        })
        return Page[Artifact](
            data=[self._artifact(a) for a in data["data"]], total=data["totalNumResults"], index=data["index"],
            page_length=data["pageLength"], is_complete=data["isComplete"], next_cursor=data.get("nextCursor"),
        )

    def count(self, search: str | None = None, folder: str | None = None, group_id: str | None = None) -> int:  # noqa: D102
        self._check_query(search)
        return int(self._json("GET", "/artifact-count", params={"search": search, "folder": self._folder_filter(folder),
                                                                "groupId": group_id}))

    def _check_query(self, search: str | None) -> None:
        # Checked here too: an over-long query must not even be put in a URL.
        if search and len(search) > self.settings.max_query_length:
            raise PayloadTooLarge(f"search query longer than {self.settings.max_query_length} characters")

    def ids(self, count: int | None = None, offset: int = 0) -> builtins.list[str]:  # noqa: D102
        return list(self._json("GET", "/artifact-ids", params={"count": count, "offset": offset}))

    def files(self, ref: str) -> builtins.list[ArtifactFile]:  # noqa: D102
        return [ArtifactFile.model_validate(f) for f in self._json("GET", f"{self._ref_path(ref)}/files")]

    def _open_content(
        self, ref: str, path: str | None, chunk_size: int, start: int | None, end: int | None
    ) -> Iterator[bytes]:
        base = self._ref_path(ref)
        url = f"{base}/contents"
        params = {"path": path}
        if start is not None or end is not None:
            return self._read_range(ref, base, params, chunk_size, start or 0, end)
        response = self._request_content(url, params, 0, None, direct=self._direct.enabled)
        checksum = response.headers.get("x-content-sha256")
        if response.status_code == 303:  # a presigned GET of the bucket (http_direct)
            opened = self._direct.fetch(response)
            if opened is None:  # the bucket refused it (expired?): the server streams it
                response = self._request_content(url, params, 0, None)
                checksum = response.headers.get("x-content-sha256")
            else:
                response, checksum = opened
        if response.status_code == 307:
            response.read()
            response.close()
            meta = ArtifactFile.model_validate(response.json()["files"][0])
            return _read_reference(meta, chunk_size, start, end)
        return _Download(self, url, params, response, chunk_size, 0, None, checksum)

    def _read_range(self, ref: str, base: str, params: dict[str, Any], chunk_size: int, start: int,
                    end: int | None) -> Iterator[bytes]:
        """Bytes ``[start, end)``: the whole chunks they touch, each checked against the chunk index."""
        response = self._send("GET", f"{base}/chunks", params={**params, "start": start, "end": end},
                              allow=(307, 404))
        if response.status_code == 404:
            if not _no_such_route(response):
                raise error_from_response(response)
            # a server without chunk indexes: the whole file, checked
            return slice_stream(self.read(ref, params["path"], chunk_size), start, end)
        if response.status_code == 307:  # a reference: read by this client, checked against its checksum
            meta = ArtifactFile.model_validate(response.json()["files"][0])
            return _read_reference(meta, chunk_size, start, end)
        try:
            index = ChunkIndex.from_json(response.json())
        except (InvalidChunkIndex, ValueError) as exc:
            raise ArtifactIntegrityError(f"the server sent an unusable chunk index for {base}: {exc}") from exc
        stop = index.size if end is None else min(end, index.size)
        if start >= stop:
            return iter(())
        if not index.checkable():  # sha256-state without OpenSSL here: verify the whole file instead
            return slice_stream(self.read(ref, params["path"], chunk_size), start, stop)
        first, last = index.chunks_for(start, stop)
        last = min(last, index.last_covered())  # the rest follows with the next entries
        low, high = index.span(first)[0], index.span(last)[1]
        url = f"{base}/contents"
        response = self._request_content(url, params, low, high)
        served = response.headers.get("x-content-sha256")
        if served != index.digest:
            response.close()
            raise ArtifactIntegrityError(f"{url} serves content {served}, but its chunk index is of {index.digest}")
        return _Download(self, url, params, response, chunk_size, start, stop, None, index=index, origin=low,
                         last=last)

    def _request_content(self, url: str, params: dict[str, Any], start: int, end: int | None,
                         direct: bool = False) -> httpx.Response:
        """``GET`` a ``…/contents`` URL, whole (the client verifies it) or bytes ``[start, end)``.

        ``direct``: a whole file may be answered ``303`` with a presigned URL of the bucket.
        """
        headers = {}
        if start or end is not None:
            headers["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        else:  # a whole file: _Download checks X-Content-SHA256, so the server need not hash it too
            headers["X-Client-Verifies"] = "sha256"
            if direct:
                headers["X-Direct-Download"] = "presigned"
        response = self._send("GET", url, stream=True, params=params, headers=headers, allow=(416,))
        if response.status_code == 416:  # a range starting at or past the end: no bytes
            response.close()
            return httpx.Response(206, content=b"", request=response.request)
        return response

    def _chunk_entries(self, url: str, params: dict[str, Any], start: int, end: int | None) -> ChunkIndex | None:
        """The chunk index entries that check bytes ``[start, end)`` of a ``…/contents`` URL.

        None from a server that predates chunk indexes.
        """
        base = url.removesuffix("/contents")
        response = self._send("GET", f"{base}/chunks", params={**params, "start": start, "end": end}, allow=(404,))
        if response.status_code == 404:
            if _no_such_route(response):
                return None
            raise error_from_response(response)
        try:
            return ChunkIndex.from_json(response.json())
        except (InvalidChunkIndex, ValueError) as exc:
            raise ArtifactIntegrityError(f"the server sent an unusable chunk index for {base}: {exc}") from exc

    def bundle(  # noqa: D102
        self, ref: str, file_type: BundleType | str = BundleType.TAR_GZ, artifact_path: str | None = None
    ) -> Iterator[bytes]:
        bundle_type = parse_bundle_type(file_type) or BundleType.TAR_GZ
        url = f"{self._ref_path(ref)}/contents"
        params = {"fileType": bundle_type.value, "path": artifact_path}
        response = self._send("GET", url, stream=True, params=params)
        if response.status_code == 307:  # holds references: build the bundle here
            response.read()
            response.close()
            body = response.json()
            art = Artifact.model_validate(body["artifact"])
            files = [ArtifactFile.model_validate(f) for f in body["files"]]
            entries = [BundleEntry(f.path, f.size or 0, self._opener(art.id, f)) for f in files]
            return stream_bundle(entries, bundle_type, art.created)
        return _Download(self, url, params, response, UPLOAD_CHUNK, 0, None, None, resumable=False)

    def _opener(self, artifact_id: str, meta: ArtifactFile) -> Any:
        if meta.uri is not None:
            return lambda: references.read(meta.uri or "", meta.checksum)
        return lambda: self.read(artifact_id, path=meta.path)

    def attach(self, ref: str, run_id: str, category: RunCategory | str = RunCategory.OUTPUT) -> RunLink:  # noqa: D102
        cat = parse_category(category)
        if not isinstance(run_id, str):  # the server checks the rest (length, …)
            raise InvalidArtifactInput(f"invalid run id {run_id!r}: use 1-64 characters")
        data = self._json("POST", f"{self._ref_path(ref)}/runs", json={"runId": run_id, "category": cat.value})
        return RunLink.model_validate(data)

    def run_artifacts(self, run_id: str, category: RunCategory | str | None = None) -> builtins.list[Artifact]:  # noqa: D102
        cat = parse_category(category).value if category is not None else None
        data = self._json("GET", f"/runs/{quote(str(run_id), safe='')}/artifacts", params={"category": cat})
        arts = [self._artifact(a) for a in data]
        for art in arts:
            art._seen_run = str(run_id)  # Artifact.get_category answers for this run
        return arts

    def transfers(self, ref: str) -> builtins.list[Transfer]:  # noqa: D102
        return [Transfer.model_validate(t) for t in self._json("GET", f"{self._ref_path(ref)}/transfers")]

    def record_download(self, ref: str, local_path: str | None = None) -> Transfer:  # noqa: D102
        if local_path is not None and not isinstance(local_path, str):
            raise InvalidArtifactInput(f"local_path must be a string or None, not {type(local_path).__name__}")
        data = self._json("POST", f"{self._ref_path(ref)}/transfers", json={"localPath": local_path})
        return Transfer.model_validate(data)

    @property
    def storage_ids(self) -> tuple[str, ...]:  # noqa: D102 - documented on Registry
        if self._storage_ids is None:
            self._storage_ids = tuple(self._json("GET", "/storages"))
        return self._storage_ids

    def _where(self, art: Artifact) -> _Location:
        # The server's content store is not exposed to clients: its URLs are the API's
        # (a reference's own URI is no secret: it is in its files).
        base = f"{self.api_url}/artifacts/{quote(art.id, safe='')}"
        contents = f"{base}/contents" + ("?fileType=tar_gz" if art.is_dir else "")
        if art.kind == "reference":
            uri = None if art.is_dir else art.files[0].uri
            return _Location(url=base, download_url=contents, storage_url=uri, uploaded=False)
        return _Location(url=base, download_url=contents)

    def lineage(self, ref: str) -> Lineage:  # noqa: D102
        graph = Lineage.model_validate(self._json("GET", f"{self._ref_path(ref)}/lineage"))
        for art in graph.artifacts:
            art.bind(self)
        return graph

    def add_metadata(  # noqa: D102
        self, ref: str, aspect: dict[str, Any], schema: str | dict[str, Any] | None = None,
        policy: str | None = None,
    ) -> Aspect:
        prepared = prepare_aspect(aspect, schema, policy)
        body = {"aspect": prepared["content"], "schema": prepared["schema_name"], "policy": policy}
        return Aspect.model_validate(self._json("POST", f"{self._ref_path(ref)}/aspects", json=body,
                                                idempotent=False))

    def get_metadata(self, ref: str) -> builtins.list[Aspect]:  # noqa: D102
        return [Aspect.model_validate(a) for a in self._json("GET", f"{self._ref_path(ref)}/aspects")]

    def update(self, ref: str, description: str | None = None, labels: Sequence[str] | None = None) -> Artifact:  # noqa: D102
        body = {"description": description, "labels": self._check_labels(labels)}
        return self._artifact(self._json("PATCH", self._ref_path(ref), json=body))

    def set_alias(self, ref: str, alias: str) -> Artifact:  # noqa: D102
        return self._artifact(self._json("POST", f"{self._ref_path(ref)}/aliases", json={"alias": alias}))

    def delete(self, ref: str) -> None:  # noqa: D102
        self._send("DELETE", self._ref_path(ref))

    def gc(self, dry_run: bool = False, grace_seconds: float | None = None) -> GcReport:  # noqa: D102
        data = self._json("POST", "/admin/gc", params={"dryRun": dry_run, "graceSeconds": grace_seconds})
        return GcReport.model_validate(data)

    def create_plugin_snapshot(  # noqa: D102
        self, plugin_name: str, version: str | None, files: Sequence[tuple[str, bytes]], group: str | None = None
    ) -> PluginSnapshot:
        digest, listed = snapshot_manifest(files)
        for _path, data in files:
            self._put_blob(hashlib.sha256(data).hexdigest(), len(data), lambda data=data: data)
        body = {"pluginName": plugin_name, "version": version, "digest": digest, "groupId": group,
                "files": [f.model_dump(mode="json", by_alias=True) for f in listed]}
        return PluginSnapshot.model_validate(self._json("POST", "/plugin-snapshots", json=body))

    def get_plugin_snapshot(self, snapshot_id: str) -> PluginSnapshot:  # noqa: D102
        return PluginSnapshot.model_validate(self._json("GET", f"/plugin-snapshots/{quote(snapshot_id, safe='')}"))

    def read_plugin_snapshot_file(self, snapshot_id: str, path: str) -> bytes:  # noqa: D102
        entry = next((f for f in self.get_plugin_snapshot(snapshot_id).files if f.path == path), None)
        if entry is None:
            raise ArtifactNotFound(f"plugin snapshot {snapshot_id} has no file {path!r}")
        response = self._send("GET", f"/plugin-snapshots/{quote(snapshot_id, safe='')}/files", params={"path": path})
        if hashlib.sha256(response.content).hexdigest() != entry.checksum:  # verified here too, not only by loaders
            raise SnapshotIntegrityError(f"plugin snapshot {snapshot_id} file {path!r} does not match its SHA-256")
        return response.content

    def register_schema(self, urn: str, json_schema: dict[str, Any]) -> AspectSchema:  # noqa: D102
        check_urn(urn)
        return AspectSchema.model_validate(self._json("POST", "/schemas", json={"urn": urn, "schema": json_schema}))

    def get_schema(self, urn: str) -> AspectSchema:  # noqa: D102
        if not is_urn(urn):
            raise ArtifactNotFound(f"no schema is registered as {urn[:300]!r}")
        return AspectSchema.model_validate(self._json("GET", f"/schemas/{quote(urn, safe=':/')}"))

    def list_schemas(self, prefix: str | None = None) -> builtins.list[AspectSchema]:  # noqa: D102
        return [AspectSchema.model_validate(s) for s in self._json("GET", "/schemas", params={"prefix": prefix})]


def _no_such_route(response: httpx.Response) -> bool:
    """Whether a 404 is the server not knowing the route (not a missing artifact)."""
    try:
        body = response.json()
    except ValueError:
        return True
    return not isinstance(body, dict) or body.get("error") in (None, "NotFound")


def _file_chunks(path: str, size: int, sent: HighWater | None = None, offset: int = 0) -> Iterator[bytes]:
    """The first ``size`` bytes of ``path`` (what was hashed), however the file changes meanwhile.

    ``offset``: the ``size`` bytes from there instead (a part of a multipart upload).

    Bytes appended after hashing are not sent; changed bytes make the server refuse the
    digest; a file that shrank is refused here (the request cannot be completed). ``sent``
    learns each chunk's end once the transport asks for the next one, i.e. once the chunk
    is written to the connection (httpx writes a chunk before pulling another).
    """
    left = size
    with open(path, "rb", buffering=0) as f:
        f.seek(offset)
        while left:
            chunk = f.read(min(UPLOAD_CHUNK, left))
            if not chunk:
                raise InvalidArtifactInput(f"{path!r} shrank while it was being sent: {size - left} of {size} bytes")
            left -= len(chunk)
            yield chunk
            if sent is not None:
                sent.reach(size - left)


def _read_reference(meta: ArtifactFile, chunk_size: int, start: int | None, end: int | None) -> Iterator[bytes]:
    chunks = references.read(meta.uri or "", meta.checksum, chunk_size)
    return chunks if start is None and end is None else slice_stream(chunks, start or 0, end)


class _Download(Iterator[bytes]):
    """Chunks of a streamed download, verified and resumable.

    With a ``checksum`` (a whole file) the last chunk is held back until the content
    matches it. With a chunk ``index`` (a range: the response starts at a chunk
    boundary, ``origin``) every chunk is checked before any of its bytes is yielded, and
    only bytes of ``[start, end)`` are. A dropped connection resumes with a ``Range``
    request from the start of the chunk holding the next byte to yield, and that part
    is checked chunk by chunk (a whole file fetches the chunk index it needs first): a
    chunk the server refuses is then the first of the request, a clean ``409``.
    """

    def __init__(
        self, registry: HttpRegistry, url: str, params: dict[str, Any], response: httpx.Response,
        chunk_size: int, start: int, end: int | None, checksum: str | None, resumable: bool = True,
        index: ChunkIndex | None = None, origin: int | None = None, last: int = -1,
    ) -> None:
        self._registry, self._url, self._params = registry, url, params
        self._response: httpx.Response | None = response
        self._chunk_size = chunk_size if chunk_size > 0 else CHUNK_SIZE
        self._position, self._end = start, end  # the next byte to yield; the end of the window
        self._origin = start if origin is None else origin  # where the current response starts
        self._hasher = PipelinedHash() if checksum and len(checksum) == 64 else None
        self._checksum = checksum
        self._resumable = resumable
        self._index = index
        self._last = last  # the last chunk the current ranged response holds
        self._gen = self._chunks()

    def __iter__(self) -> _Download:
        return self

    def __next__(self) -> bytes:
        return next(self._gen)

    def close(self) -> None:
        """Stop the download and release its connection."""
        self._gen.close()
        if self._response is not None:
            self._response.close()
            self._response = None

    def __del__(self) -> None:
        if self._response is not None:
            self._response.close()

    def _pieces(self) -> Iterator[bytes]:
        """The window's bytes in order, across resumes; checked chunk by chunk once an index is known."""
        resumes = 0
        while self._response is not None:
            try:
                if self._index is None:
                    for chunk in rechunk(self._response.iter_bytes(), self._chunk_size):
                        self._position += len(chunk)
                        yield chunk
                else:
                    yield from self._checked(self._response, self._index)
                self._response.close()
                self._response = None
                if self._index is not None:
                    self._request()  # the range goes on past the entries fetched so far
            except httpx.TransportError as exc:
                if self._response is not None:
                    self._response.close()
                    self._response = None
                if not self._resumable or resumes >= self._registry.retries:
                    raise StorageError(f"download of {self._url} interrupted: {exc}") from exc
                resumes += 1
                self._registry._sleep(resumes - 1)
                self._request()

    def _request(self) -> None:
        """Ask (again) from the start of the chunk holding the next byte to yield.

        The request goes as far as the chunk entries at hand; more are fetched as needed
        (``GET …/chunks`` answers a bounded number at a time).
        """
        index = self._index
        if index is None or not index.covers(self._position // index.chunk_size):
            index = self._registry._chunk_entries(self._url, self._params, self._position, self._end)
            if index is None:  # a server without chunk indexes: the whole checksum still decides
                self._response = self._registry._request_content(self._url, self._params, self._position,
                                                                 self._end)
                return
            expected = self._checksum or (self._index.digest if self._index is not None else None)
            if expected and index.digest != expected:
                raise ArtifactIntegrityError(
                    f"{self._url} has a chunk index of {index.digest}, not of the recorded {expected}"
                )
            self._index = index
        stop = index.size if self._end is None else min(self._end, index.size)
        if self._position >= stop:
            return
        self._origin = index.span(self._position // index.chunk_size)[0]
        self._last = min(index.chunks_for(self._position, stop)[1], index.last_covered())
        response = self._registry._request_content(self._url, self._params, self._origin,
                                                   index.span(self._last)[1])
        served = response.headers.get("x-content-sha256")
        if served != index.digest:
            response.close()
            raise ArtifactIntegrityError(
                f"{self._url} serves content {served}, but its chunk index is of {index.digest}"
            )
        self._response = response

    def _checked(self, response: httpx.Response, index: ChunkIndex) -> Iterator[bytes]:
        """The response (from ``origin``, a chunk boundary) cut into whole chunks, each checked.

        No byte of a chunk is yielded before its check; two chunks are checked at once on workers.
        """
        stop = index.size if self._end is None else min(self._end, index.size)
        number = self._origin // index.chunk_size
        last = self._last
        parts: list[bytes] = []
        have = 0
        pending: deque[tuple[int, bytes, Future[None]]] = deque()
        try:
            for piece in rechunk(response.iter_bytes(), index.chunk_size):
                view = memoryview(piece)
                while view:
                    if number > last:
                        raise ArtifactIntegrityError(f"{self._url} sent more bytes than the range asked for")
                    low, high = index.span(number)
                    take = view[:high - low - have]
                    parts.append(piece if len(take) == len(piece) else bytes(take))
                    have += len(take)
                    view = view[len(take):]
                    if have == high - low:
                        data = parts[0] if len(parts) == 1 else b"".join(parts)
                        pending.append((number, data, WORKER_POOL.submit(index.check, number, data)))
                        number, parts, have = number + 1, [], 0
                        while len(pending) >= 2:
                            yield from self._window_of(index, *pending.popleft(), stop)
        except httpx.TransportError:
            while pending:  # whole chunks that arrived before the drop: the resume starts after them
                yield from self._window_of(index, *pending.popleft(), stop)
            raise
        while pending:
            yield from self._window_of(index, *pending.popleft(), stop)
        if number <= last:
            raise ArtifactIntegrityError(f"{self._url} ended before chunk {number} of the range was complete")

    def _window_of(self, index: ChunkIndex, number: int, data: bytes, check: Future[None],
                   stop: int) -> Iterator[bytes]:
        check.result()
        low = index.span(number)[0]
        a, b = max(self._position, low) - low, min(stop, low + len(data)) - low
        view = memoryview(data)
        for offset in range(a, b, self._chunk_size):
            upto = min(b, offset + self._chunk_size)
            piece = data if (offset, upto) == (0, len(data)) else bytes(view[offset:upto])
            self._position = low + upto
            yield piece

    def _chunks(self) -> Generator[bytes, None, None]:
        held: bytes | None = None
        for chunk in self._pieces():
            if self._hasher is None:
                yield chunk
                continue
            self._hasher.update(chunk)
            if held is not None:
                yield held
            held = chunk
        if self._hasher is not None and self._hasher.hexdigest() != self._checksum:
            raise ArtifactIntegrityError(
                f"downloaded content hashes to {self._hasher.hexdigest()}, not the recorded {self._checksum}"
            )
        if held is not None:
            yield held


def _storage_param() -> dict[str, str]:
    """The ``storage`` query parameter of a blob request: the store the current upload writes to."""
    storage = _STORAGE.get()
    return {} if storage is None else {"storage": storage}
