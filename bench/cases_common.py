"""Helpers shared by the `cases_*.py` plugins (not a plugin itself).

Every plugin is loaded by ``../shared/bench/peers.py --plugin``; it runs inside a
worker process whose current directory is the measurement's private ``ctx.work``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def open_registry(ctx: Any, *, durable: bool = True, digest_cache: bool = True, home: str = "pa-home") -> Any:
    """An embedded `LocalRegistry` (SQLite catalog + local blobs) under ``ctx.work``.

    ``durable`` is the library's default (blobs fsynced, SQLite ``synchronous=FULL``);
    ``durable=False`` matches floors that do not fsync.
    """
    import prefect_artifacts
    from prefect_artifacts.registry.local import LocalRegistry
    from prefect_artifacts.settings import ArtifactSettings

    settings = ArtifactSettings(home=Path(ctx.work) / home, durable=durable, digest_cache=digest_cache)
    reg = LocalRegistry.from_urls(settings=settings)
    ctx.extra["prefect_artifacts_version"] = getattr(prefect_artifacts, "__version__", "?")
    ctx.extra["durable"] = durable
    ctx.extra["digest_cache"] = digest_cache
    return reg


def store_usage(reg: Any) -> tuple[int, int]:
    """(number of blobs, bytes) in the registry's content store, temp files included, chunk indexes not."""
    n = size = 0
    root = reg.store.root
    for dirpath, _dirs, files in os.walk(root):
        for fn in files:
            if fn.endswith(".chunks"):  # a blob's chunk index sidecar (32 bytes per MiB)
                continue
            n += 1
            size += os.stat(os.path.join(dirpath, fn)).st_size
    return n, size


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(8 * MIB):
            h.update(chunk)
    return h.hexdigest()
