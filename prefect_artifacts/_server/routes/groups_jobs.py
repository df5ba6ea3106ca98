"""The caller's groups and its jobs (a job is a Prefect flow run): seed 002's group and job endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Response

from prefect_artifacts._server.auth import current_principal
from prefect_artifacts._server.schemas import _Body
from prefect_artifacts._server.state import ServerState, dump, server_state
from prefect_artifacts.catalog.auth import Principal
from prefect_artifacts.errors import ArtifactNotFound
from prefect_artifacts.models import Artifact, RunCategory

router = APIRouter()
Caller = Depends(current_principal)
State = Depends(server_state)


class GroupAccess(_Body):
    """A group the caller belongs to and what it may do there.

    Example:
        ```python
        {"id": "team-a", "canWrite": true, "isDefault": true}
        ```
    """

    id: str
    can_write: bool
    is_default: bool


class Job(_Body):
    """A job (a Prefect flow run) and the artifacts it used, by category (readable ones only).

    Example:
        ```python
        {"id": "5f0c…", "inputs": [...], "outputs": [...], "code": [...]}
        ```
    """

    id: str
    inputs: list[Artifact]
    outputs: list[Artifact]
    code: list[Artifact]


def _groups(principal: Principal, state: ServerState) -> list[GroupAccess]:
    """The caller's groups; every group for an admin (every one has write access)."""
    if principal.readable is None:
        ids = {g.id for g in state.auth_catalog.list_groups()} | {principal.default_group}
        writable: frozenset[str] | set[str] = ids
    else:
        ids, writable = set(principal.readable), principal.writable or frozenset()
    return [GroupAccess(id=g, can_write=g in writable, is_default=g == principal.default_group) for g in sorted(ids)]


@router.get("/groups", response_model=list[GroupAccess], tags=["groups"])
def list_groups(principal: Principal = Caller, state: ServerState = State) -> Response:
    """The groups the caller belongs to (an admin: every group), sorted by id."""
    return dump(_groups(principal, state))


@router.get("/groups/{groupId}", response_model=GroupAccess, tags=["groups"])
def get_group(group_id: str = Path(alias="groupId", max_length=64), principal: Principal = Caller,
              state: ServerState = State) -> Response:
    """One of the caller's groups (another group is not found)."""
    for group in _groups(principal, state):
        if group.id == group_id:
            return dump(group)
    raise ArtifactNotFound(f"no group {group_id[:64]!r}")


@router.get("/jobs/{jobId}/artifacts", response_model=list[Artifact], tags=["jobs"])
def job_artifacts(
    job_id: str = Path(alias="jobId", max_length=64), category: RunCategory | None = Query(None),
    principal: Principal = Caller, state: ServerState = State,
) -> Response:
    """The artifacts of a job (a flow run), optionally of one category: ``GET /runs/{runId}/artifacts``."""
    return dump(state.registry_for(principal).run_artifacts(job_id, category))


@router.get("/jobs/{jobId}", response_model=Job, tags=["jobs"])
def get_job(job_id: str = Path(alias="jobId", max_length=64), principal: Principal = Caller,
            state: ServerState = State) -> Response:
    """A job's inputs, outputs and code; not found when it used no artifact the caller can read."""
    arts = state.registry_for(principal).run_artifacts(job_id)
    if not arts:
        raise ArtifactNotFound(f"no job {job_id[:64]!r} with artifacts you can read")
    by = {c: [a for a in arts if any(r.run_id == job_id and r.category is c for r in a.runs)] for c in RunCategory}
    return dump(Job(id=job_id, inputs=by[RunCategory.INPUT], outputs=by[RunCategory.OUTPUT],
                    code=by[RunCategory.CODE]))
