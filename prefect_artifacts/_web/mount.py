"""Put the web view on a server app: pages under ``/ui``, static files, ``/`` → ``/ui/``, headers.

Example:
    ```python
    app = FastAPI()
    mount_ui(app)
    ```
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from prefect_artifacts._web import artifact_pages, downloads, pages
from prefect_artifacts._web.access import error_page
from prefect_artifacts._web.security import UI_PREFIX, SecurityHeadersMiddleware

STATIC_DIR = Path(__file__).parent / "static"


def _routers() -> list[APIRouter]:
    return [pages.router, artifact_pages.router, downloads.router]


def mount_ui(app: FastAPI) -> None:
    """Serve the web view from ``app`` (whose ``app.state.server`` is a `ServerState`).

    Call it after the app's other middleware, so the UI's headers reach every UI
    response, the other middleware's refusals included.

    Example:
        ```python
        mount_ui(create_app(registry))  # create_app does this already
        ```
    """
    for router in _routers():
        app.include_router(router, prefix=UI_PREFIX, include_in_schema=False)
    app.mount(f"{UI_PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="ui-static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{UI_PREFIX}/", status_code=307)

    @app.get(UI_PREFIX, include_in_schema=False)
    def ui_root() -> RedirectResponse:
        return RedirectResponse(f"{UI_PREFIX}/", status_code=307)

    @app.get(UI_PREFIX + "/{rest:path}", include_in_schema=False)
    def unknown_page(request: Request, rest: str) -> Response:  # after every page: an HTML 404
        return error_page(request, 404, "Not found", "There is no such page.")

    app.add_middleware(SecurityHeadersMiddleware)
