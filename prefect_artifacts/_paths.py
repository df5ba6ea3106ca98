"""Validation of names, folders, in-artifact paths and artifact references.

Every path that comes from a user, a directory walk or an archive passes through
`safe_relpath`, so traversal (``../``, absolute paths, drive letters, NUL bytes)
is refused in one place.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from prefect_artifacts.errors import InvalidArtifactInput, InvalidName, UnsafePath
from prefect_artifacts.models import URN_PREFIX

# The character set of artifact names users know (letters, digits, - _ . space),
# without '/' and ':' which separate folder, name and version in references.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]{0,127}\Z")
_LABEL = re.compile(r"^[A-Za-z0-9_.:=/\- ]{1,128}\Z")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}\Z")
_VERSION = re.compile(r"^v?([0-9]+)\Z")


def validate_name(name: str, what: str = "artifact name") -> str:
    """Return ``name`` if it is a valid artifact name, else raise `InvalidName`.

    Example:
        ```python
        validate_name("my-data")  # "my-data"
        validate_name("a/b")      # raises InvalidName
        ```
    """
    if not isinstance(name, str) or not _NAME.match(name) or name != name.rstrip(" ."):
        raise InvalidName(
            f"invalid {what} {name!r}: use 1-128 letters, digits, '-', '_', '.' or spaces, "
            "starting with a letter, digit or '_' (no '/' or ':')"
        )
    if what == "artifact name" and _is_uuid(name):
        raise InvalidName(f"invalid artifact name {name!r}: a UUID would read as an artifact id")
    return name


#: Most labels one artifact may carry (each up to 128 characters).
MAX_LABELS = 1000


def validate_labels(labels: object) -> list[str]:
    """Validate and de-duplicate labels, keeping their order (at most `MAX_LABELS`).

    Example:
        ```python
        validate_labels(["a", "a", "b"])  # ["a", "b"]
        ```
    """
    if isinstance(labels, str) or not isinstance(labels, Iterable):
        raise InvalidName(f"labels must be a list of strings, not {labels!r}")
    out: dict[str, None] = {}  # ordered and O(1) per label: 100,000 labels are refused at once
    for label in labels:
        if not isinstance(label, str) or not _LABEL.match(label):
            raise InvalidName(f"invalid label {label!r}")
        out[label] = None
        if len(out) > MAX_LABELS:
            raise InvalidName(f"too many labels: at most {MAX_LABELS} per artifact")
    return list(out)


def validate_alias(alias: str) -> str:
    """Return ``alias`` if valid (a letter, then letters, digits, '-', '_', '.').

    Example:
        ```python
        validate_alias("production")
        ```
    """
    if not isinstance(alias, str) or not _ALIAS.match(alias) or _VERSION.match(alias) or alias == "latest":
        raise InvalidName(f"invalid alias {alias!r}: start with a letter, no version numbers, not 'latest'")
    return alias


def normalize_folder(folder: str | None, default: str = "/default") -> str:
    """Resolve a folder to its absolute, normalized form.

    ``None`` is the default folder; a relative folder resolves under ``/``.

    Example:
        ```python
        normalize_folder("team/data")  # "/team/data"
        normalize_folder("/a/../b")    # raises UnsafePath
        ```
    """
    if folder is None:
        folder = default
    if not isinstance(folder, str) or "\\" in folder or "\x00" in folder:
        raise UnsafePath(f"invalid folder {folder!r}")
    parts = [p for p in folder.split("/") if p not in ("", ".")]
    for part in parts:
        if part == "..":
            raise UnsafePath(f"folder {folder!r} contains '..'")
        validate_name(part, "folder component")
    return "/" + "/".join(parts)


def parent_folders(folder: str) -> list[str]:
    """All ancestors of an absolute folder, outermost first, the folder included.

    Example:
        ```python
        parent_folders("/a/b")  # ["/", "/a", "/a/b"]
        ```
    """
    parts = [p for p in folder.split("/") if p]
    return ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def safe_relpath(path: str, what: str = "path") -> str:
    """Normalize a relative '/'-separated path; refuse anything escaping its root.

    Example:
        ```python
        safe_relpath("./a//b.txt")   # "a/b.txt"
        safe_relpath("../etc/passwd")  # raises UnsafePath
        ```
    """
    if not isinstance(path, str) or not path or "\x00" in path:
        raise UnsafePath(f"invalid {what} {path!r}")
    if not path.isascii():
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:  # an undecodable file name (surrogate escapes) cannot be catalogued
            raise UnsafePath(f"{what} {path!r} is not valid UTF-8") from None
    if "\\" in path or path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise UnsafePath(f"{what} {path!r} must be relative and '/'-separated")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        raise UnsafePath(f"{what} {path!r} is empty")
    if ".." in parts:
        raise UnsafePath(f"{what} {path!r} escapes its root with '..'")
    return "/".join(parts)


def check_tree(paths: Iterable[str]) -> list[str]:
    """Normalize an artifact's file paths and refuse a tree that cannot be extracted faithfully.

    Each path goes through `safe_relpath` (``./same`` is ``same``). Refused: the same
    path twice, a path that is both a file and a folder (``a`` next to ``a/b``), and
    paths differing only in letter case or Unicode normalization (``A.txt`` and
    ``a.txt``, NFC and NFD ``é``), which overwrite each other when a bundle is
    extracted on macOS or Windows.

    Raises:
        UnsafePath: a path escapes its root.
        InvalidArtifactInput: the paths collide; the message names them.

    Example:
        ```python
        check_tree(["b.txt", "./a/x"])   # ["b.txt", "a/x"]
        check_tree(["same", "./same"])   # raises InvalidArtifactInput
        ```
    """
    out = [safe_relpath(p, "file path") for p in paths]
    seen: dict[str, str] = {}
    for path in out:
        key = _fold(path)
        other = seen.get(key)
        if other is not None:
            same = "appears twice" if other == path else f"and {other!r} differ only in case or Unicode form"
            raise InvalidArtifactInput(f"file path {path!r} {same}: each file needs its own path")
        seen[key] = path
    for path in out:
        parts = path.split("/")
        for i in range(1, len(parts)):
            clash = seen.get(_fold("/".join(parts[:i])))
            if clash is not None:
                raise InvalidArtifactInput(f"{clash!r} is both a file and a folder (of {path!r})")
    return out


def _fold(path: str) -> str:
    """The form two paths share when a case-insensitive, normalizing filesystem mixes them up."""
    return path.casefold() if path.isascii() else unicodedata.normalize("NFC", path).casefold()


def object_path(obj_path: str | None, basename: str) -> str:
    """Apply the obj_path rules: None → basename; 'a/' → 'a/<basename>'; 'a/x' → 'a/x'.

    Example:
        ```python
        object_path("a/", "1.png")  # "a/1.png"
        ```
    """
    if obj_path is None or obj_path in ("", "."):
        return safe_relpath(basename)
    if obj_path.endswith("/"):
        return safe_relpath(obj_path + basename)
    return safe_relpath(obj_path)


def dir_prefix(obj_path: str | None, basename: str) -> str:
    """Where a directory lands: None → basename; 'b/' → 'b/<basename>'; '' → root.

    Example:
        ```python
        dir_prefix("b/", "plots")  # "b/plots"
        dir_prefix("", "plots")    # ""
        ```
    """
    if obj_path in ("", "."):
        return ""
    return object_path(obj_path, basename)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ParsedRef:
    """An artifact reference taken apart.

    Example:
        ```python
        parse_ref("/team/data:3")  # ParsedRef(id=None, folder="/team", name="data", version=3)
        ```
    """

    id: str | None = None
    folder: str | None = None
    name: str | None = None
    version: int | None = None
    alias: str | None = None


def parse_ref(ref: str) -> ParsedRef:
    """Parse ``id | urn | name | name:3 | name:latest | /folder/name:alias``.

    Example:
        ```python
        parse_ref("model:latest").alias  # "latest"
        ```
    """
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidName(f"invalid artifact reference {ref!r}")
    ref = ref.strip()
    if ref.startswith(URN_PREFIX):
        ref = ref[len(URN_PREFIX):]
    try:
        return ParsedRef(id=str(uuid.UUID(ref)))
    except ValueError:
        pass
    folder = None
    if "/" in ref:
        folder_part, _, ref = ref.rpartition("/")
        folder = normalize_folder(folder_part or "/")
    name, colon, tag = ref.partition(":")
    validate_name(name)
    if colon and not tag:
        raise InvalidName(f"invalid artifact reference {ref!r}: nothing after ':'")
    if not tag:
        return ParsedRef(folder=folder, name=name, alias="latest")
    match = _VERSION.match(tag)
    if match:
        return ParsedRef(folder=folder, name=name, version=int(match.group(1)))
    return ParsedRef(folder=folder, name=name, alias=tag if tag == "latest" else validate_alias(tag))


def posix_join(*parts: str) -> str:
    """Join in-artifact path parts with '/', skipping empty ones.

    Example:
        ```python
        posix_join("", "a", "b.txt")  # "a/b.txt"
        ```
    """
    return str(PurePosixPath(*[p for p in parts if p]))
