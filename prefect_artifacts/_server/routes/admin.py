"""Administration over REST: users, groups, memberships and API keys (admins only).

A server is then administered from any machine with an admin key
(``prefect-artifacts --api-url … users create …``), without a shell on its host.
Secrets are shown once, in the answer that creates a key; listings never carry them.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Response
from pydantic import Field

from prefect_artifacts._server.auth import current_principal
from prefect_artifacts._server.schemas import _Body
from prefect_artifacts._server.state import ServerState, dump, server_state
from prefect_artifacts.catalog.auth import ApiKey, AuthCatalog, Group, Principal, User

router = APIRouter(prefix="/admin", tags=["administration"])
Caller = Depends(current_principal)
State = Depends(server_state)


class UserBody(_Body):
    """A user, its default group and its memberships (group → can write)."""

    id: str
    name: str
    is_admin: bool
    default_group: str
    groups: dict[str, bool]
    created: datetime


class GroupBody(_Body):
    """A group and its members (user name → can write)."""

    id: str
    members: dict[str, bool]
    created: datetime


class KeyBody(_Body):
    """An API key's public record."""

    id: str
    user: str
    name: str | None
    created: datetime
    revoked: datetime | None


class CreatedKey(_Body):
    """A new API key: the secret is in this answer only."""

    id: str
    secret: str


class CreateUser(_Body):
    """``POST /admin/users``."""

    name: str = Field(max_length=64)
    admin: bool = False
    default_group: str | None = Field(default=None, max_length=64)


class CreateGroup(_Body):
    """``POST /admin/groups``."""

    name: str = Field(max_length=64)


class Membership(_Body):
    """``PUT /admin/groups/{group}/members/{user}``."""

    write: bool = False


class CreateKey(_Body):
    """``POST /admin/keys``."""

    user: str = Field(max_length=64)
    name: str | None = Field(default=None, max_length=255)


def _admin(principal: Principal, state: ServerState) -> AuthCatalog:
    AuthCatalog.require_admin(principal)
    return state.auth_catalog


def _changed(state: ServerState) -> None:
    """Memberships or keys changed: this process re-reads them now (others within their cache time)."""
    state.auth.invalidate()


def _user(u: User) -> UserBody:
    return UserBody(id=u.id, name=u.name, is_admin=u.is_admin, default_group=u.default_group_id,
                    groups=u.groups, created=u.created)


def _group(g: Group) -> GroupBody:
    return GroupBody(id=g.id, members=g.members, created=g.created)


def _key(k: ApiKey) -> KeyBody:
    return KeyBody(id=k.id, user=k.user_name, name=k.name, created=k.created, revoked=k.revoked)


@router.get("/users", response_model=list[UserBody])
def list_users(principal: Principal = Caller, state: ServerState = State) -> Response:
    """Every user with its groups."""
    return dump([_user(u) for u in _admin(principal, state).list_users()])


@router.post("/users", status_code=201, response_model=UserBody)
def create_user(body: CreateUser, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Create a user with write access to its default group (created when missing)."""
    user = _admin(principal, state).create_user(body.name, admin=body.admin, default_group=body.default_group)
    return dump(_user(user), status_code=201)


@router.get("/groups", response_model=list[GroupBody])
def list_groups(principal: Principal = Caller, state: ServerState = State) -> Response:
    """Every group with its members."""
    return dump([_group(g) for g in _admin(principal, state).list_groups()])


@router.post("/groups", status_code=201, response_model=GroupBody)
def create_group(body: CreateGroup, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Create a group."""
    return dump(_group(_admin(principal, state).create_group(body.name)), status_code=201)


@router.put("/groups/{group}/members/{user}", response_model=GroupBody)
def set_member(group: str, user: str, body: Membership, principal: Principal = Caller,
               state: ServerState = State) -> Response:
    """Add a user to a group, or change its access (read-only unless ``write``)."""
    auth = _admin(principal, state)
    auth.add_member(group, user, write=body.write)
    _changed(state)
    return dump(_group(auth.get_group(group)))


@router.delete("/groups/{group}/members/{user}", status_code=204)
def remove_member(group: str, user: str, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Take a user out of a group."""
    _admin(principal, state).remove_member(group, user)
    _changed(state)
    return Response(status_code=204)


@router.get("/keys", response_model=list[KeyBody])
def list_keys(user: str | None = Query(None, max_length=64), principal: Principal = Caller,
              state: ServerState = State) -> Response:
    """API keys (all, or one user's), never their secrets."""
    return dump([_key(k) for k in _admin(principal, state).list_keys(user)])


@router.post("/keys", status_code=201, response_model=CreatedKey)
def create_key(body: CreateKey, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Create an API key for a user; the secret is returned once, stored only as a hash."""
    key_id, secret = _admin(principal, state).create_key(body.user, name=body.name)
    return dump(CreatedKey(id=key_id, secret=secret), status_code=201, headers={"Cache-Control": "no-store"})


@router.delete("/keys/{key_id}", status_code=204)
def revoke_key(key_id: str, principal: Principal = Caller, state: ServerState = State) -> Response:
    """Revoke an API key by id (every server process stops accepting it within seconds)."""
    _admin(principal, state).revoke_key(key_id)
    _changed(state)
    return Response(status_code=204)
