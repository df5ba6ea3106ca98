#!/usr/bin/env python3
"""Direct transfers (issue 17): a large file to and from a server whose blobs are in S3.

A moto S3 server and a real ``prefect-artifacts server start --insecure-no-auth`` (one
process, blobs in a moto bucket) as subprocesses on loopback. The same file (``--mib``,
default 1 GiB, random bytes) is uploaded and downloaded by an `HttpRegistry` in three
server set-ups, each on a fresh bucket and home:

* ``proxied``: ``PREFECT_ARTIFACTS_PRESIGN_URLS=false``, every byte through the server (the
  path before direct transfers);
* ``direct, store checks``: ``PREFECT_ARTIFACTS_PRESIGN_STORE_CHECKS=true``, the path on S3
  (which checks the signed SHA-256): one presigned PUT to the blob's key, a HEAD by the server;
* ``direct, server hashes``: the store probed (moto does not check), so the PUT goes to a temp
  key that the server reads, hashes and copies into place.

The same-run baseline is s3fs ``put_file``/``get_file`` of the same file to the same moto
server (``put_file`` sends 50 MiB multipart parts, which moto assembles slowly); one
presigned PUT of the file by httpx, without hashing it, is shown as the floor of any
single-PUT upload. Wall times are for the whole call (the client hashes the file first: no digest
cache); server CPU is ``utime + stime`` of the server process from ``/proc/<pid>/stat``
before and after each call, after a 5 MiB file took the same path once (the server's
first-use costs: imports, the S3 client, the store probe). Targets: direct upload wall ≤ 1.2 × s3fs ``put_file``, and
the server's CPU for it ≤ 5 % of the proxied upload's.

Usage:
    .venv/bin/python bench/bench_presigned.py              # 1 GiB
    .venv/bin/python bench/bench_presigned.py --mib 64     # a quick look
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

KEY, SECRET, REGION = "testing", "testing", "us-east-1"
TARGET_WALL, TARGET_CPU = 1.2, 0.05


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


def _cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _aws_env(endpoint: str) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_S3": endpoint, "AWS_ENDPOINT_URL": endpoint}


def _fs(endpoint: str) -> Any:
    import s3fs

    return s3fs.S3FileSystem(key=KEY, secret=SECRET, endpoint_url=endpoint, skip_instance_cache=True,
                             use_listings_cache=False)


def _one_put(fs: Any, path: str, src: Path) -> None:
    """``src`` in one presigned PUT streamed by httpx: what any single-PUT upload costs at least."""
    from fsspec.asyn import sync

    bucket, key = path.split("/", 1)
    url = sync(fs.loop, fs.s3.generate_presigned_url, ClientMethod="put_object",
               Params={"Bucket": bucket, "Key": key}, ExpiresIn=600)

    def chunks() -> Any:
        with open(src, "rb") as fh:
            while chunk := fh.read(1 << 20):
                yield chunk

    headers = {"Content-Length": str(src.stat().st_size)}
    httpx.put(url, content=chunks(), headers=headers, timeout=600).raise_for_status()


def _make_file(path: Path, mib: int) -> None:
    with open(path, "wb") as fh:
        for _ in range(mib):
            fh.write(os.urandom(1 << 20))


def _server(endpoint: str, bucket: str, home: Path, settings: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, **_aws_env(endpoint), "PREFECT_ARTIFACTS_HOME": str(home),
           "PREFECT_ARTIFACTS_STORAGE_URL": f"s3://{bucket}/artifacts", **settings}
    proc = subprocess.Popen([sys.executable, "-m", "prefect_artifacts._cli.main", "server", "start", "--port",
                             str(port), "--insecure-no-auth", "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/v1"
    _wait(f"{url}/health", proc, "the registry server")
    return proc, url


def _timed(fn: Any, pid: int | None = None) -> tuple[float, float]:
    cpu = _cpu(pid) if pid else 0.0
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started, (_cpu(pid) - cpu) if pid else 0.0


def _round_trip(reg: Any, src: Path, out: Path, pid: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(wall, server CPU) of uploading ``src``, then of downloading it to ``out`` (checked, removed)."""
    art: list[Any] = []
    up = _timed(lambda: art.append(reg.upload_file(str(src), name="big")), pid)
    down = _timed(lambda: reg.download(art[0].id, str(out)), pid)
    if out.stat().st_size != src.stat().st_size:
        raise AssertionError("the download is not the file")
    out.unlink()
    return up, down


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=1024, help="file size in MiB (default 1024)")
    args = parser.parse_args()

    from prefect_artifacts.registry.http import HttpRegistry
    from prefect_artifacts.settings import get_settings

    work = Path(tempfile.mkdtemp(prefix="pa-presigned-"))
    moto_port = _free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                            env={**os.environ, **_aws_env("")}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{moto_port}"
    rows: list[tuple[str, str, float, float]] = []
    try:
        _wait(endpoint, moto, "moto")
        fs = _fs(endpoint)
        src, warm = work / "big.bin", work / "warm.bin"
        _make_file(src, args.mib)
        _make_file(warm, 5)  # over the 4 MiB floor: the same path as the big file
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        fs.mkdir(bucket)
        wall, _ = _timed(lambda: fs.put_file(str(src), f"{bucket}/raw.bin"))
        rows.append(("s3fs put_file (baseline)", "up", wall, 0.0))
        wall, _ = _timed(lambda: _one_put(fs, f"{bucket}/one.bin", src))
        rows.append(("one presigned PUT, no hashing (floor)", "up", wall, 0.0))
        wall, _ = _timed(lambda: fs.get_file(f"{bucket}/raw.bin", str(work / "raw.out")))
        rows.append(("s3fs get_file (baseline)", "down", wall, 0.0))
        fs.rm(bucket, recursive=True)
        (work / "raw.out").unlink()
        modes = [("proxied", {"PREFECT_ARTIFACTS_PRESIGN_URLS": "false"}),
                 ("direct, store checks", {"PREFECT_ARTIFACTS_PRESIGN_STORE_CHECKS": "true"}),
                 ("direct, server hashes", {})]
        client_settings = get_settings().model_copy(update={"digest_cache": False})
        for name, settings in modes:
            bucket = f"bench-{uuid.uuid4().hex[:8]}"
            fs.mkdir(bucket)
            proc, url = _server(endpoint, bucket, work / bucket, settings)
            try:
                with HttpRegistry(url, settings=client_settings) as reg:
                    _round_trip(reg, warm, work / "out.bin", proc.pid)  # the server's first-use costs
                    up, down = _round_trip(reg, src, work / "out.bin", proc.pid)
                rows += [(name, "up", *up), (name, "down", *down)]
            finally:
                proc.terminate()
                proc.wait(30)
                fs.rm(bucket, recursive=True)
    finally:
        moto.terminate()
        moto.wait(30)
    _report(rows, args.mib)


