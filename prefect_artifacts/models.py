"""Pydantic models of the public contract; no I/O happens here.

`Artifact` carries a private handle on the registry that produced it, so its methods
(`as_stream`, `as_local_file`, …) delegate to that registry.
"""

from __future__ import annotations

import builtins
import copy
import hashlib
import io
import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, computed_field
from pydantic.alias_generators import to_camel

from prefect_artifacts._asyncio import iterate_in_thread, run_in_thread
from prefect_artifacts.errors import InvalidArtifactInput, InvalidOperation

if TYPE_CHECKING:
    from prefect_artifacts._localfile import TemporaryLocalFile
    from prefect_artifacts.registry.base import Registry
    from prefect_artifacts.registry.spec import RegistrySpec

URN_PREFIX = "urn:prefect-artifacts:artifact:"
#: A group as an aspect's or artifact's ``policy`` and an artifact's ``account`` (seed 003): ``<prefix><group id>``.
GROUP_URN_PREFIX = "urn:prefect-artifacts:group:"
#: Labels that mark an artifact's content as failed (``status == "error"``); the same as
#: `prefect_artifacts.catalog.auth.QUARANTINE_LABELS` (a test keeps them equal).
ERROR_LABELS = ("corrupt", "quarantined")

# The fields of `Artifact` a writable artifact can stage (`Registry.update` sends them);
# every other field describes the stored version and is never assigned by callers.
_STAGEABLE_FIELDS = ("description", "labels")


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=False)


class ArtifactKind(str, Enum):
    """What an artifact holds.

    Example:
        ```python
        art.kind is ArtifactKind.DIRECTORY
        ```
    """

    FILE = "file"
    DIRECTORY = "directory"
    REFERENCE = "reference"
    OBJECT = "object"


class RunCategory(str, Enum):
    """How a flow run used an artifact.

    Example:
        ```python
        reg.attach(art.id, run_id, category=RunCategory.INPUT)
        ```
    """

    INPUT = "input"
    OUTPUT = "output"
    CODE = "code"


class ConflictStrategy(str, Enum):
    """What a write does when the name already exists in the folder.

    ``skip`` returns the existing latest version, ``error`` raises `ArtifactConflict`,
    ``new`` adds the next version, ``replace`` deletes the live versions and adds the
    next version.

    Example:
        ```python
        reg.upload_file("a.csv", name="a", conflict_strategy=ConflictStrategy.SKIP)
        ```
    """

    SKIP = "skip"
    ERROR = "error"
    NEW = "new"
    REPLACE = "replace"


class BundleType(str, Enum):
    """Archive formats for directory contents.

    Example:
        ```python
        art.get_contents(file_type=BundleType.ZIP)
        ```
    """

    TAR_GZ = "tar_gz"
    ZIP = "zip"

    @property
    def suffix(self) -> str:
        """File name suffix of the archive (``.tar.gz`` or ``.zip``).

        Example:
            ```python
            BundleType.ZIP.suffix  # ".zip"
            ```
        """
        return ".tar.gz" if self is BundleType.TAR_GZ else ".zip"

    @property
    def mime_type(self) -> str:
        """MIME type of the archive.

        Example:
            ```python
            BundleType.TAR_GZ.mime_type  # "application/gzip"
            ```
        """
        return "application/gzip" if self is BundleType.TAR_GZ else "application/zip"


class ArtifactFile(_Model):
    """One file of an artifact.

    Example:
        ```python
        for f in art.files:
            print(f.path, f.size, f.checksum)
        ```
    """

    path: str = Field(description="Path inside the artifact, '/'-separated.")
    size: int | None = Field(default=None, description="Size in bytes.")
    checksum: str | None = Field(
        default=None, description="SHA-256 hex digest, or 'etag:…' for some references."
    )
    mime_type: str | None = Field(default=None, description="MIME type.")
    uri: str | None = Field(
        default=None, description="Referenced URI; None when the content is stored."
    )

    @property
    def is_reference(self) -> bool:
        """Whether this file is a reference (not copied into the store).

        Example:
            ```python
            art.files[0].is_reference
            ```
        """
        return self.uri is not None


class RunLink(_Model):
    """An association of an artifact with a flow run.

    Example:
        ```python
        [link.category for link in art.runs]
        ```
    """

    run_id: str
    category: RunCategory
    created: datetime


class TransferAction(str, Enum):
    """What a `Transfer` did: the content went into the registry or out of it.

    Example:
        ```python
        TransferAction("download")
        ```
    """

    UPLOAD = "upload"
    DOWNLOAD = "download"


class Transfer(_Model):
    """One upload or download of an artifact, recorded by the registry (seed 001's ``remote``).

    An upload is recorded when a create makes the version; a download when the
    registry writes the content to local files (`Registry.download`, ``download_dir``,
    ``get_contents``, `Artifact.as_local_file`) or a client calls
    `Registry.record_download`. Streams (``as_stream``, ``open``) are not recorded.

    Attributes:
        user: who (the authenticated user of a server, else the operating-system user).
        created: when (UTC).
        ref: where in the registry (``/folder/name:version``).
        local_path: where on the caller's machine, when known (the uploaded file, the
            download's destination).

    Example:
        ```python
        [(t.action.value, t.user, t.created) for t in art.remote]
        ```
    """

    id: str
    action: TransferAction
    user: str
    created: datetime
    ref: str
    local_path: str | None = None


