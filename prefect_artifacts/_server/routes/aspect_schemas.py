"""The schema registry over REST: JSON Schemas for metadata aspects, registered under URNs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import Field

from prefect_artifacts._server.auth import current_principal
from prefect_artifacts._server.schemas import _Body
from prefect_artifacts._server.state import ServerState, dump, server_state
from prefect_artifacts.catalog.auth import Principal
from prefect_artifacts.catalog.schemas import schema_digest
from prefect_artifacts.errors import ArtifactNotFound
from prefect_artifacts.models import AspectSchema

router = APIRouter(tags=["schemas"])
Caller = Depends(current_principal)
State = Depends(server_state)


class RegisterSchemaRequest(_Body):
    """``POST /schemas``: a JSON Schema and the URN it is registered under.

    Example:
        ```python
        {"urn": "urn:example:schema:rows:1", "schema": {"type": "object", "required": ["rows"]}}
        ```
    """

    urn: str = Field(max_length=255, description="urn:<nid>:<nss>")
    json_schema: dict[str, Any] = Field(alias="schema")


@router.post("/schemas", status_code=201, response_model=AspectSchema,
             responses={200: {"model": AspectSchema, "description": "The same schema, registered before."}})
def register_schema(body: RegisterSchemaRequest, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Register a JSON Schema under a URN (immutable: another schema under the same URN is a 409)."""
    registry = state.registry_for(principal)
    try:
        existed = registry.get_schema(body.urn).digest == schema_digest(body.json_schema)
    except ArtifactNotFound:
        existed = False
    return dump(registry.register_schema(body.urn, body.json_schema), status_code=200 if existed else 201)


@router.get("/schemas", response_model=list[AspectSchema])
def list_schemas(prefix: str | None = Query(None, max_length=255), principal: Principal = Caller,
                 state: ServerState = State) -> Response:
    """Registered schemas sorted by URN (at most 1000), those starting with ``prefix`` if given."""
    return dump(state.registry_for(principal).list_schemas(prefix))


@router.get("/schemas/{urn:path}", response_model=AspectSchema)
def get_schema(urn: str = Path(max_length=255), principal: Principal = Caller, state: ServerState = State) -> Response:
    """The schema registered under a URN."""
    return dump(state.registry_for(principal).get_schema(urn))
