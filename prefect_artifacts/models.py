"""Pydantic models of the public contract; no I/O happens here.

`Artifact` carries a private handle on the registry that produced it, so its methods
(`as_stream`, `as_local_file`, …) delegate to that registry.
"""

from __future__ import annotations

import builtins
import io
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, computed_field
from pydantic.alias_generators import to_camel

from prefect_artifacts._asyncio import iterate_in_thread, run_in_thread
from prefect_artifacts.errors import InvalidOperation

if TYPE_CHECKING:
    from prefect_artifacts._localfile import TemporaryLocalFile
    from prefect_artifacts.registry.base import Registry
    from prefect_artifacts.registry.spec import RegistrySpec

URN_PREFIX = "urn:prefect-artifacts:artifact:"


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
    policy: str | None = None
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


class GcReport(_Model):
    """What a garbage collection removed (or would remove, when ``dry_run``).

    ``temp_files_deleted`` counts partial writes older than the grace period: temporary
    files, and on S3 the multipart uploads a dead writer left (aborted).

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


class Artifact(_Model):
    """A catalogued artifact, with methods that read it through its registry.

    Example:
        ```python
        art = reg.get("my-data:latest")
        with art.as_local_file() as path:
            print(path.read_text())
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

    _registry: Registry | None = PrivateAttr(default=None)
    # After unpickling: how to open the registry again; opened on first use (open_registry).
    _registry_spec: RegistrySpec | None = PrivateAttr(default=None)
    _files: builtins.list[ArtifactFile] | None = PrivateAttr(default=None)
    # Set by the create that returned this object: True if it made the version, False if
    # it returned an existing one (skip, a reused idempotency key); None when unknown.
    _just_created: bool | None = PrivateAttr(default=None)

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
        return f"{self.folder.rstrip('/')}/{self.name}:{self.version}"

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

        With ``path=None`` the file is temporary and deleted on leaving ``with``;
        an explicit path is kept (parents are created). The file appears only once
        its checksum is verified.

        Example:
            ```python
            with art.as_local_file() as tmp:
                print(tmp.stat().st_size)
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

    def attach_to_run(self, run_id: str, category: RunCategory | str) -> RunLink:
        """Associate this artifact with a flow run as input, output or code.

        Example:
            ```python
            art.attach_to_run(flow_run_id, "input")
            ```
        """
        link = self._reg().attach(self.id, run_id, category)
        self.runs = [r for r in self.runs if (r.run_id, r.category) != (link.run_id, link.category)]
        self.runs.append(link)
        return link

    def delete(self) -> None:
        """Delete this artifact version from the catalog (its blobs go at the next gc).

        Example:
            ```python
            art.delete()
            ```
        """
        self._reg().delete(self.id)

    def refresh(self) -> Artifact:
        """Reload this artifact's fields from the registry; returns self.

        Example:
            ```python
            art.refresh().runs
            ```
        """
        fresh = self._reg().get(self.id)
        for field in type(self).model_fields:
            setattr(self, field, getattr(fresh, field))
        self._files = fresh._files
        return self

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

    async def arefresh(self) -> Artifact:
        """Async twin of `refresh`."""
        return await run_in_thread(self.refresh)


Lineage.model_rebuild()
# Parametrized at module level, pydantic registers the class here as ``Page[Artifact]``, so
# plain pickle finds it by name (a listing crosses process boundaries as a task result).
_ARTIFACT_PAGE = Page[Artifact]
