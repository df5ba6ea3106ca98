"""Seed 003 (IVCAP's ``Artifact``, aspects and schemas): every public name, one test per README row.

Each test runs on the embedded and the HTTP registry (`world`, see `_world_b`); `ROWS`
maps each seed name of the README table to its test, and
`test_the_readme_table_has_a_test_per_row` keeps the two in step.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest

from prefect_artifacts.catalog.auth import QUARANTINE_LABELS, AuthCatalog
from prefect_artifacts.errors import (
    ArtifactConflict,
    ArtifactNotFound,
    InvalidArtifactInput,
    MetadataValidationError,
    OfflineError,
    PermissionDenied,
)
from prefect_artifacts.models import ERROR_LABELS, GROUP_URN_PREFIX, Artifact, AspectSchema
from prefect_artifacts.registry.base import Registry
from tests.seeds._world_b import World, seeds_b_server_fixture, world_fixture  # noqa: F401 - fixtures
from tests.support.seed_tables import seed_names

CONTENT = b"lat,lon\n1,2\n"
ROWS_URN = "urn:example:schema:rows:1"
ROWS_SCHEMA = {"type": "object", "required": ["rows"], "properties": {"rows": {"type": "integer", "minimum": 0}}}


def _art(reg: Registry, tmp_path: Path, name: str = "my-data", content: bytes = CONTENT) -> Artifact:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(content)
    return reg.upload_file(path, name=name, folder="/team-a")


def test_id(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    assert world.reg().get(art.id).id == art.id and len(art.id) == 36


def test_urn(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    assert art.urn == f"urn:prefect-artifacts:artifact:{art.id}"
    assert world.reg().get(art.urn).id == art.id


def test_name(world: World, tmp_path: Path) -> None:
    assert _art(world.reg(), tmp_path, name="my-data").name == "my-data"


def test_mime_type(world: World, tmp_path: Path) -> None:
    assert _art(world.reg(), tmp_path).mime_type == "text/csv"


def test_size(world: World, tmp_path: Path) -> None:
    assert _art(world.reg(), tmp_path).size == len(CONTENT)


def test_status(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    assert art.status == "ready"
    assert world.reg().update(art.id, labels=["corrupt"]).status == "error"  # what verification labels
    assert world.reg().update(art.id, labels=[]).status == "ready"
    assert ERROR_LABELS == QUARANTINE_LABELS  # error is what the catalog quarantines


def test_status_pending_offline(tmp_path: Path) -> None:
    """An artifact in an offline registry's outbox is pending until it is pushed."""
    from prefect_artifacts.registry.http import HttpRegistry
    from prefect_artifacts.registry.offline import OfflineRegistry
    from tests.support.registries import make_registry

    outbox = make_registry(tmp_path / "outbox")
    reg = OfflineRegistry(HttpRegistry("http://127.0.0.1:9/api/v1"), mode=True, outbox=outbox)
    try:
        art = _art(reg, tmp_path)
        assert art.status == "pending" and reg.get(art.id).status == "pending"
        assert [a.status for a in reg.list().data] == ["pending"]
        reg.attach(art.id, "5f0c6a4e-0000-4000-8000-0000000000d4", "output")
        assert [a.status for a in reg.run_artifacts("5f0c6a4e-0000-4000-8000-0000000000d4")] == ["pending"]
        with pytest.raises(OfflineError, match="needs the server"):  # schemas live on the server
            reg.register_schema(ROWS_URN, ROWS_SCHEMA)
    finally:
        reg.close()


