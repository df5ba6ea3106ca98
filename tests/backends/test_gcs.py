"""Content on Google Cloud Storage: gcsfs against a real ``gcp-storage-emulator`` on loopback.

The emulator (``gcs_server`` in tests/support/services.py) runs in memory for the session;
each test gets a fresh bucket. The ContentStore and registry cases are shared with the
other object stores (tests/support/object_store_cases.py). Of the registry contract, the
classes that exercise the store run here (uploads of files and directories, deduplication,
streams and verified byte ranges, downloads and bundles, deletion and gc): the whole suite
takes about a minute per emulator, over the suite's budget; its catalog-only classes
(names, versions, search, runs, metadata…) run against local blobs elsewhere.

Presigned URLs: gcsfs signs with a service-account key only, so with an anonymous token
``download_url`` is None (tested below). With a key, gcsfs first trades it for an OAuth
token at the key's ``token_uri`` (Google's, unreachable here): the signing test gives its
freshly made key a ``token_uri`` on loopback that hands out a token, which the emulator
does not check; the URL is signed locally (V2, ``Expires=`` one hour on) and a plain GET
of it returns the blob. The emulator checks no signature either, so a tampered or expired
URL cannot be tested here.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.object_store_cases import *  # noqa: F403 - the shared cases, collected here
from tests.support.object_store_cases import ObjectStoreRegistryContract, payload
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


class _TokenEndpoint(BaseHTTPRequestHandler):
    """Google's OAuth token endpoint, as far as a service-account key needs it: any grant gets a token."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"access_token": "emulator-token", "expires_in": 3600, "token_type": "Bearer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def service_account_options(gcs_server: GcsEmulator) -> Iterator[dict[str, Any]]:
    """gcsfs options with a fresh service-account key whose token_uri is a loopback token endpoint."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": "test", "private_key_id": "k1", "private_key": pem,
            "client_email": "signer@test.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": f"http://127.0.0.1:{server.server_address[1]}/token"}
    yield {"endpoint_url": gcs_server.endpoint_url, "project": "test", "token": info}
    server.shutdown()
    server.server_close()


def test_download_url_signed_with_a_service_account_key(service_account_options: dict[str, Any],
                                                        gcs_store_url: str, catalog_path: Path,
                                                        tmp_path: Path) -> None:
    reg = LocalRegistry.from_urls(gcs_store_url, sqlite_url(catalog_path), storage_options=service_account_options)
    try:
        data = payload(70_000, seed=9)
        (tmp_path / "a.bin").write_bytes(data)
        art = reg.upload_file(tmp_path / "a.bin", name="a")
        url = art.download_url
        assert url is not None and url.startswith(f"{service_account_options['endpoint_url']}/")
        parts = urlsplit(url)
        assert parts.path.endswith(f"/artifacts/sha256/{art.checksum[:2]}/{art.checksum}")  # type: ignore[index]
        query = parse_qs(parts.query)
        assert query["GoogleAccessId"] == ["signer@test.iam.gserviceaccount.com"] and query["Signature"][0]
        assert 3500 < int(query["Expires"][0]) - time.time() <= 3600  # one hour
        got = httpx.get(url)
        assert got.status_code == 200 and got.content == data
    finally:
        reg.close()


class TestGcsRegistry(ObjectStoreRegistryContract):
    """The store's part of the registry contract, blobs in a fresh emulated GCS bucket per test."""

    __test__ = True
