"""Seed 000 (Simvue's ``FileArtifact``): every public name of the seed, one test per README row.

Each test runs on the embedded and the HTTP registry (`seed_registry`); `ROWS` maps each
seed name of the README table to its test, and `test_the_readme_table_has_a_test_per_row`
keeps the two in step.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import urllib.request
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from prefect_artifacts.catalog.sql import SqlCatalog
from prefect_artifacts.errors import ArtifactNotFound, InvalidArtifactInput, InvalidName, InvalidOperation
from prefect_artifacts.models import Artifact, RunCategory, RunLink
from prefect_artifacts.registry.base import Registry
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.registry.offline import OfflineRegistry
from prefect_artifacts.storage.content_store import ContentStore
from tests.support.seed_tables import seed_names

RUN = "5f0c6a4e-0000-4000-8000-0000000000a0"
OTHER_RUN = "5f0c6a4e-0000-4000-8000-0000000000a1"
CONTENT = b"x,y\n1,2\n"


def _file(tmp_path: Path, name: str = "data.csv", content: bytes = CONTENT) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _art(reg: Registry, tmp_path: Path, name: str = "data", content: bytes = CONTENT) -> Artifact:
    return reg.upload_file(_file(tmp_path, f"{name}.csv", content), name=name, folder="/seeds")


def test_constructor_identifier(seed_registry: Registry, tmp_path: Path) -> None:
    art = _art(seed_registry, tmp_path)
    for identifier in (art.id, art.urn, "/seeds/data:1", "data:latest"):
        assert seed_registry.get(identifier).id == art.id
    with pytest.raises(ArtifactNotFound):
        seed_registry.get("/seeds/missing")


def test_new(seed_registry: Registry, tmp_path: Path) -> None:
    art = seed_registry.upload_file(_file(tmp_path), name="new-data", folder="/seeds", storage="default",
                                    mime_type="text/csv", metadata={"rows": 1})
    assert (art.name, art.mime_type, art.storage_id, art.uploaded) == ("new-data", "text/csv", "default", True)
    assert [a.content for a in art.metadata] == [{"rows": 1}]
    with pytest.raises(InvalidArtifactInput, match="storage 'archive'.*'default'"):
        seed_registry.upload_file(_file(tmp_path), name="elsewhere", folder="/seeds", storage="archive")
    with pytest.raises(InvalidName):
        seed_registry.upload_file(_file(tmp_path), name="bad|name", folder="/seeds")


def test_new_offline(seed_registry: Registry, tmp_path: Path) -> None:
    if not isinstance(seed_registry, HttpRegistry):
        pytest.skip("offline=True is a registry with a server and an outbox (the embedded one is local already)")
    offline = OfflineRegistry(seed_registry, mode=True)
    art = offline.upload_file(_file(tmp_path), name="offline-data", folder="/seeds")
    assert offline.is_offline(art.id) and art.uploaded is False and art.url is None
    report = offline.push_outbox()
    synced = seed_registry.get(report.mapping[art.id])
    assert synced.uploaded is True and synced.url is not None
    assert art.on_reconnect(report.mapping).id == synced.id
    offline.close()


def test_attach_to_run(seed_registry: Registry, tmp_path: Path) -> None:
    art = _art(seed_registry, tmp_path)
    link = art.attach_to_run(RUN, "input")
    assert (link.run_id, link.category) == (RUN, RunCategory.INPUT)
    assert [(r.run_id, r.category) for r in seed_registry.get(art.id).runs] == [(RUN, RunCategory.INPUT)]
    with pytest.raises(InvalidArtifactInput, match="category"):
        art.attach_to_run(RUN, "inputs")


def test_commit(seed_registry: Registry, tmp_path: Path) -> None:
    art = _art(seed_registry, tmp_path).read_only(False)
    art.description = "cleaned"
    art.commit()
    assert seed_registry.get(art.id).description == "cleaned" and art.staged == {}


def test_count(seed_registry: Registry, tmp_path: Path) -> None:
    _art(seed_registry, tmp_path, "a")
    _art(seed_registry, tmp_path, "b")
    assert seed_registry.count() == 2 and seed_registry.count("name:a") == 1


def test_delete(seed_registry: Registry, tmp_path: Path) -> None:
    art = _art(seed_registry, tmp_path)
    art.delete()
    with pytest.raises(ArtifactNotFound):
        seed_registry.get(art.id)


def test_download_content(seed_registry: Registry, tmp_path: Path) -> None:
    assert b"".join(_art(seed_registry, tmp_path).download_content()) == CONTENT


def test_get_count_offset(seed_registry: Registry, tmp_path: Path) -> None:
    ids = [_art(seed_registry, tmp_path, name).id for name in ("a", "b", "c")]
    page = seed_registry.list(index=1, page_length=1)
    assert [a.id for a in page.data] == ids[1:2] and page.total == 3
    assert [a.id for a in seed_registry.iter(page_length=2)] == ids


def test_get_category(seed_registry: Registry, tmp_path: Path) -> None:
    raw, report = _art(seed_registry, tmp_path, "raw"), _art(seed_registry, tmp_path, "report")
    raw.attach_to_run(RUN, "input")
    report.attach_to_run(RUN, "output")
    raw.attach_to_run(OTHER_RUN, "code")
    seen = {a.name: a.get_category() for a in seed_registry.run_artifacts(RUN)}
    assert seen == {"raw": RunCategory.INPUT, "report": RunCategory.OUTPUT}
    assert [a.get_category() for a in seed_registry.run_artifacts(OTHER_RUN)] == [RunCategory.CODE]
    fetched = seed_registry.get(raw.id)
    assert fetched.get_category(OTHER_RUN) == RunCategory.CODE
    with pytest.raises(InvalidOperation, match="not read through a flow run"):
        fetched.get_category()
    with pytest.raises(InvalidOperation, match="not associated"):
        report.get_category(OTHER_RUN)


def test_ids(seed_registry: Registry, tmp_path: Path) -> None:
    ids = [_art(seed_registry, tmp_path, name).id for name in ("a", "b", "c")]
    assert seed_registry.ids() == ids and seed_registry.ids(count=1, offset=1) == ids[1:2]


def test_on_reconnect(seed_registry: Registry, tmp_path: Path) -> None:
    first, second = _art(seed_registry, tmp_path, "a"), _art(seed_registry, tmp_path, "b")
    assert first.on_reconnect({}).id == first.id  # an id the mapping does not hold: unchanged
    assert first.on_reconnect({first.id: second.id}).name == "b"


def test_read_only(seed_registry: Registry, tmp_path: Path) -> None:
    art = _art(seed_registry, tmp_path)
    with pytest.raises(InvalidOperation, match="read-only"):
        art.description = "x"
    art.read_only(is_read_only=False).description = "x"
    assert art.staged == {"description": "x"}
    art.read_only(True)
    assert art.is_read_only


def test_refresh(seed_registry: Registry, tmp_path: Path) -> None:
    art = _art(seed_registry, tmp_path)
    seed_registry.update(art.id, description="changed elsewhere")
    assert art.description is None and art.refresh().description == "changed elsewhere"


def test_to_dict(seed_registry: Registry, tmp_path: Path) -> None:
    data = json.loads(json.dumps(_art(seed_registry, tmp_path).to_dict()))
    assert data["name"] == "data" and data["files"][0]["path"] == "data.csv" and data["size"] == len(CONTENT)


@pytest.mark.parametrize("prop", ["checksum", "created", "id", "mime_type", "name", "original_path", "size"])
def test_properties(seed_registry: Registry, tmp_path: Path, prop: str) -> None:
    art = _art(seed_registry, tmp_path)
    expected = {
        "checksum": hashlib.sha256(CONTENT).hexdigest(), "id": seed_registry.get("/seeds/data").id,
        "mime_type": "text/csv", "name": "data", "original_path": str(tmp_path / "data.csv"),
        "size": len(CONTENT),
    }
    if prop == "created":
        assert isinstance(art.created, datetime) and art.created.tzinfo is not None
    else:
        assert getattr(art, prop) == expected[prop]


def test_runs(seed_registry: Registry, tmp_path: Path) -> None:
    art = _art(seed_registry, tmp_path)
    art.attach_to_run(RUN, "output")
    runs = seed_registry.get(art.id).runs
    assert all(isinstance(r, RunLink) for r in runs) and [r.run_id for r in runs] == [RUN]


def test_staged(seed_registry: Registry, tmp_path: Path) -> None:
    art = _art(seed_registry, tmp_path).read_only(False)
    assert art.staged == {}
    art.labels = ["clean"]
    art.stage_metadata({"rows": 1})
    assert art.staged == {"labels": ["clean"], "metadata": [{"aspect": {"rows": 1}, "schema": None, "policy": None}]}


def _auth(reg: Registry) -> dict[str, str]:
    key = getattr(reg, "_api_key", None)
    return {"Authorization": f"Bearer {key}"} if key else {}


def test_url(seed_registry: Registry, tmp_path: Path) -> None:
    art = _art(seed_registry, tmp_path)
    if isinstance(seed_registry, HttpRegistry):
        assert art.url == f"{seed_registry.api_url}/artifacts/{art.id}"
        assert httpx.get(art.url, headers=_auth(seed_registry)).json()["id"] == art.id
    else:
        assert art.url is None  # the embedded registry has no server


def test_download_url(seed_registry: Registry, tmp_path: Path) -> None:
    art = _art(seed_registry, tmp_path)
    (tmp_path / "tree").mkdir()
    _file(tmp_path / "tree", "a.txt", b"a")
    tree = seed_registry.upload_dir(tmp_path / "tree", name="tree", folder="/seeds")
    url = art.download_url
    assert url is not None
    if isinstance(seed_registry, HttpRegistry):
        assert httpx.get(url, headers=_auth(seed_registry)).content == CONTENT
        bundle = httpx.get(tree.download_url or "", headers=_auth(seed_registry)).content
        with tarfile.open(fileobj=io.BytesIO(bundle)) as tar:
            assert [m.name for m in tar.getmembers() if m.isfile()] == ["a.txt"]
    else:
        assert url.startswith("file://")
        with urllib.request.urlopen(url) as response:  # noqa: S310 - a file:// URL of the test's own store
            assert response.read() == CONTENT
        assert tree.download_url is None  # one blob per file: no single URL


def test_storage_id(seed_registry: Registry, tmp_path: Path) -> None:
    art = _art(seed_registry, tmp_path)
    reference = seed_registry.add_reference(_file(tmp_path, "ref.csv").as_uri(), name="ref", folder="/seeds")
    assert reference.storage_id is None  # never stored
    assert art.storage_id == "default" == seed_registry.get(art.id).storage_id


def test_new_storage(archive_registry: Registry, tmp_path: Path) -> None:
    """``storage=`` chooses one of several configured stores; reads, ranges, bundles, gc and offline follow it."""
    reg = archive_registry
    assert reg.storage_ids == ("default", "archive")
    art = reg.upload_file(_file(tmp_path), name="archived", folder="/seeds", storage="archive")
    kept = reg.upload_file(_file(tmp_path, "other.csv", b"default store"), name="kept", folder="/seeds")
    (tmp_path / "tree").mkdir()
    _file(tmp_path / "tree", "a.txt", b"a" * 300_000)  # big enough for a PUT of its own over HTTP
    _file(tmp_path / "tree", "b.txt", b"b")
    tree = reg.upload_dir(tmp_path / "tree", name="tree", folder="/seeds", storage="archive")
    assert (art.storage_id, tree.storage_id, kept.storage_id) == ("archive", "archive", "default")
    assert reg.get(art.id).storage_id == "archive" and reg.list(search="name:archived").data[0].storage_id == "archive"
    assert b"".join(art.download_content()) == CONTENT
    assert b"".join(reg.read(art.id, start=2, end=5)) == CONTENT[2:5]
    assert b"".join(reg.read(tree.id, path="a.txt", start=299_990)) == b"a" * 10
    with art.as_local_file() as local:
        assert local.read_bytes() == CONTENT
    assert sorted(p.name for p in reg.download_dir(tree.id, tmp_path / "out").rglob("*.txt")) == ["a.txt", "b.txt"]
    with tarfile.open(fileobj=io.BytesIO(b"".join(reg.bundle(tree.id)))) as tar:
        assert sorted(m.name for m in tar.getmembers() if m.isfile()) == ["a.txt", "b.txt"]
    if isinstance(reg, HttpRegistry):
        headers = _auth(reg)
        digest = hashlib.sha256(CONTENT).hexdigest()
        found = httpx.head(f"{reg.api_url}/blobs/{digest}", params={"storage": "archive"}, headers=headers)
        assert found.status_code == 200
        refused = httpx.put(f"{reg.api_url}/blobs/{digest}", params={"storage": "nowhere"}, content=CONTENT,
                            headers=headers)
        assert refused.status_code == 400 and "unknown storage 'nowhere'" in refused.json()["message"]
        offline = OfflineRegistry(reg, mode=True)
        pending = offline.upload_file(_file(tmp_path, "late.csv", b"written offline"), name="late", folder="/seeds",
                                      storage="archive")
        synced = reg.get(offline.push_outbox().mapping[pending.id])
        assert synced.storage_id == "archive" and b"".join(synced.download_content()) == b"written offline"
        offline.close()
    else:
        assert isinstance(reg, LocalRegistry)
        digest = hashlib.sha256(CONTENT).hexdigest()
        assert reg.stores["archive"].exists(digest) and not reg.store.exists(digest)
        assert art.storage_url == reg.stores["archive"].blob_uri(digest)
        report = reg.gc(grace_seconds=0)
        assert report.blobs_deleted == 0 and b"".join(art.download_content()) == CONTENT
        art.delete()
        assert reg.gc(grace_seconds=0).blobs_deleted == 1 and not reg.stores["archive"].exists(digest)
    with pytest.raises(InvalidArtifactInput, match="unknown storage 'nowhere'"):
        reg.upload_file(_file(tmp_path), name="lost", folder="/seeds", storage="nowhere")


def test_storage_and_history_on_postgresql(postgres_catalog_url: str, tmp_path: Path) -> None:
    """The catalog's new column and table (migration 0008) on PostgreSQL: a named store, the transfer history."""
    archive = ContentStore(str(tmp_path / "archive"), durable=False)
    reg = LocalRegistry(ContentStore(str(tmp_path / "blobs"), durable=False), SqlCatalog(postgres_catalog_url),
                        stores={"archive": archive})
    try:
        art = reg.upload_file(_file(tmp_path), name="pg", folder="/seeds", storage="archive")
        reg.download(art.id, tmp_path / "copy.csv")
        got = reg.get(art.id)
        assert got.storage_id == "archive" and b"".join(got.download_content()) == CONTENT
        assert [t.action.value for t in got.remote] == ["upload", "download"]
        with pytest.raises(InvalidArtifactInput):
            reg.record_download(art.id, "nul\x00byte")  # PostgreSQL text holds no NUL: refused first
    finally:
        reg.close()


