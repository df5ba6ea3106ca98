#!/usr/bin/env python3
"""prefect-artifacts benchmarks (issue 5): the registry server on loopback against the embedded registry.

Every figure through the server is measured in the same run as the embedded
``LocalRegistry`` doing the same work, so ratios are meaningful on a noisy machine.
The server is a real subprocess, ``prefect-artifacts server start --insecure-no-auth``
over a fresh home in a temp dir, so its memory can be sampled from
``/proc/<pid>/status`` (VmRSS every 50 ms, VmHWM).

Cases (``--cases``, default all):

* ``small``: 1,000 × 4 KiB ``upload_file`` calls, one artifact each: embedded, one
  ``HttpRegistry`` client, and 4 client *processes* (each its own ``HttpRegistry``),
  server and embedded with the shipped default ``durable=True``; then (labelled
  ``durable=false``, info) both with ``PREFECT_ARTIFACTS_DURABLE=false``.
* ``large``: ``upload_file`` then ``as_local_file`` of a ``--large-mib`` file, embedded
  vs through the server (fresh store each repeat, digest cache off on both sides).
* ``catalog``: ``list(page_length=50, search="name:abc*", descending=True)`` over
  ``--catalog-rows`` artifacts seeded with SQLAlchemy Core (``cases_catalog.seed``)
  before the server starts on that catalog: embedded, ``HttpRegistry.list`` and a bare
  ``httpx`` GET of the same URL (the server alone, without the client's model building).
* ``memory``: server RSS growth over its idle baseline while a ``--memory-mib`` file
  (default 2 × ``--large-mib``) is uploaded and downloaded.

Usage:
    .venv/bin/python bench/bench_server.py                       # ~5 min here
    .venv/bin/python bench/bench_server.py --large-mib 64 --small-n 200 --catalog-rows 10000   # smoke
    .venv/bin/python bench/bench_server.py --append-results      # also append to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pagecache import pretouch

HERE = Path(__file__).resolve().parent
MIB = 1024 * 1024
PAGE = 50
SEARCH = "name:abc*"
TARGETS = {"small1": 250.0, "small4": 400.0, "large": 1.3, "list_ms": 15.0, "mem_mib": 200.0}


# -- helpers ---------------------------------------------------------------------------


def _settings(home: Path, durable: bool = True, digest_cache: bool = False) -> Any:
    from prefect_artifacts.settings import ArtifactSettings

    return ArtifactSettings(home=home, durable=durable, digest_cache=digest_cache)


def embedded(home: Path, durable: bool = True) -> Any:
    """A `LocalRegistry` under ``home`` (digest cache off: every upload hashes, like a fresh client)."""
    from prefect_artifacts.registry.local import LocalRegistry

    return LocalRegistry.from_urls(settings=_settings(home, durable))


def client(url: str, home: Path) -> Any:
    """An `HttpRegistry` (digest cache off, so a repeat never skips hashing)."""
    from prefect_artifacts.registry.http import HttpRegistry

    return HttpRegistry(url, settings=_settings(home, digest_cache=False), use_digest_cache=False)


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS / VmHWM of ``pid`` in MiB."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, val = line.split(":", 1)
                out[key] = int(val.split()[0]) / 1024
    return out


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its child processes (``--workers``), from ``/proc``."""
    total = 0.0
    for other in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{other}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(other) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class RssSampler:
    """Samples a process's VmRSS every ``interval`` seconds on a thread."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(proc_status(self.pid)["VmRSS"])
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(proc_status(self.pid)["VmRSS"])

    @property
    def peak(self) -> float:
        return max(self.samples)


class Server:
    """``prefect-artifacts server start --insecure-no-auth`` as a subprocess on a loopback port (free, or ``port``)."""

    def __init__(self, home: Path, durable: bool | None = None, workers: int = 1, port: int | None = None) -> None:
        if port is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
        self.port = port
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_ARTIFACTS_")}
        env["PREFECT_ARTIFACTS_HOME"] = str(home)
        if durable is not None:
            env["PREFECT_ARTIFACTS_DURABLE"] = "true" if durable else "false"
        exe = Path(sys.executable).parent / "prefect-artifacts"
        self.cmd = [str(exe), "server", "start", "--insecure-no-auth", "--host", "127.0.0.1",
                    "--port", str(self.port), "--log-level", "warning", "--workers", str(workers)]
        home.mkdir(parents=True, exist_ok=True)
        self.log_path = home.parent / f"server-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}/api/v1"
        self._wait()

    def _wait(self) -> None:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start within 60 s")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def idle_rss(self, seconds: float = 0.5) -> float:
        """Median VmRSS over ``seconds`` of idleness."""
        xs = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            xs.append(proc_status(self.pid)["VmRSS"])
            time.sleep(0.05)
        return statistics.median(xs)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def warm(path: Path) -> None:
    """Read a file once so every system starts with it in the page cache."""
    with open(path, "rb", buffering=0) as fh:
        while fh.read(8 * MIB):
            pass


def bare_http_floor(big: Path) -> dict[str, float]:
    """Upload and download of ``big`` through bare uvicorn + httpx (`bare_http.py`): seconds and CPU."""
    import httpx
    from bare_http import measure

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(HERE / "bare_http.py"), str(port), str(big)])
    try:
        url = f"http://127.0.0.1:{port}/floor"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=2).raise_for_status()  # also warms the file into the page cache
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return measure(url, big, server_cpu=lambda: proc_cpu(proc.pid))
    finally:
        proc.terminate()
        proc.wait(15)


def cpu_floor_parts(big: Path, work: Path) -> dict[str, float]:
    """CPU seconds of the work every HTTP transfer of ``big`` must do beside moving bytes.

    One SHA-256 pass over the (cached) file, and writing its bytes into a fresh file
    (new page-cache pages, as the server's upload and the client's download do).
    """
    import hashlib

    c0 = time.process_time()
    digest = hashlib.sha256()
    with open(big, "rb", buffering=0) as fh:
        while piece := fh.read(8 * MIB):
            digest.update(piece)
    hash_cpu = time.process_time() - c0
    piece = os.urandom(8 * MIB)
    pretouch(work, 2 * big.stat().st_size)
    target = work / "floor-write.bin"
    c0 = time.process_time()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for _ in range(max(1, big.stat().st_size // len(piece))):
            os.write(fd, piece)
    finally:
        os.close(fd)
    write_cpu = time.process_time() - c0
    target.unlink()
    return {"floor_hash_cpu_s": hash_cpu, "floor_write_cpu_s": write_cpu}


def make_file(path: Path, mib: int) -> Path:
    with open(path, "wb") as fh:
        for _ in range(mib):
            fh.write(os.urandom(MIB))
    return path


def stats(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


# -- small uploads ---------------------------------------------------------------------


def _client_worker(url: str, home: str, files: list[str], folder: str, barrier: Any, out: Any) -> None:
    reg = client(url, Path(home))
    reg.upload_file(files[0], name="warm-up", folder=folder + "-warm")  # connection, imports: untimed
    barrier.wait()
    for f in files:
        reg.upload_file(f, name=Path(f).stem, folder=folder)
    out.put(time.monotonic())
    reg.close()


def upload_concurrent(url: str, work: Path, files: list[Path], folder: str, n_clients: int) -> float:
    """Artifacts/s of ``n_clients`` processes uploading ``files`` round-robin (wall from a common start)."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(n_clients + 1), ctx.Queue()
    procs = [ctx.Process(target=_client_worker, args=(url, str(work / f"client{k}"),
                                                      [str(f) for f in files[k::n_clients]], folder, barrier, out))
             for k in range(n_clients)]
    for p in procs:
        p.start()
    barrier.wait(timeout=120)
    t0 = time.monotonic()
    ends = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(30)
        if p.exitcode != 0:
            raise RuntimeError(f"client process failed ({p.exitcode})")
    return len(files) / (max(ends) - t0)


