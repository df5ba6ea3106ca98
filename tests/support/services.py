"""Real backing services for tests: PostgreSQL, and S3, GCS and Azure Blob emulators.

Each runs as a local process on 127.0.0.1 for the whole test session, started by the
first test that asks for it; each test gets its own database (``CREATE DATABASE …
TEMPLATE template0``), bucket or container. tests/conftest.py registers this module as a
plugin, so its fixtures (``pg_server``, ``postgres_url``, ``moto_server``, ``s3_bucket``,
``gcs_server``, ``gcs_store_url``, ``azurite_server``, ``azure_store_url``, …) are
available to every test; the classes are imported as usual::

    from tests.support.services import AzuriteServer, GcsEmulator, MotoServer, PostgresServer

Nothing is mocked: the catalog talks to a real ``postgres`` through psycopg2 and the
content store to real HTTP endpoints through s3fs (``python -m moto.server``), gcsfs
(``gcp-storage-emulator``, from PyPI) and adlfs (Azurite, from npm: ``make azurite``
installs it into ``.node/``); ``localstack_s3`` is an S3 that checks signatures, expiry and
signed checksums as S3 does (LocalStack, from PyPI: ``make localstack`` installs it into
``.localstack/``).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typing_extensions import Self

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry

S3_KEY = "testing"
S3_SECRET = "testing"
S3_REGION = "us-east-1"
#: Azurite's well-known development account (public, in Microsoft's documentation).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#: Where `make azurite` installs Azurite (override: PREFECT_ARTIFACTS_TEST_AZURITE=<azurite-blob>).
AZURITE_BIN = Path(__file__).resolve().parents[2] / ".node" / "node_modules" / ".bin" / "azurite-blob"
#: Where `make localstack` installs LocalStack's S3 (its own venv: its pins clash with ours).
LOCALSTACK_PYTHON = Path(__file__).resolve().parents[2] / ".localstack" / "bin" / "python"
#: LocalStack checks SigV4 signatures against its default account's secret.
LOCALSTACK_KEY = LOCALSTACK_SECRET = "test"
# gcsfs's default filesystem class asks the gRPC Storage Control API for each bucket's
# layout (hierarchical namespace); an emulator has no such API, and every lookup waits out
# a 60 s timeout. Set before gcsfs is imported, here and in the processes tests start.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


def free_port() -> int:
    """An unused TCP port on 127.0.0.1.

    Example:
        ```python
        port = free_port()
        ```
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes] | None, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# PostgreSQL ---------------------------------------------------------------------


