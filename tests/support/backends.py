"""Storage backends the suite installs, made to look absent (for the "install the extra" errors)."""

from __future__ import annotations

import sys

import pytest


def hide_backend(monkeypatch: pytest.MonkeyPatch, module: str, *protocols: str) -> None:
    """Make an installed fsspec backend look uninstalled for this test.

    Its module becomes unimportable and its protocols are dropped from fsspec's registry
    of loaded classes, so fsspec tries (and fails) to import it again.

    Example:
        ```python
        hide_backend(monkeypatch, "gcsfs", "gcs", "gs")
        ContentStore("gcs://bucket/x")  # MissingStorageBackend: pip install 'prefect-artifacts[gcs]'
        ```
    """
    import importlib

    loaded = importlib.import_module("fsspec.registry")._registry  # (``fsspec.registry`` is its read-only view)
    monkeypatch.setitem(sys.modules, module, None)  # type: ignore[arg-type]
    for protocol in protocols:
        monkeypatch.delitem(loaded, protocol, raising=False)
