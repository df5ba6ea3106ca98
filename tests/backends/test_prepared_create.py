"""A new artifact's rows go through the DB-API cursor: stored exactly as SQLAlchemy stores them.

Runs on SQLite and PostgreSQL, and covers the rollback and the fall-back to the general
path (a used idempotency key).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from prefect_artifacts.catalog import sql as catalog_sql
from prefect_artifacts.catalog.engine import sqlite_url, write_transaction
from prefect_artifacts.catalog.sql import SqlCatalog
from prefect_artifacts.errors import InvalidArtifactInput
from prefect_artifacts.models import (
    ArtifactKind,
    ArtifactManifest,
    ConflictStrategy,
    ManifestFile,
    RunCategory,
    SerializerRef,
)
from tests.support.services import PostgresServer

TABLES = ("artifacts", "artifact_labels", "artifact_files", "aspects", "artifact_runs")


def _manifest(**overrides: object) -> ArtifactManifest:
    fields: dict[str, object] = dict(
        name="model", folder="/ml", kind=ArtifactKind.OBJECT, description="weights ü",
        labels=["prod", "v2"], mime_type="application/json", size=11, checksum="sha256:" + "a" * 64,
        original_path="/tmp/model.json", files=[
            ManifestFile(path="model.json", size=11, checksum="sha256:" + "a" * 64,
                         mime_type="application/json", digest="a" * 64),
            ManifestFile(path="extra/readme.md", size=0, checksum="sha256:" + "b" * 64, digest="b" * 64),
        ],
        aspects=[{"content": {"shape": [2, 3], "nested": {"ok": True}}, "schema_name": "numpy", "policy": None}],
        runs=[("run-1", RunCategory.OUTPUT), ("run-2", RunCategory.INPUT)],
        serializer=SerializerRef(snapshot_id="s" * 36, task_name="json"), idempotency_key="task-run-1",
    )
    fields.update(overrides)
    return ArtifactManifest(**fields)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes fresh, migrated catalog databases of one dialect."""
    made: list[str] = []

    def make() -> str:
        if request.param == "sqlite":
            made.append(sqlite_url(tmp_path / f"c{len(made)}.sqlite"))
            return made[-1]
        server: PostgresServer = request.getfixturevalue("pg_server")
        made.append(server.create_catalog_database())
        return made[-1]

    yield make
    if request.param == "postgresql":
        for url in made:
            request.getfixturevalue("pg_server").drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def catalog(catalog_url: Callable[[], str]) -> Iterator[SqlCatalog]:
    cat = SqlCatalog(catalog_url())
    cat.create(_manifest(name="first", idempotency_key=None), ConflictStrategy.NEW, make_folder=True)
    cat.create(_manifest(name="second", idempotency_key=None), ConflictStrategy.NEW, make_folder=True)
    assert "/ml" in cat._known_folders  # later creates in /ml take the prepared path
    yield cat
    cat.close()


def _stored(engine: Engine, artifact_id: str) -> dict[str, list[tuple[object, ...]]]:
    # The driver's own rows (exec_driver_sql applies no SQLAlchemy types): what is stored.
    out = {}
    with engine.connect() as conn:
        for table in TABLES:
            column = "id" if table == "artifacts" else "artifact_id"
            rows = conn.exec_driver_sql(f"SELECT * FROM {table} WHERE {column} = '{artifact_id}'")
            out[table] = sorted(tuple(r) for r in rows)
    return out


def test_prepared_rows_are_stored_exactly_as_sqlalchemy_stores_them(catalog_url: Callable[[], str]) -> None:
    row, children, _runs = catalog_sql._new_rows(_manifest(), version=1)
    stored = []
    for which in ("sqlalchemy", "prepared"):
        cat = SqlCatalog(catalog_url())
        if which == "sqlalchemy":
            with write_transaction(cat.engine) as conn:
                conn.execute(insert(catalog_sql.artifacts), row)
                for table, rows in children:
                    conn.execute(insert(table), rows)
        else:
            own = catalog_sql.PreparedInsert(insert(catalog_sql.artifacts), catalog_sql.artifacts, cat.engine.dialect)
            raw = cat.engine.raw_connection()
            cur = raw.cursor()
            if cat.dialect == "sqlite":
                cur.execute("BEGIN IMMEDIATE")
            cur.execute(own.sql, own.params(row))
            for table, rows in children:
                ins = cat._prepared.inserts[table.name]
                cur.executemany(ins.sql, ins.many(rows))
            raw.commit()
            raw.close()
        stored.append(_stored(cat.engine, row["id"]))
        cat.close()
    assert stored[0] == stored[1]
    assert all(stored[0][t] for t in TABLES)  # every table got rows: the comparison compared something


def test_prepared_create_reads_back_like_any_artifact(catalog: SqlCatalog) -> None:
    made, created = catalog.create(_manifest(), ConflictStrategy.NEW, make_folder=False)
    assert created and made.version == 1
    again = catalog.get(made.id)
    assert again.model_dump(exclude={"files"}) == made.model_dump(exclude={"files"})
    assert [f.path for f in catalog.files(made.id)] == ["extra/readme.md", "model.json"]
    assert catalog.aspects(made.id)[0].content == {"shape": [2, 3], "nested": {"ok": True}}
    assert {(r.run_id, r.category) for r in again.runs} == {("run-1", RunCategory.OUTPUT),
                                                           ("run-2", RunCategory.INPUT)}
    nxt, _ = catalog.create(_manifest(idempotency_key=None), ConflictStrategy.NEW, make_folder=False)
    assert nxt.version == 2  # the INSERT allocated the next version itself


def test_reused_idempotency_key_returns_the_first_artifact_and_writes_nothing(catalog: SqlCatalog) -> None:
    first, created = catalog.create(_manifest(), ConflictStrategy.NEW, make_folder=False)
    assert created
    again, created_again = catalog.create(_manifest(description="retried"), ConflictStrategy.NEW,
                                          make_folder=False)
    assert not created_again and again.id == first.id and again.description == "weights ü"
    assert catalog.count(folder="/ml") == 3  # first, second and this one: the retry added nothing


def test_a_failed_prepared_create_leaves_no_row(catalog: SqlCatalog) -> None:
    broken = _manifest(idempotency_key=None, aspects=[{"content": {"not json": object()}}])
    with pytest.raises(TypeError):  # fails after the artifact's own INSERT ran
        catalog.create(broken, ConflictStrategy.NEW, make_folder=False)
    assert catalog.count(folder="/ml") == 2
    with catalog.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM artifact_files").scalar() == 4  # the fixture's 2 × 2
    made, _ = catalog.create(_manifest(idempotency_key=None), ConflictStrategy.NEW, make_folder=False)
    assert made.version == 1  # the connection went back to the pool usable, outside any transaction


def test_a_repeated_file_path_is_named_not_retried(catalog: SqlCatalog) -> None:
    clash = _manifest(idempotency_key=None)
    clash.files.append(clash.files[0])
    with pytest.raises(InvalidArtifactInput, match="'model.json' appears more than once"):
        catalog.create(clash, ConflictStrategy.NEW, make_folder=False)
    assert catalog.count(folder="/ml") == 2