def _report(rows: list[tuple[str, str, float, float]], mib: int) -> None:
    base = {d: w for name, d, w, _ in rows if name.startswith("s3fs")}
    proxied_cpu = {d: c for name, d, _, c in rows if name == "proxied"}
    print(f"\n{mib} MiB, load {os.getloadavg()[0]:.1f}\n")
    print("| path | direction | wall s | × s3fs | server CPU s | % of proxied CPU |")
    print("|---|---|---|---|---|---|")
    for name, direction, wall, cpu in rows:
        ratio = wall / base[direction] if base.get(direction) else 0.0
        share = f"{100 * cpu / proxied_cpu[direction]:.1f} %" if proxied_cpu.get(direction) and cpu else "–"
        cpu_text = f"{cpu:.2f}" if name in proxied_cpu or name.startswith(("proxied", "direct")) else "–"
        print(f"| {name} | {direction} | {wall:.2f} | {ratio:.2f} | {cpu_text} | {share} |")
    direct = [r for r in rows if r[0] == "direct, store checks" and r[1] == "up"][0]
    print(f"\ntargets (direct upload, store checks): wall ≤ {TARGET_WALL} × s3fs:"
          f" {'met' if direct[2] <= TARGET_WALL * base['up'] else 'MISSED'};"
          f" server CPU ≤ {TARGET_CPU:.0%} of proxied:"
          f" {'met' if direct[3] <= TARGET_CPU * proxied_cpu['up'] else 'MISSED'}")


if __name__ == "__main__":
    main()
