"""`ArtifactDraft`: an artifact assembled from files, directories and references."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
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

    ``local`` (seed 001) is the draft's local working directory: when given, `add_file`
    and `add_dir` copy their sources into ``<local>/<obj_path>`` at once, so the upload
    holds the content as it was when added (later edits of the originals do not leak
    in). Without it (the default) nothing is copied and the files are read at upload.
    Local paths are recorded absolute, so a draft saved with `to_dict` (JSON) and
    rebuilt with `parse_from_dict` in another process or folder names the same files.

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
        local: str | os.PathLike[str] | None = None,
    ) -> None:
        self.name = validate_name(name)
        self.alternative_name = None if alternative_name is None else validate_name(alternative_name)
        self.description = description
        self.labels = validate_labels(labels)
        self.metadata = metadata
        self.mime_type = mime_type
        self._local = None if local is None else os.path.abspath(os.fspath(local))
        self._sources: list[tuple[str, Any, str, bool]] = []  # (kind, source, in-artifact path, move)

    @property
    def local(self) -> str | None:
        """The draft's local working directory (absolute), or None: sources are then not copied.

        Example:
            ```python
            draft = ArtifactDraft(name="bundle", local="work/bundle")
            draft.add_file("1.png", obj_path="a/")   # copied to work/bundle/a/1.png
            draft.local                               # "/abs/work/bundle"
            ```
        """
        return self._local

    def _copy_in(self, source: str, target: str, is_dir: bool) -> str:
        """Copy ``source`` to ``<local>/<target>`` (the draft's working directory); the copy's path."""
        if self._local is None:
            return source
        dest = os.path.join(self._local, *target.split("/")) if target else self._local
        if os.path.abspath(dest) == os.path.abspath(source):
            return source
        try:
            if is_dir:  # exactly the files the draft would read (walk_dir's symlink rules)
                for rel, full in walk_dir(source):
                    os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
                    shutil.copy2(full, os.path.join(dest, rel))
                os.makedirs(dest, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                shutil.copy2(source, dest)
        except OSError as exc:
            raise InvalidArtifactInput(f"cannot copy {source!r} into the draft's local directory: {exc}") from exc
        return dest

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
        target = object_path(obj_path, os.path.basename(path))
        path = self._copy_in(os.path.abspath(path), target, is_dir=False)
        self._sources.append(("file", path, target, move))
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
        target = dir_prefix(obj_path, name)
        path = self._copy_in(os.path.abspath(path), target, is_dir=True)
        self._sources.append(("dir", path, target, move))
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

    @property
    def objects(self) -> list[dict[str, Any]]:
        """What was added, in order: ``{"kind", "path", "source", "move"}`` per item (seed 001's ``objects``).

        ``kind`` is ``file``, ``dir``, ``ref`` or ``bytes``; ``path`` is the path inside
        the artifact (``""``: the root); ``source`` is the absolute local path, the URI,
        or (for ``bytes``) the content in base64. A copy: editing it changes nothing.

        Example:
            ```python
            ArtifactDraft(name="x").add_reference("s3://b/k.csv", obj_path="raw/").objects
            # [{"kind": "ref", "path": "raw/k.csv", "source": "s3://b/k.csv", "move": False}]
            ```
        """
        return [
            {"kind": kind, "path": target, "move": move,
             "source": base64.b64encode(source).decode("ascii") if kind == "bytes" else source}
            for kind, source, target, move in self._sources
        ]

    def to_dict(self) -> dict[str, Any]:
        """The draft as a JSON-compatible dict; `parse_from_dict` rebuilds it exactly.

        Keys: ``name``, ``alternative_name``, ``description``, ``labels``, ``metadata``,
        ``mime_type``, ``local`` and ``objects`` (see `objects`). Nothing is read from
        disk: directories are listed only at upload, as for the draft itself.

        Example:
            ```python
            Path("draft.json").write_text(json.dumps(draft.to_dict()))
            same = ArtifactDraft.parse_from_dict(json.loads(Path("draft.json").read_text()))
            ```
        """
        return {
            "name": self.name, "alternative_name": self.alternative_name, "description": self.description,
            "labels": list(self.labels), "metadata": _json_copy(self.metadata), "mime_type": self.mime_type,
            "local": self._local, "objects": self.objects,
        }

    @classmethod
    def parse_from_dict(cls, data: Mapping[str, Any]) -> ArtifactDraft:
        """Rebuild a draft from `to_dict`'s dict (e.g. loaded from JSON); returns a new draft.

        The sources are taken as recorded (not copied again, not required to exist yet:
        a missing file fails the upload, naming it).

        Raises:
            InvalidArtifactInput: ``data`` is not such a dict (an unknown key, a wrong
                type, an unknown object kind, bad base64), naming the problem.
            InvalidName, UnsafePath: an invalid name, label or object path.

        Example:
            ```python
            draft = ArtifactDraft.parse_from_dict({"name": "bundle", "objects": [
                {"kind": "ref", "path": "x.bin", "source": "https://host/x.bin"}]})
            ```
        """
        if not isinstance(data, Mapping):
            raise InvalidArtifactInput(f"a draft dict must be a mapping, not {type(data).__name__}")
        unknown = set(data) - _DRAFT_KEYS
        if unknown:
            raise InvalidArtifactInput(f"unknown draft key(s) {sorted(unknown)}: use {sorted(_DRAFT_KEYS)}")
        if "name" not in data:
            raise InvalidArtifactInput("a draft dict needs a 'name'")
        for key in ("alternative_name", "description", "mime_type", "local"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise InvalidArtifactInput(f"draft {key!r} must be a string or null, not {type(data[key]).__name__}")
        metadata = data.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidArtifactInput(f"draft 'metadata' must be an object or null, not {type(metadata).__name__}")
        objects = data.get("objects", [])
        if not isinstance(objects, list):
            raise InvalidArtifactInput(f"draft 'objects' must be a list, not {type(objects).__name__}")
        draft = cls(name=data["name"], description=data.get("description"), labels=data.get("labels") or (),
                    metadata=_json_copy(metadata), mime_type=data.get("mime_type"),
                    alternative_name=data.get("alternative_name"))
        draft._local = data.get("local")
        draft._sources = [_parse_object(i, item) for i, item in enumerate(objects)]
        return draft

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


_DRAFT_KEYS = frozenset({"name", "alternative_name", "description", "labels", "metadata", "mime_type", "local",
                         "objects"})
_OBJECT_KINDS = ("file", "dir", "ref", "bytes")


def _json_copy(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts and lists copied, scalars kept)."""
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    return value


def _parse_object(i: int, item: Any) -> tuple[str, Any, str, bool]:
    """One ``objects`` entry of `ArtifactDraft.to_dict`, checked, as a draft source."""
    if not isinstance(item, Mapping):
        raise InvalidArtifactInput(f"draft object {i} must be an object, not {type(item).__name__}")
    kind, target, source, move = item.get("kind"), item.get("path", ""), item.get("source"), item.get("move", False)
    if kind not in _OBJECT_KINDS:
        raise InvalidArtifactInput(f"draft object {i}: unknown kind {kind!r} (use one of {', '.join(_OBJECT_KINDS)})")
    if not isinstance(source, str) or not (source or kind == "bytes"):
        raise InvalidArtifactInput(f"draft object {i} needs a non-empty string 'source'")
    if not isinstance(target, str) or not isinstance(move, bool):
        raise InvalidArtifactInput(f"draft object {i}: 'path' must be a string and 'move' a boolean")
    if target or kind in ("file", "bytes"):
        target = safe_relpath(target, f"path of draft object {i}")
    if kind == "bytes":
        try:
            return kind, base64.b64decode(source, validate=True), target, False
        except ValueError:
            raise InvalidArtifactInput(f"draft object {i}: 'source' is not valid base64") from None
    if kind == "ref":
        return kind, normalize_uri(source), target, False
    if not Path(source).is_absolute():
        raise InvalidArtifactInput(f"draft object {i}: local source {source!r} must be an absolute path")
    return kind, source, target, move


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

