"""The ``prefect-artifacts`` command: push, pull, list, show and maintain artifacts.

Errors are printed on stderr as ``error: <message>`` and end the command with an exit
code from `ExitCode` (one table, in ``_cli/state.py``; the README's "Exit codes" shows
it). ``--json`` prints exactly one JSON document on stdout: the result, or on failure
``{"error": {"type": ..., "message": ..., "exit_code": N, "meaning": ...}}``.

Example:
    ```bash
    prefect-artifacts push data.csv --name my-data --label raw
    prefect-artifacts ls --search "label:raw" --sort size --desc
    prefect-artifacts --json pull my-data:latest --output copy.csv
    prefect-artifacts lineage my-report:latest --downstream
    prefect-artifacts --api-url http://host:4300/api/v1 sync
    ```
"""

# No `from __future__ import annotations` in the command modules: typer would eval every
# annotation string when it builds the command tree (~40 ms of each start, `--help` included).
import contextlib
import inspect
import json
import os
from collections.abc import Callable
from gc import freeze as freeze_objects  # `gc` is a command here
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer

from prefect_artifacts._cli.helptext import HelpGroup, help_text
from prefect_artifacts._cli.output import (
    artifact_summary,
    artifacts_table,
    emit_json,
    gc_grace_note,
    human_size,
    print_artifact,
    short_checksum,
    sync_table,
)
from prefect_artifacts._cli.progress import ByteProgress, CountProgress, spinner, upload_bars
from prefect_artifacts._cli.provenance import provenance_app
from prefect_artifacts._cli.server import groups_app, keys_app, server_app, users_app
from prefect_artifacts._cli.state import (
    EXIT_CANCELLED,
    EXIT_CONFLICT,
    EXIT_OTHER,
    EXIT_VERIFY_FAILED,
    CliState,
    ExitCode,
    fail,
    get_state,
    handle_errors,
)
from prefect_artifacts.errors import ArtifactError, InvalidArtifactInput

if TYPE_CHECKING:
    from prefect_artifacts.models import Artifact

#: Help of every REF argument (`provenance` says the same).
REF_HELP = "Artifact reference: id, urn, name, name:3, /folder/name:alias."
#: Choices of the enum-valued options, spelled out here: importing `prefect_artifacts.models` for its
#: enums (pydantic models, ~0.2 s) would double the start-up of every command, `--help` included.
#: tests/cli checks them against ConflictStrategy, BundleType and RunCategory.
ConflictChoice = Literal["skip", "error", "new", "replace"]
BundleChoice = Literal["tar_gz", "zip"]
CategoryChoice = Literal["input", "output", "code"]

#: ``--output -``: write the content to stdout (`transfer.STDOUT`, which imports the registry).
STDOUT = Path("-")

F = TypeVar("F", bound=Callable[..., Any])


def root_help() -> str:
    """The text of ``prefect-artifacts --help``: what it is, which registry, examples, exit codes.

    Example:
        ```python
        print(root_help())
        ```
    """
    codes = ", ".join(f"{int(code)} {code.name.lower().replace('_', ' ')}" for code in ExitCode)
    return (
        "Tracked, versioned artifacts for Prefect flows.\n\n"
        "Commands use the embedded registry under --home (default $PREFECT_ARTIFACTS_HOME) unless"
        " --api-url or --registry-block selects another. --json prints one JSON document on stdout,"
        " an error document when the command fails.\n\n"
        f"Exit codes: {codes} (the README's Exit codes table says more).\n\n"
        "Examples:" + help_text(__doc__).split("Examples:", 1)[1]
    )


