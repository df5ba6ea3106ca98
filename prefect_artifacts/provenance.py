"""Provenance records of artifacts, Ed25519 signing and offline verification.

A provenance record is an in-toto Statement v1 (``_type``, ``subject``,
``predicateType``, ``predicate``) built from what the catalog records: the artifact's
checksum and each file's SHA-256 (the subject), the flow runs that produced it (run
links of category ``output``), the inputs and code artifacts of those runs by digest,
the serializer's plugin snapshot digest and the creation time. Only fields that do not
change after creation are included (no description, labels or modification time), so
the same artifact always gives the same record, and its canonical JSON (sorted keys, no
whitespace) is the stable byte string a signature covers.

`sign_provenance` wraps the canonical record in a DSSE envelope (``payloadType``,
base64 ``payload``, ``signatures``), signed with an Ed25519 key over DSSE's
pre-authentication encoding. `verify_provenance` needs no registry and no server: it
checks the signature with a public key, then, given the content as a local file or
directory, recomputes each file's SHA-256 and size and the artifact checksum
(`manifest_checksum` for a directory) and names every difference.

Private keys are never logged, never put in an exception message and never shown in a
repr; errors about a key name the file or block it came from.

Example:
    ```python
    record = reg.provenance("model:latest")
    envelope = sign_provenance(record, load_signing_key("signing.pem"))
    verify_provenance(envelope, "signing.pub.pem", content="downloaded/model/")
    ```
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from prefect_artifacts._aspects import PRODUCER_ASPECT
from prefect_artifacts._checksums import manifest_checksum, snapshot_digest
from prefect_artifacts.errors import ArtifactIntegrityError, InvalidArtifactInput
from prefect_artifacts.models import Artifact, ArtifactFile, RunCategory
from prefect_artifacts.storage.hashing import hash_file

if TYPE_CHECKING:
    from prefect_artifacts.registry.base import Registry

#: The in-toto Statement version the record follows.
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
#: What the predicate of our records means (a URI of ours, like the artifacts' URNs).
PREDICATE_TYPE = "urn:prefect-artifacts:provenance:v1"
#: The DSSE payload type of a signed in-toto statement.
PAYLOAD_TYPE = "application/vnd.in-toto+json"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ProvenanceRecord(dict[str, Any]):
    """A provenance record: an in-toto Statement v1 as a JSON-compatible dict.

    Example:
        ```python
        record = reg.provenance("my-data:latest")
        record["subject"][0]["digest"]["sha256"] == reg.get("my-data:latest").checksum
        record.canonical_bytes()   # what a signature covers
        ```
    """

    def canonical_bytes(self) -> bytes:
        """The canonical JSON of the record: sorted keys, no whitespace, UTF-8.

        Example:
            ```python
            record.canonical_bytes() == canonical_json(record)
            ```
        """
        return canonical_json(self)

    def to_json(self, indent: int | None = None) -> str:
        """The record as JSON text (sorted keys; canonical when ``indent`` is None).

        Example:
            ```python
            print(record.to_json(indent=2))
            ```
        """
        if indent is None:
            return self.canonical_bytes().decode("utf-8")
        return json.dumps(self, sort_keys=True, indent=indent, ensure_ascii=False)

    @property
    def predicate(self) -> dict[str, Any]:
        """The record's predicate (artifact, files, producing runs, serializer).

        Example:
            ```python
            [run["flowRunId"] for run in record.predicate["producedBy"]]
            ```
        """
        return dict(self.get("predicate") or {})


class ProvenanceVerificationError(ArtifactIntegrityError):
    """A signed provenance record does not verify; ``problems`` names each failure.

    Example:
        ```python
        try:
            verify_provenance(envelope, "signing.pub.pem", content="data.csv")
        except ProvenanceVerificationError as exc:
            print(exc.problems)   # ["file 'data.csv': sha256 differs (...)"]
        ```
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("provenance verification failed: " + "; ".join(self.problems))


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, ``,``/``:`` separators, UTF-8, no NaN.

    Raises:
        InvalidArtifactInput: the value is not JSON-compatible.

    Example:
        ```python
        canonical_json({"b": 1, "a": [1, 2]})  # b'{"a":[1,2],"b":1}'
        ```
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidArtifactInput(f"the record is not JSON-compatible: {exc}") from None


# -- building a record -----------------------------------------------------------------


