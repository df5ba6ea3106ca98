"""Garbage collection: referenced blobs stay, old orphans go, young ones wait, dry runs change nothing."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.services import MotoServer

HOUR = 3600.0


def blobs(reg: LocalRegistry) -> set[str]:
    reg.store.fs.invalidate_cache()
    return {d for d, _, _ in reg.store.iter_blobs()}


def age(reg: LocalRegistry, digest: str, seconds: float) -> None:
    """Make a local blob look ``seconds`` old."""
    past = time.time() - seconds
    os.utime(reg.store.blob_path(digest), (past, past))


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_live_and_shared_blobs_are_never_deleted(local_registry: LocalRegistry, tmp_path: Path) -> None:
    keep = local_registry.upload_file(write(tmp_path, "keep.txt", b"keep"), name="keep")
    shared_a = local_registry.upload_file(write(tmp_path, "a.txt", b"shared"), name="a")
    local_registry.upload_file(write(tmp_path, "b.txt", b"shared"), name="b")
    gone = local_registry.upload_file(write(tmp_path, "gone.txt", b"gone"), name="gone")
    gone.delete()
    shared_a.delete()
    for digest in blobs(local_registry):
        age(local_registry, digest, 10 * HOUR)
    report = local_registry.gc(grace_seconds=0)
    assert blobs(local_registry) == {keep.checksum, shared_a.checksum}
    assert (report.blobs_deleted, report.bytes_freed, report.artifacts_purged) == (1, 4, 2)
    assert b"".join(local_registry.get("b").as_stream()) == b"shared"
    assert b"".join(local_registry.get("keep").as_stream()) == b"keep"
    assert local_registry.gc(grace_seconds=0).blobs_deleted == 0  # idempotent


def test_directory_artifact_blobs_are_kept(local_registry: LocalRegistry, tmp_path: Path) -> None:
    root = tmp_path / "d"
    (root / "s").mkdir(parents=True)
    for i in range(5):
        (root / "s" / f"{i}.bin").write_bytes(bytes([i]) * 100)
    art = local_registry.upload_dir(root, name="d")
    local_registry.gc(grace_seconds=0)
    assert len(blobs(local_registry)) == 5
    assert art.get_contents(output_dir=tmp_path / "o").stat().st_size > 0


def test_plugin_snapshot_blobs_are_never_deleted(local_registry: LocalRegistry) -> None:
    source = b"def serialize(obj, directory):\n    return 'x'\n"
    snapshot = local_registry.create_plugin_snapshot("plug", "1.0", [("plug/__init__.py", source)])
    digest = hashlib.sha256(source).hexdigest()
    age(local_registry, digest, 10 * HOUR)
    report = local_registry.gc(grace_seconds=0)
    assert report.blobs_deleted == 0
    assert digest in blobs(local_registry)
    assert local_registry.read_plugin_snapshot_file(snapshot.id, "plug/__init__.py") == source


def test_unreferenced_blobs_respect_the_grace_period(local_registry: LocalRegistry) -> None:
    young = local_registry.store.put_bytes(b"young orphan").digest
    old = local_registry.store.put_bytes(b"old orphan").digest
    age(local_registry, old, 2 * HOUR)
    report = local_registry.gc(grace_seconds=HOUR)
    assert blobs(local_registry) == {young}
    assert (report.blobs_deleted, report.blobs_kept_young, report.bytes_freed) == (1, 1, len(b"old orphan"))
    assert local_registry.gc(grace_seconds=0).blobs_deleted == 1
    assert blobs(local_registry) == set()


def test_default_grace_comes_from_settings(local_registry: LocalRegistry) -> None:
    local_registry.store.put_bytes(b"orphan")
    assert local_registry.settings.gc_grace_seconds > 0
    report = local_registry.gc()
    assert (report.blobs_deleted, report.blobs_kept_young) == (0, 1)


def test_reused_blob_is_rejuvenated(local_registry: LocalRegistry, tmp_path: Path) -> None:
    """Re-uploading content whose artifact was deleted refreshes the blob: gc keeps it."""
    art = local_registry.upload_file(write(tmp_path, "x.txt", b"again"), name="x")
    art.delete()
    age(local_registry, art.checksum, 2 * HOUR)  # type: ignore[arg-type]
    local_registry.store.put_bytes(b"again")  # e.g. an upload in flight, not yet catalogued
    report = local_registry.gc(grace_seconds=HOUR)
    assert art.checksum in blobs(local_registry)
    assert report.blobs_deleted == 0 and report.blobs_kept_young == 1


def test_temp_files_are_collected_after_the_grace_period(local_registry: LocalRegistry) -> None:
    local_registry.store.put_bytes(b"make the store exist")
    tmp_dir = Path(local_registry.store.root) / "tmp"
    tmp_dir.mkdir(exist_ok=True)
    old, young = tmp_dir / f"{uuid.uuid4().hex}.part", tmp_dir / f"{uuid.uuid4().hex}.part"
    old.write_bytes(b"old partial")
    young.write_bytes(b"partial being written")
    past = time.time() - 2 * HOUR
    os.utime(old, (past, past))
    report = local_registry.gc(grace_seconds=HOUR)
    assert (report.temp_files_deleted, old.exists(), young.exists()) == (1, False, True)


def test_dry_run_changes_nothing_and_predicts_the_real_run(local_registry: LocalRegistry, tmp_path: Path) -> None:
    local_registry.upload_file(write(tmp_path, "k.txt", b"kept"), name="k")
    gone = local_registry.upload_file(write(tmp_path, "g.txt", b"gone!"), name="g")
    gone.delete()
    orphan = local_registry.store.put_bytes(b"orphan").digest
    tmp_dir = Path(local_registry.store.root) / "tmp"
    tmp_dir.mkdir(exist_ok=True)
    (tmp_dir / "x.part").write_bytes(b"p")
    for digest in blobs(local_registry):
        age(local_registry, digest, 2 * HOUR)
    before = blobs(local_registry)
    dry = local_registry.gc(dry_run=True, grace_seconds=0)
    assert dry.dry_run and (dry.blobs_deleted, dry.bytes_freed, dry.temp_files_deleted) == (2, 11, 1)
    assert blobs(local_registry) == before and (tmp_dir / "x.part").exists()
    assert dry.artifacts_purged == 0
    assert local_registry.catalog.referenced([gone.checksum]) == {gone.checksum}  # rows of the deleted one remain
    real = local_registry.gc(grace_seconds=0)
    assert (real.blobs_deleted, real.bytes_freed, real.temp_files_deleted) == (2, 11, 1)
    assert orphan not in blobs(local_registry) and gone.checksum not in blobs(local_registry)


@pytest.fixture(params=["memory", "s3"])
def remote_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalRegistry]:
    if request.param == "memory":
        url, options = f"memory://gc-{uuid.uuid4().hex}", None
    else:
        server: MotoServer = request.getfixturevalue("moto_server")
        url, options = f"s3://{server.make_bucket('gc')}/blobs", server.storage_options
    reg = LocalRegistry.from_urls(url, sqlite_url(tmp_path / "c.sqlite"), storage_options=options)
    yield reg
    reg.close()


def test_gc_on_remote_stores(remote_registry: LocalRegistry, tmp_path: Path) -> None:
    reg = remote_registry
    live = reg.upload_file(write(tmp_path, "live.txt", b"live"), name="live")
    dead = reg.upload_file(write(tmp_path, "dead.txt", b"dead"), name="dead")
    dead.delete()
    young = reg.gc(grace_seconds=HOUR)
    assert young.blobs_deleted == 0 and young.blobs_kept_young == 1
    time.sleep(1.1)  # S3 LastModified has one-second resolution
    report = reg.gc(grace_seconds=0)
    assert report.blobs_deleted == 1
    assert blobs(reg) == {live.checksum}
    assert b"".join(reg.get("live").as_stream()) == b"live"


def test_gc_aborts_multipart_uploads_a_dead_writer_left_on_s3(moto_server: MotoServer, tmp_path: Path) -> None:
    bucket = moto_server.make_bucket("gc-mpu")
    reg = LocalRegistry.from_urls(f"s3://{bucket}/blobs", sqlite_url(tmp_path / "c.sqlite"),
                                  storage_options=moto_server.storage_options)
    try:
        fs = reg.store.fs
        key = "blobs/tmp/dead-writer.part"
        upload = fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)
        fs.call_s3("upload_part", Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1,
                   Body=b"x" * (5 * 1024 * 1024))
        outside = fs.call_s3("create_multipart_upload", Bucket=bucket, Key="other/app.part")  # not ours

        def unfinished() -> set[str]:
            return {u["Key"] for u in fs.call_s3("list_multipart_uploads", Bucket=bucket).get("Uploads", [])}

        # (moto reports every upload as started in 2010, so the grace period is not exercised here:
        # it is the same comparison as for temporary files, tested above.)
        preview = reg.gc(dry_run=True, grace_seconds=0)
        assert (preview.uploads_aborted, preview.upload_bytes_aborted) == (1, 5 * 1024 * 1024)
        assert unfinished() == {key, "other/app.part"}
        assert reg.gc(grace_seconds=0).uploads_aborted == 1
        assert unfinished() == {"other/app.part"}  # only the store's own tmp/ prefix is touched
        fs.call_s3("abort_multipart_upload", Bucket=bucket, Key="other/app.part", UploadId=outside["UploadId"])
    finally:
        reg.close()


def test_gc_keeps_a_blob_reused_by_an_upload_in_flight_on_remote_stores(
    remote_registry: LocalRegistry, tmp_path: Path,
) -> None:
    """Object stores cannot refresh an object's mtime: a reused blob gets a lease instead."""
    reg = remote_registry
    old = reg.upload_file(write(tmp_path, "x.txt", b"reused"), name="x")
    old.delete()
    time.sleep(2.1)  # older than the grace period below (S3 LastModified has one-second resolution)
    info = reg.store.put_bytes(b"reused")  # an upload in flight: deduplicated, not yet catalogued
    assert not info.written
    report = reg.gc(grace_seconds=2)
    assert report.blobs_deleted == 0 and reg.store.exists(info.digest)
    assert b"".join(reg.upload_file(write(tmp_path, "y.txt", b"reused"), name="y").as_stream()) == b"reused"
    reg.delete("y")
    time.sleep(2.1)  # the lease expires with the grace period: then the blob and the lease go
    report = reg.gc(grace_seconds=2)
    assert report.blobs_deleted == 1 and report.temp_files_deleted >= 1
    assert not reg.store.exists(info.digest) and list(reg.store.iter_leases()) == []


