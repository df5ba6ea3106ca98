"""What the provenance tests share: a simulated producing run, byte flips and PEM files."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from prefect_artifacts._aspects import PRODUCER_ASPECT
from prefect_artifacts.models import Artifact
from prefect_artifacts.registry.base import Registry

TASK_RUN_ID = "5b0c1c6e-0000-4000-8000-00000000a001"
DEPLOYMENT_ID = "5b0c1c6e-0000-4000-8000-00000000d001"


@dataclass
class Produced:
    """The artifacts of one simulated flow run."""

    run_id: str
    inputs: list[Artifact]
    code: Artifact
    directory: Artifact
    single: Artifact
    source: Path


def produce(reg: Registry, root: Path) -> Produced:
    """A simulated flow run: two inputs, its code, a directory output and a one-file output."""
    run_id = str(uuid.uuid4())
    root.mkdir(parents=True, exist_ok=True)
    (root / "raw.csv").write_text("a,b\n1,2\n")
    (root / "lookup.json").write_text('{"k": 1}')
    (root / "etl.py").write_text("print('etl')\n")
    out = root / "out"
    (out / "plots").mkdir(parents=True)
    (out / "summary.txt").write_text("rows: 1\n")
    (out / "plots" / "1.png").write_bytes(bytes(range(256)) * 4)
    (root / "report.md").write_text("# report\n")
    inputs = [reg.upload_file(root / "raw.csv", name="raw", runs=[(run_id, "input")]),
              reg.upload_file(root / "lookup.json", name="lookup", runs=[(run_id, "input")])]
    code = reg.upload_code(root / "etl.py", name="etl-code", runs=[(run_id, "code")])
    directory = reg.upload_dir(out, name="model", runs=[(run_id, "output")])
    # As the upload_file task writes it: with the aspect naming its task run and deployment.
    producer = {"$schema": PRODUCER_ASPECT, "flow_run_id": run_id, "flow_name": "etl", "task_run_id": TASK_RUN_ID,
                "task_run_name": "upload_file[report]", "deployment_id": DEPLOYMENT_ID}
    single = reg.upload_file(root / "report.md", name="report", runs=[(run_id, "output")], extra_aspects=[producer])
    return Produced(run_id, inputs, code, directory, single, root)


def flip(data: bytes, index: int = 0) -> bytes:
    """``data`` with one bit of byte ``index`` flipped."""
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def write_pem(path: Path, private: Any, password: bytes | None = None) -> Path:
    """Write a private key as PKCS#8 PEM (encrypted with ``password`` when given)."""
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           encryption))
    return path


def write_public_pem(path: Path, private: Any) -> Path:
    """Write the public half of a private key as SubjectPublicKeyInfo PEM."""
    path.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    return path
