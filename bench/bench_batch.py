#!/usr/bin/env python3
"""Batches (issue 17): ``upload_many`` of 1,000 × 4 KiB files against one-by-one uploads, MLflow and a floor.

Per round, on fresh content (``--n`` files of ``--kib`` KiB, distinct random bytes,
written untimed just before, so page-cached) and fresh stores, in a rotating order:

* **server_many**: one `HttpRegistry` (digest cache off) calls ``upload_many`` through a
  real server (``prefect-artifacts server start --insecure-no-auth --workers 2``, a
  subprocess on loopback, fresh home, otherwise shipped defaults so ``durable=True``; two
  processes as docs/deploy.md sizes a replica, one per core, ``--server-workers``):
  ``POST /artifacts/batch`` requests of 250 items, contents inline, up to two in flight
  while the client stores the next slice;
* **server_one_by_one**: the same through another fresh server, ``upload_file`` per file;
* **mlflow**: ``mlflow.log_artifact`` per file in one run (run start and a first call untimed),
  local file store, in its own process (``--mlflow-python``: an interpreter with MLflow);
* **embedded_many**: `LocalRegistry` (``durable=True``) ``upload_many``;
* ``--cases`` may add **server_many_nosync** and **embedded_many_nosync**: the same with
  ``durable=False`` (no fsync, as MLflow's file store), for information;
* **floor**: the naive durable content-addressed registry of the shared harness
  (``peers.NaiveCAS(fsync_data=True, synchronous="FULL")``): per file read + SHA-256 +
  write to a temp file + fsync + rename into ``objects/ab/<digest>`` + fsync of the
  folder, then one INSERT per file in ONE SQLite transaction.

Every client makes an untimed call of the same kind first (connection, folder, imports;
through the server, an ``upload_many`` of two slices, so both server processes served one). Ratios are of
rates (files/s), per round, then the median: server_many ÷ server_one_by_one (target
≥ 3), server_many ÷ mlflow (target ≥ 2; embedded_many ÷ mlflow shown too),
embedded_many ÷ floor (target ≥ 1).

Usage:
    .venv/bin/python bench/bench_batch.py                      # 1,000 × 4 KiB, 5 rounds (~2 min)
    .venv/bin/python bench/bench_batch.py --n 200 --rounds 1   # smoke
    .venv/bin/python bench/bench_batch.py --profile server_many   # + a cProfile of one untimed run
    .venv/bin/python bench/bench_batch.py --mlflow-python /tmp/mlvenv/bin/python   # MLflow from another venv
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_server import Server, proc_cpu
from run import find_peers, load_peers

CASES = ("server_many", "server_one_by_one", "mlflow", "embedded_many", "floor")
#: Not run by default (``--cases``): both with ``durable=False`` (no fsync, as MLflow's file store).
INFO_CASES = ("server_many_nosync", "embedded_many_nosync")
TARGETS = {("server_many", "server_one_by_one"): 3.0, ("server_many", "mlflow"): 2.0,
           ("embedded_many", "floor"): 1.0}
FOLDER = "/bench-batch"


def make_inputs(root: Path, n: int, kib: int) -> list[Path]:
    root.mkdir(parents=True)
    paths = []
    for i in range(n):
        path = root / f"f{i:05d}.bin"
        path.write_bytes(os.urandom(kib * 1024))
        paths.append(path)
    return paths


def _client(url: str, home: Path) -> Any:
    from prefect_artifacts.registry.http import HttpRegistry
    from prefect_artifacts.settings import ArtifactSettings

    return HttpRegistry(url, settings=ArtifactSettings(home=home, digest_cache=False), use_digest_cache=False)


#: Processes of the server (``server start --workers``); set by ``--server-workers``.
SERVER_WORKERS = [2]


def _through_server(work: Path, paths: list[Path], many: bool,
                    durable: bool | None = None) -> tuple[float, dict[str, float]]:
    server = Server(work / "server-home", durable=durable, workers=SERVER_WORKERS[0])
    try:
        with _client(server.url, work / "client-home") as reg:
            if many:  # untimed, as the others' first call: both server processes warm, connections open
                from prefect_artifacts.registry.http_batch import BATCH_SLICE

                reg.upload_many([{"path": paths[0], "name": f"warm-up-{i}"} for i in range(2 * BATCH_SLICE)],
                                folder="/warm")
            else:
                reg.upload_file(paths[0], name="warm-up", folder="/warm")
            cpu0 = proc_cpu(server.pid)
            t0 = time.perf_counter()
            if many:
                results = reg.upload_many([{"path": p} for p in paths], folder=FOLDER)
                assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
            else:
                for p in paths:
                    reg.upload_file(p, folder=FOLDER)
            seconds = time.perf_counter() - t0
            server_cpu = proc_cpu(server.pid) - cpu0
            assert reg.count(folder=FOLDER) == len(paths)
    finally:
        server.stop()
    return seconds, {"server_cpu_s": server_cpu}


def server_many(work: Path, paths: list[Path]) -> tuple[float, dict[str, float]]:
    return _through_server(work, paths, many=True)


def server_many_nosync(work: Path, paths: list[Path]) -> tuple[float, dict[str, float]]:
    return _through_server(work, paths, many=True, durable=False)


def server_one_by_one(work: Path, paths: list[Path]) -> tuple[float, dict[str, float]]:
    return _through_server(work, paths, many=False)


MLFLOW_WORKER = """
import os, sys, time
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3.x refuses file: otherwise
import mlflow
work, paths = sys.argv[1], sys.argv[2:]
mlflow.set_tracking_uri("file://" + os.path.join(work, "mlruns"))
with mlflow.start_run():
    mlflow.log_artifact(paths[0], artifact_path="warm-up")  # untimed: first-call costs
    t0 = time.perf_counter()
    for p in paths:
        mlflow.log_artifact(p)
    print(time.perf_counter() - t0)
