#!/usr/bin/env python3
"""Offline sync (issue 14): ``push_outbox()`` of an outbox against uploading the same content online.

Per round, two fresh servers (``prefect-artifacts server start --insecure-no-auth``,
a real subprocess on loopback, embedded SQLite catalog and local blobs under a temp dir,
shipped defaults, so ``durable=True``), in alternating order:

* **online**: one `HttpRegistry` (digest cache off) calls ``upload_file`` per artifact;
* **sync**: an `OfflineRegistry` (``mode=True``) first writes the same artifacts into its
  outbox while nothing listens on the server's port (untimed), then the server starts
  on that port and ``push_outbox()`` alone is timed.

Workloads: ``small`` (``--n`` artifacts of ``--kib`` KiB, distinct random content, one
folder) and, with ``--large``, one ``--large-mib`` file (random, page-cached before each
timed operation, page cache pre-touched for the server's write). Both clients make one
untimed request first (``count``), so both start with an open connection. Target:
sync ÷ online ≤ 1.2 (median of the per-round ratios).

``--phases`` adds one untimed sync round with the replay's steps timed (blob
HEAD/PUT, create, aliases, ledger, outbox reads) and a cProfile of it.

Usage:
    .venv/bin/python bench/bench_sync.py                        # 1,000 × 1 KiB, 5 rounds
    .venv/bin/python bench/bench_sync.py --large --rounds 3     # + one 1 GiB file
    .venv/bin/python bench/bench_sync.py --n 200 --rounds 1 --phases   # smoke
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import socket
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_server import Server, make_file, proc_cpu, warm
from pagecache import pretouch

MIB = 1024 * 1024
TARGET = 1.2
FOLDER = "/bench-sync"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def url_of(port: int) -> str:
    return f"http://127.0.0.1:{port}/api/v1"


def settings(home: Path) -> Any:
    from prefect_artifacts.settings import ArtifactSettings

    return ArtifactSettings(home=home, digest_cache=False)


def http_client(url: str, home: Path) -> Any:
    from prefect_artifacts.registry.http import HttpRegistry

    return HttpRegistry(url, settings=settings(home), use_digest_cache=False)


def offline_client(url: str, home: Path) -> Any:
    from prefect_artifacts.registry.offline import OfflineRegistry

    return OfflineRegistry(http_client(url, home), mode=True)


def run_online(work: Path, files: list[Path], before: Callable[[Path], None]) -> dict[str, float]:
    """Seconds (and client/server CPU) of ``upload_file`` per file against a fresh server."""
    port = free_port()
    server = Server(work / "online-server", port=port)
    try:
        with http_client(server.url, work / "online-client") as reg:
            reg.count()  # connection open, untimed
            before(work / "online-server")
            s0, c0, t0 = proc_cpu(server.proc.pid), time.process_time(), time.perf_counter()
            for f in files:
                reg.upload_file(f, name=f.stem, folder=FOLDER)
            wall = time.perf_counter() - t0
            cpu, scpu = time.process_time() - c0, proc_cpu(server.proc.pid) - s0
            assert reg.count(folder=FOLDER) == len(files), "online: artifacts missing"
    finally:
        server.stop()
    return {"wall": wall, "cpu": cpu, "server_cpu": scpu}


def write_outbox(work: Path, files: list[Path]) -> int:
    """An outbox holding ``files`` (one artifact each) for a server on a port nothing listens on yet."""
    port = free_port()
    reg = offline_client(url_of(port), work / "sync-client")
    try:
        for f in files:
            reg.upload_file(f, name=f.stem, folder=FOLDER)
        assert len(reg.pending()) == len(files)
    finally:
        reg.close()
    return port


def run_sync(work: Path, files: list[Path], before: Callable[[Path], None],
             instrument: Callable[[Any], Callable[[], None]] | None = None) -> dict[str, float]:
    """Seconds (and client/server CPU) of ``push_outbox()`` of an outbox of ``files`` to a fresh server."""
    port = write_outbox(work, files)
    server = Server(work / "sync-server", port=port)
    try:
        reg = offline_client(server.url, work / "sync-client")
        try:
            reg.server.count()  # connection open, untimed
            before(work / "sync-server")
            done = instrument(reg) if instrument else None
            s0, c0, t0 = proc_cpu(server.proc.pid), time.process_time(), time.perf_counter()
            report = reg.push_outbox()
            wall = time.perf_counter() - t0
            cpu, scpu = time.process_time() - c0, proc_cpu(server.proc.pid) - s0
            if done:
                done()
            assert report.ok and len(report.created) == len(files), f"sync: {report}"
            assert reg.server.count(folder=FOLDER) == len(files), "sync: artifacts missing"
        finally:
            reg.close()
    finally:
        server.stop()
    return {"wall": wall, "cpu": cpu, "server_cpu": scpu}


# -- phases of one sync --------------------------------------------------------------------


def phase_timer(totals: dict[str, list[float]]) -> Callable[[Any], Callable[[], None]]:
    """Wraps the replay's steps on one `OfflineRegistry` instance: seconds and calls per step."""

    def wrap(obj: Any, attr: str, label: str) -> None:
        fn = getattr(obj, attr, None)
        if fn is None:  # a step of another version of the replay
            return

        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                totals[label].append(time.perf_counter() - t)

        setattr(obj, attr, timed)

    def install(reg: Any) -> Callable[[], None]:
        server = reg.server
        wrap(server, "_server_has", "server: blob HEAD")
        wrap(server, "_put_blob", "server: blob PUT")
        wrap(server, "_put_file", "server: _put_file (read outbox blob, HEAD/PUT or inline)")
        wrap(server, "_create", "server: POST /artifacts (create, inline blob, aspects, runs)")
        wrap(server, "set_alias", "server: aliases")
        wrap(reg, "_replay_order", "outbox: replay order (get of every id, sorted)")
        wrap(reg.outbox.catalog, "file_digests", "outbox: files with digests (older replay)")
        wrap(reg.outbox.catalog, "aspects", "outbox: metadata (older replay)")
        wrap(reg, "_key_and_aliases", "outbox: idempotency key and aliases (older replay)")
        wrap(reg, "_stored", "outbox: files, metadata, key, aliases (batches of 64)")
        wrap(reg.outbox, "files", "outbox: files (older replay)")
        wrap(reg.outbox, "locate_file", "outbox: locate_file (older replay)")
        wrap(reg.outbox, "get_metadata", "outbox: metadata (older replay)")
        wrap(reg, "_sync_key", "outbox: idempotency key (older replay)")
        wrap(reg, "_aliases", "outbox: aliases (older replay)")
        wrap(reg._ledger, "strategy", "ledger: strategy")
        wrap(reg._ledger, "record", "ledger: record (one committed row)")
        wrap(reg._ledger, "mapping", "ledger: mapping")
        return lambda: None

    return install


