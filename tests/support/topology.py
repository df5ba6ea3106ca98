"""The deployment of docs/deploy.md, on loopback: replicas, a balancer, one catalog, one bucket.

`Replica` is a real ``prefect-artifacts server start`` process (its own home, as if on
its own machine); every replica shares one PostgreSQL catalog and one S3 bucket (moto)
through the environment, exactly as the guide configures them. `Balancer` is a
round-robin TCP load balancer that skips replicas refusing connections (what a reverse
proxy's passive health check does). `Topology` starts the lot; tests and
``bench/bench_topology.py`` drive it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_artifacts.registry.http import HttpRegistry
from tests.support.proxies import close_sockets
from tests.support.services import MotoServer, PostgresServer, free_port

#: The command every replica runs (the console script of this environment).
CLI = str(Path(sys.executable).with_name("prefect-artifacts"))


@dataclass
class Balancer:
    """Round-robin TCP balancer over replica ports; a replica refusing connections is skipped.

    Example:
        ```python
        lb = Balancer([4301, 4302])
        HttpRegistry(lb.url, api_key=key)
        ```
    """

    upstreams: list[int]
    served: Counter[int] = field(default_factory=Counter)  # connections forwarded, by upstream port
    active: dict[int, int] = field(default_factory=dict)  # open connections, by upstream port

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._next = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def _connect(self) -> tuple[int, socket.socket] | None:
        for _ in range(len(self.upstreams)):
            with self._lock:
                port = self.upstreams[self._next % len(self.upstreams)]
                self._next += 1
            try:
                return port, socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                continue  # down: the next one
        return None

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            picked = self._connect()
            if picked is None:
                client.close()
                continue
            port, server = picked
            server.settimeout(None)
            with self._lock:
                self.served[port] += 1
                self.active[port] = self.active.get(port, 0) + 1
            done = threading.Barrier(2, action=lambda p=port: self._closed(p))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b, done), daemon=True).start()

    def _closed(self, port: int) -> None:
        with self._lock:
            self.active[port] -= 1

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, done: threading.Barrier) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(262144):
                dst.sendall(data)
        close_sockets(src, dst)
        with contextlib.suppress(threading.BrokenBarrierError):
            done.wait()

    def close(self) -> None:
        self.listener.close()


@dataclass
class Replica:
    """One ``prefect-artifacts server start`` process.

    Example:
        ```python
        replica = Replica.start(env, home)
        replica.kill()
        ```
    """

    port: int
    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, env: dict[str, str], home: Path, port: int | None = None, wait: bool = True) -> Replica:
        home.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        log = open(home / "server.log", "ab")  # noqa: SIM115 - the process holds it
        process = subprocess.Popen(
            [CLI, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env={**env, "PREFECT_ARTIFACTS_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        replica = cls(port, home, env, process)
        if wait:
            replica.wait_ready()
        return replica

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"replica on {self.port} exited {self.process.returncode}: {self.log()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"replica on {self.port} not ready after {timeout} s: {self.log()[-3000:]}")

    def log(self) -> str:
        return (self.home / "server.log").read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, connections cut mid-request."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def restart(self) -> Replica:
        return Replica.start(self.env, self.home, self.port)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Topology:
    """N replicas on one PostgreSQL catalog and one bucket, behind a `Balancer`.

    Example:
        ```python
        with Topology.start(pg, moto, tmp_path) as topo:
            HttpRegistry(topo.url, api_key=topo.admin_key).upload_file("x.csv")
        ```
    """

    catalog_url: str
    storage_url: str
    env: dict[str, str]
    replicas: list[Replica]
    balancer: Balancer
    admin_key: str
    root: Path

    @classmethod
    def start(cls, pg: PostgresServer, moto: MotoServer, root: Path, replicas: int = 2,
              grace_seconds: float = 3600.0) -> Topology:
        """Start ``replicas`` servers at once on an empty catalog (they migrate it once), then an admin."""
        catalog_url = pg.create_database()
        storage_url = f"s3://{moto.make_bucket()}/blobs"
        env = {
            **os.environ, **moto.env,
            "PREFECT_ARTIFACTS_CATALOG_URL": catalog_url,
            "PREFECT_ARTIFACTS_STORAGE_URL": storage_url,
            "PREFECT_ARTIFACTS_INDEX_KEY": "topology-index-key",
            "PREFECT_ARTIFACTS_GC_GRACE_SECONDS": str(grace_seconds),
        }
        env.pop("PREFECT_ARTIFACTS_API_URL", None)
        started = [Replica.start(env, root / f"replica-{i}", wait=False) for i in range(replicas)]
        for replica in started:
            replica.wait_ready()
        cli(env, "users", "create", "ops", "--admin")
        admin_key = json.loads(cli(env, "--json", "keys", "create", "ops"))["key"]
        return cls(catalog_url, storage_url, env, started, Balancer([r.port for r in started]), admin_key, root)

    @property
    def url(self) -> str:
        return self.balancer.url

    def close(self) -> None:
        self.balancer.close()
        for replica in self.replicas:
            replica.stop()

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: The gc grace of the `topology` fixture's replicas: short, so gc races uploads that reuse old blobs.
GRACE = 4.0


@pytest.fixture(scope="module")
def topology(pg_server: PostgresServer, moto_server: MotoServer,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """Two replicas behind a balancer (one per test module), with a user ``writer`` in group ``team``."""
    with Topology.start(pg_server, moto_server, tmp_path_factory.mktemp("topology"), grace_seconds=GRACE) as t:
        cli(t.env, "users", "create", "writer", "--group", "team")
        yield t


def new_key(topo: Topology, user: str) -> str:
    """A new API key of ``user`` (through the CLI, as the guide does)."""
    return str(json.loads(cli(topo.env, "--json", "keys", "create", user))["key"])


def cli(env: dict[str, str], *args: str) -> str:
    """Run a ``prefect-artifacts`` command with ``env``; its stdout (raises with stderr on failure)."""
    result = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"prefect-artifacts {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result.stdout


# -- a mixed workload of many clients while gc runs -------------------------------------

#: Contents every client writes (some larger than an inline create), stored beforehand as
#: orphans: once older than the gc grace, clients reuse them while gc tries to delete them.
SHARED = [b"shared %d " % i * (i * 9000 + 1) for i in range(6)]


def write_big(path: Path, size: int, seed: str) -> None:
    """Write ``size`` bytes (whole MiB) of content unique to ``seed``."""
    with open(path, "wb") as f:
        for block in range(size // (1 << 20)):
            f.write(hashlib.sha256(f"{seed}-{block}".encode()).digest() * 32768)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def mixed_creates(url: str, key: str, index: int, creates: int, big: int, work: str) -> list[tuple[str, str]]:
    """One client process's work: ``creates`` mixed creates then one ``big`` file; (id, SHA-256) of each.

    A quarter each: small unique files, shared contents (after the first third: reused
    once old), JSON objects, and new versions of one name ("log") that every client
    writes at once.
    """
    folder = Path(work) / f"client-{index}"
    folder.mkdir(parents=True)
    made: list[tuple[str, str]] = []
    with HttpRegistry(url, api_key=key) as reg:
        for j in range(creates):
            kind = j % 4
            if kind == 2:
                art = reg.save_object({"client": index, "item": j}, name=f"obj-{index}-{j}", serializer="json")
                made.append((art.id, art.checksum or ""))
                continue
            data = (SHARED[j % len(SHARED)] if kind == 1 and j > creates // 3
                    else b"client %d item %d\n" % (index, j) * (1 + j % 7))
            path = folder / f"f{j}.txt"
            path.write_bytes(data)
            name = "log" if kind == 3 else f"item-{index}-{j}"
            made.append((reg.upload_file(path, name=name, folder="/team").id, hashlib.sha256(data).hexdigest()))
        path = folder / "big.bin"
        write_big(path, big, f"client-{index}")
        made.append((reg.upload_file(path, name=f"big-{index}", folder="/team").id, sha256_file(path)))
        path.unlink()
    return made


@dataclass
class Soak:
    """What `soak` did: every artifact made (id, SHA-256), gc's reports, wall seconds."""

    made: list[tuple[str, str]]
    gc_reports: list[dict[str, Any]]
    seconds: float