def upload_serial(reg: Any, files: list[Path], folder: str, cpu: dict[str, list[float]],
                  server_pid: int | None = None) -> float:
    """Artifacts/s of one thread; appends CPU ms per artifact (this process, and the server's) to ``cpu``."""
    reg.upload_file(files[0], name="warm-up", folder=folder + "-warm")
    s0 = proc_cpu(server_pid) if server_pid else 0.0
    c0, t = time.process_time(), time.perf_counter()
    for f in files:
        reg.upload_file(f, name=f.stem, folder=folder)
    rate = len(files) / (time.perf_counter() - t)
    cpu["caller"].append((time.process_time() - c0) / len(files) * 1000)
    if server_pid:
        cpu["server"].append((proc_cpu(server_pid) - s0) / len(files) * 1000)
    assert reg.count(folder=folder) == len(files), "artifacts missing"
    return rate


def case_small(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    src = work / "small-src"
    src.mkdir()
    files = [src / f"s{i:06d}.bin" for i in range(args.small_n)]
    for f in files:
        f.write_bytes(os.urandom(args.small_kib * 1024))
    res: dict[str, Any] = {}
    configs = [("durable", True)] + ([("durable=false", False)] if not args.no_nondurable else [])
    for label, durable in configs:
        base = work / f"small-{label}"
        server = Server(base / "server-home", durable=None if durable else False, workers=args.server_workers)
        emb = embedded(base / "emb-home", durable=durable)
        one = client(server.url, base / "client")
        rows: dict[str, list[float]] = {"embedded": [], "server_1": [], "server_4": []}
        cpu: dict[str, dict[str, list[float]]] = {k: {"caller": [], "server": []} for k in rows}
        try:
            for rep in range(args.repeats):
                for f in files:
                    os.stat(f)
                rows["embedded"].append(upload_serial(emb, files, f"/emb-r{rep}", cpu["embedded"]))
                rows["server_1"].append(upload_serial(one, files, f"/one-r{rep}", cpu["server_1"], server.pid))
                s0 = proc_cpu(server.pid)
                rows["server_4"].append(upload_concurrent(server.url, base, files, f"/four-r{rep}", args.clients))
                cpu["server_4"]["server"].append((proc_cpu(server.pid) - s0) / len(files) * 1000)
                assert one.count(folder=f"/four-r{rep}") == len(files), "concurrent artifacts missing"
                done = ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in rows.items())
                print(f"  small {label} r{rep}: {done}", flush=True)
        finally:
            one.close()
            emb.close()
            server.stop()
        res[label] = {k: {"per_s": v, **stats(v), "cpu_ms": {w: stats(x) for w, x in cpu[k].items() if x}}
                      for k, v in rows.items()}
    return res


