"""The Registry contract suite run against the in-process registry."""

from __future__ import annotations

import pytest

from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.testing import RegistryContract


class TestLocalRegistry(RegistryContract):
    """SQLite catalog file + blobs on the local disk."""

    __test__ = True

    @pytest.fixture
    def registry(self, local_registry: LocalRegistry) -> LocalRegistry:
        return local_registry


class TestMemoryStorageRegistry(RegistryContract):
    """SQLite catalog file + blobs in fsspec ``memory://`` (unique root per test)."""

    __test__ = True

    @pytest.fixture
    def registry(self, memory_registry: LocalRegistry) -> LocalRegistry:
        return memory_registry
