"""Serve the maintenance flows on schedules from this process (local use).

    python flows/serve.py                       # retention daily 03:00, verify Sundays 04:00, sync every 15 min (UTC)
    python flows/serve.py --retention-cron "0 */6 * * *" --keep-last 10 --registry prod
    python flows/serve.py --every 3600          # all three flows every hour instead of the crons

The served deployments are `artifact-retention/daily-served`, `artifact-verify/weekly-served`
and `artifact-sync/sync-served` (replays this machine's offline outbox; one run at a time):
distinct from `daily`, `weekly` and `sync` of flows/prefect.yaml, so serving never
overwrites the work-pool deployments (a served deployment has no pull steps; a worker
running a flow run of it could not find the code).

For work pools, use `prefect deploy --all --prefect-file flows/prefect.yaml` instead.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prefect import serve  # noqa: E402
from prefect.schedules import Cron, Interval  # noqa: E402
from retention import retention  # noqa: E402
from sync import sync  # noqa: E402
from verify import verify  # noqa: E402

RETENTION_CRON = "0 3 * * *"
VERIFY_CRON = "0 4 * * 0"
SYNC_CRON = "*/15 * * * *"
# Not `daily`/`weekly`/`sync`: those are flows/prefect.yaml's deployments of the same flows.
RETENTION_DEPLOYMENT = "daily-served"
VERIFY_DEPLOYMENT = "weekly-served"
SYNC_DEPLOYMENT = "sync-served"


def deployments(retention_cron: str = RETENTION_CRON, verify_cron: str = VERIFY_CRON, timezone: str = "UTC",
                keep_last: int = 5, keep_days: float = 30, registry: str | None = None,
                every: float | None = None, sync_cron: str = SYNC_CRON) -> list[Any]:
    """The three maintenance deployments, not yet applied.

    Args:
        retention_cron: Cron schedule of the retention deployment.
        verify_cron: Cron schedule of the verify deployment.
        timezone: Time zone of the cron schedules.
        keep_last: Versions retention keeps per (folder, name).
        keep_days: Retention keeps artifacts younger than this many days.
        registry: Saved ``ArtifactRegistry`` block the flows use; default: the tasks' default.
        every: When set, the deployments run every ``every`` seconds instead of on their crons.
        sync_cron: Cron schedule of the sync deployment (at most one of its runs at a time).

    Returns:
        The retention deployment (``daily-served``), the verify deployment (``weekly-served``),
        then the sync deployment (``sync-served``).

    Raises:
        ValueError: ``every`` is not a positive number of seconds.

    Example:
        ```python
        from prefect import serve

        serve(*deployments(keep_last=10, every=600))   # every flow every 10 minutes
        ```
    """
    if every is not None and not every > 0:
        raise ValueError(f"every must be a positive number of seconds, not {every!r}")

    def schedule(cron: str) -> Any:
        return Interval(timedelta(seconds=every)) if every else Cron(cron, timezone=timezone)

    common = {"registry": registry} if registry else {}
    return [
        retention.to_deployment(
            name=RETENTION_DEPLOYMENT, schedules=[schedule(retention_cron)],
            parameters={"keep_last": keep_last, "keep_days": keep_days, **common},
            tags=["prefect-artifacts", "maintenance"],
            description="Delete old artifact versions (lineage protected), then garbage-collect blobs.",
        ),
        verify.to_deployment(
            name=VERIFY_DEPLOYMENT, schedules=[schedule(verify_cron)], parameters=common,
            tags=["prefect-artifacts", "maintenance"],
            description="Re-hash every stored blob; label corrupt artifacts and fail if any.",
        ),
        sync.to_deployment(
            name=SYNC_DEPLOYMENT, schedules=[schedule(sync_cron)], parameters={"dry_run": False, **common},
            concurrency_limit=1, tags=["prefect-artifacts", "maintenance"],
            description="Replay this machine's offline outbox to the server (completes while it is unreachable).",
        ),
    ]


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the three deployments until interrupted.

    Args:
        argv: Command-line arguments; default ``sys.argv[1:]``.

    Example:
        ```python
        main(["--every", "60", "--keep-last", "3"])   # blocks; Ctrl-C stops serving
        ```
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--retention-cron", default=RETENTION_CRON)
    parser.add_argument("--verify-cron", default=VERIFY_CRON)
    parser.add_argument("--sync-cron", default=SYNC_CRON)
    parser.add_argument("--timezone", default="UTC")
    parser.add_argument("--every", type=_positive_seconds, metavar="SECONDS",
                        help="run the flows every SECONDS seconds instead of on the crons")
    parser.add_argument("--keep-last", type=int, default=5)
    parser.add_argument("--keep-days", type=float, default=30)
    parser.add_argument("--registry", help="saved ArtifactRegistry block name")
    args = parser.parse_args(argv)
    serve(*deployments(args.retention_cron, args.verify_cron, args.timezone, args.keep_last, args.keep_days,
                       args.registry, every=args.every, sync_cron=args.sync_cron))


if __name__ == "__main__":
    main()
