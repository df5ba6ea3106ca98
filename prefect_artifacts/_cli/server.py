"""Sub-command groups of the registry server and its administration.

``server start`` runs the REST server (uvicorn) over the registry configured by the
environment (``PREFECT_ARTIFACTS_STORAGE_URL``, ``PREFECT_ARTIFACTS_CATALOG_URL`` or
the embedded home). ``users``, ``groups`` and ``keys`` administer the server's
catalog directly where it is reachable, or through the server's REST API from any
machine when ``--api-url`` (``PREFECT_ARTIFACTS_API_URL``) and an admin's key are set.

Example:
    ```bash
    prefect-artifacts users create alice --group team-a
    prefect-artifacts keys create alice          # prints the key once
    prefect-artifacts server start --host 0.0.0.0 --port 4300
    ```
"""

import json
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from prefect_artifacts._cli.output import emit_json, timestamp
from prefect_artifacts._cli.state import get_state, handle_errors

if TYPE_CHECKING:
    from prefect_artifacts.catalog.auth import AuthCatalog
    from prefect_artifacts.registry.http_admin import HttpAdmin

server_app = typer.Typer(help="Run the prefect-artifacts registry server.", no_args_is_help=True)
users_app = typer.Typer(help="Manage the users of a registry server.", no_args_is_help=True)
groups_app = typer.Typer(help="Manage the groups of a registry server.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys of a registry server.", no_args_is_help=True)

CatalogUrl = Annotated[str | None, typer.Option(
    "--catalog-url", envvar="PREFECT_ARTIFACTS_CATALOG_URL", show_default=False,
    help="SQLAlchemy URL of the server's catalog (default: the embedded home's SQLite).")]


def _use_home(ctx: typer.Context) -> None:
    home = get_state(ctx).home
    if home is not None:
        os.environ["PREFECT_ARTIFACTS_HOME"] = str(Path(home).expanduser().absolute())


def _auth(ctx: typer.Context, catalog_url: str | None) -> "AuthCatalog | HttpAdmin":
    """The server's catalog (``--catalog-url`` or the home), or its REST API with ``--api-url`` and an admin key."""
    state = get_state(ctx)
    if catalog_url is None and state.api_url:
        from prefect_artifacts.registry.http_admin import HttpAdmin

        return HttpAdmin(state.api_url, api_key=state.api_key)
    from prefect_artifacts.catalog.auth import AuthCatalog
    from prefect_artifacts.catalog.engine import sqlite_url
    from prefect_artifacts.catalog.sql import SqlCatalog
    from prefect_artifacts.settings import get_settings

    _use_home(ctx)
    settings = get_settings()
    url = catalog_url or settings.catalog_url or sqlite_url(Path(settings.home).expanduser() / "catalog.sqlite")
    return AuthCatalog(SqlCatalog(url, durable=settings.durable).engine)  # opening migrates


