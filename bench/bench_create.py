"""Catalog create per call: the prepared DB-API path against SQLAlchemy's, on SQLite and PostgreSQL.

    .venv/bin/python bench/bench_create.py [--n 500] [--repeats 3]

One file artifact per create, ``new`` strategy, folder already known (the steady state
of a flow or a server). The SQLAlchemy path is what every create used before
``catalog/prepared.py``; it still serves the other conflict strategies. PostgreSQL is
the test suite's own throwaway server (Debian's binaries); durable (default) catalogs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect_artifacts.catalog.engine import sqlite_url  # noqa: E402
from prefect_artifacts.catalog.sql import SqlCatalog  # noqa: E402
from prefect_artifacts.models import ArtifactKind, ArtifactManifest, ConflictStrategy, ManifestFile  # noqa: E402


def _manifest(i: int) -> ArtifactManifest:
    digest = f"{i:064x}"
    return ArtifactManifest(name=f"n{i % 20}", folder="/bench", kind=ArtifactKind.FILE, size=4096,
                            files=[ManifestFile(path="x.bin", size=4096, checksum=f"sha256:{digest}", digest=digest)])


def per_create_ms(cat: SqlCatalog, n: int, prepared: bool) -> float:
    """Milliseconds per create; ``prepared=False`` takes the SQLAlchemy path every time."""
    if not prepared:
        cat._create_prepared = lambda new: None  # type: ignore[method-assign] # "not applicable": general path
    start = time.perf_counter()
    for i in range(n):
        cat.create(_manifest(i), ConflictStrategy.NEW, make_folder=True)
    elapsed = time.perf_counter() - start
    cat.__dict__.pop("_create_prepared", None)
    return elapsed / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from tests.support.services import PostgresServer

    server = PostgresServer.start()
    try:
        urls = {"sqlite": sqlite_url(Path(tempfile.mkdtemp(prefix="bench-create-")) / "c.sqlite"),
                "postgresql": server.create_catalog_database()}
        print("| catalog | prepared (ms/create) | SQLAlchemy (ms/create) | ratio |\n|---|---:|---:|---:|")
        for dialect, url in urls.items():
            cat = SqlCatalog(url)
            cat.create(_manifest(0), ConflictStrategy.NEW, make_folder=True)  # the folder exists from here on
            runs: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(args.repeats):  # interleaved
                for prepared in (True, False):
                    runs[prepared].append(per_create_ms(cat, args.n, prepared))
            fast, slow = statistics.median(runs[True]), statistics.median(runs[False])
            print(f"| {dialect} | {fast:.2f} | {slow:.2f} | {fast / slow:.2f}× |")
            cat.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
