"""Health check: which object artifacts can no longer be loaded through their pinned snapshots."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from prefect_artifacts.tasks import resolve_registry


@flow(name="check-loadable", log_prints=False)
def check_loadable(refs: list[str] | None = None, registry: str | None = None) -> list[dict[str, Any]]:
    """Try to load object artifacts (``refs``, or every ``kind:object`` artifact) and report.

    ``registry`` names a saved ArtifactRegistry block (None: the configured default).
    Returns one dict per artifact: ref, ok, error, serializer, snapshot_id, seconds.
    """
    logger = get_run_logger()
    reports = resolve_registry(registry).check_loadable(refs)
    for report in reports:
        if report.ok:
            logger.info("loadable: %s (%s, snapshot %s)", report.ref, report.serializer, report.snapshot_id)
        else:
            logger.error("NOT loadable: %s: %s", report.ref, report.error)
    broken = sum(not r.ok for r in reports)
    logger.info("%d object artifact(s) checked, %d not loadable", len(reports), broken)
    return [r.model_dump() for r in reports]


if __name__ == "__main__":
    check_loadable()
