"""Content on S3 (s3fs against a real moto server), and the block on S3 + PostgreSQL.

The ContentStore and registry cases every object store runs come from
tests/support/object_store_cases.py (collected here, as in test_gcs.py and test_azure.py);
the tests below are S3's own.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from prefect_artifacts import ArtifactRegistry, ArtifactStorage
from prefect_artifacts.errors import ArtifactIntegrityError
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.object_store_cases import *  # noqa: F403 - the shared cases, collected here
from tests.support.object_store_cases import keys
from tests.support.services import MotoServer


@pytest.fixture
def store_url(s3_store_url: str) -> str:
    return s3_store_url


@pytest.fixture
def store_options(s3_options: dict[str, Any]) -> dict[str, Any]:
    return s3_options


@pytest.fixture
def raw_fs(moto_server: MotoServer) -> Any:
    return moto_server.filesystem()


def _keys(moto_server: MotoServer, url: str) -> list[str]:
    """Every object under an s3:// URL, seen by a client independent of the code under test."""
    return keys(moto_server.filesystem(), url)


# LocalRegistry with blobs on S3 (beyond the shared object-store cases) -------------------


def test_registry_on_s3_detects_corruption(s3_registry: LocalRegistry, tmp_path: Path,
                                           moto_server: MotoServer) -> None:
    (tmp_path / "a.txt").write_bytes(b"original content")
    art = s3_registry.upload_file(tmp_path / "a.txt", name="a")
    moto_server.filesystem().pipe_file(s3_registry.store.blob_path(art.checksum or ""), b"tampered content")
    with pytest.raises(ArtifactIntegrityError):
        art.open()
    with pytest.raises(ArtifactIntegrityError):
        art.as_local_file(tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()


def test_directory_bundle_from_s3(s3_registry: LocalRegistry, tmp_path: Path) -> None:
    tree = tmp_path / "plots"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_bytes(b"A")
    (tree / "sub" / "b.txt").write_bytes(b"B" * 70_000)
    art = s3_registry.upload_dir(tree, name="plots")
    assert sorted(f.path for f in art.files) == ["a.txt", "sub/b.txt"]
    bundle = b"".join(s3_registry.bundle("plots", "tar_gz"))
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
        names = sorted(m.name for m in tar.getmembers() if m.isfile())
        assert [n.rsplit("/", 1)[-1] for n in names] == ["a.txt", "b.txt"]
        member = next(m for m in tar.getmembers() if m.name.endswith("b.txt"))
        assert tar.extractfile(member).read() == b"B" * 70_000  # type: ignore[union-attr]
    assert b"".join(s3_registry.read("plots", path="sub/b.txt")) == b"B" * 70_000


# The block: blobs on S3, catalog on PostgreSQL ---------------------------------------------


def test_block_on_s3_and_postgres_end_to_end(s3_bucket: str, s3_options: dict[str, Any], postgres_url: str,
                                             moto_server: MotoServer, tmp_path: Path) -> None:
    block = ArtifactRegistry(storage=ArtifactStorage(basepath=f"s3://{s3_bucket}/prefix", storage_options=s3_options),
                             catalog_url=postgres_url)
    registry = block.get_registry()
    try:
        assert isinstance(registry, LocalRegistry)
        assert registry.catalog.dialect == "postgresql"
        data = b"a,b\n1,2\n" * 5000
        (tmp_path / "data.csv").write_bytes(data)
        art = block.upload_file(tmp_path / "data.csv", name="my-data", folder="/team/datasets",
                                labels=["prod"], metadata={"rows": 5000})
        assert art.version == 1 and art.size == len(data)
        v2 = block.upload_file(tmp_path / "data.csv", name="my-data", folder="/team/datasets")
        assert v2.version == 2 and v2.checksum == art.checksum
        keys = _keys(moto_server, f"s3://{s3_bucket}/prefix")
        assert keys == [f"leases/{art.checksum}", f"sha256/{art.checksum[:2]}/{art.checksum}"]  # one blob, leased
        got = block.get("/team/datasets/my-data:1")
        assert got.open().read() == data
        out = got.as_local_file(tmp_path / "out" / "copy.csv")
        assert Path(out).read_bytes() == data
        assert [a.version for a in block.list(search="name:MY-* label:prod meta.rows>=5000").data] == [1]
        assert block.count(search="name:my-data") == 2
        with registry.catalog.engine.connect() as conn:
            rows = conn.execute(text("SELECT name, version FROM artifacts ORDER BY version")).all()
        assert [tuple(r) for r in rows] == [("my-data", 1), ("my-data", 2)]
        block.delete_artifact("/team/datasets/my-data:1")
        assert block.count() == 1
        assert block.gc(grace_seconds=0).blobs_deleted == 0  # version 2 still holds the blob
        assert block.get("my-data:latest").open().read() == data
    finally:
        registry.close()


async def test_block_async_twins_on_s3_and_postgres(s3_bucket: str, s3_options: dict[str, Any],
                                                    postgres_url: str, tmp_path: Path) -> None:
    block = ArtifactRegistry(storage=ArtifactStorage(basepath=f"s3://{s3_bucket}/p", storage_options=s3_options),
                             catalog_url=postgres_url)
    try:
        (tmp_path / "x.bin").write_bytes(b"async bytes")
        art = await block.aupload_file(tmp_path / "x.bin", name="x")
        got = await block.aget("x")
        assert got.id == art.id and got.open().read() == b"async bytes"
        page = await block.alist(search="name:X")
        assert [a.id for a in page.data] == [art.id]
    finally:
        block.get_registry().close()


# references to objects in another bucket (no copy) ----------------------------------------


@pytest.fixture
def s3_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Default AWS credentials/endpoint pointing at moto, for URIs opened without storage options."""
    import s3fs

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": moto_server.endpoint_url,
                       "AWS_ENDPOINT_URL": moto_server.endpoint_url}.items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()  # an instance cached under other settings must not answer
    yield
    s3fs.S3FileSystem.clear_instance_cache()


def test_s3_reference_is_not_copied_and_change_is_detected(s3_env: None, s3_registry: LocalRegistry,
                                                           moto_server: MotoServer, s3_store_url: str) -> None:
    other = moto_server.make_bucket("raw")
    fs = moto_server.filesystem()
    fs.pipe_file(f"{other}/data/key.parquet", b"PAR1 original")
    fs.pipe_file(f"{other}/data/part/b.bin", b"second object")
    art = s3_registry.add_reference(f"s3://{other}/data/key.parquet", name="raw")
    assert art.kind.value == "reference" and art.size == len(b"PAR1 original")
    assert _keys(moto_server, s3_store_url) == []  # nothing copied into the store
    assert s3_registry.get("raw").open().read() == b"PAR1 original"
    folder = s3_registry.add_reference(f"s3://{other}/data/", name="raw-folder")
    assert sorted(f.path for f in folder.files) == ["key.parquet", "part/b.bin"]
    assert b"".join(s3_registry.read("raw-folder", path="part/b.bin")) == b"second object"
    fs.pipe_file(f"{other}/data/key.parquet", b"PAR1 changed!")
    with pytest.raises(ArtifactIntegrityError):
        s3_registry.get("raw").open()
