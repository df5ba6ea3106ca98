"""Per-invocation state of the CLI: global options, the registry, consoles, exit codes.

Registry selection lives here and only here (`open_registry`), and so does the
table of exit codes (`ExitCode`, `EXIT_MEANINGS`; the README's "Exit codes" table is
checked against it) and the mapping of exceptions to them (`exit_code_for`).
"""

from __future__ import annotations

import functools
import gc
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import typer

from prefect_artifacts.errors import (
    ArtifactConflict,
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactNotFound,
    AuthenticationError,
    InvalidArtifactInput,
    PermissionDenied,
    SearchSyntaxError,
    SnapshotIntegrityError,
)

if TYPE_CHECKING:
    from rich.console import Console

    from prefect_artifacts.registry.base import Registry


class ExitCode(IntEnum):
    """The exit codes of ``prefect-artifacts``, stable for scripts (meanings in `EXIT_MEANINGS`).

    Example:
        ```python
        raise typer.Exit(ExitCode.NOT_FOUND)
        ```
    """

    OK = 0
    DAMAGED = 1
    USAGE = 2
    NOT_FOUND = 3
    CONFLICT = 4
    INTEGRITY = 5
    AUTH = 6
    CANCELLED = 7
    OTHER = 10
    INTERRUPTED = 130


#: What each exit code means: the one table (the README's "Exit codes" and `--help` show it).
EXIT_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.DAMAGED: "verification found damage: corrupt content (`verify`) or a bad signature"
                      " (`provenance verify`)",
    ExitCode.USAGE: "bad usage or input: unknown option, invalid value or query, missing file",
    ExitCode.NOT_FOUND: "not found: no such artifact, alias, folder or saved block",
    ExitCode.CONFLICT: "conflict: the name or version exists (`--conflict error`), or `sync` met conflicts",
    ExitCode.INTEGRITY: "integrity error: stored content does not match its checksum",
    ExitCode.AUTH: "authentication or permission refused by the server",
    ExitCode.CANCELLED: "cancelled: a confirmation prompt was declined; nothing was changed",
    ExitCode.OTHER: "any other error (server unreachable, storage failure, `sync` errors)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}

# The names the commands import.
EXIT_OK = ExitCode.OK
EXIT_VERIFY_FAILED = ExitCode.DAMAGED
EXIT_USAGE = ExitCode.USAGE
EXIT_NOT_FOUND = ExitCode.NOT_FOUND
EXIT_CONFLICT = ExitCode.CONFLICT
EXIT_INTEGRITY = ExitCode.INTEGRITY
EXIT_AUTH = ExitCode.AUTH
EXIT_CANCELLED = ExitCode.CANCELLED
EXIT_OTHER = ExitCode.OTHER
EXIT_INTERRUPTED = ExitCode.INTERRUPTED

