"""Sign-in, sign-out and the list page of the web view.

Example:
    ```python
    app.include_router(router, prefix="/ui")
    ```
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from prefect_artifacts._web.access import (
    UiRoute,
    Viewer,
    current_viewer,
    error_page,
    login_redirect,
    server_of,
    session_of,
)
from prefect_artifacts._web.folder_tree import folder_tree
from prefect_artifacts._web.queries import visible_folders
from prefect_artifacts._web.security import safe_next, same_origin
from prefect_artifacts._web.session import COOKIE, COOKIE_PATH, csrf_ok, issue
from prefect_artifacts._web.templating import render_page
from prefect_artifacts.catalog.auth import key_id_of
from prefect_artifacts.catalog.search import parse
from prefect_artifacts.errors import SearchSyntaxError
from prefect_artifacts.models import ArtifactKind

router = APIRouter(route_class=UiRoute)
PAGE_LENGTH = 50
#: Matches counted for the "N artifacts" line at most (then "1,000+"): a broad filter's
#: exact count visits every match (~100 ms per 100,000 with a label filter).
TOTAL_LIMIT = 1_000
SORTS = ("created", "name", "size", "version")
MAX_FORM_BYTES = 8192


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a small url-encoded form (first value of each; over `MAX_FORM_BYTES`: none).

    Example:
        ```python
        form = await read_form(request)
        ```
    """
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def _quoted(value: str) -> str:
    """A search-language value that matches ``value`` literally (quoted, escapes and wildcards escaped)."""
    escaped = "".join("\\" + c if c in '\\"*?' else c for c in value)
    return f'"{escaped}"'


@dataclass(frozen=True)
class ListQuery:
    """The list page's controls, as given in the URL.

    Example:
        ```python
        ListQuery(q="size>1MB", label="prod", kind="file").search()  # '(size>1MB) label:"prod" kind:file'
        ```
    """

    q: str = ""
    label: str = ""
    kind: str = ""
    folder: str = ""
    sort: str = "created"
    order: str = "desc"
    cursor: str = ""

    @property
    def wrapped(self) -> bool:
        """Whether `search` puts the box's query in parentheses (its positions then shift by one).

        Example:
            ```python
            ListQuery(q="a OR b", kind="file").wrapped  # True
            ```
        """
        return bool(self.q.strip() and (self.label or self.kind))

    def search(self) -> str | None:
        """The registry search: the box's query AND the label and kind filters.

        The list page parses the box's query alone first, so it cannot leak out of its
        parentheses here, and its errors point into the box's text.

        Raises:
            SearchSyntaxError: the box's query is malformed.

        Example:
            ```python
            ListQuery(q="name:abc*").search()
            ```
        """
        terms = []
        if self.q.strip():
            parse(self.q)  # raises with the position inside the box's text
            terms.append(f"({self.q})" if self.wrapped else self.q)
        if self.label:
            terms.append(f"label:{_quoted(self.label)}")
        if self.kind:
            terms.append(f"kind:{self.kind}")
        return " ".join(terms) or None

    def link(self, **changes: Any) -> dict[str, str]:
        """The query parameters of this view with ``changes`` (for links; empty values dropped).

        Example:
            ```python
            query(**view.link(cursor=page.next_cursor))
            ```
        """
        params = {"search": self.q, "label": self.label, "kind": self.kind, "folder": self.folder,
                  "sort": self.sort, "order": self.order, "cursor": self.cursor}
        params.update(changes)
        return {k: v for k, v in params.items() if v}


@router.get("/login", include_in_schema=False)
def login_form(request: Request, next: str = "/ui/") -> Response:
    """The sign-in form (straight to ``next`` when already signed in, or without keys)."""
    target = safe_next(next)
    state = server_of(request)
    if not state.auth.enabled or session_of(request) is not None:
        return RedirectResponse(target, status_code=303)
    return render_page(request, "login.html", {"next": target, "error": None})


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    """Check the API key of the form and start a session (a same-origin post only)."""
    if not same_origin(request):
        return error_page(request, 403, "Refused", "Sign-in forms are accepted from this site only.")
    state = server_of(request)
    form = await read_form(request)
    target = safe_next(form.get("next"))
    if not state.auth.enabled:
        return RedirectResponse(target, status_code=303)
    secret = form.get("key", "").strip()
    found = None
    if secret:
        from starlette.concurrency import run_in_threadpool

        principal = await run_in_threadpool(state.auth_catalog.authenticate, secret)
        if principal is not None:
            found = await run_in_threadpool(state.auth_catalog.session_key, key_id_of(secret))
    if found is None:
        return render_page(request, "login.html", {"next": target, "error": "Invalid or revoked API key."}, 401)
    value, max_age = issue(key_id_of(secret), found[0])
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    """End the session: a same-origin post with the session's CSRF token; clears the cookie."""
    if not same_origin(request):
        return error_page(request, 403, "Refused", "Forms are accepted from this site only.")
    form = await read_form(request)
    from starlette.concurrency import run_in_threadpool

    session = await run_in_threadpool(session_of, request)
    if session is not None and not csrf_ok(session, form.get("csrf")):
        return error_page(request, 403, "Refused", "The form's security token is missing or wrong: reload the page.")
    response = login_redirect("/ui/")
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


@router.get("/", include_in_schema=False)
def list_page(
    request: Request, search: str = "", label: str = "", kind: str = "", folder: str = "",
    sort: str = "created", order: str = "", cursor: str = "", viewer: Viewer = Depends(current_viewer),
) -> Response:
    """The list of artifacts: search, filters, sort, keyset pages of `PAGE_LENGTH`, folder tree."""
    started = time.perf_counter()
    sort = sort if sort in SORTS else "created"
    order = order if order in ("asc", "desc") else ("desc" if sort in ("created", "size", "version") else "asc")
    kind = kind if kind in {k.value for k in ArtifactKind} else ""
    q = search
    view = ListQuery(q=q, label=label, kind=kind, folder=folder, sort=sort, order=order, cursor=cursor)
    reg = viewer.registry
    folders, folders_cut = visible_folders(reg)
    context: dict[str, Any] = {
        "view": view, "folders": folder_tree(folders), "folders_cut": folders_cut,
        "kinds": [k.value for k in ArtifactKind], "sorts": SORTS, "page": None, "error": None,
        "total_limit": TOTAL_LIMIT,
    }
    parsed = False
    try:
        if q.strip():
            parse(q)
        parsed = True  # later errors (unknown field, bad value) are positioned in the combined query
        context["page"] = reg.list(0, PAGE_LENGTH, sort, order == "desc", view.search(), None, folder or None,
                                   cursor or None, total_limit=TOTAL_LIMIT)
    except SearchSyntaxError as exc:
        position = max(0, min(exc.position - (parsed and view.wrapped), len(q)))
        message = exc.message.rsplit(" (at position", 1)[0]
        context["error"] = {"message": message, "position": position, "caret": " " * position + "^"}
        return render_page(request, "list.html", context, 400)
    context["elapsed_ms"] = (time.perf_counter() - started) * 1000
    return render_page(request, "list.html", context)
