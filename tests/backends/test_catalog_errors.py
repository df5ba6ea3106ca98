"""A failing catalog database reaches callers as the error tree, on SQLite and on PostgreSQL.

One test per failure class, each on real databases: a full tmpfs, a read-only mount or
connection, a lock held by another connection, a PostgreSQL server stopped and started
again, wrong credentials, a role without write grants, a schema from a newer version or
missing a table. Each checks the exact error class, that the message names the problem
(and carries no password), and that nothing half-written is visible afterwards. Every
read and write goes through `catalog.engine.catalog_errors`; these tests reach it through
the public `SqlCatalog` and `AuthCatalog` methods, the prepared fast path included.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import sqlite3
import subprocess
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from prefect_artifacts._paths import parse_ref
from prefect_artifacts.catalog import engine as catalog_engine
from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.catalog.engine import create_catalog_engine, sqlite_url
from prefect_artifacts.catalog.sql import SqlCatalog
from prefect_artifacts.errors import (
    ArtifactConflict,
    ArtifactError,
    ArtifactNotFound,
    InvalidArtifactInput,
    MissingStorageBackend,
    StorageCorrupted,
    StorageError,
    StorageFull,
)
from prefect_artifacts.models import ArtifactKind, ArtifactManifest, ConflictStrategy
from tests.support.catalogs import copy_migrated_catalog
from tests.support.services import PostgresServer, find_postgres_bin, free_port

USER, PASSWORD, WRONG_PASSWORD = "alice", "right-pa55word", "wr0ng-pa55word-never-shown"


def _manifest(name: str, **fields: Any) -> ArtifactManifest:
    return ArtifactManifest(folder="/f", name=name, kind=ArtifactKind.FILE, files=[], **fields)


def _made(catalog: SqlCatalog, name: str) -> bool:
    try:
        catalog.resolve(parse_ref(f"/f/{name}"))
    except ArtifactNotFound:
        return False
    return True


def _check(exc: BaseException, cls: type[ArtifactError], words: str) -> None:
    """``exc`` is exactly ``cls``, says ``words``, chains its cause and shows no password anywhere."""
    assert type(exc) is cls, f"{type(exc).__name__}: {exc}"
    assert words in str(exc), str(exc)
    assert exc.__cause__ is not None or "schema is at revision" in str(exc)
    shown = "".join(traceback.format_exception(exc))  # the whole chain, as a log would show it
    assert PASSWORD not in shown and WRONG_PASSWORD not in shown


@contextlib.contextmanager
def _tmpfs(mount: Path, size: str, owner: str | None = None) -> Iterator[Path]:
    """A small tmpfs at ``mount``: a real full disk (ENOSPC from the kernel) once filled."""
    mount.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        if owner:
            entry = pwd.getpwnam(owner)
            os.chown(mount, entry.pw_uid, entry.pw_gid)
            os.chmod(mount, 0o700)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> None:
    for name, block in (("filler", 1 << 16), ("filler-tail", 512)):
        with open(disk / name, "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:
                f.write(b"x" * block)


def _free(disk: Path) -> None:
    for name in ("filler", "filler-tail"):
        (disk / name).unlink(missing_ok=True)


# PostgreSQL servers of this module ------------------------------------------------


def _start_postgres() -> PostgresServer:
    if find_postgres_bin() is None:
        pytest.skip("PostgreSQL server binaries not found")
    return PostgresServer.start()


@pytest.fixture(scope="module")
def own_pg() -> Iterator[PostgresServer]:
    """A server of this module's own: ``alice`` logs in with a password (SCRAM), ``reader`` may only read."""
    server = _start_postgres()
    try:
        hba = server.root / "data" / "pg_hba.conf"
        hba.write_text(f"host all {USER} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        with contextlib.closing(server.admin()) as conn:
            cursor = conn.cursor()
            cursor.execute("SELECT pg_reload_conf()")
            cursor.execute(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
            cursor.execute("CREATE ROLE reader LOGIN")
        yield server
    finally:
        server.stop()


def _database(pg: PostgresServer, url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def _admin_sql(pg: PostgresServer, database: str, *statements: str) -> None:
    import psycopg2

    with contextlib.closing(psycopg2.connect(host="127.0.0.1", port=pg.port, user=pg.superuser,
                                             dbname=database)) as conn:
        conn.autocommit = True
        for statement in statements:
            conn.cursor().execute(statement)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def catalog_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Makes the URL of a migrated, empty catalog database of ``backend`` (on `own_pg` for PostgreSQL)."""
    if backend == "sqlite":
        return lambda: sqlite_url(copy_migrated_catalog(tmp_path / "catalog.sqlite"))
    pg: PostgresServer = request.getfixturevalue("own_pg")
    return pg.create_catalog_database


# full ----------------------------------------------------------------------------


def test_a_full_disk_is_storage_full_and_keeps_what_was_committed(backend: str, tmp_path: Path,
                                                                   request: pytest.FixtureRequest) -> None:
    """SQLite: the catalog file on a 1 MiB tmpfs. PostgreSQL: the catalog database in a
    tablespace on a 24 MiB tmpfs (the server's WAL stays on its own disk), both filled up."""
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            disk = stack.enter_context(_tmpfs(tmp_path / "tiny", "1m"))
            catalog = SqlCatalog(sqlite_url(disk / "catalog.sqlite"))
        else:
            pg: PostgresServer = request.getfixturevalue("own_pg")
            disk = stack.enter_context(_tmpfs(pg.root / "tiny", "24m", owner=pg.user))
            _admin_sql(pg, "postgres", f"CREATE TABLESPACE tiny LOCATION '{disk}'",
                       "CREATE DATABASE full_catalog TEMPLATE template0 TABLESPACE tiny")
            stack.callback(_admin_sql, pg, "postgres", "DROP DATABASE full_catalog WITH (FORCE)",
                           "DROP TABLESPACE tiny")
            catalog = SqlCatalog(pg.url("full_catalog"))
        stack.callback(catalog.close)
        catalog.create(_manifest("before"), ConflictStrategy.NEW, make_folder=True)
        _fill(disk)
        padding = [{"content": {"pad": "y" * 20_000}}]
        with pytest.raises(StorageFull) as caught:
            for i in range(500):  # the fast path (known folder, "new")
                catalog.create(_manifest(f"n{i}", aspects=padding), ConflictStrategy.NEW, make_folder=True)
        _check(caught.value, StorageFull, "the catalog database has no space left")
        with pytest.raises(StorageFull):  # the general path
            catalog.create(_manifest("skip", aspects=padding), ConflictStrategy.SKIP, make_folder=True)
        _free(disk)
        assert _made(catalog, "before") and not _made(catalog, f"n{i}") and not _made(catalog, "skip")
        assert catalog.count() == 1 + i  # each create is whole or absent
        catalog.create(_manifest("after"), ConflictStrategy.NEW, make_folder=True)  # and it works again


# read-only -----------------------------------------------------------------------


def _read_only_catalog(backend: str, catalog_url: Callable[[], str], request: pytest.FixtureRequest) -> SqlCatalog:
    """SQLite: a ``mode=ro`` connection to the file. PostgreSQL: ``default_transaction_read_only`` (a
    standby's behaviour)."""
    url = catalog_url()
    writable = SqlCatalog(url)
    writable.create(_manifest("before"), ConflictStrategy.NEW, make_folder=True)
    writable.close()
    if backend == "sqlite":
        path = catalog_engine.sqlite_file(make_url(url))
        return SqlCatalog(f"sqlite:///file:{path}?mode=ro&uri=true")
    pg: PostgresServer = request.getfixturevalue("own_pg")
    _admin_sql(pg, "postgres", f'ALTER DATABASE "{_database(pg, url)}" SET default_transaction_read_only = on')
    return SqlCatalog(url)


def test_a_read_only_catalog_reads_and_refuses_writes_by_name(backend: str, catalog_url: Callable[[], str],
                                                              request: pytest.FixtureRequest) -> None:
    catalog = _read_only_catalog(backend, catalog_url, request)
    try:
        assert catalog.count() == 1 and _made(catalog, "before")
        for write in (lambda: catalog.create(_manifest("fast"), ConflictStrategy.NEW, make_folder=True),
                      lambda: catalog.create(_manifest("slow"), ConflictStrategy.SKIP, make_folder=True),
                      lambda: AuthCatalog(catalog.engine).create_group("team")):
            with pytest.raises(StorageError) as caught:
                write()
            _check(caught.value, StorageError, "the catalog database is read-only")
        assert catalog.count() == 1 and not _made(catalog, "fast") and not _made(catalog, "slow")
        assert AuthCatalog(catalog.engine).list_groups() == []
    finally:
        catalog.close()


def test_a_sqlite_catalog_in_a_read_only_folder_is_named(tmp_path: Path) -> None:
    """A read-only bind mount of the catalog's folder (root ignores file modes, not a read-only mount)."""
    folder, view = tmp_path / "rw", tmp_path / "ro"
    SqlCatalog(sqlite_url(folder / "catalog.sqlite")).close()
    view.mkdir()
    if subprocess.run(["mount", "--bind", str(folder), str(view)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True, capture_output=True)
        with pytest.raises(StorageError) as caught:  # WAL needs its -shm file beside the catalog
            SqlCatalog(sqlite_url(view / "catalog.sqlite"))
        _check(caught.value, StorageError, "the catalog database cannot be opened")
        assert "read-only" in str(caught.value) and str(view) not in str(caught.value)  # no path
        with pytest.raises(StorageError) as caught:
            SqlCatalog(sqlite_url(view / "new" / "catalog.sqlite"))
        _check(caught.value, StorageError, "the catalog database is read-only")
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)
    writable = SqlCatalog(sqlite_url(folder / "catalog.sqlite"))  # the catalog itself is unharmed
    assert writable.count() == 0
    writable.close()


def test_a_catalog_path_under_a_file_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError) as caught:
        SqlCatalog(sqlite_url(tmp_path / "file" / "catalog.sqlite"))
    _check(caught.value, StorageError, "the catalog database cannot be opened")


# locked --------------------------------------------------------------------------


def test_a_lock_held_past_the_timeout_is_named_and_leaves_nothing(backend: str, catalog_url: Callable[[], str],
                                                                  request: pytest.FixtureRequest,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite: another connection holds the write lock (``BEGIN IMMEDIATE``) past a 0.5 s busy
    timeout (`WRITER_PATIENCE`). PostgreSQL: another connection holds ``LOCK TABLE artifacts``
    past the catalog URL's ``lock_timeout`` of 500 ms (PostgreSQL waits forever by default)."""
    monkeypatch.setattr(catalog_engine, "WRITER_PATIENCE", 0.5)
    url = catalog_url()
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            catalog = SqlCatalog(url)
            art, _ = catalog.create(_manifest("before"), ConflictStrategy.NEW, make_folder=True)
            holder: Any = sqlite3.connect(catalog_engine.sqlite_file(catalog.engine.url), isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            writes_only = True  # WAL: readers never wait for the writer
        else:
            import psycopg2

            pg: PostgresServer = request.getfixturevalue("own_pg")
            catalog = SqlCatalog(url + "?options=-c%20lock_timeout%3D500")
            art, _ = catalog.create(_manifest("before"), ConflictStrategy.NEW, make_folder=True)
            holder = psycopg2.connect(host="127.0.0.1", port=pg.port, user=pg.superuser, dbname=_database(pg, url))
            holder.cursor().execute("LOCK TABLE artifacts IN ACCESS EXCLUSIVE MODE")
            writes_only = False
        stack.callback(catalog.close)
        stack.callback(holder.close)
        calls: list[Callable[[], object]] = [
            lambda: catalog.create(_manifest("fast"), ConflictStrategy.NEW, make_folder=True),
            lambda: catalog.create(_manifest("slow"), ConflictStrategy.SKIP, make_folder=True),
            lambda: catalog.update(art.id, description="changed"),
        ]
        if not writes_only:
            calls.append(catalog.count)
        for call in calls:
            started = time.monotonic()
            with pytest.raises(StorageError) as caught:
                call()
            assert time.monotonic() - started >= 0.4  # it waited its turn, then gave up
            _check(caught.value, StorageError, "the catalog database is locked")
        holder.rollback()
        assert catalog.count() == 1 and catalog.get(art.id).description is None
        assert not _made(catalog, "fast") and not _made(catalog, "slow")


# unreachable ---------------------------------------------------------------------


def test_a_postgres_server_that_goes_down_is_unreachable_then_comes_back() -> None:
    """A server of this test's own, stopped and started again: the same catalog object
    works once it is back (the pool's pre-ping reconnects) and the writes tried while it
    was down left nothing."""
    pg = _start_postgres()
    try:
        catalog = SqlCatalog(pg.create_catalog_database())
        catalog.create(_manifest("before"), ConflictStrategy.NEW, make_folder=True)
        data = str(pg.root / "data")
        pg._run("pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        for call in (lambda: catalog.create(_manifest("fast"), ConflictStrategy.NEW, make_folder=True),
                     lambda: catalog.create(_manifest("slow"), ConflictStrategy.SKIP, make_folder=True),
                     catalog.count, lambda: AuthCatalog(catalog.engine).has_users()):
            with pytest.raises(StorageError) as caught:
                call()
            _check(caught.value, StorageError, "the catalog database is unreachable")
        options = f"-p {pg.port} -c listen_addresses=127.0.0.1 -k {pg.root / 'sock'} -c fsync=off"
        pg._run("pg_ctl", "-D", data, "-l", str(pg.root / "server.log"), "-o", options, "-w", "start")
        assert catalog.count() == 1 and _made(catalog, "before")
        assert not _made(catalog, "fast") and not _made(catalog, "slow")
        catalog.create(_manifest("after"), ConflictStrategy.NEW, make_folder=True)
        catalog.close()
    finally:
        pg.stop()


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "no-such-host.invalid"])
def test_an_unreachable_postgres_is_named_without_the_password(host: str) -> None:
    url = f"postgresql://{USER}:{WRONG_PASSWORD}@{host.format(port=free_port())}/catalog"
    with pytest.raises(StorageError) as caught:
        SqlCatalog(url)
    _check(caught.value, StorageError, "the catalog database is unreachable")


# credentials and grants ------------------------------------------------------------


def test_wrong_postgres_credentials_are_named_without_the_password(own_pg: PostgresServer) -> None:
    url = own_pg.create_catalog_database()
    database = _database(own_pg, url)
    for user, password in ((USER, WRONG_PASSWORD), ("nobody", WRONG_PASSWORD)):
        with pytest.raises(StorageError) as caught:
            SqlCatalog(f"postgresql://{user}:{password}@127.0.0.1:{own_pg.port}/{database}")
        _check(caught.value, StorageError, "the catalog database refused the credentials")
    with pytest.raises(StorageError) as caught:
        SqlCatalog(f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{own_pg.port}/no_such_database")
    _check(caught.value, StorageError, "the catalog database does not exist")
    _admin_sql(own_pg, database, f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {USER}")
    right = SqlCatalog(f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{own_pg.port}/{database}")
    assert right.count() == 0  # the same URL with the right password works
    right.close()


def test_catalog_urls_with_a_password_never_show_it() -> None:
    with pytest.raises(MissingStorageBackend) as missing:
        create_catalog_engine(f"nosuchdb://{USER}:{WRONG_PASSWORD}@host/db")
    with pytest.raises(InvalidArtifactInput) as invalid:
        create_catalog_engine(f"postgresql://{USER}:{WRONG_PASSWORD}@host:port/db")
    for caught in (missing, invalid):
        assert WRONG_PASSWORD not in "".join(traceback.format_exception(caught.value))


def test_a_role_without_write_grants_is_denied_by_name(own_pg: PostgresServer) -> None:
    url = own_pg.create_catalog_database()
    _admin_sql(own_pg, _database(own_pg, url), "GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    owner = SqlCatalog(url)
    owner.create(_manifest("before"), ConflictStrategy.NEW, make_folder=True)
    reader = SqlCatalog(url.replace(f"//{own_pg.superuser}@", "//reader@"))
    try:
        assert reader.count() == 1
        for write in (lambda: reader.create(_manifest("fast"), ConflictStrategy.NEW, make_folder=True),
                      lambda: reader.create(_manifest("slow"), ConflictStrategy.SKIP, make_folder=True),
                      lambda: AuthCatalog(reader.engine).create_group("team")):
            with pytest.raises(StorageError) as caught:
                write()
            _check(caught.value, StorageError, "the catalog database denied access: permission denied")
        assert owner.count() == 1 and not _made(owner, "fast") and AuthCatalog(owner.engine).list_groups() == []
    finally:
        reader.close()
        owner.close()


# schema --------------------------------------------------------------------------


def _run_sql(backend: str, url: str, request: pytest.FixtureRequest, *statements: str) -> None:
    if backend == "sqlite":
        with contextlib.closing(sqlite3.connect(catalog_engine.sqlite_file(make_url(url)))) as conn:
            for statement in statements:
                conn.execute(statement)
            conn.commit()
        return
    pg: PostgresServer = request.getfixturevalue("own_pg")
    _admin_sql(pg, _database(pg, url), *statements)


def test_a_schema_newer_than_this_version_is_named_and_left_alone(backend: str, catalog_url: Callable[[], str],
                                                                  request: pytest.FixtureRequest) -> None:
    url = catalog_url()
    SqlCatalog(url).close()
    _run_sql(backend, url, request, "UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StorageError) as caught:
        SqlCatalog(url)
    _check(caught.value, StorageError, "the catalog database's schema is at revision '9999', newer than")
    assert "upgrade prefect-artifacts" in str(caught.value)
    engine = create_catalog_engine(url)
    assert catalog_engine.current_revision(engine) == "9999"  # no migration was attempted
    engine.dispose()


def test_a_schema_missing_a_table_is_named(backend: str, catalog_url: Callable[[], str],
                                           request: pytest.FixtureRequest) -> None:
    url = catalog_url()
    catalog = SqlCatalog(url)
    try:
        art, _ = catalog.create(_manifest("before"), ConflictStrategy.NEW, make_folder=True)
        _run_sql(backend, url, request, "DROP TABLE aliases")
        with pytest.raises(StorageCorrupted) as caught:
            catalog.set_alias(art.id, "production")
        _check(caught.value, StorageCorrupted, "the catalog database has a schema that does not match")
        assert "aliases" in str(caught.value)
        assert catalog.get(art.id).version == 1 and catalog.count() == 1
    finally:
        catalog.close()


# integrity -----------------------------------------------------------------------


def test_integrity_violations_keep_their_errors(backend: str, catalog_url: Callable[[], str]) -> None:
    """The catalog's own conflicts keep their types and messages (a used idempotency key
    still returns its artifact, through either path); one it does not expect (a grant on a
    snapshot that does not exist) is an `ArtifactConflict` too, not a driver error."""
    url = catalog_url()
    catalog, other = SqlCatalog(url), SqlCatalog(url)
    auth = AuthCatalog(catalog.engine)
    try:
        auth.create_user("bea")
        with pytest.raises(ArtifactConflict, match="user 'bea' already exists"):
            auth.create_user("bea")
        with pytest.raises(ArtifactConflict, match="group 'bea' already exists"):
            auth.create_group("bea")
        keyed = _manifest("keyed", idempotency_key="run-1")
        first, created = catalog.create(keyed, ConflictStrategy.NEW, make_folder=True)
        again, created_again = catalog.create(keyed, ConflictStrategy.NEW, make_folder=True)
        assert created and not created_again and again.id == first.id  # a used key: that artifact
        # A catalog that has not seen the folder inserts through SQLAlchemy: a unique violation, retried.
        again, created_again = other.create(keyed, ConflictStrategy.NEW, make_folder=True)
        assert not created_again and again.id == first.id
        with pytest.raises(ArtifactConflict, match="already exists"):
            catalog.create(_manifest("keyed"), ConflictStrategy.ERROR, make_folder=True)
        with pytest.raises(ArtifactConflict) as caught:
            auth.grant_snapshot("no-such-snapshot", "bea")
        _check(caught.value, ArtifactConflict, "the write conflicts with the catalog")
        assert catalog.count() == 1
    finally:
        catalog.close()
        other.close()
