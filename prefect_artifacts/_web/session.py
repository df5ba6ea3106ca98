"""Stateless sign-in sessions of the web view, and their CSRF tokens.

The cookie is ``<key_id>.<expires>.<hmac>``: HMAC-SHA256, keyed with the API key's
stored hash (only the server knows it), over ``ui-session:<key_id>:<expires>``. Every
request looks the key up by id (`AuthCatalog.session_key`), so a revoked key ends its
sessions at once and every server process agrees without shared state. A state-changing
form carries ``HMAC(same key, ui-csrf:<key_id>:<expires>)``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

from prefect_artifacts.catalog.auth import AuthCatalog, Principal

COOKIE = "pa_session"
COOKIE_PATH = "/ui"
LIFETIME_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Session:
    """A verified session: who it acts as, and the CSRF token of its forms.

    Example:
        ```python
        session = verify(auth_catalog, request.cookies.get(COOKIE))
        session.principal.user_name if session else None
        ```
    """

    key_id: str
    expires: int
    principal: Principal
    csrf: str


def _mac(key_hash: str, purpose: str, key_id: str, expires: int) -> str:
    return hmac.new(bytes.fromhex(key_hash), f"{purpose}:{key_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def issue(key_id: str, key_hash: str, now: float | None = None) -> tuple[str, int]:
    """A new session cookie value for an API key, and its lifetime in seconds.

    Example:
        ```python
        value, max_age = issue(key_id, key_hash)
        ```
    """
    expires = int(now if now is not None else time.time()) + LIFETIME_SECONDS
    return f"{key_id}.{expires}.{_mac(key_hash, 'ui-session', key_id, expires)}", LIFETIME_SECONDS


def verify(catalog: AuthCatalog, cookie: str | None, now: float | None = None) -> Session | None:
    """The session of a cookie value: signed by an unrevoked key, not expired; else None.

    Example:
        ```python
        verify(auth_catalog, request.cookies.get(COOKIE))
        ```
    """
    if not cookie or len(cookie) > 256:
        return None
    parts = cookie.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    key_id, expires_text, mac = parts
    expires = int(expires_text)
    if expires <= (now if now is not None else time.time()):
        return None
    found = catalog.session_key(key_id)
    if found is None:
        return None
    key_hash, principal = found
    try:
        expected = _mac(key_hash, "ui-session", key_id, expires)
    except ValueError:  # a stored hash that is not hex: no session can be signed with it
        return None
    if not hmac.compare_digest(expected, mac):
        return None
    return Session(key_id, expires, principal, _mac(key_hash, "ui-csrf", key_id, expires))


def csrf_ok(session: Session, token: str | None) -> bool:
    """Whether a form's token is the session's CSRF token (constant-time).

    Example:
        ```python
        csrf_ok(session, form.get("csrf"))
        ```
    """
    return bool(token) and hmac.compare_digest(session.csrf.encode(), str(token).encode())