def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest(checksum: str | None) -> dict[str, str]:
    """A digest set (in-toto's ``DigestSet``) for a recorded checksum."""
    if checksum is None:
        return {}
    if _SHA256.match(checksum):
        return {"sha256": checksum}
    algorithm, sep, value = checksum.partition(":")
    return {algorithm: value} if sep else {"checksum": checksum}


def _file_entry(f: ArtifactFile) -> dict[str, Any]:
    return {"path": f.path, "size": f.size, "checksum": f.checksum, "uri": f.uri, "mimeType": f.mime_type}


def _artifact_entry(art: Artifact) -> dict[str, Any]:
    return {"id": art.id, "urn": art.urn, "ref": art.ref, "kind": art.kind.value,
            "checksum": art.checksum, "digest": _digest(art.checksum), "created": _timestamp(art.created)}


def _producer(registry: Registry, art: Artifact) -> dict[str, Any] | None:
    """The producer aspect written in the artifact's create (same time as the artifact), if any."""
    for aspect in registry.get_metadata(art.id):
        if aspect.schema_name == PRODUCER_ASPECT and aspect.created == art.created:
            return aspect.content
    return None


def build_provenance(registry: Registry, ref: str) -> ProvenanceRecord:
    """The provenance record of an artifact, from what ``registry`` records about it.

    Works on any `Registry` (embedded, HTTP, offline): it reads the artifact, its files,
    the artifacts of its producing runs and its serializer's plugin snapshot through the
    public contract. A producing run's task run, task run name and deployment come from
    the producer aspect written with the artifact by the Prefect tasks and result
    storage (None for a run that only linked it later, or for a write outside a task);
    an aspect of that schema added after creation is not trusted.

    Raises:
        ArtifactNotFound: no such artifact (or snapshot).
        SnapshotIntegrityError: the serializer snapshot's files do not hash to its digest.

    Example:
        ```python
        record = build_provenance(reg, "model:latest")   # what reg.provenance(...) returns
        ```
    """
    art = registry.get(ref)
    files = sorted(registry.files(art.id), key=lambda f: f.path)
    subject: list[dict[str, Any]] = [{"name": art.urn, "digest": _digest(art.checksum)}]
    subject += [{"name": f.path, "digest": _digest(f.checksum)} for f in files if f.checksum]

    producer = _producer(registry, art)
    produced_by: list[dict[str, Any]] = []
    outputs = sorted((link for link in art.runs if link.category is RunCategory.OUTPUT),
                     key=lambda link: (_timestamp(link.created), link.run_id))
    for link in outputs:
        inputs = registry.run_artifacts(link.run_id, RunCategory.INPUT)
        code = registry.run_artifacts(link.run_id, RunCategory.CODE)
        made_it = producer if producer is not None and producer.get("flow_run_id") == link.run_id else {}
        produced_by.append({
            "flowRunId": link.run_id,
            "flowName": made_it.get("flow_name"),
            "taskRunId": made_it.get("task_run_id"),
            "taskRunName": made_it.get("task_run_name"),
            "deploymentId": made_it.get("deployment_id"),
            "linked": _timestamp(link.created),
            "inputs": sorted((_artifact_entry(a) for a in inputs), key=lambda e: e["urn"]),
            "code": sorted(({**_artifact_entry(a), "files": [
                {"path": f.path, "digest": _digest(f.checksum)}
                for f in sorted(registry.files(a.id), key=lambda f: f.path)]} for a in code),
                key=lambda e: e["urn"]),
        })

    serializer = None
    if art.serializer is not None:
        from prefect_artifacts.errors import SnapshotIntegrityError

        snapshot = registry.get_plugin_snapshot(art.serializer.snapshot_id)
        computed = snapshot_digest(snapshot.files)
        if computed != snapshot.digest:
            raise SnapshotIntegrityError(
                f"plugin snapshot {snapshot.id} records digest {snapshot.digest} but its files hash to {computed}")
        serializer = {
            "taskName": art.serializer.task_name, "snapshotId": snapshot.id,
            "pluginName": snapshot.plugin_name, "pluginVersion": snapshot.version,
            "digest": {"sha256": snapshot.digest},
            "files": [{"path": f.path, "size": f.size, "digest": _digest(f.checksum)}
                      for f in sorted(snapshot.files, key=lambda f: f.path)],
        }

    predicate: dict[str, Any] = {
        "artifact": {
            "id": art.id, "urn": art.urn, "ref": art.ref, "folder": art.folder, "name": art.name,
            "version": art.version, "kind": art.kind.value, "isDir": art.is_dir, "size": art.size,
            "checksum": art.checksum, "mimeType": art.mime_type, "groupId": art.group_id,
        },
        "files": [_file_entry(f) for f in files],
        "producedBy": produced_by,
        "serializer": serializer,
        "created": _timestamp(art.created),
    }
    return ProvenanceRecord({"_type": STATEMENT_TYPE, "subject": subject,
                             "predicateType": PREDICATE_TYPE, "predicate": predicate})


