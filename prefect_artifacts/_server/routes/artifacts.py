"""Artifact routes: create, list, get, update, delete, files, runs, aspects, aliases, lineage."""

from __future__ import annotations

import base64
import binascii
import logging
import sys
from typing import Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response

from prefect_artifacts._server.auth import current_principal
from prefect_artifacts._server.schemas import (
    AliasRequest,
    ArtifactPage,
    AspectRequest,
    AttachRequest,
    CreateArtifactRequest,
    CreateArtifactsRequest,
    CreatedArtifact,
    CreatedArtifacts,
    CreatedItem,
    ItemError,
    RecordDownloadRequest,
    UpdateArtifactRequest,
)
from prefect_artifacts._server.state import ServerState, dump, public_error, server_state
from prefect_artifacts.batches import MAX_REQUEST_INLINE_BYTES
from prefect_artifacts.catalog.auth import Principal
from prefect_artifacts.errors import ArtifactError, InvalidArtifactInput, PayloadTooLarge
from prefect_artifacts.models import (
    Artifact,
    ArtifactFile,
    ArtifactManifest,
    Aspect,
    Lineage,
    RunCategory,
    RunLink,
    Transfer,
)

router = APIRouter(tags=["artifacts"])
logger = logging.getLogger("prefect_artifacts.server")
Caller = Depends(current_principal)
State = Depends(server_state)


def _strict_b64decode(encoded: str) -> bytes:
    """Standard base64 with nothing else in it (``binascii``'s strict mode: no regex over every blob)."""
    if sys.version_info >= (3, 11):
        return binascii.a2b_base64(encoded, strict_mode=True)
    return base64.b64decode(encoded, validate=True)


def _sent_blobs(body: CreateArtifactRequest | CreateArtifactsRequest) -> dict[str, bytes]:
    """The small contents sent inside the create, base64-decoded (the registry verifies them)."""
    blobs = {}
    for digest, encoded in body.blobs.items():
        try:
            blobs[digest] = _strict_b64decode(encoded)
        except ValueError as exc:
            raise InvalidArtifactInput(f"inline blob {digest[:16]}… is not valid base64") from exc
    return blobs


@router.post("/artifacts", status_code=201, response_model=CreatedArtifact,
             responses={200: {"model": CreatedArtifact, "description": "An existing artifact (skip or retry)."}})
def create_artifact(
    body: CreateArtifactRequest,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
    principal: Principal = Caller,
    state: ServerState = State,
) -> Response:
    """Catalog a new artifact version whose blobs were uploaded with ``PUT /blobs/{digest}``.

    Small contents may come inside the request (``blobs``). A retried request with the
    same ``Idempotency-Key`` returns the first result. The registry derives sizes and
    checksums from the stored content and applies the folder and possession rules
    (`LocalRegistry.create`).
    """
    manifest = _manifest(body)
    if idempotency_key is not None:
        manifest.idempotency_key = idempotency_key
    art, created = state.registry_for(principal).create(manifest, body.conflict_strategy, body.make_folder,
                                                        _sent_blobs(body))
    return dump(CreatedArtifact(artifact=art, files=art.files, created=created), status_code=201 if created else 200)


def _manifest(body: CreateArtifactRequest) -> ArtifactManifest:
    return ArtifactManifest.model_validate(body.model_dump(exclude={"conflict_strategy", "make_folder", "blobs"}))


