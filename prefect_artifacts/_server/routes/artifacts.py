"""Artifact routes: create, list, get, update, delete, files, runs, aspects, aliases, lineage."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response

from prefect_artifacts._aspects import prepare_aspect
from prefect_artifacts._paths import normalize_folder, validate_labels, validate_name
from prefect_artifacts._server.auth import current_principal
from prefect_artifacts._server.schemas import (
    AliasRequest,
    ArtifactPage,
    AspectRequest,
    AttachRequest,
    CreateArtifactRequest,
    CreatedArtifact,
    UpdateArtifactRequest,
)
from prefect_artifacts._server.state import ServerState, dump, server_state
from prefect_artifacts.catalog.auth import Principal
from prefect_artifacts.errors import ArtifactIntegrityError, InvalidArtifactInput, MetadataValidationError
from prefect_artifacts.models import (
    Artifact,
    ArtifactFile,
    ArtifactManifest,
    Aspect,
    Lineage,
    RunCategory,
    RunLink,
)

router = APIRouter(tags=["artifacts"])
Caller = Depends(current_principal)
State = Depends(server_state)


def _manifest(body: CreateArtifactRequest, group: str, key: str | None, principal: Principal) -> ArtifactManifest:
    """Re-validate what a client sent: names, folder, labels, aspects, checksums."""
    fields = body.model_dump(exclude={"conflict_strategy", "make_folder", "aspects", "idempotency_key", "group_id",
                                      "blobs"})
    fields["folder"] = normalize_folder(body.folder)
    validate_name(body.name)
    fields["labels"] = validate_labels(body.labels)
    aspects = []
    for aspect in body.aspects:
        if not isinstance(aspect.get("content"), dict):
            raise MetadataValidationError("each aspect needs a 'content' object")
        aspects.append(prepare_aspect(aspect["content"], aspect.get("schema_name"), aspect.get("policy")))
    _check_lengths(body)
    for f in body.files:
        if f.uri is None and f.checksum not in (None, f.digest):
            raise InvalidArtifactInput(f"{f.path!r}: checksum must equal the digest of its stored content")
    fields["files"] = [f.model_copy(update={"checksum": f.checksum or f.digest}) for f in body.files]
    key = key or body.idempotency_key
    if key is not None and not 0 < len(key) <= 100:
        raise InvalidArtifactInput("Idempotency-Key must be 1-100 characters")
    # Keys are per user: another user's key never returns (or blocks) your create.
    scoped_key = f"{principal.user_id or '-'}:{key}" if key else None
    return ArtifactManifest(**fields, aspects=aspects, group_id=group, idempotency_key=scoped_key)


def _store_inline(state: ServerState, body: CreateArtifactRequest, manifest: ArtifactManifest) -> None:
    """Store small contents sent inside the create, each verified against its digest."""
    wanted = {f.digest for f in manifest.files if f.uri is None}
    for digest, encoded in body.blobs.items():
        if digest not in wanted:
            raise InvalidArtifactInput(f"inline blob {digest[:16]}… is not a file of this artifact")
        try:
            data = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise InvalidArtifactInput(f"inline blob {digest[:16]}… is not valid base64") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise ArtifactIntegrityError(f"inline content digest {actual} does not match the announced {digest}")
        state.registry.store.put_bytes(data)


def _check_lengths(body: CreateArtifactRequest) -> None:
    """Column limits of the catalog (PostgreSQL enforces them; say so with a 400, not a 500)."""
    limits = [("mimeType", body.mime_type, 255), ("checksum", body.checksum, 160)]
    for f in body.files:
        limits += [("files.path", f.path, 4096), ("files.mimeType", f.mime_type, 255),
                   ("files.checksum", f.checksum, 160)]
    limits += [("runs.runId", run_id, 64) for run_id, _category in body.runs]
    for field, value, limit in limits:
        if value is not None and len(value) > limit:
            raise InvalidArtifactInput(f"{field} is longer than {limit} characters")
    if any(not run_id for run_id, _category in body.runs):
        raise InvalidArtifactInput("runs.runId must not be empty")


@router.post("/artifacts", status_code=201, response_model=CreatedArtifact,
             responses={200: {"model": CreatedArtifact, "description": "An existing artifact (skip or retry)."}})
def create_artifact(
    body: CreateArtifactRequest,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
    principal: Principal = Caller,
    state: ServerState = State,
) -> Response:
    """Catalog a new artifact version whose blobs were uploaded with ``PUT /blobs/{digest}``.

    A retried request with the same ``Idempotency-Key`` returns the first result.
    """
    group = body.group_id or principal.default_group
    state.check_write(principal, group)
    manifest = _manifest(body, group, idempotency_key, principal)
    state.check_name(principal, manifest.folder, manifest.name, body.conflict_strategy)
    _store_inline(state, body, manifest)
    art, created = state.registry.create(manifest, body.conflict_strategy, body.make_folder)
    if not principal.can_read(art.group_id):  # a concurrent create by another group won the name
        state.check_name(principal, manifest.folder, manifest.name, body.conflict_strategy)
    files = art.files if created else state.registry.catalog.files(art.id)
    result = CreatedArtifact(artifact=art, files=files, created=created)
    return dump(result, status_code=201 if created else 200)


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
    page = state.reader(principal).list(index, page_length, sort_by, descending, search, group_id, folder, cursor)
    return dump(ArtifactPage(index=page.index, page_length=page.page_length, total_num_results=page.total,
                             is_complete=page.is_complete, next_cursor=page.next_cursor, data=page.data))


@router.get("/artifact-count", response_model=int)
def count_artifacts(
    search: str | None = None, folder: str | None = None, group_id: str | None = Query(None, alias="groupId"),
    principal: Principal = Caller, state: ServerState = State,
) -> Any:
    """Number of artifacts matching ``search``."""
    return state.reader(principal).count(search, folder, group_id)


@router.get("/artifact-ids", response_model=list[str])
def artifact_ids(
    count: int | None = Query(None, ge=0), offset: int = Query(0, ge=0),
    principal: Principal = Caller, state: ServerState = State,
) -> Any:
    """Artifact ids, oldest first."""
    return state.reader(principal).ids(count, offset)


@router.get("/resolve", response_model=Artifact)
def resolve(ref: str = Query(max_length=2048), principal: Principal = Caller, state: ServerState = State) -> Response:
    """Resolve any reference (``/folder/name:alias`` included) to an artifact."""
    return dump(state.reader(principal).get(ref))


@router.get("/artifacts/{id}", response_model=Artifact)
def get_artifact(id: str, principal: Principal = Caller, state: ServerState = State) -> Response:
    """An artifact by id, urn or any reference without a folder (``name:3``)."""
    return dump(state.reader(principal).get(id))


@router.patch("/artifacts/{id}", response_model=Artifact)
def update_artifact(
    id: str, body: UpdateArtifactRequest, principal: Principal = Caller, state: ServerState = State
) -> Response:
    """Change an artifact's description and/or labels."""
    art = state.writable(principal, id)
    return dump(state.registry.update(art.id, body.description, body.labels))