# -- keys ------------------------------------------------------------------------------


def public_key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The id of a key pair: SHA-256 (hex) of the raw 32-byte Ed25519 public key.

    Example:
        ```python
        public_key_id(private_key) == public_key_id(private_key.public_key())
        ```
    """
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _private_from_pem(data: bytes, source: str, password: bytes | None) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError:
        raise InvalidArtifactInput(
            f"{source}: the key is encrypted and no password was given, or a password was given "
            "for an unencrypted key") from None
    except (ValueError, UnsupportedAlgorithm):
        # cryptography's message is not echoed: nothing about the key's bytes leaves here.
        raise InvalidArtifactInput(f"{source}: not a PEM private key (or a wrong password)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidArtifactInput(f"{source}: an {type(key).__name__.lstrip('_')}, not an Ed25519 private key")
    return key


def load_signing_key(
    path: str | os.PathLike[str] | None = None,
    *,
    secret_block: str | None = None,
    password: str | bytes | None = None,
) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file or a Prefect ``Secret`` block holding the PEM text.

    Exactly one of ``path`` and ``secret_block`` is given. Errors name the file or the
    block, never the key.

    Raises:
        InvalidArtifactInput: neither or both sources, a missing file or block, or a
            value that is not an (unencrypted, or correctly decrypted) Ed25519 PEM key.

    Example:
        ```python
        key = load_signing_key("signing.pem")
        key = load_signing_key(secret_block="artifact-signing-key")
        ```
    """
    if (path is None) == (secret_block is None):
        raise InvalidArtifactInput("give exactly one of a key file path and a Secret block name")
    pw = password.encode() if isinstance(password, str) else password
    if path is not None:
        source = f"signing key file {os.fspath(path)!r}"
        return _private_from_pem(_read_key_file(path, source), source, pw)
    assert secret_block is not None
    from prefect.blocks.system import Secret

    source = f"Secret block {secret_block!r}"
    try:
        # async_dispatch types it `block | Coroutine`; _sync=True makes it the block.
        block = cast(Secret, Secret.load(secret_block, _sync=True))  # type: ignore[call-arg]
    except ValueError:
        raise InvalidArtifactInput(f"{source} does not exist") from None
    value = block.get()
    if not isinstance(value, str):
        raise InvalidArtifactInput(f"{source} does not hold a PEM text")
    return _private_from_pem(value.encode(), source, pw)


def _read_key_file(path: str | os.PathLike[str], source: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InvalidArtifactInput(f"{source} does not exist") from None
    except OSError as exc:
        raise InvalidArtifactInput(f"{source} cannot be read ({exc.strerror})") from None


def load_public_key(key: Ed25519PublicKey | str | bytes | os.PathLike[str]) -> Ed25519PublicKey:
    """An Ed25519 public key: the key itself, PEM bytes, or the path of a PEM file.

    Raises:
        InvalidArtifactInput: missing file, not a PEM public key, not Ed25519, or a
            private key (pass its public half).

    Example:
        ```python
        public = load_public_key("signing.pub.pem")
        ```
    """
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, bytes):
        data, source = key, "public key"
    else:
        source = f"public key file {os.fspath(key)!r}"
        data = _read_key_file(key, source)
    if b"PRIVATE KEY" in data:
        raise InvalidArtifactInput(f"{source} holds a private key: verify with the public key only")
    try:
        public = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidArtifactInput(f"{source}: not a PEM public key") from None
    if not isinstance(public, Ed25519PublicKey):
        raise InvalidArtifactInput(f"{source}: an {type(public).__name__.lstrip('_')}, not an Ed25519 public key")
    return public


