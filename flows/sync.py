"""Sync: replay the artifacts written offline (a server's outbox) to the server, exactly once.

Run it once:            python flows/sync.py --registry prod
Deploy it on a cron:    python flows/serve.py   (`sync-served`, every 15 minutes; or `sync` of flows/prefect.yaml)
                        (the outbox is on the machine that wrote offline: run it there)

A run with nothing to replay, or while the server still can not be reached, completes: its
report says so and the artifacts stay queued for the next run. Conflicts, and errors the
server answered with, fail the run (they stay queued too, and need a look).
"""

from __future__ import annotations

import argparse
import json
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from pydantic import Field

from prefect_artifacts.errors import ArtifactConflict, StorageError
from prefect_artifacts.registry.offline import OfflineRegistry, SyncReport, with_outbox
from prefect_artifacts.tasks import resolve_registry, sync_outbox


def pending_count(registry: str | None) -> int:
    """How many artifacts still wait in ``registry``'s outbox (0 for a registry without a server)."""
    resolved = resolve_registry(registry)
    reg = with_outbox(resolved)
    if not isinstance(reg, OfflineRegistry):
        return 0
    try:
        return len(reg.pending())
    finally:
        if reg is not resolved:  # our own wrapper of the shared server registry: close only its outbox
            reg.outbox.close()


def _rows(report: SyncReport, unreachable: bool) -> list[dict[str, Any]]:
    failed = "waiting (server unreachable)" if unreachable else "error"
    rows = ([{"offline id": i, "outcome": "would replay" if report.dry_run else "replayed",
              "server id": report.mapping.get(i, "")} for i in report.created]
            + [{"offline id": c.offline_id, "outcome": f"conflict ({c.strategy.value})", "server id": c.server_answer}
               for c in report.conflicts]
            + [{"offline id": e.offline_id, "outcome": failed, "server id": e.error} for e in report.errors])
    return rows or [{"offline id": "-", "outcome": "nothing to replay", "server id": "-"}]


@flow(name="artifact-sync")
def sync(
    dry_run: Annotated[bool, Field(description="Report what would be replayed; change nothing.")] = False,
    registry: Annotated[str | None, Field(description="Saved ArtifactRegistry block name (with api_url).")] = None,
) -> dict[str, Any]:
    """Replay this machine's outbox to the server.

    Completes when there is nothing to replay or the server can not be reached (the
    artifacts wait for the next run; ``server_unreachable`` and ``pending`` in the result
    say so); fails on conflicts, and on errors the server answered with (they stay queued).
    """
    logger = get_run_logger()
    report = sync_outbox(dry_run=dry_run, registry=registry)
    pending, unreachable = pending_count(registry), report.unreachable
    if unreachable:
        summary = f"server unreachable: {pending} artifact(s) wait in the outbox for the next sync"
    elif not (report.created or report.conflicts or report.errors):
        summary = "nothing to replay"
    else:
        summary = f"{len(report.created)} {'would be replayed' if dry_run else 'replayed'}, {pending} pending"
    create_table_artifact(_rows(report, unreachable), key="artifact-sync-report",
                          description=f"{summary}; {len(report.skipped)} synced before.")
    logger.info("outbox sync: %s %d, already synced %d, conflicts %d, errors %d, pending %d",
                "would replay" if dry_run else "replayed", len(report.created), len(report.skipped),
                len(report.conflicts), len(report.errors), pending)
    if report.errors and not unreachable:
        raise StorageError(f"{len(report.errors)} offline artifact(s) not synced: "
                           + "; ".join(f"{e.ref}: {e.error}" for e in report.errors))
    if report.conflicts:
        raise ArtifactConflict(f"{len(report.conflicts)} offline artifact(s) conflict with the server: "
                               + "; ".join(f"{c.ref}: {c.server_answer}" for c in report.conflicts))
    if unreachable:
        logger.warning("outbox sync: %s (%s)", summary, report.errors[-1].error)
    return {**report.model_dump(mode="json"), "server_unreachable": unreachable, "pending": pending,
            "summary": summary}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--registry", help="saved ArtifactRegistry block name")
    args = parser.parse_args()
    print(json.dumps(sync(args.dry_run, args.registry), indent=2, default=str))
