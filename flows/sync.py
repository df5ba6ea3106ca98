"""Sync: replay the artifacts written offline (a server's outbox) to the server, exactly once.

Run it once:            python flows/sync.py --registry prod
Deploy it on a cron:    python -c "from sync import sync; sync.serve(name='hourly', cron='0 * * * *')"
                        (from flows/; the outbox is on the machine that wrote offline: run it there)
"""

from __future__ import annotations

import argparse
import json
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from pydantic import Field

from prefect_artifacts.errors import ArtifactConflict, StorageError
from prefect_artifacts.tasks import sync_outbox


@flow(name="artifact-sync")
def sync(
    dry_run: Annotated[bool, Field(description="Report what would be replayed; change nothing.")] = False,
    registry: Annotated[str | None, Field(description="Saved ArtifactRegistry block name (with api_url).")] = None,
) -> dict[str, Any]:
    """Replay this machine's outbox to the server; the run fails on conflicts or errors (they stay queued)."""
    logger = get_run_logger()
    report = sync_outbox(dry_run=dry_run, registry=registry)
    rows = ([{"offline id": i, "outcome": "would replay" if dry_run else "replayed",
              "server id": report.mapping.get(i, "")} for i in report.created]
            + [{"offline id": c.offline_id, "outcome": f"conflict ({c.strategy.value})", "server id": c.server_answer}
               for c in report.conflicts]
            + [{"offline id": e.offline_id, "outcome": "error", "server id": e.error} for e in report.errors])
    create_table_artifact(rows or [{"offline id": "-", "outcome": "nothing to replay", "server id": "-"}],
                          key="artifact-sync-report",
                          description=f"{len(report.created)} replayed, {len(report.skipped)} synced before.")
    logger.info("outbox sync: %s %d, already synced %d, conflicts %d, errors %d",
                "would replay" if dry_run else "replayed", len(report.created), len(report.skipped),
                len(report.conflicts), len(report.errors))
    if report.errors:
        raise StorageError(f"{len(report.errors)} offline artifact(s) not synced: "
                           + "; ".join(f"{e.ref}: {e.error}" for e in report.errors))
    if report.conflicts:
        raise ArtifactConflict(f"{len(report.conflicts)} offline artifact(s) conflict with the server: "
                               + "; ".join(f"{c.ref}: {c.server_answer}" for c in report.conflicts))
    return report.model_dump(mode="json")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--registry", help="saved ArtifactRegistry block name")
    args = parser.parse_args()
    print(json.dumps(sync(args.dry_run, args.registry), indent=2, default=str))
