"""prefect-artifacts: tracked, versioned, retrievable artifacts for Prefect flows.

Example:
    ```python
    from prefect_artifacts import ArtifactRegistry

    reg = ArtifactRegistry()            # embedded: SQLite + local blobs
    art = reg.upload_file("data.csv", name="my-data")
    print(reg.get("my-data:latest").checksum)
    ```
"""

from prefect_artifacts.blocks import ArtifactRegistry, ArtifactStorage
from prefect_artifacts.draft import ArtifactDraft
from prefect_artifacts.errors import (
    AmbiguousReference,
    ArtifactConflict,
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactNotFound,
    AuthenticationError,
    BlobNotFound,
    FolderNotFound,
    InvalidArtifactInput,
    InvalidName,
    InvalidOperation,
    MetadataValidationError,
    MissingStorageBackend,
    PayloadTooLarge,
    PermissionDenied,
    SearchSyntaxError,
    SerializerError,
    SnapshotIntegrityError,
    StorageError,
    UnsafePath,
)
from prefect_artifacts.models import (
    Artifact,
    ArtifactFile,
    ArtifactKind,
    Aspect,
    BundleType,
    ConflictStrategy,
    GcReport,
    Lineage,
    Page,
    PluginSnapshot,
    RunCategory,
    RunLink,
    SerializerRef,
)
from prefect_artifacts.registry import LocalRegistry, Registry

__version__ = "0.1.0"

__all__ = [
    "AmbiguousReference",
    "Artifact",
    "ArtifactConflict",
    "ArtifactDraft",
    "ArtifactError",
    "ArtifactFile",
    "ArtifactIntegrityError",
    "ArtifactKind",
    "ArtifactNotFound",
    "ArtifactRegistry",
    "ArtifactStorage",
    "Aspect",
    "AuthenticationError",
    "BlobNotFound",
    "BundleType",
    "ConflictStrategy",
    "FolderNotFound",
    "GcReport",
    "InvalidArtifactInput",
    "InvalidName",
    "InvalidOperation",
    "Lineage",
    "LocalRegistry",
    "MetadataValidationError",
    "MissingStorageBackend",
    "Page",
    "PayloadTooLarge",
    "PermissionDenied",
    "PluginSnapshot",
    "Registry",
    "RunCategory",
    "RunLink",
    "SearchSyntaxError",
    "SerializerError",
    "SerializerRef",
    "SnapshotIntegrityError",
    "StorageError",
    "UnsafePath",
]
