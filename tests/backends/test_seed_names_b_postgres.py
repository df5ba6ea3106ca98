"""Seeds 002/003 on PostgreSQL: migration 0009, the schema registry, ``schema:`` search, aspect policies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from prefect_artifacts.catalog.engine import _alembic_config, create_catalog_engine, migrate
from prefect_artifacts.errors import ArtifactConflict, InvalidArtifactInput, MetadataValidationError
from prefect_artifacts.models import GROUP_URN_PREFIX, SerializerRef
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.registries import tenant_registries

URN = "urn:example:schema:rows:1"


def test_migration_0009_creates_and_drops_the_schema_registry(postgres_url: str) -> None:
    engine = create_catalog_engine(postgres_url)
    try:
        migrate(engine, "0009")
        columns = {c["name"] for c in inspect(engine).get_columns("aspect_schemas")}
        assert columns == {"urn", "schema", "digest", "created"}
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "0008")
        assert "aspect_schemas" not in inspect(engine).get_table_names()
        migrate(engine)
        assert "aspect_schemas" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


@pytest.fixture
def tenants(tmp_path: Path, postgres_catalog_url: str) -> Iterator[dict[str, LocalRegistry]]:
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), postgres_catalog_url)
    assert reg.catalog.dialect == "postgresql"
    yield tenant_registries(reg)
    reg.close()


def test_schemas_search_and_policies(tenants: dict[str, LocalRegistry], tmp_path: Path) -> None:
    alice, carol, root = tenants["alice"], tenants["carol"], tenants["root"]
    (tmp_path / "a.json").write_text('{"a": 1}')
    art = alice.upload_file(tmp_path / "a.json", name="a", folder="/team-a")
    other = alice.upload_file(tmp_path / "a.json", name="b", folder="/team-a")
    assert alice.register_schema(URN, {"type": "object", "required": ["rows"]}).urn == URN
    with pytest.raises(ArtifactConflict):
        alice.register_schema(URN, {"type": "object"})
    with pytest.raises(MetadataValidationError):
        alice.add_metadata(art.id, {"$schema": URN})
    alice.add_metadata(art.id, {"rows": 2, "$schema": URN})
    alice.add_metadata(art.id, {"k": "team-a only"}, policy=GROUP_URN_PREFIX + "team-a")
    alice.add_metadata(other.id, {"k": "label"}, policy="urn:other:policy:1")  # a label: not enforced
    assert [a.id for a in carol.list(search=f"schema:{URN}").data] == [art.id]  # carol reads team-a
    assert carol.count("schema:urn:example:*") == 1 and carol.count("schema:urn:nothing:*") == 0
    assert carol.count('meta.k:"team-a only"') == 1 and carol.count("meta.k:label") == 1
    assert [a.schema_name for a in carol.list_aspects(art.id, schema="urn:example:*")] == [URN]
    with pytest.raises(InvalidArtifactInput):
        alice.add_metadata(art.id, {"k": 1}, policy=GROUP_URN_PREFIX + "bad group")
    # An admin (reads every group) writes an aspect kept to team-c: team-a's alice sees neither it nor its content.
    root.add_metadata(art.id, {"k": "team-c only"}, policy=GROUP_URN_PREFIX + "team-c")
    assert [a.content["k"] for a in carol.get_metadata(art.id) if "k" in a.content] == ["team-a only",
                                                                                          "team-c only"]
    assert "team-c only" not in [a.content.get("k") for a in alice.get_metadata(art.id)]
    assert alice.count('meta.k:"team-c only"') == 0 and carol.count('meta.k:"team-c only"') == 1
    assert alice.get(art.id).status == "ready" and alice.update(art.id, labels=["corrupt"]).status == "error"
    assert alice.get(art.id).etag == root.get(art.id).etag


def test_reference_pinned_to_a_snapshot(tenants: dict[str, LocalRegistry], tmp_path: Path) -> None:
    alice = tenants["alice"]
    pinned = alice.save_object({"x": 0}, name="pin", folder="/team-a")
    assert pinned.serializer is not None
    (tmp_path / "o.json").write_text('{"x": 1}')
    art = alice.add_reference((tmp_path / "o.json").as_uri(), name="o", folder="/team-a",
                              serializer=SerializerRef(**pinned.serializer.model_dump()),
                              runs=[("5f0c6a4e-0000-4000-8000-0000000000c3", "output")])
    assert alice.load_object(art.id) == {"x": 1}
    assert [a.id for a in alice.run_artifacts("5f0c6a4e-0000-4000-8000-0000000000c3")] == [art.id]
