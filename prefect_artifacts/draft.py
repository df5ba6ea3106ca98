"""`ArtifactDraft`: an artifact assembled from files, directories and references."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prefect_artifacts._paths import (
    check_tree,
    dir_prefix,
    object_path,
    posix_join,
    safe_relpath,
    validate_labels,
    validate_name,
)
from prefect_artifacts.errors import InvalidArtifactInput, UnsafePath
from prefect_artifacts.references import basename, normalize_uri


@dataclass(frozen=True)
class DraftEntry:
    """One resolved file of a draft: a local file or in-memory bytes to store, or a URI to reference.

    Example:
        ```python
        DraftEntry("a/1.png", local="/data/1.png")
        ```
    """

    path: str
    local: str | None = None
    uri: str | None = None
    ref_dir: bool = False
    move: bool = False
    data: bytes | None = None


class ArtifactDraft:
    """An artifact being assembled before `Registry.upload`.

    Object paths follow three rules: ``obj_path=None`` keeps the basename,
    ``"a/"`` puts the file or folder inside ``a/``, and ``"a/x"`` names it ``a/x``.
    ``add_dir(path, obj_path="")`` puts the folder's contents at the root.

    ``alternative_name`` (seed 001) is where the ``new`` conflict strategy puts the
    upload when ``name`` already exists in the folder; when the alternative exists
    too, the upload becomes its next version (``new`` never overwrites or fails).

    Example:
        ```python
        draft = ArtifactDraft(name="bundle", description="plots and data", labels=["x"])
        draft.add_file("1.png", obj_path="a/")       # a/1.png
        draft.add_dir("plots/", obj_path="b/")       # b/plots/...
        draft.add_reference("https://host/x.bin", obj_path="ext/x.bin")
        art = reg.upload(draft, folder="/team", make_folder=True)
        ```
    """

    def __init__(
        self,
        name: str,
        description: str | None = None,
        labels: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        mime_type: str | None = None,
        alternative_name: str | None = None,
    ) -> None:
        self.name = validate_name(name)
        self.alternative_name = None if alternative_name is None else validate_name(alternative_name)
        self.description = description
        self.labels = validate_labels(labels)
        self.metadata = metadata
        self.mime_type = mime_type
        self._sources: list[tuple[str, Any, str, bool]] = []  # (kind, source, in-artifact path, move)

    def add_file(
        self, file_path: str | os.PathLike[str], obj_path: str | None = None, move: bool = False
    ) -> ArtifactDraft:
        """Add a local file; returns the draft.

        With ``move=True`` the registry may take the file over instead of copying it
        (the file is gone afterwards): for scratch files the caller owns.

        Raises:
            InvalidArtifactInput: the path is not a readable file.
            UnsafePath: ``obj_path`` escapes the artifact root.

        Example:
            ```python
            draft.add_file("1.png", obj_path="a/")  # a/1.png
            ```
        """
        path = os.fspath(file_path)
        if not os.path.isfile(path):
            raise InvalidArtifactInput(f"{path!r} is not a file")
        self._sources.append(("file", path, object_path(obj_path, os.path.basename(path)), move))
        return self

    def add_bytes(self, data: bytes | bytearray | memoryview, obj_path: str) -> ArtifactDraft:
        """Add in-memory content as the file ``obj_path``, without a temporary file; returns the draft.

        Meant for small payloads (a config, metrics, a serialized object): the bytes are
        held by the draft until `Registry.upload` stores them.

        Raises:
            UnsafePath: ``obj_path`` escapes the artifact root.
            InvalidArtifactInput: ``obj_path`` names a folder, not a file.

        Example:
            ```python
            draft.add_bytes(b'{"lr": 0.1}', "params.json")
            ```
        """
        if not obj_path or obj_path in (".", "./") or obj_path.endswith("/"):
            raise InvalidArtifactInput(f"add_bytes needs a file name, not {obj_path!r}")
        self._sources.append(("bytes", bytes(data), safe_relpath(obj_path), False))
        return self

    def add_dir(
        self, dir_path: str | os.PathLike[str], obj_path: str | None = None, move: bool = False
    ) -> ArtifactDraft:
        """Add every file under a local directory; returns the draft.

        Symlinks that resolve outside the directory are refused. ``move=True`` lets
        the registry take the files over instead of copying them.

        Example:
            ```python
            draft.add_dir("plots/", obj_path="b/")  # b/plots/...
            ```
        """
        path = os.fspath(dir_path)
        if not os.path.isdir(path):
            raise InvalidArtifactInput(f"{path!r} is not a directory")
        name = os.path.basename(os.path.normpath(os.path.abspath(path)))
        self._sources.append(("dir", path, dir_prefix(obj_path, name), move))
        return self

    def add_reference(self, uri: str, obj_path: str | None = None) -> ArtifactDraft:
        """Add a URI (``s3://``, ``file://``, ``https://``, …) without copying it.

        Example:
            ```python
            draft.add_reference("s3://bucket/raw/x.parquet", obj_path="raw/")
            ```
        """
        uri = normalize_uri(uri)
        target = "" if obj_path in ("", ".") else object_path(obj_path, basename(uri))
        self._sources.append(("ref", uri, target, False))
        return self

    @property
    def is_empty(self) -> bool:
        """True when nothing was added.

        Example:
            ```python
            ArtifactDraft(name="x").is_empty  # True
            ```
        """
        return not self._sources

    def single_kind(self) -> str | None:
        """'file' or 'ref' when the draft is one plain file (or bytes) or one URI, else None.

        Example:
            ```python
            ArtifactDraft(name="x").add_file("a.txt").single_kind()  # "file"
            ```
        """
        kind = self._sources[0][0] if len(self._sources) == 1 else None
        return "file" if kind == "bytes" else kind if kind in ("file", "ref") else None

    def entries(self) -> list[DraftEntry]:
        """Resolve the draft into its files (walking directories now), sorted by path.

        Raises:
            UnsafePath: a symlink leads outside its directory.
            InvalidArtifactInput: two sources map to the same path, or nothing was added.

        Example:
            ```python
            [e.path for e in draft.entries()]
            ```
        """
        if not self._sources:
            raise InvalidArtifactInput(f"draft {self.name!r} is empty: add a file, directory or reference")
        out: list[DraftEntry] = []
        for kind, source, target, move in self._sources:
            if kind == "file":
                out.append(DraftEntry(target, local=source, move=move))
            elif kind == "bytes":
                out.append(DraftEntry(target, data=source))
            elif kind == "dir":
                out.extend(DraftEntry(posix_join(target, rel), local=full, move=move)
                           for rel, full in walk_dir(source))
            else:
                out.append(DraftEntry(target, uri=source, ref_dir=not target))
        if not out:
            raise InvalidArtifactInput(f"draft {self.name!r} has no files: its directories are empty")
        return _check_unique(out)


def walk_dir(root: str) -> list[tuple[str, str]]:
    """(relative '/'-path, absolute path) of every file under ``root``, sorted.

    Symlinked files inside ``root`` are followed; a symlink resolving outside it
    raises `UnsafePath`, a broken or looping one `InvalidArtifactInput`; symlinked
    folders inside it are skipped (their files are reached through their real path, and
    loops are impossible).

    Example:
        ```python
        walk_dir("outputs")  # [("a.txt", "/abs/outputs/a.txt"), ...]
        ```
    """
    real_root = os.path.realpath(root)
    prefix = real_root.rstrip(os.sep) + os.sep  # scandir paths all start with it (cheaper than relpath)
    found: list[tuple[str, str]] = []
    stack = [real_root]
    while stack:
        current = stack.pop()
        with os.scandir(current) as it:
            for entry in it:
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    if os.path.commonpath([real_root, target]) != real_root:
                        raise UnsafePath(f"symlink {entry.path!r} points outside {root!r} (to {target!r})")
                    if os.path.isdir(target):
                        continue
                    if not os.path.isfile(target):
                        raise InvalidArtifactInput(f"symlink {entry.path!r} is broken or loops: it names no file")
                if entry.is_dir():
                    stack.append(entry.path)
                elif entry.is_file():
                    rel = entry.path[len(prefix):].replace(os.sep, "/")
                    found.append((safe_relpath(rel), entry.path))
    found.sort()
    return found


def _check_unique(entries: list[DraftEntry]) -> list[DraftEntry]:
    entries.sort(key=lambda e: e.path)
    check_tree(e.path for e in entries if e.path)  # a folder reference (no path yet) is checked once probed
    return entries