def soak(topo: Topology, key: str, clients: int, creates: int, big: int, work: Path) -> Soak:
    """`mixed_creates` in ``clients`` processes through the balancer, gc looping on every replica meanwhile."""
    with HttpRegistry(topo.url, api_key=topo.admin_key) as ops:  # the orphans the clients will reuse
        for data in SHARED:
            ops._put_blob(hashlib.sha256(data).hexdigest(), len(data), data)
    admin = {"Authorization": f"Bearer {topo.admin_key}"}
    stop, reports = threading.Event(), []

    def collect() -> None:
        turn = 0
        while not stop.is_set():
            replica = topo.replicas[turn % len(topo.replicas)]
            reports.append(httpx.post(f"{replica.url}/admin/gc", headers=admin, timeout=600).json())
            turn += 1

    gc = threading.Thread(target=collect)
    started = time.monotonic()
    gc.start()
    try:
        with multiprocessing.get_context("spawn").Pool(clients) as pool:
            runs = pool.starmap(mixed_creates, [(topo.url, key, i, creates, big, str(work)) for i in range(clients)])
    finally:
        stop.set()
        gc.join()
    return Soak([m for run in runs for m in run], reports, time.monotonic() - started)


def read_back(topo: Topology, url: str, key: str, made: list[tuple[str, str]],
              moto: MotoServer) -> list[tuple[str, bool, str]]:
    """Read every artifact's bytes through ``url`` (verified while streaming); the failures.

    Each failure is (artifact name, whether its blob is in the bucket, the error).
    """
    failures = []
    with HttpRegistry(url, api_key=key) as reader:
        for art_id, digest in made:
            art = reader.get(art_id)
            try:
                got = hashlib.sha256(b"".join(art.as_stream())).hexdigest()
            except Exception as exc:  # noqa: BLE001 - every failure reported at once
                blob = f"{topo.storage_url.removeprefix('s3://')}/sha256/{digest[:2]}/{digest}"
                failures.append((art.name, moto.filesystem().exists(blob), repr(exc)))
                continue
            if got != digest:
                failures.append((art.name, True, f"content {got} is not {digest}"))
    return failures