class Aspect(_Model):
    """A typed metadata record attached to an artifact.

    Example:
        ```python
        for aspect in art.metadata:
            print(aspect.schema_name, aspect.content)
        ```
    """

    id: str
    schema_name: str | None = Field(default=None, description="Schema URI or name.")
    content: dict[str, Any]
    policy: str | None = Field(
        default=None,
        description="None (whoever reads the artifact reads it) or urn:prefect-artifacts:group:<id> "
                    "(only that group's members read it).",
    )
    created: datetime


class AspectSchema(_Model):
    """A JSON Schema registered under a URN (`Registry.register_schema`); immutable once registered.

    An aspect whose schema (``schema=`` or ``aspect["$schema"]``) is a registered URN is
    validated against it when it is written.

    Example:
        ```python
        reg.register_schema("urn:example:schema:rows:1", {"type": "object", "required": ["rows"]})
        reg.get_schema("urn:example:schema:rows:1").json_schema["required"]  # ['rows']
        ```
    """

    urn: str
    json_schema: dict[str, Any] = Field(alias="schema")
    digest: str = Field(description="SHA-256 of the schema's canonical JSON.")
    created: datetime


class SerializerRef(_Model):
    """The plugin snapshot and serializer that wrote an object artifact.

    Example:
        ```python
        art.serializer.snapshot_id
        ```
    """

    snapshot_id: str
    task_name: str


class SnapshotFile(_Model):
    """One source file inside a plugin snapshot.

    Example:
        ```python
        [f.path for f in snapshot.files]
        ```
    """

    path: str
    checksum: str
    size: int


class PluginSnapshot(_Model):
    """Immutable copy of a serializer plugin's source code.

    Example:
        ```python
        snap = reg.get_plugin_snapshot(art.serializer.snapshot_id)
        ```
    """

    id: str
    plugin_name: str
    version: str | None = None
    digest: str
    files: list[SnapshotFile]
    created: datetime


T = TypeVar("T")


class Page(_Model, Generic[T]):
    """One page of a listing.

    ``next_cursor`` (when not None) fetches the next page by keyset paging, which
    costs the same at any depth; ``index`` pages use OFFSET.

    Example:
        ```python
        page = reg.list(page_length=50)
        while page.next_cursor:
            page = reg.list(page_length=50, cursor=page.next_cursor)
        ```
    """

    data: list[T]
    total: int
    index: int
    page_length: int
    is_complete: bool
    next_cursor: str | None = None


class LineageEdge(_Model):
    """A run used an artifact in a category.

    Example:
        ```python
        [(e.run_id, e.category) for e in reg.lineage("report").edges]
        ```
    """

    artifact_id: str
    run_id: str
    category: RunCategory


class Lineage(_Model):
    """Artifacts and runs connected to an artifact through run associations.

    Example:
        ```python
        graph = reg.lineage("report:latest")
        [a.name for a in graph.artifacts]
        ```
    """

    root: str
    artifacts: list[Artifact]
    edges: list[LineageEdge]

    def upstream(self, artifact_id: str) -> builtins.list[str]:
        """Ids of artifacts that were inputs of the runs that produced ``artifact_id``.

        Example:
            ```python
            graph.upstream(art.id)
            ```
        """
        producers = {
            e.run_id for e in self.edges
            if e.artifact_id == artifact_id and e.category is RunCategory.OUTPUT
        }
        return sorted({
            e.artifact_id for e in self.edges
            if e.run_id in producers and e.category is not RunCategory.OUTPUT
        })

    def downstream(self, artifact_id: str) -> builtins.list[str]:
        """Ids of artifacts produced by the runs that used ``artifact_id`` as input or code.

        The mirror of `upstream`: ``b in graph.downstream(a)`` exactly when
        ``a in graph.upstream(b)``.

        Example:
            ```python
            graph = reg.lineage("raw-data")
            graph.downstream(graph.root)  # ids of what was made from it
            ```
        """
        consumers = {
            e.run_id for e in self.edges
            if e.artifact_id == artifact_id and e.category is not RunCategory.OUTPUT
        }
        return sorted({
            e.artifact_id for e in self.edges
            if e.run_id in consumers and e.category is RunCategory.OUTPUT
        })


class GcReport(_Model):
    """What a garbage collection removed (or would remove, when ``dry_run``).

    ``temp_files_deleted`` counts partial writes older than the grace period (temporary
    files, stale leases); ``uploads_aborted``/``upload_bytes_aborted`` the S3 multipart
    uploads under the store's prefix that a dead writer left (their parts deleted).
    ``blobs_kept_young``/``bytes_kept_young`` are the unreferenced blobs the grace period
    (``grace_seconds``, the one applied) kept because they are younger than it: a later
    gc, or one with a shorter grace, collects them.

    Example:
        ```python
        report = reg.gc(dry_run=True)
        print(report.blobs_deleted, report.bytes_freed)
        ```
    """

    dry_run: bool
    artifacts_purged: int = 0
    blobs_deleted: int = 0
    bytes_freed: int = 0
    temp_files_deleted: int = 0
    blobs_kept_young: int = 0
    bytes_kept_young: int = 0
    grace_seconds: float | None = None
    uploads_aborted: int = 0
    upload_bytes_aborted: int = 0


