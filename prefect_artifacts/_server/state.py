"""What every route shares: the registry, the authenticator, limits and access checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from prefect_artifacts._server.auth import Authenticator
from prefect_artifacts.catalog.auth import AuthCatalog, Principal
from prefect_artifacts.errors import ArtifactConflict, PermissionDenied
from prefect_artifacts.models import Artifact, ConflictStrategy
from prefect_artifacts.registry.local import LocalRegistry


@dataclass(frozen=True)
class Limits:
    """Request limits; anything larger is refused with a clear 4xx.

    Attributes:
        max_request_bytes: largest JSON request body (manifests of big directories).
        max_blob_bytes: largest single blob upload (None: no limit).
        max_query_bytes: longest query string.

    Example:
        ```python
        create_app(registry, limits=Limits(max_blob_bytes=10 * 2**30))
        ```
    """

    max_request_bytes: int = 64 * 1024 * 1024
    max_blob_bytes: int | None = None
    max_query_bytes: int = 16 * 1024


@dataclass
class ServerState:
    """The server's shared objects, stored on ``app.state.server``.

    Example:
        ```python
        state: ServerState = request.app.state.server
        state.reader(principal).list()
        ```
    """

    registry: LocalRegistry
    auth: Authenticator
    auth_catalog: AuthCatalog
    limits: Limits = field(default_factory=Limits)

    def reader(self, principal: Principal) -> LocalRegistry:
        """The registry limited to the groups ``principal`` may read.

        Example:
            ```python
            state.reader(principal).get(ref)
            ```
        """
        if principal.readable is None:
            return self.registry
        return self.registry.scoped(sorted(principal.readable))

    def check_write(self, principal: Principal, group_id: str | None) -> None:
        """Raise `PermissionDenied` unless ``principal`` may write ``group_id``.

        Example:
            ```python
            state.check_write(principal, art.group_id)
            ```
        """
        if not principal.can_write(group_id):
            raise PermissionDenied(f"user {principal.user_name!r} may not write to group {group_id!r}")

    def writable(self, principal: Principal, ref: str) -> Artifact:
        """Resolve ``ref`` as the caller sees it (404 if unreadable), then require write access.

        Example:
            ```python
            art = state.writable(principal, ref)
            ```
        """
        art = self.reader(principal).get(ref)
        self.check_write(principal, art.group_id)
        return art

    def check_name(self, principal: Principal, folder: str, name: str, strategy: ConflictStrategy) -> None:
        """Refuse a skip/replace/error create that would touch another group's versions.

        Example:
            ```python
            state.check_name(principal, "/team", "data", ConflictStrategy.REPLACE)
            ```
        """
        if principal.writable is None or strategy is ConflictStrategy.NEW:
            return
        owners = self.auth_catalog.live_version_groups(folder, name)
        unreadable = [g for g in owners if not principal.can_read(g)]
        if unreadable:
            raise ArtifactConflict(f"{folder.rstrip('/')}/{name} is used by a group you cannot read")
        if strategy is ConflictStrategy.REPLACE:
            for group in owners:
                self.check_write(principal, group)


async def server_state(request: Request) -> ServerState:
    """FastAPI dependency: the `ServerState` of the app (async: no worker-thread hop).

    Example:
        ```python
        def route(state: ServerState = Depends(server_state)): ...
        ```
    """
    return request.app.state.server  # type: ignore[no-any-return]


def dump(value: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON response of a model or a list of models, in camelCase.

    Example:
        ```python
        return dump(artifact)
        ```
    """
    if isinstance(value, list):
        content: Any = [v.model_dump(mode="json", by_alias=True) for v in value]
    else:
        content = value.model_dump(mode="json", by_alias=True)
    return JSONResponse(content, status_code=status_code, headers=headers)
