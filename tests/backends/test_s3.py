"""Content on S3 (s3fs against a real moto server), and the block on S3 + PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from prefect_artifacts import ArtifactRegistry, ArtifactStorage
from prefect_artifacts.errors import ArtifactIntegrityError, BlobNotFound
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.storage.content_store import ContentStore
from tests.support.services import MotoServer


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _payload(size: int, seed: int = 0) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def _keys(moto_server: MotoServer, url: str) -> list[str]:
    """Every object under an s3:// URL, seen by a client independent of the code under test."""
    fs = moto_server.filesystem()
    root = url.removeprefix("s3://")
    return sorted(p[len(root) + 1:] for p in fs.find(root)) if fs.exists(root) else []


@pytest.fixture
def store(s3_store_url: str, s3_options: dict[str, Any]) -> ContentStore:
    return ContentStore(s3_store_url, s3_options)


# ContentStore on S3 -----------------------------------------------------------------


def test_put_and_read_small_blob(store: ContentStore, moto_server: MotoServer, s3_store_url: str) -> None:
    data = b"hello s3"
    info = store.put_bytes(data)
    assert (info.digest, info.size, info.written) == (_sha(data), len(data), True)
    assert store.exists(info.digest) and store.size(info.digest) == len(data)
    assert b"".join(store.read(info.digest)) == data
    assert _keys(moto_server, s3_store_url) == [f"sha256/{info.digest[:2]}/{info.digest}"]
    assert moto_server.filesystem().cat_file(f"{s3_store_url}/sha256/{info.digest[:2]}/{info.digest}") == data
    assert store.blob_uri(info.digest) == f"{s3_store_url}/sha256/{info.digest[:2]}/{info.digest}"


def test_large_file_streams_in_chunks_and_dedups(store: ContentStore, tmp_path: Path, moto_server: MotoServer,
                                                 s3_store_url: str) -> None:
    data = _payload(3 * 1024 * 1024 + 17)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    first = store.put_file(src)
    assert first.written and first.digest == _sha(data) and first.size == len(data)
    chunks = list(store.read(first.digest, chunk_size=256 * 1024))
    assert len(chunks) > 10 and max(len(c) for c in chunks) <= 256 * 1024
    assert b"".join(chunks) == data
    again = store.put_file(src)
    assert again.digest == first.digest and not again.written
    assert store.put_stream(iter([data[:1000], data[1000:]])).written is False
    # one blob and its chunk index; the dedups left a lease that keeps gc off it for the grace period
    blob = f"sha256/{first.digest[:2]}/{first.digest}"
    assert _keys(moto_server, s3_store_url) == [f"leases/{first.digest}", blob, f"{blob}.chunks"]
    assert b"".join(ContentStore(s3_store_url, store.storage_options).read_range(first.digest, 1_048_570, 1_048_590)) \
        == data[1_048_570:1_048_590]  # a range across a chunk boundary, checked against the stored index


def test_read_range(store: ContentStore) -> None:
    data = _payload(200_000, seed=3)
    digest = store.put_bytes(data).digest
    assert b"".join(store.read_range(digest, 1000, 1016)) == data[1000:1016]
    assert b"".join(store.read_range(digest, 150_000, None, chunk_size=4096)) == data[150_000:]
    assert b"".join(store.read_range(digest, 0, 10**9)) == data
    assert b"".join(store.read_range(digest, 199_999, 200_000)) == data[-1:]


def test_corrupted_object_is_detected(store: ContentStore, moto_server: MotoServer, tmp_path: Path) -> None:
    data = _payload(100_000, seed=1)
    digest = store.put_bytes(data).digest
    tampered = bytearray(data)
    tampered[50_000] ^= 0xFF
    moto_server.filesystem().pipe_file(store.blob_path(digest), bytes(tampered))
    with pytest.raises(ArtifactIntegrityError):
        b"".join(store.read(digest))
    # the last chunk is held back until the digest is checked: not all bytes are handed out
    received = bytearray()
    with pytest.raises(ArtifactIntegrityError):
        for chunk in store.read(digest, chunk_size=8192):
            received += chunk
    assert len(received) < len(data)
    assert store.verify(digest) is False
    dest = tmp_path / "out" / "copy.bin"
    with pytest.raises(ArtifactIntegrityError):
        store.download(digest, dest)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_missing_blob_is_blob_not_found(store: ContentStore, moto_server: MotoServer) -> None:
    digest = store.put_bytes(b"soon gone").digest
    moto_server.filesystem().rm_file(store.blob_path(digest))
    assert store.exists(digest) is False
    with pytest.raises(BlobNotFound):
        b"".join(store.read(digest))


