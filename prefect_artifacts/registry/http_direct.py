"""`HttpRegistry`'s direct transfers: bytes to and from the server's bucket over presigned URLs.

Upload: ``POST /blobs/{digest}/upload-url``; with a URL the file is PUT to the bucket with
the signed headers (its SHA-256 among them, which S3 checks), or, for a blob past the
server's multipart threshold, its parts are PUT in parallel to their URLs; then ``POST
/blobs/{digest}/uploaded`` (with the parts' ETags) lets the server check what arrived.
Without a URL (a local-disk server, presigning turned off, small content, an older
server that answers ``404``) the bytes go through ``PUT /blobs/{digest}`` as before;
refusals that hold for a whole store are remembered, so the client stops asking.

Download: a whole file is asked for with ``X-Direct-Download: presigned``; a ``303``
carries a presigned GET, streamed from the bucket and verified against the SHA-256 by
`http._Download` like any download. A bucket that refuses it (an expired URL, say) is not
an error: the content is asked from the server instead. Nor is a bucket this client
cannot connect to (a store on the server's own network): its uploads go through the
server from then on. Nor is an upload the server
refuses to count as the caller's (another uploader's PUT of the same blob may have landed
last): it is sent again through the server, which hashes it.

The API key never goes to the bucket, and URLs never go into messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx

from prefect_artifacts._progress import HighWater
from prefect_artifacts.errors import ArtifactIntegrityError, BlobNotFound, StorageError
from prefect_artifacts.storage.content_store import BlobInfo

if TYPE_CHECKING:
    from prefect_artifacts.registry.http import HttpRegistry

#: Parts of a multipart upload in flight at once.
PART_WORKERS = 4
#: Answers of the bucket worth another try (a transient hiccup).
_RETRY_STATUS = {500, 502, 503, 504}
DEFAULT = "default"


class DirectTransfers:
    """What one `HttpRegistry` knows about its server's presigned URLs, and the transfers over them.

    Example:
        ```python
        info = reg._direct.upload(digest, size, lambda: open(path, "rb"), storage=None)
        ```
    """

    def __init__(self, registry: HttpRegistry) -> None:
        self._reg = registry
        self._off: set[str] = set()  # stores (ids) this server never presigns for
        self._min: dict[str, int] = {}  # stores' smallest size worth a URL
        self._unreachable = False  # the bucket refused a connection: everything goes through the server

    @property
    def enabled(self) -> bool:
        """Whether this client uses presigned URLs at all (the ``direct_transfers`` setting).

        Example:
            ```python
            reg._direct.enabled
            ```
        """
        return bool(self._reg.settings.direct_transfers) and not self._unreachable

    def upload(self, digest: str, size: int, body: Callable[[], Iterable[bytes]],
               part: Callable[[int, int], Iterable[bytes]], params: dict[str, str],
               sent: HighWater | None = None) -> BlobInfo | None:
        """Send a blob straight to the bucket when the server offers a URL; None: send it through the server.

        ``body`` makes the bytes (called again for a retry), ``part(offset, length)`` those
        of one part of a multipart upload; ``params`` is the blob requests' ``storage``
        parameter. ``sent`` is the progress of the whole blob (``body`` reports to it
        itself): each part's bytes count towards it as they are sent, once, so sending
        ``body`` through the server afterwards does not count them again.

        Raises:
            StorageError: the bucket refused the PUT or could not be reached.
            ArtifactIntegrityError: the bucket refused the bytes (they do not hash to ``digest``).

        Example:
            ```python
            info = reg._direct.upload(digest, size, lambda: chunks(path), {})
            ```
        """
        store = params.get("storage", DEFAULT)
        if not self.enabled or store in self._off or size < self._min.get(store, 0):
            return None
        reg = self._reg
        from prefect_artifacts.registry.http import _no_such_route, error_from_response

        response = reg._send("POST", f"/blobs/{digest}/upload-url", json={"size": size}, params=params,
                             allow=(404, 405))
        if response.status_code in (404, 405):
            if response.status_code == 405 or _no_such_route(response):  # an older server
                self._off.add(store)
                return None
            raise error_from_response(response)
        offer = response.json()
        self._min[store] = int(offer.get("minBytes") or 0)
        done = {"size": size, "upload": str(offer.get("upload"))}
        if not (offer.get("parts") or offer.get("url")):
            if offer.get("permanent"):
                self._off.add(store)
            return None
        try:
            if offer.get("parts"):
                etags = self._send_parts(offer["parts"], int(offer["partSize"]), size, part, digest,
                                         sent or HighWater())
                done.update(multipart=offer["multipart"], etags=etags)
            else:
                headers = {**offer.get("headers", {}), "Content-Length": str(size)}
                self._send_to_bucket(offer.get("method") or "PUT", offer["url"], headers, body, digest)
        except _Unreachable:
            self._unreachable = True  # the bucket is not on this client's network: the server relays
            return None
        try:
            data = reg._json("POST", f"/blobs/{digest}/uploaded", json=done, params=params)  # idempotent
        except (ArtifactIntegrityError, BlobNotFound, StorageError):
            # Another uploader's PUT of the same blob landed after ours, the temp copy is gone (a gc
            # whose grace is shorter than the upload), or the server's store failed finishing it
            # (moto's copy into place fails under load): the bytes go through the server instead.
            return None
        return BlobInfo(data["digest"], data["size"], written=bool(data["written"]))

    def _send_parts(self, urls: list[str], part_size: int, size: int,
                    part: Callable[[int, int], Iterable[bytes]], digest: str, sent: HighWater) -> list[str]:
        """PUT each part to its URL, ``PART_WORKERS`` at a time; their ETags in order.

        ``sent`` (made in the caller's context: the pool's threads do not see its meter)
        learns each part's bytes as they go, through a mark per part, so a retried part is
        not counted again.
        """
        def send(number: int) -> str:
            offset = number * part_size
            length = min(part_size, size - offset)
            mark = sent.part()
            return self._send_to_bucket("PUT", urls[number], {"Content-Length": str(length)},
                                        lambda: _reported(part(offset, length), mark), digest)

        with ThreadPoolExecutor(PART_WORKERS) as pool:
            return list(pool.map(send, range(len(urls))))

    def _send_to_bucket(self, method: str, url: str, headers: dict[str, str],
                        body: Callable[[], Iterable[bytes]], digest: str) -> str:
        """Send one request to the bucket (retrying hiccups); the object's or part's ETag."""
        reg = self._reg
        for attempt in range(reg.retries + 1):
            last = attempt == reg.retries
            try:
                response = reg.client.send(reg.client.build_request(method, url, headers=headers, content=body()))
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise _Unreachable(f"the content store cannot be reached: {type(exc).__name__}") from exc
            except httpx.TransportError as exc:
                if last:
                    raise StorageError(f"the upload of {digest} to the content store failed: {exc}") from exc
                reg._sleep(attempt)
                continue
            if response.status_code in _RETRY_STATUS and not last:
                reg._sleep(attempt)
                continue
            if response.status_code >= 300:
                code = _s3_error_code(response)
                if code in ("BadDigest", "XAmzContentChecksumMismatch", "InvalidDigest"):
                    raise ArtifactIntegrityError(f"the content store refused the upload of {digest}: its bytes"
                                                 " do not hash to it (did the file change?)")
                raise StorageError(f"the content store refused the upload of {digest}: HTTP"
                                   f" {response.status_code} {code or ''}".rstrip())
            return response.headers.get("etag", "")
        raise AssertionError("unreachable")  # pragma: no cover

    def fetch(self, redirect: httpx.Response) -> tuple[httpx.Response, str] | None:
        """Open the presigned GET of a ``303`` (streamed); None when the bucket refuses it.

        Returns the bucket's response and the SHA-256 the content must hash to.

        Example:
            ```python
            opened = reg._direct.fetch(response)
            ```
        """
        redirect.read()
        redirect.close()
        body = redirect.json()
        client = self._reg.client
        try:
            response = client.send(client.build_request("GET", body["url"]), stream=True)
        except httpx.TransportError as exc:
            self._unreachable = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
            return None  # the server serves it instead
        if response.status_code != 200:
            response.close()
            return None
        return response, str(body["checksum"])


def _reported(chunks: Iterable[bytes], mark: HighWater) -> Iterator[bytes]:
    """``chunks``, each reported to ``mark`` once the transport asks for the next one (it is written by then)."""
    done = 0
    for chunk in chunks:
        yield chunk
        done += len(chunk)
        mark.reach(done)


class _Unreachable(StorageError):
    """The bucket does not answer this client (a store on the server's network only)."""


def _s3_error_code(response: httpx.Response) -> str | None:
    """The ``<Code>`` of an S3 error body, if any."""
    text: Any = response.text[:2048]
    start = text.find("<Code>")
    end = text.find("</Code>", start)
    return text[start + 6:end] if start >= 0 and end > start else None