F = TypeVar("F", bound=Callable[..., Any])


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code for an exception: the class tree first, then its HTTP status.

    Example:
        ```python
        exit_code_for(ArtifactNotFound("x"))  # 3
        ```
    """
    ordered: list[tuple[tuple[type[BaseException], ...], ExitCode]] = [
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
        by_status = {400: EXIT_USAGE, 401: EXIT_AUTH, 403: EXIT_AUTH, 404: EXIT_NOT_FOUND, 409: EXIT_CONFLICT}
        return by_status.get(exc.status_code, EXIT_OTHER)
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
    if not registry_block:
        return settings_registry(api_url, api_key)
    from prefect_artifacts.blocks import ArtifactRegistry  # Prefect: only for a saved block

    try:
        # async_dispatch types it `block | Coroutine`: outside an event loop (the CLI) it is the block.
        block = cast(ArtifactRegistry, ArtifactRegistry.load(registry_block))
    except ValueError as exc:
        raise ArtifactNotFound(f"cannot load ArtifactRegistry block {registry_block!r}: {exc}") from exc
    try:
        return block.get_registry()
    except ImportError as exc:
        raise ArtifactError(f"the HTTP registry client is not available: {exc}") from exc


def settings_registry(api_url: str | None = None, api_key: str | None = None) -> Registry:
    """The registry an unsaved ``ArtifactRegistry(api_url=..., api_key=...)`` opens, without importing Prefect.

    A server when ``api_url`` (or ``PREFECT_ARTIFACTS_API_URL``) is set (with its outbox
    when ``PREFECT_ARTIFACTS_OFFLINE`` asks for one), else the embedded registry: the
    settings' store and catalog, by default under the home. The block would do the same
    (a test compares their specs), but loading it costs a Prefect import: seconds per command.

    Example:
        ```python
        reg = settings_registry()  # LocalRegistry on $PREFECT_ARTIFACTS_HOME
        ```
    """
    from prefect_artifacts.settings import get_settings

    settings = get_settings()
    api_url = api_url or settings.api_url
    if api_url:
        key = api_key or settings.api_key
        if settings.offline is not False:
            from prefect_artifacts.registry.offline import OfflineRegistry

            return OfflineRegistry.for_server(api_url, api_key=key, mode=settings.offline, settings=settings)
        from prefect_artifacts.registry.http import HttpRegistry

        return HttpRegistry(api_url, api_key=key, settings=settings)
    from prefect_artifacts.catalog.engine import sqlite_url
    from prefect_artifacts.catalog.sql import SqlCatalog
    from prefect_artifacts.registry.local import LocalRegistry
    from prefect_artifacts.storage.content_store import ContentStore

    store = ContentStore(settings.storage_url or str(settings.home / "blobs"), {}, durable=settings.durable)
    catalog = SqlCatalog(settings.catalog_url or sqlite_url(settings.home / "catalog.sqlite"),
                         durable=settings.durable)
    return LocalRegistry(store, catalog, settings)


@dataclass
class CliState:
    """Global options of one invocation, and the registry built from them on first use.

    Example:
        ```python
        state = CliState(json=True)
        state.registry().count()
        ```
    """

    #: Set by the console script's app (`main.CliApp`): this process runs one command, then exits.
    process_entry: ClassVar[bool] = False
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
            if not CliState.process_entry:
                self._registry = open_registry(self.registry_block, self.api_url, self.api_key, self.home)
                return self._registry
            # The console script: opening imports the registry (SQLAlchemy, pydantic models: ~50,000
            # objects), during which the cyclic collector ran again and again (~0.1 s). None of it is
            # garbage: collect nothing meanwhile, then keep it out of later collections.
            gc.disable()
            try:
                self._registry = open_registry(self.registry_block, self.api_url, self.api_key, self.home)
            finally:
                gc.freeze()
                gc.enable()
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
        from rich.console import Console

        return Console(file=sys.stdout, highlight=False, soft_wrap=False)

    @property
    def err(self) -> Console:
        """Console on stderr (progress and messages).

        Example:
            ```python
            state.err.print("working…")
            ```
        """
        from rich.console import Console

        # soft_wrap: a message is one line however narrow (a log, a pipe), URLs and paths unbroken.
        return Console(file=sys.stderr, highlight=False, soft_wrap=True)

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


class CliFailure(typer.Exit):
    """A command failed: `handle_errors` prints ``error: <message>`` (and the ``--json`` document).

    Example:
        ```python
        raise CliFailure("nothing to do", EXIT_USAGE)
        ```
    """

    def __init__(self, message: str, code: int, error_type: str = "Error", **details: Any) -> None:
        super().__init__(code)
        self.message = message
        self.error_type = error_type
        self.details = details

    def document(self) -> dict[str, Any]:
        """The JSON error document ``--json`` prints on stdout.

        Example:
            ```python
            CliFailure("no artifact 'x'", 3, "ArtifactNotFound").document()["error"]["exit_code"]  # 3
            ```
        """
        code = int(self.exit_code)
        meaning = EXIT_MEANINGS.get(ExitCode(code)) if code in ExitCode._value2member_map_ else None
        return {"error": {"type": self.error_type, "message": self.message, "exit_code": code,
                          "meaning": meaning, **self.details}}

    def report(self, json_output: bool, stderr: bool = True) -> None:
        """Print ``error: <message>`` on stderr (unless not ``stderr``) and, with ``--json``, the document on stdout.

        Example:
            ```python
            CliFailure("cancelled", EXIT_CANCELLED).report(json_output=False)
            ```
        """
        if json_output:
            typer.echo(json.dumps(self.document(), indent=2, ensure_ascii=False))
        if not stderr:  # the caller prints its own message (click's usage errors)
            return
        typer.echo(f"error: {self.message}", err=True)
        if "query" in self.details and "position" in self.details:  # where a search query went wrong
            typer.echo(f"  {self.details['query']}\n  {' ' * self.details['position']}^", err=True)


def fail(message: str, code: int, error_type: str = "Error", **details: Any) -> CliFailure:
    """The `CliFailure` to raise: ``error: <message>`` on stderr and exit ``code``.

    Example:
        ```python
        raise fail("nothing to do", EXIT_USAGE)
        ```
    """
    return CliFailure(message, code, error_type, **details)


def _failure(exc: BaseException, search: str | None = None) -> CliFailure:
    """What an exception escaping a command becomes (``search``: the command's ``--search`` query)."""
    if isinstance(exc, CliFailure):
        return exc
    if isinstance(exc, SearchSyntaxError) and search:  # `report` shows the query with a caret under the position
        return fail(exc.message, exit_code_for(exc), type(exc).__name__, position=exc.position, query=search)
    if isinstance(exc, typer.Abort):  # a declined `typer.confirm(abort=True)`, or end of input at a prompt
        return fail("cancelled: nothing was changed", EXIT_CANCELLED, "Cancelled")
    if isinstance(exc, ArtifactError):
        return fail(exc.message, exit_code_for(exc), type(exc).__name__)
    if isinstance(exc, KeyboardInterrupt):
        return fail("interrupted", EXIT_INTERRUPTED, "KeyboardInterrupt")
    if isinstance(exc, OSError):
        return fail(str(exc), EXIT_OTHER, type(exc).__name__)
    return fail(f"{type(exc).__name__}: {exc}", EXIT_OTHER, type(exc).__name__)


def handle_errors(func: F) -> F:
    """Decorate a command: errors become ``error: <message>`` on stderr and an exit code.

    With ``--json``, a failure also prints one JSON document on stdout:
    ``{"error": {"type": ..., "message": ..., "exit_code": N, "meaning": ...}}``. The
    registry is closed when the command ends, whatever happens.

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
        except CliFailure as exc:
            failure = exc
        except (typer.Exit, typer.TyperException):  # an exit code chosen by the command, click's usage errors
            raise
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - scripts get a message and a code
            failure = _failure(exc, kwargs.get("search"))
        finally:
            if ctx is not None:
                get_state(ctx).close()
        failure.report(ctx is not None and get_state(ctx).json)
        raise typer.Exit(failure.exit_code) from None

    return wrapper  # type: ignore[return-value]
