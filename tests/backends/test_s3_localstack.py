"""Content on an S3 that checks what S3 checks: s3fs against LocalStack's S3, signatures validated.

moto (tests/backends/test_s3.py) accepts unsigned, mis-signed or mis-checksummed requests;
LocalStack refuses them as S3 does, so the shared object-store cases and the store's part
of the registry contract run here too: every request s3fs sends for the store (puts,
copies into place, ranged reads, listings, deletes) passes S3's own checks.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.object_store_cases import *  # noqa: F403 - the shared cases, collected here
from tests.support.object_store_cases import ObjectStoreRegistryContract
from tests.support.services import LocalStackS3


@pytest.fixture
def store_url(localstack_s3: LocalStackS3) -> str:
    return f"s3://{localstack_s3.make_bucket()}/artifacts"


@pytest.fixture
def store_options(localstack_s3: LocalStackS3) -> dict[str, Any]:
    return localstack_s3.storage_options


@pytest.fixture
def raw_fs(localstack_s3: LocalStackS3) -> Any:
    return localstack_s3.filesystem()


class TestLocalStackS3Registry(ObjectStoreRegistryContract):
    """The store's part of the registry contract, blobs in a fresh LocalStack bucket per test."""

    __test__ = True