# -- signing ---------------------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: the bytes a DSSE signature covers.

    Example:
        ```python
        pae("application/vnd.in-toto+json", b"{}")  # b"DSSEv1 28 application/vnd.in-toto+json 2 {}"
        ```
    """
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign_provenance(
    record: Mapping[str, Any], key: Ed25519PrivateKey | str | os.PathLike[str]
) -> dict[str, Any]:
    """A DSSE envelope of ``record`` (canonical JSON) signed with an Ed25519 key.

    ``key`` is a loaded private key or the path of its PEM file (see `load_signing_key`
    for a Secret block).

    Raises:
        InvalidArtifactInput: the record is not JSON-compatible, or the key can not be loaded.

    Example:
        ```python
        envelope = sign_provenance(reg.provenance("model"), "signing.pem")
        Path("model.provenance.json").write_text(json.dumps(envelope))
        ```
    """
    private = key if isinstance(key, Ed25519PrivateKey) else load_signing_key(key)
    payload = canonical_json(record)
    signature = private.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": public_key_id(private), "sig": base64.b64encode(signature).decode("ascii")}],
    }


# -- verifying -------------------------------------------------------------------------


def _b64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise ProvenanceVerificationError([f"{what} is not a base64 string"])
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ProvenanceVerificationError([f"{what} is not valid base64 (it was modified)"]) from None


def _load_envelope(envelope: Mapping[str, Any] | str | bytes | os.PathLike[str]) -> Mapping[str, Any]:
    if isinstance(envelope, Mapping):
        return envelope
    if isinstance(envelope, str) and not envelope.lstrip().startswith("{"):
        envelope = Path(envelope)  # a file name, not JSON text
    if isinstance(envelope, os.PathLike):
        try:
            text: str | bytes = Path(envelope).read_bytes()
        except OSError as exc:
            raise InvalidArtifactInput(f"envelope file {os.fspath(envelope)!r} cannot be read ({exc.strerror})") \
                from None
    else:
        text = envelope
    try:
        loaded = json.loads(text)
    except ValueError:
        raise ProvenanceVerificationError(["the envelope is not valid JSON"]) from None
    if not isinstance(loaded, Mapping):
        raise ProvenanceVerificationError(["the envelope is not a JSON object"])
    return loaded


def _check_signature(envelope: Mapping[str, Any], public: Ed25519PublicKey) -> bytes:
    """The verified payload bytes; raises naming a bad signature or a wrong key."""
    payload_type = envelope.get("payloadType")
    if payload_type != PAYLOAD_TYPE:
        raise ProvenanceVerificationError([f"payloadType is {payload_type!r}, expected {PAYLOAD_TYPE!r}"])
    payload = _b64(envelope.get("payload"), "the payload")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise ProvenanceVerificationError(["the envelope holds no signatures"])
    expected = public_key_id(public)
    message = pae(PAYLOAD_TYPE, payload)
    keyids = []
    for index, entry in enumerate(signatures):
        if not isinstance(entry, Mapping):
            raise ProvenanceVerificationError([f"signature {index} is not an object"])
        keyids.append(str(entry.get("keyid")))
        sig = _b64(entry.get("sig"), f"signature {index} (key {entry.get('keyid')})")
        try:
            public.verify(sig, message)
        except InvalidSignature:
            continue
        return payload
    if expected in keyids:
        raise ProvenanceVerificationError([
            f"bad signature: the signature of key {expected} does not match the payload "
            "(the payload or the signature was modified)"])
    raise ProvenanceVerificationError([
        f"wrong key: the envelope is signed by key {', '.join(keyids)}, "
        f"the public key given is {expected}"])


def _record_from(payload: bytes) -> ProvenanceRecord:
    try:
        record = json.loads(payload)
    except ValueError:
        raise ProvenanceVerificationError(["the signed payload is not JSON"]) from None
    if not isinstance(record, dict):
        raise ProvenanceVerificationError(["the signed payload is not a JSON object"])
    problems = []
    if record.get("_type") != STATEMENT_TYPE:
        problems.append(f"_type is {record.get('_type')!r}, expected {STATEMENT_TYPE!r}")
    if record.get("predicateType") != PREDICATE_TYPE:
        problems.append(f"predicateType is {record.get('predicateType')!r}, expected {PREDICATE_TYPE!r}")
    predicate = record.get("predicate")
    if not isinstance(predicate, dict) or not isinstance(predicate.get("artifact"), dict) \
            or not isinstance(predicate.get("files"), list):
        problems.append("the predicate lacks its artifact or files")
    if problems:
        raise ProvenanceVerificationError(problems)
    return ProvenanceRecord(record)


def _record_problems(record: ProvenanceRecord) -> list[str]:
    """Disagreements inside a record: its subject, files and artifact checksum."""
    predicate = record.predicate
    artifact, files = predicate["artifact"], predicate["files"]
    problems = []
    subject = {s.get("name"): s.get("digest") for s in record.get("subject") or [] if isinstance(s, dict)}
    if subject.get(artifact.get("urn")) != _digest(artifact.get("checksum")):
        problems.append("the record's subject does not carry the artifact checksum")
    for f in files:
        if f.get("checksum") and subject.get(f.get("path")) != _digest(f["checksum"]):
            problems.append(f"the record's subject does not carry the digest of file {f.get('path')!r}")
    try:
        entries = [ArtifactFile(path=f["path"], size=f.get("size"), checksum=f.get("checksum")) for f in files]
    except (KeyError, TypeError, ValueError):
        return [*problems, "the record's file list is malformed"]
    if entries:
        recorded = manifest_checksum(entries) if artifact.get("isDir") else entries[0].checksum
        if recorded != artifact.get("checksum"):
            problems.append("the record's artifact checksum does not match its own file list")
    return problems


def _local_files(root: Path) -> dict[str, Path]:
    found = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            full = Path(folder, name)
            found[full.relative_to(root).as_posix()] = full
    return found


def _content_problems(record: ProvenanceRecord, content: Path) -> list[str]:
    """Every difference between the record's files and the local content."""
    predicate = record.predicate
    artifact, files = predicate["artifact"], predicate["files"]
    is_dir = bool(artifact.get("isDir"))
    if not content.exists():
        return [f"content {str(content)!r} does not exist"]
    problems: list[str] = []
    stored = [f for f in files if not f.get("uri")]
    if content.is_file():
        if is_dir or len(files) != 1:
            return [f"content {str(content)!r} is one file, but the artifact is a directory of {len(files)} file(s)"]
        local = {files[0]["path"]: content}
    else:
        local = _local_files(content)
    entries: list[ArtifactFile] = []
    for f in files:
        path, recorded = f["path"], f.get("checksum")
        found = local.pop(path, None)
        if found is None:
            if f.get("uri"):  # a reference: its bytes were never copied, so they may be absent
                entries.append(ArtifactFile(path=path, size=f.get("size"), checksum=recorded))
            else:
                problems.append(f"file {path!r}: missing from the content")
            continue
        digest, size = hash_file(str(found))
        entries.append(ArtifactFile(path=path, size=size, checksum=digest))
        if recorded and _SHA256.match(recorded) and digest != recorded:
            problems.append(f"file {path!r}: sha256 differs (record {recorded}, content {digest})")
        if f.get("size") is not None and size != f["size"]:
            problems.append(f"file {path!r}: size differs (record {f['size']}, content {size})")
    problems += [f"file {path!r}: in the content but not in the record (extra file)" for path in sorted(local)]
    if entries and stored:
        computed = manifest_checksum(entries) if is_dir else entries[0].checksum
        if computed != artifact.get("checksum"):
            problems.append(f"artifact checksum differs (record {artifact.get('checksum')}, content {computed})")
    return problems


