"""Checksums of file lists: a directory artifact's and a plugin snapshot's.

Pure functions over models, kept apart from the registries so that the serializer
plugins (which the registries import) can use them without an import cycle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from prefect_artifacts._paths import safe_relpath
from prefect_artifacts.models import ArtifactFile, ManifestFile, SnapshotFile


def manifest_checksum(files: Sequence[ManifestFile | ArtifactFile]) -> str:
    """Checksum of a multi-file artifact: SHA-256 over its sorted (path, size, checksum).

    Example:
        ```python
        manifest_checksum(art.files)
        ```
    """
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f"{f.path}\0{f.size}\0{f.checksum}\n".encode())
    return digest.hexdigest()


def snapshot_manifest(files: Sequence[tuple[str, bytes]]) -> tuple[str, list[SnapshotFile]]:
    """Digest and file list of a plugin snapshot: SHA-256 over sorted (path, sha256).

    Example:
        ```python
        digest, files = snapshot_manifest([("m.py", b"print(1)")])
        ```
    """
    entries = sorted((safe_relpath(path, "snapshot path"), data) for path, data in files)
    listed = [SnapshotFile(path=p, checksum=hashlib.sha256(d).hexdigest(), size=len(d)) for p, d in entries]
    return snapshot_digest(listed), listed


def snapshot_digest(files: Iterable[SnapshotFile]) -> str:
    """A plugin snapshot's digest from its file list: SHA-256 over sorted (path, sha256).

    Example:
        ```python
        assert snapshot_digest(snapshot.files) == snapshot.digest
        ```
    """
    entries = sorted((safe_relpath(f.path, "snapshot path"), f.checksum) for f in files)
    return hashlib.sha256("".join(f"{path}\0{checksum}\n" for path, checksum in entries).encode()).hexdigest()