def test_created_at(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    assert isinstance(art.created, datetime) and art.created.tzinfo is not None


def test_last_modified_at(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    assert art.modified == art.created
    world.reg().add_metadata(art.id, {"rows": 1})
    assert world.reg().get(art.id).modified > art.created


def test_etag(world: World, tmp_path: Path) -> None:
    reg = world.reg()
    art = _art(reg, tmp_path)
    assert len(art.etag) == 32 and reg.get(art.id).etag == art.etag  # stable
    reg.add_metadata(art.id, {"rows": 1})
    changed = reg.get(art.id).etag
    assert changed != art.etag
    assert world.reg("bob").get(art.id).etag == changed  # the same through every reader
    if world.server is not None:  # HTTP: the ETag header and a conditional GET
        first = world.http("GET", f"/artifacts/{art.id}")
        assert first.headers["etag"] == f'"{changed}"' and first.json()["etag"] == changed
        again = world.http("GET", f"/artifacts/{art.id}", headers={"If-None-Match": f'"{changed}"'})
        assert again.status_code == 304 and again.content == b""
        stale = world.http("GET", f"/artifacts/{art.id}", headers={"If-None-Match": f'"{art.etag}"'})
        assert stale.status_code == 200
        assert world.http("GET", "/resolve", params={"ref": "/team-a/my-data:1"},
                          headers={"If-None-Match": f'W/"{changed}"'}).status_code == 304


def test_artifact_read(world: World, tmp_path: Path) -> None:
    """``artifact_read`` (what refresh() calls): ``GET /artifacts/{id}``, or `Registry.get`."""
    art = _art(world.reg(), tmp_path)
    assert world.reg().get(art.id).model_dump() == art.model_dump()
    if world.server is not None:
        body = world.http("GET", f"/artifacts/{art.id}").json()
        assert (body["id"], body["status"], body["mimeType"]) == (art.id, "ready", "text/csv")


def test_data_href(world: World, tmp_path: Path) -> None:
    """IVCAP's hidden ``data-href`` (where the bytes are fetched): `Artifact.download_url`."""
    art = _art(world.reg(), tmp_path)
    assert art.download_url
    if world.server is not None:
        assert world.http("GET", art.download_url.removeprefix(world.server.url)).content == CONTENT


def test_policy(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    assert art.policy == GROUP_URN_PREFIX + "team-a"
    world.reg().add_metadata(art.id, {"secret": 1}, policy=art.policy)  # keeps an aspect to the owning group
    assert [a.policy for a in world.reg().get_metadata(art.id)] == [art.policy]


def test_account(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    assert art.account == "urn:prefect-artifacts:group:team-a"
    assert world.reg("bob").upload_file(tmp_path / "my-data.csv", name="b", folder="/team-b").account.endswith(
        ":team-b")


def test_refresh(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    world.reg().update(art.id, description="fresh")
    assert art.description is None and art.refresh().description == "fresh"


def test_open(world: World, tmp_path: Path) -> None:
    with _art(world.reg(), tmp_path).open() as f:
        assert isinstance(f, io.BytesIO) and f.read() == CONTENT


def test_as_stream(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    assert b"".join(art.as_stream()) == CONTENT
    assert [len(c) for c in art.as_stream(chunk_size=5)] == [5, 5, 2]


def test_as_local_file(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    with art.as_local_file() as path:
        assert path.read_bytes() == CONTENT
    assert not path.exists()  # deleted on leaving the block
    kept = art.as_local_file(tmp_path / "out" / "kept.csv", chunk_size=4)
    assert kept.read_bytes() == CONTENT and kept.exists()


def test_metadata(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    art.add_metadata({"rows": 1})
    assert [a.content for a in art.metadata] == [{"rows": 1}]


def test_add_metadata(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    assert art.add_metadata({"rows": 2}, schema={"type": "object"}) is art  # chaining
    art.add_metadata({"rows": 3, "$schema": {"type": "object", "required": ["rows"]}})
    with pytest.raises(MetadataValidationError, match="required"):
        art.add_metadata({"$schema": {"type": "object", "required": ["rows"]}})
    art.add_metadata({"n": 1}, policy=GROUP_URN_PREFIX + "team-a")
    with pytest.raises(InvalidArtifactInput, match="names no valid group"):
        art.add_metadata({"n": 1}, policy=GROUP_URN_PREFIX + "no such/group")
    art.add_metadata({"n": 2}, policy="urn:ivcap:policy:123")  # no group: a label, not enforced
    assert [a.policy for a in art.metadata][-2:] == [GROUP_URN_PREFIX + "team-a", "urn:ivcap:policy:123"]


def test_repr(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    assert f"id='{art.id}'" in repr(art) and "status='ready'" in repr(art)


def test_upload_artifact(world: World, tmp_path: Path) -> None:
    path = tmp_path / "file.csv"
    path.write_bytes(CONTENT)
    art = world.reg().upload_file(path, name="my-data", folder="/team-a")
    assert (art.name, art.size, art.kind.value) == ("my-data", len(CONTENT), "file")


def test_get_artifact(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    assert world.reg().get(art.urn).id == art.id
    with pytest.raises(ArtifactNotFound):
        world.reg("carol").get(art.urn)  # another group's artifact is not found


def test_list_aspects(world: World, tmp_path: Path) -> None:
    reg = world.reg()
    art = _art(reg, tmp_path)
    reg.register_schema(ROWS_URN, ROWS_SCHEMA)
    reg.add_metadata(art.id, {"rows": 1}, schema=ROWS_URN)
    reg.add_metadata(art.id, {"kind": "map"}, schema="urn:example:schema:other:1")
    reg.add_metadata(art.id, {"free": True})
    assert [a.content for a in reg.list_aspects(art.id, schema=ROWS_URN)] == [{"rows": 1}]
    assert len(reg.list_aspects(art.id, schema="urn:example:schema:*")) == 2
    assert len(reg.list_aspects(art.id)) == 3
    if world.server is not None:
        listed = world.http("GET", f"/artifacts/{art.id}/aspects", params={"schema": "urn:example:*:other:*"}).json()
        assert [a["schemaName"] for a in listed] == ["urn:example:schema:other:1"]


def test_add_aspect(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    aspect = world.reg().add_metadata(art.id, {"rows": 1}, schema="urn:example:schema:free", policy=None)
    assert (aspect.schema_name, aspect.content, aspect.policy) == ("urn:example:schema:free", {"rows": 1}, None)
    with pytest.raises(PermissionDenied):
        world.reg("bob").add_metadata(art.id, {"rows": 1})  # bob only reads team-a


def test_schema_registry(world: World, tmp_path: Path) -> None:
    """``$schema`` as a URN: resolved through the schema registry in the catalog, and enforced."""
    reg = world.reg()
    art = _art(reg, tmp_path)
    registered = reg.register_schema(ROWS_URN, ROWS_SCHEMA)
    assert isinstance(registered, AspectSchema) and registered.json_schema == ROWS_SCHEMA
    assert reg.register_schema(ROWS_URN, dict(ROWS_SCHEMA)).digest == registered.digest  # idempotent
    with pytest.raises(ArtifactConflict, match="never changes"):
        reg.register_schema(ROWS_URN, {"type": "object"})
    assert world.reg("carol").get_schema(ROWS_URN).digest == registered.digest  # every caller reads schemas
    if world.server is not None:  # REST: 201 when registered, 200 when it was already
        again = world.http("POST", "/schemas", json={"urn": ROWS_URN, "schema": ROWS_SCHEMA})
        assert again.status_code == 200 and again.json()["digest"] == registered.digest
        new = world.http("POST", "/schemas", json={"urn": "urn:example:schema:new", "schema": {"type": "array"}})
        assert new.status_code == 201 and new.json()["schema"] == {"type": "array"}
        conflict = world.http("POST", "/schemas", json={"urn": ROWS_URN, "schema": {}})
        assert conflict.status_code == 409 and conflict.json()["error"] == "ArtifactConflict"
        assert world.http("GET", f"/schemas/{ROWS_URN}").json()["urn"] == ROWS_URN
        assert world.http("GET", "/schemas/urn:example:schema:none").status_code == 404
    assert ROWS_URN in [s.urn for s in reg.list_schemas("urn:example:")] and reg.list_schemas("urn:none") == []
    reg.add_metadata(art.id, {"$schema": ROWS_URN, "rows": 4})
    with pytest.raises(MetadataValidationError, match="rows"):
        reg.add_metadata(art.id, {"$schema": ROWS_URN, "rows": -1})
    with pytest.raises(MetadataValidationError, match="required"):
        reg.add_metadata(art.id, {"other": 1}, schema=ROWS_URN)
    with pytest.raises(MetadataValidationError, match="required"):  # uploads validate their metadata too
        reg.upload_file(tmp_path / "my-data.csv", name="bad", folder="/team-a", metadata={"$schema": ROWS_URN})
    with pytest.raises(ArtifactNotFound):
        reg.get_schema("urn:example:schema:missing")
    odd = "urn:example:a/b?c=1#d%20e"  # '/', '?', '#' and '%' travel in the REST path
    assert reg.get_schema(reg.register_schema(odd, {"type": "object"}).urn).urn == odd


@pytest.mark.parametrize(("urn", "schema", "error"), [
    ("not a urn", {"type": "object"}, InvalidArtifactInput),
    ("urn:x", {"type": "object"}, InvalidArtifactInput),
    ("urn:example:" + "a" * 300, {"type": "object"}, InvalidArtifactInput),
    ("urn:example:bad-pattern", {"type": "string", "pattern": "(a+)+(?=b)"}, MetadataValidationError),
    ("urn:example:outside", {"$ref": "https://example.com/s.json"}, MetadataValidationError),
    ("urn:example:invalid", {"type": 12}, MetadataValidationError),
    ("urn:example:huge", {"enum": ["x" * 1024] * 1100}, MetadataValidationError),
])
def test_schema_registry_refuses_hostile_input(world: World, urn: str, schema: dict[str, object],
                                               error: type[Exception]) -> None:
    with pytest.raises(error):
        world.reg().register_schema(urn, schema)
    assert world.reg().list_schemas() == []


def test_register_schema_needs_write_access(world: World) -> None:
    auth = AuthCatalog(world.server_registry.catalog.engine)
    auth.create_user("reader", default_group="team-r")
    auth.remove_member("team-r", "reader")
    auth.add_member("team-a", "reader", write=False)
    world.keys["reader"] = auth.create_key("reader")[1]
    with pytest.raises(PermissionDenied, match="may not register schemas"):
        world.reg("reader").register_schema("urn:example:schema:by-reader", {"type": "object"})
    world.reg().register_schema("urn:example:schema:by-alice", {"type": "object"})
    assert world.reg("reader").get_schema("urn:example:schema:by-alice").json_schema == {"type": "object"}


def test_schema_search(world: World, tmp_path: Path) -> None:
    reg = world.reg()
    tagged, plain = _art(reg, tmp_path, "tagged"), _art(reg, tmp_path, "plain")
    reg.register_schema(ROWS_URN, ROWS_SCHEMA)
    reg.add_metadata(tagged.id, {"rows": 1}, schema=ROWS_URN)
    assert [a.id for a in reg.list(search=f"schema:{ROWS_URN}").data] == [tagged.id]
    assert [a.id for a in reg.list(search="schema:urn:example:*").data] == [tagged.id]
    assert [a.id for a in reg.list(search=f"-schema:{ROWS_URN}").data] == [plain.id]
    assert reg.count("schema:urn:other:*") == 0


def test_aspect_policy(world: World, tmp_path: Path) -> None:
    """An aspect's policy names the group whose members read it; others see neither it nor its content in search."""
    alice, bob = world.reg("alice"), world.reg("bob")
    art = _art(alice, tmp_path)
    alice.add_metadata(art.id, {"open": 1})
    alice.add_metadata(art.id, {"secret": 7}, schema="urn:example:secret", policy=GROUP_URN_PREFIX + "team-a")
    assert len(bob.get_metadata(art.id)) == 2  # bob reads team-a
    with pytest.raises(PermissionDenied, match="not a member of group 'team-c'"):
        alice.add_metadata(art.id, {"x": 1}, policy=GROUP_URN_PREFIX + "team-c")
    AuthCatalog(world.server_registry.catalog.engine).add_member("team-a", "carol", write=True)
    carol = world.reg("carol")  # opened after joining team-a
    carol.add_metadata(art.id, {"c-only": 1}, schema="urn:example:c", policy=GROUP_URN_PREFIX + "team-c")
    assert [a.content for a in alice.get_metadata(art.id)] == [{"open": 1}, {"secret": 7}]
    assert [a.content for a in carol.get_metadata(art.id)] == [{"open": 1}, {"secret": 7}, {"c-only": 1}]
    assert alice.list_aspects(art.id, schema="urn:example:c") == []
    assert alice.count("meta.c-only:1") == 0 and carol.count("meta.c-only:1") == 1
    assert alice.count("schema:urn:example:c") == 0 and carol.count("schema:urn:example:c") == 1
    assert alice.count("schema:urn:example:secret") == 1


ROWS = {
    "Artifact.id": test_id,
    "urn": test_urn,
    "name": test_name,
    "mime_type": test_mime_type,
    "size": test_size,
    "status": test_status,
    "ArtifactStatusRTStatus": test_status_pending_offline,
    "created_at": test_created_at,
    "last_modified_at": test_last_modified_at,
    "etag": test_etag,
    "policy": test_policy,
    "account": test_account,
    "refresh()": test_refresh,
    "artifact_read": test_artifact_read,
    "open()": test_open,
    "ProxyFile": test_open,
    "CMPath": test_as_local_file,
    "data-href": test_data_href,
    "as_stream(chunk_size=-1)": test_as_stream,
    "as_local_file(path=None, chunk_size=-1)": test_as_local_file,
    "metadata": test_metadata,
    "add_metadata(aspect, schema=None, policy=None)": test_add_metadata,
    "__repr__": test_repr,
    "upload_artifact(name, file_path)": test_upload_artifact,
    "get_artifact(urn)": test_get_artifact,
    "list_aspects(entity, schema)": test_list_aspects,
    "add_aspect(entity, aspect, schema, policy)": test_add_aspect,
    "$schema": test_schema_registry,
    "schema:": test_schema_search,
    "policy (aspect)": test_aspect_policy,
}


def test_the_readme_table_has_a_test_per_row() -> None:
    names = seed_names("From IVCAP")
    assert names, "the README has no table under '### From IVCAP'"
    assert sorted(set(names) - set(ROWS)) == [], "README rows without a test"
    assert sorted(set(ROWS) - set(names)) == [], "tests of names the README table does not list"