def find_postgres_bin() -> Path | None:
    """Directory holding ``initdb``/``pg_ctl`` (newest /usr/lib/postgresql/*/bin, else PATH).

    Example:
        ```python
        find_postgres_bin()  # PosixPath('/usr/lib/postgresql/15/bin')
        ```
    """
    override = os.environ.get("PREFECT_ARTIFACTS_TEST_PG_BIN")
    candidates = [override] if override else []

    def version(path: str) -> tuple[int, ...]:
        part = Path(path).parent.name
        return tuple(int(p) for p in part.split(".") if p.isdigit()) or (0,)

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    candidates += sorted(glob.glob("/usr/pgsql-*/bin"), reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


@dataclass
class PostgresServer:
    """A throw-away PostgreSQL cluster in a temporary directory.

    As root the cluster runs as the ``postgres`` system user (``initdb`` refuses
    root); the directory is owned by whoever runs the server. Auth is ``trust`` on
    127.0.0.1 only, ``fsync=off``: fast, and good for tests only.

    Example:
        ```python
        with PostgresServer.start() as pg:
            url = pg.create_database()
            SqlCatalog(url)
        ```
    """

    bindir: Path
    root: Path
    port: int
    user: str | None  # system user running the server (None: the current user)
    superuser: str = "postgres"
    _databases: list[str] = field(default_factory=list)
    _templates: set[str] = field(default_factory=set)

    @classmethod
    def start(cls, bindir: Path | None = None, timeout: float = 60.0) -> PostgresServer:
        """Create a cluster (``initdb``) and start the server on a free port.

        Raises:
            RuntimeError: no PostgreSQL binaries, or the server did not start.

        Example:
            ```python
            pg = PostgresServer.start()
            ```
        """
        bindir = bindir or find_postgres_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        run_as = "postgres" if os.geteuid() == 0 else None
        if run_as:
            try:
                entry = pwd.getpwnam(run_as)
            except KeyError:
                raise RuntimeError("as root, PostgreSQL needs the 'postgres' system user "
                                   "(created by apt-get install postgresql)") from None
        root = Path(tempfile.mkdtemp(prefix="pa-pg-"))
        if run_as:
            os.chown(root, entry.pw_uid, entry.pw_gid)
        server = cls(bindir, root, free_port(), run_as)
        try:
            # A non-C collation (as in production) so LIKE prefix scans need text_pattern_ops.
            for locale in ("C.UTF-8", "C"):
                try:
                    server._run("initdb", "-D", str(root / "data"), "-U", server.superuser, "--auth=trust",
                                "-E", "UTF8", f"--locale={locale}", "--no-sync")
                    break
                except RuntimeError:
                    if locale == "C":
                        raise
                    shutil.rmtree(root / "data", ignore_errors=True)
            (root / "sock").mkdir()
            if run_as:
                os.chown(root / "sock", entry.pw_uid, entry.pw_gid)
            options = " ".join([
                f"-p {server.port}", "-c listen_addresses=127.0.0.1", f"-k {root / 'sock'}",
                "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
                "-c max_connections=300", "-c shared_buffers=64MB", "-c max_wal_size=1GB",
            ])
            server._run("pg_ctl", "-D", str(root / "data"), "-l", str(root / "server.log"),
                        "-o", options, "-w", "-t", str(int(timeout)), "start")
            _wait_for_port(server.port, None, timeout, "postgres")
        except BaseException:
            server.stop()
            raise
        atexit.register(server.stop)
        return server

    def _run(self, program: str, *args: str) -> None:
        kwargs: dict[str, Any] = {}
        if self.user:
            kwargs = {"user": self.user, "group": pwd.getpwnam(self.user).pw_gid, "extra_groups": []}
        result = subprocess.run(
            [str(self.bindir / program), *args], cwd=self.root, capture_output=True, text=True,
            timeout=120, **kwargs,
        )
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{tail}")

    def url(self, database: str = "postgres", driver: str = "postgresql") -> str:
        """SQLAlchemy URL of a database on this server.

        Example:
            ```python
            pg.url("artifacts")  # "postgresql://postgres@127.0.0.1:5433/artifacts"
            ```
        """
        return f"{driver}://{self.superuser}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> Any:
        """An autocommit psycopg2 connection to the ``postgres`` database (caller closes it).

        Example:
            ```python
            with contextlib.closing(pg.admin()) as conn:
                conn.cursor().execute("SELECT 1")
            ```
        """
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.superuser, dbname="postgres")
        conn.autocommit = True
        return conn

    def create_database(self, name: str | None = None, template: str = "template0") -> str:
        """Create an empty database and return its SQLAlchemy URL.

        Example:
            ```python
            url = pg.create_database()
            ```
        """
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        conn = self.admin()
        try:
            conn.cursor().execute(f'CREATE DATABASE "{name}" TEMPLATE {template}')
        finally:
            conn.close()
        self._databases.append(name)
        return self.url(name)

    def create_catalog_database(self) -> str:
        """Create a database already migrated to the newest catalog revision; returns its URL.

        The first call migrates a template database; later calls copy it, which is
        much faster than migrating each database.

        Example:
            ```python
            SqlCatalog(pg.create_catalog_database())
            ```
        """
        from prefect_artifacts.catalog.engine import create_catalog_engine, head_revision, migrate

        template = f"catalog_template_{head_revision()}"
        if template not in self._templates:
            self.create_database(template)
            engine = create_catalog_engine(self.url(template))
            try:
                migrate(engine)
            finally:
                engine.dispose()
            self._templates.add(template)
        return self.create_database(template=f'"{template}"')

    def reset_database(self, url: str) -> None:
        """Empty every catalog table of a database (the schema and its revision stay).

        Much cheaper than a new database; used between tests sharing one database.

        Example:
            ```python
            pg.reset_database(url)
            ```
        """
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.superuser, dbname=url.rsplit("/", 1)[1])
        try:
            cur = conn.cursor()
            cur.execute("SET lock_timeout = '10s'")  # a leaked open transaction fails loudly, not forever
            cur.execute("SELECT tablename FROM pg_tables "
                        "WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
            tables = [row[0] for row in cur.fetchall()]
            # DELETE of a few rows is ~100x cheaper than TRUNCATE; FK triggers off, so any order works.
            cur.execute("SET LOCAL session_replication_role = replica")
            for table in tables:
                cur.execute(f'DELETE FROM "{table}"')
            conn.commit()
        finally:
            conn.close()

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever connections still use it.

        Example:
            ```python
            pg.drop_database("t_abc")
            ```
        """
        conn = self.admin()
        try:
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop the server (immediately) and delete its directory.

        Example:
            ```python
            pg.stop()
            ```
        """
        if not self.root.exists():
            return
        if (self.root / "data" / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Object stores: S3 (moto), GCS (gcp-storage-emulator), Azure Blob (Azurite) -------------


@dataclass
class ObjectStoreServer:
    """What the object-store servers share: their process, a filesystem of their own on them, buckets.

    Subclasses start the process (``start``) and say how fsspec reaches it
    (``storage_options``, ``_filesystem_class``).

    Example:
        ```python
        with MotoServer.start() as s3:
            s3.filesystem().ls(s3.make_bucket())
        ```
    """

    process: subprocess.Popen[bytes]
    endpoint_url: str
    workdir: Path | None = None  # a temporary working directory of the process, removed by `stop`
    _fs: Any = field(default=None, init=False, repr=False)

    @property
    def storage_options(self) -> dict[str, Any]:
        raise NotImplementedError

    def _filesystem_class(self) -> Any:
        raise NotImplementedError

    def filesystem(self) -> Any:
        """A filesystem on this server, independent of the code under test's instance.

        It never caches listings, so it always sees what the store really holds.

        Example:
            ```python
            s3.filesystem().cat_file("bucket/key")
            ```
        """
        if self._fs is None:
            self._fs = self._filesystem_class()(skip_instance_cache=True, use_listings_cache=False,
                                                **self.storage_options)
        return self._fs

    def make_bucket(self, prefix: str = "t") -> str:
        """Create an empty bucket (an Azure container) with a unique name; returns the name.

        Example:
            ```python
            bucket = s3.make_bucket()
            ```
        """
        bucket = f"{prefix}-{uuid.uuid4().hex[:16]}"
        self.filesystem().mkdir(bucket)
        return bucket

    def _ready(self, wait: Callable[[], None]) -> Self:
        """This server once ``wait`` returns (stopped, and the error raised, if it does not); stopped at exit."""
        try:
            wait()
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Terminate the server process and remove its working directory, if it has one.

        Example:
            ```python
            s3.stop()
            ```
        """
        _stop_process(self.process)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# S3 (moto) ----------------------------------------------------------------------


@dataclass
class MotoServer(ObjectStoreServer):
    """A ``python -m moto.server`` subprocess: a real HTTP S3 endpoint on 127.0.0.1.

    Example:
        ```python
        with MotoServer.start() as s3:
            bucket = s3.make_bucket()
            ContentStore(f"s3://{bucket}/blobs", s3.storage_options)
        ```
    """

    @classmethod
    def start(cls, timeout: float = 60.0) -> MotoServer:
        """Start moto on a free port and wait until it listens.

        Example:
            ```python
            s3 = MotoServer.start()
            ```
        """
        port = free_port()
        env = {**os.environ, "AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET,
               "AWS_DEFAULT_REGION": S3_REGION}
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )
        server = cls(process, f"http://127.0.0.1:{port}")
        return server._ready(lambda: _wait_for_port(port, process, timeout, "moto.server"))

    @property
    def env(self) -> dict[str, str]:
        """``AWS_*`` variables that point clients built without options at this server.

        Example:
            ```python
            monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.env["AWS_ENDPOINT_URL_S3"])
            ```
        """
        return {"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET, "AWS_DEFAULT_REGION": S3_REGION,
                "AWS_ENDPOINT_URL_S3": self.endpoint_url, "AWS_ENDPOINT_URL": self.endpoint_url}

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs ``storage_options`` reaching this server (JSON-serializable).

        Example:
            ```python
            ArtifactStorage(basepath="s3://b/p", storage_options=s3.storage_options)
            ```
        """
        return {"key": S3_KEY, "secret": S3_SECRET, "endpoint_url": self.endpoint_url}

    def _filesystem_class(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem


# S3 that checks what S3 checks (LocalStack) ------------------------------------


def find_localstack() -> Path | None:
    """The Python of LocalStack's venv: PREFECT_ARTIFACTS_TEST_LOCALSTACK, else the one `make localstack` made.

    Example:
        ```python
        find_localstack()  # PosixPath('/…/.localstack/bin/python')
        ```
    """
    override = os.environ.get("PREFECT_ARTIFACTS_TEST_LOCALSTACK")
    candidate = Path(override) if override else LOCALSTACK_PYTHON
    return candidate if candidate.exists() else None


@dataclass
class LocalStackS3(ObjectStoreServer):
    """LocalStack's S3 (``localstack-core``, from PyPI) as a subprocess on 127.0.0.1.

    moto stores whatever a presigned URL receives. LocalStack, like S3, refuses a body
    whose SHA-256 differs from the signed ``x-amz-checksum-sha256`` (``BadDigest``), an
    expired URL, and a request that differs from what was signed
    (``S3_SKIP_SIGNATURE_VALIDATION=0``). Nothing leaves the machine: no analytics, no
    DNS server, data and home in a temporary folder that `stop` removes.

    Example:
        ```python
        with LocalStackS3.start() as s3:
            ContentStore(f"s3://{s3.make_bucket()}/blobs", s3.storage_options)
        ```
    """

    @classmethod
    def start(cls, python: Path | None = None, timeout: float = 120.0) -> LocalStackS3:
        """Start LocalStack with S3 only on a free port and wait until S3 answers.

        Raises:
            RuntimeError: LocalStack is not installed, exited, or did not start in time.

        Example:
            ```python
            s3 = LocalStackS3.start()
            ```
        """
        python = python or find_localstack()
        if python is None:
            raise RuntimeError("LocalStack not installed: run `make localstack`")
        port = free_port()
        workdir = Path(tempfile.mkdtemp(prefix="pa-localstack-"))
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir), "SERVICES": "s3",
               "EAGER_SERVICE_LOADING": "1", "S3_SKIP_SIGNATURE_VALIDATION": "0",
               "GATEWAY_LISTEN": f"127.0.0.1:{port}", "LOCALSTACK_HOST": f"127.0.0.1:{port}",
               "DISABLE_EVENTS": "1", "DNS_ADDRESS": "0", "FILESYSTEM_ROOT": str(workdir / "root"),
               "LOCALSTACK_VOLUME_DIR": str(workdir / "volume"), "TMPDIR": str(workdir)}
        process = subprocess.Popen([str(python), "-m", "localstack.runtime.main"], cwd=workdir, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = cls(process, f"http://127.0.0.1:{port}", workdir)
        return server._ready(lambda: server._wait_for_s3(timeout))

    def _wait_for_s3(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"LocalStack exited with status {self.process.returncode}")
            with contextlib.suppress(httpx.TransportError, ValueError):
                health = httpx.get(f"{self.endpoint_url}/_localstack/health", timeout=1).json()
                if health.get("services", {}).get("s3") in ("available", "running"):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"LocalStack's S3 did not answer within {timeout:.0f}s")

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs ``storage_options`` reaching this server (JSON-serializable).

        Example:
            ```python
            ContentStore("s3://b/p", s3.storage_options)
            ```
        """
        return {"key": LOCALSTACK_KEY, "secret": LOCALSTACK_SECRET, "endpoint_url": self.endpoint_url}

    def _filesystem_class(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem


# GCS (gcp-storage-emulator) ----------------------------------------------------



@dataclass
class GcsEmulator(ObjectStoreServer):
    """A ``gcp-storage-emulator`` subprocess (in memory): a real HTTP GCS JSON API on 127.0.0.1.

    Reached through gcsfs with an explicit endpoint and an anonymous token
    (`storage_options`); nothing reads ``STORAGE_EMULATOR_HOST``.

    Example:
        ```python
        with GcsEmulator.start() as gcs:
            bucket = gcs.make_bucket()
            ContentStore(f"gs://{bucket}/blobs", gcs.storage_options)
        ```
    """

    @classmethod
    def start(cls, timeout: float = 60.0) -> GcsEmulator:
        """Start the emulator on a free port and wait until it listens.

        Raises:
            RuntimeError: the emulator exited or did not listen in time.

        Example:
            ```python
            gcs = GcsEmulator.start()
            ```
        """
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1", "--port", str(port),
             "--in-memory", "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        server = cls(process, f"http://127.0.0.1:{port}")
        return server._ready(lambda: _wait_for_port(port, process, timeout, "gcp-storage-emulator"))

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec/gcsfs ``storage_options`` reaching this emulator (JSON-serializable).

        Example:
            ```python
            ArtifactStorage(basepath="gs://b/p", storage_options=gcs.storage_options)
            ```
        """
        return {"endpoint_url": self.endpoint_url, "token": "anon", "project": "test"}

    def _filesystem_class(self) -> Any:
        import gcsfs

        return gcsfs.GCSFileSystem


# Azure Blob (Azurite) -----------------------------------------------------------


def find_azurite() -> Path | None:
    """The ``azurite-blob`` program: PREFECT_ARTIFACTS_TEST_AZURITE, else the one `make azurite` installed.

    Example:
        ```python
        find_azurite()  # PosixPath('/…/.node/node_modules/.bin/azurite-blob')
        ```
    """
    override = os.environ.get("PREFECT_ARTIFACTS_TEST_AZURITE")
    candidate = Path(override) if override else AZURITE_BIN
    return candidate if candidate.exists() and shutil.which("node") else None


@dataclass
class AzuriteServer(ObjectStoreServer):
    """An ``azurite-blob`` subprocess (in memory): a real Azure Blob Storage endpoint on 127.0.0.1.

    Reached through adlfs with the development account's connection string.

    Example:
        ```python
        with AzuriteServer.start() as azure:
            container = azure.make_bucket()
            ContentStore(f"abfs://{container}/blobs", azure.storage_options)
        ```
    """

    @classmethod
    def start(cls, program: Path | None = None, timeout: float = 60.0) -> AzuriteServer:
        """Start Azurite's blob service on a free port and wait until it listens.

        Data lives in memory (``--inMemoryPersistence``); the working directory is a
        temporary one, removed by `stop`. Telemetry is off: nothing leaves the machine.

        Raises:
            RuntimeError: Azurite is not installed, exited, or did not listen in time.

        Example:
            ```python
            azure = AzuriteServer.start()
            ```
        """
        program = program or find_azurite()
        if program is None:
            raise RuntimeError("Azurite not installed: run `make azurite` (needs npm)")
        port = free_port()
        workdir = Path(tempfile.mkdtemp(prefix="pa-azurite-"))
        process = subprocess.Popen(
            [str(program), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
             "--silent", "--skipApiVersionCheck", "--disableTelemetry"],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        server = cls(process, f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}", workdir)
        return server._ready(lambda: _wait_for_port(port, process, timeout, "azurite-blob"))

    @property
    def connection_string(self) -> str:
        """The development account's connection string for this server.

        Example:
            ```python
            BlobServiceClient.from_connection_string(azure.connection_string)
            ```
        """
        return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                f"BlobEndpoint={self.endpoint_url};")

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec/adlfs ``storage_options`` reaching this server (JSON-serializable).

        Example:
            ```python
            ArtifactStorage(basepath="abfs://c/p", storage_options=azure.storage_options)
            ```
        """
        return {"connection_string": self.connection_string}

    def _filesystem_class(self) -> Any:
        import adlfs

        return adlfs.AzureBlobFileSystem


# pytest fixtures ----------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (skips when no binaries exist).

    Example:
        ```python
        def test_x(pg_server):
            url = pg_server.create_database()
        ```
    """
    if find_postgres_bin() is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql, "
                    "or set PREFECT_ARTIFACTS_TEST_PG_BIN)")
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(pg_server: PostgresServer) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database for this test (dropped afterwards).

    Example:
        ```python
        def test_x(postgres_url):
            SqlCatalog(postgres_url)
        ```
    """
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def postgres_catalog_url(pg_server: PostgresServer) -> Iterator[str]:
    """URL of a fresh PostgreSQL database already migrated to the newest revision.

    Example:
        ```python
        def test_x(postgres_catalog_url):
            LocalRegistry.from_urls(blobs, postgres_catalog_url)
        ```
    """
    url = pg_server.create_catalog_database()
    yield url
    pg_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(scope="class")
def postgres_class_database(pg_server: PostgresServer) -> Iterator[str]:
    """One migrated database shared by the tests of a class (see `postgres_shared_catalog_url`).

    Example:
        ```python
        url = request.getfixturevalue("postgres_class_database")
        ```
    """
    url = pg_server.create_catalog_database()
    yield url
    pg_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def postgres_shared_catalog_url(pg_server: PostgresServer, postgres_class_database: str) -> str:
    """A migrated, EMPTY catalog database: the class's database, emptied before this test.

    Fresh state per test at the cost of one TRUNCATE instead of a new database; for
    suites of many short tests (the contract suite).

    Example:
        ```python
        def test_x(postgres_shared_catalog_url):
            LocalRegistry.from_urls(blobs, postgres_shared_catalog_url).count() == 0
        ```
    """
    pg_server.reset_database(postgres_class_database)
    return postgres_class_database


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto S3 server for the whole session.

    Example:
        ```python
        def test_x(moto_server):
            moto_server.make_bucket()
        ```
    """
    server = MotoServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto_s3_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """The moto server, also reachable by clients built without options (``AWS_*`` variables).

    s3fs instances cached meanwhile are dropped afterwards, so no later test reaches moto by accident.

    Example:
        ```python
        def test_x(moto_s3_env):
            reg.add_reference(f"s3://{moto_s3_env.make_bucket()}/key")
        ```
    """
    import s3fs

    for key, value in moto_server.env.items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()
    yield moto_server
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="session")
def localstack_s3() -> Iterator[LocalStackS3]:
    """One LocalStack S3 for the whole session (skips, saying why, when it is not installed).

    Example:
        ```python
        def test_x(localstack_s3):
            localstack_s3.make_bucket()
        ```
    """
    if find_localstack() is None:
        pytest.skip(f"LocalStack cannot run here ({LOCALSTACK_PYTHON} is missing): `make localstack` installs it "
                    "into its own venv, or set PREFECT_ARTIFACTS_TEST_LOCALSTACK to the Python of one")
    server = LocalStackS3.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_options(moto_server: MotoServer) -> dict[str, Any]:
    """``storage_options`` for the session's moto server.

    Example:
        ```python
        ContentStore(s3_store_url, s3_options)
        ```
    """
    return moto_server.storage_options