@server_app.command("start")
@handle_errors
def start(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 4300,
    insecure_no_auth: Annotated[bool, typer.Option(
        "--insecure-no-auth", help="No API keys: every caller is an admin. Local single-user use only.")] = False,
    max_blob_bytes: Annotated[int | None, typer.Option(help="Largest accepted blob upload.")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    workers: Annotated[int, typer.Option(
        min=1, help="Server processes sharing the port and the catalog (one per core is a good start).")] = 1,
    header_timeout: Annotated[float, typer.Option(
        min=0.1, help="Seconds a client has to send a request's line and headers.")] = 30.0,
    body_timeout: Annotated[float, typer.Option(
        min=0.1, help="Longest pause (seconds) allowed while a client sends a request body.")] = 60.0,
    max_header_bytes: Annotated[int, typer.Option(
        min=1024, help="Largest request head (request line plus headers); larger ones get 431.")] = 32 * 1024,
) -> None:
    """Start the registry server (REST API under /api/v1, OpenAPI at /openapi.json, web view under /ui).

    Example:
        ```bash
        prefect-artifacts server start --port 4300 --workers 2
        ```
    """
    import uvicorn

    from prefect_artifacts._server import Limits, NoAuth, create_app
    from prefect_artifacts._server.app import SERVER_OPTIONS_VARIABLE, app_from_environment
    from prefect_artifacts._server.process import tune_serving_process
    from prefect_artifacts._server.protocol import ConnectionLimits, server_config
    from prefect_artifacts.catalog.auth import AuthCatalog
    from prefect_artifacts.registry.local import LocalRegistry

    _use_home(ctx)
    registry = LocalRegistry.from_urls()
    auth = NoAuth() if insecure_no_auth else None
    err = get_state(ctx).err
    if insecure_no_auth:
        err.print("warning: --insecure-no-auth: anyone who can reach this port is an admin")
    elif not AuthCatalog(registry.catalog.engine).has_users():
        err.print("no users yet: create one with `prefect-artifacts users create NAME --admin`, "
                  "then `prefect-artifacts keys create NAME`")
    err.print(f"serving {registry.store.url} at http://{host}:{port}/api/v1"
              + (f" with {workers} processes" if workers > 1 else "")
              + f"; web view at http://{host}:{port}/ui/")
    options = {"host": host, "port": port, "log_level": log_level, "timeout_keep_alive": 30}
    connections = ConnectionLimits(header_timeout, body_timeout, max_header_bytes)
    if workers > 1:  # each process builds its own app from these settings (see app_from_environment)
        registry.close()
        os.environ[SERVER_OPTIONS_VARIABLE] = json.dumps(
            {"insecure_no_auth": insecure_no_auth, "max_blob_bytes": max_blob_bytes})
        _run_workers(server_config(f"{app_from_environment.__module__}:{app_from_environment.__name__}",
                                   connections, factory=True, workers=workers, **options))
        return
    app = create_app(registry, auth=auth, limits=Limits(max_blob_bytes=max_blob_bytes))
    tune_serving_process()
    try:
        uvicorn.Server(server_config(app, connections, **options)).run()
    finally:
        registry.close()


def _run_workers(config: Any) -> None:
    """Run uvicorn's multi-process supervisor on a listening socket marked as TCP.

    uvicorn binds it with ``proto=0`` (Kludex/uvicorn#3149), so asyncio never sets
    ``TCP_NODELAY`` on accepted connections and every keep-alive response waits ~40 ms
    for the client's delayed ACK (measured: 45 ms per request instead of 2).
    """
    from uvicorn.supervisors import Multiprocess

    Multiprocess(config, sockets=[tcp_listener(config)]).run()


def tcp_listener(config: Any) -> socket.socket:
    """The listening socket of a uvicorn config, with ``proto=IPPROTO_TCP`` so asyncio sets ``TCP_NODELAY``.

    Example:
        ```python
        sock = tcp_listener(uvicorn.Config("app:app", port=4300))
        ```
    """
    bound = config.bind_socket()
    return socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())


@users_app.command("create")
@handle_errors
def create_user(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Reads and writes every group; may run gc.")] = False,
    group: Annotated[str | None, typer.Option(
        "--group", help="Default group (created if missing); default: a group named after the user.")] = None,
    catalog_url: CatalogUrl = None,
) -> None:
    """Create a user with write access to its default group.

    Example:
        ```bash
        prefect-artifacts users create alice --group team-a
        ```
    """
    user = _auth(ctx, catalog_url).create_user(name, admin=admin, default_group=group)
    if get_state(ctx).json:
        emit_json({"id": user.id, "name": user.name, "isAdmin": user.is_admin, "defaultGroup": user.default_group_id})
        return
    typer.echo(f"created user {user.name} (default group {user.default_group_id}{', admin' if admin else ''})")


@users_app.command("list")
@handle_errors
def list_users(ctx: typer.Context, catalog_url: CatalogUrl = None) -> None:
    """List users, their default group and memberships.

    Example:
        ```bash
        prefect-artifacts users list
        ```
    """
    users = _auth(ctx, catalog_url).list_users()
    if get_state(ctx).json:
        emit_json([{"id": u.id, "name": u.name, "isAdmin": u.is_admin, "defaultGroup": u.default_group_id,
                    "groups": u.groups, "created": u.created} for u in users])
        return
    for u in users:
        groups = ", ".join(f"{g}({'rw' if w else 'r'})" for g, w in sorted(u.groups.items()))
        typer.echo(f"{u.name}\t{'admin' if u.is_admin else 'user'}\tdefault={u.default_group_id}\t{groups}")


