"""Load-health check: which object artifacts can no longer be loaded, and why."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel

from prefect_artifacts.errors import ArtifactError

from .api import load_object, object_info

if TYPE_CHECKING:
    from prefect_artifacts.registry.base import Registry


class LoadReport(BaseModel):
    """Outcome of trying to load one object artifact.

    Example:
        ```python
        [r.ref for r in reg.check_loadable() if not r.ok]
        ```
    """

    ref: str
    ok: bool
    error: str | None = None
    error_type: str | None = None
    artifact_id: str | None = None
    serializer: str | None = None
    snapshot_id: str | None = None
    seconds: float = 0.0


def check_loadable(registry: Registry, refs: Iterable[str] | None = None) -> list[LoadReport]:
    """Try to load object artifacts through their pinned snapshots; report each outcome.

    ``refs=None`` checks every object artifact (``search="kind:object"``). A load
    really deserializes the object, so the check proves what `load_object` would do.

    Example:
        ```python
        for report in check_loadable(reg):
            if not report.ok:
                print(report.ref, report.error)
        ```
    """
    targets = list(refs) if refs is not None else [a.id for a in registry.iter(search="kind:object")]
    reports: list[LoadReport] = []
    for ref in targets:
        start = time.perf_counter()
        report = LoadReport(ref=ref, ok=False)
        try:
            info = object_info(registry, ref)
            report.ref = info.ref if refs is None else ref
            report.artifact_id, report.serializer = info.artifact_id, info.serializer
            report.snapshot_id = info.snapshot_id
            load_object(registry, info.artifact_id)
            report.ok = True
        except (ArtifactError, Exception) as exc:  # noqa: BLE001 - every failure is a finding
            report.error = f"{type(exc).__name__}: {exc}"
            report.error_type = type(exc).__name__
        report.seconds = round(time.perf_counter() - start, 6)
        reports.append(report)
    return reports