@pytest.fixture
def s3_bucket(moto_server: MotoServer) -> str:
    """A fresh, empty bucket for this test.

    Example:
        ```python
        def test_x(s3_bucket): ...
        ```
    """
    return moto_server.make_bucket()


@pytest.fixture
def s3_store_url(s3_bucket: str) -> str:
    """``s3://<fresh bucket>/artifacts``: a content-store URL for this test.

    Example:
        ```python
        ContentStore(s3_store_url, s3_options)
        ```
    """
    return f"s3://{s3_bucket}/artifacts"


@pytest.fixture(params=["postgresql", "sqlite"])
def any_dialect_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalRegistry]:
    """A local registry on a PostgreSQL catalog, then on a SQLite one.

    Example:
        ```python
        def test_x(any_dialect_registry):
            any_dialect_registry.count()
        ```
    """
    url = (request.getfixturevalue("postgres_catalog_url") if request.param == "postgresql"
           else sqlite_url(tmp_path / "c.sqlite"))
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), url)
    yield reg
    reg.close()


@pytest.fixture
def pg_registry(tmp_path: Path, postgres_catalog_url: str) -> Iterator[LocalRegistry]:
    """A LocalRegistry on a fresh PostgreSQL database and tmp local blobs.

    Example:
        ```python
        def test_x(pg_registry):
            pg_registry.count()
        ```
    """
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), postgres_catalog_url)
    yield reg
    reg.close()


