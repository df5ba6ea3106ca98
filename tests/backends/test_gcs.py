"""Content on Google Cloud Storage: gcsfs against a real ``gcp-storage-emulator`` on loopback.

The emulator (``gcs_server`` in tests/support/services.py) runs in memory for the session;
each test gets a fresh bucket. The ContentStore and registry cases are shared with the
other object stores (tests/support/object_store_cases.py). Of the registry contract, the
classes that exercise the store run here (uploads of files and directories, deduplication,
streams and verified byte ranges, downloads and bundles, deletion and gc): the whole suite
takes about a minute per emulator, over the suite's budget; its catalog-only classes
(names, versions, search, runs, metadata…) run against local blobs elsewhere.

Presigned URLs do not work on this emulator, and ``download_url`` is None (tested below):
gcsfs signs with a service-account key only (an anonymous token has nothing to sign
with), and with a key gcsfs would first fetch OAuth tokens from Google, which the tests
cannot reach.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.testing import ContentsContract, DeleteContract, StreamContract, UploadContract
from tests.support.object_store_cases import *  # noqa: F403 - the shared cases, collected here
from tests.support.services import GcsEmulator


@pytest.fixture
def store_url(gcs_store_url: str) -> str:
    return gcs_store_url


@pytest.fixture
def store_options(gcs_options: dict[str, Any]) -> dict[str, Any]:
    return gcs_options


@pytest.fixture
def raw_fs(gcs_server: GcsEmulator) -> Any:
    return gcs_server.filesystem()


def test_store_url_is_gs(registry: LocalRegistry, store_url: str) -> None:  # noqa: F405
    assert store_url.startswith("gs://") and registry.store.url == store_url


def test_no_presigned_url_without_a_service_account_key(registry: LocalRegistry, tmp_path: Path) -> None:  # noqa: F405
    (tmp_path / "a.txt").write_bytes(b"gcs bytes")
    art = registry.upload_file(tmp_path / "a.txt", name="a")
    assert art.download_url is None  # an anonymous token cannot sign
    assert art.storage_url == registry.store.blob_uri(art.checksum or "")
    assert art.storage_url.startswith("gs://")


class TestGcsRegistry(UploadContract, StreamContract, ContentsContract, DeleteContract):
    """The store's part of the registry contract: SQLite catalog + blobs in a fresh emulated GCS bucket per test."""

    __test__ = True

    @pytest.fixture
    def registry(self, catalog_path: Path, gcs_store_url: str, gcs_options: dict[str, Any]) -> Iterator[LocalRegistry]:
        reg = LocalRegistry.from_urls(gcs_store_url, sqlite_url(catalog_path), storage_options=gcs_options)
        assert reg.store.is_object_store
        yield reg
        reg.close()
