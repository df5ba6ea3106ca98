"""Verify: re-read every stored blob against its digest, label corrupt artifacts, fail if any.

Run it once:            python flows/verify.py
Deploy it on a cron:    python flows/serve.py   (or `prefect deploy --all` with flows/prefect.yaml)
"""

from __future__ import annotations

import argparse
import json
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from pydantic import Field

from prefect_artifacts.errors import ArtifactError, ArtifactIntegrityError
from prefect_artifacts.tasks import resolve_registry

CORRUPT_LABEL = "corrupt"


def check_artifacts(registry: Any, folder: str | None = None, include_references: bool = False,
                    label: str | None = CORRUPT_LABEL) -> dict[str, Any]:
    """Read every file of every live artifact (each distinct blob once); label corrupt ones."""
    checked: dict[str, str | None] = {}  # checksum -> error (None: good)
    corrupt: dict[str, list[str]] = {}
    artifacts = files = references = 0
    for art in registry.iter(page_length=500):
        if folder and not (art.folder == folder.rstrip("/") or art.folder.startswith(folder.rstrip("/") + "/")):
            continue
        artifacts += 1
        problems = []
        for f in registry.files(art.id):
            if f.uri is not None and not include_references:
                references += 1
                continue
            key = f"{f.uri or ''}|{f.checksum}"
            if key not in checked:
                files += 1
                try:
                    for _chunk in registry.read(art.id, path=f.path if art.is_dir else None):
                        pass
                    checked[key] = None
                except (ArtifactError, OSError) as exc:
                    checked[key] = f"{type(exc).__name__}: {exc}"
            if checked[key] is not None:
                problems.append(f"{f.path}: {checked[key]}")
        if problems:
            corrupt[art.ref] = problems
            if label and label not in art.labels:
                registry.update(art.id, labels=[*art.labels, label])
    return {"artifacts": artifacts, "blobs_checked": files, "references_skipped": references, "corrupt": corrupt}


@flow(name="artifact-verify")
def verify(
    folder: Annotated[str | None, Field(description="Only this folder and its sub-folders.")] = None,
    include_references: Annotated[bool, Field(description="Also re-read referenced URIs.")] = False,
    registry: Annotated[str | None, Field(description="Saved ArtifactRegistry block name.")] = None,
) -> dict[str, Any]:
    """Re-hash stored content; corrupt artifacts get the ``corrupt`` label and the run fails."""
    logger = get_run_logger()
    reg = resolve_registry(registry)
    report = check_artifacts(reg, folder, include_references)
    rows = [{"artifact": ref, "problem": "; ".join(p)} for ref, p in report["corrupt"].items()]
    create_table_artifact(rows or [{"artifact": "-", "problem": "none"}], key="artifact-verify-report",
                          description=f"Verified {report['blobs_checked']} blobs of {report['artifacts']} artifacts.")
    if report["corrupt"]:
        for ref, problems in report["corrupt"].items():
            logger.error("corrupt: %s (%s)", ref, "; ".join(problems))
        raise ArtifactIntegrityError(
            f"{len(report['corrupt'])} corrupt artifact(s), labelled {CORRUPT_LABEL!r}: "
            + ", ".join(sorted(report["corrupt"]))
        )
    logger.info("verified %d blobs of %d artifacts: all good", report["blobs_checked"], report["artifacts"])
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder")
    parser.add_argument("--include-references", action="store_true")
    parser.add_argument("--registry", help="saved ArtifactRegistry block name")
    args = parser.parse_args()
    print(json.dumps(verify(args.folder, args.include_references, args.registry), indent=2, default=str))