def verify_provenance(
    envelope: Mapping[str, Any] | str | bytes | os.PathLike[str],
    public_key: Ed25519PublicKey | str | bytes | os.PathLike[str],
    content: str | os.PathLike[str] | None = None,
) -> ProvenanceRecord:
    """Verify a signed provenance record offline, then (optionally) local content against it.

    The signature is checked first (with ``public_key``: a key, PEM bytes or a PEM file
    path), then the record's own consistency, then, when ``content`` is given (a file
    for a single-file artifact, a directory as `Registry.download_dir` writes it),
    each file's SHA-256 and size and the artifact checksum recomputed from the content.
    No registry or server is contacted. ``envelope`` is the envelope dict, its JSON
    text (bytes, or a string starting with ``{``), or the path of its JSON file.

    Returns:
        The verified record.

    Raises:
        ProvenanceVerificationError: ``problems`` names each failure: ``bad signature``,
            ``wrong key``, a file missing, extra or differing (which file, which field),
            the artifact checksum.
        InvalidArtifactInput: the public key can not be loaded.

    Example:
        ```python
        record = verify_provenance(Path("model.provenance.json"), "signing.pub.pem",
                                   content="downloaded/model/")
        ```
    """
    public = load_public_key(public_key)
    payload = _check_signature(_load_envelope(envelope), public)
    record = _record_from(payload)
    problems = _record_problems(record)
    if content is not None and not problems:
        problems = _content_problems(record, Path(content))
    if problems:
        raise ProvenanceVerificationError(problems)
    return record
