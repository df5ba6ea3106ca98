"""Provenance records on the embedded, HTTP and offline registries: same record, signed and verified offline.

The HTTP registry is a plain member (API key) of the shared server; the record is built
from the REST API alone (no provenance route), then verified with no server at all.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from prefect_artifacts._server import NoAuth
from prefect_artifacts.provenance import ProvenanceVerificationError, sign_provenance, verify_provenance
from prefect_artifacts.registry.base import Registry
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.offline import OfflineRegistry
from tests.support.live_server import LiveServer
from tests.support.provenance import DEPLOYMENT_ID, TASK_RUN_ID, flip, produce
from tests.support.registries import make_registry


@pytest.fixture(params=["embedded", "http", "offline"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    local = make_registry(tmp_path / "server")
    if request.param == "embedded":
        yield local
        local.close()
        return
    if request.param == "offline":  # the server never answers: everything is in the outbox
        down = LiveServer(local, auth=NoAuth())
        offline = OfflineRegistry.for_server(down.url, mode=True, retries=0)  # type: ignore[arg-type]
        yield offline
        offline.close()
        down.close()
        return
    server: LiveServer = request.getfixturevalue("shared_server").use(local)
    server.auth.create_user("alice", default_group="default")
    _key_id, secret = server.auth.create_key("alice")
    reg = HttpRegistry(server.url, api_key=secret)
    yield reg
    reg.close()
    local.close()


def test_record_sign_and_verify_offline(registry: Registry, tmp_path: Path) -> None:
    produced = produce(registry, tmp_path / "work")
    art = produced.directory
    record = registry.provenance(art.ref)
    files = registry.files(art.id)
    assert record["subject"][0] == {"name": art.urn, "digest": {"sha256": art.checksum}}
    assert {s["name"]: s["digest"] for s in record["subject"][1:]} == {f.path: {"sha256": f.checksum} for f in files}
    [run] = record.predicate["producedBy"]
    assert run["flowRunId"] == produced.run_id
    assert sorted(i["id"] for i in run["inputs"]) == sorted(a.id for a in produced.inputs)
    assert [(c["id"], c["files"][0]["digest"]["sha256"]) for c in run["code"]] == [
        (produced.code.id, produced.code.checksum)]
    assert registry.provenance(art.id).canonical_bytes() == record.canonical_bytes()
    [by] = registry.provenance(produced.single.id).predicate["producedBy"]  # the create's producer aspect
    assert (by["taskRunId"], by["deploymentId"]) == (TASK_RUN_ID, DEPLOYMENT_ID)

    key = Ed25519PrivateKey.generate()
    envelope = sign_provenance(record, key)
    content = registry.download_dir(art.id, tmp_path / "copy")
    single = registry.download(produced.single.id, tmp_path / "report.md")
    single_envelope = sign_provenance(registry.provenance(produced.single.id), key)
    registry.close()  # offline from here on

    assert verify_provenance(envelope, key.public_key(), content=content) == record
    verify_provenance(single_envelope, key.public_key(), content=single)
    target = content / "summary.txt"
    target.write_bytes(flip(target.read_bytes(), 2))
    with pytest.raises(ProvenanceVerificationError, match="file 'summary.txt': sha256 differs"):
        verify_provenance(envelope, key.public_key(), content=content)
    payload = base64.b64decode(envelope["payload"])
    tampered = {**envelope, "payload": base64.b64encode(flip(payload, len(payload) // 3)).decode()}
    with pytest.raises(ProvenanceVerificationError, match="bad signature"):
        verify_provenance(tampered, key.public_key())
    with pytest.raises(ProvenanceVerificationError, match="wrong key"):
        verify_provenance(envelope, Ed25519PrivateKey.generate().public_key())


def test_object_record_over_both(registry: Registry) -> None:
    art = registry.save_object({"rows": [1, 2]}, name="stats")
    assert art.serializer is not None
    serializer = registry.provenance(art.id).predicate["serializer"]
    assert serializer["digest"] == {"sha256": registry.get_plugin_snapshot(art.serializer.snapshot_id).digest}
