"""``prefect-artifacts ui``: the web view of the embedded registry, in a browser, on loopback.

Single-user: no API keys, every page acts as the local user (like ``mlflow ui``). It
listens on 127.0.0.1 unless ``--host`` names another loopback address; any other
interface is refused unless ``--allow-remote`` is given, since anyone who reaches the
port could read everything. A shared registry is served by ``server start`` (same
pages under ``/ui``, behind API keys).

Example:
    ```bash
    prefect-artifacts ui
    prefect-artifacts ui --port 4310 --no-browser
    ```
"""

import ipaddress
import socket
import threading
from pathlib import Path
from typing import Annotated

import typer

from prefect_artifacts._cli.state import EXIT_USAGE, fail, get_state, handle_errors

ui_app = typer.Typer(pretty_exceptions_enable=False, rich_markup_mode=None)
DEFAULT_PORT = 4310


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``.

    Example:
        ```python
        is_loopback("127.0.0.1"), is_loopback("0.0.0.0")  # (True, False)
        ```
    """
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def free_port(host: str, preferred: int = DEFAULT_PORT) -> int:
    """``preferred`` if nothing listens there on ``host``, else a free port the system picks.

    Example:
        ```python
        free_port("127.0.0.1")  # 4310, or another one when taken
        ```
    """
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            try:
                sock.bind((host.strip("[]"), port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError(f"no free port on {host}")


@ui_app.command("ui")
@handle_errors
def ui(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback unless --allow-remote).")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(
        help=f"TCP port (default {DEFAULT_PORT}, or a free one when it is taken).", show_default=False)] = None,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a browser.")] = False,
    allow_remote: Annotated[bool, typer.Option(
        "--allow-remote", help="Allow a non-loopback --host: anyone who reaches it reads every artifact.")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Browse the embedded registry in a web browser: search, preview, compare and trace artifacts.

    Single-user and without API keys; for a shared registry use ``server start`` (the
    same pages under /ui, behind API keys).

    Example:
        ```bash
        prefect-artifacts ui --no-browser --port 4310
        ```
    """
    if not is_loopback(host) and not allow_remote:
        raise fail(f"refusing to serve the registry without keys on {host}: anyone who can reach it would read "
                   "every artifact. Use a loopback address (127.0.0.1), `server start` (API keys) for a shared "
                   "registry, or --allow-remote if you really mean it", EXIT_USAGE, "UsageError")
    import uvicorn

    from prefect_artifacts._server import NoAuth, create_app
    from prefect_artifacts.registry.local import LocalRegistry

    state = get_state(ctx)
    registry = LocalRegistry.embedded(Path(state.home).expanduser() if state.home else None)
    chosen = port if port is not None else free_port(host)
    shown_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    url = f"http://{shown_host}:{chosen}/ui/"
    state.err.print(f"serving {registry.store.url} at {url} (press Ctrl+C to stop)")
    if not is_loopback(host):
        state.err.print("warning: --allow-remote: anyone who can reach this port reads every artifact")
    server = uvicorn.Server(uvicorn.Config(create_app(registry, auth=NoAuth()), host=host.strip("[]"), port=chosen,
                                           log_level=log_level, timeout_keep_alive=30))
    if not no_browser:
        import webbrowser

        def open_when_up() -> None:
            for _ in range(200):
                if server.started:
                    webbrowser.open(url)
                    return
                threading.Event().wait(0.05)

        threading.Thread(target=open_when_up, daemon=True).start()
    try:
        server.run()
    finally:
        registry.close()