def phases(work: Path, files: list[Path]) -> tuple[dict[str, list[float]], float, str]:
    totals: dict[str, list[float]] = defaultdict(list)
    res = run_sync(work, files, lambda _p: None, phase_timer(totals))
    # a cProfile of another sync (untimed: the profiler's overhead)
    port = write_outbox(work / "profiled", files)
    server = Server(work / "profiled" / "sync-server", port=port)
    try:
        reg = offline_client(server.url, work / "profiled" / "sync-client")
        reg.server.count()
        prof = cProfile.Profile()
        prof.enable()
        reg.push_outbox()
        prof.disable()
        reg.close()
    finally:
        server.stop()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(30)
    return totals, res["wall"], out.getvalue()


# -- driver ----------------------------------------------------------------------------------


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def measure(label: str, work: Path, files: list[Path], rounds: int, before: Callable[[Path], None],
            rows: list[dict[str, Any]]) -> None:
    for r in range(rounds):
        order = ("online", "sync") if r % 2 == 0 else ("sync", "online")
        got: dict[str, dict[str, float]] = {}
        for system in order:
            d = work / f"{label}-r{r}-{system}"
            d.mkdir()
            got[system] = (run_online if system == "online" else run_sync)(d, files, before)
        rows.append({"workload": label, "round": r + 1, "first": order[0], **{
            f"{s}_{k}": v for s, m in got.items() for k, v in m.items()}})
        on, sy = got["online"]["wall"], got["sync"]["wall"]
        print(f"  {label} round {r + 1} ({order[0]} first): online {on:.3f} s, sync {sy:.3f} s,"
              f" ratio {sy / on:.3f}", file=sys.stderr, flush=True)