class CliApp(typer.Typer):
    """The console script's app: ends the process without the garbage collector's final pass.

    At exit the interpreter collects every object the imports made (SQLAlchemy, pydantic,
    the models: ~70,000), which took 0.1–0.4 s of each command's wall time here. The
    command is over by then: `gc.freeze` leaves them to the operating system (finalizers of
    objects that go away by reference count, and atexit handlers, still run). Only the
    process entry (``prefect-artifacts``, ``app()``) goes through here, not `CliRunner`.

    Example:
        ```python
        app = CliApp(name="prefect-artifacts")
        ```
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command line (it ends in `SystemExit`), then freeze what is left for the exit."""
        freeze_objects()  # what the imports made so far: later collections skip it
        CliState.process_entry = True  # and what opening the registry imports (`CliState.registry`)
        try:
            return super().__call__(*args, **kwargs)
        finally:
            freeze_objects()


app = CliApp(
    name="prefect-artifacts",
    cls=HelpGroup,
    help=root_help(),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(server_app, name="server")
app.add_typer(users_app, name="users")
app.add_typer(groups_app, name="groups")
app.add_typer(keys_app, name="keys")
app.add_typer(provenance_app, name="provenance")
from prefect_artifacts._cli.ui import ui_app  # noqa: E402 - `ui`: the web view (FastAPI, uvicorn imported when run)

app.add_typer(ui_app)  # unnamed: its one command, `ui`, joins the root


def command(name: str | None = None) -> Callable[[F], F]:
    """Register a command: help from its docstring (`HelpGroup` renders it), errors as exit codes.

    Example:
        ```python
        @command("ls")
        def list_artifacts(ctx: typer.Context) -> None: ...
        ```
    """

    def register(func: F) -> F:
        app.command(name, help=inspect.getdoc(func))(handle_errors(func))
        return func

    return register


@app.callback()
def main(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
    registry_block: Annotated[str | None, typer.Option(
        "--registry-block", envvar="PREFECT_ARTIFACTS_REGISTRY_BLOCK",
        help="Name of a saved ArtifactRegistry block.")] = None,
    api_url: Annotated[str | None, typer.Option(
        "--api-url", envvar="PREFECT_ARTIFACTS_API_URL", help="URL of a registry server.")] = None,
    api_key: Annotated[str | None, typer.Option(
        "--api-key", envvar="PREFECT_ARTIFACTS_API_KEY", help="API key for the server.",
        show_default=False)] = None,
    home: Annotated[Path | None, typer.Option(
        "--home", help="Home of the embedded registry (default $PREFECT_ARTIFACTS_HOME).")] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bars on stderr (there are none when stderr is not a terminal).")] = False,
) -> None:
    """Tracked, versioned artifacts for Prefect flows.

    Example:
        ```bash
        prefect-artifacts --home /data/artifacts ls
        ```
    """
    ctx.obj = CliState(json=json_output, registry_block=registry_block, api_url=api_url,
                       api_key=api_key, home=home, quiet=quiet)


def _parse_meta(items: list[str]) -> dict[str, Any] | None:
    meta: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidArtifactInput(f"--meta {item!r}: use key=value")
        try:
            meta[key.strip()] = json.loads(raw)
        except ValueError:
            meta[key.strip()] = raw
    return meta or None


def _count_files(path: Path) -> tuple[int, int]:
    count = size = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            count += 1
            with contextlib.suppress(OSError):
                size += os.stat(os.path.join(root, name)).st_size  # symlinked files are stored as their target
    return count, size


def _print_pushed(state: CliState, art: "Artifact") -> None:
    if state.json:
        emit_json(art.to_dict())
        return
    state.out.print(f"{art.ref}  {art.kind.value}  {human_size(art.size)}  "
                    f"{art.file_count} file(s)  {short_checksum(art.checksum)}")


@command()
def push(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(metavar="PATH", help="Local file or directory (a URI with --reference).")],
    name: Annotated[str | None, typer.Option(help="Artifact name (default: the file name).")] = None,
    folder: Annotated[str | None, typer.Option(help="Folder, e.g. /team/datasets.")] = None,
    label: Annotated[list[str] | None, typer.Option(help="Label (repeatable).")] = None,
    description: Annotated[str | None, typer.Option(help="Description.")] = None,
    conflict: Annotated[ConflictChoice, typer.Option(
        help="When the name exists: skip, error, new version, or replace.")] = "new",
    meta: Annotated[list[str] | None, typer.Option(
        help="Metadata key=value (value parsed as JSON when it is JSON; repeatable).")] = None,
    reference: Annotated[bool, typer.Option(
        "--reference", help="Register PATH as a URI reference, without copying.")] = False,
    group: Annotated[str | None, typer.Option(
        help="Group that owns the artifact (default: the folder's group, else yours).")] = None,
) -> None:
    """Register a local file or directory (or a URI with --reference) as a new artifact.

    Example:
        ```bash
        prefect-artifacts push outputs/ --name checkpoint --folder /models --label nightly
        ```
    """
    state = get_state(ctx)
    options: dict[str, Any] = dict(
        name=name, folder=folder, description=description, labels=list(label or []),
        metadata=_parse_meta(meta or []), conflict_strategy=conflict, group=group,
    )
    reg = state.registry()
    if reference:
        with spinner(state.err, f"Registering reference {path}", state.progress_enabled):
            art = reg.add_reference(path, **options)
    elif os.path.isdir(path):
        count, size = _count_files(Path(path))
        with upload_bars(state.err, f"Pushing {path} ({count} files)", size, state.progress_enabled) as advance:
            art = reg.upload_dir(path, progress=advance, **options)
    elif os.path.isfile(path):
        size = os.path.getsize(path)
        with upload_bars(state.err, f"Pushing {path}", size, state.progress_enabled, hash_total=size) as advance:
            art = reg.upload_file(path, progress=advance, **options)
    else:
        raise InvalidArtifactInput(f"{path!r} is not a file or directory (use --reference for a URI)")
    _print_pushed(state, art)


