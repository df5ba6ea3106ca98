"""Example: register a generated dataset, a transformed copy and a report (placeholder)."""

from __future__ import annotations

import csv
import random
import tempfile
from pathlib import Path

from prefect_artifacts import ArtifactRegistry


def main() -> None:
    reg = ArtifactRegistry()
    work = Path(tempfile.mkdtemp(prefix="example-pipeline-"))
    raw = work / "raw.csv"
    with raw.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x", "y"])
        for _ in range(100):
            x = random.random()
            writer.writerow([x, 2 * x + random.gauss(0, 0.1)])
    art = reg.upload_file(raw, name="raw-data", folder="/examples", labels=["example"])
    print(f"registered {art.ref} ({art.size} bytes, sha256 {art.checksum[:12]}…)")


if __name__ == "__main__":
    main()
