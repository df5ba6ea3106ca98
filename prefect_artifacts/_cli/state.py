"""Per-invocation state of the CLI: global options, the registry, consoles, exit codes.

Registry selection lives here and only here (`open_registry`), and so does the
mapping of exceptions to exit codes (`exit_code_for`).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import click
import typer
from pydantic import SecretStr
from rich.console import Console

from prefect_artifacts.errors import (
    ArtifactConflict,
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactNotFound,
    AuthenticationError,
    InvalidArtifactInput,
    PermissionDenied,
    SnapshotIntegrityError,
)
from prefect_artifacts.registry.base import Registry

#: Exit codes, stable for scripts.
EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_INTEGRITY = 5
EXIT_AUTH = 6
EXIT_OTHER = 10
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an exception: the class tree first, then its HTTP status.

    Example:
        ```python
        exit_code_for(ArtifactNotFound("x"))  # 3
        ```
    """
    ordered: list[tuple[tuple[type[BaseException], ...], int]] = [
        ((ArtifactIntegrityError, SnapshotIntegrityError), EXIT_INTEGRITY),
        ((InvalidArtifactInput,), EXIT_USAGE),
        ((ArtifactNotFound,), EXIT_NOT_FOUND),
        ((ArtifactConflict,), EXIT_CONFLICT),
        ((AuthenticationError, PermissionDenied), EXIT_AUTH),
    ]
    for classes, code in ordered:
        if isinstance(exc, classes):
            return code
    if isinstance(exc, ArtifactError):
        return {400: EXIT_USAGE, 401: EXIT_AUTH, 403: EXIT_AUTH, 404: EXIT_NOT_FOUND}.get(exc.status_code, EXIT_OTHER)
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_OTHER


def open_registry(
    registry_block: str | None = None,
    api_url: str | None = None,
    api_key: str | None = None,
    home: Path | None = None,
) -> Registry:
    """Build the registry the global options select.

    A saved ``ArtifactRegistry`` block wins; otherwise ``api_url``/``api_key`` (or
    their ``PREFECT_ARTIFACTS_*`` variables) select a server; otherwise the
    embedded registry under ``home`` (default ``$PREFECT_ARTIFACTS_HOME``).

    Raises:
        ArtifactNotFound: no saved block has that name.

    Example:
        ```python
        reg = open_registry(home=Path("/tmp/artifacts"))
        ```
    """
    if home is not None:
        os.environ["PREFECT_ARTIFACTS_HOME"] = str(Path(home).expanduser().absolute())
    from prefect_artifacts.blocks import ArtifactRegistry

    if registry_block:
        try:
            # async_dispatch types it `block | Coroutine`: outside an event loop (the CLI) it is the block.
            block = cast(ArtifactRegistry, ArtifactRegistry.load(registry_block))
        except ValueError as exc:
            raise ArtifactNotFound(f"cannot load ArtifactRegistry block {registry_block!r}: {exc}") from exc
    else:
        block = ArtifactRegistry(api_url=api_url, api_key=SecretStr(api_key) if api_key is not None else None)
    try:
        return block.get_registry()
    except ImportError as exc:
        raise ArtifactError(f"the HTTP registry client is not available: {exc}") from exc


@dataclass
class CliState:
    """Global options of one invocation, and the registry built from them on first use.

    Example:
        ```python
        state = CliState(json=True)
        state.registry().count()
        ```
    """

    json: bool = False
    registry_block: str | None = None
    api_url: str | None = None
    api_key: str | None = None
    home: Path | None = None
    quiet: bool = False
    _registry: Registry | None = field(default=None, repr=False)

    def registry(self) -> Registry:
        """The selected registry (opened once).

        Example:
            ```python
            state.registry().get("my-data")
            ```
        """
        if self._registry is None:
            self._registry = open_registry(self.registry_block, self.api_url, self.api_key, self.home)
        return self._registry

    def close(self) -> None:
        """Close the registry if it was opened.

        Example:
            ```python
            state.close()
            ```
        """
        if self._registry is not None:
            reg, self._registry = self._registry, None
            reg.close()

    @property
    def out(self) -> Console:
        """Console on stdout (tables and summaries).

        Example:
            ```python
            state.out.print("done")
            ```
        """
        return Console(file=sys.stdout, highlight=False, soft_wrap=False)

    @property
    def err(self) -> Console:
        """Console on stderr (progress and messages).

        Example:
            ```python
            state.err.print("working…")
            ```
        """
        return Console(file=sys.stderr, highlight=False)

    @property
    def progress_enabled(self) -> bool:
        """Whether to draw progress: never with ``--json`` or ``--quiet``, nor when stderr is not interactive.

        Interactive is rich's answer for stderr: a TTY (not ``TERM=dumb``); ``TTY_INTERACTIVE=1``
        (or ``0``) overrides it.

        Example:
            ```python
            if state.progress_enabled: ...
            ```
        """
        return not self.json and not self.quiet and self.err.is_interactive


def get_state(ctx: typer.Context) -> CliState:
    """The `CliState` stored on the root context by the app callback.

    Example:
        ```python
        state = get_state(ctx)
        ```
    """
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = CliState()
        ctx.find_root().obj = obj
    return obj


def fail(message: str, code: int) -> typer.Exit:
    """Print ``error: <message>`` on stderr and return the `typer.Exit` to raise.

    Example:
        ```python
        raise fail("nothing to do", EXIT_USAGE)
        ```
    """
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Decorate a command: errors become ``error: <message>`` and an exit code.

    The registry is closed when the command ends, whatever happens.

    Example:
        ```python
        @app.command()
        @handle_errors
        def ls(ctx: typer.Context) -> None: ...
        ```
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = kwargs.get("ctx") or next((a for a in args if isinstance(a, typer.Context)), None)
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.ClickException):
            raise
        except ArtifactError as exc:
            raise fail(exc.message, exit_code_for(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", EXIT_INTERRUPTED) from None
        except OSError as exc:
            raise fail(str(exc), EXIT_OTHER) from None
        except Exception as exc:  # noqa: BLE001 - scripts get a message and a code, not a traceback
            raise fail(f"{type(exc).__name__}: {exc}", EXIT_OTHER) from None
        finally:
            if ctx is not None:
                get_state(ctx).close()

    return wrapper  # type: ignore[return-value]
