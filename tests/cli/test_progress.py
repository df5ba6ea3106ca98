"""Progress that tells the truth: byte counts as the bytes are written or sent, bars only when wanted.

The registry's ``progress`` callback is driven directly (no terminal needed), embedded and
over a real uvicorn server; the bars are drawn on a forced terminal console.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from prefect_artifacts._cli.main import app
from prefect_artifacts._cli.progress import ByteProgress, CountProgress
from prefect_artifacts._cli.transfer import pull, verify
from prefect_artifacts._progress import HighWater, Meter, metering, tallying, watching_hashes
from prefect_artifacts._server import NoAuth
from prefect_artifacts.registry.base import Registry
from prefect_artifacts.registry.http import UPLOAD_CHUNK, HttpRegistry
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.storage.hashing import CHUNK_SIZE
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry

#: Makes rich treat CliRunner's stderr as an interactive terminal.
TERMINAL = {"TTY_INTERACTIVE": "1", "TTY_COMPATIBLE": "1", "COLUMNS": "200"}


class Recorder:
    """A ``progress`` callback that records each count, and whether the blob was stored by then."""

    def __init__(self, stored: Registry | None = None, digest: str | None = None) -> None:
        self.counts: list[int] = []
        self.stored_when_called: list[bool] = []
        self._stored, self._digest = stored, digest
        self._lock = threading.Lock()

    def __call__(self, nbytes: int) -> None:
        stored = False
        if self._stored is not None and self._digest is not None:
            stored = self._stored.store.exists(self._digest)  # type: ignore[attr-defined]
        with self._lock:
            self.counts.append(nbytes)
            self.stored_when_called.append(stored)

    @property
    def running(self) -> list[int]:
        total, out = 0, []
        for n in self.counts:
            total += n
            out.append(total)
        return out


def _file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalRegistry]:
    reg = make_registry(tmp_path / "local")
    yield reg
    reg.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(make_registry(tmp_path / "server"), auth=NoAuth()).start()
    yield live
    live.stop()
    live.registry.close()


@pytest.fixture
def http(server: LiveServer) -> Iterator[HttpRegistry]:
    reg = HttpRegistry(server.url)
    yield reg
    reg.close()


# -- the hook: embedded ------------------------------------------------------------------


def test_embedded_file_push_reports_each_chunk_as_it_is_written(local: LocalRegistry, tmp_path: Path) -> None:
    size = 2 * CHUNK_SIZE + 12345
    data = _file(tmp_path / "big.bin", size)
    seen = Recorder(local, hashlib.sha256(data).hexdigest())
    art = local.upload_file(tmp_path / "big.bin", progress=seen)
    assert art.size == size and sum(seen.counts) == size
    assert len(seen.counts) >= 3 and all(n > 0 for n in seen.counts)  # one per chunk, not one at the end
    assert seen.running == sorted(seen.running) and seen.running[-1] == size
    assert not any(seen.stored_when_called[:-1])  # counted while written, before the blob is in place


def test_embedded_push_of_content_already_stored_sums_exactly(local: LocalRegistry, tmp_path: Path) -> None:
    _file(tmp_path / "a.bin", CHUNK_SIZE + 1)
    local.upload_file(tmp_path / "a.bin", name="first")
    seen = Recorder()
    local.upload_file(tmp_path / "a.bin", name="second", progress=seen)  # hashed only, nothing copied
    assert sum(seen.counts) == CHUNK_SIZE + 1


def test_embedded_directory_push_sums_to_the_directory_size(local: LocalRegistry, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    sizes = [CHUNK_SIZE + 7, 10, 2000, 0, 300_000]
    for i, size in enumerate(sizes):
        _file(root / f"d{i % 2}" / f"f{i}.bin", size)
    seen = Recorder()
    art = local.upload_dir(root, progress=seen)
    assert sum(seen.counts) == sum(sizes) == art.size
    assert len(seen.counts) >= 5  # the large file in two chunks, each other non-empty file once


# -- the hook: over HTTP -------------------------------------------------------------------


def test_http_file_push_counts_the_body_as_it_streams(http: HttpRegistry, server: LiveServer, tmp_path: Path) -> None:
    size = 3 * UPLOAD_CHUNK + 7
    data = _file(tmp_path / "big.bin", size)
    seen = Recorder(server.registry, hashlib.sha256(data).hexdigest())
    art = http.upload_file(tmp_path / "big.bin", progress=seen)
    assert art.size == size and sum(seen.counts) == size
    assert len(seen.counts) >= 4 and seen.running == sorted(seen.running)
    # every count but the last arrives while the request is still being sent: the server has no blob yet
    assert not any(seen.stored_when_called[:-1])
    again = Recorder()
    http.upload_file(tmp_path / "big.bin", name="again", progress=again)  # the server has it: nothing sent
    assert sum(again.counts) == size


def test_the_hash_only_pass_is_reported_apart(http: HttpRegistry, local: LocalRegistry, tmp_path: Path) -> None:
    size = 3 * UPLOAD_CHUNK + 7
    _file(tmp_path / "big.bin", size)
    (tmp_path / "copy.bin").write_bytes((tmp_path / "big.bin").read_bytes())  # a path whose digest is not cached
    # a server may hold it: hashed, then sent; embedded: hashed first only once it holds a file of that size
    for reg, name, hash_pass in ((http, "big.bin", size), (local, "big.bin", 0), (local, "copy.bin", size)):
        hashed, seen = Recorder(), Recorder()
        with watching_hashes(hashed):
            reg.upload_file(tmp_path / name, progress=seen)
        assert sum(seen.counts) == size and sum(hashed.counts) == hash_pass


def test_http_directory_push_through_the_upload_pool_sums_exactly(http: HttpRegistry, tmp_path: Path) -> None:
    root = tmp_path / "many"
    sizes = [3 * UPLOAD_CHUNK + 1] + [100 + i for i in range(70)]  # > 64 files: stored from a thread pool
    for i, size in enumerate(sizes):
        _file(root / f"f{i:03}.bin", size)
    seen = Recorder()
    art = http.upload_dir(root, progress=seen)
    assert sum(seen.counts) == sum(sizes) == art.size
    assert len(seen.counts) >= len(sizes) + 3


def test_a_resent_body_is_counted_once() -> None:
    seen = Recorder()
    with metering(Meter(seen)):
        sent = HighWater()
    for _attempt in range(2):  # the first attempt broke after 2 of 3 chunks; the retry sends all 3
        for offset in (10, 20, 30)[: 2 if _attempt == 0 else 3]:
            sent.reach(offset)
    assert seen.counts == [10, 10, 10]


def test_parts_sent_apart_count_once_each_and_towards_the_whole_body() -> None:
    seen = Recorder()
    with metering(Meter(seen)):
        sent = HighWater()

    def send(mark: HighWater) -> None:  # a part of 30 bytes, broken after 20 and sent again
        for offset in (10, 20, 10, 20, 30):
            mark.reach(offset)

    threads = [threading.Thread(target=send, args=(sent.part(),)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(seen.counts) == 90 and seen.counts.count(10) == 9
    sent.reach(50)  # the whole body sent again (through the server): only what lies past the parts' 90 counts
    sent.reach(100)
    assert sum(seen.counts) == 100 and seen.counts[-1] == 10


def test_pull_over_http_draws_bytes_speed_and_eta(http: HttpRegistry, tmp_path: Path) -> None:
    size = 2 * CHUNK_SIZE + 7  # read in CHUNK_SIZE pieces: three updates, so a speed
    _file(tmp_path / "big.bin", size)
    art = http.upload_file(tmp_path / "big.bin")
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200)
    with ByteProgress(console, enabled=True) as bar:
        result = pull(http, art.id, bar, tmp_path / "out.bin")
    assert result.bytes == size and (tmp_path / "out.bin").read_bytes() == (tmp_path / "big.bin").read_bytes()
    drawn = buffer.getvalue()
    assert "16.0/16.0 MiB" in drawn and "/s" in drawn and "0:00:00" in drawn


def test_verify_draws_one_byte_bar_for_the_whole_run(local: LocalRegistry, tmp_path: Path) -> None:
    for i in range(3):
        _file(tmp_path / f"f{i}.bin", 1024 * 1024)
        local.upload_file(tmp_path / f"f{i}.bin")
    buffer = io.StringIO()
    with ByteProgress(Console(file=buffer, force_terminal=True, width=200), enabled=True) as bar:
        report = verify(local, local.iter(), bar)
    assert report.ok and report.bytes == 3 * 1024 * 1024
    assert "Verifying 3 artifact(s)" in buffer.getvalue() and "3.0/3.0 MiB" in buffer.getvalue()


def test_gc_reports_blobs_as_a_count(local: LocalRegistry, tmp_path: Path) -> None:
    for i in range(3):
        _file(tmp_path / f"f{i}.bin", 100)
        local.delete(local.upload_file(tmp_path / f"f{i}.bin").id)
    steps: list[tuple[int, int]] = []
    with tallying(lambda done, total: steps.append((done, total))):
        report = local.gc(grace_seconds=0)
    assert report.blobs_deleted == 3 and steps[-1] == (3, 3)
    buffer = io.StringIO()
    with CountProgress(Console(file=buffer, force_terminal=True, width=200), True, "blobs") as bar, \
            bar.tallied("Collecting garbage"):
        local.gc(grace_seconds=0)
    assert "Collecting garbage" in buffer.getvalue()


# -- the CLI: bars on a terminal, nothing otherwise ---------------------------------------------


@pytest.fixture
def big(tmp_path: Path) -> Path:
    _file(tmp_path / "big.bin", 2 * CHUNK_SIZE + 1)
    return tmp_path / "big.bin"


def test_cli_push_on_a_terminal_shows_bytes_and_speed(big: Path) -> None:
    result = CliRunner(env=TERMINAL).invoke(app, ["push", str(big)])
    assert result.exit_code == 0, result.stderr
    assert "16.0/16.0 MiB" in result.stderr and "/s" in result.stderr


def test_cli_push_over_http_shows_the_hash_pass_then_the_bytes_sent(big: Path, server: LiveServer) -> None:
    result = CliRunner(env=TERMINAL).invoke(app, ["--api-url", server.url, "push", str(big)])
    assert result.exit_code == 0, result.stderr
    assert "hashing" in result.stderr and "16.0/16.0 MiB" in result.stderr and "/s" in result.stderr


@pytest.mark.parametrize("args, env", [(["--quiet"], TERMINAL), (["-q"], TERMINAL), (["--json"], TERMINAL),
                                       ([], {"COLUMNS": "200"})])
def test_cli_push_is_quiet_off_a_terminal_or_when_asked(big: Path, args: list[str], env: dict[str, str]) -> None:
    result = CliRunner(env=env).invoke(app, [*args, "push", str(big)])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""


def test_offline_writes_to_the_outbox_and_sync_count_the_same_way(server: LiveServer, tmp_path: Path) -> None:
    from prefect_artifacts.registry.offline import OfflineRegistry

    reg = OfflineRegistry.for_server(server.url, mode=True, retries=0)
    try:
        size = CHUNK_SIZE + 5
        _file(tmp_path / "big.bin", size)
        seen = Recorder()
        reg.upload_file(tmp_path / "big.bin", progress=seen)  # into the outbox, chunk by chunk
        assert sum(seen.counts) == size and len(seen.counts) >= 2
        (tmp_path / "small.txt").write_text("taken")
        server.registry.upload_file(tmp_path / "small.txt", name="taken")
        reg.upload_file(tmp_path / "small.txt", name="taken", conflict_strategy="error")  # conflicts on sync
        replayed: list[int] = []
        report = reg.push_outbox(progress=replayed.append)  # once per artifact handled: a count bar ends full
        assert len(report.created) == 1 and len(report.conflicts) == 1 and replayed == [size, 0]
    finally:
        reg.close()
