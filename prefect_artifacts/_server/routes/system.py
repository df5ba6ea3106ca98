"""Plugin snapshots, health, the caller's identity and administration."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response

from prefect_artifacts import __version__
from prefect_artifacts._server.auth import current_principal
from prefect_artifacts._server.schemas import Health, SnapshotRequest, Whoami
from prefect_artifacts._server.state import ServerState, dump, server_state
from prefect_artifacts.catalog.auth import Principal
from prefect_artifacts.models import GcReport, PluginSnapshot

router = APIRouter()
Caller = Depends(current_principal)
State = Depends(server_state)


@router.post("/plugin-snapshots", status_code=201, response_model=PluginSnapshot, tags=["plugin snapshots"])
def create_snapshot(body: SnapshotRequest, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Catalog a plugin snapshot whose files were uploaded with ``PUT /blobs/{digest}``.

    The same code gives the same snapshot; the caller's group may then read it.
    """
    snapshot = state.registry_for(principal).register_plugin_snapshot(
        body.plugin_name, body.version, body.digest, body.files, body.group_id)
    return dump(snapshot, status_code=201)


@router.get("/plugin-snapshots/{id}", response_model=PluginSnapshot, tags=["plugin snapshots"])
def get_snapshot(id: str, principal: Principal = Caller, state: ServerState = State) -> Response:
    """A plugin snapshot and its file list."""
    return dump(state.registry_for(principal).get_plugin_snapshot(id))


@router.get(
    "/plugin-snapshots/{id}/files", response_class=Response, tags=["plugin snapshots"],
    responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
)
def snapshot_file(
    id: str, path: str = Query(max_length=1024), principal: Principal = Caller, state: ServerState = State
) -> Response:
    """One source file of a snapshot, verified against its recorded SHA-256."""
    data = state.registry_for(principal).read_plugin_snapshot_file(id, path)
    return Response(data, media_type="application/octet-stream")


@router.get("/health", response_model=Health, tags=["system"])
async def health(request: Request) -> Response:
    """Liveness (no authentication needed); answered on the event loop, no worker-thread hop."""
    state: ServerState = request.app.state.server
    return dump(Health(status="ok", version=__version__, auth=state.auth.enabled))


@router.get("/whoami", response_model=Whoami, tags=["system"])
def whoami(principal: Principal = Caller) -> Response:
    """The caller, its default group and its groups."""
    groups = None
    if principal.readable is not None:
        writable = principal.writable or frozenset()
        groups = {g: g in writable for g in sorted(principal.readable)}
    return dump(Whoami(user=principal.user_name, is_admin=principal.is_admin,
                       default_group=principal.default_group, groups=groups))


@router.get("/storages", response_model=list[str], tags=["system"])
def storages(principal: Principal = Caller, state: ServerState = State) -> list[str]:
    """The ids of the content stores an upload may choose (``?storage=`` of ``PUT /blobs``, ``storageId``)."""
    return list(state.registry_for(principal).storage_ids)


@router.post("/admin/gc", response_model=GcReport, tags=["system"])
def gc(
    dry_run: bool = Query(False, alias="dryRun"),
    grace_seconds: float | None = Query(None, alias="graceSeconds", ge=0),
    principal: Principal = Caller,
    state: ServerState = State,
) -> Response:
    """Garbage-collect unreferenced blobs (admins only)."""
    return dump(state.registry_for(principal).gc(dry_run=dry_run, grace_seconds=grace_seconds))
