"""S3 fixtures for the unit tests, over the one moto server helper in `backends.services`.

`moto_s3` is a session ``python -m moto.server`` on 127.0.0.1; `moto_s3_env` also
exports its endpoint as ``AWS_ENDPOINT_URL_S3`` for one test, so clients built without
storage options (e.g. ``s3://`` references) reach moto too; `s3_bucket` is a fresh bucket.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from backends.services import MotoServer

#: The name these tests use for the shared moto server helper.
MotoS3 = MotoServer


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