def test_storage_url(seed_registry: Registry, tmp_path: Path) -> None:
    art = _art(seed_registry, tmp_path)
    source = _file(tmp_path, "ref.csv")
    reference = seed_registry.add_reference(source.as_uri(), name="ref", folder="/seeds")
    assert reference.storage_url == source.as_uri()
    if isinstance(seed_registry, HttpRegistry):
        assert art.storage_url is None  # the server's store is not exposed
    else:
        assert art.storage_url is not None and art.storage_url.endswith(hashlib.sha256(CONTENT).hexdigest())


def test_uploaded(seed_registry: Registry, tmp_path: Path) -> None:
    assert _art(seed_registry, tmp_path).uploaded is True
    reference = seed_registry.add_reference(_file(tmp_path, "ref.csv").as_uri(), name="ref", folder="/seeds")
    assert reference.uploaded is False  # a reference is never copied


#: Every seed name of the README table → the test exercising it.
ROWS = {
    "FileArtifact(identifier)": test_constructor_identifier,
    "new(name, storage, file_path, mime_type, metadata)": test_new,
    "new(offline=True)": test_new_offline,
    "storage": test_new_storage,
    "attach_to_run(run_id, category)": test_attach_to_run,
    "commit()": test_commit,
    "count()": test_count,
    "delete()": test_delete,
    "download_content()": test_download_content,
    "get(count, offset)": test_get_count_offset,
    "get_category()": test_get_category,
    "ids(count, offset)": test_ids,
    "on_reconnect(id_mapping)": test_on_reconnect,
    "read_only(is_read_only)": test_read_only,
    "refresh()": test_refresh,
    "to_dict()": test_to_dict,
    "checksum": test_properties,
    "created": test_properties,
    "download_url": test_download_url,
    "id": test_properties,
    "mime_type": test_properties,
    "name": test_properties,
    "original_path": test_properties,
    "runs": test_runs,
    "size": test_properties,
    "staged": test_staged,
    "storage_id": test_storage_id,
    "storage_url": test_storage_url,
    "uploaded": test_uploaded,
    "url": test_url,
}


def test_the_readme_table_has_a_test_per_row() -> None:
    names = seed_names("From Simvue")
    assert names, "the README has no table under '### From Simvue'"
    assert sorted(set(names) - set(ROWS)) == [], "README rows without a test"
    assert sorted(set(ROWS) - set(names)) == [], "tests of names the README table does not list"
