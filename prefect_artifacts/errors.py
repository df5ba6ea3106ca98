"""One exception tree for prefect-artifacts, and the HTTP status of each error.

```
ArtifactError
├── ArtifactNotFound (also LookupError)
│   ├── FolderNotFound
│   └── BlobNotFound
├── ArtifactConflict
│   └── AmbiguousReference
├── ArtifactIntegrityError
├── InvalidArtifactInput (also ValueError)
│   ├── InvalidName
│   ├── UnsafePath
│   ├── SearchSyntaxError
│   ├── MetadataValidationError
│   └── PayloadTooLarge
├── InvalidOperation
├── StorageError (also OSError)
│   ├── MissingStorageBackend
│   └── OfflineError (also ArtifactNotFound)
├── AuthenticationError
├── PermissionDenied
└── SerializerError
    └── SnapshotIntegrityError
```

Foreign errors (fsspec ``OSError``, httpx errors) are translated into this tree at the
boundary where they occur, with ``raise … from``; every error of the catalog's database
(SQLAlchemy, its driver, alembic) in one place, ``catalog.engine.catalog_errors``, around
each catalog read and write. Messages name the problem and never carry a password.
"""

from __future__ import annotations


class ArtifactError(Exception):
    """Base class of every error raised by prefect-artifacts.

    Example:
        ```python
        try:
            reg.get("missing")
        except ArtifactError as exc:
            print(exc)
        ```
    """

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ArtifactNotFound(ArtifactError, LookupError):
    """No artifact (or other catalogued object) matches the reference.

    Example:
        ```python
        with pytest.raises(ArtifactNotFound):
            reg.get("no-such-name")
        ```
    """

    status_code = 404


class FolderNotFound(ArtifactNotFound):
    """The folder does not exist and ``make_folder`` was false.

    Example:
        ```python
        reg.upload(draft, folder="/new", make_folder=False)  # raises FolderNotFound
        ```
    """


class BlobNotFound(ArtifactNotFound):
    """Content with this digest is not in the content store.

    Example:
        ```python
        store.open("0" * 64)  # raises BlobNotFound
        ```
    """


class ArtifactConflict(ArtifactError):
    """The write conflicts with what exists (``conflict_strategy="error"``).

    Example:
        ```python
        reg.upload_file("a.csv", name="a", conflict_strategy="error")  # second time raises
        ```
    """

    status_code = 409


class AmbiguousReference(ArtifactConflict):
    """A bare name matches artifacts in several folders: give the folder.

    Example:
        ```python
        reg.get("data")  # raises when /a/data and /b/data both exist; use "/a/data"
        ```
    """


class ArtifactIntegrityError(ArtifactError):
    """Content does not match its recorded checksum (corruption or a changed reference).

    Example:
        ```python
        with pytest.raises(ArtifactIntegrityError):
            b"".join(art.as_stream())
        ```
    """

    status_code = 409


class InvalidArtifactInput(ArtifactError, ValueError):
    """An argument is malformed; nothing was written.

    Example:
        ```python
        reg.attach(art.id, run_id, category="sideways")  # raises InvalidArtifactInput
        ```
    """

    status_code = 400


class InvalidName(InvalidArtifactInput):
    """An artifact, folder, alias or label name breaks the naming rules.

    Example:
        ```python
        reg.upload_file("a.csv", name="bad/name")  # raises InvalidName
        ```
    """


class UnsafePath(InvalidArtifactInput):
    """A path escapes its root (``../``, absolute path, symlink out, archive slip).

    Example:
        ```python
        draft.add_file("x.bin", obj_path="../../etc/")  # raises UnsafePath
        ```
    """


class SearchSyntaxError(InvalidArtifactInput):
    """A search query is malformed; ``position`` is the 0-based offset of the problem.

    Example:
        ```python
        try:
            reg.list(search="name:(")
        except SearchSyntaxError as exc:
            print(exc.position)
        ```
    """

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(f"{message} (at position {position})")
        self.position = position


