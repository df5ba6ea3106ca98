"""What a manifest must hold before it is catalogued: derived fields and consistency rules.

A manifest is a proposal: from the draft walker of this process, or from a client of
the server. `seal_manifest` keeps what only the writer can know (names, labels,
descriptions, MIME types, a reference's URI, size and checksum) and derives or checks
everything else:

- file paths are normalized and form a tree that extracts faithfully (`check_tree`);
- a stored file's checksum is its digest and its size the stored blob's size (a
  contradicting claim is an `InvalidArtifactInput` naming the file);
- a reference has a URI and no digest (a digest would make the registry serve a blob
  the writer never showed it);
- the artifact's size is the sum of its files' sizes, its checksum `manifest_checksum`
  of its files (or a single file's checksum): a contradicting claim is refused;
- ``kind`` and ``is_dir`` agree with the files: several files make a directory, a
  ``file`` is one stored file, a ``directory`` has ``is_dir``, a ``reference`` holds
  URIs only, an ``object`` (and only an object) names its serializer.

Both the in-process uploads and the server's creates pass through it, so neither can
catalogue what the other would refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prefect_artifacts._aspects import SchemaResolver, prepare_aspect
from prefect_artifacts._checksums import manifest_checksum
from prefect_artifacts._paths import check_tree, normalize_folder, validate_labels, validate_name
from prefect_artifacts.errors import BlobNotFound, InvalidArtifactInput
from prefect_artifacts.models import ArtifactFile, ArtifactKind, ArtifactManifest, ManifestFile
from prefect_artifacts.storage.content_store import check_digest

#: Longest idempotency key a writer may choose (the catalog stores it prefixed by the user's id).
MAX_IDEMPOTENCY_KEY = 100


def artifact_size(files: Sequence[ManifestFile | ArtifactFile]) -> int:
    """An artifact's size: the sum of its files' sizes (a reference of unknown size counts 0).

    Example:
        ```python
        artifact_size(art.files) == art.size
        ```
    """
    return sum(f.size or 0 for f in files)


def artifact_checksum(files: Sequence[ManifestFile | ArtifactFile], is_dir: bool) -> str | None:
    """An artifact's checksum: `manifest_checksum` of a directory, else its one file's checksum.

    Example:
        ```python
        artifact_checksum(art.files, art.is_dir) == art.checksum
        ```
    """
    return manifest_checksum(files) if is_dir else files[0].checksum


def seal_manifest(manifest: ArtifactManifest, blob_size: Callable[[str], int] | None,
                  resolve: SchemaResolver | None = None) -> ArtifactManifest:
    """A copy of ``manifest`` with every derivable field derived and every rule checked.

    Args:
        manifest: the proposed manifest.
        blob_size: the stored size of a blob by digest (raising `BlobNotFound` when it
            is missing); None when this process stored the blobs itself and measured
            their sizes while doing so.
        resolve: the schema registry that validates aspects naming a registered URN (`prepare_aspect`).

    Raises:
        InvalidArtifactInput: a claim contradicts the content, or the fields disagree
            (the message names the file or field).
        InvalidName: an invalid name, folder or label.
        UnsafePath: a file path escapes its root.
        MetadataValidationError: an invalid aspect.
        BlobNotFound: a stored file's blob is missing.

    Example:
        ```python
        sealed = seal_manifest(proposed, registry.store.size)
        sealed.size, sealed.checksum   # computed from the stored blobs
        ```
    """
    validate_name(manifest.name)
    key = manifest.idempotency_key
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidArtifactInput(f"an idempotency key has 1-{MAX_IDEMPOTENCY_KEY} characters, not {len(key)}")
    files = _sealed_files(manifest.files, blob_size)
    is_dir = manifest.is_dir
    _check_kind(manifest, files)
    size, checksum = artifact_size(files), artifact_checksum(files, is_dir)
    if manifest.size is not None and manifest.size != size:
        raise InvalidArtifactInput(f"artifact size {manifest.size} does not match its files' total of {size} bytes")
    if manifest.checksum is not None and manifest.checksum != checksum:
        raise InvalidArtifactInput(f"artifact checksum {manifest.checksum!r} does not match its files ({checksum})")
    aspects = [prepare_aspect(a.get("content"), a.get("schema_name"), a.get("policy"), resolve)
               for a in manifest.aspects]
    return manifest.model_copy(update={
        "folder": normalize_folder(manifest.folder), "labels": validate_labels(manifest.labels),
        "files": files, "size": size, "checksum": checksum, "aspects": aspects,
    })


def _sealed_files(files: Sequence[ManifestFile], blob_size: Callable[[str], int] | None) -> list[ManifestFile]:
    paths = check_tree(f.path for f in files)
    out = []
    for f, path in zip(files, paths, strict=True):
        size = f.size
        if size is not None and (not isinstance(size, int) or size < 0):
            raise InvalidArtifactInput(f"file {path!r}: size {size!r} is not a byte count")
        if f.uri is not None:
            if f.digest is not None:
                raise InvalidArtifactInput(f"file {path!r} is a reference (it has a URI): it has no digest")
            out.append(f.model_copy(update={"path": path}))
            continue
        if f.digest is None:
            raise InvalidArtifactInput(f"file {path!r} needs the digest of its stored content (or a URI)")
        digest = check_digest(f.digest)
        if f.checksum not in (None, digest):
            raise InvalidArtifactInput(f"file {path!r}: checksum must equal the digest of its stored content")
        if blob_size is not None:
            try:
                stored = blob_size(digest)
            except BlobNotFound:
                raise BlobNotFound(f"content of {path!r} ({digest}) has not been uploaded") from None
            if size is not None and size != stored:
                raise InvalidArtifactInput(f"file {path!r}: size {size} does not match its stored content "
                                           f"({stored} bytes)")
            size = stored
        elif size is None:
            raise InvalidArtifactInput(f"file {path!r} needs its size")
        out.append(f.model_copy(update={"path": path, "size": size, "checksum": digest}))
    return sorted(out, key=lambda f: f.path)


def _check_kind(manifest: ArtifactManifest, files: Sequence[ManifestFile]) -> None:
    kind, is_dir = manifest.kind, manifest.is_dir
    stored = [f for f in files if f.uri is None]
    problem = None
    if len(files) != 1 and not is_dir:
        problem = f"an artifact of {len(files)} files is a directory: set is_dir"
    elif kind is ArtifactKind.FILE and (is_dir or not stored):
        problem = "a 'file' artifact is one stored file (is_dir false, no URI)"
    elif kind is ArtifactKind.DIRECTORY and not is_dir:
        problem = "a 'directory' artifact has is_dir true"
    elif kind is ArtifactKind.REFERENCE and stored:
        problem = f"a 'reference' artifact holds URIs only, but {stored[0].path!r} is stored content"
    elif (kind is ArtifactKind.OBJECT) != (manifest.serializer is not None):
        problem = "an 'object' artifact, and only an object artifact, names its serializer"
    if problem is not None:
        raise InvalidArtifactInput(f"kind {kind.value!r}, is_dir {is_dir}: {problem}")
