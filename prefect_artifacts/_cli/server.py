"""Sub-command groups of the registry server and its administration.

They are filled by the server implementation (``server start``, ``users``,
``groups`` and ``keys``); the main app only registers them.
"""

from __future__ import annotations

import typer

server_app = typer.Typer(help="Run the prefect-artifacts registry server.")
users_app = typer.Typer(help="Manage the users of a registry server.")
groups_app = typer.Typer(help="Manage the groups of a registry server.")
keys_app = typer.Typer(help="Manage API keys of a registry server.")