class ManifestFile(_Model):
    """A file of an artifact about to be created (``digest`` None for a reference).

    Example:
        ```python
        ManifestFile(path="a.txt", size=3, checksum=d, digest=d, mime_type="text/plain")
        ```
    """

    path: str
    size: int | None = None
    checksum: str | None = None
    mime_type: str | None = None
    uri: str | None = None
    digest: str | None = None


class ArtifactManifest(_Model):
    """Everything needed to create one artifact version once its blobs are stored.

    Example:
        ```python
        ArtifactManifest(folder="/default", name="a", kind=ArtifactKind.FILE, files=[...])
        ```
    """

    folder: str
    name: str
    kind: ArtifactKind
    files: list[ManifestFile]
    is_dir: bool = False
    description: str | None = None
    labels: list[str] = Field(default_factory=list)
    mime_type: str | None = None
    size: int | None = None
    checksum: str | None = None
    original_path: str | None = None
    serializer: SerializerRef | None = None
    group_id: str | None = None
    idempotency_key: str | None = None
    aspects: list[dict[str, Any]] = Field(default_factory=list)
    runs: list[tuple[str, RunCategory]] = Field(default_factory=list)
    storage_id: str | None = Field(default=None, max_length=64,
                                   description="The content store of the blobs (None: the default store).")


