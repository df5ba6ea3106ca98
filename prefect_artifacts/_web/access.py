"""Who is looking: the `Viewer` dependency of every page, and the route class that turns errors into pages.

With `NoAuth` (``prefect-artifacts ui``, ``--insecure-no-auth``) the viewer is the
anonymous admin and nobody signs in; with API keys it is the principal of a valid
session cookie, and a request without one is sent to the sign-in page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from prefect_artifacts._web.security import safe_next
from prefect_artifacts._web.session import COOKIE, Session, verify
from prefect_artifacts._web.templating import render_page
from prefect_artifacts.catalog.auth import Principal
from prefect_artifacts.errors import ArtifactError, ArtifactNotFound, InvalidOperation, UnsafePath
from prefect_artifacts.registry.local import LocalRegistry

if TYPE_CHECKING:
    from prefect_artifacts._server.state import ServerState

logger = logging.getLogger("prefect_artifacts.web")


class LoginRequired(Exception):
    """Raised by `current_viewer` when the request has no valid session (answered by a redirect).

    Example:
        ```python
        raise LoginRequired("/ui/artifacts/abc")
        ```
    """

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True)
class Viewer:
    """The caller of a page: its principal, its session (None without sign-in) and its registry view.

    Example:
        ```python
        viewer.registry.list(page_length=50)
        ```
    """

    principal: Principal
    session: Session | None
    registry: LocalRegistry

    @property
    def csrf(self) -> str:
        """The CSRF token of this viewer's forms ("" without sign-in).

        Example:
            ```python
            viewer.csrf
            ```
        """
        return self.session.csrf if self.session else ""


def server_of(request: Request) -> ServerState:
    """The app's `ServerState`.

    Example:
        ```python
        server_of(request).auth.enabled
        ```
    """
    return request.app.state.server


def session_of(request: Request) -> Session | None:
    """The verified session of the request's cookie, or None.

    Example:
        ```python
        session_of(request)
        ```
    """
    return verify(server_of(request).auth_catalog, request.cookies.get(COOKIE))


def current_viewer(request: Request) -> Viewer:
    """FastAPI dependency: the `Viewer`, or `LoginRequired` (sync: the session check queries the catalog).

    Example:
        ```python
        @router.get("/")
        def page(viewer: Viewer = Depends(current_viewer)): ...
        ```
    """
    state = server_of(request)
    if not state.auth.enabled:
        principal = state.auth.authenticate(None)
        viewer = Viewer(principal, None, state.registry_for(principal))
    else:
        session = session_of(request)
        if session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(safe_next(target))
        viewer = Viewer(session.principal, session, state.registry_for(session.principal))
    request.state.viewer = viewer
    return viewer


def login_redirect(next_path: str) -> RedirectResponse:
    """A redirect to the sign-in page that comes back to ``next_path``.

    Example:
        ```python
        login_redirect("/ui/")
        ```
    """
    return RedirectResponse("/ui/login?" + urlencode({"next": safe_next(next_path)}), status_code=303)


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    """An HTML error page (the same page for a missing and an unreadable artifact).

    Example:
        ```python
        error_page(request, 404, "Not found", "No such artifact.")
        ```
    """
    return render_page(request, "error.html", {"title": title, "message": message}, status)


class UiRoute(APIRoute):
    """Routes of the web view: `LoginRequired` redirects, registry errors become HTML pages.

    A missing and an unreadable artifact give the same 404 page (the registry does not
    tell them apart for a caller who cannot read it).

    Example:
        ```python
        router = APIRouter(route_class=UiRoute)
        ```
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:  # noqa: D102
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as exc:
                return login_redirect(exc.next_path)
            except ArtifactNotFound:
                return error_page(request, 404, "Not found", "No such artifact or file (or you cannot read it).")
            except (InvalidOperation, UnsafePath) as exc:
                return error_page(request, 400, "Cannot do that", exc.message)
            except ArtifactError as exc:
                if exc.status_code >= 500:
                    logger.warning("%s on %s: %s", type(exc).__name__, request.url.path, exc)
                    return error_page(request, 500, "Server error", "The registry's storage or catalog failed.")
                return error_page(request, exc.status_code, "Cannot do that", exc.message)

        return handle