@pytest.fixture
def s3_registry(tmp_path: Path, s3_store_url: str, s3_options: dict[str, Any]) -> Iterator[LocalRegistry]:
    """A LocalRegistry on a tmp SQLite catalog and blobs in a fresh moto S3 bucket.

    Example:
        ```python
        def test_x(s3_registry):
            s3_registry.store.url  # "s3://t-…/artifacts"
        ```
    """
    reg = LocalRegistry.from_urls(s3_store_url, sqlite_url(tmp_path / "catalog.sqlite"), storage_options=s3_options)
    yield reg
    reg.close()


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GcsEmulator]:
    """One GCS emulator for the whole session (skips when gcsfs or the emulator is not installed).

    Example:
        ```python
        def test_x(gcs_server):
            gcs_server.make_bucket()
        ```
    """
    for module in ("gcsfs", "gcp_storage_emulator"):
        pytest.importorskip(module, reason=f"{module} not installed: pip install -e '.[test]'")
    import gcsfs

    if gcsfs.GCSFileSystem is not gcsfs.core.GCSFileSystem:  # each request would wait out a gRPC timeout
        pytest.fail("gcsfs was imported with GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT on: set it to false "
                    "before gcsfs is imported (tests/support/services.py does, at import)")
    server = GcsEmulator.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gcs_options(gcs_server: GcsEmulator) -> dict[str, Any]:
    """``storage_options`` for the session's GCS emulator.

    Example:
        ```python
        ContentStore(gcs_store_url, gcs_options)
        ```
    """
    return gcs_server.storage_options


