"""Catalog engines: SQLite tuned for many writers, PostgreSQL as is; and migrations."""

from __future__ import annotations

import fcntl
import importlib.util
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from prefect_artifacts.errors import (
    InvalidArtifactInput,
    MissingStorageBackend,
    StorageCorrupted,
    StorageError,
    StorageFull,
)

_MIGRATIONS = Path(__file__).parent / "migrations"
_URL_UNSAFE = re.compile(r"[?#%]")


def _sqlite_pragmas(durable: bool) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=60000")
        _enable_wal(cursor)
        cursor.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # The default 2 MiB page cache re-reads a 100k-artifact catalog's rows from the OS on every
        # search (a syscall per row lookup); 32 MiB keeps a search's working set (grows on demand).
        cursor.execute("PRAGMA cache_size=-32768")
        cursor.close()

    return on_connect


def _enable_wal(cursor: Any, patience: float = 60.0) -> None:
    """Switch a database to WAL, waiting out other processes that hold it.

    SQLite answers "database is locked" at once, without its busy handler, when the
    switch would have to wait for another connection (two processes opening a new
    catalog at the same moment): retry until ``patience`` runs out.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_begin(conn: Any) -> None:
    # Writers take the lock up front, so two writers never deadlock on an upgrade.
    immediate = conn.get_execution_options().get("write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


#: Seconds a writer waits for its turn before `StorageError` (SQLite's own busy timeout is the same).
WRITER_PATIENCE = 60.0


class _WriterGate:
    """Writers of one SQLite file take turns here, threads and processes, before ``BEGIN IMMEDIATE``.

    SQLite's busy handler makes a blocked writer sleep 1, 2, 5, 10… up to 100 ms between
    tries, so concurrent writers (a server's request threads, its worker processes,
    parallel flow runs on one machine) lost milliseconds per write. Threads of one process
    queue on a lock, handed over the moment the writer before commits; processes then take
    an ``flock`` on ``<catalog>.write-lock``, polled every half millisecond. A writer that
    waits longer than `WRITER_PATIENCE` gets a `StorageError` instead of hanging behind a
    stuck one.
    """

    def __init__(self, database: str, lock_path: str | None) -> None:
        self._database = database
        self._lock = threading.RLock()
        self._depth = 0
        self._path = lock_path
        self._fd: int | None = None

    def _busy(self) -> StorageError:
        return StorageError(f"catalog {self._database!r} is busy: another writer has held it for "
                            f"{WRITER_PATIENCE:g} s")

    def __enter__(self) -> None:
        deadline = time.monotonic() + WRITER_PATIENCE
        if not self._lock.acquire(timeout=WRITER_PATIENCE):
            raise self._busy()
        self._depth += 1
        if self._depth == 1 and self._path is not None:
            try:
                self._lock_file(deadline)
            except BaseException:
                self._depth -= 1
                self._lock.release()
                raise

    def _lock_file(self, deadline: float) -> None:
        try:
            if self._fd is None:
                self._fd = os.open(self._path or "", os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError:  # a read-only folder: SQLite's own locking still keeps writers apart
            self._path = None
            return
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise self._busy() from None
                time.sleep(0.0005)

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._path is not None and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()


_gates: dict[str, _WriterGate] = {}
_gates_guard = threading.Lock()
os.register_at_fork(after_in_child=_gates.clear)  # a child must not share its parent's lock


def writer_lock(engine: Engine) -> AbstractContextManager[Any]:
    """The turn of one writer of a SQLite catalog (see `_WriterGate`); PostgreSQL queues writers itself.

    Example:
        ```python
        with writer_lock(engine):
            ...  # BEGIN IMMEDIATE ... COMMIT
        ```
    """
    if engine.dialect.name != "sqlite":
        return nullcontext()
    database = sqlite_file(engine.url)
    gate = _gates.get(database)
    if gate is None:
        memory = database in ("", ":memory:") or database.startswith("file::memory:")
        with _gates_guard:
            gate = _gates.setdefault(database, _WriterGate(database, None if memory else f"{database}.write-lock"))
    return gate


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on exit.

    Example:
        ```python
        with write_transaction(engine) as conn:
            conn.execute(insert(folders), {"path": "/a", "created": now})
        ```
    """
    with engine.connect() as conn, writer_lock(engine):
        conn.execution_options(write=True)  # read by _sqlite_begin
        with conn.begin():
            yield conn


_FULL = ("database or disk is full", "no space left on device", "disk quota exceeded", "could not extend file")
_CORRUPT = ("file is not a database", "database disk image is malformed", "file is encrypted or is not a database")
_SCHEMA = ("no such table", "no such column", "does not exist")  # a broken schema is a bug: left unexpected