def table(rows: list[dict[str, Any]], n: int) -> str:
    lines = ["| workload | round | first | online s | sync s | sync ÷ online | online CPU s (client / server)"
             " | sync CPU s (client / server) |", "|---|---|---|---|---|---|---|---|"]
    for w in dict.fromkeys(r["workload"] for r in rows):
        rs = [r for r in rows if r["workload"] == w]
        for r in rs:
            lines.append(f"| {w} | {r['round']} | {r['first']} | {r['online_wall']:.3f} | {r['sync_wall']:.3f} | "
                         f"{r['sync_wall'] / r['online_wall']:.3f} | {r['online_cpu']:.2f} / "
                         f"{r['online_server_cpu']:.2f} | {r['sync_cpu']:.2f} / {r['sync_server_cpu']:.2f} |")
        ratio = median([r["sync_wall"] / r["online_wall"] for r in rs])
        on, sy = median([r["online_wall"] for r in rs]), median([r["sync_wall"] for r in rs])
        extra = f" ({n / on:.0f} vs {n / sy:.0f} artifacts/s)" if w == "small" else ""
        verdict = "**met**" if ratio <= TARGET else "**MISSED**"
        lines.append(f"| **{w} median** | {len(rs)} | | **{on:.3f}** | **{sy:.3f}**{extra} | **{ratio:.3f}** "
                     f"(target ≤ {TARGET}: {verdict}) | {median([r['online_cpu'] for r in rs]):.2f} / "
                     f"{median([r['online_server_cpu'] for r in rs]):.2f} | {median([r['sync_cpu'] for r in rs]):.2f}"
                     f" / {median([r['sync_server_cpu'] for r in rs]):.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="small artifacts (default 1000)")
    ap.add_argument("--kib", type=int, default=1, help="size of each small artifact in KiB (default 1)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--large", action="store_true", help="also one --large-mib file (slow: ~1 min a round here)")
    ap.add_argument("--large-mib", type=int, default=1024)
    ap.add_argument("--large-rounds", type=int, default=None, help="rounds of the large case (default --rounds)")
    ap.add_argument("--no-small", action="store_true")
    ap.add_argument("--phases", action="store_true", help="time the replay's steps in one extra sync round")
    args = ap.parse_args()
    load0 = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="pa-bench-sync-") as tmp:
        work = Path(tmp)
        src = work / "src"
        src.mkdir()
        files = [src / f"s{i:05d}.bin" for i in range(args.n)]
        for f in files:
            f.write_bytes(os.urandom(args.kib * 1024))
        if not args.no_small:
            measure("small", work, files, args.rounds, lambda _p: None, rows)
        if args.large:
            big = make_file(work / "big.bin", args.large_mib)

            def before(server_home: Path) -> None:
                warm(big)
                pretouch(server_home, big.stat().st_size)

            measure("large", work, [big], args.large_rounds or args.rounds, before, rows)
        print(f"## bench_sync — {started}, load average before {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f},"
              f" after {os.getloadavg()[0]:.2f}\n")
        print(f"small: {args.n} × {args.kib} KiB; large: {args.large_mib if args.large else 0} MiB\n")
        print(table(rows, args.n))
        if args.phases and not args.no_small:
            (work / "phases").mkdir()
            totals, wall, prof = phases(work / "phases", files)
            print(f"\n### phases of one sync of {args.n} small artifacts (instrumented, wall {wall:.3f} s)\n")
            print("| step | calls | total s | ms per call | share of wall |\n|---|---|---|---|---|")
            for label, xs in sorted(totals.items(), key=lambda kv: -sum(kv[1])):
                print(f"| {label} | {len(xs)} | {sum(xs):.3f} | {sum(xs) / len(xs) * 1000:.2f} |"
                      f" {sum(xs) / wall:.0%} |")
            print("\n<details><summary>cProfile (cumulative, top 30)</summary>\n\n```")
            print(prof)
            print("```\n</details>")


if __name__ == "__main__":
    main()