@command()
def pull(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(
        metavar="REF", help=REF_HELP)],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Target file or existing folder (default: current folder); - for stdout.")] = None,
    path: Annotated[str | None, typer.Option(
        "--path", help="A file or sub-folder inside a directory artifact.")] = None,
    file_format: Annotated[BundleChoice | None, typer.Option(
        "--format", help="Bundle format for directories (default tar_gz).")] = None,
    extract: Annotated[bool, typer.Option(
        "--extract", help="Write a directory's files into a folder instead of a bundle.")] = False,
) -> None:
    """Download an artifact: a file as a file, a directory as a tar.gz/zip bundle or extracted.

    Content is verified against its checksum while it streams; the output file
    appears only when complete.

    Example:
        ```bash
        prefect-artifacts pull checkpoint:latest --format zip --output ckpt.zip
        prefect-artifacts pull checkpoint --extract --output ./ckpt
        ```
    """
    from prefect_artifacts._cli.transfer import pull as pull_artifact
    from prefect_artifacts.models import BundleType

    state = get_state(ctx)
    if state.json and output == STDOUT:
        raise InvalidArtifactInput("--json cannot be combined with --output - (stdout)")
    with ByteProgress(state.err, state.progress_enabled) as bar:
        result = pull_artifact(state.registry(), ref, bar, output, path,
                               BundleType(file_format) if file_format else None, extract)
    summary = f"{result.ref} -> {result.output} ({result.files} file(s), {human_size(result.bytes)})"
    if state.json:
        emit_json(vars(result))
    elif output == STDOUT:
        if state.progress_enabled:
            state.err.print(summary)
    else:
        state.out.print(summary)


