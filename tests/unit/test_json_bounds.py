"""`nesting_problem`: how deep caller-supplied JSON may nest, checked without recursion."""

from __future__ import annotations

from typing import Any

import pydantic_core

from prefect_artifacts._json_bounds import MAX_JSON_DEPTH, MAX_JSON_VALUES, nesting_problem


def nested(depth: int, make: Any = lambda inner: {"x": inner}) -> Any:
    value: Any = make(1)
    for _ in range(depth - 1):
        value = make(value)
    return value


def test_flat_and_shallow_values_pass() -> None:
    for value in (1, "s", None, {}, [], {"a": [1, {"b": [2, 3]}]}, (1, (2,))):
        assert nesting_problem(value) is None


def test_the_limit_counts_objects_and_arrays_alike() -> None:
    too_deep = f"objects and arrays nest more than {MAX_JSON_DEPTH} levels deep"
    for make in (lambda inner: {"x": inner}, lambda inner: [inner], lambda inner: [0, {"k": inner}]):
        levels = 2 if isinstance(make(1), list) and len(make(1)) == 2 else 1  # the mixed one adds two a step
        assert nesting_problem(nested(MAX_JSON_DEPTH // levels, make)) is None
        assert nesting_problem(nested(MAX_JSON_DEPTH // levels + 1, make)) == too_deep
    assert nesting_problem([[[1]]], limit=2) and nesting_problem([[1]], limit=2) is None
    assert nesting_problem([[[]]], limit=2)  # an empty container is a level too


def test_what_passes_can_be_served() -> None:
    pydantic_core.to_json(nested(MAX_JSON_DEPTH))  # the server's serializer stops near 250 levels


def test_far_past_the_recursion_limit_and_self_reference() -> None:
    assert nesting_problem(nested(100_000))
    loop: list[Any] = []
    loop.append(loop)
    assert nesting_problem(loop)


def test_shared_references_cannot_stand_for_unbounded_values() -> None:
    shared: Any = [1]
    for _ in range(40):  # 2**40 values if walked as a tree
        shared = [shared, shared]
    assert nesting_problem(shared) == f"it holds more than {MAX_JSON_VALUES} values"
