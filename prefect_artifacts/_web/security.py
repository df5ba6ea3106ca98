"""Response headers of the web view, the same-origin check of its forms, and safe redirects.

Every response under ``/ui`` (and the ``/`` redirect) carries `PAGE_HEADERS`: a
Content-Security-Policy without inline scripts or styles, ``nosniff`` and a same-origin
referrer policy. A response that set its own CSP (raw SVG) keeps it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UI_PREFIX = "/ui"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
#: The policy of raw SVG bytes: no script ever runs, even when the file is opened directly.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
PAGE_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


class SecurityHeadersMiddleware:
    """Add `PAGE_HEADERS` to every response of the web view (not to the REST API's).

    Example:
        ```python
        app.add_middleware(SecurityHeadersMiddleware)
        ```
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == "/" or path == UI_PREFIX or path.startswith(UI_PREFIX + "/")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _value in headers}
                for name, value in PAGE_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def same_origin(request: Request) -> bool:
    """Whether a form post comes from this site: its ``Origin`` (else ``Referer``) names this host.

    The host and port are compared with the request's ``Host`` (a TLS-terminating proxy
    may change the scheme); a post with neither header is refused.

    Example:
        ```python
        if not same_origin(request): return forbidden()
        ```
    """
    host = request.headers.get("host")
    source = request.headers.get("origin") or request.headers.get("referer")
    if not host or not source or source == "null":
        return False
    parts = urlsplit(source)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


def safe_next(target: str | None, default: str = UI_PREFIX + "/") -> str:
    """``target`` if it is a path of the web view on this site, else ``default`` (no open redirect).

    Example:
        ```python
        safe_next("//evil.example/ui/")  # "/ui/"
        ```
    """
    if not target or len(target) > 2048 or any(c in target for c in "\\\r\n\t") or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(UI_PREFIX + "/"):
        return default
    if "/../" in parts.path or parts.path.endswith("/.."):
        return default
    return target