@command("ls")
def list_artifacts(
    ctx: typer.Context,
    search: Annotated[str | None, typer.Option(
        "--search", "-s", help='Search query, e.g. "name:abc* size>1MB label:prod".')] = None,
    folder: Annotated[str | None, typer.Option(help="Only this folder.")] = None,
    sort: Annotated[str | None, typer.Option(
        help="Sort field: name, created, modified, size, version, folder, kind.")] = None,
    desc: Annotated[bool, typer.Option("--desc", help="Sort descending.")] = False,
    limit: Annotated[int, typer.Option(help="Page length.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Cursor printed by the previous page.")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Every page.")] = False,
) -> None:
    """List artifacts as a table (one page; --all for everything).

    Example:
        ```bash
        prefect-artifacts ls --search "kind:directory" --sort size --desc --limit 20
        ```
    """
    state = get_state(ctx)
    reg = state.registry()
    if all_pages:
        data = list(reg.iter(search=search, folder=folder, page_length=max(limit, 200), sort_by=sort,
                             descending=desc))
        total, next_cursor = len(data), None
    else:
        page = reg.list(page_length=limit, sort_by=sort, descending=desc, search=search, folder=folder,
                        cursor=cursor)
        data, total, next_cursor = page.data, page.total, page.next_cursor
    if state.json:
        emit_json({"data": [artifact_summary(a) for a in data], "total": total,
                   "count": len(data), "next_cursor": next_cursor, "is_complete": next_cursor is None})
        return
    state.out.print(artifacts_table(data))
    state.out.print(f"{len(data)} of {total} artifact(s)")
    if next_cursor:
        state.out.print(f"next cursor: {next_cursor}", soft_wrap=True)


@command()
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="REF", help=REF_HELP)],
    max_files: Annotated[int, typer.Option("--max-files", help="Files listed (-1: all).")] = 20,
) -> None:
    """Show every field of an artifact, its files, runs and metadata aspects.

    Runs are shown with their flow and run names when a Prefect API is configured and
    answers within 2 s (PREFECT_API_URL); otherwise by id.

    An object artifact also shows the code artifacts holding its serializer's plugin
    snapshot (``serializer code``), linked as ``code`` to the runs that wrote it.

    Example:
        ```bash
        prefect-artifacts show /team/datasets/my-data:latest
        ```
    """
    from prefect_artifacts._cli.runs import run_names
    from prefect_artifacts._code_links import serializer_code

    state = get_state(ctx)
    reg = state.registry()
    art = reg.get(ref)
    files = reg.files(art.id)
    aspects = reg.get_metadata(art.id)
    try:
        code = [c.ref for c in serializer_code(reg, art)]
    except ArtifactError:  # e.g. a snapshot this caller may not read: show the rest
        code = []
    names = run_names([run.run_id for run in art.runs]) if art.runs else {}
    if state.json:
        emit_json({"ref": art.ref, **art.model_dump(mode="json"),
                   "files": [f.model_dump(mode="json") for f in files],
                   "metadata": [a.model_dump(mode="json") for a in aspects],
                   "serializer_code": code, "run_names": names})
        return
    print_artifact(state.out, art, files, aspects, max_files, code, names)


