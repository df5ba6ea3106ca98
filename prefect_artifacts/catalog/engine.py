"""Catalog engines: SQLite tuned for many writers, PostgreSQL as is; and migrations."""

from __future__ import annotations

import errno
import fcntl
import functools
import importlib.util
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    NoSuchModuleError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.pool import StaticPool

from prefect_artifacts.errors import (
    ArtifactConflict,
    ArtifactError,
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
        cursor.execute(f"PRAGMA busy_timeout={int(WRITER_PATIENCE * 1000)}")
        _enable_wal(cursor)
        cursor.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # The default 2 MiB page cache re-reads a 100k-artifact catalog's rows from the OS on every
        # search (a syscall per row lookup); 32 MiB keeps a search's working set (grows on demand).
        cursor.execute("PRAGMA cache_size=-32768")
        cursor.close()

    return on_connect


def _enable_wal(cursor: Any, patience: float | None = None) -> None:
    """Switch a database to WAL, waiting out other processes that hold it.

    SQLite answers "database is locked" at once, without its busy handler, when the
    switch would have to wait for another connection (two processes opening a new
    catalog at the same moment): retry until ``patience`` (`WRITER_PATIENCE`) runs out.
    """
    deadline = time.monotonic() + (WRITER_PATIENCE if patience is None else patience)
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


#: Seconds a writer waits for its turn before `StorageError` (SQLite's own busy timeout is the same,
#: read when a connection opens).
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

    def _busy(self) -> StorageError:  # names no path: servers send the message on
        return StorageError(f"the catalog database is busy: another writer has held it for {WRITER_PATIENCE:g} s")

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
    """A connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on exit, inside `catalog_errors`.

    Example:
        ```python
        with write_transaction(engine) as conn:
            conn.execute(insert(folders), {"path": "/a", "created": now})
        ```
    """
    with catalog_errors(engine), engine.connect() as conn, writer_lock(engine):
        conn.execution_options(write=True)  # read by _sqlite_begin
        with conn.begin():
            yield conn


# -- errors: the one place database failures become the error tree --------------------

_CANNOT_OPEN = "cannot be opened (its file or folder is missing, unreadable or read-only)"
_Problem = tuple[type[ArtifactError], str, tuple[str, ...], re.Pattern[str]]

#: What a failed database call means: (error class, what the catalog database …, SQLSTATE or
#: SQLite result-code prefixes, words of the driver's message). Codes are tried first, over
#: all rows (psycopg2 has none for a failed connection), then words, in this order.
_PROBLEMS: tuple[_Problem, ...] = tuple((cls, what, codes, re.compile("|".join(words), re.IGNORECASE)) for
                                        cls, what, codes, words in (
    (StorageFull, "has no space left", ("53100", "SQLITE_FULL"),
     ("database or disk is full", "no space left on device", "disk quota exceeded", "could not extend file")),
    (StorageCorrupted, "is damaged", ("XX001", "XX002", "SQLITE_CORRUPT", "SQLITE_NOTADB"),
     ("file is not a database", "database disk image is malformed", "file is encrypted")),
    (StorageCorrupted, "has a schema that does not match this version of prefect-artifacts", ("42P01", "42703"),
     ("no such table", "no such column")),
    (StorageError, "is read-only", ("25006", "SQLITE_READONLY"),
     ("readonly database", "read-only file system", "read-only transaction")),
    (StorageError, "refused the credentials", ("28",),
     ("password authentication failed", "no password supplied", "authentication failed", r'role ".*" does not exist')),
    (StorageError, "denied access", ("42501", "SQLITE_PERM", "SQLITE_AUTH"), ("permission denied", "pg_hba.conf")),
    (StorageError, "is locked (another connection held a lock it needs past the timeout)",
     ("55P03", "SQLITE_BUSY", "SQLITE_LOCKED"), ("database is locked", "table is locked", "lock timeout")),
    (StorageError, "is busy", ("40P01", "40001", "53300"),
     ("deadlock detected", "could not serialize", "too many clients", "remaining connection slots")),
    (StorageError, "cancelled the statement (statement_timeout, or an administrator)", ("57014",),
     ("canceling statement due to",)),
    (StorageError, _CANNOT_OPEN, ("SQLITE_CANTOPEN",), ("unable to open database file",)),
    (StorageError, "does not exist", ("3D000",), (r'database ".*" does not exist',)),
    (StorageError, "is unreachable", ("08", "57P"),
     ("could not connect", "connection refused", "could not translate host name", "server closed the connection",
      "terminating connection", "timed out", "timeout expired", "no route to host", "connection already closed",
      "network is unreachable", "the database system is", "connection to server")),
))
_CONFLICT_CODES = ("23505", "23503", "23P01", "SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY",
                   "SQLITE_CONSTRAINT_FOREIGNKEY")
_CONFLICT_WORDS = re.compile("unique|duplicate key|foreign key", re.IGNORECASE)
_DRIVERS = {"sqlite3", "psycopg2", "psycopg", "pg8000", "asyncpg"}
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_OS_PROBLEMS = {errno.ENOSPC: (StorageFull, "has no space left"), errno.EDQUOT: (StorageFull, "has no space left"),
                errno.EROFS: (StorageError, "is read-only"), errno.EACCES: (StorageError, "denied access"),
                errno.EPERM: (StorageError, "denied access"), errno.ENOENT: (StorageError, _CANNOT_OPEN),
                errno.ENOTDIR: (StorageError, _CANNOT_OPEN), errno.EEXIST: (StorageError, _CANNOT_OPEN)}


def _code(exc: BaseException) -> str:
    """The SQLSTATE (PostgreSQL drivers) or result-code name (sqlite3) of a driver error, or ""."""
    for found in (getattr(exc, "pgcode", None), getattr(exc, "sqlstate", None),
                  getattr(getattr(exc, "diag", None), "sqlstate", None), getattr(exc, "sqlite_errorname", None)):
        if isinstance(found, str) and found:
            return found
    return ""


def redact(text: str, password: str | None = None) -> str:
    """``text`` without a URL's password (``user:***@``), nor ``password`` anywhere in it.

    Example:
        ```python
        redact("postgresql://app:s3cret@db/catalog")  # "postgresql://app:***@db/catalog"
        ```
    """
    text = _URL_PASSWORD.sub(r"\1***@", text)
    if password:
        for form in {password, quote(password, safe="")}:
            text = text.replace(form, "***")
    return text


def catalog_error(exc: BaseException, password: str | None = None) -> ArtifactError | None:
    """The error-tree exception for a failure of the catalog's database, or None if ``exc`` is not one.

    A full disk is `StorageFull`; a damaged file, or a schema this version does not
    know (a table gone), `StorageCorrupted`; a read-only, locked, unreachable or
    unopenable database, refused credentials or refused access `StorageError` saying
    which. An integrity violation is an `ArtifactConflict` (unique, foreign key) or an
    `InvalidArtifactInput` (a refused value); `integrity_violation` tells retry loops
    apart from deliberate conflicts. A statement the database rejects as malformed is a
    plain `ArtifactError` (a bug: the server answers a generic 500). Messages give the
    driver's first line (never its SQL or parameters) without ``password``.

    Example:
        ```python
        catalog_error(sqlite3.OperationalError("database or disk is full"))  # StorageFull
        ```
    """
    if isinstance(exc, ArtifactError) or not isinstance(exc, Exception):
        return None
    driver: BaseException = exc
    if isinstance(exc, StatementError) and exc.orig is not None:
        driver = exc.orig  # the DB-API error (or what a bind processor raised) behind SQLAlchemy's
    kinds = {c.__name__ for c in type(driver).__mro__ if c.__module__.split(".")[0] in _DRIVERS}
    if not (kinds or isinstance(exc, (SQLAlchemyError, OSError)) or _is_alembic_error(exc)):
        return None  # not the database's: a bug, left as it is
    lines = str(driver).strip().splitlines()
    detail = redact(lines[0].strip() if lines else type(driver).__name__, password)
    if isinstance(exc, OSError) and not kinds:  # the catalog's own files (lock files, its folder)
        os_cls, os_what = _OS_PROBLEMS.get(exc.errno or 0, (StorageError, "failed"))
        return os_cls(f"the catalog database {os_what}: {redact(exc.strerror or detail, password)}")
    code = _code(driver)
    if isinstance(exc, IntegrityError) or "IntegrityError" in kinds:
        if code.startswith(_CONFLICT_CODES) or _CONFLICT_WORDS.search(detail):
            return ArtifactConflict(f"the write conflicts with the catalog: {detail}")
        return InvalidArtifactInput(f"the catalog refused a value: {detail}")
    if isinstance(exc, SATimeoutError):  # before the words: its message says "timed out"
        return StorageError(f"the catalog database is busy: no pooled connection came free ({detail})")
    text = str(driver)
    found = next((p for p in _PROBLEMS if code and code.startswith(p[2])), None) \
        or next((p for p in _PROBLEMS if p[3].search(text)), None)
    if found is not None:
        cls, what = found[0], found[1]
        # A full disk needs no detail (PostgreSQL's names a file of its data directory).
        return cls(f"the catalog database {what}" + ("" if cls is StorageFull else f": {detail}"))
    if isinstance(exc, DBAPIError) and exc.connection_invalidated or isinstance(exc, DisconnectionError):
        return StorageError(f"the catalog database is unreachable: {detail}")
    if isinstance(exc, DataError) or "DataError" in kinds:
        return InvalidArtifactInput(f"the catalog refused a value: {detail}")
    if kinds & {"ProgrammingError", "NotSupportedError"}:
        return ArtifactError(f"the catalog database refused a statement: {detail}")  # a bug: a plain 500
    if kinds or _is_alembic_error(exc):
        return StorageError(f"the catalog database failed: {detail}")
    if isinstance(exc, StatementError):  # a value SQLAlchemy could not bind
        return InvalidArtifactInput(f"the catalog cannot store a value: {detail}")
    return ArtifactError(f"the catalog failed: {detail}")  # SQLAlchemy misuse: a bug, a plain 500


def integrity_violation(exc: BaseException) -> str | None:
    """The driver's words for the integrity violation ``exc`` was translated from, else None.

    Retry loops use it to tell a concurrent writer's unique violation (retry) from a
    conflict the catalog raised on purpose (``conflict_strategy="error"``).

    Example:
        ```python
        except ArtifactConflict as exc:
            if integrity_violation(exc) is None:
                raise
        ```
    """
    cause = exc.__cause__
    if isinstance(cause, IntegrityError):
        return str(cause.orig)
    if cause is not None and any(c.__name__ == "IntegrityError" for c in type(cause).__mro__):
        return str(cause)  # a DB-API error (the prepared path)
    return None


@contextmanager
def catalog_errors(engine: Engine | None = None) -> Iterator[None]:
    """Every catalog read and write runs inside this: database failures leave it as the error tree.

    Errors of the tree pass unchanged; a driver, SQLAlchemy, alembic or file-system
    error becomes what `catalog_error` says, chained ``from`` it, its message free of the
    engine's password; anything else (a bug) passes unchanged. `read_connection`,
    `write_transaction`, `migrate` and the catalog's prepared fast path use it.

    Example:
        ```python
        with catalog_errors(engine), engine.connect() as conn:
            conn.execute(select(artifacts.c.id))
        ```
    """
    try:
        yield
    except Exception as exc:
        translated = catalog_error(exc, engine.url.password if engine is not None else None)
        if translated is None:
            raise
        raise translated from exc


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reads, inside `catalog_errors`.

    Example:
        ```python
        with read_connection(engine) as conn:
            conn.scalar(select(func.count()).select_from(artifacts))
        ```
    """
    with catalog_errors(engine), engine.connect() as conn:
        yield conn


class EngineQueries:
    """Base of a set of catalog queries on one engine: reads and write transactions, errors translated.

    Example:
        ```python
        class MyTables(EngineQueries):
            def count(self) -> int:
                with self._read() as conn:
                    return conn.scalar(select(func.count()).select_from(artifacts))
        ```
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _read(self) -> AbstractContextManager[Connection]:
        return read_connection(self.engine)

    def _write(self) -> AbstractContextManager[Connection]:
        return write_transaction(self.engine)


def create_catalog_engine(url: str, durable: bool = True) -> Engine:
    """Create an engine for a SQLAlchemy URL (``sqlite:///…`` or ``postgresql://…``).

    Example:
        ```python
        engine = create_catalog_engine("sqlite:////tmp/catalog.sqlite")
        ```
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise InvalidArtifactInput(f"invalid catalog URL {redact(url)!r}: {redact(str(exc))}") from None
    shown = parsed.render_as_string(hide_password=True)  # messages never carry the password
    if parsed.drivername == "postgresql":  # SQLAlchemy 2.1 defaults to psycopg (3): use what is installed
        found = [d for d in ("psycopg", "psycopg2") if importlib.util.find_spec(d) is not None]
        parsed = parsed.set(drivername=f"postgresql+{found[0]}") if found else parsed
    try:
        if parsed.get_backend_name() != "sqlite":
            # Errors are translated by `catalog_errors` around each use, not in a handle_error
            # hook: that hook also sees pool_pre_ping's failed ping, and a translated error
            # there stops the pool from reconnecting after a server restart.
            return create_engine(parsed, pool_pre_ping=True)
        database = sqlite_file(parsed)
        memory = database in ("", ":memory:") or database.startswith("file::memory:")
        if not memory:
            with catalog_errors():
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": WRITER_PATIENCE},
            **({"poolclass": StaticPool} if memory else {}),
        )
    except NoSuchModuleError as exc:
        raise MissingStorageBackend(
            f"no database driver for {shown!r}: pip install 'prefect-artifacts[postgres]'"
        ) from exc
    except ImportError as exc:
        raise MissingStorageBackend(f"database driver for {shown!r} is not installed: {exc}") from exc
    event.listen(engine, "connect", _sqlite_pragmas(durable))
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _is_alembic_error(exc: BaseException) -> bool:
    """An alembic CommandError (alembic is imported only to migrate: without it there is none)."""
    util = sys.modules.get("alembic.util")
    return util is not None and isinstance(exc, util.CommandError)


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _shipped_revisions() -> dict[str, str | None]:
    """``revision -> down_revision`` of every migration file, read as text (no alembic import)."""
    field = re.compile(r"""^(revision|down_revision)\s*=\s*(?:["']([^"']+)["']|None)\s*$""", re.MULTILINE)
    revisions: dict[str, str | None] = {}
    for path in (_MIGRATIONS / "versions").glob("*.py"):
        fields = {m.group(1): m.group(2) for m in field.finditer(path.read_text(encoding="utf-8"))}
        if fields.get("revision"):
            revisions[str(fields["revision"])] = fields.get("down_revision")
    return revisions


@functools.lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration revision shipped with this version (a catalog is migrated to it on open).

    Read from the migration files' ``revision``/``down_revision`` lines: opening a catalog
    that is already up to date does not import alembic (~0.1 s of every CLI command). A
    history that is not one straight line is left to alembic.

    Example:
        ```python
        migrate(engine)
        current_revision(engine) == head_revision()  # the newest file of catalog/migrations/versions
        ```
    """
    revisions = _shipped_revisions()
    heads = set(revisions) - set(revisions.values())
    if len(heads) == 1:
        return heads.pop()
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(_MIGRATIONS)).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database).

    Reads alembic's ``alembic_version`` table directly; several rows (branches) are left to alembic.

    Example:
        ```python
        current_revision(engine) == head_revision()
        ```
    """
    with read_connection(engine) as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        if len(rows) <= 1:
            return rows[0] if rows else None
        from alembic.runtime.migration import MigrationContext

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

    Raises:
        StorageError: the catalog's schema is newer than this version knows, or the
            database failed (see `catalog_errors`).

    Example:
        ```python
        migrate(create_catalog_engine("sqlite:////tmp/c.sqlite"))
        ```
    """
    with catalog_errors(engine):
        current = current_revision(engine)
        if revision == "head" and current == head_revision():
            return
        from alembic import command
        from alembic.script import ScriptDirectory

        known = {script.revision for script in ScriptDirectory(str(_MIGRATIONS)).walk_revisions()}
        if current is not None and current not in known:
            raise StorageError(f"the catalog database's schema is at revision {current!r}, newer than this "
                               f"version of prefect-artifacts knows (up to {head_revision()!r}): upgrade "
                               "prefect-artifacts to open it")
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