def test_digest_mismatch_leaves_nothing(store: ContentStore, moto_server: MotoServer, s3_store_url: str) -> None:
    store.put_bytes(b"already here")
    before = _keys(moto_server, s3_store_url)
    with pytest.raises(ArtifactIntegrityError):
        store.put_stream(iter([b"actual bytes"]), expected_digest=_sha(b"announced bytes"))
    assert _keys(moto_server, s3_store_url) == before


class _SourceFailed(Exception):
    pass


def test_failing_source_leaves_no_temp_object(store: ContentStore, moto_server: MotoServer,
                                              s3_store_url: str) -> None:
    def broken() -> Iterator[bytes]:
        yield _payload(300_000)
        raise _SourceFailed("source went away")

    with pytest.raises(_SourceFailed):
        store.put_stream(broken())
    assert _keys(moto_server, s3_store_url) == []
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do, the point is what is left
        store.put_stream(iter([_payload(5000)]), max_size=1000)
    assert _keys(moto_server, s3_store_url) == []


def test_stale_listing_does_not_hide_a_deleted_blob(store: ContentStore, moto_server: MotoServer) -> None:
    """Another process deleting a blob after this one listed the store must not fool dedup."""
    data = b"shared content"
    digest = store.put_bytes(data).digest
    assert [d for d, _, _ in store.iter_blobs()] == [digest]  # fills s3fs's listing cache
    moto_server.filesystem().rm_file(store.blob_path(digest))  # e.g. gc in another process
    assert store.exists(digest) is False
    assert store.put_bytes(data).written is True
    assert b"".join(store.read(digest)) == data


def test_iter_blobs_and_temp_listing(store: ContentStore, moto_server: MotoServer, s3_store_url: str) -> None:
    a, b = store.put_bytes(b"a").digest, store.put_bytes(b"b").digest
    moto_server.filesystem().pipe_file(f"{s3_store_url}/tmp/abandoned.part", b"partial")
    blobs = {d: (size, mtime) for d, size, mtime in store.iter_blobs()}
    assert set(blobs) == {a, b} and blobs[a][0] == 1 and blobs[a][1] > 0
    temps = list(store.iter_temp())
    assert [p.rsplit("/", 1)[1] for p, _ in temps] == ["abandoned.part"]
    store.remove_temp(temps[0][0])
    assert _keys(moto_server, s3_store_url) == sorted(f"sha256/{d[:2]}/{d}" for d in (a, b))


# LocalRegistry with blobs on S3 ---------------------------------------------------------


def test_registry_on_s3_round_trip(s3_registry: LocalRegistry, tmp_path: Path, moto_server: MotoServer,
                                   s3_store_url: str) -> None:
    data = _payload(1_500_000, seed=7)
    (tmp_path / "model.bin").write_bytes(data)
    art = s3_registry.upload_file(tmp_path / "model.bin", name="model", labels=["s3"])
    assert art.checksum == _sha(data) and art.size == len(data)
    assert f"sha256/{art.checksum[:2]}/{art.checksum}" in _keys(moto_server, s3_store_url)
    assert s3_registry.get("model:latest").open().read() == data
    assert b"".join(s3_registry.read("model", start=10, end=20)) == data[10:20]
    with s3_registry.get("model").as_local_file() as local:
        assert Path(local).read_bytes() == data


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


def test_gc_on_s3(s3_registry: LocalRegistry, tmp_path: Path, moto_server: MotoServer, s3_store_url: str) -> None:
    (tmp_path / "keep.txt").write_bytes(b"keep me")
    (tmp_path / "drop.txt").write_bytes(b"drop me")
    keep = s3_registry.upload_file(tmp_path / "keep.txt", name="keep")
    drop = s3_registry.upload_file(tmp_path / "drop.txt", name="drop")
    moto_server.filesystem().pipe_file(f"{s3_store_url}/tmp/crashed.part", b"half a blob")
    drop.delete()
    young = s3_registry.gc(grace_seconds=3600)
    assert young.blobs_deleted == 0 and young.blobs_kept_young == 1 and young.temp_files_deleted == 0
    dry = s3_registry.gc(dry_run=True, grace_seconds=0)
    assert dry.blobs_deleted == 1 and f"sha256/{drop.checksum[:2]}/{drop.checksum}" in _keys(  # type: ignore[index]
        moto_server, s3_store_url)
    report = s3_registry.gc(grace_seconds=0)
    assert report.blobs_deleted == 1 and report.bytes_freed == len(b"drop me")
    assert report.temp_files_deleted == 1
    assert _keys(moto_server, s3_store_url) == [f"sha256/{keep.checksum[:2]}/{keep.checksum}"]  # type: ignore[index]
    assert keep.open().read() == b"keep me"
    # the same bytes uploaded again after gc are stored again, not deduplicated against a ghost
    again = s3_registry.upload_file(tmp_path / "drop.txt", name="drop")
    assert again.open().read() == b"drop me"


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
