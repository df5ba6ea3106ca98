"""`HttpRegistry.upload_many`: slices of items stored while earlier slices are created, ``POST /artifacts/batch``.

Items are stored (read, hashed, small contents kept for the request) a slice of
`BATCH_SLICE` at a time, and each slice's create request is sent from a thread while
this one stores the next: reading and hashing files here and cataloguing them on the
server happen at once, up to `BATCH_IN_FLIGHT` requests at a time (a server with
several workers creates them in parallel). A slice naming an artifact that an
unanswered request also names waits for that answer, so versions of one name follow
the items' order; results always do.

Every manifest gets its idempotency key before the first attempt, so the client's
retry of a request whose answer was lost returns the same artifacts. Small contents
collected while the batch was stored travel inside the request (``blobs``, shared by
its items) up to `batches.MAX_REQUEST_INLINE_BYTES` (the rest is PUT first). Each
item's error comes back as the same `ArtifactError` subclass the server raised. A
server without the route (404/405) gets one ``POST /artifacts`` per item instead.
"""

from __future__ import annotations

import base64
import contextvars
import functools
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pydantic_core

from prefect_artifacts.batches import MAX_REQUEST_INLINE_BYTES, MAX_REQUEST_ITEMS
from prefect_artifacts.errors import ArtifactError
from prefect_artifacts.models import ArtifactManifest, ConflictStrategy
from prefect_artifacts.registry.base import _STORAGE, Registry

if TYPE_CHECKING:
    from prefect_artifacts.batches import BatchJob
    from prefect_artifacts.models import Artifact
    from prefect_artifacts.registry.http import HttpRegistry

Request = tuple[ArtifactManifest, ConflictStrategy, bool]
Results = list["Artifact | ArtifactError"]

#: Items stored before their create request is sent (while the next slice is stored).
BATCH_SLICE = 250
#: Most create requests of one `upload_many` in flight at once.
BATCH_IN_FLIGHT = 2


def upload_in_slices(reg: HttpRegistry, jobs: Sequence[BatchJob], storage: str | None) -> Results:
    """Store ``jobs`` slice by slice and create each slice from a sender thread: a result per job, in order.

    Example:
        ```python
        results = upload_in_slices(reg, jobs, storage=None)
        ```
    """
    results: Results = []
    in_flight: deque[tuple[set[tuple[str, str]], Future[Results]]] = deque()
    with ThreadPoolExecutor(BATCH_IN_FLIGHT, thread_name_prefix="prefect-artifacts-batch") as sender:
        for start in range(0, len(jobs), BATCH_SLICE):
            inline: dict[str, bytes] = {}  # this slice's small contents, sent with its create requests
            reg._inline.batch = inline
            reg._inline.batch_bytes = 0
            try:
                out, pending = reg._store_batch(jobs[start:start + BATCH_SLICE], storage)
            finally:
                reg._inline.batch = None
            names = {(m.folder, m.name) for _i, m, _s, _mk in pending}
            while in_flight and (len(in_flight) >= BATCH_IN_FLIGHT or any(names & n for n, _f in in_flight)):
                results.extend(in_flight.popleft()[1].result())  # the oldest first: results keep their order
            in_flight.append((names, sender.submit(contextvars.copy_context().run, reg._create_stored, out, pending,
                                                   functools.partial(create_many, reg, inline=inline))))
        while in_flight:
            results.extend(in_flight.popleft()[1].result())
    return results