@command()
def rm(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="REF", help="Artifact reference (one version).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete an artifact version (its content is reclaimed by `gc`).

    Asks for confirmation unless --yes; declining exits 7 (cancelled) and deletes nothing.

    Example:
        ```bash
        prefect-artifacts rm my-data:1 --yes
        ```
    """
    state = get_state(ctx)
    reg = state.registry()
    art = reg.get(ref)
    if not yes:
        if state.json:
            raise InvalidArtifactInput("--json needs --yes to delete")
        if not typer.confirm(f"Delete {art.ref} ({human_size(art.size)})?", err=True):
            raise fail(f"cancelled: {art.ref} was not deleted", EXIT_CANCELLED, "Cancelled")
    reg.delete(art.id)
    if state.json:
        emit_json({"deleted": art.ref, "id": art.id})
    else:
        state.out.print(f"deleted {art.ref}")


@command()
def gc(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only; delete nothing.")] = False,
    grace: Annotated[float | None, typer.Option(
        "--grace", help="Keep unreferenced blobs younger than this many seconds (default: the"
        " PREFECT_ARTIFACTS_GC_GRACE_SECONDS setting, 3600; over HTTP the server's).")] = None,
) -> None:
    """Delete stored content no artifact references any more.

    Unreferenced content younger than the grace period is kept (an upload in flight may
    be about to reference it); the summary says how much was kept and how to collect it
    sooner (--grace 0).

    Example:
        ```bash
        prefect-artifacts gc --dry-run --grace 0
        ```
    """
    from prefect_artifacts.registry.http import HttpRegistry

    state = get_state(ctx)
    reg = state.registry()
    if isinstance(reg, HttpRegistry):  # the server collects: it can not say how far it is
        with spinner(state.err, "Collecting garbage on the server", state.progress_enabled):
            report = reg.gc(dry_run=dry_run, grace_seconds=grace)
    else:  # embedded, or an offline registry's outbox: a count bar over the stored blobs
        with CountProgress(state.err, state.progress_enabled, "blobs") as bar, bar.tallied("Collecting garbage"):
            report = reg.gc(dry_run=dry_run, grace_seconds=grace)
    if state.json:
        emit_json(report.model_dump(mode="json"))
        return
    verb = "would delete" if dry_run else "deleted"
    state.out.print(
        f"{verb} {report.blobs_deleted} blob(s), {human_size(report.bytes_freed)}; "
        f"purged {report.artifacts_purged} artifact(s), {report.temp_files_deleted} temp file(s)"
    )
    if report.blobs_kept_young:
        state.out.print(gc_grace_note(report), soft_wrap=True)


@command()
def sync(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be replayed; change nothing.")] = False,
) -> None:
    """Replay the artifacts written offline (the outbox of --api-url's server) to the server, exactly once.

    Prints one row per artifact (exit 4 if any conflicts with what the server holds,
    10 if any failed); a sync stopped at any point can simply be run again.

    Example:
        ```bash
        prefect-artifacts --api-url http://host:4300/api/v1 sync --dry-run
        prefect-artifacts --json sync
        ```
    """
    from prefect_artifacts.registry.offline import OfflineRegistry, with_outbox

    state = get_state(ctx)
    reg = with_outbox(state.registry())  # a server without offline mode set: its outbox all the same
    if not isinstance(reg, OfflineRegistry):
        raise InvalidArtifactInput("sync replays the outbox of a server: give --api-url (or a block with api_url)")
    if dry_run:
        with spinner(state.err, "Checking the outbox", state.progress_enabled):
            report = reg.push_outbox(dry_run=True)
    else:
        pending = reg.pending()
        with CountProgress(state.err, state.progress_enabled, "artifacts") as bar, \
                bar.shared("Syncing the outbox", len(pending)) as advance:
            report = reg.push_outbox(progress=lambda _size: advance(1))
    if state.json:
        emit_json(report.model_dump(mode="json"))
    else:
        state.out.print(sync_table(report))
        verb = "would replay" if dry_run else "replayed"
        state.out.print(f"{verb} {len(report.created)}, already synced {len(report.skipped)}, "
                        f"conflicts {len(report.conflicts)}, errors {len(report.errors)}")
        if report.unreachable:
            state.out.print("the server stopped answering: the rest waits in the outbox for the next sync")
    if report.errors:
        raise typer.Exit(EXIT_OTHER)
    if report.conflicts:
        raise typer.Exit(EXIT_CONFLICT)


@command()
def verify(
    ctx: typer.Context,
    search: Annotated[str | None, typer.Option("--search", "-s", help="Only matching artifacts.")] = None,
    folder: Annotated[str | None, typer.Option(help="Only this folder.")] = None,
    references: Annotated[bool, typer.Option(
        "--references/--skip-references", help="Also re-read referenced URIs.")] = True,
) -> None:
    """Re-read every stored file of the matching artifacts and report corrupt ones (exit 1).

    Example:
        ```bash
        prefect-artifacts verify --search "label:prod"
        ```
    """
    from prefect_artifacts._cli.transfer import verify as verify_artifacts

    state = get_state(ctx)
    reg = state.registry()
    with ByteProgress(state.err, state.progress_enabled) as bar:
        report = verify_artifacts(reg, reg.iter(search=search, folder=folder), bar, references)
    if state.json:
        emit_json({"ok": report.ok, "artifacts": report.artifacts, "files": report.files, "bytes": report.bytes,
                   "skipped_references": report.skipped_references, "failures": report.failures})
    else:
        for failure in report.failures:
            state.out.print(f"CORRUPT {failure['ref']} {failure['path']}: {failure['message']}", soft_wrap=True)
        state.out.print(f"verified {report.artifacts} artifact(s), {report.files} file(s), "
                        f"{human_size(report.bytes)}: {len(report.failures)} failure(s)")
    if not report.ok:
        raise typer.Exit(EXIT_VERIFY_FAILED)


@command()
def alias(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="REF", help="Artifact reference (the version to point at).")],
    name: Annotated[str, typer.Argument(metavar="ALIAS", help="Alias, e.g. production.")],
) -> None:
    """Point an alias at an artifact version (``/folder/name:ALIAS`` then resolves to it).

    Example:
        ```bash
        prefect-artifacts alias model:7 production
        ```
    """
    from prefect_artifacts._paths import artifact_ref

    state = get_state(ctx)
    art = state.registry().set_alias(ref, name)
    if state.json:
        emit_json({"alias": artifact_ref(art.folder, art.name, name), **artifact_summary(art)})
    else:
        state.out.print(f"{art.folder.rstrip('/')}/{art.name}:{name} -> {art.ref}")


@command()
def attach(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="REF", help=REF_HELP)],
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="Prefect flow run id.")],
    category: Annotated[CategoryChoice, typer.Option(help="How the run used the artifact.")] = "output",
) -> None:
    """Associate an artifact with a flow run as input, output or code.

    Example:
        ```bash
        prefect-artifacts attach raw-data 0b7c...e1 --category input
        ```
    """
    state = get_state(ctx)
    reg = state.registry()
    art = reg.get(ref)
    link = reg.attach(art.id, run_id, category)
    if state.json:
        emit_json({"ref": art.ref, "id": art.id, **link.model_dump(mode="json")})
    else:
        state.out.print(f"{art.ref} attached to run {link.run_id} as {link.category.value}")


@command()
def lineage(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="REF", help=REF_HELP)],
    downstream: Annotated[bool, typer.Option(
        "--downstream", help="What was made from it, instead of what it was made from.")] = False,
) -> None:
    """Print an artifact's lineage as a tree: what it was made from (or, with --downstream, what was made from it).

    Upstream, each artifact's children are the inputs and code of the flow runs that
    wrote it; downstream, the outputs of the runs that used it. An artifact already
    shown is marked ``(see above)`` instead of being expanded again. ``--json`` prints
    the tree as nested objects (``id``, ``ref``, ``kind``, ``category``, ``runs``, ``children``).

    Example:
        ```bash
        prefect-artifacts lineage /examples/housing/housing-report:latest
        prefect-artifacts --json lineage housing-raw --downstream
        ```
    """
    from prefect_artifacts._lineage_view import lineage_tree, render_tree

    state = get_state(ctx)
    graph = state.registry().lineage(ref)
    tree = lineage_tree(graph, graph.root, downstream=downstream)
    direction = "downstream" if downstream else "upstream"
    if state.json:
        emit_json({"root": tree["ref"], "id": graph.root, "direction": direction, "tree": tree})
        return
    for line in render_tree(tree):
        state.out.print(line, markup=False, highlight=False, soft_wrap=True)
    if not tree["children"]:
        state.out.print(f"nothing {direction} recorded (no flow run links it to other artifacts)",
                        markup=False, highlight=False)


if __name__ == "__main__":  # pragma: no cover
    app()