class MetadataValidationError(InvalidArtifactInput):
    """A metadata aspect violates its JSON Schema, or the schema itself is invalid.

    Example:
        ```python
        art.add_metadata({"$schema": {"type": "object", "required": ["a"]}})  # raises
        ```
    """


class PayloadTooLarge(InvalidArtifactInput):
    """A request, upload or query exceeds a configured limit.

    Example:
        ```python
        reg.list(page_length=10**6)  # raises PayloadTooLarge
        ```
    """

    status_code = 413


class InvalidOperation(ArtifactError):
    """The operation does not apply to this artifact (e.g. a sub-path of a single file).

    Example:
        ```python
        file_art.get_contents(artifact_path="x")  # raises InvalidOperation
        ```
    """

    status_code = 400


class StorageError(ArtifactError, OSError):
    """The content store, the catalog's database or a referenced location failed.

    The message says how: e.g. the catalog database is unreachable, is locked by another
    connection past the timeout, is read-only, refused the credentials, denied access,
    or its schema is newer than this version knows.

    Example:
        ```python
        ArtifactStorage(basepath="/read-only/dir").get_store().put_file("a")  # may raise
        ```
    """

    status_code = 502


class StorageFull(StorageError):
    """The content store or the catalog has no space left (or its quota is used up).

    Not transient: clients do not retry it; free space, then try again.

    Example:
        ```python
        reg.upload_file("big.bin", name="big")  # on a full disk: StorageFull
        ```
    """

    status_code = 507


class StorageCorrupted(StorageError):
    """The catalog's database file (or another store file) is damaged and cannot be read.

    Also a catalog database whose schema does not match this version (a table gone).
    Not transient: restore the file from a backup.

    Example:
        ```python
        LocalRegistry.from_urls(catalog_url="sqlite:///overwritten.sqlite")  # StorageCorrupted
        ```
    """

    status_code = 500


class MissingStorageBackend(StorageError):
    """The storage URL's protocol needs a package that is not installed.

    Example:
        ```python
        ContentStore("s3://bucket/x")  # without s3fs: "pip install 'prefect-artifacts[s3]'"
        ```
    """

    status_code = 400


class OfflineError(StorageError, ArtifactNotFound):
    """The server can not be reached and what was asked for is neither in the outbox nor in the cache.

    Both a `StorageError` (what an unreachable server raised before) and an
    `ArtifactNotFound` (nothing here holds it). The message names the ref and whether its
    catalog entry or only its content is missing.

    Example:
        ```python
        try:
            reg.read("/team/never-read:latest")   # server down, never read before
        except OfflineError as exc:
            print(exc)
        ```
    """

    status_code = 503


class AuthenticationError(ArtifactError):
    """No valid API key was given.

    Example:
        ```python
        ArtifactRegistry(api_url=url, api_key="wrong").list()  # raises AuthenticationError
        ```
    """

    status_code = 401


class PermissionDenied(ArtifactError):
    """The key's user may not perform this write.

    Example:
        ```python
        read_only_reg.upload_file("a.csv", name="a")  # raises PermissionDenied
        ```
    """

    status_code = 403


class SerializerError(ArtifactError):
    """A serializer is unknown, failed, or cannot handle the object.

    Example:
        ```python
        reg.save_object(object())  # raises SerializerError naming the opt-in
        ```
    """

    status_code = 400


class SnapshotIntegrityError(SerializerError):
    """A plugin snapshot is missing or its content does not match its digest.

    Example:
        ```python
        reg.load_object("model")  # raises if the snapshot blobs were tampered with
        ```
    """

    status_code = 409


def _all_errors() -> list[type[ArtifactError]]:
    found: list[type[ArtifactError]] = []
    pending: list[type[ArtifactError]] = [ArtifactError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


#: Error class name → class; the HTTP client uses it to re-raise server errors.
ERRORS_BY_NAME: dict[str, type[ArtifactError]] = {c.__name__: c for c in _all_errors()}
