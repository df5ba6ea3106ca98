"""The `Registry` interface: the product's whole contract, shared by every backend.

A backend implements a few primitives (store a file's blob, create an artifact from
a manifest, read, list, …); uploads, downloads, bundles and every async twin are
built here once on top of them, so the in-process and HTTP registries behave alike.
"""

from __future__ import annotations

import builtins
import contextvars
import functools
import getpass
import logging
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from fnmatch import fnmatchcase
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from prefect_artifacts._aspects import prepare_aspect
from prefect_artifacts._asyncio import run_in_thread
from prefect_artifacts._code_links import record_serializer_code
from prefect_artifacts._localfile import TemporaryLocalFile
from prefect_artifacts._mime import DIRECTORY, detect_mime, read_head
from prefect_artifacts._paths import (
    artifact_ref,
    local_name,
    normalize_folder,
    posix_join,
    safe_relpath,
    validate_component,
    validate_labels,
    validate_name,
)
from prefect_artifacts._progress import Meter, hash_watcher, metering
from prefect_artifacts.batches import BatchItem, BatchJob, BatchResult, for_item, parse_items
from prefect_artifacts.draft import ArtifactDraft, DraftEntry
from prefect_artifacts.errors import (
    ArtifactConflict,
    ArtifactError,
    ArtifactNotFound,
    InvalidArtifactInput,
    InvalidName,
    InvalidOperation,
    PayloadTooLarge,
)
from prefect_artifacts.models import (
    Artifact,
    ArtifactFile,
    ArtifactKind,
    ArtifactManifest,
    Aspect,
    AspectSchema,
    BundleType,
    ConflictStrategy,
    GcReport,
    Lineage,
    ManifestFile,
    Page,
    PluginSnapshot,
    RunCategory,
    RunLink,
    SerializerRef,
)
from prefect_artifacts.references import basename, probe
from prefect_artifacts.registry.manifest import artifact_checksum, artifact_size
from prefect_artifacts.serializers.api import load_object, save_object
from prefect_artifacts.serializers.check import check_loadable
from prefect_artifacts.settings import ArtifactSettings, get_settings
from prefect_artifacts.storage.content_store import SMALL_FILE, BlobInfo
from prefect_artifacts.storage.digest_cache import DigestCache
from prefect_artifacts.storage.hashing import CHUNK_SIZE, hash_file
from prefect_artifacts.storage.local_files import path_inside, write_file

if TYPE_CHECKING:
    from prefect_artifacts.models import Transfer
    from prefect_artifacts.provenance import ProvenanceRecord
    from prefect_artifacts.registry.offline import SyncReport
    from prefect_artifacts.registry.spec import RegistrySpec

logger = logging.getLogger("prefect_artifacts.registry")

# Set while a public download runs: the downloads it makes inside (get_contents writing one
# file, internal readers) are not recorded again (see Registry.record_download).
_IN_DOWNLOAD: contextvars.ContextVar[bool] = contextvars.ContextVar("prefect_artifacts_in_download", default=False)
_Method = TypeVar("_Method", bound=Callable[..., Any])
#: The content store an upload writes its blobs to (``upload(storage=...)``; None: the default).
_STORAGE: contextvars.ContextVar[str | None] = contextvars.ContextVar("prefect_artifacts_storage", default=None)


def _records_download(method: _Method) -> _Method:
    """Record a successful download (`Registry.record_download`) of the ref it was given, to the path it returns."""
    @functools.wraps(method)
    def wrapper(self: Registry, *args: Any, **kwargs: Any) -> Any:
        if _IN_DOWNLOAD.get():
            return method(self, *args, **kwargs)
        token = _IN_DOWNLOAD.set(True)
        try:
            result = method(self, *args, **kwargs)
        finally:
            _IN_DOWNLOAD.reset(token)
        self._note_download(args[0] if args else kwargs["ref"], result)
        return result

    return wrapper  # type: ignore[return-value]


class _Location:
    """Where an artifact lives, as `Artifact.url`, ``download_url``, ``storage_url`` and the others say."""

    __slots__ = ("download_url", "storage_url", "uploaded", "url")

    def __init__(self, url: str | None = None, download_url: str | None = None, storage_url: str | None = None,
                 uploaded: bool = True) -> None:
        self.url = url
        self.download_url = download_url
        self.storage_url = storage_url
        self.uploaded = uploaded

E = TypeVar("E", bound=Enum)
F = TypeVar("F")


def _parse_enum(kind: type[E], value: object, what: str) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in kind)
        raise InvalidArtifactInput(f"invalid {what} {value!r}: use one of {allowed}") from None


def parse_category(category: RunCategory | str) -> RunCategory:
    """Validate a run category (input, output or code).

    Example:
        ```python
        parse_category("input")  # RunCategory.INPUT
        ```
    """
    return _parse_enum(RunCategory, category, "category")


def parse_strategy(strategy: ConflictStrategy | str) -> ConflictStrategy:
    """Validate a conflict strategy (skip, error, new or replace).

    Example:
        ```python
        parse_strategy("skip")  # ConflictStrategy.SKIP
        ```
    """
    return _parse_enum(ConflictStrategy, strategy, "conflict_strategy")


def parse_bundle_type(file_type: BundleType | str | None) -> BundleType | None:
    """Validate a bundle type (tar_gz or zip); None stays None.

    Example:
        ```python
        parse_bundle_type("zip")  # BundleType.ZIP
        ```
    """
    return None if file_type is None else _parse_enum(BundleType, file_type, "file_type")


#: Largest index, offset or count a listing accepts: every SQL engine and JSON client
#: holds it exactly (a larger one would overflow the database's 64-bit OFFSET).
MAX_POSITION = 2**53 - 1


def select_files(
    art: Artifact, files: Iterable[F], artifact_path: str | None, path_of: Callable[[F], str] = attrgetter("path"),
) -> builtins.list[F]:
    """The files of ``art`` that ``artifact_path`` names: that file, or every file in that folder.

    Every front end that takes an ``artifact_path`` (downloads, bundles, the CLI's
    ``--path``, the server's ``path``) selects with this rule. None (or ``""``) names
    every file. ``files`` may be any rows; ``path_of`` gives a row's path.

    Raises:
        UnsafePath: ``artifact_path`` escapes the artifact's root.
        ArtifactNotFound: ``artifact_path`` names no file or folder of ``art``.

    Example:
        ```python
        select_files(art, art.files, "plots")        # plots/a.png, plots/b/c.png
        select_files(art, art.files, "plots/a.png")  # just that file
        ```
    """
    if not artifact_path:
        return builtins.list(files)
    sub = safe_relpath(artifact_path, "artifact_path")
    chosen = [f for f in files if path_of(f) == sub or path_of(f).startswith(sub + "/")]
    if not chosen:
        raise ArtifactNotFound(f"{art.ref} has no file or folder {sub!r}")
    return chosen


def slice_stream(chunks: Iterator[bytes], start: int, end: int | None) -> Iterator[bytes]:
    """Bytes ``[start, end)`` of a stream that only its whole checksum verifies (a reference, a whole file).

    So the read goes on to the end, where the check is made, and the range's last piece
    waits for it.

    Example:
        ```python
        b"".join(slice_stream(iter([b"abc", b"def"]), 2, 4))  # b"cd"
        ```
    """
    position = 0
    held: bytes | None = None
    for chunk in chunks:
        lo, hi = position, position + len(chunk)
        position = hi
        if hi <= start or (end is not None and lo >= end):
            continue
        piece = chunk[max(0, start - lo): (len(chunk) if end is None else min(len(chunk), end - lo))]
        if held is not None:
            yield held
        held = piece
    if held is not None:
        yield held


def check_position(what: str, value: int) -> int:
    """Return ``value`` if it is a valid listing position (0 to `MAX_POSITION`).

    Raises:
        InvalidArtifactInput: a negative or too large value, named by ``what``.

    Example:
        ```python
        check_position("offset", 20)  # 20
        ```
    """
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_POSITION:
        raise InvalidArtifactInput(f"{what} must be an integer from 0 to {MAX_POSITION}, not {value!r}")
    return value


