"""Registries: the `Registry` interface and its in-process implementation."""

from prefect_artifacts.registry.base import Registry
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.registry.offline import OfflineRegistry, SyncReport

__all__ = ["HttpRegistry", "LocalRegistry", "OfflineRegistry", "Registry", "SyncReport"]
