"""Registries for tests: a fresh one in a folder, and one per tenant of a shared catalog."""

from __future__ import annotations

from pathlib import Path

from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.settings import get_settings
from tests.support.catalogs import copy_migrated_catalog


def make_registry(root: Path) -> LocalRegistry:
    """A fresh registry under ``root`` (``catalog.sqlite``, ``blobs/``); its catalog is a copy of the migrated one.

    Not durable (no fsync): the tests using it check behaviour, and the machine is shared.
    """
    catalog = copy_migrated_catalog(root / "catalog.sqlite")
    settings = get_settings().model_copy(update={"durable": False})
    return LocalRegistry.from_urls(str(root / "blobs"), sqlite_url(catalog), settings=settings)


def tenant_registries(registry: LocalRegistry) -> dict[str, LocalRegistry]:
    """alice writes team-a; bob writes team-b; carol writes team-c and reads team-a; root is an admin."""
    auth = AuthCatalog(registry.catalog.engine)
    for name, group in (("alice", "team-a"), ("bob", "team-b"), ("carol", "team-c")):
        auth.create_user(name, default_group=group)
    auth.create_user("root", admin=True)
    auth.add_member("team-a", "carol", write=False)
    principals = {name: auth.authenticate(auth.create_key(name)[1]) for name in ("alice", "bob", "carol", "root")}
    return {name: registry.for_principal(p) for name, p in principals.items() if p is not None}
