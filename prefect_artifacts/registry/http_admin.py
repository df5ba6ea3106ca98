"""Administration of a registry server over its REST API, with an admin's key.

`HttpAdmin` has the methods (and return types) of `AuthCatalog` that administer
users, groups, memberships and keys, so the CLI drives either one: the catalog
directly on the server's machine, or this client from anywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from prefect_artifacts.catalog.auth import ApiKey, Group, User, key_id_of
from prefect_artifacts.errors import StorageError
from prefect_artifacts.registry.http import error_from_response


class HttpAdmin:
    """Users, groups and keys of a registry server, administered over HTTP.

    Args:
        api_url: the server's API URL (``http://host:4300/api/v1``).
        api_key: an admin's API key.
        timeout: seconds per request.

    Example:
        ```python
        with HttpAdmin("http://127.0.0.1:4300/api/v1", api_key=admin_key) as admin:
            admin.create_user("alice", default_group="team-a")
            key_id, secret = admin.create_key("alice")
        ```
    """

    def __init__(self, api_url: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=api_url.rstrip("/") + "/admin", headers=headers, timeout=timeout)

    def __enter__(self) -> HttpAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections.

        Example:
            ```python
            admin.close()
            ```
        """
        self._client.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:  # administration is never retried: not all of it is idempotent
            raise StorageError(f"{method} /admin{path} failed: {exc}") from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response.json() if response.content else None

    def create_user(self, name: str, admin: bool = False, default_group: str | None = None) -> User:
        """Create a user with write access to its default group (`AuthCatalog.create_user`).

        Example:
            ```python
            admin.create_user("alice", default_group="team-a")
            ```
        """
        return _user(self._call("POST", "/users", json={"name": name, "admin": admin, "defaultGroup": default_group}))

    def list_users(self) -> list[User]:
        """Every user with its groups.

        Example:
            ```python
            [u.name for u in admin.list_users()]
            ```
        """
        return [_user(u) for u in self._call("GET", "/users")]

    def create_group(self, name: str) -> Group:
        """Create a group.

        Example:
            ```python
            admin.create_group("team-a")
            ```
        """
        return _group(self._call("POST", "/groups", json={"name": name}))

    def list_groups(self) -> list[Group]:
        """Every group with its members.

        Example:
            ```python
            [g.id for g in admin.list_groups()]
            ```
        """
        return [_group(g) for g in self._call("GET", "/groups")]

    def add_member(self, group: str, user: str, write: bool = False) -> None:
        """Add a user to a group, or change its access.

        Example:
            ```python
            admin.add_member("team-a", "bob", write=True)
            ```
        """
        self._call("PUT", f"/groups/{quote(group, safe='')}/members/{quote(user, safe='')}", json={"write": write})

    def remove_member(self, group: str, user: str) -> None:
        """Take a user out of a group.

        Example:
            ```python
            admin.remove_member("team-a", "bob")
            ```
        """
        self._call("DELETE", f"/groups/{quote(group, safe='')}/members/{quote(user, safe='')}")

    def create_key(self, user: str, name: str | None = None) -> tuple[str, str]:
        """Create an API key; returns ``(key id, secret)``: the secret is shown this once.

        Example:
            ```python
            key_id, secret = admin.create_key("alice", name="laptop")
            ```
        """
        data = self._call("POST", "/keys", json={"user": user, "name": name})
        return data["id"], data["secret"]

    def revoke_key(self, key_id: str) -> str:
        """Revoke a key by id (or by the key itself: only its id travels); returns the id.

        Example:
            ```python
            admin.revoke_key("3f2a9c1b7d04")
            ```
        """
        key_id = key_id_of(key_id)
        self._call("DELETE", f"/keys/{quote(key_id, safe='')}")
        return key_id

    def list_keys(self, user: str | None = None) -> list[ApiKey]:
        """API keys (all, or one user's), never their secrets.

        Example:
            ```python
            [k.id for k in admin.list_keys("alice")]
            ```
        """
        return [ApiKey(k["id"], k["user"], k["name"], _time(k["created"]), _time_or_none(k["revoked"]))
                for k in self._call("GET", "/keys", params={"user": user} if user else None)]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _time_or_none(value: str | None) -> datetime | None:
    return _time(value) if value else None


def _user(data: dict[str, Any]) -> User:
    return User(data["id"], data["name"], data["isAdmin"], data["defaultGroup"], _time(data["created"]),
                data["groups"])


def _group(data: dict[str, Any]) -> Group:
    return Group(data["id"], _time(data["created"]), data["members"])
