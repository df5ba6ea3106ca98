"""Request and response bodies of the REST API that are not public models.

Public models (`Artifact`, `ArtifactFile`, `Aspect`, …) are sent as they are, in
camelCase (``model_dump(mode="json", by_alias=True)``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from prefect_artifacts.batches import MAX_REQUEST_ITEMS
from prefect_artifacts.models import (
    Artifact,
    ArtifactFile,
    ArtifactManifest,
    ConflictStrategy,
    RunCategory,
    SnapshotFile,
)


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ErrorBody(_Body):
    """Every error response: the exception class name and a message (never a trace).

    Example:
        ```python
        {"error": "ArtifactNotFound", "message": "no artifact named 'x'"}
        ```
    """

    error: str = Field(description="Name of the exception class (see prefect_artifacts.errors).")
    message: str
    position: int | None = Field(default=None, description="Offset of a search syntax error.")


class CreateArtifactRequest(ArtifactManifest):
    """An artifact manifest (blobs already PUT) plus how to handle an existing name.

    Example:
        ```python
        {"folder": "/default", "name": "a", "kind": "file", "files": [...], "conflictStrategy": "new"}
        ```
    """

    conflict_strategy: ConflictStrategy = ConflictStrategy.NEW
    make_folder: bool = True
    blobs: dict[str, str] = Field(
        default_factory=dict,
        description="Small file contents sent inline: SHA-256 → base64 (instead of PUT /blobs).",
    )


class CreatedArtifact(_Body):
    """The result of a create: the artifact, its files and whether it is new.

    Example:
        ```python
        {"artifact": {...}, "files": [...], "created": true}
        ```
    """

    artifact: Artifact
    files: list[ArtifactFile]
    created: bool


class CreateArtifactsRequest(_Body):
    """Many creates in one request (``POST /artifacts/batch``): a result per item, in order.

    Each item is a `CreateArtifactRequest` (its ``idempotencyKey`` makes a retried request
    return the same artifacts). ``blobs`` holds small contents any item may use (SHA-256 →
    base64), sent once however many items share them.

    Example:
        ```python
        {"items": [{"folder": "/team", "name": "a", "kind": "file", "files": [...], "idempotencyKey": "k1"}],
         "blobs": {"ab…": "aGVsbG8="}}
        ```
    """

    items: list[CreateArtifactRequest] = Field(
        max_length=MAX_REQUEST_ITEMS, description=f"At most {MAX_REQUEST_ITEMS} creates, each handled on its own.")
    blobs: dict[str, str] = Field(
        default_factory=dict,
        description="Small file contents shared by the items: SHA-256 → base64 (instead of PUT /blobs).",
    )


class ItemError(_Body):
    """Why one item of a batch failed: the error class, its HTTP status and message.

    Example:
        ```python
        {"type": "PermissionDenied", "status": 403, "detail": "user 'bob' may not write to group 'ops'"}
        ```
    """

    type: str = Field(description="Name of the exception class (see prefect_artifacts.errors).")
    status: int
    detail: str


class CreatedItem(_Body):
    """The result of one item of ``POST /artifacts/batch``: its artifact, or its error.

    Example:
        ```python
        {"index": 0, "created": true, "artifact": {...}, "files": [...]}
        {"index": 1, "error": {"type": "BlobNotFound", "status": 404, "detail": "content … has not been uploaded"}}
        ```
    """

    index: int
    created: bool | None = None
    artifact: Artifact | None = None
    files: list[ArtifactFile] | None = None
    error: ItemError | None = None


class CreatedArtifacts(_Body):
    """The results of ``POST /artifacts/batch``, one per item, in order.

    Example:
        ```python
        {"results": [{"index": 0, "created": true, "artifact": {...}, "files": [...]}]}
        ```
    """

    results: list[CreatedItem]


class ArtifactPage(_Body):
    """The paging envelope of ``GET /artifacts``.

    Example:
        ```python
        {"index": 0, "pageLength": 10, "totalNumResults": 42, "isComplete": false, "data": [...]}
        ```
    """

    index: int
    page_length: int
    total_num_results: int
    is_complete: bool
    next_cursor: str | None = None
    data: list[Artifact]


class UpdateArtifactRequest(_Body):
    """New description and/or labels (omitted fields are kept).

    Example:
        ```python
        {"labels": ["clean"]}
        ```
    """

    description: str | None = None
    labels: list[str] | None = None


class AttachRequest(_Body):
    """Associate an artifact with a flow run.

    Example:
        ```python
        {"runId": "5f0c…", "category": "input"}
        ```
    """

    run_id: str = Field(description="Flow run id (1-64 characters).")
    category: RunCategory = RunCategory.OUTPUT


class RecordDownloadRequest(_Body):
    """Record a download of the artifact by the caller (its transfer history, seed 001's ``remote``).

    Example:
        ```python
        {"localPath": "/home/alice/data.csv"}
        ```
    """

    local_path: str | None = Field(default=None, max_length=4096,
                                   description="Where the content was written on the caller's machine.")


class AspectRequest(_Body):
    """A metadata aspect and an optional schema (a name or a JSON Schema).

    Example:
        ```python
        {"aspect": {"rows": 3}, "schema": {"type": "object"}}
        ```
    """

    aspect: dict[str, Any]
    schema_: str | dict[str, Any] | None = Field(default=None, alias="schema")
    policy: str | None = None


class AliasRequest(_Body):
    """Point an alias at an artifact version.

    Example:
        ```python
        {"alias": "production"}
        ```
    """

    alias: str = Field(description="A letter, then letters, digits, '-', '_' or '.'.")


class SnapshotRequest(_Body):
    """A plugin snapshot whose file blobs were PUT under their SHA-256.

    Example:
        ```python
        {"pluginName": "json", "version": "1", "digest": "…", "files": [{"path": "m.py", ...}]}
        ```
    """

    plugin_name: str = Field(min_length=1, max_length=255)
    version: str | None = Field(default=None, max_length=128)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    files: list[SnapshotFile] = Field(max_length=10_000)
    group_id: str | None = Field(default=None, max_length=64)


class ReferenceRedirect(_Body):
    """Body of a ``307`` download: content that is referenced, not stored, by the server.

    The client reads each file with a ``uri`` itself (and verifies its checksum);
    files without one are downloaded with ``GET …/contents?path=``.

    Example:
        ```python
        {"artifact": {...}, "files": [{"path": "x.bin", "uri": "s3://b/x.bin", "checksum": "etag:…"}]}
        ```
    """

    artifact: Artifact
    files: list[ArtifactFile]


class BlobStored(_Body):
    """The result of a blob upload.

    Example:
        ```python
        {"digest": "ab…", "size": 3, "written": true}
        ```
    """

    digest: str
    size: int
    written: bool


class ChunkEntries(_Body):
    """The chunk index entries that verify a byte range of one stored file (``GET …/chunks``).

    The file (blob ``digest``, ``size`` bytes) is cut into chunks of ``chunkSize`` bytes;
    ``values[k]`` (hex) is the entry of chunk ``first + k``. Kind ``sha256-state``: the
    SHA-256 chaining value of the file's digest after that chunk (the last chunk's entry
    is the digest itself, and the chunk before the first needed one is included as its
    starting value); kind ``sha256``: the chunk's own SHA-256. A client fetches whole
    chunks and checks them before using any byte.

    Example:
        ```python
        {"digest": "ab…", "size": 5242880, "chunkSize": 524288, "kind": "sha256-state",
         "first": 1, "values": ["6a09…", "bb67…"]}
        ```
    """

    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    chunk_size: int = Field(gt=0)
    kind: str
    first: int = Field(ge=0)
    values: list[str]


class Health(_Body):
    """Server liveness and mode.

    Example:
        ```python
        {"status": "ok", "version": "0.1.0", "auth": true}
        ```
    """

    status: str
    version: str
    auth: bool


class Whoami(_Body):
    """The caller as the server sees it.

    Example:
        ```python
        {"user": "alice", "isAdmin": false, "defaultGroup": "alice", "groups": {"alice": true}}
        ```
    """

    user: str
    is_admin: bool
    default_group: str
    groups: dict[str, bool] | None = Field(description="Group → can write; None for an admin (every group).")
