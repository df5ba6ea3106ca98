"""A process killed in the middle of a large upload leaves no artifact; a retry works; gc cleans up."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.errors import ArtifactNotFound
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.settings import get_settings

SIZE = 300 * 1024 * 1024
CHILD = textwrap.dedent(
    """
    import sys
    from prefect_artifacts.registry.local import LocalRegistry
    blobs, catalog, path = sys.argv[1:4]
    reg = LocalRegistry.from_urls(blobs, catalog, use_digest_cache=False)
    print("ready", flush=True)
    reg.upload_file(path, name="big", folder="/crash")
    print("done", flush=True)
    """
)


def make_big_file(path: Path, size: int) -> str:
    """Write ``size`` bytes quickly (a random MiB, varied per block) and return their SHA-256."""
    block = bytearray(os.urandom(1 << 20))
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(size >> 20):
            block[:8] = i.to_bytes(8, "big")
            f.write(block)
            digest.update(block)
    return digest.hexdigest()


def part_files(tmp_dir: Path) -> list[Path]:
    try:
        return [tmp_dir / n for n in os.listdir(tmp_dir) if n.endswith(".part")]
    except FileNotFoundError:
        return []


def growing_parts(tmp_dir: Path) -> list[Path]:
    """Partial blobs that already hold bytes (a file may vanish between listing and stat)."""
    found = []
    for path in part_files(tmp_dir):
        try:
            if path.stat().st_size > 0:
                found.append(path)
        except FileNotFoundError:
            pass
    return found


@pytest.mark.slow
def test_killed_upload_leaves_no_artifact_and_retry_succeeds(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    expected = make_big_file(big, SIZE)
    blobs, catalog = tmp_path / "blobs", sqlite_url(tmp_path / "catalog.sqlite")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(blobs), catalog, str(big)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        parts: list[Path] = []
        while time.monotonic() < deadline and child.poll() is None:
            parts = growing_parts(blobs / "tmp")
            if parts:
                break
            time.sleep(0.001)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert parts, "the upload finished before it could be interrupted"
    leftover = part_files(blobs / "tmp")
    assert leftover and 0 < sum(p.stat().st_size for p in leftover) < SIZE

    fast = get_settings().model_copy(update={"durable": False})  # the retry need not fsync 300 MB
    reg = LocalRegistry.from_urls(str(blobs), catalog, settings=fast, use_digest_cache=False)
    try:
        assert reg.count() == 0
        with pytest.raises(ArtifactNotFound):
            reg.get("/crash/big")
        assert list(reg.store.iter_blobs()) == []  # nothing half-written became a blob

        art = reg.upload_file(big, name="big", folder="/crash")
        assert (art.version, art.size, art.checksum) == (1, SIZE, expected)
        streamed = hashlib.sha256()
        for chunk in reg.get("/crash/big").as_stream():
            streamed.update(chunk)
        assert streamed.hexdigest() == expected

        report = reg.gc(grace_seconds=0)
        assert report.temp_files_deleted == len(leftover)
        assert report.blobs_deleted == 0
        assert part_files(blobs / "tmp") == []
        assert reg.store.exists(expected)
    finally:
        reg.close()
