"""`LocalRegistry.upload_many`: one catalog write transaction (one durable flush) for the whole batch."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry


def test_a_batch_of_200_files_is_one_catalog_transaction(tmp_path: Path) -> None:
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(tmp_path / "c.sqlite"))
    src = tmp_path / "src"
    src.mkdir()
    paths = []
    for i in range(200):
        path = src / f"{i}.txt"
        path.write_text(f"small {i}")
        paths.append(path)
    (src / "old.txt").write_text("old")  # new content: a stored blob reused would be reserved in a write of its own
    reg.upload_file(src / "old.txt", name="taken", folder="/b")  # the folder exists; one item conflicts
    writes: list[int] = []  # write transactions (read connections commit too: they are not counted)
    event.listen(reg.catalog.engine, "begin",
                 lambda conn: writes.append(1) if conn.get_execution_options().get("write") else None)
    items = [{"path": p} for p in paths]
    items[100] = {"path": paths[100], "name": "taken", "conflict_strategy": "error"}
    results = reg.upload_many(items, folder="/b")
    try:
        assert [r.ok for r in results].count(False) == 1 and not results[100].ok
        assert len(writes) == 1
        assert reg.count(folder="/b") == 200
    finally:
        reg.close()
