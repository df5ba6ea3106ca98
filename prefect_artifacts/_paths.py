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
from urllib.parse import quote, unquote

from prefect_artifacts.errors import InvalidArtifactInput, InvalidName, UnsafePath
from prefect_artifacts.models import URN_PREFIX

# Artifact names: seed 000's pattern (letters, digits, '-', '_', '.', ':', '/' and
# whitespace), stored verbatim. References escape ':', '/', '%' and whitespace other than
# inner spaces in a name (`quote_name`), so every name has an unambiguous short form.
_NAME = re.compile(r"^[a-zA-Z0-9\-_\s/.:]{1,128}\Z")
# Folder components and file names written to disk keep the strict set: they are paths.
_COMPONENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]{0,127}\Z")
_LABEL = re.compile(r"^[A-Za-z0-9_.:=/\- ]{1,128}\Z")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}\Z")
_VERSION = re.compile(r"^v?([0-9]+)\Z")


def validate_name(name: str, what: str = "artifact name") -> str:
    r"""Return ``name`` if it is a valid artifact name, else raise `InvalidName`.

    Valid: 1-128 characters among letters, digits, ``-``, ``_``, ``.``, ``:``, ``/`` and
    whitespace (seed 000's pattern ``^[a-zA-Z0-9\-\_\s\/\.:]+$``), kept verbatim. A name
    with ``/`` or ``:`` is written escaped in references (see `artifact_ref`).

    Example:
        ```python
        validate_name("run:1/out.csv")  # "run:1/out.csv"
        validate_name("é")              # raises InvalidName
        ```
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidName(
            f"invalid {what} {name!r}: use 1-128 letters, digits, whitespace or '-', '_', '.', ':', '/'"
        )
    return name


def validate_component(name: str, what: str = "folder component") -> str:
    """Return ``name`` if it is a valid folder component or file name, else raise `InvalidName`.

    Stricter than artifact names, since these become paths: 1-128 letters, digits,
    ``-``, ``_``, ``.`` or spaces, starting with a letter, digit or ``_``, not ending
    in a space or dot.

    Example:
        ```python
        validate_component("team-a")  # "team-a"
        validate_component("a:b")     # raises InvalidName
        ```
    """
    if not isinstance(name, str) or not _COMPONENT.match(name) or name != name.rstrip(" ."):
        raise InvalidName(
            f"invalid {what} {name!r}: use 1-128 letters, digits, '-', '_', '.' or spaces, "
            "starting with a letter, digit or '_' (no '/' or ':')"
        )
    return name


def quote_name(name: str) -> str:
    """A name as written in a reference: ``%``-escaped where it would be ambiguous.

    ``/``, ``:``, ``%``, whitespace other than a space, and spaces at either end are
    escaped (``%3A``, ``%2F``, ``%20`` ...); `parse_ref` reverses it. Names made only
    of letters, digits, ``-``, ``_``, ``.`` and inner spaces read as they are.

    Example:
        ```python
        quote_name("run:1/out.csv")  # "run%3A1%2Fout.csv"
        quote_name("my data")        # "my data"
        ```
    """
    quoted = quote(name, safe=" ")
    core = quoted.strip(" ")
    if not core:
        return "%20" * len(quoted)
    lead = len(quoted) - len(quoted.lstrip(" "))
    trail = len(quoted) - len(quoted.rstrip(" "))
    return "%20" * lead + core + "%20" * trail


def artifact_ref(folder: str | None, name: str, tag: int | str | None = None) -> str:
    """The reference ``/folder/name[:tag]`` of a name, escaped with `quote_name`.

    ``folder=None`` gives the folder-less form ``name[:tag]``; a name that would read
    as an artifact id there has its first character escaped.

    Example:
        ```python
        artifact_ref("/team", "a:b", 3)  # "/team/a%3Ab:3"
        ```
    """
    quoted = quote_name(name)
    if folder is not None:
        quoted = f"{folder.rstrip('/')}/{quoted}"
    elif tag is None and parse_ref(quoted).id is not None:
        quoted = f"%{ord(quoted[0]):02X}{quoted[1:]}"
    return quoted if tag is None else f"{quoted}:{tag}"


def local_name(name: str) -> str:
    """A file or folder name for an artifact's name on disk (``/``, ``:``... become ``_``).

    Example:
        ```python
        local_name("run:1/out.csv")  # "run_1_out.csv"
        ```
    """
    cleaned = "".join(c if c.isalnum() or c in "-_. " else "_" for c in name).strip(" ")
    return cleaned if cleaned.strip(".") else "artifact"


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


def normalize_folder(folder: str | None, default: str = "/default", user: str | None = None) -> str:
    """Resolve a folder to its absolute, normalized form.

    ``None`` is the default folder; a relative folder resolves under ``/<user>/``
    (seed 001's rule), or under ``/`` when no user is given.

    Example:
        ```python
        normalize_folder("data", user="alice")  # "/alice/data"
        normalize_folder("/a/../b")             # raises UnsafePath
        ```
    """
    if folder is None:
        folder = default
    elif user is not None and isinstance(folder, str) and not folder.startswith("/"):
        folder = f"/{user}/{folder}"
    if not isinstance(folder, str) or "\\" in folder or "\x00" in folder:
        raise UnsafePath(f"invalid folder {folder!r}")
    parts = [p for p in folder.split("/") if p not in ("", ".")]
    for part in parts:
        if part == "..":
            raise UnsafePath(f"folder {folder!r} contains '..'")
        validate_component(part)
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


def is_unicode(text: str) -> bool:
    r"""Whether ``text`` has a UTF-8 form: no lone surrogate (as undecodable file names and ``\ud800`` escapes give).

    Example:
        ```python
        is_unicode("café")      # True
        is_unicode("x\ud800")   # False
        ```
    """
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
    if not is_unicode(path):  # an undecodable file name (surrogate escapes) cannot be catalogued
        raise UnsafePath(f"{what} {path!r} is not valid UTF-8")
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

    The name is unescaped (see `quote_name`): ``/team/a%3Ab:2`` is version 2 of ``a:b``.
    A bare UUID is an artifact id; a name that looks like one is reached with a folder.

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
    quoted, colon, tag = ref.partition(":")
    try:
        name = validate_name(unquote(quoted, errors="strict"))
    except UnicodeDecodeError:
        raise InvalidName(f"invalid artifact reference {ref!r}: bad %-escape in the name") from None
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
