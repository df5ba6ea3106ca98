"""Serve the maintenance flows on cron schedules from this process (local use).

    python flows/serve.py                       # retention daily 03:00, verify Sundays 04:00 (UTC)
    python flows/serve.py --retention-cron "0 */6 * * *" --keep-last 10 --registry prod

For work pools, use `prefect deploy --all` with flows/prefect.yaml instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prefect import serve  # noqa: E402
from prefect.schedules import Cron  # noqa: E402
from retention import retention  # noqa: E402
from verify import verify  # noqa: E402

RETENTION_CRON = "0 3 * * *"
VERIFY_CRON = "0 4 * * 0"


def deployments(retention_cron: str = RETENTION_CRON, verify_cron: str = VERIFY_CRON, timezone: str = "UTC",
                keep_last: int = 5, keep_days: float = 30, registry: str | None = None) -> list[Any]:
    """The two maintenance deployments (not yet applied)."""
    common = {"registry": registry} if registry else {}
    return [
        retention.to_deployment(
            name="daily", schedules=[Cron(retention_cron, timezone=timezone)],
            parameters={"keep_last": keep_last, "keep_days": keep_days, **common},
            tags=["prefect-artifacts", "maintenance"],
            description="Delete old artifact versions (lineage protected), then garbage-collect blobs.",
        ),
        verify.to_deployment(
            name="weekly", schedules=[Cron(verify_cron, timezone=timezone)], parameters=common,
            tags=["prefect-artifacts", "maintenance"],
            description="Re-hash every stored blob; label corrupt artifacts and fail if any.",
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--retention-cron", default=RETENTION_CRON)
    parser.add_argument("--verify-cron", default=VERIFY_CRON)
    parser.add_argument("--timezone", default="UTC")
    parser.add_argument("--keep-last", type=int, default=5)
    parser.add_argument("--keep-days", type=float, default=30)
    parser.add_argument("--registry", help="saved ArtifactRegistry block name")
    args = parser.parse_args(argv)
    serve(*deployments(args.retention_cron, args.verify_cron, args.timezone, args.keep_last, args.keep_days,
                       args.registry))


if __name__ == "__main__":
    main()