class Artifact(_Model):
    """A catalogued artifact, with methods that read it through its registry.

    An `Artifact` is a snapshot of one catalogued version and starts **read-only**,
    whichever way it was obtained (`get`, `list`, an upload, unpickling): assigning a
    field raises `InvalidOperation` instead of changing only this local copy. To change
    the description, labels, metadata or aliases, make it writable with
    ``read_only(False)``, edit (the edits are *staged*, see `staged`), then `commit`.
    Explicit write methods (`add_metadata`, `attach_to_run`, `delete`) send at once and
    work in either state.

    Example:
        ```python
        art = reg.get("my-data:latest")
        with art.as_local_file() as path:
            print(path.read_text())
        art.read_only(False)
        art.description = "cleaned"
        art.commit()
        ```
    """

    id: str
    name: str
    version: int
    folder: str
    kind: ArtifactKind
    description: str | None = None
    labels: list[str] = Field(default_factory=list)
    mime_type: str | None = None
    size: int | None = None
    checksum: str | None = None
    created: datetime
    modified: datetime
    original_path: str | None = None
    group_id: str | None = None
    is_dir: bool = False
    file_count: int = 1
    runs: list[RunLink] = Field(default_factory=list)
    serializer: SerializerRef | None = None
    storage_id: str | None = Field(
        default=None,
        description="The id of the content store holding its blobs (seed 000's storage_id): \"default\" or one of"
        " the registry's named stores; None for a reference (its content is not stored).",
    )

    _registry: Registry | None = PrivateAttr(default=None)
    # After unpickling: how to open the registry again; opened on first use (open_registry).
    _registry_spec: RegistrySpec | None = PrivateAttr(default=None)
    _files: builtins.list[ArtifactFile] | None = PrivateAttr(default=None)
    # The flow run this artifact was read through (`Registry.run_artifacts`): `get_category`'s default.
    _seen_run: str | None = PrivateAttr(default=None)
    # Set by the create that returned this object: True if it made the version, False if
    # it returned an existing one (skip, a reused idempotency key); None when unknown.
    _just_created: bool | None = PrivateAttr(default=None)
    # Object state: writable only after read_only(False). `_synced` is the description and
    # labels as last received from the registry; `staged` compares the fields with it, so
    # in-place edits of `labels` are seen too. Metadata and aliases to send are queued.
    _read_only: bool = PrivateAttr(default=True)
    _synced: tuple[str | None, tuple[str, ...]] | None = PrivateAttr(default=None)
    _staged_metadata: tuple[dict[str, Any], ...] = PrivateAttr(default=())
    _staged_aliases: tuple[str, ...] = PrivateAttr(default=())
    # Set by an OfflineRegistry on an artifact of its outbox not yet pushed (`status` "pending").
    _pending: bool = PrivateAttr(default=False)

    def model_post_init(self, context: Any, /) -> None:
        """Remember the registry's description and labels (the base of `staged`)."""
        self._synced = (self.description, tuple(self.labels))

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or name not in type(self).model_fields:
            super().__setattr__(name, value)  # private state; pydantic refuses unknown names
            return
        if self.is_read_only:
            raise InvalidOperation(
                f"{self.ref} is read-only: assigning {name!r} would only change this local copy. "
                f"Call art.read_only(False), assign it, then art.commit() to send the change "
                f"(or use registry.update(...))"
            )
        if name not in _STAGEABLE_FIELDS:
            raise InvalidOperation(
                f"{name!r} of {self.ref} cannot be changed: a stored version is immutable. Only "
                "description and labels can be assigned (metadata and aliases are staged with "
                "stage_metadata() and stage_alias()), then sent with commit()"
            )
        value = _validated_labels(value) if name == "labels" else self._validated_description(value)
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if name in type(self).model_fields:
            raise InvalidOperation(f"{name!r} of {self.ref} cannot be deleted (assign it on a writable artifact)")
        super().__delattr__(name)

    def _set_field(self, name: str, value: Any) -> None:
        """Set a field from the registry's answer (bypasses the read-only guard)."""
        BaseModel.__setattr__(self, name, value)

    def _synced_state(self) -> tuple[str | None, tuple[str, ...]]:
        return self._synced if self._synced is not None else (self.description, tuple(self.labels))

    def _validated_description(self, value: object) -> str | None:
        if value is None:
            if self._synced_state()[0] is None:
                return None
            raise InvalidArtifactInput(
                f"the description of {self.ref} cannot be removed; assign '' to empty it"
            )
        if not isinstance(value, str):
            raise InvalidArtifactInput(f"description must be a string, not {type(value).__name__}")
        if "\x00" in value:
            raise InvalidArtifactInput("description contains a NUL character")
        return value

    @computed_field  # type: ignore[prop-decorator]
    @property
    def urn(self) -> str:
        """Globally unique URN of the artifact.

        Example:
            ```python
            reg.get(art.urn) == art
            ```
        """
        return URN_PREFIX + self.id

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> str:
        """``ready``, ``error`` or ``pending`` (seed 003's status).

        An artifact is catalogued only once all its content is stored and verified, so
        every artifact a registry returns is ``ready``, except ``error`` when it carries
        a quarantine label (``corrupt``, set by verification when its content no longer
        matches its checksum, or ``quarantined``) and ``pending`` when an
        `OfflineRegistry` holds it in its outbox, not yet pushed to the server.

        Example:
            ```python
            reg.get("my-data").status  # "ready"
            ```
        """
        if any(label in ERROR_LABELS for label in self.labels):
            return "error"
        return "pending" if self._pending else "ready"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def account(self) -> str | None:
        """URN of the group that owns the artifact (seed 003's account): ``urn:prefect-artifacts:group:<id>``.

        Example:
            ```python
            art.account  # "urn:prefect-artifacts:group:team-a"
            ```
        """
        return None if self.group_id is None else GROUP_URN_PREFIX + self.group_id

    @computed_field  # type: ignore[prop-decorator]
    @property
    def policy(self) -> str | None:
        """URN of what controls access (seed 003's policy): the owning group (its members read, its writers write).

        The same URN given as an aspect's ``policy`` keeps that aspect to this group.

        Example:
            ```python
            art.add_metadata({"secret": 1}, policy=art.policy)
            ```
        """
        return self.account

    @computed_field  # type: ignore[prop-decorator]
    @property
    def etag(self) -> str:
        """A tag of this version's content and catalogued state (seed 003's etag).

        The SHA-256 (32 hex digits) of every other field: it changes when the metadata,
        description, labels or run links change (any of them moves ``modified`` or the
        runs), never otherwise, and is the same through every registry. The server sends
        it as the ``ETag`` of ``GET /artifacts/{id}`` and answers ``If-None-Match`` with 304.

        Example:
            ```python
            before = reg.get("my-data").etag
            reg.add_metadata("my-data", {"rows": 3})
            reg.get("my-data").etag != before  # True
            ```
        """
        # pydantic's own JSON (fields in their declared order): a third of json.dumps(sort_keys=True)'s cost,
        # which every artifact of every answer pays
        return hashlib.sha256(self.model_dump_json(exclude={"etag", "status"}).encode()).hexdigest()[:32]

    @property
    def files(self) -> builtins.list[ArtifactFile]:
        """The artifact's files (loaded from the registry on first use).

        Example:
            ```python
            [(f.path, f.size) for f in art.files]
            ```
        """
        if self._files is None:
            self._files = self._reg().files(self.id)
        return self._files

    def with_files(self, files: builtins.list[ArtifactFile]) -> Artifact:
        """Set the already-known file list; returns self.

        Example:
            ```python
            art.with_files([ArtifactFile(path="a.txt", size=1)])
            ```
        """
        self._files = files
        return self

    @property
    def ref(self) -> str:
        """Human-readable reference ``/folder/name:version``.

        Example:
            ```python
            reg.get(art.ref)
            ```
        """
        from prefect_artifacts._paths import artifact_ref  # _paths imports this module

        return artifact_ref(self.folder, self.name, self.version)

    def bind(self, registry: Registry) -> Artifact:
        """Attach the registry used by this artifact's methods; returns self.

        Example:
            ```python
            art = Artifact.model_validate(data).bind(reg)
            ```
        """
        self._registry = registry
        return self

    def _reg(self) -> Registry:
        if self._registry is None:
            if self._registry_spec is None:
                raise InvalidOperation("this Artifact is not bound to a registry")
            from prefect_artifacts.registry.spec import open_registry

            self._registry = open_registry(self._registry_spec)
        return self._registry

    def __getstate__(self) -> dict[Any, Any]:
        # The registry (connections, locks, thread-locals) travels as its picklable spec; the
        # other process opens it on first use, one registry per spec per process.
        state = super().__getstate__()
        private = dict(state.get("__pydantic_private__") or {})
        registry = private.get("_registry")
        if registry is not None:
            from prefect_artifacts.registry.spec import remember_registry

            private["_registry"] = None
            private["_registry_spec"] = remember_registry(registry)  # None: unbound over there
        state["__pydantic_private__"] = private
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        # Pickled before a private attribute existed (object state): give it its default.
        private = self.__pydantic_private__
        if private is not None:
            for name, attribute in type(self).__private_attributes__.items():
                if name not in private:
                    private[name] = attribute.get_default()
            if private["_synced"] is None:
                private["_synced"] = (self.description, tuple(self.labels))

    def _single_file(self) -> ArtifactFile:
        if self.is_dir:
            raise InvalidOperation(
                f"{self.ref} is a directory of {len(self.files)} files: use get_contents() "
                "or read one file with as_stream(path=...)"
            )
        return self.files[0]

    def stream_chunk_size(self, chunk_size: int = -1) -> int:
        """Resolve ``chunk_size=-1`` to ``max(8 KiB, min(size / 10, 10 MiB))``.

        Example:
            ```python
            art.stream_chunk_size()  # 8192 for small files
            ```
        """
        if chunk_size > 0:
            return chunk_size
        size = self.size or 0
        return int(max(8 * 1024, min(size / 10, 10 * 1024 * 1024)))

    def as_stream(self, chunk_size: int = -1, path: str | None = None) -> Iterator[bytes]:
        """Yield the content in chunks, verifying its checksum as it streams.

        The last chunk is held back until the digest is verified, so a corrupt blob
        raises `ArtifactIntegrityError` before its content is complete.

        Args:
            chunk_size: bytes per chunk; -1 picks ``max(8 KiB, min(size/10, 10 MiB))``.
            path: a file inside a directory artifact.

        Example:
            ```python
            with open("out.bin", "wb") as f:
                for chunk in art.as_stream():
                    f.write(chunk)
            ```
        """
        if path is None:
            self._single_file()
        return self._reg().read(self.id, path=path, chunk_size=self.stream_chunk_size(chunk_size))

    def download_content(self) -> Iterator[bytes]:
        """Stream the content with the default chunk size (alias of `as_stream`).

        Example:
            ```python
            total = sum(len(c) for c in art.download_content())
            ```
        """
        return self.as_stream()

    def as_local_file(
        self, path: str | Path | None = None, chunk_size: int = -1
    ) -> Path | TemporaryLocalFile:
        """Write the verified content to a local file and return its path.

        With ``path=None`` the file is temporary: ``<new private temp dir>/<file name>``,
        so it keeps the name and extension it was uploaded with (an object artifact's
        is its serializer's, e.g. ``data.json``, ``array.npy``), and the file and its
        directory are deleted on leaving ``with``. An explicit path is kept (parents are
        created). The file appears only once its checksum is verified. A directory
        artifact has no single file: use `get_contents` or ``download_dir``.

        Example:
            ```python
            with art.as_local_file() as tmp:
                print(tmp.name, tmp.stat().st_size)     # data.csv 8
            kept = art.as_local_file("out/data.csv")
            ```
        """
        self._single_file()
        return self._reg().download(self.id, path, chunk_size=self.stream_chunk_size(chunk_size))

    def open(self) -> io.BytesIO:
        """Read the whole (verified) content into an in-memory file object.

        Example:
            ```python
            with art.open() as f:
                header = f.readline()
            ```
        """
        buffer = io.BytesIO()
        for chunk in self.as_stream():
            buffer.write(chunk)
        buffer.seek(0)
        return buffer

    def get_contents(
        self,
        file_type: BundleType | str | None = None,
        artifact_path: str | None = None,
        output_dir: str | Path | None = None,
        file_stem: str = "contents",
    ) -> Path:
        """Download the content into ``output_dir`` as ``<file_stem><suffix>``.

        A directory artifact becomes a tar.gz (default) or zip bundle; ``artifact_path``
        selects one file or a sub-folder. For a single-file artifact both
        ``file_type`` and ``artifact_path`` must be None.

        Example:
            ```python
            bundle = art.get_contents(file_type="zip", output_dir="downloads")
            one = art.get_contents(artifact_path="plots/loss.png")
            ```
        """
        return self._reg().get_contents(
            self.id, file_type=file_type, artifact_path=artifact_path,
            output_dir=output_dir, file_stem=file_stem,
        )

    def add_metadata(
        self, aspect: dict[str, Any], schema: str | dict[str, Any] | None = None,
        policy: str | None = None,
    ) -> Artifact:
        """Attach a typed metadata aspect; a JSON Schema (dict) is enforced. Returns self.

        Example:
            ```python
            art.add_metadata({"rows": 10}, schema={"type": "object"})
            ```
        """
        self._reg().add_metadata(self.id, aspect, schema=schema, policy=policy)
        return self

    @property
    def metadata(self) -> list[Aspect]:
        """The metadata aspects of this artifact, oldest first.

        Example:
            ```python
            [a.content for a in art.metadata]
            ```
        """
        return self._reg().get_metadata(self.id)

    @property
    def remote(self) -> list[Transfer]:
        """Its upload and download history, oldest first: who, when, where (seed 001's ``remote``).

        Recorded by the registry (see `Transfer`), read from it on each access.

        Example:
            ```python
            [(t.action.value, t.user, t.created, t.local_path) for t in art.remote]
            ```
        """
        return self._reg().transfers(self.id)

    def get_category(self, run_id: str | None = None) -> RunCategory:
        """The category (input, output or code) of this artifact's link to a flow run.

        ``run_id=None`` means the run it was read through: an artifact returned by
        ``run_artifacts(run_id)`` knows it (seed 000's ``get_category``). Linked to the run
        in several categories, it answers the first recorded (all are in `runs`).

        Raises:
            InvalidOperation: no ``run_id`` and the artifact was not read through a run,
                or it is not linked to that run.

        Example:
            ```python
            for art in reg.run_artifacts(flow_run_id):
                print(art.name, art.get_category())   # "raw-data input"
            ```
        """
        run = self._seen_run if run_id is None else str(run_id)
        if run is None:
            raise InvalidOperation(f"{self.ref} was not read through a flow run: give run_id= "
                                   f"(its runs: {', '.join(sorted({r.run_id for r in self.runs})) or 'none'})")
        for link in sorted(self.runs, key=lambda r: r.created):
            if link.run_id == run:
                return link.category
        raise InvalidOperation(f"{self.ref} is not associated with flow run {run}")

    @property
    def url(self) -> str | None:
        """The URL of this artifact on its server (``<api>/artifacts/<id>``); None for an embedded registry.

        Example:
            ```python
            art.url  # "http://127.0.0.1:4300/api/v1/artifacts/5f0c…"
            ```
        """
        return self._reg()._where(self).url

    @property
    def download_url(self) -> str | None:
        """A URL its content can be downloaded from, or None.

        Through a server: its ``contents`` endpoint (a directory as a tar.gz; send the API
        key). Embedded: the ``file://`` URL of a single file's verified blob on a local
        store, a presigned URL (one hour) on an object store that signs, a reference's
        own URI; None for a directory. Reading a URL yourself is not verified or
        recorded: `as_stream` and `as_local_file` are.

        Example:
            ```python
            httpx.get(art.download_url, headers={"Authorization": f"Bearer {key}"})
            ```
        """
        return self._reg()._where(self).download_url

    @property
    def storage_url(self) -> str | None:
        """Where a single file's content lies in storage: its blob's URL (``file://…``, ``s3://…``), a reference's URI.

        None for a directory (one blob per file: see `files`) and through a server,
        whose store is not exposed to clients.

        Example:
            ```python
            art.storage_url  # "file:///home/me/.prefect-artifacts/blobs/sha256/2c/2cf2…"
            ```
        """
        return self._reg()._where(self).storage_url

    @property
    def uploaded(self) -> bool:
        """Whether its content is stored in the registry (seed 000's ``uploaded``).

        False for a reference (never copied) and for an artifact an `OfflineRegistry`
        holds in its outbox, not pushed to the server yet; True otherwise, since an
        artifact is catalogued only once all its content is stored and verified.

        Example:
            ```python
            reg.upload_file("data.csv", name="data").uploaded  # True
            ```
        """
        return self._reg()._where(self).uploaded

    def attach_to_run(self, run_id: str, category: RunCategory | str) -> RunLink:
        """Associate this artifact with a flow run as input, output or code.

        Example:
            ```python
            art.attach_to_run(flow_run_id, "input")
            ```
        """
        link = self._reg().attach(self.id, run_id, category)
        runs = [r for r in self.runs if (r.run_id, r.category) != (link.run_id, link.category)]
        self._set_field("runs", [*runs, link])
        return link

    def delete(self) -> None:
        """Delete this artifact version from the catalog (its blobs go at the next gc).

        Example:
            ```python
            art.delete()
            ```
        """
        self._reg().delete(self.id)

    def read_only(self, is_read_only: bool = True) -> Artifact:
        """Make this artifact read-only (the default) or writable; returns self.

        Every artifact starts read-only: assigning a field raises `InvalidOperation`.
        A writable artifact accepts ``description`` and ``labels`` assignments (validated
        at once) and `stage_metadata` / `stage_alias`; nothing is sent until `commit`.
        Switching back to read-only keeps what is staged (visible in `staged`, refused by
        `commit` until writable again); `refresh` drops it.

        Example:
            ```python
            art.read_only(False).description = "cleaned"
            art.commit()
            ```
        """
        self._read_only = bool(is_read_only)
        return self

    @property
    def is_read_only(self) -> bool:
        """Whether assignments and staging are refused (True until ``read_only(False)``).

        Example:
            ```python
            reg.get("my-data").is_read_only  # True
            ```
        """
        return self._read_only

    def _require_writable(self, action: str) -> None:
        if self.is_read_only:
            raise InvalidOperation(
                f"{self.ref} is read-only: call art.read_only(False) before you {action}"
            )

    def stage_metadata(
        self, aspect: dict[str, Any], schema: str | dict[str, Any] | None = None,
        policy: str | None = None,
    ) -> Artifact:
        """Stage a metadata aspect for the next `commit` (validated now); returns self.

        Same arguments as `add_metadata`, which sends at once. A copy of the aspect is
        kept, so changing the dict afterwards changes nothing.

        Raises:
            InvalidOperation: the artifact is read-only.
            MetadataValidationError: the aspect is not a JSON object or violates its schema.

        Example:
            ```python
            art.read_only(False).stage_metadata({"rows": 10}, schema={"type": "object"})
            art.commit()
            ```
        """
        from prefect_artifacts._aspects import prepare_aspect

        self._require_writable("stage metadata")
        prepare_aspect(aspect, schema, policy)
        staged = json.loads(json.dumps({"aspect": aspect, "schema": schema, "policy": policy}, default=str))
        self._staged_metadata = (*self._staged_metadata, staged)
        return self

    def stage_alias(self, alias: str) -> Artifact:
        """Stage an alias (``/folder/name:alias``) to point at this version on `commit`.

        Raises:
            InvalidOperation: the artifact is read-only.
            InvalidName: not a valid alias.

        Example:
            ```python
            art.read_only(False).stage_alias("production").commit()
            ```
        """
        from prefect_artifacts._paths import validate_alias

        self._require_writable("stage an alias")
        validate_alias(alias)
        if alias not in self._staged_aliases:
            self._staged_aliases = (*self._staged_aliases, alias)
        return self

    @property
    def staged(self) -> dict[str, Any]:
        """The local changes the next `commit` would send (``{}`` when there are none).

        Keys appear only when something is pending: ``description`` and ``labels`` (the
        new values, when they differ from the registry's as last received), ``metadata``
        (aspects as ``{"aspect", "schema", "policy"}``, in staging order) and
        ``aliases``. The dict is a copy: editing it changes nothing.

        Example:
            ```python
            art.read_only(False)
            art.labels = ["clean"]
            art.staged  # {"labels": ["clean"]}
            ```
        """
        description, labels = self._synced_state()
        out: dict[str, Any] = {}
        if self.description != description:
            out["description"] = self.description
        if tuple(self.labels) != labels:
            out["labels"] = list(self.labels)
        if self._staged_metadata:
            out["metadata"] = copy.deepcopy(list(self._staged_metadata))
        if self._staged_aliases:
            out["aliases"] = list(self._staged_aliases)
        return out

    def commit(self) -> Artifact:
        """Send the staged changes through the registry; returns self.

        Everything staged is validated first (labels, description, each aspect against
        its schema, aliases), so a bad value raises before anything is sent. Then, in
        this order: description and labels in one `Registry.update`, each metadata
        aspect (`add_metadata`), each alias (`set_alias`, last, so an alias never points
        at a version whose metadata is still missing). On success the fields are
        reloaded from the registry (changes made meanwhile by others included) and
        `staged` is empty. With nothing staged, nothing is sent.

        If the registry fails midway (network, permissions, the version was deleted),
        the error propagates and the steps that completed stay applied: each is removed
        from `staged` as soon as the registry confirms it, and what was not sent stays
        staged, so calling `commit()` again sends only the rest. One step may have been
        applied without its answer arriving (a timeout): then `update` and `set_alias`
        are harmless to repeat, but an aspect would be stored twice; check
        `art.metadata` before retrying after a timeout.

        Raises:
            InvalidOperation: changes are staged but the artifact is read-only, or it
                is bound to no registry.
            InvalidName, InvalidArtifactInput, MetadataValidationError: a staged value
                is invalid (nothing was sent).

        Example:
            ```python
            art = reg.get("my-data").read_only(False)
            art.description = "cleaned"
            art.labels = [*art.labels, "clean"]
            art.stage_metadata({"rows": 10})
            art.stage_alias("production")
            art.commit()
            assert art.staged == {}
            ```
        """
        from prefect_artifacts._aspects import prepare_aspect
        from prefect_artifacts._paths import validate_alias

        staged = self.staged
        if not staged:
            return self
        if self.is_read_only:
            raise InvalidOperation(
                f"{self.ref} is read-only but has local changes ({', '.join(staged)}): call "
                "art.read_only(False) to commit them, or art.refresh() to drop them"
            )
        labels = _validated_labels(staged["labels"]) if "labels" in staged else None
        description = self._validated_description(staged["description"]) if "description" in staged else None
        for item in self._staged_metadata:
            prepare_aspect(item["aspect"], item["schema"], item["policy"])
        for alias in self._staged_aliases:
            validate_alias(alias)
        registry = self._reg()

        if "labels" in staged or "description" in staged:
            updated = registry.update(self.id, description=description, labels=labels)
            synced_description, synced_labels = self._synced_state()
            self._synced = (
                updated.description if "description" in staged else synced_description,
                tuple(updated.labels) if "labels" in staged else synced_labels,
            )
        while self._staged_metadata:
            item = self._staged_metadata[0]
            registry.add_metadata(self.id, item["aspect"], schema=item["schema"], policy=item["policy"])
            self._staged_metadata = self._staged_metadata[1:]
        while self._staged_aliases:
            registry.set_alias(self.id, self._staged_aliases[0])
            self._staged_aliases = self._staged_aliases[1:]
        return self.refresh(discard=True)

    def refresh(self, discard: bool = True) -> Artifact:
        """Reload this artifact's fields from the registry; returns self.

        ``discard=True`` (default) drops every staged change: the artifact then shows
        exactly the registry's state. ``discard=False`` rebases them: staged
        description, labels, metadata and aliases are kept (a staged value that now
        equals the registry's is no longer a change), everything else is reloaded. The
        read-only flag is kept either way.

        Example:
            ```python
            art.refresh().runs
            art.refresh(discard=False).staged  # still the local edits
            ```
        """
        fresh = self._reg().get(self.id)
        pending = {} if discard else self.staged
        for field in type(self).model_fields:
            self._set_field(field, getattr(fresh, field))
        self._files = fresh._files
        self._synced = (fresh.description, tuple(fresh.labels))
        if discard:
            self._staged_metadata = ()
            self._staged_aliases = ()
        for name in _STAGEABLE_FIELDS:
            if name in pending:
                self._set_field(name, pending[name])
        return self

    def on_reconnect(self, id_mapping: dict[str, str]) -> Artifact:
        """After a sync, become the server's artifact this offline one was replayed as; returns self.

        When ``id_mapping`` (offline id → server id, as `SyncReport.mapping` and
        `OfflineRegistry.mapping` give it) maps this artifact's id, the id becomes the
        server's and every field is reloaded from the registry (which then answers from
        the server): the version number, ref, runs and files are the server's. Staged
        changes and the read-only flag are kept (as ``refresh(discard=False)``). An id the
        mapping does not hold (an online artifact, or one not synced yet) changes nothing,
        so it is safe to call with every mapping, and works as an
        `OfflineRegistry.on_reconnect` hook.

        Example:
            ```python
            art = reg.upload_file("data.csv", name="data")   # offline
            reg.on_reconnect(art.on_reconnect)                # rewritten by the next sync
            reg.push_outbox()
            art.id == reg.server_id(offline_id)
            ```
        """
        server_id = id_mapping.get(self.id)
        if server_id is None or server_id == self.id:
            return self
        self._set_field("id", server_id)
        self._files = None
        return self.refresh(discard=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dictionary of the artifact's fields.

        Example:
            ```python
            json.dumps(art.to_dict())
            ```
        """
        return {**self.model_dump(mode="json"), "files": [f.model_dump(mode="json") for f in self.files]}

    # async twins -------------------------------------------------------------

    async def aas_stream(self, chunk_size: int = -1, path: str | None = None) -> AsyncIterator[bytes]:
        """Async twin of `as_stream`."""
        async for chunk in iterate_in_thread(lambda: self.as_stream(chunk_size, path)):
            yield chunk

    async def adownload_content(self) -> AsyncIterator[bytes]:
        """Async twin of `download_content`."""
        async for chunk in iterate_in_thread(self.download_content):
            yield chunk

    async def aas_local_file(
        self, path: str | Path | None = None, chunk_size: int = -1
    ) -> Path | TemporaryLocalFile:
        """Async twin of `as_local_file`."""
        return await run_in_thread(self.as_local_file, path, chunk_size)

    async def aopen(self) -> io.BytesIO:
        """Async twin of `open`."""
        return await run_in_thread(self.open)

    async def aget_contents(
        self,
        file_type: BundleType | str | None = None,
        artifact_path: str | None = None,
        output_dir: str | Path | None = None,
        file_stem: str = "contents",
    ) -> Path:
        """Async twin of `get_contents`."""
        return await run_in_thread(self.get_contents, file_type, artifact_path, output_dir, file_stem)

    async def aadd_metadata(
        self, aspect: dict[str, Any], schema: str | dict[str, Any] | None = None,
        policy: str | None = None,
    ) -> Artifact:
        """Async twin of `add_metadata`."""
        return await run_in_thread(self.add_metadata, aspect, schema, policy)

    async def aattach_to_run(self, run_id: str, category: RunCategory | str) -> RunLink:
        """Async twin of `attach_to_run`."""
        return await run_in_thread(self.attach_to_run, run_id, category)

    async def adelete(self) -> None:
        """Async twin of `delete`."""
        await run_in_thread(self.delete)

    async def acommit(self) -> Artifact:
        """Async twin of `commit`."""
        return await run_in_thread(self.commit)

    async def arefresh(self, discard: bool = True) -> Artifact:
        """Async twin of `refresh`."""
        return await run_in_thread(self.refresh, discard)

    async def aon_reconnect(self, id_mapping: dict[str, str]) -> Artifact:
        """Async twin of `on_reconnect`."""
        return await run_in_thread(self.on_reconnect, id_mapping)


def _validated_labels(labels: object) -> builtins.list[str]:
    from prefect_artifacts._paths import validate_labels  # _paths imports this module

    return validate_labels(labels)


Lineage.model_rebuild()
# Parametrized at module level, pydantic registers the class here as ``Page[Artifact]``, so
# plain pickle finds it by name (a listing crosses process boundaries as a task result).
_ARTIFACT_PAGE = Page[Artifact]