@groups_app.command("create")
@handle_errors
def create_group(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Group name (its id).")],
                 catalog_url: CatalogUrl = None) -> None:
    """Create a group.

    Example:
        ```bash
        prefect-artifacts groups create team-a
        ```
    """
    group = _auth(ctx, catalog_url).create_group(name)
    if get_state(ctx).json:
        emit_json({"id": group.id, "created": group.created})
        return
    typer.echo(f"created group {group.id}")


@groups_app.command("list")
@handle_errors
def list_groups(ctx: typer.Context, catalog_url: CatalogUrl = None) -> None:
    """List groups and their members.

    Example:
        ```bash
        prefect-artifacts groups list
        ```
    """
    groups = _auth(ctx, catalog_url).list_groups()
    if get_state(ctx).json:
        emit_json([{"id": g.id, "members": g.members, "created": g.created} for g in groups])
        return
    for g in groups:
        members = ", ".join(f"{u}({'rw' if w else 'r'})" for u, w in sorted(g.members.items()))
        typer.echo(f"{g.id}\t{members}")


@groups_app.command("add-member")
@handle_errors
def add_member(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument(help="Group name.")],
    user: Annotated[str, typer.Argument(help="User name.")],
    write: Annotated[bool, typer.Option("--write", help="Grant write access (default: read only).")] = False,
    catalog_url: CatalogUrl = None,
) -> None:
    """Add a user to a group (or change its access).

    Example:
        ```bash
        prefect-artifacts groups add-member team-a bob --write
        ```
    """
    _auth(ctx, catalog_url).add_member(group, user, write=write)
    if get_state(ctx).json:
        emit_json({"group": group, "user": user, "write": write})
        return
    typer.echo(f"{user} can now {'read and write' if write else 'read'} {group}")


@groups_app.command("remove-member")
@handle_errors
def remove_member(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument(help="Group name.")],
    user: Annotated[str, typer.Argument(help="User name.")],
    catalog_url: CatalogUrl = None,
) -> None:
    """Take a user out of a group.

    Example:
        ```bash
        prefect-artifacts groups remove-member team-a bob
        ```
    """
    _auth(ctx, catalog_url).remove_member(group, user)
    if get_state(ctx).json:
        emit_json({"group": group, "user": user, "removed": True})
        return
    typer.echo(f"removed {user} from {group}")


@keys_app.command("create")
@handle_errors
def create_key(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="User name.")],
    name: Annotated[str | None, typer.Option("--name", help="A label for the key.")] = None,
    catalog_url: CatalogUrl = None,
) -> None:
    """Create an API key; it is printed once and only its hash is stored.

    Example:
        ```bash
        export PREFECT_ARTIFACTS_API_KEY=$(prefect-artifacts keys create alice)
        ```
    """
    key_id, secret = _auth(ctx, catalog_url).create_key(user, name=name)
    if get_state(ctx).json:
        emit_json({"id": key_id, "user": user, "key": secret})
        return
    typer.echo(secret)
    get_state(ctx).err.print(f"key {key_id} for {user}: store it now, it cannot be shown again")


@keys_app.command("revoke")
@handle_errors
def revoke_key(ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="Key id (or the key itself).")],
               catalog_url: CatalogUrl = None) -> None:
    """Revoke an API key (servers stop accepting it within seconds).

    Example:
        ```bash
        prefect-artifacts keys revoke 3f2a9c1b7d04
        ```
    """
    key_id = _auth(ctx, catalog_url).revoke_key(key_id)  # the id only: a pasted secret is never echoed
    if get_state(ctx).json:
        emit_json({"id": key_id, "revoked": True})
        return
    typer.echo(f"revoked key {key_id}")


@keys_app.command("list")
@handle_errors
def list_keys(ctx: typer.Context, user: Annotated[str | None, typer.Argument(help="Only this user's keys.")] = None,
              catalog_url: CatalogUrl = None) -> None:
    """List API keys (never their secrets).

    Example:
        ```bash
        prefect-artifacts keys list alice
        ```
    """
    keys = _auth(ctx, catalog_url).list_keys(user)
    if get_state(ctx).json:
        emit_json([{"id": k.id, "user": k.user_name, "name": k.name, "created": k.created,
                    "revoked": k.revoked} for k in keys])
        return
    for k in keys:
        state = f"revoked {timestamp(k.revoked)}" if k.revoked else "active"
        typer.echo(f"{k.id}\t{k.user_name}\t{k.name or '-'}\t{timestamp(k.created)}\t{state}")
