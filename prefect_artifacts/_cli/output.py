"""Rendering for the CLI: human sizes, rich tables, and the single JSON document.

rich is imported inside the functions that draw, so that ``--help`` and the JSON output do not pay for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import typer

from prefect_artifacts._sizes import human_size

if TYPE_CHECKING:  # rich's tables cost ~50 ms: imported by the commands that print one
    from rich.console import Console, Group
    from rich.table import Table

    from prefect_artifacts.models import Artifact, ArtifactFile, Aspect, GcReport, RunLink
    from prefect_artifacts.registry.offline import SyncReport

__all__ = ["human_size"]  # re-exported: the CLI's modules import it from here

def short_checksum(checksum: str | None, length: int = 12) -> str:
    """The first characters of a checksum (``etag:`` prefixes kept).

    Example:
        ```python
        short_checksum("2cf24dba5fb0a30e26e8…")  # "2cf24dba5fb0"
        ```
    """
    if not checksum:
        return "-"
    prefix, _, rest = checksum.rpartition(":")
    return f"{prefix}:{rest[:length]}" if prefix else checksum[:length]


def timestamp(value: datetime | None) -> str:
    """A timestamp to the second in UTC (``2026-01-31 12:00:00``).

    Example:
        ```python
        timestamp(art.created)
        ```
    """
    if value is None:
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def emit_json(document: Any) -> None:
    """Write one JSON document on stdout (and nothing else).

    Example:
        ```python
        emit_json({"ok": True})
        ```
    """
    typer.echo(json.dumps(document, indent=2, default=str, ensure_ascii=False))


def duration(seconds: float) -> str:
    """A duration as people say it: ``45 s``, ``10 min``, ``1 h``, ``1.5 h``, ``2 days``.

    Example:
        ```python
        duration(3600)  # "1 h"
        ```
    """
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def gc_grace_note(report: GcReport) -> str:
    """What the grace period kept from a gc, and how to collect it sooner.

    Example:
        ```python
        gc_grace_note(reg.gc())  # "kept 2 unreferenced blob(s), 1.0 KiB, younger than the grace period (1 h): …"
        ```
    """
    grace = "" if report.grace_seconds is None else f" ({duration(report.grace_seconds)})"
    return (f"kept {report.blobs_kept_young} unreferenced blob(s), {human_size(report.bytes_kept_young)}, "
            f"younger than the grace period{grace}: `prefect-artifacts gc --grace 0` collects them now;"
            " PREFECT_ARTIFACTS_GC_GRACE_SECONDS sets the default (over HTTP, the server's)")


def artifact_summary(art: Artifact) -> dict[str, Any]:
    """The JSON form of an artifact in listings (no file list).

    Example:
        ```python
        artifact_summary(art)["ref"]
        ```
    """
    return {"ref": art.ref, **art.model_dump(mode="json")}


def artifacts_table(artifacts: Iterable[Artifact], title: str | None = None) -> Table:
    """A table of artifacts: ref, kind, size, checksum, created, labels.

    Example:
        ```python
        console.print(artifacts_table(page.data))
        ```
    """
    from rich.table import Table

    table = Table(title=title, show_edge=False, header_style="bold")
    table.add_column("ref", overflow="fold", style="cyan")
    table.add_column("kind", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("checksum", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("labels", overflow="fold")
    for art in artifacts:
        table.add_row(
            art.ref, art.kind.value, human_size(art.size), short_checksum(art.checksum),
            timestamp(art.created), ", ".join(art.labels),
        )
    return table


def sync_table(report: SyncReport) -> Table:
    """A table of a sync: one row per offline artifact, its outcome and its server id.

    Example:
        ```python
        console.print(sync_table(reg.push_outbox(dry_run=True)))
        ```
    """
    from rich.table import Table

    table = Table(title="outbox sync (dry run)" if report.dry_run else "outbox sync", show_edge=False,
                  header_style="bold")
    table.add_column("offline id", no_wrap=True, style="cyan")
    table.add_column("outcome", no_wrap=True)
    table.add_column("server id / answer", overflow="fold")
    for offline_id in report.created:
        table.add_row(offline_id, "would replay" if report.dry_run else "replayed",
                      report.mapping.get(offline_id, ""))
    for conflict in report.conflicts:
        table.add_row(conflict.offline_id, f"conflict ({conflict.strategy.value})", conflict.server_answer)
    for failure in report.errors:
        table.add_row(failure.offline_id, "error", failure.error)
    for offline_id in report.skipped:
        table.add_row(offline_id, "already synced", report.mapping.get(offline_id, ""))
    return table


def _fields_table(art: Artifact, serializer_code: Sequence[str] = ()) -> Table:
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    size = "-" if art.size is None else f"{human_size(art.size)} ({art.size} bytes)"
    rows: list[tuple[str, str | None]] = [
        ("ref", art.ref), ("id", art.id), ("urn", art.urn), ("name", art.name),
        ("version", str(art.version)), ("folder", art.folder), ("kind", art.kind.value),
        ("description", art.description), ("labels", ", ".join(art.labels) or None),
        ("mime type", art.mime_type), ("size", size), ("checksum", art.checksum),
        ("files", str(art.file_count)), ("created", timestamp(art.created)),
        ("modified", timestamp(art.modified)), ("original path", art.original_path),
        ("group", art.group_id),
        ("serializer", f"{art.serializer.task_name} (snapshot {art.serializer.snapshot_id})"
         if art.serializer else None),
    ]
    if art.serializer:
        rows.append(("serializer code", ", ".join(serializer_code) or None))
    for key, value in rows:
        grid.add_row(key, Text("-" if value is None else value))
    return grid


def files_table(files: Sequence[ArtifactFile], limit: int) -> Table:
    """The first ``limit`` files of an artifact, with the count of the rest in the caption.

    Example:
        ```python
        console.print(files_table(art.files, 20))
        ```
    """
    from rich.table import Table

    shown = files[:limit] if limit >= 0 else files
    caption = f"… {len(files) - len(shown)} more ({len(files)} files)" if len(shown) < len(files) else None
    table = Table(title=f"Files ({len(files)})", caption=caption, show_edge=False, header_style="bold")
    table.add_column("path", overflow="fold")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("checksum", no_wrap=True)
    table.add_column("mime type")
    table.add_column("uri", overflow="fold")
    for f in shown:
        table.add_row(f.path, human_size(f.size), short_checksum(f.checksum), f.mime_type or "-", f.uri or "")
    return table


def runs_table(runs: Sequence[RunLink], names: Mapping[str, str] | None = None) -> Table:
    """The flow runs an artifact is associated with; ``names`` (``flow/run`` by run id) adds a column.

    Example:
        ```python
        console.print(runs_table(art.runs, run_names([r.run_id for r in art.runs])))
        ```
    """
    from rich.table import Table

    table = Table(title=f"Runs ({len(runs)})", show_edge=False, header_style="bold")
    if names:
        table.add_column("flow/run", overflow="fold")
    table.add_column("run id", overflow="fold")
    table.add_column("category")
    table.add_column("created", no_wrap=True)
    for run in runs:
        cells = [run.run_id, run.category.value, timestamp(run.created)]
        table.add_row(*([names.get(run.run_id, "-")] if names else []), *cells)
    return table


def metadata_group(aspects: Sequence[Aspect]) -> Group:
    """Each metadata aspect: a header line, then its content as JSON.

    Example:
        ```python
        console.print(metadata_group(art.metadata))
        ```
    """
    from rich.console import Group
    from rich.json import JSON
    from rich.text import Text

    parts: list[Any] = [Text(f"Metadata ({len(aspects)})", style="bold")]
    for aspect in aspects:
        header = f"• {aspect.schema_name or 'aspect'} ({timestamp(aspect.created)})"
        if aspect.policy:
            header += f" policy={aspect.policy}"
        parts.append(Text(header))
        parts.append(JSON.from_data(aspect.content, default=str))
    return Group(*parts)


def print_artifact(console: Console, art: Artifact, files: Sequence[ArtifactFile],
                   aspects: Sequence[Aspect], file_limit: int, serializer_code: Sequence[str] = (),
                   run_names: Mapping[str, str] | None = None) -> None:
    """Render every field of an artifact, its files, runs and metadata.

    ``serializer_code`` are the refs of the code artifacts holding an object's serializer
    snapshot (linked to the runs that wrote it), shown after its serializer; ``run_names``
    the ``flow/run`` names of its runs that Prefect knows.

    Example:
        ```python
        print_artifact(Console(), art, art.files, art.metadata, 20)
        ```
    """
    console.print(_fields_table(art, serializer_code))
    console.print()
    console.print(files_table(files, file_limit))
    if art.runs:
        console.print()
        console.print(runs_table(art.runs, run_names))
    if aspects:
        console.print()
        console.print(metadata_group(aspects))
