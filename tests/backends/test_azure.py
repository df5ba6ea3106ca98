"""Content on Azure Blob Storage: adlfs against a real Azurite on loopback.

Azurite (``azurite_server`` in tests/support/services.py; `make azurite` installs it from
npm into .node/) runs in memory for the session; each test gets a fresh container, reached
with the development account's connection string. The ContentStore and registry cases
are shared with the other object stores (tests/support/object_store_cases.py). Of the
registry contract, the classes that exercise the store run here (uploads of files and directories, deduplication,
streams and verified byte ranges, downloads and bundles, deletion and gc): the whole suite
takes about a minute per emulator, over the suite's budget; its catalog-only classes
(names, versions, search, runs, metadata…) run against local blobs elsewhere.

Presigned URLs work: adlfs signs a read-only SAS with the account key, so an embedded
registry's ``download_url`` is a URL a plain HTTP GET reads the blob from (tested below),
until it expires; it cannot write.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.testing import ContentsContract, DeleteContract, StreamContract, UploadContract
from tests.support.object_store_cases import *  # noqa: F403 - the shared cases, collected here
from tests.support.object_store_cases import payload
from tests.support.services import AzuriteServer


@pytest.fixture
def store_url(azure_store_url: str) -> str:
    return azure_store_url


@pytest.fixture
def store_options(azure_options: dict[str, Any]) -> dict[str, Any]:
    return azure_options


@pytest.fixture
def raw_fs(azurite_server: AzuriteServer) -> Any:
    return azurite_server.filesystem()


def test_store_url_is_abfs(registry: LocalRegistry, store_url: str) -> None:  # noqa: F405
    assert store_url.startswith("abfs://") and registry.store.url == store_url


def test_download_url_is_a_read_only_sas(registry: LocalRegistry, tmp_path: Path) -> None:  # noqa: F405
    data = payload(70_000, seed=5)
    (tmp_path / "a.bin").write_bytes(data)
    art = registry.upload_file(tmp_path / "a.bin", name="a")
    url = art.download_url
    assert url is not None and url.startswith("http://127.0.0.1:") and "sig=" in url and "sp=r" in url
    assert f"/sha256/{art.checksum[:2]}/{art.checksum}?" in url  # type: ignore[index]
    got = httpx.get(url)
    assert got.status_code == 200 and got.content == data
    # read only: the same URL cannot overwrite the blob, nor can a URL whose signature was altered read it
    refused = httpx.put(url, content=b"evil", headers={"x-ms-blob-type": "BlockBlob"})
    assert refused.status_code == 403
    assert httpx.get(url.replace("sig=", "sig=A")).status_code == 403
    assert registry.get("a").open().read() == data


class TestAzureRegistry(UploadContract, StreamContract, ContentsContract, DeleteContract):
    """The store's part of the registry contract: SQLite catalog + blobs in a fresh Azurite container per test."""

    __test__ = True

    @pytest.fixture
    def registry(self, catalog_path: Path, azure_store_url: str,
                 azure_options: dict[str, Any]) -> Iterator[LocalRegistry]:
        reg = LocalRegistry.from_urls(azure_store_url, sqlite_url(catalog_path), storage_options=azure_options)
        assert reg.store.is_object_store
        yield reg
        reg.close()
