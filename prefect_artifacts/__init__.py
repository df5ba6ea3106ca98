"""prefect-artifacts: tracked, versioned, retrievable artifacts for Prefect flows.

Example:
    ```python
    from prefect_artifacts import ArtifactRegistry

    reg = ArtifactRegistry()            # embedded: SQLite + local blobs
    art = reg.upload_file("data.csv", name="my-data")
    print(reg.get("my-data:latest").checksum)
    ```
"""

import os as _os
import typing as _typing

# The ephemeral Prefect server a local flow run starts sends no telemetry unless asked
# to: offline, its attempt logs "ERROR | prefect.server.services.telemetry - Failed to
# send telemetry" into every run's output. Set PREFECT_SERVER_ANALYTICS_ENABLED=true to opt in.
_os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

if _typing.TYPE_CHECKING:
    from prefect_artifacts.batches import BatchResult
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
        OfflineError,
        PayloadTooLarge,
        PermissionDenied,
        SearchSyntaxError,
        SerializerError,
        SnapshotIntegrityError,
        StorageCorrupted,
        StorageError,
        StorageFull,
        UnsafePath,
    )
    from prefect_artifacts.models import (
        Artifact,
        ArtifactFile,
        ArtifactKind,
        Aspect,
        AspectSchema,
        BundleType,
        ConflictStrategy,
        GcReport,
        Lineage,
        Page,
        PluginSnapshot,
        RunCategory,
        RunLink,
        SerializerRef,
        Transfer,
        TransferAction,
    )
    from prefect_artifacts.registry import HttpRegistry, LocalRegistry, OfflineRegistry, Registry, SyncReport
    from prefect_artifacts.results import ResultSerializer
    from prefect_artifacts.serializers import Serializer, register_serializer

__version__ = "0.1.0"

# Every public name is imported on first use: the registry pulls in SQLAlchemy and httpx,
# the blocks Prefect (seconds), and `import prefect_artifacts` (hence every CLI start,
# `--help` included) should cost none of that.
_LAZY = {
    "ArtifactDraft": "prefect_artifacts.draft",
    "BatchResult": "prefect_artifacts.batches",
    **dict.fromkeys([
        "AmbiguousReference", "ArtifactConflict", "ArtifactError", "ArtifactIntegrityError", "ArtifactNotFound",
        "AuthenticationError", "BlobNotFound", "FolderNotFound", "InvalidArtifactInput", "InvalidName",
        "InvalidOperation", "MetadataValidationError", "MissingStorageBackend", "OfflineError", "PayloadTooLarge",
        "PermissionDenied", "SearchSyntaxError", "SerializerError", "SnapshotIntegrityError", "StorageCorrupted",
        "StorageError", "StorageFull", "UnsafePath"], "prefect_artifacts.errors"),
    **dict.fromkeys([
        "Artifact", "ArtifactFile", "ArtifactKind", "Aspect", "AspectSchema", "BundleType", "ConflictStrategy",
        "GcReport", "Lineage", "Page", "PluginSnapshot", "RunCategory", "RunLink", "SerializerRef", "Transfer",
        "TransferAction"],
        "prefect_artifacts.models"),
    **dict.fromkeys(["HttpRegistry", "LocalRegistry", "OfflineRegistry", "Registry", "SyncReport"],
                    "prefect_artifacts.registry"),
    "Serializer": "prefect_artifacts.serializers",
    "register_serializer": "prefect_artifacts.serializers",
    "ArtifactRegistry": "prefect_artifacts.blocks",
    "ArtifactStorage": "prefect_artifacts.blocks",
    "ResultSerializer": "prefect_artifacts.results",
}


def __getattr__(name: str) -> _typing.Any:
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if not name.startswith("__"):  # `prefect_artifacts.models` etc. without importing it first
        import importlib.util

        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'prefect_artifacts' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

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
    "AspectSchema",
    "AuthenticationError",
    "BatchResult",
    "BlobNotFound",
    "BundleType",
    "ConflictStrategy",
    "FolderNotFound",
    "GcReport",
    "HttpRegistry",
    "InvalidArtifactInput",
    "InvalidName",
    "InvalidOperation",
    "Lineage",
    "LocalRegistry",
    "MetadataValidationError",
    "MissingStorageBackend",
    "OfflineError",
    "OfflineRegistry",
    "Page",
    "PayloadTooLarge",
    "PermissionDenied",
    "PluginSnapshot",
    "Registry",
    "ResultSerializer",
    "RunCategory",
    "RunLink",
    "SearchSyntaxError",
    "Serializer",
    "SerializerError",
    "SerializerRef",
    "SnapshotIntegrityError",
    "StorageCorrupted",
    "StorageError",
    "StorageFull",
    "SyncReport",
    "Transfer",
    "TransferAction",
    "UnsafePath",
    "register_serializer",
]
