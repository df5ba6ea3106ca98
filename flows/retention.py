"""Retention: keep the newest N versions per name and anything recent, protect lineage, then gc.

Run it once:            python flows/retention.py --keep-last 5 --keep-days 30 --dry-run
Deploy it on a cron:    python flows/serve.py   (or `prefect deploy --all` with flows/prefect.yaml)
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

from prefect_artifacts.models import Artifact, RunCategory
from prefect_artifacts.tasks import resolve_registry


def _in_folder(art: Artifact, folder: str | None) -> bool:
    if not folder or folder == "/":
        return True
    root = "/" + folder.strip("/")
    return art.folder == root or art.folder.startswith(root + "/")


def plan_retention(registry: Any, keep_last: int, keep_days: float, folder: str | None = None,
                   now: datetime | None = None) -> dict[str, Any]:
    """Decide what to delete: older than ``keep_last`` versions AND ``keep_days`` days, and unprotected.

    An artifact that is an input (or code) of a flow run with a kept output is
    protected, transitively: the whole lineage of what is kept stays.
    """
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(days=keep_days)
    arts = [a for a in registry.iter(page_length=500) if _in_folder(a, folder)]
    by_name: dict[tuple[str, str], list[Artifact]] = defaultdict(list)
    for art in arts:
        by_name[(art.folder, art.name)].append(art)
    kept: dict[str, Artifact] = {}
    candidates: dict[str, Artifact] = {}
    for versions in by_name.values():
        versions.sort(key=lambda a: a.version, reverse=True)
        for rank, art in enumerate(versions):
            created = art.created if art.created.tzinfo else art.created.replace(tzinfo=timezone.utc)
            (kept if rank < keep_last or created >= cutoff else candidates)[art.id] = art

    outputs: dict[str, set[str]] = {}

    def run_outputs(run_id: str) -> set[str]:
        if run_id not in outputs:
            outputs[run_id] = {a.id for a in registry.run_artifacts(run_id, RunCategory.OUTPUT)}
        return outputs[run_id]

    protected: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for art_id, art in list(candidates.items()):
            for link in art.runs:
                if link.category is RunCategory.OUTPUT:
                    continue
                keeper = next((o for o in run_outputs(link.run_id) if o in kept or o in protected), None)
                if keeper is not None:
                    protected[art_id] = f"{link.category.value} of flow run {link.run_id}"
                    kept[art_id] = candidates.pop(art_id)
                    changed = True
                    break
    return {
        "considered": len(arts),
        "kept": sorted(a.ref for a in kept.values()),
        "protected": {kept[i].ref: why for i, why in protected.items()},
        "delete": sorted(candidates.values(), key=lambda a: (a.folder, a.name, a.version)),
    }


@flow(name="artifact-retention", log_prints=False)
def retention(
    keep_last: Annotated[int, Field(ge=0, description="Versions kept per (folder, name), newest first.")] = 5,
    keep_days: Annotated[float, Field(ge=0, description="Artifacts younger than this many days are kept.")] = 30,
    folder: Annotated[str | None, Field(description="Only this folder and its sub-folders.")] = None,
    dry_run: bool = False,
    registry: Annotated[str | None, Field(description="Saved ArtifactRegistry block name.")] = None,
    gc_grace_seconds: Annotated[float | None, Field(ge=0)] = None,
) -> dict[str, Any]:
    """Delete old artifact versions (never the lineage of kept ones), then garbage-collect blobs."""
    logger = get_run_logger()
    reg = resolve_registry(registry)
    plan = plan_retention(reg, keep_last, keep_days, folder)
    deleted = []
    for art in plan["delete"]:
        if not dry_run:
            reg.delete(art.id)
        deleted.append(art.ref)
    gc = reg.gc(dry_run=dry_run, grace_seconds=gc_grace_seconds)
    report = {
        "dry_run": dry_run, "considered": plan["considered"], "kept": len(plan["kept"]),
        "protected": plan["protected"], "deleted": deleted, "gc": gc.model_dump(),
    }
    logger.info("retention %s: considered %d, kept %d (%d protected by lineage), %s %d: %s; gc %s",
                "dry run" if dry_run else "done", plan["considered"], len(plan["kept"]), len(plan["protected"]),
                "would delete" if dry_run else "deleted", len(deleted), ", ".join(deleted) or "-", gc.model_dump())
    lines = [f"| {ref} |" for ref in deleted] or ["| (nothing) |"]
    create_markdown_artifact(
        key="artifact-retention-report",
        markdown="\n".join([
            f"### Retention {'(dry run)' if dry_run else ''}: keep_last={keep_last}, keep_days={keep_days}",
            f"Considered {plan['considered']}, kept {len(plan['kept'])}, protected by lineage "
            f"{len(plan['protected'])}, {'would delete' if dry_run else 'deleted'} {len(deleted)}; "
            f"gc freed {gc.bytes_freed} bytes in {gc.blobs_deleted} blobs.",
            "", "| deleted |", "| --- |", *lines,
        ]),
        description="prefect-artifacts retention report.",
    )
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep-last", type=int, default=5)
    parser.add_argument("--keep-days", type=float, default=30)
    parser.add_argument("--folder")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--registry", help="saved ArtifactRegistry block name")
    args = parser.parse_args()
    print(json.dumps(retention(args.keep_last, args.keep_days, args.folder, args.dry_run, args.registry),
                     indent=2, default=str))
