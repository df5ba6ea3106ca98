"""The catalog on a real PostgreSQL server: migrations, queries, concurrency, index use."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text

from prefect_artifacts import ArtifactDraft
from prefect_artifacts.catalog.engine import (
    create_catalog_engine,
    current_revision,
    head_revision,
    migrate,
)
from prefect_artifacts.catalog.schema import artifacts, metadata
from prefect_artifacts.catalog.search import compile_search
from prefect_artifacts.errors import ArtifactConflict, InvalidArtifactInput, SearchSyntaxError
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.catalogs import build_catalog_at_0005, check_folder_owners, waiting_on_a_lock
from tests.support.services import PostgresServer

# Tables of the core schema (later migrations may add more).
TABLES = {"alembic_version", *metadata.tables}


def _tables(url: str) -> set[str]:
    engine = create_catalog_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")))
    finally:
        engine.dispose()


# migrations ---------------------------------------------------------------------


def test_postgres_url_is_a_fresh_empty_database(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://")
    assert _tables(postgres_url) == set()


def test_migrate_creates_schema_and_second_migrate_is_a_no_op(postgres_url: str) -> None:
    engine = create_catalog_engine(postgres_url)
    try:
        assert current_revision(engine) is None
        migrate(engine)
        assert current_revision(engine) == head_revision()
        assert _tables(postgres_url) >= TABLES
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO folders (path, created) VALUES ('/kept', now())"))
            indexdef = conn.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_artifacts_name_ci'"))
        assert "lower((name)::text) text_pattern_ops" in indexdef
        migrate(engine)  # already at head: nothing changes, data kept
        with engine.connect() as conn:
            assert list(conn.scalars(text("SELECT version_num FROM alembic_version"))) == [head_revision()]
            assert list(conn.scalars(text("SELECT path FROM folders"))) == ["/kept"]
    finally:
        engine.dispose()


def test_upgrade_from_first_revision_keeps_data(postgres_url: str) -> None:
    engine = create_catalog_engine(postgres_url)
    try:
        migrate(engine, "0001")
        assert current_revision(engine) == "0001"
        assert "plugin_snapshots" not in _tables(postgres_url)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO folders (path, created) VALUES ('/old', now())"))
        migrate(engine)
        assert current_revision(engine) == head_revision()
        assert "plugin_snapshots" in _tables(postgres_url)
        with engine.connect() as conn:
            assert list(conn.scalars(text("SELECT path FROM folders"))) == ["/old"]
    finally:
        engine.dispose()


def test_upgrade_gives_folders_to_their_oldest_groups_on_postgres(postgres_url: str) -> None:
    engine = create_catalog_engine(postgres_url)
    try:
        build_catalog_at_0005(engine)
        migrate(engine)
        check_folder_owners(engine)
        with engine.connect() as conn:
            indexdef = conn.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_folders_path_ci'"))
        assert "lower((path)::text)" in indexdef
    finally:
        engine.dispose()


_MIGRATE_SCRIPT = """
import pathlib, sys, time
from prefect_artifacts.catalog.engine import create_catalog_engine, migrate
url, ready, go = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
engine = create_catalog_engine(url)
ready.touch()
while not go.exists():
    time.sleep(0.002)