class Registry(ABC):
    """The artifact registry contract; `LocalRegistry` and `HttpRegistry` implement it.

    Every public method has an async twin with an ``a`` prefix (``aget``, …).

    Example:
        ```python
        reg = LocalRegistry.embedded()
        art = reg.upload_file("data.csv", name="my-data", folder="/team/datasets")
        reg.get("/team/datasets/my-data:latest").as_local_file("copy.csv")
        ```
    """

    #: Threads storing the files of a multi-file upload (backends over a network raise it).
    store_workers = 1

    def __init__(self, settings: ArtifactSettings | None = None, use_digest_cache: bool | None = None) -> None:
        self.settings = settings or get_settings()
        enabled = self.settings.digest_cache if use_digest_cache is None else use_digest_cache
        self._digest_cache = DigestCache(self.settings.home / "digests.sqlite") if enabled else None

    @property
    def current_user(self) -> str:
        """Whose folder a relative folder is in: ``folder="data"`` means ``/<current_user>/data``.

        The authenticated user of a shared server; the operating-system user otherwise.

        Example:
            ```python
            reg.upload_file("a.csv", name="a", folder="data", make_folder=True).folder  # "/alice/data"
            ```
        """
        return os_user()

    def _folder(self, folder: str | None) -> str:
        """`normalize_folder` with this registry's default folder and `current_user` (asked only when needed)."""
        relative = isinstance(folder, str) and not folder.startswith("/")
        return normalize_folder(folder, self.settings.default_folder, self.current_user if relative else None)

    def _folder_filter(self, folder: str | None) -> str | None:
        """A ``folder`` filter of `list`/`count` resolved as an upload's folder is (None: every folder)."""
        return None if folder is None else self._folder(folder)

    # -- crossing process boundaries ----------------------------------------------

    def spec(self) -> RegistrySpec:
        """A picklable description that opens this registry again, in any process.

        Raises:
            NotImplementedError: this kind of registry can not be described.

        Example:
            ```python
            spec = reg.spec()
            other = open_registry(spec)   # in a child process: the same store and catalog
            ```
        """
        raise NotImplementedError(f"{type(self).__name__} can not be opened again in another process")

    def __reduce__(self) -> tuple[Any, ...]:
        # A registry pickles as its spec; unpickling opens it once per process (open_registry),
        # and in this process gives back this very registry.
        from prefect_artifacts.registry.spec import open_registry, remember_registry

        spec = remember_registry(self)
        if spec is None:
            raise TypeError(f"cannot pickle {type(self).__name__}: it can not be described by a RegistrySpec")
        return open_registry, (spec,)

    # -- primitives every backend implements ------------------------------------

    @abstractmethod
    def _put_file(self, path: str, size: int, digest: str | None, sync: bool) -> BlobInfo:
        """Store one local file's content (``digest`` is a trusted hint, or None)."""

    def _adopt_file(self, path: str, sync: bool) -> BlobInfo:
        """Store a file the caller gives up (``move=True``); default: copy it."""
        return self._put_file(path, _file_size(path), None, sync)

    @abstractmethod
    def _put_data(self, data: bytes, sync: bool) -> BlobInfo:
        """Store in-memory content (a small file read once, or `ArtifactDraft.add_bytes`)."""

    def _materialize(self, ref: str, target: Path, artifact_path: str | None) -> None:
        """Place one verified, read-only file at ``target`` for internal readers; default: download."""
        token = _IN_DOWNLOAD.set(True)  # an internal read, not a download of the user's
        try:
            self.download(ref, target, artifact_path=artifact_path)
        finally:
            _IN_DOWNLOAD.reset(token)

    def _flush_blobs(self) -> None:  # noqa: B027 - optional hook
        """Make blobs stored with ``sync=False`` durable before cataloguing them."""

    @abstractmethod
    def _create(self, manifest: ArtifactManifest, strategy: ConflictStrategy, make_folder: bool) -> Artifact:
        """Create one artifact version from a manifest whose blobs are stored."""

    def get(self, ref: str | None = None, *, name: str | None = None, folder: str | None = None,
            version: int | str | None = None) -> Artifact:
        """Resolve ``id | urn | name | name:3 | name:latest | /folder/name:alias``, or keywords.

        The keyword form names the parts, so any name works unescaped:
        ``get(name="run:1/out.csv", folder="/team", version=2)``. ``version`` is a
        number or an alias (default ``latest``); without ``folder`` the name must
        exist in one folder only. In a short ref, a name with ``/``, ``:`` or edge
        spaces is written escaped, as `Artifact.ref` prints it (``/team/run%3A1%2Fout.csv:2``).

        Raises:
            ArtifactNotFound: nothing matches.
            AmbiguousReference: a bare name exists in several folders.
            InvalidName: the reference is malformed, or both ``ref`` and ``name`` (or neither) are given.

        Example:
            ```python
            reg.get("/team/datasets/my-data:2")
            reg.get(name="a:b", folder="/team/datasets", version="production")
            ```
        """
        if name is not None and ref is None:
            validate_name(name)
            return self._get(artifact_ref(None if folder is None else self._folder(folder), name, version))
        if ref is None or name is not None:
            raise InvalidName("give either a reference or name= (with folder= and version= if needed)")
        if folder is not None or version is not None:
            raise InvalidName("folder= and version= go with name=, not with a reference")
        return self._get(ref)

    @abstractmethod
    def _get(self, ref: str) -> Artifact:
        """`get` of a short reference (already escaped)."""

    @abstractmethod
    def list(
        self, index: int = 0, page_length: int = 10, sort_by: str | None = None,
        descending: bool = False, search: str | None = None, group_id: str | None = None,
        folder: str | None = None, cursor: str | None = None,
    ) -> Page[Artifact]:
        """One page of artifacts, sorted (default ``created``) and filtered.

        ``cursor`` (from ``page.next_cursor``) pages by keyset, equally fast at any depth.
        ``folder`` keeps one folder's artifacts, resolved as an upload's folder is
        (``"/team/"`` is ``/team``; a relative one is under the caller's own folder).

        Raises:
            SearchSyntaxError: ``search`` is malformed.
            PayloadTooLarge: ``page_length`` or the query is over the limit.
            InvalidArtifactInput: ``folder`` or ``group_id`` cannot name one (``..``, a NUL, a lone surrogate).

        Example:
            ```python
            page = reg.list(search="name:abc* size>1MB", page_length=50, sort_by="size", descending=True)
            ```
        """

    @abstractmethod
    def count(self, search: str | None = None, folder: str | None = None, group_id: str | None = None) -> int:
        """Number of artifacts matching ``search``.

        Example:
            ```python
            reg.count("kind:directory")
            ```
        """

    @abstractmethod
    def ids(self, count: int | None = None, offset: int = 0) -> builtins.list[str]:
        """Artifact ids, oldest first.

        Example:
            ```python
            reg.ids(count=100)
            ```
        """

    @abstractmethod
    def files(self, ref: str) -> builtins.list[ArtifactFile]:
        """The files of an artifact, sorted by path.

        Example:
            ```python
            [f.path for f in reg.files("checkpoint")]
            ```
        """

    def read(
        self, ref: str, path: str | None = None, chunk_size: int = CHUNK_SIZE,
        start: int | None = None, end: int | None = None,
    ) -> Iterator[bytes]:
        """Stream one file's content, verified against its checksum.

        ``start``/``end`` select a byte range ``[start, end)``, verified too: the chunks of
        the blob's chunk index that it touches are checked before any of their bytes is
        returned (a reference is read to its end and checked against its checksum).

        Raises:
            ArtifactIntegrityError: the content (or a chunk a range touches) does not match.
            InvalidOperation: no ``path`` for a directory artifact.
            InvalidArtifactInput: a negative ``start`` or ``end``.
            UnsafePath: ``path`` escapes the artifact's root.

        Example:
            ```python
            b"".join(reg.read("checkpoint", path="weights/layer1.bin"))
            ```
        """
        if (start is not None and start < 0) or (end is not None and end < 0):
            raise InvalidArtifactInput(f"invalid byte range start={start}, end={end}: offsets must be >= 0")
        return self._open_content(ref, None if path is None else safe_relpath(path), chunk_size, start, end)

    @abstractmethod
    def _open_content(
        self, ref: str, path: str | None, chunk_size: int, start: int | None, end: int | None
    ) -> Iterator[bytes]:
        """Stream file ``path`` (normalized; None: the only file) of ``ref``, verified, as `read` does.

        `read` has checked the arguments; ``start``/``end`` are None or offsets >= 0.
        """

    @abstractmethod
    def bundle(
        self, ref: str, file_type: BundleType | str = BundleType.TAR_GZ, artifact_path: str | None = None
    ) -> Iterator[bytes]:
        """Stream a tar.gz or zip archive of a directory artifact (or a sub-folder).

        Example:
            ```python
            with open("ckpt.zip", "wb") as f:
                for chunk in reg.bundle("checkpoint", "zip"):
                    f.write(chunk)
            ```
        """

    @abstractmethod
    def attach(self, ref: str, run_id: str, category: RunCategory | str = RunCategory.OUTPUT) -> RunLink:
        """Associate an artifact with a flow run as ``input``, ``output`` or ``code``.

        Raises:
            InvalidArtifactInput: the category is not input, output or code.

        Example:
            ```python
            reg.attach("raw-data", flow_run_id, category="input")
            ```
        """

    @abstractmethod
    def run_artifacts(self, run_id: str, category: RunCategory | str | None = None) -> builtins.list[Artifact]:
        """Artifacts associated with a flow run, optionally of one category.

        Example:
            ```python
            reg.run_artifacts(flow_run_id, category="output")
            ```
        """

    @abstractmethod
    def lineage(self, ref: str) -> Lineage:
        """Artifacts connected to ``ref`` through the runs that used them.

        Example:
            ```python
            graph = reg.lineage("report")
            graph.upstream(graph.root)
            ```
        """

    @abstractmethod
    def transfers(self, ref: str) -> builtins.list[Transfer]:
        """The upload and download history of an artifact, oldest first (seed 001's ``remote``).

        The registry records who, when and where: an upload when a create makes the
        version, a download when `download`, `download_dir` or `get_contents` writes
        the content to local files (or a client calls `record_download`).

        Example:
            ```python
            [(t.action.value, t.user, t.created) for t in reg.transfers("my-data")]
            ```
        """

    @abstractmethod
    def record_download(self, ref: str, local_path: str | None = None) -> Transfer:
        """Record that the caller downloaded ``ref`` (to ``local_path``, when given).

        The registry's own downloads call it; call it yourself after reading content
        another way (a stream, a URL). Reading the artifact is enough to record it.

        Raises:
            ArtifactNotFound: no such artifact (or not readable).

        Example:
            ```python
            with open("copy.csv", "wb") as f:
                f.writelines(reg.read("my-data"))
            reg.record_download("my-data", "copy.csv")
            ```
        """

    def _note_download(self, ref: str, local_path: str | os.PathLike[str]) -> None:
        """`record_download` after a download that succeeded; a failure to record is logged, not raised."""
        try:
            self.record_download(ref, os.path.abspath(local_path))
        except Exception as exc:  # noqa: BLE001 - the content is there; its history is best effort
            logger.info("the download of %s was not recorded: %s", ref, exc)

    def _where(self, art: Artifact) -> _Location:
        """Where ``art`` lives (`Artifact.url` and its siblings); this default knows no URLs."""
        return _Location(uploaded=art.kind is not ArtifactKind.REFERENCE)

    @property
    def storage_ids(self) -> tuple[str, ...]:
        """The ids of the content stores ``upload(storage=...)`` accepts: ``"default"``, then the named ones.

        The named stores are configured with ``PREFECT_ARTIFACTS_STORAGES`` (where the
        content is stored: the server's setting for an `HttpRegistry`).

        Example:
            ```python
            reg.storage_ids  # ("default", "archive")
            reg.upload_file("data.csv", name="data", storage="archive")
            ```
        """
        return ("default",)

    def _check_storage(self, storage: str | None) -> None:
        if storage is None:
            return
        if not isinstance(storage, str):
            raise InvalidArtifactInput(f"storage must be a store id (a string), not {type(storage).__name__}")
        if storage not in self.storage_ids:
            known = ", ".join(repr(s) for s in self.storage_ids)
            raise InvalidArtifactInput(f"unknown storage {storage!r}: this registry's stores are {known}"
                                       " (more are configured with PREFECT_ARTIFACTS_STORAGES)")

    @abstractmethod
    def add_metadata(
        self, ref: str, aspect: dict[str, Any], schema: str | dict[str, Any] | None = None,
        policy: str | None = None,
    ) -> Aspect:
        """Attach a metadata aspect to an artifact.

        ``schema`` (or ``aspect["$schema"]``) given as a dict is a JSON Schema that the
        aspect must satisfy; a string is recorded as the schema's name.

        Raises:
            MetadataValidationError: the aspect violates its schema.

        Example:
            ```python
            reg.add_metadata("my-data", {"rows": 10, "$schema": {"type": "object"}})
            ```
        """

    @abstractmethod
    def get_metadata(self, ref: str) -> builtins.list[Aspect]:
        """The metadata aspects of an artifact, oldest first.

        Example:
            ```python
            reg.get_metadata("my-data")
            ```
        """

    def list_aspects(self, ref: str, schema: str | None = None) -> builtins.list[Aspect]:
        """The metadata aspects of an artifact the caller may read, those of one schema when ``schema`` is given.

        ``schema`` matches the aspect's schema name (a URN, a registered schema's or any
        other): exactly, or as a pattern with ``*`` and ``?`` wildcards. An aspect whose
        ``policy`` names a group the caller is not in is not listed (nor is it by
        `get_metadata`, nor found by a ``meta.``/``schema:`` search).

        Example:
            ```python
            reg.list_aspects("my-data", schema="urn:example:schema:rows:*")
            ```
        """
        aspects = self.get_metadata(ref)
        if schema is None:
            return aspects
        return [a for a in aspects if a.schema_name is not None and fnmatchcase(a.schema_name, schema)]

    @abstractmethod
    def register_schema(self, urn: str, json_schema: dict[str, Any]) -> AspectSchema:
        """Register a JSON Schema under a URN; aspects naming that URN as their schema are validated against it.

        A registered schema never changes: registering the same schema again returns it,
        another schema under the same URN is a conflict. An aspect written with
        ``schema="urn:…"`` (or ``"$schema": "urn:…"`` in the aspect) must then satisfy it
        (without its ``$schema`` key); a schema name that is not registered is recorded as
        a name, as before. On a shared server any member with write access registers
        schemas, and every caller reads them.

        Raises:
            InvalidArtifactInput: ``urn`` is not a URN (``urn:<nid>:<nss>``, at most 255 characters).
            MetadataValidationError: not a usable JSON Schema (invalid, over 1 MiB, with
                references outside itself or patterns that need backtracking).
            ArtifactConflict: the URN holds another schema.
            PermissionDenied: the caller may write to no group.

        Example:
            ```python
            reg.register_schema("urn:example:schema:rows:1",
                                {"type": "object", "required": ["rows"]})
            reg.add_metadata("my-data", {"rows": 3}, schema="urn:example:schema:rows:1")
            ```
        """

    @abstractmethod
    def get_schema(self, urn: str) -> AspectSchema:
        """The JSON Schema registered under ``urn``.

        Raises:
            ArtifactNotFound: no schema is registered under it.

        Example:
            ```python
            reg.get_schema("urn:example:schema:rows:1").json_schema
            ```
        """

    @abstractmethod
    def list_schemas(self, prefix: str | None = None) -> builtins.list[AspectSchema]:
        """The registered schemas sorted by URN (at most 1000), those whose URN starts with ``prefix`` if given.

        Example:
            ```python
            [s.urn for s in reg.list_schemas("urn:example:")]
            ```
        """

    @abstractmethod
    def update(self, ref: str, description: str | None = None, labels: Sequence[str] | None = None) -> Artifact:
        """Change an artifact's description and/or labels.

        Example:
            ```python
            reg.update("my-data", labels=["clean"])
            ```
        """

    @abstractmethod
    def set_alias(self, ref: str, alias: str) -> Artifact:
        """Point an alias (``/folder/name:alias``) at this version.

        Example:
            ```python
            reg.set_alias("model:7", "production")
            reg.get("model:production").version  # 7
            ```
        """

    @abstractmethod
    def delete(self, ref: str) -> None:
        """Delete an artifact version from every query; `gc` reclaims its blobs.

        Example:
            ```python
            reg.delete("my-data:1")
            ```
        """

    @abstractmethod
    def gc(self, dry_run: bool = False, grace_seconds: float | None = None) -> GcReport:
        """Delete blobs no artifact references (older than the grace period).

        Example:
            ```python
            reg.gc().bytes_freed
            ```
        """

    @abstractmethod
    def create_plugin_snapshot(
        self, plugin_name: str, version: str | None, files: Sequence[tuple[str, bytes]], group: str | None = None
    ) -> PluginSnapshot:
        """Store a plugin's source files as an immutable snapshot (same files, same snapshot).

        ``group`` (default: the caller's) may read the snapshot; the same files registered
        for another group give the same snapshot, readable by both.

        Example:
            ```python
            snap = reg.create_plugin_snapshot("my_serializer", "1.0", [("my_serializer.py", source)])
            ```
        """

    @abstractmethod
    def get_plugin_snapshot(self, snapshot_id: str) -> PluginSnapshot:
        """A plugin snapshot by id.

        Raises:
            ArtifactNotFound: no such snapshot.

        Example:
            ```python
            reg.get_plugin_snapshot(art.serializer.snapshot_id).files
            ```
        """

    @abstractmethod
    def read_plugin_snapshot_file(self, snapshot_id: str, path: str) -> bytes:
        """The content of one snapshot file, verified against its recorded SHA-256.

        Raises:
            SnapshotIntegrityError: the stored content does not match.

        Example:
            ```python
            source = reg.read_plugin_snapshot_file(snap.id, "my_serializer.py")
            ```
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections.

        Example:
            ```python
            reg.close()
            ```
        """

    # -- writes built on the primitives ------------------------------------------

    def upload(
        self,
        draft: ArtifactDraft,
        folder: str | None = None,
        make_folder: bool = False,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        *,
        idempotency_key: str | None = None,
        runs: Iterable[tuple[str, RunCategory | str]] = (),
        kind: ArtifactKind | None = None,
        original_path: str | None = None,
        serializer: Any = None,
        extra_aspects: Iterable[dict[str, Any]] = (),
        progress: Callable[[int], None] | None = None,
        group: str | None = None,
        storage: str | None = None,
    ) -> Artifact:
        """Store a draft's content, then catalog it as one new version.

        ``storage`` chooses the content store (seed 000's ``storage``): one of
        `storage_ids`; None is ``"default"``. The artifact's blobs are written there and
        `Artifact.storage_id` names it. ``upload_file``, ``upload_dir`` and ``add_reference``
        pass it on.

        ``group`` chooses the group that owns the artifact (and the folders this write
        creates); by default the folder's group, else the caller's default group. On a
        shared server it must be a group the caller writes, and the folder's own group
        when the folder already belongs to one.

        The artifact becomes visible only after all its blobs are durably stored; a
        failure at any point leaves no artifact (orphan blobs go at the next `gc`).
        ``progress``, when given, is called with byte counts as the content of local files
        and in-memory payloads is written to the store (or sent to the server), chunk by
        chunk, possibly from worker threads; the counts sum to the stored size.

        Raises:
            FolderNotFound: the folder is missing and ``make_folder`` is false.
            ArtifactConflict: ``conflict_strategy="error"`` and the name exists.
            UnsafePath: a path escapes its root.
            InvalidArtifactInput: two paths collide (``same``/``./same``, ``a``/``a/b``,
                case or Unicode variants), or the manifest contradicts its content.
            PermissionDenied: on a shared registry, the folder is another group's.

        Example:
            ```python
            draft = ArtifactDraft(name="bundle").add_dir("plots/", obj_path="b/")
            reg.upload(draft, folder="/team", make_folder=True, conflict_strategy="skip")
            ```
        """
        strategy = parse_strategy(conflict_strategy)
        self._check_storage(storage)
        prepared = self._prepare(draft, folder, make_folder, strategy, idempotency_key=idempotency_key, runs=runs,
                                 kind=kind, original_path=original_path, serializer=serializer,
                                 extra_aspects=extra_aspects, group=group, storage=storage, check_existing=True)
        if isinstance(prepared, Artifact):
            return prepared
        token = _STORAGE.set(storage)  # where _put_file/_put_data write (each backend reads it)
        try:
            files = self._store_entries(prepared.entries, progress)
        finally:
            _STORAGE.reset(token)
        manifest = prepared.manifest(files)
        return self._create(manifest, strategy, prepared.make_folder)

    def _prepare(
        self, draft: ArtifactDraft, folder: str | None, make_folder: bool, strategy: ConflictStrategy, *,
        idempotency_key: str | None, runs: Iterable[tuple[str, RunCategory | str]], kind: ArtifactKind | None,
        original_path: str | None, serializer: Any, extra_aspects: Iterable[dict[str, Any]], group: str | None,
        storage: str | None, check_existing: bool,
    ) -> _Prepared | Artifact:
        """What `upload` checks and derives before storing content (an `Artifact`: ``skip`` found one)."""
        folder = self._folder(folder)
        make_folder = make_folder or folder == normalize_folder(None, self.settings.default_folder)
        links = [(str(run_id), parse_category(cat)) for run_id, cat in runs]
        aspects = [prepare_aspect(draft.metadata)] if draft.metadata else []
        aspects += [prepare_aspect(extra) for extra in extra_aspects]
        name = draft.name
        if strategy is ConflictStrategy.NEW and draft.alternative_name and self._latest_or_none(folder, name):
            name = draft.alternative_name  # seed 001's "new": taken names go to the alternative
        if check_existing and strategy in (ConflictStrategy.SKIP, ConflictStrategy.ERROR) and not idempotency_key:
            existing = self._latest_or_none(folder, name)
            if existing is not None:
                if strategy is ConflictStrategy.SKIP:  # the caller's run links still apply
                    for run_id, category in links:
                        self.attach(existing.id, run_id, category)
                    return self.get(existing.id) if links else existing
                raise ArtifactConflict(f"{existing.ref.rsplit(':', 1)[0]} already exists (version {existing.version})")
        return _Prepared(draft, folder, name, make_folder, kind, links, aspects, original_path, serializer,
                         idempotency_key, group, storage)

    # -- batches --------------------------------------------------------------------

    def upload_many(
        self,
        items: Sequence[BatchItem],
        *,
        folder: str | None = None,
        make_folder: bool = True,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        group: str | None = None,
        runs: Sequence[tuple[str, RunCategory | str]] = (),
        storage: str | None = None,
    ) -> builtins.list[BatchResult]:
        """Register many artifacts in one call: one `BatchResult` per item, in order.

        Each item is a mapping of `upload_file`'s keyword arguments (``path`` required;
        ``name``, ``folder``, ``description``, ``labels``, ``metadata``, ``mime_type``,
        ``conflict_strategy``, ``make_folder``, ``group``, ``runs``, ``idempotency_key``,
        ``original_path``, ``extra_aspects``) or an `ArtifactDraft`. The keyword arguments here are every
        item's defaults (an item's own ``runs`` add to ``runs``).

        Items are validated and reported on their own: a missing file, an invalid name,
        a conflict under ``"error"`` becomes that item's `BatchResult.error` (its message
        starting ``item <index>:``) and the other items are still created. Embedded, the
        blobs are stored and flushed once, then every artifact is created in one catalog
        transaction; over HTTP, items are stored in slices of 250 whose create requests
        (two in flight, each item with an idempotency key, so a retried request returns
        the same artifacts) go while the next slice is stored; offline, each item goes
        to the outbox as `upload_file` would.

        Raises:
            InvalidArtifactInput: ``items`` is not a list, or holds more than 10,000 items.

        Example:
            ```python
            results = reg.upload_many([{"path": "a.csv", "labels": ["raw"]},
                                       {"path": "b.csv", "name": "b"}], folder="/team/data")
            arts = [r.unwrap() for r in results]
            ```
        """
        self._check_storage(storage)
        jobs = parse_items(items, folder=folder, make_folder=make_folder, conflict_strategy=conflict_strategy,
                           group=group, runs=runs)
        valid = [j for j in jobs if isinstance(j, BatchJob)]
        done = self._upload_batch(valid, storage) if valid else []
        results = {j.index: r for j, r in zip(valid, done, strict=True)}
        out: builtins.list[BatchResult] = []
        for index, job in enumerate(jobs):
            result = job if isinstance(job, ArtifactError) else results[index]
            out.append(BatchResult(index, error=for_item(result, index)) if isinstance(result, ArtifactError)
                       else BatchResult(index, artifact=result))
        return out

    def _upload_batch(self, jobs: Sequence[BatchJob],
                      storage: str | None) -> builtins.list[Artifact | ArtifactError]:
        """Prepare every job, store all blobs (one flush), then `_create_many`."""
        return self._create_stored(*self._store_batch(jobs, storage), self._create_many)

    def _store_batch(self, jobs: Sequence[BatchJob], storage: str | None) -> tuple[_BatchOutcomes, _BatchRequests]:
        """Prepare every job and store its blobs (one flush): the jobs' errors so far, and the creates to make."""
        out: _BatchOutcomes = [None] * len(jobs)
        pending: _BatchRequests = []
        token = _STORAGE.set(storage)
        try:
            stored_any = False
            for i, job in enumerate(jobs):
                try:
                    strategy = parse_strategy(job.strategy)
                    prepared = self._prepare(job.draft, job.folder, job.make_folder, strategy,
                                             idempotency_key=job.idempotency_key, runs=job.runs, kind=None,
                                             original_path=job.original_path, serializer=None,
                                             extra_aspects=job.extra_aspects,
                                             group=job.group, storage=storage, check_existing=False)
                    assert not isinstance(prepared, Artifact)
                    files = self._store_entries(prepared.entries, in_batch=True)
                    stored_any = True
                    pending.append((i, prepared.manifest(files), strategy, prepared.make_folder))
                except ArtifactError as exc:
                    out[i] = exc
            if stored_any:
                self._flush_blobs()
        finally:
            _STORAGE.reset(token)
        return out, pending

    @staticmethod
    def _create_stored(
        out: _BatchOutcomes, pending: _BatchRequests,
        create_many: Callable[[builtins.list[tuple[ArtifactManifest, ConflictStrategy, bool]]],
                              builtins.list[Artifact | ArtifactError]],
    ) -> builtins.list[Artifact | ArtifactError]:
        """`_store_batch`'s creates made by ``create_many``: a result per job, in order."""
        made = create_many([(m, s, mk) for _, m, s, mk in pending]) if pending else []
        for (i, _m, _s, _mk), result in zip(pending, made, strict=True):
            out[i] = result
        return [r for r in out if r is not None]

    def _create_many(
        self, requests: Sequence[tuple[ArtifactManifest, ConflictStrategy, bool]],
    ) -> builtins.list[Artifact | ArtifactError]:
        """Create many artifacts whose blobs are stored; default: one `_create` each."""
        out: builtins.list[Artifact | ArtifactError] = []
        for manifest, strategy, make_folder in requests:
            try:
                out.append(self._create(manifest, strategy, make_folder))
            except ArtifactError as exc:
                out.append(exc)
        return out

    def _latest_or_none(self, folder: str, name: str) -> Artifact | None:
        try:
            return self.get(artifact_ref(folder, name, "latest"))
        except ArtifactNotFound:
            return None

    def _store_entries(self, entries: Sequence[DraftEntry], progress: Callable[[int], None] | None = None, *,
                       in_batch: bool = False) -> builtins.list[ManifestFile]:
        """Store the entries' content; ``in_batch``: unsynced, the caller flushes once for many drafts."""
        batch = len(entries) > 1 or in_batch
        stored: builtins.list[ManifestFile] = []
        local = [e for e in entries if e.uri is None]  # files and in-memory bytes
        # Many files over a network: store slices of them from a few threads. Local disks
        # are faster sequentially (measured 1.1-1.3 s vs 2.4-3.7 s for 10k files of 1 KiB).
        workers = self.store_workers
        pool = (ThreadPoolExecutor(workers, thread_name_prefix="prefect-artifacts-put")
                if workers > 1 and len(local) > 64 else None)
        try:
            hashing = hash_watcher()  # read here: the pool's threads do not see this context
            context = contextvars.copy_context()  # but they see its target store (_STORAGE), each in a copy
            results = (pool.map(lambda part: context.copy().run(
                                    lambda: [self._store_metered(e, False, progress, hashing) for e in part]),
                                [local[i:i + 64] for i in range(0, len(local), 64)]) if pool
                       else ([self._store_metered(e, not batch, progress, hashing)] for e in local))
            for part in results:
                stored.extend(part)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        if batch and stored and not in_batch:
            self._flush_blobs()
        by_path = {f.path: f for f in stored}
        out: builtins.list[ManifestFile] = []
        for entry in entries:
            if entry.uri is None:
                out.append(by_path[entry.path])
                continue
            infos = probe(entry.uri or "")
            tree = len(infos) != 1 or infos[0].uri != entry.uri
            for info in infos:
                path = posix_join(entry.path, info.relpath) if tree else (entry.path or info.relpath)
                out.append(ManifestFile(path=safe_relpath(path), size=info.size, checksum=info.checksum,
                                        mime_type=info.mime_type, uri=info.uri))
        out.sort(key=lambda f: f.path)
        return out

    def _store_metered(self, entry: DraftEntry, sync: bool, progress: Callable[[int], None] | None,
                       hashing: Callable[[int], None] | None = None) -> ManifestFile:
        """`_store_entry`, its bytes reported to ``progress`` as the store's loops write or send them."""
        if progress is None:
            return self._store_entry(entry, sync)
        with metering(Meter(progress, hashing)) as meter:  # set in the thread that stores: pool workers too
            stored = self._store_entry(entry, sync)
        meter.finish(stored.size or 0)
        return stored

    def _store_entry(self, entry: DraftEntry, sync: bool) -> ManifestFile:
        name = entry.path.rsplit("/", 1)[-1]
        mime = detect_mime(name)
        generic = mime in ("application/octet-stream", "text/plain")
        path = entry.local or ""
        data, st = entry.data, None
        if data is None and not entry.move:  # a moved (scratch) file: the store learns its size itself
            st = _stat(path)
            if st.st_size <= SMALL_FILE:
                data = _read_small(path)  # read once: sniffed and stored from memory
        if data is not None:
            info = self._put_data(data, sync)
            mime = detect_mime(name, data[:512]) if generic else mime
        else:
            if generic and (st is None or st.st_size):
                try:
                    mime = detect_mime(name, read_head(path))
                except OSError as exc:
                    raise InvalidArtifactInput(f"cannot read {path!r}: {exc.strerror}") from exc
            if st is None:
                info = self._adopt_file(path, sync)
            else:
                cache = self._digest_cache if st.st_size > SMALL_FILE else None
                hint = cache.get(path, st) if cache else None
                info = self._put_file(path, st.st_size, hint, sync)
                if cache and hint is None:
                    cache.put(path, st, info.digest)
        return ManifestFile(path=entry.path, size=info.size, checksum=info.digest, mime_type=mime,
                            digest=info.digest)

    def upload_file(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        mime_type: str | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        make_folder: bool = True,
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """Register one local file (``name`` defaults to the file name).

        Example:
            ```python
            art = reg.upload_file("data.csv", name="my-data", folder="/team/datasets",
                                  labels=["raw"], metadata={"rows": 1000})
            ```
        """
        path = os.fspath(path)
        draft = ArtifactDraft(name=_default_name(path) if name is None else name, description=description,
                              labels=labels,
                              metadata=metadata, mime_type=mime_type).add_file(path)
        options.setdefault("original_path", os.path.abspath(path))
        return self.upload(draft, folder, make_folder, conflict_strategy, group=group, **options)

    def upload_dir(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        make_folder: bool = True,
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """Register every file under a local directory as one directory artifact.

        Example:
            ```python
            art = reg.upload_dir("outputs/", name="checkpoint")
            [f.path for f in art.files]
            ```
        """
        path = os.fspath(path)
        draft = ArtifactDraft(name=_default_name(path) if name is None else name, description=description,
                              labels=labels,
                              metadata=metadata).add_dir(path, obj_path="")
        options.setdefault("original_path", os.path.abspath(path))
        options.setdefault("kind", ArtifactKind.DIRECTORY)
        return self.upload(draft, folder, make_folder, conflict_strategy, group=group, **options)

    def add_reference(
        self,
        uri: str,
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        make_folder: bool = True,
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """Register a URI without copying it; its size and checksum are recorded.

        A folder URI (``file:///data/``, ``s3://bucket/prefix/``) becomes one reference
        per object. Reading a reference whose content changed raises
        `ArtifactIntegrityError`.

        ``serializer=SerializerRef(snapshot_id, task_name)`` registers a URI that a
        serializer wrote as an object artifact pinned to that plugin snapshot, so
        `load_object` reads it with the snapshot's code (the snapshot must exist and be
        readable by the caller); ``runs=[(flow_run_id, "output")]`` links the flow run
        that wrote it. Together: seed 002's create(group_id, job_id, artifact_uri,
        plugin_snapshot_id, task_id, description).

        Example:
            ```python
            raw = reg.add_reference("s3://other-bucket/key.parquet", name="raw")
            model = reg.add_reference("s3://bucket/model.json", name="model", group="team-a",
                                      serializer=SerializerRef(snapshot_id=snap.id, task_name="json"),
                                      runs=[(flow_run_id, "output")])
            ```
        """
        if options.get("serializer") is not None:
            options["serializer"] = _serializer_ref(options["serializer"])
            options.setdefault("kind", ArtifactKind.OBJECT)
        draft = ArtifactDraft(name=name if name is not None else _default_name(basename(uri)), description=description,
                              labels=labels, metadata=metadata).add_reference(uri, obj_path="")
        options.setdefault("original_path", uri)
        return self.upload(draft, folder, make_folder, conflict_strategy, group=group, **options)

    def upload_code(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """Register source files as one artifact; unchanged code is the latest version, not a new one.

        One file is stored under its name, several under their paths inside their common
        folder (a directory artifact). When the latest version of ``name`` in ``folder``
        holds the same content (same checksum, both files or both directories), it is
        returned instead of a new version, and the ``runs`` in ``options`` are attached
        to it. ``name`` defaults to the file's name (``code`` for several files).

        Raises:
            InvalidArtifactInput: no paths, or a path that is not a readable file.

        Example:
            ```python
            first = reg.upload_code(["etl/transform.py", "etl/schema.sql"], name="etl-code")
            again = reg.upload_code(["etl/transform.py", "etl/schema.sql"], name="etl-code")
            again.version == first.version   # True while the files are unchanged
            ```
        """
        return self._upload_code(paths, name, folder, description, labels, group, **options)[0]

    def _upload_code(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        group: str | None = None,
        **options: Any,
    ) -> tuple[Artifact, bool]:
        """`upload_code`, and whether it returned the latest version as unchanged (not a version it made)."""
        files = _code_files(paths)
        root = Path(os.path.commonpath([str(f.parent) for f in files]))
        draft = ArtifactDraft(name=name or (_default_name(str(files[0])) if len(files) == 1 else "code"),
                              description=description, labels=labels)
        for f in files:
            draft.add_file(str(f), obj_path=f.relative_to(root).as_posix() if len(files) > 1 else None)
        options.setdefault("original_path", str(files[0] if len(files) == 1 else root))
        folder = self._folder(folder)
        if "runs" in options:
            options["runs"] = builtins.list(options["runs"])  # read twice: here and by upload
        latest = self._latest_or_none(folder, draft.name)
        if latest is None or not _same_content(latest, draft):
            return self.upload(draft, folder, True, ConflictStrategy.NEW, group=group, **options), False
        links = [(str(run_id), parse_category(cat)) for run_id, cat in options.get("runs", ())]
        linked = {(link.run_id, link.category) for link in latest.runs}
        if options.get("idempotency_key") and linked & set(links):
            # Linked to these runs already: maybe the version this key recorded (an earlier
            # attempt of the same call). The key says so; its content is stored, nothing is copied.
            try:
                return self.upload(draft, folder, True, ConflictStrategy.ERROR, group=group, **options), False
            except ArtifactConflict:
                pass
        missing = [link for link in links if link not in linked]
        for run_id, category in missing:
            self.attach(latest.id, run_id, category)
        return (self.get(latest.id) if missing else latest), True

    # -- Python objects (logic in prefect_artifacts.serializers) -------------------

    def save_object(
        self,
        obj: Any,
        name: str,
        serializer: str | type | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        options: dict[str, Any] | None = None,
        group: str | None = None,
        **upload_options: Any,
    ) -> Artifact:
        """Serialize a Python object as an object artifact pinned to its serializer's snapshot.

        ``serializer=None`` picks by type (json, text, bytes, numpy, pandas, or a
        registered plugin); pickling happens only with ``serializer="cloudpickle"``.

        With ``runs=``, the serializer's plugin snapshot is linked to each ``output`` run
        as its ``code`` (see `prefect_artifacts._code_links`); a failure to link is logged,
        the object stays written.

        Raises:
            SerializerError: no safe serializer for the type (the message names the
                cloudpickle opt-in), invalid ``options``, or a failed write.

        Example:
            ```python
            art = reg.save_object({"lr": 0.1}, name="config")
            art.serializer  # SerializerRef(snapshot_id=..., task_name='json')
            ```
        """
        runs = upload_options["runs"] = builtins.list(upload_options.get("runs", ()))  # read twice
        art = save_object(self, obj, name, serializer=serializer, folder=folder, description=description,
                          labels=labels, metadata=metadata, conflict_strategy=conflict_strategy,
                          options=options, group=group, **upload_options)
        outputs = {str(run_id) for run_id, category in runs if parse_category(category) is RunCategory.OUTPUT}
        for run_id in sorted(outputs):
            try:
                record_serializer_code(self, art, run_id, group)
            except Exception as exc:  # the object is written; only its code link is missing
                logger.warning("could not link the serializer code of %s to run %s: %s", art.ref, run_id, exc)
        return art

    def load_object(self, ref: str, use_current: bool = False) -> Any:
        """Load an object artifact with the pinned snapshot of the serializer that wrote it.

        ``use_current=True`` reads with the serializer installed now instead.

        Raises:
            SnapshotIntegrityError: the snapshot is missing or tampered (nothing runs).
            SerializerError: not an object artifact, or the serializer failed.

        Example:
            ```python
            config = reg.load_object("config:latest")
            ```
        """
        return load_object(self, ref, use_current=use_current)

    def check_loadable(self, refs: Sequence[str] | None = None) -> builtins.list[Any]:
        """Try to load object artifacts (all when ``refs`` is None); one `LoadReport` each.

        Example:
            ```python
            broken = [r for r in reg.check_loadable() if not r.ok]
            ```
        """
        return check_loadable(self, refs)

    def provenance(self, ref: str) -> ProvenanceRecord:
        """The provenance record of an artifact: an in-toto Statement v1 to sign and verify.

        Its subject is the artifact checksum and each file's SHA-256; its predicate names
        the flow runs that produced it (run links of category ``output``), their inputs
        and code artifacts by digest, the serializer's plugin snapshot digest and the
        creation time. The same artifact always gives the same record (see
        `prefect_artifacts.provenance`).

        Raises:
            ArtifactNotFound: no such artifact.

        Example:
            ```python
            record = reg.provenance("model:latest")
            envelope = sign_provenance(record, "signing.pem")
            ```
        """
        from prefect_artifacts.provenance import build_provenance  # loads cryptography only when used

        return build_provenance(self, ref)

    # -- offline outbox (prefect_artifacts.registry.offline) ----------------------

    def push_outbox(self, dry_run: bool = False) -> SyncReport:
        """Replay the artifacts written offline to the server, each exactly once.

        Only an `OfflineRegistry` has an outbox; every other registry returns an empty
        report. ``dry_run=True`` reports what would be replayed and changes nothing.

        Example:
            ```python
            report = reg.push_outbox()
            report.mapping   # offline id -> server id
            ```
        """
        from prefect_artifacts.registry.offline import SyncReport  # imports this module

        return SyncReport(dry_run=dry_run)

    # -- reads built on the primitives --------------------------------------------

    def iter(self, search: str | None = None, folder: str | None = None, page_length: int = 200,
             sort_by: str | None = None, descending: bool = False) -> Iterator[Artifact]:
        """Every matching artifact, fetched page by page with keyset cursors.

        Example:
            ```python
            total = sum(a.size or 0 for a in reg.iter(search="label:prod"))
            ```
        """
        page = self.list(page_length=page_length, search=search, folder=folder, sort_by=sort_by,
                         descending=descending)
        yield from page.data
        while page.next_cursor:
            page = self.list(page_length=page_length, search=search, folder=folder, sort_by=sort_by,
                             descending=descending, cursor=page.next_cursor)
            yield from page.data

    @_records_download
    def download(self, ref: str, path: str | os.PathLike[str] | None = None, chunk_size: int = -1,
                 artifact_path: str | None = None) -> Path | TemporaryLocalFile:
        """Write one file's verified content to ``path`` (a temporary file when None).

        The file appears only once complete and verified. With ``path=None`` it is
        ``<new private temp dir>/<the file's name>`` (extension kept), deleted with its
        directory on leaving ``with``.

        Example:
            ```python
            with reg.download("my-data") as tmp:
                print(tmp.name, tmp.read_text())     # data.csv x,y ...
            ```
        """
        if path is None:
            file_path = artifact_path or self.get(ref)._single_file().path
            temporary = TemporaryLocalFile.in_private_dir(file_path)
            target: Path = temporary
        else:
            target = Path(path)
            _check_destination(target)
        try:
            self._download_to(ref, target, chunk_size, artifact_path)
        except BaseException:
            if path is None:
                temporary.cleanup()
            raise
        return target

    def _download_to(self, ref: str, target: Path, chunk_size: int, artifact_path: str | None) -> None:
        size = chunk_size if chunk_size > 0 else CHUNK_SIZE
        write_file(self.read(ref, path=artifact_path, chunk_size=size), target)

    @_records_download
    def download_dir(
        self, ref: str, path: str | os.PathLike[str] | None = None, artifact_path: str | None = None,
        full_paths: bool = False, progress: Callable[[int], None] | None = None,
    ) -> Path:
        """Write the files of an artifact (or those ``artifact_path`` names) under the folder ``path``.

        Each file lands at its path inside ``artifact_path`` (``full_paths=True``: its
        whole path in the artifact); ``path=None`` is a new temporary folder named after
        the artifact. Every destination is checked before anything is written: one that
        passes through a symlink already in the folder is refused, as the link could lead
        anywhere. Each file appears only once complete and verified. ``progress``, when
        given, is called with the size of each chunk written.

        Returns:
            The folder.

        Raises:
            ArtifactNotFound: ``artifact_path`` names no file or folder.
            UnsafePath: ``artifact_path`` escapes the artifact, or a destination passes
                through a symlink (then nothing is written).

        Example:
            ```python
            reg.download_dir("checkpoint", "restored")                          # restored/weights/l1.bin
            reg.download_dir("checkpoint", "restored", artifact_path="weights")  # restored/l1.bin
            ```
        """
        art = self.get(ref)
        sub = safe_relpath(artifact_path, "artifact_path") if artifact_path else None
        files = select_files(art, art.files, sub)
        if path is None:
            path = Path(tempfile.mkdtemp(prefix="prefect-artifacts-")) / local_name(art.name)
        root = Path(path)
        targets = [path_inside(root, _placed(f.path, sub, full_paths)) for f in files]  # all checked first
        for f, target in zip(files, targets, strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            if progress is None:
                self._download_to(art.id, target, -1, f.path)
            else:
                write_file(_reporting(self.read(art.id, path=f.path), progress), target)
        return root

    @_records_download
    def get_contents(
        self, ref: str, file_type: BundleType | str | None = None, artifact_path: str | None = None,
        output_dir: str | os.PathLike[str] | None = None, file_stem: str = "contents",
    ) -> Path:
        """Download into ``output_dir`` (default: the current folder) as ``file_stem`` + suffix.

        A directory becomes a tar.gz (default) or zip bundle; ``artifact_path``
        selects one file (written as is) or a sub-folder (bundled).

        Raises:
            InvalidOperation: ``file_type`` or ``artifact_path`` for a single-file artifact.
            ArtifactNotFound: ``artifact_path`` matches nothing.

        Example:
            ```python
            reg.get_contents("checkpoint", file_type="zip", output_dir="downloads")
            ```
        """
        bundle_type = parse_bundle_type(file_type)
        validate_component(file_stem, "file_stem")
        art = self.get(ref)
        out_dir = Path(output_dir) if output_dir is not None else Path.cwd()
        if out_dir.exists() and not out_dir.is_dir():
            raise InvalidArtifactInput(f"output_dir {str(out_dir)!r} is not a folder")
        if not art.is_dir:
            if bundle_type is not None or artifact_path is not None:
                raise InvalidOperation(
                    f"{art.ref} is a single file: file_type and artifact_path must be None"
                )
            return self.download(art.id, out_dir / (file_stem + _suffix(art.files[0].path)))
        sub = safe_relpath(artifact_path, "artifact_path") if artifact_path else None
        if sub is not None:
            chosen = select_files(art, art.files, sub)
            if bundle_type is None and [f.path for f in chosen] == [sub]:  # one file: written as is
                return self.download(art.id, out_dir / (file_stem + _suffix(sub)), artifact_path=sub)
        bundle_type = bundle_type or BundleType.TAR_GZ
        target = out_dir / (file_stem + bundle_type.suffix)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_file(self.bundle(art.id, bundle_type, sub), target)
        return target

    def _check_page_length(self, page_length: int, search: str | None) -> None:
        if not 1 <= page_length <= self.settings.max_page_length:
            raise PayloadTooLarge(f"page_length must be 1..{self.settings.max_page_length}, not {page_length}")
        if search and len(search) > self.settings.max_query_length:
            raise PayloadTooLarge(f"search query longer than {self.settings.max_query_length} characters")

    @staticmethod
    def _check_labels(labels: Sequence[str] | None) -> builtins.list[str] | None:
        return None if labels is None else validate_labels(labels)

    # -- async twins: the same arguments, run in a worker thread -----------------

    async def aupload(
        self,
        draft: ArtifactDraft,
        folder: str | None = None,
        make_folder: bool = False,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        *,
        idempotency_key: str | None = None,
        runs: Iterable[tuple[str, RunCategory | str]] = (),
        kind: ArtifactKind | None = None,
        original_path: str | None = None,
        serializer: Any = None,
        extra_aspects: Iterable[dict[str, Any]] = (),
        progress: Callable[[int], None] | None = None,
        group: str | None = None,
        storage: str | None = None,
    ) -> Artifact:
        """Async twin of `upload`."""
        return await run_in_thread(self.upload, draft, folder, make_folder, conflict_strategy,
                                   idempotency_key=idempotency_key, runs=runs, kind=kind, original_path=original_path,
                                   serializer=serializer, extra_aspects=extra_aspects, progress=progress, group=group,
                                   storage=storage)

    async def aupload_file(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        mime_type: str | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        make_folder: bool = True,
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """Async twin of `upload_file`."""
        return await run_in_thread(self.upload_file, path, name, folder, description, labels, metadata, mime_type,
                                   conflict_strategy, make_folder, group, **options)

    async def aupload_many(
        self,
        items: Sequence[BatchItem],
        *,
        folder: str | None = None,
        make_folder: bool = True,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        group: str | None = None,
        runs: Sequence[tuple[str, RunCategory | str]] = (),
        storage: str | None = None,
    ) -> builtins.list[BatchResult]:
        """Async `upload_many`.

        Example:
            ```python
            results = await reg.aupload_many([{"path": "a.csv"}, {"path": "b.csv"}])
            ```
        """
        return await run_in_thread(self.upload_many, items, folder=folder, make_folder=make_folder,
                                   conflict_strategy=conflict_strategy, group=group, runs=runs, storage=storage)

    async def aupload_dir(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        make_folder: bool = True,
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """Async twin of `upload_dir`."""
        return await run_in_thread(self.upload_dir, path, name, folder, description, labels, metadata,
                                   conflict_strategy, make_folder, group, **options)

    async def aadd_reference(
        self,
        uri: str,
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        make_folder: bool = True,
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """Async twin of `add_reference`."""
        return await run_in_thread(self.add_reference, uri, name, folder, description, labels, metadata,
                                   conflict_strategy, make_folder, group, **options)

    async def aupload_code(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        name: str | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        group: str | None = None,
        **options: Any,
    ) -> Artifact:
        """Async twin of `upload_code`."""
        return await run_in_thread(self.upload_code, paths, name, folder, description, labels, group, **options)

    async def aget(self, ref: str | None = None, *, name: str | None = None, folder: str | None = None,
                   version: int | str | None = None) -> Artifact:
        """Async twin of `get`."""
        return await run_in_thread(lambda: self.get(ref, name=name, folder=folder, version=version))

    async def alist(
        self, index: int = 0, page_length: int = 10, sort_by: str | None = None,
        descending: bool = False, search: str | None = None, group_id: str | None = None,
        folder: str | None = None, cursor: str | None = None,
    ) -> Page[Artifact]:
        """Async twin of `list`."""
        return await run_in_thread(self.list, index, page_length, sort_by, descending, search, group_id, folder, cursor)

    async def acount(self, search: str | None = None, folder: str | None = None, group_id: str | None = None) -> int:
        """Async twin of `count`."""
        return await run_in_thread(self.count, search, folder, group_id)

    async def aids(self, count: int | None = None, offset: int = 0) -> builtins.list[str]:
        """Async twin of `ids`."""
        return await run_in_thread(self.ids, count, offset)

    async def afiles(self, ref: str) -> builtins.list[ArtifactFile]:
        """Async twin of `files`."""
        return await run_in_thread(self.files, ref)

    async def adownload(self, ref: str, path: str | os.PathLike[str] | None = None, chunk_size: int = -1,
                        artifact_path: str | None = None) -> Path | TemporaryLocalFile:
        """Async twin of `download`."""
        return await run_in_thread(self.download, ref, path, chunk_size, artifact_path)

    async def aget_contents(
        self, ref: str, file_type: BundleType | str | None = None, artifact_path: str | None = None,
        output_dir: str | os.PathLike[str] | None = None, file_stem: str = "contents",
    ) -> Path:
        """Async twin of `get_contents`."""
        return await run_in_thread(self.get_contents, ref, file_type, artifact_path, output_dir, file_stem)

    async def adownload_dir(
        self, ref: str, path: str | os.PathLike[str] | None = None, artifact_path: str | None = None,
        full_paths: bool = False, progress: Callable[[int], None] | None = None,
    ) -> Path:
        """Async twin of `download_dir`."""
        return await run_in_thread(self.download_dir, ref, path, artifact_path, full_paths, progress)

    async def aattach(self, ref: str, run_id: str, category: RunCategory | str = RunCategory.OUTPUT) -> RunLink:
        """Async twin of `attach`."""
        return await run_in_thread(self.attach, ref, run_id, category)

    async def arun_artifacts(self, run_id: str, category: RunCategory | str | None = None) -> builtins.list[Artifact]:
        """Async twin of `run_artifacts`."""
        return await run_in_thread(self.run_artifacts, run_id, category)

    async def alineage(self, ref: str) -> Lineage:
        """Async twin of `lineage`."""
        return await run_in_thread(self.lineage, ref)

    async def atransfers(self, ref: str) -> builtins.list[Transfer]:
        """Async twin of `transfers`."""
        return await run_in_thread(self.transfers, ref)

    async def arecord_download(self, ref: str, local_path: str | None = None) -> Transfer:
        """Async twin of `record_download`."""
        return await run_in_thread(self.record_download, ref, local_path)

    async def aadd_metadata(
        self, ref: str, aspect: dict[str, Any], schema: str | dict[str, Any] | None = None,
        policy: str | None = None,
    ) -> Aspect:
        """Async twin of `add_metadata`."""
        return await run_in_thread(self.add_metadata, ref, aspect, schema, policy)

    async def aget_metadata(self, ref: str) -> builtins.list[Aspect]:
        """Async twin of `get_metadata`."""
        return await run_in_thread(self.get_metadata, ref)

    async def alist_aspects(self, ref: str, schema: str | None = None) -> builtins.list[Aspect]:
        """Async twin of `list_aspects`."""
        return await run_in_thread(self.list_aspects, ref, schema)

    async def aregister_schema(self, urn: str, json_schema: dict[str, Any]) -> AspectSchema:
        """Async twin of `register_schema`."""
        return await run_in_thread(self.register_schema, urn, json_schema)

    async def aget_schema(self, urn: str) -> AspectSchema:
        """Async twin of `get_schema`."""
        return await run_in_thread(self.get_schema, urn)

    async def alist_schemas(self, prefix: str | None = None) -> builtins.list[AspectSchema]:
        """Async twin of `list_schemas`."""
        return await run_in_thread(self.list_schemas, prefix)

    async def aupdate(self, ref: str, description: str | None = None, labels: Sequence[str] | None = None) -> Artifact:
        """Async twin of `update`."""
        return await run_in_thread(self.update, ref, description, labels)

    async def aset_alias(self, ref: str, alias: str) -> Artifact:
        """Async twin of `set_alias`."""
        return await run_in_thread(self.set_alias, ref, alias)

    async def adelete(self, ref: str) -> None:
        """Async twin of `delete`."""
        await run_in_thread(self.delete, ref)

    async def agc(self, dry_run: bool = False, grace_seconds: float | None = None) -> GcReport:
        """Async twin of `gc`."""
        return await run_in_thread(self.gc, dry_run, grace_seconds)

    async def aclose(self) -> None:
        """Async twin of `close`."""
        await run_in_thread(self.close)

    async def acreate_plugin_snapshot(
        self, plugin_name: str, version: str | None, files: Sequence[tuple[str, bytes]], group: str | None = None
    ) -> PluginSnapshot:
        """Async twin of `create_plugin_snapshot`."""
        return await run_in_thread(self.create_plugin_snapshot, plugin_name, version, files, group)

    async def aget_plugin_snapshot(self, snapshot_id: str) -> PluginSnapshot:
        """Async twin of `get_plugin_snapshot`."""
        return await run_in_thread(self.get_plugin_snapshot, snapshot_id)

    async def aread_plugin_snapshot_file(self, snapshot_id: str, path: str) -> bytes:
        """Async twin of `read_plugin_snapshot_file`."""
        return await run_in_thread(self.read_plugin_snapshot_file, snapshot_id, path)

    async def asave_object(
        self,
        obj: Any,
        name: str,
        serializer: str | type | None = None,
        folder: str | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        conflict_strategy: ConflictStrategy | str = ConflictStrategy.NEW,
        options: dict[str, Any] | None = None,
        group: str | None = None,
        **upload_options: Any,
    ) -> Artifact:
        """Async twin of `save_object`."""
        return await run_in_thread(self.save_object, obj, name, serializer, folder, description, labels, metadata,
                                   conflict_strategy, options, group, **upload_options)

    async def aload_object(self, ref: str, use_current: bool = False) -> Any:
        """Async twin of `load_object`."""
        return await run_in_thread(self.load_object, ref, use_current)

    async def acheck_loadable(self, refs: Sequence[str] | None = None) -> builtins.list[Any]:
        """Async twin of `check_loadable`."""
        return await run_in_thread(self.check_loadable, refs)

    async def apush_outbox(self, dry_run: bool = False) -> SyncReport:
        """Async twin of `push_outbox`."""
        return await run_in_thread(self.push_outbox, dry_run)

    async def aprovenance(self, ref: str) -> ProvenanceRecord:
        """Async twin of `provenance`."""
        return await run_in_thread(self.provenance, ref)


def os_user() -> str:
    """The operating-system user's name as a folder component (``_`` where a character is not allowed).

    Example:
        ```python
        os_user()  # "alice"
        ```
    """
    try:
        name = getpass.getuser()
    except Exception:  # no login name and no passwd entry (some containers)
        name = "user"
    return user_folder(name)


def user_folder(name: str) -> str:
    """A user name as a folder component: ``DOMAIN/bob`` becomes ``DOMAIN_bob``.

    Example:
        ```python
        user_folder("bob")  # "bob"
        ```
    """
    cleaned = local_name(name)[:128].rstrip(" .")
    return validate_component(cleaned if cleaned[:1].isalnum() or cleaned[:1] == "_" else "_" + cleaned[:127])


def _stat(path: str) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as exc:
        raise InvalidArtifactInput(f"cannot read {path!r}: {exc.strerror}") from exc


def _file_size(path: str) -> int:
    return _stat(path).st_size


def _read_small(path: str) -> bytes | None:
    """A small file's content, or None if it has grown past `SMALL_FILE` since its stat."""
    try:
        with open(path, "rb", buffering=0) as f:
            data = f.read(SMALL_FILE + 1)
    except OSError as exc:
        raise InvalidArtifactInput(f"cannot read {path!r}: {exc.strerror}") from exc
    return data if len(data) <= SMALL_FILE else None


def _check_destination(target: Path) -> None:
    if target.is_dir():
        raise InvalidArtifactInput(f"destination {str(target)!r} is a folder: give a file path")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise InvalidArtifactInput(f"cannot create the folder of {str(target)!r}: {exc}") from exc


def _serializer_ref(value: object) -> SerializerRef:
    """A `SerializerRef` from one, a ``(snapshot_id, task_name)`` pair or its dict, else a clear error."""
    if isinstance(value, SerializerRef):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        value = {"snapshot_id": value[0], "task_name": value[1]}
    if isinstance(value, dict) and all(isinstance(value.get(k), str) and value.get(k)
                                       for k in ("snapshot_id", "task_name")):
        return SerializerRef(snapshot_id=value["snapshot_id"], task_name=value["task_name"])
    raise InvalidArtifactInput(f"serializer must be SerializerRef(snapshot_id, task_name) or a (snapshot_id, "
                               f"task_name) pair of strings, not {value!r:.80}: both go together")


def _default_name(path: str) -> str:
    base = os.path.basename(os.path.normpath(path)) or "artifact"
    cleaned = "".join(c if c.isalnum() or c in "-_. " else "-" for c in base).strip(" .") or "artifact"
    return validate_name(cleaned[:128] if cleaned[0].isalnum() or cleaned[0] == "_" else "_" + cleaned[:127])


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    for double in (".tar.gz", ".tar.bz2", ".tar.xz"):
        if name.endswith(double):
            return double
    return os.path.splitext(name)[1]


def _code_files(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> builtins.list[Path]:
    given = [paths] if isinstance(paths, (str, os.PathLike)) else builtins.list(paths)
    if not given:
        raise InvalidArtifactInput("no code paths given")
    files = [Path(p).resolve() for p in given]
    for f in files:
        if not f.is_file():
            raise InvalidArtifactInput(f"{str(f)!r} is not a file")
    return files


def _same_content(art: Artifact, draft: ArtifactDraft) -> bool:
    """Whether ``art`` holds exactly the local files of ``draft`` (hashed here, nothing stored)."""
    entries = draft.entries()
    is_dir = draft.single_kind() is None or len(entries) != 1
    if art.is_dir != is_dir:
        return False
    files = []
    for entry in entries:
        digest, size = hash_file(entry.local or "")
        files.append(ManifestFile(path=entry.path, size=size, checksum=digest))
    return artifact_checksum(files, is_dir) == art.checksum


def _placed(path: str, sub: str | None, full_paths: bool) -> str:
    """Where `Registry.download_dir` puts the file ``path`` of the selection ``sub``."""
    if full_paths or sub is None:
        return path
    return path.rsplit("/", 1)[-1] if path == sub else path[len(sub) + 1:]


def _reporting(chunks: Iterable[bytes], progress: Callable[[int], None]) -> Iterator[bytes]:
    for chunk in chunks:
        progress(len(chunk))
        yield chunk



#: `Registry._store_batch`'s results so far (an error, or None until created) and its creates to make.
_BatchOutcomes = builtins.list[Artifact | ArtifactError | None]
_BatchRequests = builtins.list[tuple[int, ArtifactManifest, ConflictStrategy, bool]]


class _Prepared:
    """An upload checked and derived, waiting for its content to be stored (`Registry._prepare`)."""

    def __init__(self, draft: ArtifactDraft, folder: str, name: str, make_folder: bool, kind: ArtifactKind | None,
                 links: builtins.list[tuple[str, RunCategory]], aspects: builtins.list[dict[str, Any]],
                 original_path: str | None, serializer: Any, idempotency_key: str | None, group: str | None,
                 storage: str | None) -> None:
        self.draft, self.folder, self.name, self.make_folder, self.kind = draft, folder, name, make_folder, kind
        self.links, self.aspects, self.original_path, self.serializer = links, aspects, original_path, serializer
        self.idempotency_key, self.group, self.storage = idempotency_key, group, storage
        self.entries = draft.entries()

    def manifest(self, files: builtins.list[ManifestFile]) -> ArtifactManifest:
        """The manifest of the draft's stored ``files``."""
        draft, kind = self.draft, self.kind
        single = draft.single_kind()
        if kind is None:
            kind = {"file": ArtifactKind.FILE, "ref": ArtifactKind.REFERENCE}.get(single or "", ArtifactKind.DIRECTORY)
        if kind is ArtifactKind.DIRECTORY and all(f.uri for f in files):
            kind = ArtifactKind.REFERENCE
        is_dir = single is None or len(files) != 1
        mime = draft.mime_type or (DIRECTORY if is_dir else files[0].mime_type)
        manifest = ArtifactManifest(
            folder=self.folder, name=self.name, kind=kind, files=files, is_dir=is_dir,
            description=draft.description, labels=draft.labels, mime_type=mime,
            size=artifact_size(files), checksum=artifact_checksum(files, is_dir),
            original_path=self.original_path, serializer=self.serializer, idempotency_key=self.idempotency_key,
            aspects=self.aspects, runs=self.links, group_id=self.group, storage_id=self.storage,
        )
        if draft.mime_type and not is_dir:
            files[0].mime_type = draft.mime_type
        return manifest
