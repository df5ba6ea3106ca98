"""Request authentication: ``Authorization: Bearer <api key>`` → a `Principal`.

`ApiKeyAuth` checks keys against the catalog (hashed), caching valid keys for a few
seconds so a burst of uploads does not query the database per request; a revoked
key stops working within ``cache_seconds``. `NoAuth` is ``--insecure-no-auth``:
every request acts as an admin of the ``default`` group.
"""

from __future__ import annotations

import threading
import time

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from prefect_artifacts.catalog.auth import ANONYMOUS_ADMIN, AuthCatalog, Principal, hash_key
from prefect_artifacts.errors import AuthenticationError


class Authenticator:
    """Turns a request's credentials into a `Principal` (base class: no auth).

    Example:
        ```python
        create_app(registry, auth=NoAuth())
        ```
    """

    enabled = True

    def authenticate(self, token: str | None) -> Principal:
        """The principal for a bearer token.

        Raises:
            AuthenticationError: missing or invalid key.

        Example:
            ```python
            auth.authenticate("pa_…")
            ```
        """
        raise NotImplementedError

    def invalidate(self) -> None:
        """Forget cached credentials (after a revocation).

        Example:
            ```python
            auth.invalidate()
            ```
        """


class NoAuth(Authenticator):
    """``--insecure-no-auth``: every caller is an admin; for local single-user use only.

    Example:
        ```python
        app = create_app(registry, auth=NoAuth())
        ```
    """

    enabled = False

    def authenticate(self, token: str | None) -> Principal:  # noqa: D102
        return ANONYMOUS_ADMIN


class ApiKeyAuth(Authenticator):
    """API keys stored hashed in the catalog's auth tables.

    Args:
        catalog: the auth catalog (same database as the artifact catalog).
        cache_seconds: how long a verified key is trusted without a query.

    Example:
        ```python
        app = create_app(registry, auth=ApiKeyAuth(AuthCatalog(registry.catalog.engine)))
        ```
    """

    def __init__(self, catalog: AuthCatalog, cache_seconds: float = 5.0) -> None:
        self.catalog = catalog
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> Principal | None:
        """A principal verified less than ``cache_seconds`` ago, else None.

        Example:
            ```python
            auth.cached(token)
            ```
        """
        with self._lock:
            hit = self._cache.get(hash_key(token))
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def authenticate(self, token: str | None) -> Principal:  # noqa: D102
        if not token:
            raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
        hit = self.cached(token)
        if hit is not None:
            return hit
        principal = self.catalog.authenticate(token)
        if principal is None:
            raise AuthenticationError("invalid or revoked API key")
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[hash_key(token)] = (time.monotonic() + self.cache_seconds, principal)
        return principal

    def invalidate(self) -> None:  # noqa: D102
        with self._lock:
            self._cache.clear()


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None.

    Example:
        ```python
        bearer_token(request)
        ```
    """
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller, authenticated (cache hits stay on the event loop).

    Example:
        ```python
        @router.get("/x")
        def x(principal: Principal = Depends(current_principal)): ...
        ```
    """
    auth: Authenticator = request.app.state.server.auth
    token = bearer_token(request)
    if not auth.enabled:
        return auth.authenticate(token)
    if token and isinstance(auth, ApiKeyAuth):
        hit = auth.cached(token)
        if hit is not None:
            return hit
    return await run_in_threadpool(auth.authenticate, token)
