"""Nested trees for templates: folders of the list page, files of a directory artifact.

Example:
    ```python
    folder_tree(["/a", "/a/b", "/c"])[0]["children"][0]["path"]  # "/a/b"
    ```
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prefect_artifacts.models import ArtifactFile


def folder_tree(paths: Iterable[str]) -> list[dict[str, Any]]:
    """Sorted absolute folder paths as nested nodes ``{"name", "path", "children"}``.

    Example:
        ```python
        folder_tree(["/team", "/team/data"])
        ```
    """
    roots: list[dict[str, Any]] = []
    nodes: dict[str, dict[str, Any]] = {}
    for path in sorted(paths):
        parent_path, _, name = path.rstrip("/").rpartition("/")
        node = {"name": name or path, "path": path, "children": []}
        nodes[path] = node
        parent = nodes.get(parent_path or "/")
        (parent["children"] if parent is not None else roots).append(node)
    return roots


def file_tree(files: Iterable[ArtifactFile]) -> list[dict[str, Any]]:
    """Files of a directory artifact as nested nodes, folders first, then files.

    A folder is ``{"name", "path", "dir": True, "children", "size", "count"}``, a file
    ``{"name", "path", "dir": False, "file", "children": []}``.

    Example:
        ```python
        file_tree(reg.files("checkpoint"))
        ```
    """
    root: dict[str, Any] = {"children": {}, "files": []}
    for f in files:
        *dirs, name = f.path.split("/")
        node = root
        prefix = ""
        for d in dirs:
            prefix = f"{prefix}/{d}" if prefix else d
            node = node["children"].setdefault(d, {"name": d, "path": prefix, "children": {}, "files": []})
        node["files"].append({"name": name, "path": f.path, "dir": False, "file": f})

    def build(node: dict[str, Any]) -> tuple[list[dict[str, Any]], int, int]:
        out: list[dict[str, Any]] = []
        total_size = total_count = 0
        for child in sorted(node["children"].values(), key=lambda c: c["name"]):
            kids, size, count = build(child)
            out.append({"name": child["name"], "path": child["path"], "dir": True, "children": kids,
                        "size": size, "count": count})
            total_size += size
            total_count += count
        for f in node["files"]:
            out.append({**f, "children": []})
            total_size += f["file"].size or 0
            total_count += 1
        return out, total_size, total_count

    return build(root)[0]
