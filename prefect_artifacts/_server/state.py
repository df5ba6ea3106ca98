"""What every route shares: the registry, the authenticator and limits.

Routes authenticate, translate HTTP into one call on the registry as the caller sees
it (`ServerState.registry_for`), and translate the result back: every rule about what
a caller may do lives in the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from prefect_artifacts._server.auth import Authenticator
from prefect_artifacts.catalog.auth import AuthCatalog, Principal
from prefect_artifacts.errors import ArtifactError
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
        state.registry_for(principal).list()
        ```
    """

    registry: LocalRegistry
    auth: Authenticator
    auth_catalog: AuthCatalog
    limits: Limits = field(default_factory=Limits)

    def registry_for(self, principal: Principal) -> LocalRegistry:
        """The registry as ``principal`` sees it: its groups' artifacts, its rights (`LocalRegistry.for_principal`).

        Example:
            ```python
            state.registry_for(principal).get(ref)
            ```
        """
        return self.registry.for_principal(principal)


async def server_state(request: Request) -> ServerState:
    """FastAPI dependency: the `ServerState` of the app (async: no worker-thread hop).

    Example:
        ```python
        def route(state: ServerState = Depends(server_state)): ...
        ```
    """
    return request.app.state.server


def dump(value: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response of a model or a list of models, in camelCase.

    Serialized by pydantic straight to JSON bytes: no intermediate dicts for
    ``json.dumps`` (half the cost of an answer carrying hundreds of artifacts).

    Example:
        ```python
        return dump(artifact)
        ```
    """
    body = b"[" + b",".join(map(_json, value)) + b"]" if isinstance(value, list) else _json(value)
    return Response(body, status_code=status_code, headers=headers, media_type="application/json")


def _json(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model, by_alias=True)


#: What a client sees of a server-side failure (5xx): the details (paths, hosts) go to the log only.
HIDDEN_MESSAGE = "the server's storage or catalog failed (see the server log)"


def public_error(exc: ArtifactError) -> tuple[str, int, str]:
    """How an error leaves the server: its class name, HTTP status and message (hidden for a 5xx).

    Example:
        ```python
        name, status, message = public_error(ArtifactNotFound("no artifact 'x'"))  # ("ArtifactNotFound", 404, …)
        ```
    """
    status = exc.status_code
    return type(exc).__name__, status, HIDDEN_MESSAGE if status >= 500 else exc.message
