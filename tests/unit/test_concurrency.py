"""Concurrent writers: threads and processes on one catalog get distinct, consecutive versions."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from prefect_artifacts.catalog import engine as catalog_engine
from prefect_artifacts.catalog.engine import _enable_wal, create_catalog_engine, head_revision, sqlite_url, writer_lock
from prefect_artifacts.errors import StorageError
from prefect_artifacts.registry.local import LocalRegistry

PER_WRITER = 8

CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    from prefect_artifacts.catalog.engine import create_catalog_engine, current_revision, migrate
    from prefect_artifacts.registry.local import LocalRegistry
    blobs, url, shared, own, go, n = sys.argv[1:7]
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.002)
    engine = create_catalog_engine(url)
    migrate(engine)  # both processes migrate the same fresh file at once
    revision = current_revision(engine)
    engine.dispose()
    reg = LocalRegistry.from_urls(blobs, url, use_digest_cache=False)
    versions = []
    for i in range(int(n)):
        path = shared if i % 2 else own
        versions.append(reg.upload_file(path, name="same", folder="/c", conflict_strategy="new").version)
    print(json.dumps({"revision": revision, "versions": versions}), flush=True)
    """
)


def test_two_threads_get_distinct_consecutive_versions(local_registry: LocalRegistry, tmp_path: Path) -> None:
    sources = []
    for i in range(2):
        path = tmp_path / f"src{i}.txt"
        path.write_text(f"thread {i}")
        sources.append(path)
    versions: list[list[int]] = [[], []]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def writer(i: int) -> None:
        try:
            barrier.wait()
            for _ in range(PER_WRITER):
                versions[i].append(
                    local_registry.upload_file(sources[i], name="same", folder="/t", conflict_strategy="new").version
                )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(versions[0] + versions[1]) == list(range(1, 2 * PER_WRITER + 1))
    assert all(v == sorted(v) for v in versions)  # each writer sees its versions grow
    page = local_registry.list(folder="/t", page_length=100, sort_by="version")
    assert [a.version for a in page.data] == list(range(1, 2 * PER_WRITER + 1))
    assert local_registry.get("/t/same").version == 2 * PER_WRITER
    contents = {a.version: b"".join(a.as_stream()) for a in page.data}
    assert {contents[v] for v in versions[0]} == {b"thread 0"} and {contents[v] for v in versions[1]} == {b"thread 1"}


def test_two_processes_migrate_and_upload_concurrently(tmp_path: Path) -> None:
    blobs, url = str(tmp_path / "blobs"), sqlite_url(tmp_path / "fresh.sqlite")  # does not exist yet
    shared = tmp_path / "shared.txt"
    shared.write_text("identical content from both processes")
    go = tmp_path / "go"
    children = []
    for i in range(2):
        own = tmp_path / f"own{i}.txt"
        own.write_text(f"process {i}")
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", CHILD, blobs, url, str(shared), str(own), str(go), str(PER_WRITER)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(0.05)
        go.touch()
        results = []
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err[-3000:]
            assert "IntegrityError" not in err and "Traceback" not in err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert [r["revision"] for r in results] == [head_revision()] * 2
    everything = results[0]["versions"] + results[1]["versions"]
    assert sorted(everything) == list(range(1, 2 * PER_WRITER + 1))
    reg = LocalRegistry.from_urls(blobs, url, use_digest_cache=False)
    try:
        assert reg.count() == 2 * PER_WRITER
        assert reg.get("/c/same").version == 2 * PER_WRITER
        for art in reg.iter(folder="/c"):
            assert b"".join(art.as_stream()) in (shared.read_bytes(), b"process 0", b"process 1")
        assert len(list(reg.store.iter_blobs())) == 3  # the shared content is stored once
        assert list(reg.store.iter_temp()) == []
    finally:
        reg.close()


def test_switching_to_wal_waits_for_a_connection_holding_the_database(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # what a second process opening a new catalog can meet
    cursor = sqlite3.connect(path, timeout=0, isolation_level=None).cursor()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        cursor.execute("PRAGMA journal_mode=WAL")  # SQLite itself does not wait
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _enable_wal(cursor, patience=0.2)  # gives up once its patience runs out
    threading.Timer(0.3, holder.rollback).start()
    _enable_wal(cursor)
    assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_writers_of_one_catalog_take_turns_across_processes(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "c.sqlite")
    engine = create_catalog_engine(url)
    assert writer_lock(engine) is writer_lock(create_catalog_engine(url))  # one gate per file
    marker = tmp_path / "child-wrote"
    child_code = textwrap.dedent(f"""
        from pathlib import Path
        from prefect_artifacts.catalog.engine import create_catalog_engine, writer_lock
        print("ready", flush=True)
        with writer_lock(create_catalog_engine({url!r})):
            Path({str(marker)!r}).write_text("in")
    """)
    with writer_lock(engine):
        child = subprocess.Popen([sys.executable, "-c", child_code], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        assert not marker.exists()  # the child waits for this process's turn to end
    assert child.wait(timeout=60) == 0 and marker.read_text() == "in"


def test_a_stuck_writer_makes_the_others_fail_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_engine, "WRITER_PATIENCE", 0.3)
    url = sqlite_url(tmp_path / "c.sqlite")
    engine = create_catalog_engine(url)
    entered, leave = threading.Event(), threading.Event()

    def stuck() -> None:
        with writer_lock(engine):
            entered.set()
            leave.wait(30)

    holder = threading.Thread(target=stuck)
    holder.start()
    entered.wait(10)
    with pytest.raises(StorageError, match="busy"), writer_lock(engine):  # another thread of this process
        pass
    leave.set()
    holder.join(10)
    child_code = textwrap.dedent(f"""
        import sys
        from prefect_artifacts.catalog.engine import create_catalog_engine, writer_lock
        with writer_lock(create_catalog_engine({url!r})):
            print("holding", flush=True)
            sys.stdin.readline()
    """)
    child = subprocess.Popen([sys.executable, "-c", child_code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "holding"
        with pytest.raises(StorageError, match="busy"), writer_lock(engine):  # another process
            pass
    finally:
        child.communicate("go\n", timeout=60)
    with writer_lock(engine):  # the turn is free again, and the failed waits left nothing held
        pass

