"""The lineage page's trees: `lineage_tree` cut at a depth, for nested-list rendering.

Example:
    ```python
    upstream = bounded_tree(reg.lineage(art.id), art.id, depth=3)
    ```
"""

from __future__ import annotations

from typing import Any

from prefect_artifacts._lineage_view import lineage_tree
from prefect_artifacts.models import Lineage

DEFAULT_DEPTH = 3
MAX_DEPTH = 10


def parse_depth(text: str | None) -> int:
    """``?depth=`` as an int in ``1..MAX_DEPTH`` (default `DEFAULT_DEPTH`; junk gives the default).

    Example:
        ```python
        parse_depth("50")  # 10
        ```
    """
    try:
        value = int(text) if text else DEFAULT_DEPTH
    except ValueError:
        return DEFAULT_DEPTH
    return max(1, min(MAX_DEPTH, value))


def bounded_tree(graph: Lineage, artifact_id: str, depth: int, downstream: bool = False) -> dict[str, Any]:
    """The upstream (or downstream) tree of ``artifact_id``, cut ``depth`` levels below the root.

    A cut node keeps ``"more": True`` when it had children.

    Example:
        ```python
        bounded_tree(graph, art.id, 2, downstream=True)["children"]
        ```
    """
    tree = lineage_tree(graph, artifact_id, downstream=downstream)

    def cut(node: dict[str, Any], level: int) -> dict[str, Any]:
        children = node.get("children", [])
        if level >= depth:
            return {**node, "children": [], "more": bool(children)}
        return {**node, "children": [cut(c, level + 1) for c in children]}

    return cut(tree, 0)
