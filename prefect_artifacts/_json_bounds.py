"""How deep JSON a caller supplies may nest (aspect content, JSON Schemas).

A shared server stores what one writer sends and serves it to every reader, so stored
JSON must stay encodable by every path that serves it: pydantic-core refuses to
serialize past about 250 levels (the answer fails, for every reader, for good), and the
standard library's encoder recurses in Python until ``RecursionError``. A limit far
above what real metadata uses, checked before anything is stored, keeps both away.
"""

from __future__ import annotations

from typing import Any

#: Deepest nesting of objects and arrays accepted in a caller's JSON.
MAX_JSON_DEPTH = 64
#: Most values walked: JSON of the size limits here holds fewer (a Python structure sharing
#: references could otherwise stand for more values than memory holds).
MAX_JSON_VALUES = 2_000_000


def nesting_problem(value: Any, limit: int = MAX_JSON_DEPTH) -> str | None:
    """Why ``value`` nests too deep (objects and arrays more than ``limit`` levels), or None.

    Walked level by level without recursion, so a structure that refers to itself is
    reported instead of looping.

    Example:
        ```python
        nesting_problem({"a": [1, {"b": 2}]})    # None
        nesting_problem([[[1]]], limit=2)        # "objects and arrays nest more than 2 levels deep"
        ```
    """
    level: list[Any] = [value]
    walked = 0
    for _depth in range(limit):
        level = [child for v in level if isinstance(v, (dict, list, tuple))
                 for child in (v.values() if isinstance(v, dict) else v)]
        walked += len(level)
        if walked > MAX_JSON_VALUES:
            return f"it holds more than {MAX_JSON_VALUES} values"
        if not level:
            return None
    if any(isinstance(v, (dict, list, tuple)) for v in level):
        return f"objects and arrays nest more than {limit} levels deep"
    return None