def create_many(reg: HttpRegistry, requests: Sequence[Request],
                inline: Mapping[str, bytes]) -> list[Artifact | ArtifactError]:
    """Create ``requests`` through the batch endpoint: a result per request, in order.

    ``inline`` holds the small contents stored for these manifests but not sent yet
    (digest → bytes); each is sent with the first request that uses it.

    Example:
        ```python
        results = create_many(reg, [(manifest, ConflictStrategy.NEW, True)], inline={})
        ```
    """
    keyed = [(m if m.idempotency_key else m.model_copy(update={"idempotency_key": uuid.uuid4().hex}), s, mk)
             for m, s, mk in requests]  # keys fixed before any attempt: a retried request is safe
    out: list[Artifact | ArtifactError] = []
    for start in range(0, len(keyed), MAX_REQUEST_ITEMS):
        chunk = keyed[start:start + MAX_REQUEST_ITEMS]
        blobs = _inline_for(reg, chunk, inline)
        if reg._batch_route is not False:
            results = _post(reg, chunk, blobs)
            if results is not None:
                out.extend(results)
                continue
            reg._batch_route = False  # an older server: one create per item from now on
        _put_all(reg, chunk, blobs)
        out.extend(Registry._create_many(reg, chunk))  # the default: one POST /artifacts each
    return out


def _inline_for(reg: HttpRegistry, chunk: Sequence[Request], inline: Mapping[str, bytes]) -> dict[str, bytes]:
    """The contents this request carries: those its items use, up to the server's cap (the rest PUT now).

    A content used by several requests goes with each: sent content counts as the
    caller's only for the request that carries it.
    """
    blobs: dict[str, bytes] = {}
    put: set[str] = set()
    total = 0
    for manifest, _s, _mk in chunk:
        for f in manifest.files:
            digest = f.digest
            if digest is None or digest not in inline or digest in blobs or digest in put:
                continue
            data = inline[digest]
            if total + len(data) > MAX_REQUEST_INLINE_BYTES:
                _put(reg, manifest, digest, data)
                put.add(digest)
            else:
                blobs[digest] = data
                total += len(data)
    return blobs


def _put(reg: HttpRegistry, manifest: ArtifactManifest, digest: str, data: bytes) -> None:
    token = _STORAGE.set(manifest.storage_id)  # the store the artifact's blobs go to
    try:
        reg._put_blob(digest, len(data), lambda: data)
    finally:
        _STORAGE.reset(token)


def _put_all(reg: HttpRegistry, chunk: Sequence[Request], blobs: Mapping[str, bytes]) -> None:
    owner = {f.digest: m for m, _s, _mk in chunk for f in m.files if f.digest in blobs}
    for digest, data in blobs.items():
        _put(reg, owner[digest], digest, data)


def _batch_body(items: list[dict[str, Any]], blobs: Mapping[str, bytes]) -> bytes:
    """The JSON of a batch request: the items as every request's JSON (`json_body`), the contents by pydantic-core.

    The contents, a map of base64 strings, are most of the bytes and cost a quarter as
    much to encode this way.
    """
    from prefect_artifacts.registry.http import json_body

    head = json_body({"items": items})
    if not blobs:
        return head
    encoded = pydantic_core.to_json({d: base64.b64encode(data).decode() for d, data in blobs.items()})
    return head[:-1] + b',"blobs":' + encoded + b"}"


def _post(reg: HttpRegistry, chunk: Sequence[Request],
          blobs: Mapping[str, bytes]) -> list[Artifact | ArtifactError] | None:
    """One ``POST /artifacts/batch``; None when the server has no such route."""
    from prefect_artifacts.registry.http import _no_such_route, error_from_response, error_of

    items = []
    for manifest, strategy, make_folder in chunk:
        item = manifest.model_dump(mode="json", by_alias=True)
        item.update(conflictStrategy=strategy.value, makeFolder=make_folder)
        items.append(item)
    response = reg._send("POST", "/artifacts/batch", content=_batch_body(items, blobs),
                         headers={"Content-Type": "application/json"}, allow=(404, 405))
    if response.status_code == 405 or (response.status_code == 404 and _no_such_route(response)):
        return None
    if response.status_code >= 400:
        raise error_from_response(response)
    reg._batch_route = True
    results = response.json()["results"]
    if len(results) != len(chunk):
        raise ArtifactError(f"the server answered {len(results)} results for {len(chunk)} items")
    out: list[Artifact | ArtifactError] = []
    for result in results:
        error = result.get("error")
        if error is not None:
            out.append(error_of(error.get("type"), str(error.get("detail") or ""), int(error.get("status") or 500)))
        else:
            out.append(reg._created(result))
    return out
