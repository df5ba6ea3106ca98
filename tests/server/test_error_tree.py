"""Failures of the disk, the catalog and the transport reach callers as our error tree
(`ArtifactError` subclasses, the cause chained), nothing half-written stays visible,
and the HTTP client retries only what is transient."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prefect_artifacts._server import NoAuth
from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.errors import (
    ArtifactError,
    InvalidArtifactInput,
    StorageCorrupted,
    StorageError,
    StorageFull,
    UnsafePath,
)
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.live_server import LiveServer


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (a real full disk: ENOSPC from the kernel)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> None:
    with open(disk / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 4096)
        except OSError:
            pass


def test_blobs_on_a_full_disk_raise_storage_full_and_leave_nothing(tiny_disk: Path, tmp_path: Path) -> None:
    reg = LocalRegistry.from_urls(str(tiny_disk / "blobs"), sqlite_url(tmp_path / "catalog.sqlite"))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 2**20))
    with pytest.raises(StorageFull, match="no space left") as caught:
        reg.upload_file(big, name="big")
    assert isinstance(caught.value.__cause__, OSError)
    assert reg.count() == 0 and list(reg.store.iter_blobs()) == [] and list(reg.store.iter_temp()) == []
    reg.close()


def test_a_catalog_on_a_full_disk_raises_storage_full(tiny_disk: Path, tmp_path: Path) -> None:
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(tiny_disk / "catalog.sqlite"))
    data = tmp_path / "a.txt"
    data.write_text("a")
    reg.upload_file(data, name="before")
    _fill(tiny_disk)
    with pytest.raises(StorageFull, match="catalog database has no space left") as caught:
        for i in range(200):
            reg.upload_file(data, name=f"n{i}", metadata={"pad": "y" * 20_000})
    assert caught.value.__cause__ is not None
    (tiny_disk / "filler").unlink()
    assert reg.get("before").version == 1  # what was committed before is intact
    reg.close()


def test_a_damaged_catalog_file_raises_storage_corrupted(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.sqlite"
    catalog.write_bytes(os.urandom(8192))
    with pytest.raises(StorageCorrupted, match="damaged"):
        LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(catalog))


def test_symlink_loops_and_broken_links_in_a_directory_are_named(tmp_path: Path) -> None:
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(tmp_path / "catalog.sqlite"))
    loop = tmp_path / "loop"
    loop.mkdir()
    (loop / "ok.txt").write_text("x")
    (loop / "a").symlink_to(loop / "b")
    (loop / "b").symlink_to(loop / "a")
    with pytest.raises(InvalidArtifactInput, match="broken or loops"):
        reg.upload_dir(loop, name="loop")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "gone").symlink_to(broken / "missing.txt")
    with pytest.raises(InvalidArtifactInput, match="broken or loops"):
        reg.upload_dir(broken, name="broken")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "escape").symlink_to(tmp_path / "loop" / "ok.txt")
    with pytest.raises(UnsafePath):
        reg.upload_dir(outside, name="outside")
    assert reg.count() == 0
    reg.close()


def test_a_full_server_disk_is_storage_full_for_the_client_after_one_try(
    tiny_disk: Path, tmp_path: Path, start_server: Callable[..., LiveServer],
) -> None:
    registry = LocalRegistry.from_urls(str(tiny_disk / "blobs"), sqlite_url(tmp_path / "catalog.sqlite"))
    server = start_server(registry=registry, auth=NoAuth())
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 2**20))
    before = server.server.server_state.total_requests
    with HttpRegistry(server.url, retries=4, backoff=0.01) as reg, pytest.raises(StorageFull):
        reg.upload_file(big, name="big")
    # HEAD (does the server have it?) and one PUT: a full disk is not retried.
    assert server.server.server_state.total_requests - before <= 3
    assert registry.count() == 0


def test_a_file_growing_while_it_is_sent_is_refused_cleanly(open_server: LiveServer, tmp_path: Path) -> None:
    data = tmp_path / "growing.bin"
    data.write_bytes(os.urandom(16 * 2**20))
    stop = threading.Event()

    def grow() -> None:
        with open(data, "ab") as f:
            while not stop.is_set():
                f.write(os.urandom(64 * 1024))
                f.flush()

    writer = threading.Thread(target=grow, daemon=True)
    writer.start()
    try:
        with HttpRegistry(open_server.url, retries=1, backoff=0.01) as reg:
            try:
                art = reg.upload_file(data, name="growing")
            except ArtifactError as exc:  # the error tree, never a raw transport/protocol error
                assert not isinstance(exc, StorageError) or "chang" in str(exc) or "grew" in str(exc), exc
            else:  # it may win the race with a consistent snapshot: then it must be exactly what it claims
                with art.as_local_file() as path:
                    assert path.stat().st_size == art.size
    finally:
        stop.set()
        writer.join(10)
