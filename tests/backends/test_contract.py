"""The whole Registry contract suite on PostgreSQL (catalog) and on S3 (content)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.testing import RegistryContract, TenancyContract
from tests.support.registries import tenant_registries


class TestPostgresLocalRegistry(RegistryContract):
    """PostgreSQL catalog (one migrated database for the class, emptied before each test) + local blobs."""

    __test__ = True

    @pytest.fixture
    def registry(self, tmp_path: Path, postgres_shared_catalog_url: str) -> Iterator[LocalRegistry]:
        reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), postgres_shared_catalog_url)
        assert reg.catalog.dialect == "postgresql"
        yield reg
        reg.close()


class TestPostgresTenancy(TenancyContract):
    """The shared-server rules on a PostgreSQL catalog (look-alike folders, ownership, possession)."""

    __test__ = True

    @pytest.fixture
    def tenants(self, tmp_path: Path, postgres_shared_catalog_url: str) -> Iterator[dict[str, LocalRegistry]]:
        reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), postgres_shared_catalog_url)
        yield tenant_registries(reg)
        reg.close()


class TestS3Registry(RegistryContract):
    """SQLite catalog + blobs in a fresh moto S3 bucket per test."""

    __test__ = True

    @pytest.fixture
    def registry(self, tmp_path: Path, s3_store_url: str, s3_options: dict[str, Any]) -> Iterator[LocalRegistry]:
        reg = LocalRegistry.from_urls(s3_store_url, sqlite_url(tmp_path / "catalog.sqlite"), storage_options=s3_options)
        assert reg.store.url.startswith("s3://") and not reg.store.is_local
        yield reg
        reg.close()