migrate(engine)
engine.dispose()
print("ok")
"""


def test_concurrent_migrate_from_two_processes(postgres_url: str, tmp_path: Path) -> None:
    script = tmp_path / "migrate.py"
    script.write_text(_MIGRATE_SCRIPT)
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, str(script), postgres_url, str(r), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in ready]
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in ready):  # both interpreters up: release them together on the empty database
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "migrators did not start"
        time.sleep(0.01)
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
    engine = create_catalog_engine(postgres_url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    finally:
        engine.dispose()
    assert _tables(postgres_url) >= TABLES


def test_bare_postgresql_url_uses_the_installed_driver(postgres_url: str) -> None:
    engine = create_catalog_engine(postgres_url)
    try:
        assert engine.dialect.name == "postgresql"
        assert engine.dialect.driver in ("psycopg2", "psycopg")
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT 1")) == 1
    finally:
        engine.dispose()


# registry on PostgreSQL -----------------------------------------------------------


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "src" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _names(page_or_list: object) -> list[str]:
    data = getattr(page_or_list, "data", page_or_list)
    return sorted(a.name for a in data)  # type: ignore[attr-defined]


def test_upload_get_and_read_back(pg_registry: LocalRegistry, tmp_path: Path) -> None:
    data = b"id,value\n1,2\n" * 1000
    art = pg_registry.upload_file(_file(tmp_path, "data.csv", data), name="my-data", folder="/team/datasets",
                                  description="first", labels=["raw", "prod"])
    assert (art.name, art.version, art.folder, art.size) == ("my-data", 1, "/team/datasets", len(data))
    again = pg_registry.get("/team/datasets/my-data:latest")
    assert again.id == art.id and sorted(again.labels) == ["prod", "raw"]
    assert again.created.tzinfo is not None and abs(again.created - art.created) < timedelta(seconds=1)
    assert again.open().read() == data
    assert pg_registry.get(art.id).checksum == art.checksum


def test_name_prefix_search_is_case_insensitive(pg_registry: LocalRegistry, tmp_path: Path) -> None:
    f = _file(tmp_path, "x.txt", b"x")
    for name in ("abcdef", "ABCxyz", "xabc", "other"):
        pg_registry.upload_file(f, name=name)
    assert _names(pg_registry.list(search="name:ABC*")) == ["ABCxyz", "abcdef"]
    assert _names(pg_registry.list(search="name:abc*")) == ["ABCxyz", "abcdef"]
    assert _names(pg_registry.list(search="name:abc?ef")) == ["abcdef"]
    assert _names(pg_registry.list(search="name:*ABC*")) == ["ABCxyz", "abcdef", "xabc"]
    assert _names(pg_registry.list(search="name:ABCDEF")) == ["abcdef"]
    assert _names(pg_registry.list(search="-name:abc*")) == ["other", "xabc"]
    assert pg_registry.count("name:abc* OR name:other") == 3


def test_like_metacharacters_are_literal(pg_registry: LocalRegistry, tmp_path: Path) -> None:
    f = _file(tmp_path, "x.txt", b"x")
    pg_registry.upload_file(f, name="a_b")
    pg_registry.upload_file(f, name="axb")
    assert _names(pg_registry.list(search="name:a_*")) == ["a_b"]
    assert _names(pg_registry.list(search="name:a?b")) == ["a_b", "axb"]


def test_label_description_mime_kind_search(pg_registry: LocalRegistry, tmp_path: Path) -> None:
    pg_registry.upload_file(_file(tmp_path, "a.csv", b"a,b\n1,2\n"), name="a", labels=["Prod", "raw"],
                            description="Sales figures for Q1")
    pg_registry.upload_file(_file(tmp_path, "b.json", b'{"k": 1}'), name="b", labels=["dev"])
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "c.txt").write_bytes(b"c")
    pg_registry.upload_dir(tree, name="c", labels=["prod"])
    assert _names(pg_registry.list(search="label:prod")) == ["a", "c"]
    assert _names(pg_registry.list(search="label:PR*")) == ["a", "c"]
    assert _names(pg_registry.list(search="description:sales")) == ["a"]
    assert _names(pg_registry.list(search="figures")) == ["a"]
    assert _names(pg_registry.list(search="kind:directory")) == ["c"]
    assert _names(pg_registry.list(search="mime:application/json")) == ["b"]
    assert _names(pg_registry.list(search="label:prod -kind:directory")) == ["a"]


def test_meta_search_uses_json_on_postgres(pg_registry: LocalRegistry, tmp_path: Path) -> None:
    f = _file(tmp_path, "x.txt", b"x")
    a = pg_registry.upload_file(f, name="a", metadata={"rows": 10, "owner": "Alice", "ok": True,
                                                       "stats": {"mean": 1.5}})
    pg_registry.upload_file(f, name="b", metadata={"rows": 3, "owner": "bob", "ok": False,
                                                   "stats": {"mean": 7}})
    pg_registry.upload_file(f, name="c")
    # values of other JSON types under the same keys must neither match nor break the casts on PostgreSQL
    pg_registry.upload_file(f, name="d", metadata={"rows": "n/a", "ok": "maybe", "stats": {"mean": "high"}})
    a.add_metadata({"extra": "late"})
    assert _names(pg_registry.list(search="meta.rows>5")) == ["a"]
    assert _names(pg_registry.list(search="meta.rows<=10")) == ["a", "b"]
    assert _names(pg_registry.list(search="meta.rows=3")) == ["b"]
    assert _names(pg_registry.list(search="meta.owner:Alice")) == ["a"]
    assert _names(pg_registry.list(search="meta.owner:al*")) == ["a"]
    assert _names(pg_registry.list(search="meta.ok:true")) == ["a"]
    assert _names(pg_registry.list(search="meta.ok:false")) == ["b"]
    assert _names(pg_registry.list(search="meta.stats.mean>2")) == ["b"]
    assert _names(pg_registry.list(search="meta.extra:late")) == ["a"]
    assert _names(pg_registry.list(search="meta.missing:x")) == []
    assert _names(pg_registry.list(search="meta.rows:n/a")) == ["d"]
    assert _names(pg_registry.list(search="meta.ok:maybe")) == ["d"]
    assert _names(pg_registry.list(search="meta.stats.mean>=0")) == ["a", "b"]
    with pytest.raises(SearchSyntaxError):
        pg_registry.list(search="meta.rows>many")


def test_size_and_created_comparisons(pg_registry: LocalRegistry, tmp_path: Path) -> None:
    pg_registry.upload_file(_file(tmp_path, "small.bin", b"s" * 100), name="small")
    pg_registry.upload_file(_file(tmp_path, "big.bin", b"b" * 5000), name="big")
    assert _names(pg_registry.list(search="size>1KB")) == ["big"]
    assert _names(pg_registry.list(search="size<=100")) == ["small"]
    assert _names(pg_registry.list(search="size>=100 size<5000")) == ["small"]
    today = datetime.now(timezone.utc).date()
    assert _names(pg_registry.list(search=f"created:{today.isoformat()}")) == ["big", "small"]
    assert _names(pg_registry.list(search=f"created>={today.isoformat()}")) == ["big", "small"]
    assert _names(pg_registry.list(search=f"created<{today.isoformat()}")) == []
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert pg_registry.count(f"created>={tomorrow}") == 0
    page = pg_registry.list(sort_by="size", descending=True)
    assert [a.name for a in page.data] == ["big", "small"]


def test_concurrent_writers_get_distinct_versions(pg_registry: LocalRegistry, tmp_path: Path) -> None:
    threads, per_thread = 6, 4
    files = [_file(tmp_path, f"f{i}.txt", f"content {i}".encode()) for i in range(threads)]
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []
    versions: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                art = pg_registry.upload_file(files[i], name="shared", folder="/race")
                with lock:
                    versions.append(art.version)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert errors == []
    assert sorted(versions) == list(range(1, threads * per_thread + 1))
    assert pg_registry.get("/race/shared:latest").version == threads * per_thread
    assert pg_registry.count("name:shared") == threads * per_thread


def test_concurrent_writers_create_the_same_new_folder(pg_registry: LocalRegistry, tmp_path: Path) -> None:
    threads = 6
    f = _file(tmp_path, "x.txt", b"x")
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            pg_registry.upload_file(f, name=f"item-{i}", folder="/brand/new/folder")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert errors == []
    assert pg_registry.count("folder:/brand/new/folder") == threads
    assert pg_registry.catalog.list_folders("/brand") == ["/brand", "/brand/new", "/brand/new/folder"]


def test_error_strategy_conflicts_on_postgres(pg_registry: LocalRegistry, tmp_path: Path) -> None:
    f = _file(tmp_path, "x.txt", b"x")
    pg_registry.upload_file(f, name="once")
    with pytest.raises(ArtifactConflict):
        pg_registry.upload_file(f, name="once", conflict_strategy="error")
    replaced = pg_registry.upload_file(f, name="once", conflict_strategy="replace")
    assert replaced.version == 2
    assert [a.version for a in pg_registry.list(search="name:once").data] == [2]


def test_keyset_cursor_paging(pg_registry: LocalRegistry, tmp_path: Path) -> None:
    created = []
    for i in range(23):
        created.append(pg_registry.upload_file(_file(tmp_path, f"p{i}.txt", b"p" * (i % 5 + 1)), name=f"page-{i:02d}"))
    for sort_by, descending in (("created", False), ("created", True), ("size", True), ("name", False)):
        seen: list[str] = []
        page = pg_registry.list(page_length=5, sort_by=sort_by, descending=descending)
        assert page.total == 23
        seen += [a.id for a in page.data]
        pages = 1
        while page.next_cursor:
            page = pg_registry.list(page_length=5, sort_by=sort_by, descending=descending, cursor=page.next_cursor)
            seen += [a.id for a in page.data]
            pages += 1
        assert pages == 5 and len(seen) == 23 and len(set(seen)) == 23
        full = pg_registry.list(page_length=50, sort_by=sort_by, descending=descending)
        assert seen == [a.id for a in full.data], (sort_by, descending)
    by_name = [a.name for a in pg_registry.iter(page_length=4, sort_by="name")]
    assert by_name == sorted(a.name for a in created)


def test_offset_paging_and_ids(pg_registry: LocalRegistry, tmp_path: Path) -> None:
    f = _file(tmp_path, "x.txt", b"x")
    arts = [pg_registry.upload_file(f, name=f"n{i}") for i in range(7)]
    page = pg_registry.list(index=5, page_length=5)
    assert [a.id for a in page.data] == [a.id for a in arts[5:]]
    assert page.total == 7 and page.is_complete
    assert pg_registry.ids() == [a.id for a in arts]
    assert pg_registry.ids(count=2, offset=1) == [a.id for a in arts[1:3]]


def test_runs_and_lineage(pg_registry: LocalRegistry, tmp_path: Path) -> None:
    raw = pg_registry.upload_file(_file(tmp_path, "raw.txt", b"raw"), name="raw")
    clean = pg_registry.upload_file(_file(tmp_path, "clean.txt", b"clean"), name="clean")
    report = pg_registry.upload_file(_file(tmp_path, "report.txt", b"report"), name="report")
    unrelated = pg_registry.upload_file(_file(tmp_path, "u.txt", b"u"), name="unrelated")
    run1, run2 = str(uuid.uuid4()), str(uuid.uuid4())
    pg_registry.attach(raw.id, run1, "input")
    clean.attach_to_run(run1, "output")
    pg_registry.attach("clean", run2, "input")
    pg_registry.attach(report.id, run2, "output")
    pg_registry.attach(report.id, run2, "output")  # idempotent
    assert [a.name for a in pg_registry.run_artifacts(run1)] == ["raw", "clean"]
    assert [a.name for a in pg_registry.run_artifacts(run2, "output")] == ["report"]
    assert _names(pg_registry.list(search=f"run:{run1}")) == ["clean", "raw"]
    assert _names(pg_registry.list(search="category:output")) == ["clean", "report"]
    lineage = pg_registry.lineage("report")
    assert {a.name for a in lineage.artifacts} == {"raw", "clean", "report"}
    assert unrelated.id not in {a.id for a in lineage.artifacts}
    assert {(e.run_id, e.category.value) for e in lineage.edges if e.artifact_id == clean.id} == {
        (run1, "output"), (run2, "input")}
    assert [r.category.value for r in pg_registry.get("report").runs] == ["output"]


def test_delete_hides_and_gc_frees_blobs(pg_registry: LocalRegistry, tmp_path: Path) -> None:
    keep = pg_registry.upload_file(_file(tmp_path, "k.txt", b"keep"), name="keep")
    gone = pg_registry.upload_file(_file(tmp_path, "g.txt", b"gone"), name="gone")
    gone.delete()
    assert pg_registry.count() == 1 and _names(pg_registry.list()) == ["keep"]
    report = pg_registry.gc(grace_seconds=0)
    assert report.blobs_deleted == 1 and report.artifacts_purged == 1
    assert keep.open().read() == b"keep"
    assert pg_registry.upload_file(_file(tmp_path, "g2.txt", b"other"), name="gone").version == 2


def test_two_registries_share_one_postgres_catalog(postgres_url: str, tmp_path: Path) -> None:
    blobs = str(tmp_path / "blobs")
    one = LocalRegistry.from_urls(blobs, postgres_url)
    two = LocalRegistry.from_urls(blobs, postgres_url)
    try:
        art = one.upload_file(_file(tmp_path, "x.txt", b"shared"), name="shared")
        assert two.get("shared").id == art.id
        assert two.upload_file(_file(tmp_path, "y.txt", b"more"), name="shared").version == 2
        assert one.get("shared:latest").version == 2
    finally:
        one.close()
        two.close()


# the name-prefix index -------------------------------------------------------------


def _explain(pg_registry: LocalRegistry, search: str) -> str:
    engine = pg_registry.catalog.engine
    query = (select(artifacts.c.id).where(artifacts.c.deleted.is_(None), compile_search(search, "postgresql"))
             .order_by(artifacts.c.created).limit(50))
    compiled = query.compile(engine)  # bound values sent the way the catalog sends them
    with engine.connect() as conn:
        conn.execute(text("ANALYZE artifacts"))
        return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled.string}", compiled.params))


def test_name_prefix_search_can_use_the_lower_name_index(pg_registry: LocalRegistry, tmp_path: Path) -> None:
    pg_registry.upload_file(_file(tmp_path, "x.txt", b"x"), name="seed")
    engine = pg_registry.catalog.engine
    # Enough rows that an index range scan beats a sequential scan.
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO artifacts (id, group_id, folder, name, version, kind, is_dir, file_count, labels,
                                   created, modified)
            SELECT md5(g::text), 'default', '/default', 'name-' || g, 1, 'file', false, 0, '[]',
                   now() - g * interval '1 second', now()
            FROM generate_series(1, 20000) AS g"""))
    plan = _explain(pg_registry, "name:NAME-1234*")
    assert "ix_artifacts_name_ci" in plan, plan
    assert "lower((name)::text) ~>=~ 'name-1234'" in plan, plan
    assert "lower((name)::text) ~~ 'name-1234%'" in plan, plan  # the lower-cased pattern, as a constant
    # The same query through the registry finds them, case-insensitively.
    assert pg_registry.count("name:NAME-1234*") == 11


