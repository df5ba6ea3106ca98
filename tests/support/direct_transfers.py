"""What the direct-transfer tests share: a request counter on the server, payloads, clients.

Used by tests/server/test_direct_transfers.py (moto) and test_s3_enforcement.py (LocalStack).

Example:
    ```python
    seen: Counter[tuple[str, str, int]] = Counter()
    server.app.add_middleware(RequestCounter, seen=seen)
    with user_client(server, "alice", "team-a") as reg:
        reg.upload_file(write_bytes(tmp_path, "a.bin", blob_data(1)), name="a")
    ```
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.types import ASGIApp, Receive, Scope, Send

from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.catalog.schema import artifact_files
from prefect_artifacts.registry import http
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.settings import get_settings
from prefect_artifacts.testing._reads import StreamContract
from tests.support.catalogs import copy_migrated_catalog
from tests.support.live_server import LiveServer

#: Over the client's 256 KiB small-file path: a blob request of its own.
SIZE = 300 * 1024
#: Three parts of 5 MiB (S3, and moto and LocalStack like it, want 5 MiB but for the last).
MULTI = 11 << 20


class RequestCounter:
    """ASGI middleware counting the server's requests as (method, last path segment kind, status)."""

    def __init__(self, app: ASGIApp, seen: Counter[tuple[str, str, int]]) -> None:
        self.app, self.seen = app, seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting(message: Any) -> None:
            if message["type"] == "http.response.start":
                parts = scope["path"].split("/")
                kind = parts[-1] if parts[-1] in ("upload-url", "uploaded", "contents") else parts[-2]
                self.seen[(scope["method"], kind, message["status"])] += 1
            await send(message)

        await self.app(scope, receive, counting)


def backing_registry(root: Path, url: str, storage_options: dict[str, Any] | None, **settings: Any) -> LocalRegistry:
    """A server's registry: a fresh SQLite catalog under ``root``, blobs at ``url``, durability off, every size offered
    a presigned URL (``presign_min_bytes=0``), then ``settings``."""
    catalog = copy_migrated_catalog(root / "catalog.sqlite")
    options = get_settings().model_copy(update={"durable": False, "presign_min_bytes": 0, **settings})
    return LocalRegistry.from_urls(url, sqlite_url(catalog), storage_options=storage_options, settings=options)


def counted_server(reg: LocalRegistry, *wrap: type) -> tuple[LiveServer, Counter[tuple[str, str, int]]]:
    """A started server over ``reg`` (inside it the ``wrap`` middlewares), its requests counted by `RequestCounter`."""
    server = LiveServer(reg)
    for middleware in wrap:
        server.app.add_middleware(middleware)
    seen: Counter[tuple[str, str, int]] = Counter()
    server.app.add_middleware(RequestCounter, seen=seen)
    return server.start(), seen


def blob_data(seed: int, size: int = SIZE) -> bytes:
    """``size`` bytes that differ for every ``seed``."""
    return (hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1))[:size]


def sha_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex: its blob's digest."""
    return hashlib.sha256(data).hexdigest()


def user_client(server: LiveServer, user: str, group: str, **settings: Any) -> HttpRegistry:
    """A client of ``server`` as a new ``user`` writing to ``group`` (digest cache off, ``settings`` on top)."""
    auth = AuthCatalog(server.registry.catalog.engine)
    auth.create_user(user, default_group=group)
    _key_id, secret = auth.create_key(user)
    options = get_settings().model_copy(update={"digest_cache": False, **settings})
    return HttpRegistry(server.url, api_key=secret, settings=options)


def write_bytes(tmp_path: Path, name: str, data: bytes) -> str:
    """Write ``data`` to ``tmp_path / name``; its path as text."""
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


class DirectStreamContract(StreamContract):
    """The stream contract over a server whose blobs are in an S3 bucket, every blob sent directly.

    A subclass gives the ``bucket`` fixture: ``(s3 URL, storage_options)``. The client's
    small-blob shortcuts are off (``DIRECT_PUT``, ``INLINE_MAX``), so every blob the suite
    uploads takes a presigned PUT and every whole-file read a presigned GET; afterwards no
    artifact's file may have gone through ``PUT /blobs``. (``UploadContract`` and
    ``ContentsContract`` pass too: add them to run them; they cost ~35 s more.)
    """

    __test__ = False

    @pytest.fixture
    def registry(self, shared_server: LiveServer, tmp_path: Path, bucket: tuple[str, dict[str, Any]],
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpRegistry]:
        monkeypatch.setattr(http, "DIRECT_PUT", -1)
        monkeypatch.setattr(http, "INLINE_MAX", -1)

        proxied: list[str] = []  # plugin snapshot files (save_object) still take PUT /blobs: they are small
        receive_blob = LocalRegistry.receive_blob

        def receive(self: LocalRegistry, digest: str, storage: str | None = None) -> Any:
            proxied.append(digest)
            return receive_blob(self, digest, storage)

        monkeypatch.setattr(LocalRegistry, "receive_blob", receive)
        backing = backing_registry(tmp_path / "server", *bucket)
        server = shared_server.use(backing)
        server.auth.create_user("alice", default_group="default")
        _key_id, secret = server.auth.create_key("alice")
        reg = HttpRegistry(server.url, api_key=secret)
        yield reg
        reg.close()
        with backing.catalog.engine.connect() as conn:
            files = set(conn.scalars(select(artifact_files.c.digest)))
        assert not files & set(proxied), "an artifact's file went through PUT /blobs"
        backing.close()
