"""docs/deploy.md's topology, built on loopback and held to the guide's claims.

Two ``prefect-artifacts server start`` replicas (each its own home, as on two machines)
share one PostgreSQL catalog and one S3 bucket (moto) behind a round-robin balancer
(`tests.support.topology`). Client processes write through the balancer while garbage
collection runs on both replicas; a replica is killed mid-upload; an idempotent create
is retried on the other replica; a revoked key stops working on every replica within
the documented bound; a backup (catalog dump, then the bucket) is restored into a fresh
database and bucket and verified byte for byte. The full-size run (8 clients × 200
creates, 256 MiB each) is ``bench/bench_topology.py``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from prefect_artifacts.catalog.engine import current_revision, head_revision
from prefect_artifacts.catalog.sql import SqlCatalog
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.services import MotoServer, PostgresServer
from tests.support.topology import Topology, cli, new_key, read_back, sha256_file, soak, write_big

pytestmark = pytest.mark.slow


def test_replicas_started_together_migrated_the_catalog_once(topology: Topology) -> None:
    catalog = SqlCatalog(topology.catalog_url)
    try:
        assert current_revision(catalog.engine) == head_revision()
    finally:
        catalog.close()
    for replica in topology.replicas:
        assert "Traceback" not in replica.log(), replica.log()


def test_clients_on_two_replicas_while_gc_runs_lose_and_duplicate_nothing(
    topology: Topology, tmp_path: Path, moto_server: MotoServer,
) -> None:
    key = new_key(topology, "writer")
    clients, creates = 4, 16
    run = soak(topology, key, clients, creates, 4 << 20, tmp_path)
    assert len(run.gc_reports) >= 2 and all("blobsDeleted" in r for r in run.gc_reports), run.gc_reports[-1:]
    assert min(topology.balancer.served[r.port] for r in topology.replicas) >= 2  # both replicas had clients
    assert len({art_id for art_id, _ in run.made}) == len(run.made) == clients * (creates + 1)
    assert read_back(topology, topology.replicas[1].url, key, run.made, moto_server) == []  # every byte, other replica
    with HttpRegistry(topology.replicas[1].url, api_key=key) as reader:
        assert reader.count(folder="/team") == len(run.made) - clients * (creates // 4)  # objects: default folder
        versions = sorted(a.version for a in reader.list(search="name:log", page_length=1000).data)
        assert versions == list(range(1, clients * (creates // 4) + 1))  # gap-free, none twice
    admin = {"Authorization": f"Bearer {topology.admin_key}"}
    assert httpx.post(f"{topology.replicas[0].url}/admin/gc", headers=admin,
                      params={"graceSeconds": 0}).json()["blobsDeleted"] == 0  # everything referenced


def test_a_replica_killed_mid_upload_the_client_retries_on_the_other(topology: Topology, tmp_path: Path) -> None:
    key = new_key(topology, "writer")
    big = tmp_path / "big.bin"
    write_big(big, 96 << 20, "kill")
    served = dict(topology.balancer.served)
    result: list[object] = []

    def upload() -> None:
        with HttpRegistry(topology.url, api_key=key, backoff=0.2) as reg:
            try:
                result.append(reg.upload_file(big, name="survivor", folder="/team", idempotency_key="survivor-1"))
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                result.append(exc)

    thread = threading.Thread(target=upload)
    thread.start()
    victim = None
    deadline = time.monotonic() + 30
    while victim is None and time.monotonic() < deadline:  # the replica holding the upload's connection
        victim = next((r for r in topology.replicas if topology.balancer.active.get(r.port, 0) > 0
                       and topology.balancer.served[r.port] > served.get(r.port, 0)), None)
        time.sleep(0.01)
    assert victim is not None
    time.sleep(0.2)
    victim.kill()
    thread.join(120)
    index = topology.replicas.index(victim)
    topology.replicas[index] = victim.restart()
    art = result[0]
    assert not isinstance(art, Exception), art
    with HttpRegistry(topology.replicas[index].url, api_key=key) as reader:  # the restarted replica agrees
        assert reader.get("/team/survivor").id == art.id  # type: ignore[attr-defined]
        assert reader.count(search="name:survivor") == 1
        assert hashlib.sha256(b"".join(reader.get(art.id).as_stream())).hexdigest() == sha256_file(big)  # type: ignore[attr-defined]


def test_an_idempotent_create_retried_on_the_other_replica_returns_the_same_artifact(topology: Topology) -> None:
    headers = {"Authorization": f"Bearer {new_key(topology, 'writer')}", "Idempotency-Key": "same-create-1"}
    body = {"folder": "/team", "name": "once", "kind": "directory", "isDir": True, "files": []}
    first = httpx.post(f"{topology.replicas[0].url}/artifacts", json=body, headers=headers)
    again = httpx.post(f"{topology.replicas[1].url}/artifacts", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
    assert first.json()["artifact"]["id"] == again.json()["artifact"]["id"]


def test_a_revoked_key_stops_working_on_every_replica_within_the_bound(topology: Topology) -> None:
    created = json.loads(cli(topology.env, "--json", "keys", "create", "writer"))
    headers = {"Authorization": f"Bearer {created['key']}"}
    other = topology.replicas[1]
    assert httpx.get(f"{other.url}/whoami", headers=headers).status_code == 200  # cached there now
    admin = {"Authorization": f"Bearer {topology.admin_key}"}
    assert httpx.delete(f"{topology.replicas[0].url}/admin/keys/{created['id']}", headers=admin).status_code == 204
    revoked = time.monotonic()
    while httpx.get(f"{other.url}/whoami", headers=headers).status_code == 200:
        assert time.monotonic() - revoked < 5.0 + 3.0, "the other replica still accepts a revoked key"
        time.sleep(0.1)


def test_a_backup_restores_into_a_fresh_catalog_and_bucket(
    topology: Topology, pg_server: PostgresServer, moto_server: MotoServer,
) -> None:
    key = new_key(topology, "writer")
    with HttpRegistry(topology.url, api_key=key) as reg:
        reg.save_object({"backed": "up"}, name="backup-me", serializer="json")
        expected = {a.id: a.checksum for a in reg.list(page_length=1000).data}
    database = topology.catalog_url.rsplit("/", 1)[1]
    dump = pg_server.root / f"{database}.dump"
    # The guide's order: the catalog first, then the bucket (gc paused: blobs are never rewritten).
    pg_server._run("pg_dump", "-h", "127.0.0.1", "-p", str(pg_server.port), "-U", "postgres", "-Fc",
                   "-f", str(dump), database)
    fs = moto_server.filesystem()
    bucket = moto_server.make_bucket("restored")
    fs.copy(topology.storage_url.removeprefix("s3://"), f"{bucket}/blobs", recursive=True)
    restored_url = pg_server.create_database()
    pg_server._run("pg_restore", "-h", "127.0.0.1", "-p", str(pg_server.port), "-U", "postgres",
                   "--no-owner", "-d", restored_url.rsplit("/", 1)[1], str(dump))
    env = {**topology.env, "PREFECT_ARTIFACTS_CATALOG_URL": restored_url,
           "PREFECT_ARTIFACTS_STORAGE_URL": f"s3://{bucket}/blobs"}
    report = json.loads(cli(env, "--json", "verify"))  # the guide's check of a restore: every byte re-read
    assert report["ok"] and report["artifacts"] == len(expected) and report["failures"] == []
    restored = LocalRegistry.from_urls(env["PREFECT_ARTIFACTS_STORAGE_URL"], restored_url,
                                       storage_options=moto_server.storage_options)
    try:
        assert {a.id: a.checksum for a in restored.list(page_length=1000).data} == expected
        assert restored.load_object("backup-me") == {"backed": "up"}
    finally:
        restored.close()


def test_the_guide_configures_what_this_topology_runs(topology: Topology) -> None:
    guide = (Path(__file__).parents[2] / "docs" / "deploy.md").read_text()
    for name in [k for k in topology.env if k.startswith("PREFECT_ARTIFACTS_")] + [
        "prefect-artifacts server start", "users create", "keys create", "pg_dump -Fc", "pg_restore",
        "prefect-artifacts verify", "POST /api/v1/admin/gc", "FORWARDED_ALLOW_IPS",
    ]:
        assert name in guide, f"docs/deploy.md does not mention {name}"