# --- replicas sharing one catalog and one bucket: gc against uploads in flight -------------


@pytest.fixture
def replicas(moto_server: MotoServer, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalRegistry, LocalRegistry]]:
    """Two registries (as two server replicas) on one SQLite catalog and one moto bucket.

    The first one's store reports every blob as old and ignores leases, as an object
    store whose ``touch`` does nothing would: only the catalog keeps reused blobs.
    """
    url, catalog = f"s3://{moto_server.make_bucket('gc-replicas')}/blobs", sqlite_url(tmp_path / "c.sqlite")
    a = LocalRegistry.from_urls(url, catalog, storage_options=moto_server.storage_options)
    b = LocalRegistry.from_urls(url, catalog, storage_options=moto_server.storage_options)
    assert a.store is not b.store
    real_iter = a.store.iter_blobs
    monkeypatch.setattr(a.store, "iter_blobs", lambda: ((d, size, 0.0) for d, size, _ in real_iter()))
    monkeypatch.setattr(a.store, "blob_mtime", lambda digest: 0.0)
    yield a, b
    a.close()
    b.close()


def test_gc_between_an_uploads_stored_check_and_its_reuse_never_loses_the_blob(
    replicas: tuple[LocalRegistry, LocalRegistry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = replicas
    digest = a.store.put_bytes(b"shared content").digest  # an old orphan
    real_exists = b.store.exists
    reports = []

    def exists_then_gc(d: str) -> bool:  # replica B: "already stored" ... then gc runs on replica A
        found = real_exists(d)
        if d == digest and not reports:
            reports.append(a.gc(grace_seconds=HOUR))
        return found

    monkeypatch.setattr(b.store, "exists", exists_then_gc)
    art = b.upload_file(write(tmp_path, "x.txt", b"shared content"), name="x")
    assert reports[0].blobs_deleted == 1  # gc took the blob B had just seen ...
    assert b"".join(a.get("x").as_stream()) == b"shared content"  # ... and B stored it again
    assert art.checksum == digest and a.store.exists(digest)
    assert a.gc(grace_seconds=0).blobs_deleted == 0


def test_gc_keeps_a_blob_another_replica_reserved_until_its_create(
    replicas: tuple[LocalRegistry, LocalRegistry], tmp_path: Path,
) -> None:
    a, b = replicas
    digest = a.store.put_bytes(b"reused").digest
    assert not b.store.put_bytes(b"reused").written  # replica B reuses it: reserved in the catalog
    report = a.gc(grace_seconds=HOUR)
    assert (report.blobs_deleted, report.blobs_kept_young) == (0, 1)
    b.upload_file(write(tmp_path, "y.txt", b"reused"), name="y")
    assert b"".join(a.get("y").as_stream()) == b"reused"
    b.delete("y")
    a.gc(grace_seconds=HOUR)  # purges y: then only the reservation's age protects the blob
    assert a.gc(grace_seconds=0).blobs_deleted == 1 and not a.store.exists(digest)


def test_an_upload_waits_for_a_deletion_under_way_then_stores_the_blob_again(
    replicas: tuple[LocalRegistry, LocalRegistry],
) -> None:
    import threading

    from prefect_artifacts.catalog.sql import utcnow

    a, b = replicas
    digest = a.store.put_bytes(b"contended").digest
    assert a._access.claim_deletion(digest, utcnow())  # replica A's gc claims the blob ...
    result = []
    upload = threading.Thread(target=lambda: result.append(b.store.put_bytes(b"contended")))
    upload.start()
    upload.join(0.3)
    assert upload.is_alive()  # ... replica B's upload waits for that deletion ...
    a.store.delete(digest)
    a._access.finish_deletion(digest, deleted=True)
    upload.join(10)
    assert result[0].written and a.store.exists(digest)  # ... then stores the content again
    assert not a._access.claim_deletion(digest, utcnow().replace(year=2000))  # deleted since that listing


def test_gc_aborts_multipart_uploads_anywhere_under_the_store_after_the_grace(
    moto_server: MotoServer, tmp_path: Path,
) -> None:
    bucket = moto_server.make_bucket("gc-mpu-root")
    reg = LocalRegistry.from_urls(f"s3://{bucket}/blobs", sqlite_url(tmp_path / "c.sqlite"),
                                  storage_options=moto_server.storage_options)
    try:
        fs = reg.store.fs
        key = f"blobs/sha256/ab/ab{'0' * 62}"  # a client writing straight to a blob's key, then gone
        upload = fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)
        for part in (1, 2):
            fs.call_s3("upload_part", Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=part,
                       Body=b"x" * (5 * 1024 * 1024))

        def unfinished() -> set[str]:
            return {u["Key"] for u in fs.call_s3("list_multipart_uploads", Bucket=bucket).get("Uploads", [])}

        # moto dates every upload 2010-11-10: a grace of 30 years still keeps it
        kept = reg.gc(grace_seconds=30 * 365 * 86400.0)
        assert kept.uploads_aborted == 0 and unfinished() == {key}
        report = reg.gc(grace_seconds=0)
        assert (report.uploads_aborted, report.upload_bytes_aborted) == (1, 10 * 1024 * 1024)
        assert unfinished() == set()
    finally:
        reg.close()


def test_a_blob_another_process_wrote_after_a_gc_listing_is_readable(
    moto_server: MotoServer, tmp_path: Path,
) -> None:
    # The replicas' bug: a listing cached by gc hid blobs written since by other processes.
    reg = LocalRegistry.from_urls(f"s3://{moto_server.make_bucket('listing')}/blobs",
                                  sqlite_url(tmp_path / "c.sqlite"), storage_options=moto_server.storage_options)
    try:
        first = reg.store.put_bytes(b"first").digest
        reg.gc(grace_seconds=HOUR)  # lists every blob folder
        data = next(d for i in range(10_000) if hashlib.sha256(d := b"another process %d" % i).hexdigest()[:2]
                    == first[:2])  # a new blob in a folder gc listed
        digest = hashlib.sha256(data).hexdigest()
        moto_server.filesystem().pipe_file(reg.store.blob_path(digest), data)
        assert b"".join(reg.store.read(digest)) == data and reg.store.size(digest) == len(data)
    finally:
        reg.close()


def test_gc_aborts_an_unfinished_upload_only_once_it_has_seen_it_for_the_grace(
    moto_server: MotoServer, tmp_path: Path,
) -> None:
    # moto dates every multipart upload 2010: by the store's date alone, gc would abort uploads in flight.
    from sqlalchemy import select, update

    from prefect_artifacts.catalog.schema import upload_sightings
    from prefect_artifacts.catalog.sql import utcnow

    reg = LocalRegistry.from_urls(f"s3://{moto_server.make_bucket('sightings')}/blobs",
                                  sqlite_url(tmp_path / "c.sqlite"), storage_options=moto_server.storage_options)
    try:
        fs = reg.store.fs
        bucket = reg.store.root.split("/", 1)[0]
        key = f"blobs/tmp/{uuid.uuid4().hex}"
        upload = fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)
        fs.call_s3("upload_part", Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1,
                   Body=b"x" * (5 * 1024 * 1024))
        engine = reg.catalog.engine

        def sightings() -> list[tuple[str, str]]:
            with engine.connect() as conn:
                return [(r.upload_key, r.upload_id) for r in conn.execute(select(upload_sightings))]

        assert reg.gc(dry_run=True, grace_seconds=60).uploads_aborted == 0 and sightings() == []  # writes nothing
        assert reg.gc(grace_seconds=60).uploads_aborted == 0  # first seen now: an upload in flight, kept
        assert sightings() == [(key, upload["UploadId"])]
        assert reg.gc(grace_seconds=60).uploads_aborted == 0
        with engine.begin() as conn:  # ... a minute later
            conn.execute(update(upload_sightings).values(first_seen=utcnow() - timedelta(seconds=61)))
        assert reg.gc(grace_seconds=60).uploads_aborted == 1
        assert fs.call_s3("list_multipart_uploads", Bucket=bucket).get("Uploads", []) == []
        reg.gc(grace_seconds=60)
        assert sightings() == []  # forgotten once no longer listed
    finally:
        reg.close()
