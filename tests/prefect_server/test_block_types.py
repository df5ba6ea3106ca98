"""The package's block types register themselves on a fresh server (``prefect.collections`` entry point)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from tests.support.prefect_server import PrefectServer

pytestmark = pytest.mark.slow


def _properties(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every field of the schema and of the blocks it nests, as ``Block.field``."""
    fields = {f"{schema.get('title')}.{name}": prop for name, prop in schema.get("properties", {}).items()}
    for definition in schema.get("definitions", {}).values():
        fields.update(_properties(definition))
    return fields


@pytest.mark.parametrize(("slug", "block_class", "expected_fields"), [
    ("artifact-registry", "ArtifactRegistry", {"storage", "catalog_url", "api_url", "api_key", "offline"}),
    ("artifact-storage", "ArtifactStorage", {"basepath", "storage_options"}),
])
def test_block_type_registered_with_documented_fields_and_no_logo(
    prefect_server: PrefectServer, slug: str, block_class: str, expected_fields: set[str],
) -> None:
    from prefect_artifacts import blocks

    with httpx.Client(base_url=prefect_server.url, timeout=10) as http:
        response = http.get(f"/block_types/slug/{slug}")
        assert response.status_code == 200, f"block type {slug!r} not registered: {response.text}"
        block_type = response.json()
        schemas = http.post("/block_schemas/filter", json={
            "block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}, "limit": 10,
        })
        assert schemas.status_code == 200, schemas.text
    assert block_type["logo_url"] is None, "a logo URL needs internet access to show"
    assert block_type["documentation_url"] and block_type["description"]
    assert schemas.json(), f"block type {slug!r} has no schema"
    latest = schemas.json()[0]  # newest first
    checksum = getattr(blocks, block_class)._calculate_schema_checksum()
    assert latest["checksum"] == checksum, "the server registered another version of the block"
    fields = latest["fields"]
    assert set(fields["properties"]) == expected_fields
    undocumented = {name: sorted({"title", "description"} - set(prop))
                    for name, prop in _properties(fields).items() if not {"title", "description"} <= set(prop)}
    assert undocumented == {}, f"fields without a title or description: {undocumented}"
