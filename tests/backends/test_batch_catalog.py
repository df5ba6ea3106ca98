"""Batch creates insert runs of ``new`` items with one statement per table: the same answers as one by one.

`SqlCatalog.create_many` inserts consecutive ``new`` creates in known folders together
(versions numbered in the batch, one ``executemany`` per table) and sends the rest, and
any run that meets a unique violation, through the per-item savepoints. These tests hold
it to the one-by-one results on SQLite and PostgreSQL, and on PostgreSQL against a real
concurrent writer of the same idempotency key.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from prefect_artifacts.catalog.engine import create_catalog_engine
from prefect_artifacts.errors import InvalidArtifactInput, PermissionDenied
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.catalogs import waiting_on_a_lock
from tests.support.registries import tenant_registries


@pytest.fixture
def reg(any_dialect_registry: LocalRegistry) -> LocalRegistry:
    return any_dialect_registry


def _files(root: Path, n: int) -> list[Path]:
    root.mkdir(exist_ok=True)
    paths = []
    for i in range(n):
        path = root / f"in-{uuid.uuid4().hex[:8]}-{i}.txt"
        path.write_bytes(f"content {path.name}".encode())
        paths.append(path)
    return paths


def test_versions_follow_item_order_across_runs_and_deleted_versions(reg: LocalRegistry, tmp_path: Path) -> None:
    first, second = _files(tmp_path / "old", 2)
    reg.upload_file(first, name="a", folder="/f")
    reg.upload_file(second, name="a", folder="/f")
    reg.delete("/f/a:2")  # a deleted version keeps its number: the next is 3
    paths = _files(tmp_path / "new", 6)
    names = ["a", "b", "a", "c", "a", "b"]
    items = [{"path": p, "name": n} for p, n in zip(paths, names, strict=True)]
    items[3]["conflict_strategy"] = "skip"  # not ``new``: created on its own between two runs
    results = reg.upload_many(items, folder="/f")
    arts = [r.unwrap() for r in results]
    assert [(a.name, a.version) for a in arts] == [("a", 3), ("b", 1), ("a", 4), ("c", 1), ("a", 5), ("b", 2)]
    assert reg.get("/f/a:latest").version == 5 and reg.get("/f/b:latest").version == 2
    for art, path in zip(arts, paths, strict=True):  # each version holds its own file
        assert reg.get(art.id).open().read() == path.read_bytes()
    assert reg.count(folder="/f") == 6 + 1


def test_used_and_repeated_idempotency_keys_return_the_first_artifact(reg: LocalRegistry, tmp_path: Path) -> None:
    old, *paths = _files(tmp_path, 5)
    earlier = reg.upload_file(old, name="x", folder="/k", idempotency_key="used-before")
    items = [{"path": paths[0], "name": "y", "idempotency_key": "used-before"},
             {"path": paths[1], "name": "z", "idempotency_key": "twice"},
             {"path": paths[2], "name": "w"},
             {"path": paths[3], "name": "z2", "idempotency_key": "twice"}]
    arts = [r.unwrap() for r in reg.upload_many(items, folder="/k")]
    assert arts[0].id == earlier.id and arts[0].name == "x"
    assert arts[3].id == arts[1].id and arts[1].name == "z"
    assert arts[2].name == "w" and arts[2].version == 1
    assert reg.count(folder="/k") == 3  # x, z and w: nothing twice


def test_an_item_refused_inside_a_run_leaves_the_others(reg: LocalRegistry, tmp_path: Path) -> None:
    alice = tenant_registries(reg)["alice"]
    paths = _files(tmp_path, 3)
    alice.upload_file(paths[0], name="seed", folder="/team-a/g")  # the folder is known: the items form one run
    items = [{"path": paths[1], "name": "ok"}, {"path": paths[2], "name": "bad", "group": "team-b"},
             {"path": paths[0], "name": "ok2"}]
    results = alice.upload_many(items, folder="/team-a/g")
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, (PermissionDenied, InvalidArtifactInput)) and "item 1:" in str(results[1].error)
    assert {a.name for a in alice.list(folder="/team-a/g", page_length=10).data} == {"seed", "ok", "ok2"}
    # a refused item's idempotency key was never used: the next item with it is created in its place in the order
    items = [{"path": paths[1], "name": "n", "group": "team-b", "idempotency_key": "k"},
             {"path": paths[2], "name": "n", "idempotency_key": "k"}, {"path": paths[0], "name": "n"}]
    results = alice.upload_many(items, folder="/team-a/g")
    assert not results[0].ok and [r.unwrap().version for r in results[1:]] == [1, 2]


def test_a_run_meeting_a_concurrent_writer_of_its_key_falls_back_item_by_item(
        postgres_catalog_url: str, tmp_path: Path) -> None:
    """Another transaction holds the key uncommitted: the batch waits, then answers with the committed artifact."""
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), postgres_catalog_url)
    other = create_catalog_engine(postgres_catalog_url)
    try:
        seed, *paths = _files(tmp_path, 4)
        source = reg.upload_file(seed, name="seed", folder="/c")
        conn = other.connect()
        tx = conn.begin()
        concurrent_id = str(uuid.uuid4())
        conn.execute(text(  # the same artifact row under another id, name and key: a writer not yet committed
            "INSERT INTO artifacts (id, group_id, folder, name, version, kind, is_dir, file_count, labels, size, "
            "checksum, idempotency_key, created, modified) SELECT :id, group_id, folder, 'theirs', 1, kind, is_dir, "
            "0, labels, size, checksum, 'contested', created, modified FROM artifacts WHERE id = :src"),
            {"id": concurrent_id, "src": source.id})
        results: list = []
        items = [{"path": paths[0], "name": "mine-1"},
                 {"path": paths[1], "name": "mine-2", "idempotency_key": "contested"},
                 {"path": paths[2], "name": "mine-1"}]
        batch = threading.Thread(target=lambda: results.extend(reg.upload_many(items, folder="/c")))
        batch.start()
        deadline = time.monotonic() + 30
        while not waiting_on_a_lock(other, "INSERT INTO artifacts"):  # on the uncommitted key
            assert time.monotonic() < deadline, "the batch never waited on the concurrent writer's key"
            assert batch.is_alive(), results
            time.sleep(0.05)
        tx.commit()
        conn.close()
        batch.join(30)
        arts = [r.unwrap() for r in results]
        assert arts[1].id == concurrent_id and arts[1].name == "theirs"  # the committed writer's artifact
        assert [(a.name, a.version) for a in (arts[0], arts[2])] == [("mine-1", 1), ("mine-1", 2)]
        assert reg.count(folder="/c") == 4  # seed, theirs, mine-1 twice; mine-2 never made
    finally:
        other.dispose()
        reg.close()
