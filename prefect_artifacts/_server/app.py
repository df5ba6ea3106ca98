"""The FastAPI application: `create_app(registry)`, a thin layer over `LocalRegistry`.

Errors leave the server in one shape, ``{"error": ClassName, "message": ...}``, with
the error class's ``status_code``; the client turns them back into the same
exception classes. Unexpected errors answer a generic 500 (details go to the log,
never to the response).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prefect_artifacts import __version__
from prefect_artifacts._server.auth import ApiKeyAuth, Authenticator, NoAuth
from prefect_artifacts._server.process import tune_serving_process
from prefect_artifacts._server.routes import admin, artifacts, aspect_schemas, content, groups_jobs, system
from prefect_artifacts._server.schemas import ErrorBody
from prefect_artifacts._server.state import Limits, ServerState, public_error
from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.errors import ArtifactError, SearchSyntaxError
from prefect_artifacts.registry.local import LocalRegistry

API_PREFIX = "/api/v1"
logger = logging.getLogger("prefect_artifacts.server")

_STATUS_NAMES = {400: "InvalidArtifactInput", 401: "AuthenticationError", 403: "PermissionDenied",
                 404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge", 414: "PayloadTooLarge"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in ((400, "Invalid input."), (401, "Missing or invalid API key."),
                                (403, "Write not permitted."), (404, "Not found (or not readable)."),
                                (409, "Conflict or integrity error."), (413, "Over a size limit."))
}


def error_response(name: str, message: str, status: int, position: int | None = None) -> JSONResponse:
    """The JSON error body every failure uses.

    Example:
        ```python
        error_response("ArtifactNotFound", "no artifact 'x'", 404)
        ```
    """
    body: dict[str, Any] = {"error": name, "message": message}
    if position is not None:
        body["position"] = position
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


async def _artifact_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ArtifactError)
    name, status, message = public_error(exc)
    if status >= 500:  # server-side failures: details (paths, hosts) go to the log only
        logger.warning("%s on %s %s: %s", name, request.method, request.url.path, exc)
    position = exc.position if isinstance(exc, SearchSyntaxError) else None
    return error_response(name, message, status, position)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return error_response("InvalidArtifactInput", "invalid request: " + "; ".join(parts), 400)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    name = _STATUS_NAMES.get(exc.status_code, "HTTPError")
    return error_response(name, str(exc.detail), exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response("InternalServerError", "internal server error (see the server log)", 500)


class LimitsMiddleware:
    """Refuse over-long query strings and over-large JSON bodies before any route runs.

    Blob uploads (``PUT /blobs/…``) have their own limit, checked while they stream.

    Example:
        ```python
        app.add_middleware(LimitsMiddleware, limits=Limits())
        ```
    """

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("query_string", b"")) > self.limits.max_query_bytes:
            response = error_response("PayloadTooLarge",
                                      f"query string over {self.limits.max_query_bytes} bytes", 414)
            await response(scope, receive, send)
            return
        if scope["method"] == "PUT" and scope["path"].startswith(f"{API_PREFIX}/blobs/"):
            await self.app(scope, receive, send)
            return
        limit = self.limits.max_request_bytes
        length = dict(scope.get("headers", ())).get(b"content-length")
        if length is not None and length.isdigit():
            if int(length) > limit:
                await error_response("PayloadTooLarge", f"request body over {limit} bytes", 413)(scope, receive, send)
                return
            await self.app(scope, receive, send)  # the HTTP layer enforces Content-Length
            return
        # No Content-Length (chunked): read the (JSON) body here, up to the limit, then replay it.
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            received += len(message.get("body", b""))
            if received > limit:
                await error_response("PayloadTooLarge", f"request body over {limit} bytes", 413)(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def create_app(
    registry: LocalRegistry,
    auth: Authenticator | None = None,
    limits: Limits | None = None,
) -> FastAPI:
    """The registry server as an ASGI app over ``registry``.

    Args:
        registry: the in-process registry holding every business rule.
        auth: how requests authenticate; default: API keys in the catalog
            (`ApiKeyAuth`). Pass `NoAuth()` for ``--insecure-no-auth``.
        limits: request size limits (`Limits` defaults).

    Example:
        ```python
        import uvicorn
        app = create_app(LocalRegistry.embedded())
        uvicorn.run(app, host="127.0.0.1", port=4300)
        ```
    """
    from prefect_artifacts._web.mount import mount_ui  # the web view imports this package

    auth_catalog = AuthCatalog(registry.catalog.engine)
    limits = limits or Limits()
    app = FastAPI(
        title="prefect-artifacts registry", version=__version__,
        description="Tracked, versioned, content-addressed artifacts for Prefect flows.",
    )
    app.state.server = ServerState(registry, auth or ApiKeyAuth(auth_catalog), auth_catalog, limits)
    for module in (artifacts, content, system, admin, aspect_schemas, groups_jobs):
        app.include_router(module.router, prefix=API_PREFIX, responses=_ERRORS)
    app.add_exception_handler(ArtifactError, _artifact_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(LimitsMiddleware, limits=limits)
    mount_ui(app)  # the web view: pages under /ui, / redirects there (its headers on every UI response)
    return app


#: Set by ``prefect-artifacts server start --workers N`` for its worker processes (JSON).
SERVER_OPTIONS_VARIABLE = "PREFECT_ARTIFACTS_SERVER_OPTIONS"


def app_from_environment() -> FastAPI:
    """The server app of one worker process: registry from the settings, options from the CLI.

    uvicorn's multi-process mode imports the app in every worker, so the options of
    ``server start`` travel in `SERVER_OPTIONS_VARIABLE`; the registry comes from the
    ``PREFECT_ARTIFACTS_*`` settings like everywhere else. Workers share the catalog
    (SQLite in WAL mode, or PostgreSQL) and the content store.

    Example:
        ```python
        app = app_from_environment()  # in a worker process started by `server start --workers 2`
        ```
    """
    options = json.loads(os.environ.get(SERVER_OPTIONS_VARIABLE) or "{}")
    registry = LocalRegistry.from_urls()
    app = create_app(registry, auth=NoAuth() if options.get("insecure_no_auth") else None,
                     limits=Limits(max_blob_bytes=options.get("max_blob_bytes")))
    tune_serving_process()  # a spawned worker: nothing of the parent's interpreter settings carries over
    return app