@router.delete("/artifacts/{id}", status_code=204)
def delete_artifact(id: str, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Delete an artifact version (its blobs go at the next garbage collection)."""
    state.registry.delete(state.writable(principal, id).id)
    return Response(status_code=204)


@router.get("/artifacts/{id}/files", response_model=list[ArtifactFile])
def artifact_files(id: str, principal: Principal = Caller, state: ServerState = State) -> Response:
    """The files of an artifact, sorted by path."""
    return dump(state.reader(principal).files(id))


@router.post("/artifacts/{id}/runs", status_code=201, response_model=RunLink)
def attach_run(id: str, body: AttachRequest, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Associate an artifact with a flow run as input, output or code."""
    art = state.writable(principal, id)
    return dump(state.registry.attach(art.id, body.run_id, body.category), status_code=201)


@router.get("/artifacts/{id}/runs", response_model=list[RunLink])
def artifact_runs(id: str, principal: Principal = Caller, state: ServerState = State) -> Response:
    """The flow runs an artifact is associated with."""
    return dump(state.reader(principal).get(id).runs)


@router.post("/artifacts/{id}/aspects", status_code=201, response_model=Aspect)
def add_aspect(id: str, body: AspectRequest, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Attach a metadata aspect (validated against its JSON Schema when one is given)."""
    art = state.writable(principal, id)
    return dump(state.registry.add_metadata(art.id, body.aspect, body.schema_, body.policy), status_code=201)


@router.get("/artifacts/{id}/aspects", response_model=list[Aspect])
def list_aspects(id: str, principal: Principal = Caller, state: ServerState = State) -> Response:
    """The metadata aspects of an artifact, oldest first."""
    return dump(state.reader(principal).get_metadata(id))


@router.post("/artifacts/{id}/aliases", response_model=Artifact)
def set_alias(id: str, body: AliasRequest, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Point an alias of the artifact's name at this version."""
    art = state.writable(principal, id)
    return dump(state.registry.set_alias(art.id, body.alias))


@router.get("/artifacts/{id}/lineage", response_model=Lineage)
def lineage(id: str, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Artifacts connected to this one through the runs that used them (readable ones only)."""
    return dump(state.reader(principal).lineage(id))


@router.get("/runs/{runId}/artifacts", response_model=list[Artifact])
def run_artifacts(
    run_id: str = Path(alias="runId"), category: RunCategory | None = None,
    principal: Principal = Caller, state: ServerState = State,
) -> Response:
    """Artifacts associated with a flow run, optionally of one category."""
    return dump(state.reader(principal).run_artifacts(run_id, category))