@pytest.fixture
def gcs_store_url(gcs_server: GcsEmulator) -> str:
    """``gs://<fresh bucket>/artifacts``: a content-store URL for this test.

    Example:
        ```python
        ContentStore(gcs_store_url, gcs_options)
        ```
    """
    return f"gs://{gcs_server.make_bucket()}/artifacts"


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[AzuriteServer]:
    """One Azurite blob server for the whole session (skips, saying why, when it cannot run here).

    Example:
        ```python
        def test_x(azurite_server):
            azurite_server.make_bucket()
        ```
    """
    pytest.importorskip("adlfs", reason="adlfs not installed: pip install -e '.[test]'")
    if find_azurite() is None:
        why = "node is not on PATH" if AZURITE_BIN.exists() else f"{AZURITE_BIN} is missing"
        pytest.skip(f"Azurite cannot run here ({why}): `make azurite` installs it with npm, "
                    "or set PREFECT_ARTIFACTS_TEST_AZURITE to an azurite-blob program")
    server = AzuriteServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def azure_options(azurite_server: AzuriteServer) -> dict[str, Any]:
    """``storage_options`` for the session's Azurite server.

    Example:
        ```python
        ContentStore(azure_store_url, azure_options)
        ```
    """
    return azurite_server.storage_options


@pytest.fixture
def azure_store_url(azurite_server: AzuriteServer) -> str:
    """``abfs://<fresh container>/artifacts``: a content-store URL for this test.

    Example:
        ```python
        ContentStore(azure_store_url, azure_options)
        ```
    """
    return f"abfs://{azurite_server.make_bucket()}/artifacts"