# -- large files and memory ------------------------------------------------------------


def _transfer_round(big: Path, work: Path, tag: str, server_first: bool, sample: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    ehome, shome = work / f"{tag}-emb", work / f"{tag}-srv"
    server = Server(shome)
    emb = embedded(ehome)
    cli = client(server.url, work / f"{tag}-client")
    try:
        small = work / f"{tag}-warm.bin"
        small.write_bytes(os.urandom(64 * 1024))
        cli.upload_file(small, name="warm").as_local_file(work / f"{tag}-warm.out")  # lazy imports, first requests
        emb.upload_file(small, name="warm")
        base = server.idle_rss()
        out["server_idle_rss_mib"] = base
        order = ["server", "embedded"] if server_first else ["embedded", "server"]
        arts = {}
        for who in order:  # uploads
            warm(big)
            pretouch(work, 2 * big.stat().st_size)
            reg = cli if who == "server" else emb
            sampler = RssSampler(server.pid) if (who == "server" and sample) else None
            s0, c0, t = proc_cpu(server.pid), time.process_time(), time.perf_counter()
            if sampler:
                with sampler:
                    arts[who] = reg.upload_file(big, name="big")
                out["upload_rss_growth_mib"] = sampler.peak - base
            else:
                arts[who] = reg.upload_file(big, name="big")
            out[f"{who}_upload_s"] = time.perf_counter() - t
            out[f"{who}_upload_caller_cpu_s"] = time.process_time() - c0
            out[f"{who}_upload_server_cpu_s"] = proc_cpu(server.pid) - s0
            assert arts[who].size == big.stat().st_size
        os.sync()
        if sample:
            base = server.idle_rss(0.3)
        for who in order:  # downloads
            target = work / f"{tag}-{who}.out"
            pretouch(work, 2 * big.stat().st_size)
            sampler = RssSampler(server.pid) if (who == "server" and sample) else None
            s0, c0, t = proc_cpu(server.pid), time.process_time(), time.perf_counter()
            if sampler:
                with sampler:
                    arts[who].as_local_file(target)
                out["download_rss_growth_mib"] = sampler.peak - base
            else:
                arts[who].as_local_file(target)
            out[f"{who}_download_s"] = time.perf_counter() - t
            out[f"{who}_download_caller_cpu_s"] = time.process_time() - c0
            out[f"{who}_download_server_cpu_s"] = proc_cpu(server.pid) - s0
            assert target.stat().st_size == big.stat().st_size
            target.unlink()
        out["server_hwm_mib"] = proc_status(server.pid)["VmHWM"]
        pretouch(work, 2 * big.stat().st_size)
        bare = bare_http_floor(big)
        out["bare_upload_s"], out["bare_download_s"] = bare["up_s"], bare["down_s"]
        out.update({f"bare_{k}": v for k, v in bare.items() if "cpu" in k})
        out.update(cpu_floor_parts(big, work))
        assert arts["server"].checksum == arts["embedded"].checksum
    finally:
        cli.close()
        emb.close()
        server.stop()
        for p in (ehome, shome):
            shutil.rmtree(p, ignore_errors=True)
    return out


def case_large(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    big = make_file(work / "large.bin", args.large_mib)
    rounds = []
    try:
        for rep in range(args.repeats):
            r = _transfer_round(big, work, f"large-r{rep}", server_first=rep % 2 == 1, sample=True)
            rounds.append(r)
            print(f"  large r{rep}: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()), flush=True)
    finally:
        big.unlink()
    keys = rounds[0].keys()
    res = {k: stats([r[k] for r in rounds]) for k in keys}
    for op in ("upload", "download"):
        res[f"{op}_ratio"] = stats([r[f"server_{op}_s"] / r[f"embedded_{op}_s"] for r in rounds])
    return res


def case_memory(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    mib = args.memory_mib or 2 * args.large_mib
    big = make_file(work / "memory.bin", mib)
    try:
        r = _transfer_round(big, work, "memory", server_first=True, sample=True)
    finally:
        big.unlink()
    print("  memory: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()), flush=True)
    return {"mib": mib, **r}


# -- catalog ---------------------------------------------------------------------------


def seed_catalog(home: Path, rows: int, frac: float) -> int:
    """Seed ``home``'s catalog with ``bench/cases_catalog.seed`` (SQLAlchemy Core inserts)."""
    import sqlite3

    sys.path.insert(0, str(HERE))
    import run  # bench/run.py: loads the shared harness that cases_catalog imports from

    if "peers" not in sys.modules:
        run.load_peers(run.find_peers(None))
    import cases_catalog

    reg = embedded(home, durable=False)
    matches = cases_catalog.seed(SimpleNamespace(params={"catalog_rows": rows, "catalog_match_frac": frac}), reg)
    reg.close()
    db = sqlite3.connect(home / "catalog.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return matches


def case_catalog(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import httpx

    home = work / "catalog-home"
    t = time.perf_counter()
    matches = seed_catalog(home, args.catalog_rows, 0.02)
    seed_s = time.perf_counter() - t
    server = Server(home)
    emb = embedded(home)
    cli = client(server.url, work / "catalog-client")
    raw = httpx.Client()
    params = {"index": 0, "pageLength": PAGE, "descending": True, "search": SEARCH}

    def do_emb() -> int:
        return len(emb.list(page_length=PAGE, search=SEARCH, descending=True).data)

    def do_cli() -> int:
        return len(cli.list(page_length=PAGE, search=SEARCH, descending=True).data)

    def do_raw() -> int:
        r = raw.get(server.url + "/artifacts", params=params)
        r.raise_for_status()
        return len(r.json()["data"])

    systems = {"embedded": do_emb, "server_client": do_cli, "server_raw_httpx": do_raw}
    samples: dict[str, list[float]] = {k: [] for k in systems}
    per_round: dict[str, list[float]] = {k: [] for k in systems}
    try:
        page = cli.list(page_length=PAGE, search=SEARCH, descending=True)
        assert page.total == matches and len(page.data) == min(PAGE, matches), (page.total, matches)
        assert all(a.name.lower().startswith("abc") for a in page.data)
        for fn in systems.values():
            for _ in range(10):
                fn()
        n = max(1, args.catalog_queries // args.repeats)
        for _rep in range(args.repeats):
            for name, fn in systems.items():
                xs = []
                for _ in range(n):
                    t = time.perf_counter()
                    got = fn()
                    xs.append((time.perf_counter() - t) * 1000)
                    assert got == min(PAGE, matches)
                samples[name] += xs
                per_round[name].append(statistics.median(xs))
        rss = proc_status(server.pid)
    finally:
        raw.close()
        cli.close()
        emb.close()
        server.stop()
    res: dict[str, Any] = {"rows": args.catalog_rows, "matches": matches, "seed_s": seed_s, "server_rss_mib": rss}
    for name, xs in samples.items():
        res[name] = {"p50_ms": statistics.median(xs), "p95_ms": pct(xs, 0.95), "n": len(xs),
                     "round_p50_min": min(per_round[name]), "round_p50_max": max(per_round[name])}
    return res


# -- report ----------------------------------------------------------------------------


def _v(x: float, nd: int = 3) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.{nd}g}"


def _cell(s: dict[str, float], unit: str = "", nd: int = 3) -> str:
    if s["n"] > 1:
        return f"{_v(s['median'], nd)}{unit} ({_v(s['min'], nd)}–{_v(s['max'], nd)})"
    return f"{_v(s['median'], nd)}{unit}"


def _met(ok: bool) -> str:
    return "**met**" if ok else "**MISSED**"


def render(res: dict[str, Any], args: argparse.Namespace, command: str) -> str:
    md = [f"Figures are median (min–max) over {args.repeats} repeats; every ratio divides by the embedded "
          "registry measured in the same run (ratio column: median of the per-repeat paired ratios, (min–max)).",
          "", "| # | measurement | through the server | embedded, same run | server ÷ embedded | target | verdict |",
          "|---|---|---|---|---|---|---|"]
    small = res.get("small")
    if small:
        for label, s in small.items():
            info = label != "durable"
            tag = "durable=true (shipped default)" if not info else "`PREFECT_ARTIFACTS_DURABLE=false` (info)"
            n_files, kib = args.small_n, args.small_kib
            e = s["embedded"]
            for key, who, target in (("server_1", "1 client", TARGETS["small1"]),
                                     ("server_4", f"{args.clients} client processes", TARGETS["small4"])):
                x = s[key]
                ratios = [a / b for a, b in zip(x["per_s"], e["per_s"], strict=True)]
                md.append(f"| 1 | {n_files:,} × {kib} KiB `upload_file`, {who}, {tag} | {_cell(x, '/s')} | "
                          f"{_cell(e, '/s')} (1 thread) | {_cell(stats(ratios), '×', 2)} | "
                          f"{'info' if info else f'≥ {target:.0f}/s'} | "
                          f"{'–' if info else _met(x['median'] >= target)} |")
        for label, s in small.items():
            c = {k: s[k]["cpu_ms"] for k in s}
            md.append(f"| 1 | (info) CPU ms per artifact, {label}: "
                      f"embedded {_cell(c['embedded']['caller'])}; 1 client: "
                      f"client {_cell(c['server_1']['caller'])} + server {_cell(c['server_1']['server'])}; "
                      f"{args.clients} clients: server {_cell(c['server_4']['server'])} | – | – | – | info | – |")
    large = res.get("large")
    if large:
        mib = args.large_mib
        for op, api in (("upload", "upload_file"), ("download", "as_local_file")):
            r = large[f"{op}_ratio"]
            md.append(f"| 2 | {mib:,} MiB `{api}` (durable default, digest cache off) | "
                      f"{_cell(large[f'server_{op}_s'], ' s')} | {_cell(large[f'embedded_{op}_s'], ' s')} | "
                      f"{_cell(r, '×', 3)} | ≤ {TARGETS['large']}× | {_met(r['median'] <= TARGETS['large'])} |")
        md.append(f"| 2 | (info) HTTP floor: bare uvicorn + httpx on the same loopback, no storage or hashing "
                  f"(`bench/bare_http.py`), upload / download | {_cell(large['bare_upload_s'], ' s')} / "
                  f"{_cell(large['bare_download_s'], ' s')} | – | embedded ÷ floor: "
                  f"{large['embedded_upload_s']['median'] / large['bare_upload_s']['median']:.2f}× / "
                  f"{large['embedded_download_s']['median'] / large['bare_download_s']['median']:.2f}× | info | – |")
        # The least wall time 2 cores allow for the CPU work each HTTP transfer must do:
        # upload = client hash (digest to announce / dedup) + server hash (verify) + server
        # write + moving the bytes (bare client + server CPU); download = client hash
        # (verify) + client write + moving the bytes. fsync and waits come on top.
        h, w = large["floor_hash_cpu_s"]["median"], large["floor_write_cpu_s"]["median"]
        cores = os.cpu_count() or 2
        for op, key, need in (("upload", "up", 2 * h + w), ("download", "down", h + w)):
            moved = large[f"bare_{key}_client_cpu_s"]["median"] + large[f"bare_{key}_server_cpu_s"]["median"]
            floor, base = (need + moved) / cores, large[f"embedded_{op}_s"]["median"]
            md.append(f"| 2 | (info) CPU floor, {op}: (hash {h:.2f} s × {2 if key == 'up' else 1} + write {w:.2f} s "
                      f"+ bare HTTP {moved:.2f} s) ÷ {cores} cores | ≥ {floor:.2f} s | {base:.3g} s | "
                      f"≥ {floor / base:.2f}× | info | – |")
        for op in ("upload", "download"):
            md.append(f"| 2 | (info) CPU s, {op}: embedded {_cell(large[f'embedded_{op}_caller_cpu_s'])}; through the "
                      f"server: client {_cell(large[f'server_{op}_caller_cpu_s'])} + server "
                      f"{_cell(large[f'server_{op}_server_cpu_s'])} | – | – | – | info | – |")
    cat = res.get("catalog")
    if cat:
        c, e, w = cat["server_client"], cat["embedded"], cat["server_raw_httpx"]
        rng = f"per-round p50 {c['round_p50_min']:.3g}–{c['round_p50_max']:.3g}"
        md.append(f"| 3 | `list` page of {PAGE}, `{SEARCH}`, {cat['rows']:,} artifacts ({cat['matches']:,} match), "
                  f"`HttpRegistry.list`, {c['n']} calls | p50 {c['p50_ms']:.3g} ms, p95 {c['p95_ms']:.3g} ms "
                  f"({rng}) | p50 {e['p50_ms']:.3g} ms, p95 {e['p95_ms']:.3g} ms | {c['p50_ms'] / e['p50_ms']:.2f}× "
                  f"| p50 ≤ {TARGETS['list_ms']:.0f} ms | {_met(c['p50_ms'] <= TARGETS['list_ms'])} |")
        md.append(f"| 3 | (info) same URL with bare `httpx` (no client-side models) | p50 {w['p50_ms']:.3g} ms, "
                  f"p95 {w['p95_ms']:.3g} ms | – | {w['p50_ms'] / e['p50_ms']:.2f}× | info | – |")
    mem = res.get("memory")
    if mem:
        for op in ("upload", "download"):
            g = mem[f"{op}_rss_growth_mib"]
            md.append(f"| 4 | server RSS growth over idle ({mem['server_idle_rss_mib']:.0f} MiB), streaming "
                      f"{mem['mib']:,} MiB {op} (VmRSS every 50 ms) | {g:.1f} MiB | – | – | ≤ "
                      f"{TARGETS['mem_mib']:.0f} MiB | {_met(g <= TARGETS['mem_mib'])} |")
        md.append(f"| 4 | (info) same round: {mem['mib']:,} MiB upload / download times | "
                  f"{mem['server_upload_s']:.2f} s / {mem['server_download_s']:.2f} s | "
                  f"{mem['embedded_upload_s']:.2f} s / {mem['embedded_download_s']:.2f} s | "
                  f"{mem['server_upload_s'] / mem['embedded_upload_s']:.2f}× / "
                  f"{mem['server_download_s'] / mem['embedded_download_s']:.2f}× | info | – |")
        md.append(f"| 4 | (info) server VmHWM over the whole process life (startup included) | "
                  f"{mem['server_hwm_mib']:.0f} MiB | – | – | info | – |")
    if large:
        md.append(f"| 4 | (info) server RSS growth in the {args.large_mib:,} MiB rounds, upload / download (max) | "
                  f"{large['upload_rss_growth_mib']['max']:.1f} / {large['download_rss_growth_mib']['max']:.1f} MiB"
                  f" | – | – | info | – |")
    md += ["", f"Command: `{command}`"]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="small,large,catalog,memory")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--small-n", type=int, default=1000)
    ap.add_argument("--small-kib", type=int, default=4)
    ap.add_argument("--clients", type=int, default=4, help="concurrent client processes (default %(default)s)")
    ap.add_argument("--server-workers", type=int, default=1, help="server processes in the small case (--workers)")
    ap.add_argument("--no-nondurable", action="store_true", help="skip the durable=false (info) small run")
    ap.add_argument("--large-mib", type=int, default=1024)
    ap.add_argument("--memory-mib", type=int, default=None, help="default: 2 × --large-mib")
    ap.add_argument("--catalog-rows", type=int, default=100_000)
    ap.add_argument("--catalog-queries", type=int, default=300)
    ap.add_argument("--out", default=str(HERE / "out" / "server.json"))
    ap.add_argument("--append-results", action="store_true", help="append the section to bench/RESULTS.md")
    args = ap.parse_args(argv)
    command = ".venv/bin/python bench/bench_server.py " + " ".join(argv if argv is not None else sys.argv[1:])
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    started = datetime.now(timezone.utc)
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="pa-bench-server-"))
    res: dict[str, Any] = {}
    try:
        for name in ("small", "large", "catalog", "memory"):
            if name in cases:
                print(f"+ {name}", flush=True)
                t = time.perf_counter()
                res[name] = {"small": case_small, "large": case_large, "catalog": case_catalog,
                             "memory": case_memory}[name](args, work)
                print(f"  ({time.perf_counter() - t:.0f} s)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ended = datetime.now(timezone.utc)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    table = render(res, args, command)
    section = "\n".join([
        "## Registry server (issue 5)", "",
        f"Run {started:%Y-%m-%d %H:%M}–{ended:%H:%M} UTC; load average at start "
        f"{' / '.join(f'{x:.2f}' for x in load_before)}, `uptime` at the end: `{uptime}`.",
        f"Server: `prefect-artifacts server start --insecure-no-auth --workers {args.server_workers}` (small case; "
        "one process elsewhere) subprocess on 127.0.0.1 (uvicorn, httptools), "
        "a fresh home in a temp dir, `PREFECT_ARTIFACTS_DURABLE` unset (durable=true, as shipped) unless a row "
        "says otherwise; clients are `HttpRegistry` with the digest cache off.", "", table, ""])
    print("\n" + section)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": command, "started": started.isoformat(), "uptime": uptime,
                               "results": res, "markdown": section}, indent=1, default=str))
    if args.append_results:
        with open(HERE / "RESULTS.md", "a") as fh:
            fh.write("\n" + section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
