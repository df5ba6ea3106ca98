"""Registries: the `Registry` interface and its in-process implementation.

Each name is imported on first use: the embedded registry never needs httpx (the HTTP
client), and a CLI command pays only for the registry it opens.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect_artifacts.registry.base import Registry
    from prefect_artifacts.registry.http import HttpRegistry
    from prefect_artifacts.registry.local import LocalRegistry
    from prefect_artifacts.registry.offline import OfflineRegistry, SyncReport

_LAZY = {
    "Registry": "prefect_artifacts.registry.base",
    "HttpRegistry": "prefect_artifacts.registry.http",
    "LocalRegistry": "prefect_artifacts.registry.local",
    "OfflineRegistry": "prefect_artifacts.registry.offline",
    "SyncReport": "prefect_artifacts.registry.offline",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'prefect_artifacts.registry' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = ["HttpRegistry", "LocalRegistry", "OfflineRegistry", "Registry", "SyncReport"]