def test_pg_server_helper_creates_isolated_databases(pg_server: PostgresServer, tmp_path: Path) -> None:
    first, second = pg_server.create_database(), pg_server.create_database()
    assert first != second
    one = LocalRegistry.from_urls(str(tmp_path / "b1"), first)
    two = LocalRegistry.from_urls(str(tmp_path / "b2"), second)
    try:
        one.upload_file(_file(tmp_path, "x.txt", b"x"), name="only-in-one")
        assert one.count() == 1 and two.count() == 0
    finally:
        one.close()
        two.close()
    pg_server.drop_database(first.rsplit("/", 1)[1])
    assert first.rsplit("/", 1)[1] not in _databases(pg_server)
    assert second.rsplit("/", 1)[1] in _databases(pg_server)


def _databases(pg_server: PostgresServer) -> set[str]:
    conn = pg_server.admin()
    try:
        cur = conn.cursor()
        cur.execute("SELECT datname FROM pg_database")
        return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def test_column_limits_are_input_errors_on_every_dialect(any_dialect_registry: LocalRegistry,
                                                         tmp_path: Path) -> None:
    """PostgreSQL enforces varchar lengths that SQLite ignores: both must refuse the same way."""
    reg = any_dialect_registry
    f = _file(tmp_path, "x.txt", b"x")
    with pytest.raises(InvalidArtifactInput, match="mime type"):
        reg.upload_file(f, name="a", mime_type="text/" + "x" * 300)
    with pytest.raises(InvalidArtifactInput, match="folder"):
        reg.upload_file(f, name="b", folder="/" + "/".join(["f" * 50] * 22))
    with pytest.raises(InvalidArtifactInput, match="file path"):
        reg.upload(ArtifactDraft(name="c").add_file(str(f), obj_path="/".join(["p" * 200] * 25) + "/"))
    assert reg.count() == 0 and reg.catalog.list_folders("/") == []
    assert reg.upload_file(f, name="ok", mime_type="text/" + "x" * 250).mime_type == "text/" + "x" * 250


