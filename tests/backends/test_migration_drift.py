"""The migrations and `catalog.schema.metadata` describe the same catalog, on SQLite and PostgreSQL.

Two checks: alembic's own ``compare_metadata`` of a migrated catalog against the
metadata (tables, columns, types, keys, indexes by their columns), and, because that
comparison is blind to index details (collations, operator classes, ``WHERE`` of a
partial index, and on SQLite expression indexes altogether), the index definitions the
database itself reports for a migrated catalog and for one made by ``metadata.create_all``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from prefect_artifacts.catalog.engine import create_catalog_engine, migrate, sqlite_url
from prefect_artifacts.catalog.schema import include_object, metadata


@pytest.fixture(params=["sqlite", "postgresql"])
def new_catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes URLs of empty catalog databases of the parametrized dialect."""
    if request.param == "sqlite":
        names = iter(range(100))
        yield lambda: sqlite_url(tmp_path / f"c{next(names)}.sqlite")
        return
    pg = request.getfixturevalue("pg_server")
    made: list[str] = []

    def make() -> str:
        made.append(pg.create_database())
        return made[-1]

    yield make
    for url in made:
        pg.drop_database(url.rsplit("/", 1)[1])


def _engine(url: str, engines: list[Engine]) -> Engine:
    engines.append(create_catalog_engine(url))
    return engines[-1]


def _index_definitions(engine: Engine) -> dict[str, str]:
    """Index name → its definition as the database reports it (SQLite: its SQL, unquoted)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
            return {name: re.sub(r"\s+", " ", sql.replace('"', "")).strip().lower() for name, sql in rows}
        rows = conn.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes "
                                    "WHERE schemaname = current_schema() AND tablename <> 'alembic_version'")
        return dict(rows.all())


# SQLite cannot reflect expression indexes (ix_folders_path_ci): alembic says so and skips them;
# _index_definitions compares them instead.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_a_migrated_catalog_has_no_drift_from_the_metadata(new_catalog_url: Callable[[], str]) -> None:
    engines: list[Engine] = []
    try:
        migrated = _engine(new_catalog_url(), engines)
        migrate(migrated)
        dialect = migrated.dialect.name
        with migrated.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": include_object(dialect)})
            assert compare_metadata(context, metadata) == []

        created = _engine(new_catalog_url(), engines)
        metadata.create_all(created)
        expected = _index_definitions(created)
        named = {index.name for table in metadata.tables.values() for index in table.indexes}
        assert {name for name in expected if name.startswith("ix_")} == named  # it compares every index
        assert _index_definitions(migrated) == expected
    finally:
        for engine in engines:
            engine.dispose()
