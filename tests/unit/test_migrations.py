"""Catalog migrations: an old catalog upgrades to head keeping its data."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.catalog.engine import (
    create_catalog_engine,
    current_revision,
    head_revision,
    migrate,
    sqlite_file,
    sqlite_url,
)
from prefect_artifacts.errors import InvalidArtifactInput, MissingStorageBackend, PermissionDenied
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.storage.content_store import ContentStore
from tests.support.catalogs import build_catalog_at_0005, check_folder_owners


def test_head_revision_is_a_later_revision() -> None:
    assert head_revision() and head_revision() != "0001"


def test_fresh_catalog_is_created_at_head(tmp_path: Path) -> None:
    engine = create_catalog_engine(sqlite_url(tmp_path / "c.sqlite"))
    assert current_revision(engine) is None
    migrate(engine)
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {"artifacts", "artifact_files", "folders", "aliases", "aspects", "plugin_snapshots"} <= tables
    migrate(engine)  # idempotent
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_catalog_at_0001_upgrades_keeping_its_rows(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.sqlite")
    engine = create_catalog_engine(url)
    migrate(engine, "0001")
    assert current_revision(engine) == "0001"
    assert "plugin_snapshots" not in inspect(engine).get_table_names()

    content = b"written by version 0.0.1\n"
    digest = hashlib.sha256(content).hexdigest()
    ContentStore(str(tmp_path / "blobs")).put_bytes(content)
    art_id = "0b1c0e5e-1111-4222-8333-444455556666"
    stamp = datetime(2025, 5, 1, 8, 30)
    with engine.begin() as conn:
        for folder in ("/", "/legacy"):
            conn.execute(text("INSERT INTO folders (path, created) VALUES (:p, :c)"), {"p": folder, "c": stamp})
        conn.execute(
            text(
                "INSERT INTO artifacts (id, group_id, folder, name, version, kind, is_dir, file_count, description,"
                " labels, mime_type, size, checksum, original_path, created, modified)"
                " VALUES (:id, 'default', '/legacy', 'old-data', 1, 'file', 0, 1, 'from 0001', :labels,"
                " 'text/plain', :size, :digest, '/old/path.txt', :c, :c)"
            ),
            {"id": art_id, "labels": '["old"]', "size": len(content), "digest": digest, "c": stamp},
        )
        conn.execute(text("INSERT INTO artifact_labels (artifact_id, label) VALUES (:id, 'old')"), {"id": art_id})
        conn.execute(
            text(
                "INSERT INTO artifact_files (artifact_id, path, size, checksum, mime_type, uri, digest)"
                " VALUES (:id, 'path.txt', :size, :digest, 'text/plain', NULL, :digest)"
            ),
            {"id": art_id, "size": len(content), "digest": digest},
        )

    migrate(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name, description FROM artifacts")).all() == [("old-data", "from 0001")]
    engine.dispose()

    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), url, use_digest_cache=False)
    try:
        art = reg.get("/legacy/old-data:1")
        assert (art.id, art.labels, art.size, art.checksum) == (art_id, ["old"], len(content), digest)
        assert art.created.replace(tzinfo=None) == stamp
        assert [a.id for a in reg.list(search="label:old").data] == [art_id]
        assert reg.count("name:old*") == 1
        assert b"".join(art.as_stream()) == content
        # the upgraded catalog takes new versions after the old one
        (tmp_path / "new.txt").write_text("v2")
        assert reg.upload_file(tmp_path / "new.txt", name="old-data", folder="/legacy").version == 2
        assert reg.get("/legacy/old-data").version == 2
    finally:
        reg.close()


def test_opening_a_registry_upgrades_an_old_catalog(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.sqlite")
    engine = create_catalog_engine(url)
    migrate(engine, "0001")
    engine.dispose()
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), url, use_digest_cache=False)
    try:
        assert current_revision(reg.catalog.engine) == head_revision()
        snapshot = reg.create_plugin_snapshot("p", "1", [("p.py", b"x = 1\n")])  # a table added after 0001
        assert reg.get_plugin_snapshot(snapshot.id).digest == snapshot.digest
    finally:
        reg.close()


def test_bad_catalog_urls() -> None:
    with pytest.raises(InvalidArtifactInput):
        create_catalog_engine("not a url")
    with pytest.raises(MissingStorageBackend, match="nosuchdb"):
        create_catalog_engine("nosuchdb://x/y")


@pytest.mark.parametrize("folder", ["plain", "with space", "odd#?%20@&=;chars", "ünï"])
def test_sqlite_url_round_trips_any_path(tmp_path: Path, folder: str) -> None:
    target = tmp_path / folder / "catalog.sqlite"
    url = sqlite_url(target)
    engine = create_catalog_engine(url)
    assert sqlite_file(engine.url) == str(target)
    migrate(engine)
    engine.dispose()
    assert target.is_file() and sorted(p.name for p in tmp_path.iterdir()) == [folder]


def test_embedded_registry_under_a_home_with_url_characters(tmp_path: Path) -> None:
    home = tmp_path / "h?x=1#frag %41"
    reg = LocalRegistry.embedded(home)
    try:
        (tmp_path / "f.txt").write_text("x")
        assert reg.upload_file(tmp_path / "f.txt", name="f").version == 1
    finally:
        reg.close()
    assert (home / "catalog.sqlite").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt", home.name]


def test_upgrade_gives_folders_to_the_group_of_their_oldest_artifact(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.sqlite")
    engine = create_catalog_engine(url)
    build_catalog_at_0005(engine)
    migrate(engine)
    check_folder_owners(engine)
    engine.dispose()
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), url, use_digest_cache=False)
    try:
        (tmp_path / "x.txt").write_text("x")
        auth = AuthCatalog(reg.catalog.engine)
        auth.create_user("bea", default_group="team-b")
        bea = reg.for_principal(auth.authenticate(auth.create_key("bea")[1]))  # type: ignore[arg-type]
        assert bea.upload_file(tmp_path / "x.txt", name="x", folder="/shared").group_id == "team-b"
        assert bea.upload_file(tmp_path / "x.txt", name="x", folder="/empty/sub").group_id == "team-b"  # claimed
        with pytest.raises(PermissionDenied):
            bea.upload_file(tmp_path / "x.txt", name="x", folder="/team-a/models")
        with reg.catalog.engine.connect() as conn:
            assert conn.execute(text("SELECT group_id FROM folders WHERE path = '/empty'")).scalar() == "team-b"
    finally:
        reg.close()
