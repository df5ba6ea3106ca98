#!/usr/bin/env python3
"""How fast the registry server answers ``/health`` while hostile clients send their worst.

A real ``prefect-artifacts server start`` (API keys on, one process) on loopback; an
ordinary writer's key; then, for ``--seconds``:

* a probe: ``GET /health`` every 10 ms on a kept-alive connection, latency recorded;
* hostile clients, each in its own thread: catastrophic-backtracking schemas on aspects,
  schemas pointing at URLs and files, 100,000-label PATCHes, listings at offset 2**63,
  heads sent one byte every 0.2 s (slowloris, 20 connections held open), 200 KB heads,
  and bodies that stop half-way.

The first phase measures the probe with no hostile traffic (the same-run baseline);
the target is p99 ≤ 100 ms under attack.

Usage:
    .venv/bin/python bench/bench_hostile.py                 # 2 × 20 s
    .venv/bin/python bench/bench_hostile.py --seconds 60
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

TARGET_P99_MS = 100.0


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "prefect_artifacts._cli.main", *args], env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def _start(home: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    env = {**os.environ, "PREFECT_ARTIFACTS_HOME": str(home)}
    _cli(env, "users", "create", "mallory", "--group", "team-m")
    key = _cli(env, "keys", "create", "mallory")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "prefect_artifacts._cli.main", "server", "start",
                               "--port", str(port), "--log-level", "warning"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/v1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return server, url, key
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the server did not start")


def _probe(url: str, stop: threading.Event, latencies: list[float]) -> None:
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get(f"{url}/health").raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)


def _schemas(url: str, key: str, art_id: str, stop: threading.Event) -> None:
    bodies = [
        {"aspect": {"s": "a" * 40 + "!"}, "schema": {"properties": {"s": {"pattern": "^(a+)+$"}}}},
        {"aspect": {"s": "a" * 60 + "!"}, "schema": {"properties": {"s": {"pattern": "^(a|aa)+$"}}}},
        {"aspect": {"s": "x" * 500_000}, "schema": {"properties": {"s": {"pattern": "^(.*a){25}$"}}}},
        {"aspect": {}, "schema": {"$ref": "http://127.0.0.1:9/evil.json"}},
        {"aspect": {}, "schema": {"$ref": "file:///etc/passwd"}},
        {"aspect": {"items": [{"k": i} for i in range(20_000)]},
         "schema": {"properties": {"items": {"uniqueItems": True}}}},
    ]
    with httpx.Client(timeout=120, headers={"Authorization": f"Bearer {key}"}) as client:
        while not stop.is_set():
            for body in bodies:
                client.post(f"{url}/artifacts/{art_id}/aspects", json=body)


def _big_requests(url: str, key: str, art_id: str, stop: threading.Event) -> None:
    labels = [f"l{i}" for i in range(100_000)]
    with httpx.Client(timeout=120, headers={"Authorization": f"Bearer {key}"}) as client:
        while not stop.is_set():
            client.patch(f"{url}/artifacts/{art_id}", json={"labels": labels})
            client.get(f"{url}/artifact-ids", params={"offset": 2**63})
            client.get(f"{url}/artifacts", params={"index": 2**63, "search": "name:" + "a*" * 500})


def _raw(url: str, payload: bytes, pause: float, stop: threading.Event) -> None:
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    while not stop.is_set():
        try:
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                for i in range(0, len(payload), 1 if pause else len(payload)):
                    if stop.is_set():
                        return
                    sock.sendall(payload[i:i + (1 if pause else len(payload))])
                    if pause:
                        time.sleep(pause)
                sock.settimeout(5)
                while sock.recv(65536):
                    pass
        except OSError:
            pass


def _phase(url: str, seconds: float, attackers: list[Any]) -> dict[str, float]:
    stop = threading.Event()
    latencies: list[float] = []
    threads = [threading.Thread(target=_probe, args=(url, stop, latencies), daemon=True)]
    threads += [threading.Thread(target=fn, args=(*args, stop), daemon=True) for fn, *args in attackers]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(30)
    ordered = sorted(latencies)
    return {"n": len(ordered), "p50": statistics.median(ordered), "p99": ordered[int(len(ordered) * 0.99) - 1],
            "max": ordered[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pa-hostile-") as tmp:
        server, url, key = _start(Path(tmp) / "home")
        try:
            data = Path(tmp) / "a.txt"
            data.write_text("a")
            from prefect_artifacts.registry.http import HttpRegistry

            with HttpRegistry(url, api_key=key) as reg:
                art_id = reg.upload_file(data, name="target", folder="/team-m").id
            quiet = _phase(url, args.seconds, [])
            head = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000 + b"\r\n\r\n"
            body = (f"POST /api/v1/artifacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                    "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"name\": ").encode()
            attackers: list[Any] = [(_schemas, url, key, art_id), (_schemas, url, key, art_id),
                                    (_big_requests, url, key, art_id)]
            attackers += [(_raw, url, head, 0.2) for _ in range(20)]
            attackers += [(_raw, url, b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n", 0.0),
                          (_raw, url, body, 0.0)]
            hostile = _phase(url, args.seconds, attackers)
        finally:
            server.terminate()
            server.wait(30)
    print(f"| phase | probes | p50 ms | p99 ms | max ms | target p99 ≤ {TARGET_P99_MS:.0f} ms |")
    print("|---|---|---|---|---|---|")
    for name, r in (("quiet", quiet), ("hostile", hostile)):
        verdict = "**met**" if r["p99"] <= TARGET_P99_MS else "missed"
        print(f"| {name} | {r['n']} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | "
              f"{verdict if name == 'hostile' else 'baseline'} |")
    print(f"\nload average after the run: {os.getloadavg()}")


if __name__ == "__main__":
    main()
