"""The comparison of two artifacts: fields, labels, metadata and files (by digest).

Pure functions over what the page read (artifacts, aspects, bounded file lists).

Example:
    ```python
    fields = field_changes(a, b)
    files = file_changes(files_a, files_b)
    ```
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prefect_artifacts._sizes import human_size
from prefect_artifacts.models import Artifact, ArtifactFile, Aspect

FIELDS = ("name", "folder", "version", "kind", "description", "mime_type", "size", "checksum", "file_count",
          "group_id", "original_path", "created", "modified")


@dataclass(frozen=True)
class Change:
    """One compared item: its key, both sides ("" when absent) and ``status``.

    ``status`` is ``same``, ``changed``, ``added`` (only in b) or ``removed`` (only in a).

    Example:
        ```python
        Change("size", "1 KiB", "2 KiB", "changed")
        ```
    """

    key: str
    a: str
    b: str
    status: str


def _show(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "value"):  # enums
        return str(value.value)
    return str(value)


def field_changes(a: Artifact, b: Artifact) -> list[Change]:
    """Every field of `FIELDS`, side by side.

    Example:
        ```python
        [c.key for c in field_changes(a, b) if c.status == "changed"]
        ```
    """
    out = []
    for name in FIELDS:
        va, vb = _show(getattr(a, name)), _show(getattr(b, name))
        out.append(Change(name, va, vb, "same" if va == vb else "changed"))
    return out


def label_changes(a: Artifact, b: Artifact) -> list[Change]:
    """Labels of either side: kept, added (only in b) or removed (only in a).

    Example:
        ```python
        label_changes(a, b)
        ```
    """
    keys = sorted(set(a.labels) | set(b.labels))
    return [Change(k, k if k in a.labels else "", k if k in b.labels else "",
                   "same" if k in a.labels and k in b.labels else "added" if k in b.labels else "removed")
            for k in keys]


def flatten_metadata(aspects: Iterable[Aspect]) -> dict[str, str]:
    """The metadata of an artifact as ``dotted.key → JSON value`` (later aspects win).

    Example:
        ```python
        flatten_metadata(reg.get_metadata(art.id))  # {"metrics.accuracy": "0.93"}
        ```
    """
    merged: dict[str, Any] = {}
    for aspect in aspects:
        merged.update(aspect.content)
    flat: dict[str, str] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, f"{prefix}.{k}" if prefix else str(k))
        else:
            flat[prefix] = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)

    walk(merged, "")
    return flat


def mapping_changes(a: Mapping[str, str], b: Mapping[str, str], keep_same: bool = True) -> list[Change]:
    """Keys of either mapping compared by value, sorted.

    Example:
        ```python
        mapping_changes({"x": "1"}, {"x": "2"})  # [Change("x", "1", "2", "changed")]
        ```
    """
    out = []
    for key in sorted(set(a) | set(b)):
        if key not in b:
            out.append(Change(key, a[key], "", "removed"))
        elif key not in a:
            out.append(Change(key, "", b[key], "added"))
        elif a[key] != b[key]:
            out.append(Change(key, a[key], b[key], "changed"))
        elif keep_same:
            out.append(Change(key, a[key], b[key], "same"))
    return out


def file_changes(a: Iterable[ArtifactFile], b: Iterable[ArtifactFile]) -> list[Change]:
    """Files added, removed or changed (by checksum), as ``path → "checksum (size)"``; unchanged left out.

    Example:
        ```python
        file_changes(reg.files(a.id), reg.files(b.id))
        ```
    """
    def describe(files: Iterable[ArtifactFile]) -> dict[str, str]:
        return {f.path: f"{f.checksum or f.uri or '?'} ({human_size(f.size)})" for f in files}

    def digests(files: Iterable[ArtifactFile]) -> dict[str, str]:
        return {f.path: f.checksum or f.uri or "" for f in files}

    la, lb = list(a), list(b)
    shown_a, shown_b = describe(la), describe(lb)
    changes = mapping_changes(digests(la), digests(lb), keep_same=False)
    return [Change(c.key, shown_a.get(c.key, ""), shown_b.get(c.key, ""), c.status) for c in changes]
