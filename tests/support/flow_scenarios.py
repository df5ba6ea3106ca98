"""Registry scenarios for the maintenance flows, shared by tests/prefect and tests/prefect_server.

The flows in `retention_scenario` run in the calling process against whatever Prefect
API is current (the test harness, or a real server); artifacts go to the registry the
tasks resolve (``PREFECT_ARTIFACTS_HOME``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import flow

from prefect_artifacts import tasks as T

# What retention(**RETENTION_PARAMS) deletes in `retention_scenario`: keep_last=1 and
# keep_days=0 leave one version per name, except the lineage of kept artifacts.
EXPECTED_DELETED = ["/ret/raw:2", "/ret/solo:1"]
RETENTION_PARAMS = {"keep_last": 1, "keep_days": 0, "folder": "/ret", "gc_grace_seconds": 0}
# The same rules over the whole registry (no folder) also delete /other's older version.
EXPECTED_DELETED_ANY_FOLDER = [*EXPECTED_DELETED, "/other/other:1"]


def write_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def retention_scenario(tmp_path: Path, registry: Any) -> dict[str, str]:
    """seed:1,2; run0 reads seed:1 → raw:1; raw:2, raw:3; run1 reads raw:1 → derived:1; solo:1,2; /other x2."""
    ids: dict[str, str] = {}
    for v in (1, 2):
        ids[f"seed:{v}"] = registry.upload_file(write_file(tmp_path, f"seed{v}", f"seed {v}"), name="seed",
                                                folder="/ret").id

    @flow
    def make_raw() -> None:
        T.download_artifact("/ret/seed:1", path=tmp_path / "dl-seed")
        T.upload_file(write_file(tmp_path, "raw1", "raw 1"), name="raw", folder="/ret")

    @flow
    def derive() -> None:
        T.download_artifact("/ret/raw:1", path=tmp_path / "dl-raw")
        T.upload_file(write_file(tmp_path, "derived", "derived"), name="derived", folder="/ret/sub")

    make_raw()
    for v in (2, 3):
        registry.upload_file(write_file(tmp_path, f"raw{v}", f"raw {v}"), name="raw", folder="/ret")
    derive()
    for v in (1, 2):
        registry.upload_file(write_file(tmp_path, f"solo{v}", f"solo {v}"), name="solo", folder="/ret")
        registry.upload_file(write_file(tmp_path, f"other{v}", f"other {v}"), name="other", folder="/other")
    return ids


def corrupt_blob(registry: Any, digest: str) -> None:
    """Overwrite the first byte of a stored blob in place (its digest no longer matches)."""
    path = registry.store.blob_path(digest)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(b"X")


def live_refs(registry: Any) -> set[str]:
    return {a.ref for a in registry.iter()}
