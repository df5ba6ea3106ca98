"""The Registry contract suite run against the in-process registry."""

from __future__ import annotations

import pytest

from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.testing import RegistryContract, TenancyContract
from tests.support.registries import tenant_registries


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


class TestLocalTenancy(TenancyContract):
    """The shared-server rules, enforced in process by `LocalRegistry.for_principal`."""

    __test__ = True

    @pytest.fixture
    def tenants(self, local_registry: LocalRegistry) -> dict[str, LocalRegistry]:
        return tenant_registries(local_registry)


def test_reopened_registry_sees_everything(tmp_path, catalog_path) -> None:
    """Artifacts, versions, aliases, runs and metadata survive closing and reopening."""
    from prefect_artifacts.catalog.engine import sqlite_url

    def open_registry() -> LocalRegistry:
        return LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(catalog_path))

    source = tmp_path / "a.txt"
    source.write_text("persisted")
    first = open_registry()
    art = first.upload_file(source, name="a", folder="/keep", metadata={"k": 1})
    first.set_alias(art.id, "stable")
    first.attach(art.id, "run-1", "output")
    first.close()

    again = open_registry()
    try:
        got = again.get("/keep/a:stable")
        ignore = {"runs", "modified", "etag"}  # the etag covers runs and modified
        assert got.model_dump(exclude=ignore) == art.model_dump(exclude=ignore)
        assert [(r.run_id, r.category.value) for r in got.runs] == [("run-1", "output")]
        assert [a.content for a in got.metadata] == [{"k": 1}]
        assert b"".join(got.as_stream()) == b"persisted"
    finally:
        again.close()


def test_two_registries_on_the_same_catalog_share_writes(tmp_path, catalog_path) -> None:
    """Two handles (as two processes would have) see each other's artifacts at once."""
    from prefect_artifacts.catalog.engine import sqlite_url

    one = LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(catalog_path))
    two = LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(catalog_path))
    try:
        source = tmp_path / "a.txt"
        source.write_text("shared")
        one.upload_file(source, name="a")
        two.upload_file(source, name="a")
        assert [a.version for a in one.list(sort_by="version").data] == [1, 2]
        assert b"".join(two.get("a:1").as_stream()) == b"shared"
        two.delete("a:2")
        assert one.get("a").version == 1
    finally:
        one.close()
        two.close()