def _batch_requests(
    body: CreateArtifactsRequest,
) -> list[tuple[ArtifactManifest, str, bool, dict[str, bytes]] | ArtifactError]:
    """Each item as a `LocalRegistry.create_many` request with the shared contents it uses, or its error."""
    shared = _sent_blobs(body)
    if sum(map(len, shared.values())) + sum(len(v) * 3 // 4 for i in body.items for v in i.blobs.values()) \
            > MAX_REQUEST_INLINE_BYTES:
        raise PayloadTooLarge(f"a batch carries at most {MAX_REQUEST_INLINE_BYTES} bytes of inline content; "
                              "PUT larger contents to /blobs/{digest} first")
    used: set[str] = set()
    out: list[tuple[ArtifactManifest, str, bool, dict[str, bytes]] | ArtifactError] = []
    for item in body.items:
        wanted = {f.digest for f in item.files if f.uri is None}
        mine = {d: shared[d] for d in wanted if d is not None and d in shared}
        used.update(mine)
        try:
            mine.update(_sent_blobs(item))
            out.append((_manifest(item), item.conflict_strategy.value, item.make_folder, mine))
        except ArtifactError as exc:
            out.append(exc)
    unused = set(shared) - used
    if unused:
        raise InvalidArtifactInput(f"sent content {min(unused)[:16]}… is not a file of any item")
    return out


def _item_result(index: int, result: tuple[Artifact, bool] | ArtifactError) -> CreatedItem:
    if isinstance(result, ArtifactError):
        name, status, detail = public_error(result)
        if status >= 500:  # as for a whole request: the details go to the log only
            logger.warning("%s on item %d of POST /artifacts/batch: %s", name, index, result)
        return CreatedItem(index=index, error=ItemError(type=name, status=status, detail=detail))
    art, created = result
    return CreatedItem(index=index, created=created, artifact=art, files=art.files)


@router.post("/artifacts/batch", response_model=CreatedArtifacts)
def create_artifacts(
    body: CreateArtifactsRequest, principal: Principal = Caller, state: ServerState = State,
) -> Response:
    """Catalog many artifact versions in one request and one catalog transaction: a result per item, in order.

    Each item is checked and created as ``POST /artifacts`` would (folder, group and
    possession rules, its own ``idempotencyKey``): a failing item is reported in its
    result (``error``: class name, HTTP status, message) and never stops the others.
    A retried request with the same idempotency keys returns the same artifacts
    (``created: false``). Small contents may come inline, in ``blobs`` (shared by the
    items) or in an item's own ``blobs``.
    """
    requests = _batch_requests(body)
    valid = [(i, r) for i, r in enumerate(requests) if not isinstance(r, ArtifactError)]
    made = state.registry_for(principal).create_many([r for _, r in valid]) if valid else []
    results: dict[int, tuple[Artifact, bool] | ArtifactError] = {
        i: r for i, r in enumerate(requests) if isinstance(r, ArtifactError)}
    results.update((i, result) for (i, _r), result in zip(valid, made, strict=True))
    return dump(CreatedArtifacts(results=[_item_result(i, results[i]) for i in range(len(requests))]))


@router.get("/artifacts", response_model=ArtifactPage)
def list_artifacts(
    index: int = Query(0, ge=0),
    page_length: int = Query(10, alias="pageLength"),
    sort_by: str | None = Query(None, alias="sortBy"),
    descending: bool = False,
    search: str | None = None,
    group_id: str | None = Query(None, alias="groupId"),
    folder: str | None = None,
    cursor: str | None = None,
    principal: Principal = Caller,
    state: ServerState = State,
) -> Response:
    """One page of artifacts in the paging envelope (``nextCursor`` pages by keyset)."""
    page = state.registry_for(principal).list(index, page_length, sort_by, descending, search, group_id, folder, cursor)
    return dump(ArtifactPage(index=page.index, page_length=page.page_length, total_num_results=page.total,
                             is_complete=page.is_complete, next_cursor=page.next_cursor, data=page.data))


@router.get("/artifact-count", response_model=int)
def count_artifacts(
    search: str | None = None, folder: str | None = None, group_id: str | None = Query(None, alias="groupId"),
    principal: Principal = Caller, state: ServerState = State,
) -> Any:
    """Number of artifacts matching ``search``."""
    return state.registry_for(principal).count(search, folder, group_id)


@router.get("/artifact-ids", response_model=list[str])
def artifact_ids(
    count: int | None = Query(None, ge=0), offset: int = Query(0, ge=0),
    principal: Principal = Caller, state: ServerState = State,
) -> Any:
    """Artifact ids, oldest first."""
    return state.registry_for(principal).ids(count, offset)


_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: ``If-None-Match`` names the artifact's current ETag."}}


def _tagged(art: Artifact, if_none_match: str | None) -> Response:
    """The artifact with its ``ETag`` (`Artifact.etag`); 304 when ``If-None-Match`` names it."""
    tag = f'"{art.etag}"'
    headers = {"ETag": tag}
    if if_none_match is not None:
        sent = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        if tag in sent or "*" in sent:
            return Response(status_code=304, headers=headers)
    return dump(art, headers=headers)


@router.get("/resolve", response_model=Artifact, responses=_NOT_MODIFIED)
def resolve(
    ref: str = Query(max_length=2048), if_none_match: str | None = Header(None, alias="If-None-Match", max_length=4096),
    principal: Principal = Caller, state: ServerState = State,
) -> Response:
    """Resolve any reference (``/folder/name:alias`` included) to an artifact, with its ``ETag``."""
    return _tagged(state.registry_for(principal).get(ref), if_none_match)


@router.get("/artifacts/{id}", response_model=Artifact, responses=_NOT_MODIFIED)
def get_artifact(
    id: str, if_none_match: str | None = Header(None, alias="If-None-Match", max_length=4096),
    principal: Principal = Caller, state: ServerState = State,
) -> Response:
    """An artifact by id, urn or any reference without a folder (``name:3``), with its ``ETag``.

    ``If-None-Match`` with the current ETag (`Artifact.etag`, quoted) answers 304 Not Modified.
    """
    return _tagged(state.registry_for(principal).get(id), if_none_match)


@router.patch("/artifacts/{id}", response_model=Artifact)
def update_artifact(
    id: str, body: UpdateArtifactRequest, principal: Principal = Caller, state: ServerState = State
) -> Response:
    """Change an artifact's description and/or labels."""
    return dump(state.registry_for(principal).update(id, body.description, body.labels))


@router.delete("/artifacts/{id}", status_code=204)
def delete_artifact(id: str, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Delete an artifact version (its blobs go at the next garbage collection)."""
    state.registry_for(principal).delete(id)
    return Response(status_code=204)


@router.get("/artifacts/{id}/files", response_model=list[ArtifactFile])
def artifact_files(id: str, principal: Principal = Caller, state: ServerState = State) -> Response:
    """The files of an artifact, sorted by path."""
    return dump(state.registry_for(principal).files(id))


@router.post("/artifacts/{id}/runs", status_code=201, response_model=RunLink)
def attach_run(id: str, body: AttachRequest, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Associate an artifact with a flow run as input, output or code."""
    return dump(state.registry_for(principal).attach(id, body.run_id, body.category), status_code=201)


@router.get("/artifacts/{id}/runs", response_model=list[RunLink])
def artifact_runs(id: str, principal: Principal = Caller, state: ServerState = State) -> Response:
    """The flow runs an artifact is associated with."""
    return dump(state.registry_for(principal).get(id).runs)


@router.post("/artifacts/{id}/aspects", status_code=201, response_model=Aspect)
def add_aspect(id: str, body: AspectRequest, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Attach a metadata aspect (validated against its JSON Schema when one is given)."""
    return dump(state.registry_for(principal).add_metadata(id, body.aspect, body.schema_, body.policy), status_code=201)


@router.get("/artifacts/{id}/aspects", response_model=list[Aspect])
def list_aspects(
    id: str, schema: str | None = Query(None, max_length=1024), principal: Principal = Caller,
    state: ServerState = State,
) -> Response:
    """The metadata aspects of an artifact the caller may read, oldest first; of one schema (``*``/``?`` wildcards)."""
    return dump(state.registry_for(principal).list_aspects(id, schema))


@router.post("/artifacts/{id}/aliases", response_model=Artifact)
def set_alias(id: str, body: AliasRequest, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Point an alias of the artifact's name at this version."""
    return dump(state.registry_for(principal).set_alias(id, body.alias))


@router.get("/artifacts/{id}/transfers", response_model=list[Transfer])
def artifact_transfers(id: str, principal: Principal = Caller, state: ServerState = State) -> Response:
    """The upload and download history of an artifact, oldest first (seed 001's ``remote``)."""
    return dump(state.registry_for(principal).transfers(id))


@router.post("/artifacts/{id}/transfers", status_code=201, response_model=Transfer)
def record_download(
    id: str, body: RecordDownloadRequest | None = None, principal: Principal = Caller, state: ServerState = State
) -> Response:
    """Record that the caller downloaded the artifact (reading it is enough); the body is optional."""
    local_path = None if body is None else body.local_path
    return dump(state.registry_for(principal).record_download(id, local_path), status_code=201)


@router.get("/artifacts/{id}/lineage", response_model=Lineage)
def lineage(id: str, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Artifacts connected to this one through the runs that used them (readable ones only)."""
    return dump(state.registry_for(principal).lineage(id))


@router.get("/runs/{runId}/artifacts", response_model=list[Artifact])
def run_artifacts(
    run_id: str = Path(alias="runId"), category: RunCategory | None = None,
    principal: Principal = Caller, state: ServerState = State,
) -> Response:
    """Artifacts associated with a flow run, optionally of one category."""
    return dump(state.registry_for(principal).run_artifacts(run_id, category))
