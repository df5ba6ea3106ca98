"""Signing keys kept in a Prefect ``Secret`` block: loaded by name, never shown."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prefect.blocks.system import Secret
from typer.testing import CliRunner

from prefect_artifacts._cli.provenance import provenance_app
from prefect_artifacts._cli.state import EXIT_OK, EXIT_USAGE
from prefect_artifacts.errors import InvalidArtifactInput
from prefect_artifacts.provenance import load_signing_key, public_key_id, verify_provenance
from prefect_artifacts.registry.local import LocalRegistry


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def test_key_from_a_secret_block_signs_through_the_cli(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = _pem(key)
    name = f"signing-{uuid.uuid4().hex[:8]}"
    Secret(value=pem).save(name)
    assert public_key_id(load_signing_key(secret_block=name)) == public_key_id(key)

    reg = LocalRegistry.embedded()
    (tmp_path / "a.txt").write_text("a")
    art = reg.upload_file(tmp_path / "a.txt", name="a")
    reg.close()
    result = CliRunner().invoke(provenance_app, ["sign", art.id, "--secret-block", name])
    assert result.exit_code == EXIT_OK, result.output
    body = "".join(pem.splitlines()[1:-1])
    assert body[:20] not in result.output and "PRIVATE KEY" not in result.output
    record = verify_provenance(json.loads(result.stdout), key.public_key(), content=tmp_path / "a.txt")
    assert record.predicate["artifact"]["id"] == art.id


def test_secret_block_errors_name_the_block_not_the_value() -> None:
    with pytest.raises(InvalidArtifactInput, match="Secret block 'no-such-block' does not exist"):
        load_signing_key(secret_block="no-such-block")
    name = f"not-a-key-{uuid.uuid4().hex[:8]}"
    Secret(value="-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXZhbHVl\n-----END PRIVATE KEY-----\n").save(name)
    with pytest.raises(InvalidArtifactInput) as excinfo:
        load_signing_key(secret_block=name)
    assert f"Secret block {name!r}: not a PEM private key" in str(excinfo.value)
    assert "c2VjcmV0LXZhbHVl" not in str(excinfo.value) + repr(excinfo.value)
    result = CliRunner().invoke(provenance_app, ["sign", "x", "--secret-block", name])
    assert result.exit_code == EXIT_USAGE and "c2VjcmV0LXZhbHVl" not in result.output