def test_nul_characters_are_input_errors_on_every_dialect(any_dialect_registry: LocalRegistry,
                                                          tmp_path: Path) -> None:
    """PostgreSQL text cannot hold NUL (psycopg2 raised a bare ValueError): refused alike everywhere."""
    reg = any_dialect_registry
    f = _file(tmp_path, "x.txt", b"x")
    with pytest.raises(InvalidArtifactInput, match="description"):
        reg.upload_file(f, name="a", description="before\x00after")
    with pytest.raises(InvalidArtifactInput, match="mime type"):
        reg.upload_file(f, name="b", mime_type="text/a\x00b")
    art = reg.upload_file(f, name="c", description="clean")
    with pytest.raises(InvalidArtifactInput, match="description"):
        reg.update(art.id, description="x\x00y")
    with pytest.raises(SearchSyntaxError) as info:
        reg.list(search="name:c\x00d")
    assert info.value.position == 6
    assert [a.description for a in reg.list().data] == ["clean"]


def test_a_snapshot_granted_by_two_writers_at_once_is_granted_once(postgres_catalog_url: str) -> None:
    """Two replicas register the same serializer code for one group at the same moment: neither fails."""
    from prefect_artifacts.catalog.auth import AuthCatalog

    engine = create_catalog_engine(postgres_catalog_url)
    migrate(engine)
    auth = AuthCatalog(engine)
    other = create_catalog_engine(postgres_catalog_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO plugin_snapshots (id, plugin_name, digest, group_id, created) "
                              "VALUES ('s1', 'json', :digest, 'team-a', now())"), {"digest": "d" * 64})
        with other.connect() as conn, conn.begin():  # the other writer's grant, not yet committed
            conn.execute(text("INSERT INTO snapshot_grants (snapshot_id, group_id) VALUES ('s1', 'team-b')"))
            errors: list[BaseException] = []

            def grant() -> None:
                try:
                    auth.grant_snapshot("s1", "team-b")
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            granting = threading.Thread(target=grant)
            granting.start()
            deadline = time.monotonic() + 30
            while not waiting_on_a_lock(other, "INSERT INTO snapshot_grants"):
                assert time.monotonic() < deadline and granting.is_alive(), errors
                time.sleep(0.05)
        granting.join(30)  # the other transaction committed: its grant stands, this one is a duplicate
        assert errors == [] and auth.snapshot_groups("s1") == {"team-a", "team-b"}
    finally:
        other.dispose()
        engine.dispose()
