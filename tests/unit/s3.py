"""A real S3 endpoint for tests: a ``moto.server`` subprocess on 127.0.0.1.

Reusable outside ``tests/unit``: import `MotoS3`, or the `moto_s3`, `moto_s3_env` and
`s3_bucket` fixtures into a conftest. Credentials are the dummy ``testing`` pair;
`moto_s3_env` also exports the endpoint as ``AWS_ENDPOINT_URL_S3`` for one test, so
clients built without storage options (e.g. ``s3://`` references) reach moto too.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


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


@dataclass
class MotoS3:
    """A running ``python -m moto.server`` process and how to reach it.

    Example:
        ```python
        with MotoS3.start() as s3:
            fs = s3.filesystem()
            fs.mkdir("bucket")
        ```
    """

    process: subprocess.Popen[bytes]
    endpoint_url: str
    env: dict[str, str] = field(default_factory=dict)
    _fs: Any = None

    @classmethod
    def start(cls, timeout: float = 30.0) -> MotoS3:
        """Start the server on a free port and wait until it answers.

        Example:
            ```python
            s3 = MotoS3.start()
            ```
        """
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"moto.server exited with {process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            process.kill()
            raise RuntimeError("moto.server did not start")
        env = {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_S3": endpoint,
            "AWS_ENDPOINT_URL": endpoint,
        }
        return cls(process, endpoint, env)

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec ``storage_options`` reaching this server.

        Example:
            ```python
            ContentStore("s3://bucket/x", s3.storage_options)
            ```
        """
        return {"key": ACCESS_KEY, "secret": SECRET_KEY, "anon": False, "endpoint_url": self.endpoint_url}

    def filesystem(self) -> Any:
        """An s3fs filesystem on this server (one per server, reused).

        Example:
            ```python
            s3.filesystem().pipe("bucket/key", b"data")
            ```
        """
        if self._fs is None:
            import s3fs

            self._fs = s3fs.S3FileSystem(skip_instance_cache=True, **self.storage_options)
        return self._fs

    def make_bucket(self, prefix: str = "test") -> str:
        """Create a bucket with a unique name and return the name.

        Example:
            ```python
            bucket = s3.make_bucket()
            ```
        """
        bucket = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.filesystem().mkdir(bucket)
        return bucket

    def stop(self) -> None:
        """Terminate the server process.

        Example:
            ```python
            s3.stop()
            ```
        """
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> MotoS3:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """One moto S3 server for the test session (clients reach it through `storage_options`).

    Example:
        ```python
        def test_x(moto_s3):
            moto_s3.make_bucket()
        ```
    """
    server = MotoS3.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto_s3_env(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoS3]:
    """The moto server, also reachable by clients built without options (``AWS_*`` variables).

    s3fs instances cached meanwhile are dropped afterwards, so no later test reaches moto by accident.

    Example:
        ```python
        def test_x(moto_s3_env):
            reg.add_reference(f"s3://{moto_s3_env.make_bucket()}/key")
        ```
    """
    import s3fs

    for key, value in moto_s3.env.items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()
    yield moto_s3
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_bucket(moto_s3: MotoS3) -> str:
    """A fresh, empty bucket on the session's moto server.

    Example:
        ```python
        def test_x(s3_bucket, moto_s3):
            store = ContentStore(f"s3://{s3_bucket}/blobs", moto_s3.storage_options)
        ```
    """
    return moto_s3.make_bucket()
