"""Provenance records: their content, Ed25519 signing, offline verification and the CLI.

Every tampering (content, payload, signature, key, files missing or extra) is refused
with a message naming what does not match. The same flow over HTTP is in
tests/server/test_provenance.py.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from typer.testing import CliRunner

from prefect_artifacts import ArtifactDraft
from prefect_artifacts._aspects import PRODUCER_ASPECT
from prefect_artifacts._checksums import manifest_checksum, snapshot_digest
from prefect_artifacts._cli.state import EXIT_OK, EXIT_USAGE, EXIT_VERIFY_FAILED
from prefect_artifacts.errors import ArtifactNotFound, InvalidArtifactInput
from prefect_artifacts.provenance import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    ProvenanceVerificationError,
    canonical_json,
    load_public_key,
    load_signing_key,
    pae,
    public_key_id,
    sign_provenance,
    verify_provenance,
)
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.provenance import Produced, flip, produce, write_pem, write_public_pem


@pytest.fixture
def produced(local_registry: LocalRegistry, tmp_path: Path) -> Produced:
    return produce(local_registry, tmp_path / "work")


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def problems_of(excinfo: pytest.ExceptionInfo[ProvenanceVerificationError]) -> str:
    return "; ".join(excinfo.value.problems)


# -- the record ------------------------------------------------------------------------


def test_record_names_subject_run_inputs_and_code(local_registry: LocalRegistry, produced: Produced) -> None:
    art = produced.directory
    record = local_registry.provenance(art.ref)
    assert record["_type"] == STATEMENT_TYPE and record["predicateType"] == PREDICATE_TYPE
    files = local_registry.files(art.id)
    assert record["subject"][0] == {"name": art.urn, "digest": {"sha256": art.checksum}}
    assert {s["name"]: s["digest"]["sha256"] for s in record["subject"][1:]} == {f.path: f.checksum for f in files}
    assert art.checksum == manifest_checksum(files)
    predicate = record.predicate
    assert predicate["artifact"]["id"] == art.id and predicate["artifact"]["isDir"] is True
    assert predicate["created"].startswith(art.created.strftime("%Y-%m-%dT%H:%M:%S"))
    [run] = predicate["producedBy"]
    assert run["flowRunId"] == produced.run_id
    assert [(i["id"], i["digest"]["sha256"]) for i in run["inputs"]] == sorted(
        ((a.id, a.checksum) for a in produced.inputs), key=lambda p: "urn:prefect-artifacts:artifact:" + p[0])
    [code] = run["code"]
    assert code["id"] == produced.code.id and code["digest"] == {"sha256": produced.code.checksum}
    assert code["files"] == [{"path": "etl.py", "digest": {"sha256": produced.code.checksum}}]
    assert predicate["serializer"] is None
    # Written outside a Prefect task: no producer aspect, so no task run or deployment.
    assert (run["flowName"], run["taskRunId"], run["taskRunName"], run["deploymentId"]) == (None,) * 4


def test_task_run_and_deployment_come_from_the_producer_aspect_of_the_create(
    local_registry: LocalRegistry, tmp_path: Path,
) -> None:
    reg, source = local_registry, tmp_path / "out.txt"
    source.write_text("out")
    producer = {"$schema": PRODUCER_ASPECT, "flow_run_id": "run-1", "flow_name": "etl", "task_run_id": "task-1",
                "task_run_name": "upload_file[out]", "deployment_id": "dep-1"}
    art = reg.upload_file(source, name="out", runs=[("run-1", "output"), ("run-2", "output")],
                          extra_aspects=[producer])
    by_run = {r["flowRunId"]: r for r in reg.provenance(art.id).predicate["producedBy"]}
    assert {k: by_run["run-1"][k] for k in ("flowName", "taskRunId", "taskRunName", "deploymentId")} == {
        "flowName": "etl", "taskRunId": "task-1", "taskRunName": "upload_file[out]", "deploymentId": "dep-1"}
    assert by_run["run-2"]["taskRunId"] is None  # another run's link: not the creating task's
    # A producer claimed after creation (any writer may add metadata) is not trusted.
    plain = reg.upload_file(source, name="plain", runs=[("run-3", "output")])
    reg.add_metadata(plain.id, {**producer, "flow_run_id": "run-3", "task_run_id": "forged"})
    [run] = reg.provenance(plain.id).predicate["producedBy"]
    assert run["taskRunId"] is None and run["deploymentId"] is None


def test_record_is_stable_canonical_and_ignores_mutable_fields(
    local_registry: LocalRegistry, produced: Produced
) -> None:
    first = local_registry.provenance(produced.single.id)
    local_registry.update(produced.single.id, description="changed", labels=["x"])
    again = local_registry.provenance(produced.single.ref)
    assert again.canonical_bytes() == first.canonical_bytes() == canonical_json(dict(first))
    assert b" " not in first.canonical_bytes().replace(b"# report", b"")
    assert list(json.loads(first.canonical_bytes())) == sorted(first)
    assert first["subject"] == [{"name": produced.single.urn, "digest": {"sha256": produced.single.checksum}},
                                {"name": "report.md", "digest": {"sha256": produced.single.checksum}}]


def test_object_record_pins_the_serializer_snapshot_digest(local_registry: LocalRegistry) -> None:
    art = local_registry.save_object({"rows": [1, 2]}, name="stats")
    assert art.serializer is not None
    snapshot = local_registry.get_plugin_snapshot(art.serializer.snapshot_id)
    serializer = local_registry.provenance(art.id).predicate["serializer"]
    assert serializer["snapshotId"] == snapshot.id and serializer["taskName"] == art.serializer.task_name
    assert serializer["digest"] == {"sha256": snapshot_digest(snapshot.files)} == {"sha256": snapshot.digest}
    assert [f["path"] for f in serializer["files"]] == sorted(f.path for f in snapshot.files)


def test_record_of_a_missing_artifact_is_not_found(local_registry: LocalRegistry) -> None:
    with pytest.raises(ArtifactNotFound):
        local_registry.provenance("no-such-artifact")


async def test_async_twin(local_registry: LocalRegistry, produced: Produced) -> None:
    record = await local_registry.aprovenance(produced.single.id)
    assert record == local_registry.provenance(produced.single.id)


# -- signing and offline verification --------------------------------------------------


def test_sign_then_verify_offline(local_registry: LocalRegistry, produced: Produced, key: Ed25519PrivateKey,
                                  tmp_path: Path) -> None:
    record = local_registry.provenance(produced.directory.id)
    envelope = sign_provenance(record, key)
    assert envelope["payloadType"] == PAYLOAD_TYPE
    assert base64.b64decode(envelope["payload"]) == record.canonical_bytes()
    [signature] = envelope["signatures"]
    assert signature["keyid"] == public_key_id(key.public_key())
    key.public_key().verify(base64.b64decode(signature["sig"]), pae(PAYLOAD_TYPE, record.canonical_bytes()))
    content = local_registry.download_dir(produced.directory.id, tmp_path / "copy")
    local_registry.close()  # offline: nothing below touches the registry
    assert verify_provenance(envelope, key.public_key(), content=content) == record
    assert verify_provenance(json.dumps(envelope), key.public_key()) == record
    (tmp_path / "envelope.json").write_text(json.dumps(envelope))
    assert verify_provenance(str(tmp_path / "envelope.json"), key.public_key()) == record
    with pytest.raises(InvalidArtifactInput, match="envelope file .* cannot be read"):
        verify_provenance(str(tmp_path / "none.json"), key.public_key())


def test_verify_single_file(local_registry: LocalRegistry, produced: Produced, key: Ed25519PrivateKey,
                            tmp_path: Path) -> None:
    envelope = sign_provenance(local_registry.provenance(produced.single.id), key)
    copy = local_registry.download(produced.single.id, tmp_path / "any-name.md")
    verify_provenance(envelope, key.public_key(), content=copy)
    copy.write_bytes(flip(copy.read_bytes(), 3))
    with pytest.raises(ProvenanceVerificationError) as excinfo:
        verify_provenance(envelope, key.public_key(), content=copy)
    assert "file 'report.md': sha256 differs" in problems_of(excinfo)
    assert "artifact checksum differs" in problems_of(excinfo)


@pytest.fixture
def signed_dir(local_registry: LocalRegistry, produced: Produced, key: Ed25519PrivateKey,
               tmp_path: Path) -> tuple[dict[str, Any], Path]:
    envelope = sign_provenance(local_registry.provenance(produced.directory.id), key)
    return envelope, local_registry.download_dir(produced.directory.id, tmp_path / "copy")


def test_flipped_byte_in_a_directory_file(signed_dir: tuple[dict[str, Any], Path], key: Ed25519PrivateKey) -> None:
    envelope, content = signed_dir
    target = content / "plots" / "1.png"
    target.write_bytes(flip(target.read_bytes(), 500))
    with pytest.raises(ProvenanceVerificationError) as excinfo:
        verify_provenance(envelope, key.public_key(), content=content)
    problems = excinfo.value.problems
    assert problems[0].startswith("file 'plots/1.png': sha256 differs")
    assert "summary.txt" not in problems_of(excinfo)
    assert problems[-1].startswith("artifact checksum differs")


def test_missing_and_extra_files(signed_dir: tuple[dict[str, Any], Path], key: Ed25519PrivateKey) -> None:
    envelope, content = signed_dir
    (content / "summary.txt").unlink()
    with pytest.raises(ProvenanceVerificationError) as excinfo:
        verify_provenance(envelope, key.public_key(), content=content)
    assert "file 'summary.txt': missing from the content" in problems_of(excinfo)
    (content / "summary.txt").write_text("rows: 1\n")
    verify_provenance(envelope, key.public_key(), content=content)
    (content / "plots" / "extra.png").write_bytes(b"x")
    with pytest.raises(ProvenanceVerificationError) as excinfo:
        verify_provenance(envelope, key.public_key(), content=content)
    assert problems_of(excinfo).startswith("file 'plots/extra.png': in the content but not in the record")


def test_content_of_the_wrong_shape(signed_dir: tuple[dict[str, Any], Path], key: Ed25519PrivateKey) -> None:
    envelope, content = signed_dir
    with pytest.raises(ProvenanceVerificationError) as excinfo:
        verify_provenance(envelope, key.public_key(), content=content / "summary.txt")
    assert "is one file, but the artifact is a directory of 2 file(s)" in problems_of(excinfo)


def test_flipped_byte_in_the_payload(signed_dir: tuple[dict[str, Any], Path], key: Ed25519PrivateKey) -> None:
    envelope, _ = signed_dir
    payload = base64.b64decode(envelope["payload"])
    for index in (0, len(payload) // 2, len(payload) - 1):
        tampered = {**envelope, "payload": base64.b64encode(flip(payload, index)).decode()}
        with pytest.raises(ProvenanceVerificationError, match="bad signature"):
            verify_provenance(tampered, key.public_key())
    text = envelope["payload"]
    broken = {**envelope, "payload": text[:10] + ("!" if text[10] != "!" else "?") + text[11:]}
    with pytest.raises(ProvenanceVerificationError, match="the payload is not valid base64"):
        verify_provenance(broken, key.public_key())


def test_flipped_byte_in_the_signature(signed_dir: tuple[dict[str, Any], Path], key: Ed25519PrivateKey) -> None:
    envelope, _ = signed_dir
    [signature] = envelope["signatures"]
    raw = base64.b64decode(signature["sig"])
    for index in (0, 31, 63):
        tampered = {**envelope, "signatures": [{**signature, "sig": base64.b64encode(flip(raw, index)).decode()}]}
        with pytest.raises(ProvenanceVerificationError) as excinfo:
            verify_provenance(tampered, key.public_key())
        assert problems_of(excinfo).startswith(f"bad signature: the signature of key {signature['keyid']}")


def test_wrong_public_key(signed_dir: tuple[dict[str, Any], Path], key: Ed25519PrivateKey) -> None:
    envelope, content = signed_dir
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(ProvenanceVerificationError) as excinfo:
        verify_provenance(envelope, other, content=content)
    assert problems_of(excinfo) == (f"wrong key: the envelope is signed by key {public_key_id(key)}, "
                                    f"the public key given is {public_key_id(other)}")


def test_a_signed_but_inconsistent_record_is_refused(local_registry: LocalRegistry, produced: Produced,
                                                     key: Ed25519PrivateKey) -> None:
    record = local_registry.provenance(produced.directory.id)
    record["predicate"]["files"][0]["size"] += 1
    with pytest.raises(ProvenanceVerificationError, match="artifact checksum does not match its own file list"):
        verify_provenance(sign_provenance(record, key), key.public_key())


# -- keys --------------------------------------------------------------------------------


def test_keys_from_pem_files(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    pem = write_pem(tmp_path / "k.pem", key)
    assert public_key_id(load_signing_key(pem)) == public_key_id(key)
    assert public_key_id(load_public_key(write_public_pem(tmp_path / "k.pub", key))) == public_key_id(key)
    locked = write_pem(tmp_path / "locked.pem", key, b"pw")
    assert public_key_id(load_signing_key(locked, password="pw")) == public_key_id(key)
    envelope = sign_provenance({"_type": "x"}, pem)  # a path is loaded
    assert envelope["signatures"][0]["keyid"] == public_key_id(key)


def test_key_errors_name_the_source_never_the_key(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    pem = write_pem(tmp_path / "k.pem", key)
    secret = pem.read_text()
    body = "".join(secret.splitlines()[1:-1])
    rsa = write_pem(tmp_path / "rsa.pem", generate_private_key(public_exponent=65537, key_size=1024))
    locked = write_pem(tmp_path / "locked.pem", key, b"pw")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text(secret.replace(body[10:30], "A" * 20))
    cases = [
        (lambda: load_signing_key(tmp_path / "none.pem"), "does not exist"),
        (lambda: load_signing_key(rsa), "not an Ed25519 private key"),
        (lambda: load_signing_key(locked), "encrypted and no password"),
        (lambda: load_signing_key(locked, password="wrong"), "not a PEM private key"),
        (lambda: load_signing_key(garbage), "not a PEM private key"),
        (lambda: load_signing_key(), "exactly one"),
        (lambda: load_public_key(pem), "holds a private key"),
        (lambda: load_public_key(b"nope"), "not a PEM public key"),
    ]
    for call, expected in cases:
        with pytest.raises(InvalidArtifactInput) as excinfo:
            call()
        assert expected in str(excinfo.value)
        assert excinfo.value.__cause__ is None and excinfo.value.__context__ is None or \
            excinfo.value.__suppress_context__
        for part in (body[:24], body[-24:], "PRIVATE KEY-----\n"):
            assert part not in str(excinfo.value) and part not in repr(excinfo.value)
    assert body[:24] not in repr(load_signing_key(pem))


# -- the CLI -----------------------------------------------------------------------------


@pytest.fixture
def cli() -> typer.Typer:
    """The ``prefect-artifacts`` command itself: ``provenance`` is one of its sub-commands."""
    from prefect_artifacts._cli.main import app

    return app


def test_cli_show_sign_verify(cli: typer.Typer, tmp_path: Path, key: Ed25519PrivateKey) -> None:
    reg = LocalRegistry.embedded()  # the registry the CLI opens by default (the test's home)
    produced = produce(reg, tmp_path / "work")
    content = reg.download_dir(produced.directory.id, tmp_path / "copy")
    reg.close()
    runner = CliRunner()
    shown = runner.invoke(cli, ["provenance", "show", produced.directory.ref])
    assert shown.exit_code == EXIT_OK, shown.output
    assert json.loads(shown.stdout)["predicate"]["artifact"]["id"] == produced.directory.id

    pem, pub = write_pem(tmp_path / "k.pem", key), write_public_pem(tmp_path / "k.pub", key)
    envelope = tmp_path / "model.provenance.json"
    signed = runner.invoke(cli, ["provenance", "sign", produced.directory.id, "--key", str(pem), "-o", str(envelope)])
    assert signed.exit_code == EXIT_OK, signed.output
    assert public_key_id(key) in signed.stderr and pem.read_text() not in signed.output
    to_stdout = runner.invoke(cli, ["provenance", "sign", produced.directory.id, "--key", str(pem)])
    assert json.loads(to_stdout.stdout) == json.loads(envelope.read_text())

    ok = runner.invoke(cli, ["provenance", "verify", str(envelope), "--public-key", str(pub),
                             "--content", str(content)])
    assert ok.exit_code == EXIT_OK, ok.output
    assert ok.stdout.startswith(f"ok: {produced.directory.ref}")

    (content / "summary.txt").write_text("rows: 2\n")
    bad = runner.invoke(cli, ["provenance", "verify", str(envelope), "--public-key", str(pub),
                              "--content", str(content)])
    assert bad.exit_code == EXIT_VERIFY_FAILED
    assert "error: file 'summary.txt': sha256 differs" in bad.stderr

    other = write_public_pem(tmp_path / "other.pub", Ed25519PrivateKey.generate())
    wrong = runner.invoke(cli, ["provenance", "verify", str(envelope), "--public-key", str(other)])
    assert wrong.exit_code == EXIT_VERIFY_FAILED and "error: wrong key" in wrong.stderr


def test_cli_usage_errors(cli: typer.Typer, tmp_path: Path, key: Ed25519PrivateKey) -> None:
    runner = CliRunner()
    neither = runner.invoke(cli, ["provenance", "sign", "x"])
    assert neither.exit_code == EXIT_USAGE and "exactly one of --key FILE and --secret-block NAME" in neither.stderr
    missing = runner.invoke(cli, ["provenance", "sign", "x", "--key", str(tmp_path / "none.pem")])
    assert missing.exit_code == EXIT_USAGE and "does not exist" in missing.stderr
    pub = write_public_pem(tmp_path / "k.pub", key)
    no_envelope = runner.invoke(cli, ["provenance", "verify", str(tmp_path / "none.json"), "--public-key", str(pub)])
    assert no_envelope.exit_code == EXIT_USAGE and "envelope file" in no_envelope.stderr
    not_found = runner.invoke(cli, ["provenance", "show", "no-such-artifact"])
    assert not_found.exit_code != EXIT_OK and not_found.stderr.startswith("error: ")


def test_references_are_checked_when_present_and_skipped_when_absent(
    local_registry: LocalRegistry, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "far.bin").write_bytes(b"far away")
    draft = ArtifactDraft(name="mixed").add_file(tmp_path / "a.txt").add_reference(
        (tmp_path / "far.bin").as_uri(), obj_path="ext/far.bin")
    art = local_registry.upload(draft)
    record = local_registry.provenance(art.id)
    [ref] = [f for f in record.predicate["files"] if f["uri"]]
    assert ref["path"] == "ext/far.bin" and {"name": "ext/far.bin", "digest": {"sha256": ref["checksum"]}} in \
        record["subject"]
    envelope = sign_provenance(record, key)
    content = local_registry.download_dir(art.id, tmp_path / "copy")
    verify_provenance(envelope, key.public_key(), content=content)
    far = content / "ext" / "far.bin"
    far.write_bytes(flip(far.read_bytes(), 1))
    with pytest.raises(ProvenanceVerificationError, match="file 'ext/far.bin': sha256 differs"):
        verify_provenance(envelope, key.public_key(), content=content)
    far.unlink()  # a reference's bytes were never copied: absent is fine, the checksum still adds up
    verify_provenance(envelope, key.public_key(), content=content)