def catalog_error(exc: BaseException) -> StorageError | None:
    """The error-tree exception for a database driver error, or None to leave it as is.

    Integrity violations stay the driver's (the catalog turns them into conflicts
    itself), and so does a schema that lost a table (a bug, answered as a generic 500 by
    the server); a full disk is `StorageFull`, a damaged file `StorageCorrupted`, anything
    else operational (locked, unreachable, read-only) `StorageError`. Messages name no
    path or URL (servers send them to clients); the driver error is chained as the cause.

    Example:
        ```python
        catalog_error(sqlite3.OperationalError("database or disk is full"))  # StorageFull
        ```
    """
    name = type(exc).__name__
    if name == "IntegrityError" or not isinstance(exc, Exception):
        return None
    text = str(exc).lower()
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    pgcode = getattr(exc, "pgcode", None) or getattr(getattr(exc, "diag", None), "sqlstate", None)
    if pgcode == "53100" or any(marker in text for marker in _FULL):
        return StorageFull("the catalog database has no space left")
    if any(marker in text for marker in _CORRUPT):
        return StorageCorrupted(f"the catalog database is damaged: {first}")
    if (pgcode or "").startswith("42") or any(marker in text for marker in _SCHEMA):
        return None
    if name in ("OperationalError", "DatabaseError", "InterfaceError", "InternalError"):
        return StorageError(f"the catalog database failed: {first}")
    return None


def _translate_errors(context: Any) -> StorageError | None:
    return catalog_error(context.original_exception)


def create_catalog_engine(url: str, durable: bool = True) -> Engine:
    """Create an engine for a SQLAlchemy URL (``sqlite:///…`` or ``postgresql://…``).

    Example:
        ```python
        engine = create_catalog_engine("sqlite:////tmp/catalog.sqlite")
        ```
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidArtifactInput(f"invalid catalog URL {url!r}: {exc}") from exc
    if parsed.drivername == "postgresql":  # SQLAlchemy 2.1 defaults to psycopg (3): use what is installed
        found = [d for d in ("psycopg", "psycopg2") if importlib.util.find_spec(d) is not None]
        parsed = parsed.set(drivername=f"postgresql+{found[0]}") if found else parsed
    try:
        if parsed.get_backend_name() != "sqlite":
            engine = create_engine(parsed, pool_pre_ping=True)
            event.listen(engine, "handle_error", _translate_errors)
            return engine
        database = sqlite_file(parsed)
        memory = database in ("", ":memory:") or database.startswith("file::memory:")
        if not memory:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": 60},
            **({"poolclass": StaticPool} if memory else {}),
        )
    except NoSuchModuleError as exc:
        raise MissingStorageBackend(
            f"no database driver for {url!r}: pip install 'prefect-artifacts[postgres]'"
        ) from exc
    except ImportError as exc:
        raise MissingStorageBackend(f"database driver for {url!r} is not installed: {exc}") from exc
    event.listen(engine, "connect", _sqlite_pragmas(durable))
    event.listen(engine, "begin", _sqlite_begin)
    event.listen(engine, "handle_error", _translate_errors)
    return engine


def _alembic_config(connection: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration revision shipped with this version.

    Example:
        ```python
        head_revision()  # "0001"
        ```
    """
    return ScriptDirectory(str(_MIGRATIONS)).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database).

    Example:
        ```python
        current_revision(engine) == head_revision()
        ```
    """
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    database = sqlite_file(engine.url)
    if engine.dialect.name == "sqlite" and database and ":memory:" not in database:
        with open(f"{database}.migrate-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        return
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_advisory_lock(724871)")
            try:
                yield
            finally:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(724871)")
                conn.commit()
        return
    yield


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the catalog schema up to ``revision``, keeping all data.

    Safe to call from many processes at once: they serialize on a lock.

    Example:
        ```python
        migrate(create_catalog_engine("sqlite:////tmp/c.sqlite"))
        ```
    """
    if revision == "head" and current_revision(engine) == head_revision():
        return
    with _migration_lock(engine), engine.connect() as conn:
        conn.execution_options(write=True)
        command.upgrade(_alembic_config(conn), revision)
        conn.commit()


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """SQLAlchemy URL of a SQLite file.

    Example:
        ```python
        sqlite_url("/tmp/c.sqlite")  # "sqlite:////tmp/c.sqlite"
        ```
    """
    database = str(Path(path).expanduser().resolve())
    if not _URL_UNSAFE.search(database):
        return f"sqlite:///{database}"
    # SQLAlchemy 2.0 cuts a database path at '?' and never decodes it: such a path travels as a
    # SQLite URI filename, which SQLite itself percent-decodes.
    return f"sqlite:///file:{quote(database, safe='/')}?uri=true"


def sqlite_file(url: URL) -> str:
    """The file path of a SQLite URL (decoding the URI form `sqlite_url` uses for odd paths).

    Example:
        ```python
        sqlite_file(make_url(sqlite_url("/tmp/odd?name/c.sqlite")))  # "/tmp/odd?name/c.sqlite"
        ```
    """
    database = url.database or ""
    if url.query.get("uri") == "true" and database.startswith("file:") and not database.startswith("file::memory:"):
        return unquote(database[len("file:"):].split("?", 1)[0])
    return database
