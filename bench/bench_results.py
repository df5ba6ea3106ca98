"""Prefect result storage: the registry (`ArtifactRegistry` block) against Prefect's `LocalFileSystem`.

    .venv/bin/python bench/bench_results.py [--n 200] [--repeat 3] [--distinct 10]

One `prefect_test_harness` (heartbeat disabled). A flow runs N tasks with
``persist_result=True``; each returns one of ``--distinct`` values (a dict holding 1,000
floats, ~12 KiB once pickled and base64-encoded), so results repeat. The same flow runs
with ``result_storage=`` a saved `LocalFileSystem` block (Prefect's default local result
storage) and a saved `ArtifactRegistry` block (the embedded registry: SQLite + local
blobs; durable writes, and again with ``PREFECT_ARTIFACTS_DURABLE=false``), interleaved,
each storage in its own folder reused by every round. Then, per storage, a flow whose N
tasks are all cache hits (``cache_policy=INPUTS``, filled in the warm-up) reads every
result back through the storage.

Reported: median wall time per flow and its ratio to the LocalFileSystem flow (target
≤ 1.5x), and the disk each storage uses after all rounds (allocated blocks, `du`-like,
and the catalog's share), i.e. when the same values are persisted again and again.
Before each measured flow the harness server gets up to ``--settle`` seconds to idle
(`bench_prefect._wait_quiet`). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"

from prefect import flow, task  # noqa: E402
from prefect.cache_policies import INPUTS  # noqa: E402
from prefect.filesystems import LocalFileSystem  # noqa: E402
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_prefect import _wait_quiet  # noqa: E402

from prefect_artifacts import ArtifactRegistry  # noqa: E402


def _value(i: int, distinct: int) -> dict:
    k = i % distinct
    return {"k": k, "values": [k * 0.5 + j for j in range(1000)]}


@task(persist_result=True)
def produce(i: int, distinct: int) -> dict:
    return _value(i, distinct)


@task(persist_result=True, cache_policy=INPUTS)
def cached(i: int, distinct: int, tag: str) -> dict:
    return _value(i, distinct)


@flow
def write_flow(n: int, distinct: int, storage: str) -> None:
    step = produce.with_options(result_storage=storage)
    for i in range(n):
        step(i, distinct)


@flow
def read_flow(n: int, distinct: int, storage: str) -> None:
    step = cached.with_options(result_storage=storage)
    for i in range(n):
        step(i, distinct, storage)


def _disk(path: Path) -> tuple[int, int]:
    """(allocated bytes, apparent bytes) of the file ``path`` or of the files under it."""
    paths = [path] if path.is_file() else [Path(root, name) for root, _, files in os.walk(path) for name in files]
    allocated = apparent = 0
    for file in paths:
        st = file.stat()
        allocated += st.st_blocks * 512
        apparent += st.st_size
    return allocated, apparent


def _mib(n: float) -> str:
    return f"{n / 2**20:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--distinct", type=int, default=10, help="how many different values the N tasks return")
    parser.add_argument("--settle", type=float, default=30.0,
                        help="at most this many seconds waiting for the harness server to idle before each flow")
    args = parser.parse_args(argv)
    n, distinct = args.n, args.distinct
    work = Path(tempfile.mkdtemp(prefix="bench-results-"))
    local_dir, home = work / "prefect-local", work / "registry-home"
    os.environ["PREFECT_ARTIFACTS_HOME"] = str(home)
    storages = {"LocalFileSystem (Prefect)": ("local-file-system/bench-results-local", None),
                "ArtifactRegistry": ("artifact-registry/bench-results-registry", "true"),
                "ArtifactRegistry, durable=false": ("artifact-registry/bench-results-registry", "false")}
    flows: dict[str, tuple[Callable[..., None], str, str | None]] = {}
    for label, (slug, durable) in storages.items():
        flows[f"write: {label}"] = (write_flow, slug, durable)
    for label, (slug, durable) in list(storages.items())[:2]:
        flows[f"read back (cache hits): {label}"] = (read_flow, slug, durable)
    walls: dict[str, list[float]] = {label: [] for label in flows}

    def run(label: str, count: int, settle: float) -> float:
        fn, slug, durable = flows[label]
        _wait_quiet(settle)
        if durable is not None:
            os.environ["PREFECT_ARTIFACTS_DURABLE"] = durable
        start = time.perf_counter()
        fn(count, distinct, slug)
        wall = time.perf_counter() - start
        os.environ.pop("PREFECT_ARTIFACTS_DURABLE", None)
        return wall

    with prefect_test_harness(server_startup_timeout=120), \
            temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        LocalFileSystem(basepath=str(local_dir)).save("bench-results-local", overwrite=True)
        ArtifactRegistry().save("bench-results-registry", overwrite=True)
        for label in flows:  # warm-up: imports, registry, and every cache entry the read flows hit
            run(label, n if label.startswith("read") else 5, 0.0)
        before = {"local": _disk(local_dir), "registry": _disk(home)}
        for _ in range(args.repeat):  # interleaved so machine load hits every flow alike
            for label in flows:
                walls[label].append(run(label, n, args.settle))
        after = {"local": _disk(local_dir), "registry": _disk(home)}
    wall = {label: statistics.median(v) for label, v in walls.items()}
    base_write = wall["write: LocalFileSystem (Prefect)"]
    base_read = wall["read back (cache hits): LocalFileSystem (Prefect)"]
    print(f"\n### Result storage, {n} tasks per flow returning {distinct} distinct values (~12 KiB each), "
          f"median of {args.repeat} (python {sys.version.split()[0]}, {os.cpu_count()} cpus)\n")
    print("| flow | wall (s) | per task (ms) | ratio vs LocalFileSystem |")
    print("| --- | ---: | ---: | ---: |")
    for label in flows:
        base = base_read if label.startswith("read") else base_write
        print(f"| {label} | {wall[label]:.2f} | {wall[label] / n * 1000:.1f} | {wall[label] / base:.2f}x |")
    print("\nPer round (s): " + "; ".join(f"{label}: " + ", ".join(f"{w:.2f}" for w in walls[label])
                                         for label in flows))
    written = args.repeat * n  # results written by the measured write flows, per storage
    written_registry = 2 * written  # the durable and non-durable flows share the registry
    local = after["local"][0] - before["local"][0]
    registry = after["registry"][0] - before["registry"][0]
    catalog = sum(_disk(p)[0] for p in home.glob("catalog.sqlite*"))
    print(f"\nDisk added by the measured write flows (allocated blocks): LocalFileSystem {_mib(local)} MiB for "
          f"{written} results ({local / written / 1024:.1f} KiB each); ArtifactRegistry {_mib(registry)} MiB for "
          f"{written_registry} results ({registry / written_registry / 1024:.1f} KiB each; its catalog is "
          f"{_mib(catalog)} MiB of the home's {_mib(after['registry'][0])} MiB).")
    ratio = wall["write: ArtifactRegistry"] / base_write
    print(f"\nTarget: registry write flow ≤ 1.5x LocalFileSystem → {'met' if ratio <= 1.5 else 'NOT met'} "
          f"({ratio:.2f}x).")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