"""


def mlflow_case(work: Path, paths: list[Path], python: str) -> tuple[float, dict[str, float]]:
    """``mlflow.log_artifact`` per file in one run, in a process of ``python`` (an interpreter with MLflow)."""
    out = subprocess.run([python, "-c", MLFLOW_WORKER, str(work), *map(str, paths)], check=True,
                         capture_output=True, text=True).stdout
    stored = sum(len(files) for folder, _d, files in os.walk(work / "mlruns") if folder.endswith("artifacts"))
    assert stored >= len(paths), stored
    return float(out.strip().splitlines()[-1]), {}


def embedded_many(work: Path, paths: list[Path], durable: bool = True) -> tuple[float, dict[str, float]]:
    from prefect_artifacts.registry.local import LocalRegistry
    from prefect_artifacts.settings import ArtifactSettings

    reg = LocalRegistry.from_urls(settings=ArtifactSettings(home=work / "home", durable=durable, digest_cache=False))
    try:
        reg.upload_many([{"path": paths[0], "name": "warm-up"}], folder="/warm")  # untimed: first-call costs
        t0 = time.perf_counter()
        results = reg.upload_many([{"path": p} for p in paths], folder=FOLDER)
        seconds = time.perf_counter() - t0
        assert all(r.ok for r in results) and reg.count(folder=FOLDER) == len(paths)
    finally:
        reg.close()
    return seconds, {}


def floor(work: Path, paths: list[Path]) -> tuple[float, dict[str, float]]:
    peers = sys.modules["peers"]
    cas = peers.NaiveCAS(work / "cas", synchronous="FULL", fsync_data=True)
    t0 = time.perf_counter()
    stored = [(p.name, *cas.store(p)) for p in paths]
    cas.db.execute("BEGIN")
    cas.db.executemany("INSERT INTO artifacts(name, version, kind, digest, size, created) "
                       "VALUES (?, 1, 'file', ?, ?, datetime('now'))", stored)
    cas.db.execute("COMMIT")
    seconds = time.perf_counter() - t0
    assert cas.count("artifacts") == len(paths)
    return seconds, {}


MLFLOW_PYTHON = [sys.executable]  # set by --mlflow-python
RUNNERS: dict[str, Callable[[Path, list[Path]], tuple[float, dict[str, float]]]] = {
    "server_many": server_many, "server_one_by_one": server_one_by_one,
    "mlflow": lambda work, paths: mlflow_case(work, paths, MLFLOW_PYTHON[0]),
    "embedded_many": embedded_many, "floor": floor,
    "server_many_nosync": server_many_nosync,
    "embedded_many_nosync": lambda work, paths: embedded_many(work, paths, durable=False),
}


def measure(case: str, tmp: Path, n: int, kib: int, tag: str) -> tuple[float, dict[str, float]]:
    work = tmp / f"{case}-{tag}"
    paths = make_inputs(work / "in", n, kib)  # fresh content: every system stores new blobs
    os.sync()  # the inputs' writeback does not land inside the next timed run
    return RUNNERS[case](work, paths)


def profile(case: str, tmp: Path, n: int, kib: int) -> str:
    work = tmp / f"profile-{case}"
    paths = make_inputs(work / "in", n, kib)
    prof = cProfile.Profile()
    prof.enable()
    RUNNERS[case](work, paths)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(30)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--kib", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--profile", choices=CASES + INFO_CASES)
    parser.add_argument("--peers", help="path of the shared harness peers.py (for the floor)")
    parser.add_argument("--server-workers", type=int, default=2,
                        help="server processes (docs/deploy.md: one per core; this machine has 2)")
    parser.add_argument("--mlflow-python", default=sys.executable,
                        help="an interpreter with mlflow(-skinny) installed (default: this one)")
    args = parser.parse_args(argv)
    MLFLOW_PYTHON[0] = args.mlflow_python
    SERVER_WORKERS[0] = args.server_workers
    load_peers(find_peers(args.peers))
    cases = [c for c in args.cases.split(",") if c]
    times: dict[str, list[float]] = {c: [] for c in cases}
    extra: dict[str, list[dict[str, float]]] = {c: [] for c in cases}
    with tempfile.TemporaryDirectory(prefix="pa-bench-batch-") as tmp_name:
        tmp = Path(tmp_name)
        for c in cases:  # warm-up round, uncounted (imports, page cache of the code)
            measure(c, tmp, min(args.n, 100), args.kib, "warm")
        print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
        for r in range(args.rounds):
            order = cases[r % len(cases):] + cases[:r % len(cases)]
            for c in order:
                seconds, more = measure(c, tmp, args.n, args.kib, f"r{r}")
                times[c].append(seconds)
                extra[c].append(more)
                print(f"round {r + 1} {c}: {seconds:.3f} s ({args.n / seconds:,.0f} files/s) {more}", flush=True)
        if args.profile:
            print(profile(args.profile, tmp, args.n, args.kib))
    print(f"load after: {os.getloadavg()[0]:.2f}\n")
    print(f"{args.n} files × {args.kib} KiB, {args.rounds} rounds, server --workers {args.server_workers}\n")
    print("| system | median s | files/s | rounds (s) |")
    print("|---|---|---|---|")
    for c in cases:
        xs = times[c]
        cpu = [e["server_cpu_s"] for e in extra[c] if "server_cpu_s" in e]
        note = f" (server CPU median {statistics.median(cpu):.2f} s)" if cpu else ""
        print(f"| {c} | {statistics.median(xs):.3f} | {args.n / statistics.median(xs):,.0f} | "
              f"{', '.join(f'{x:.2f}' for x in xs)}{note} |")
    print("\n| ratio of rates | median of rounds | min | max | target |")
    print("|---|---|---|---|---|")
    pairs = [*TARGETS, ("embedded_many", "mlflow"), *((c, "mlflow") for c in INFO_CASES)]
    missed = 0
    for a, b in pairs:
        if a not in times or b not in times:
            continue
        ratios = [tb / ta for ta, tb in zip(times[a], times[b], strict=True)]
        med = statistics.median(ratios)
        target = TARGETS.get((a, b))
        verdict = "–" if target is None else f"≥ {target:g}: {'met' if med >= target else 'MISSED'}"
        missed += target is not None and med < target
        print(f"| {a} ÷ {b} | {med:.2f}× | {min(ratios):.2f}× | {max(ratios):.2f}× | {verdict} |")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
