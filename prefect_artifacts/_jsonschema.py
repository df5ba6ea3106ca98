"""JSON Schema validation that is safe for schemas a caller supplies.

User-supplied schemas reach a shared server, so validation must cost CPU bounded by
the size of the schema and the instance, and must never make the server read a file or
a URL. This is why it runs on ``jsonschema-rs`` configured as follows:

- ``pattern``/``patternProperties`` run on Rust's ``regex`` engine, which matches in
  linear time; a pattern that needs backtracking (look-around, back-references) is
  refused when the schema is compiled instead of being run;
- references resolve only inside the schema itself (``$ref``, ``$dynamicRef``, ``$id``
  bases): the retriever refuses every outside URI, and a ``$schema`` naming an unknown
  meta-schema is refused too;
- ``uniqueItems`` and the other keywords are hash- or loop-based, never quadratic in
  Python.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

import jsonschema_rs

from prefect_artifacts._json_bounds import nesting_problem

#: Largest schema accepted (its JSON text), the same bound as an aspect's content.
MAX_SCHEMA_BYTES = 1024 * 1024
# Compiled regex programs and their DFA caches stay small: a huge pattern is refused.
_REGEX = jsonschema_rs.RegexOptions(size_limit=4 * 1024 * 1024, dfa_size_limit=4 * 1024 * 1024)

_OUTSIDE = re.compile(r"Resource '(.*?)' is not present in a registry")


class SchemaProblem(ValueError):
    """A schema that cannot be used: invalid, too large, or pointing outside itself."""


def _refuse_retrieval(uri: str) -> NoReturn:
    raise SchemaProblem(uri)  # the library wraps it; `_summary` words the refusal


def compile_schema(schema: dict[str, Any]) -> Any:
    """A validator for ``schema``, checked against its meta-schema.

    Raises:
        SchemaProblem: the schema is not a JSON object, is larger than
            `MAX_SCHEMA_BYTES` or nests deeper than `MAX_JSON_DEPTH`, is invalid,
            refers outside itself, or has a pattern the linear-time regex engine cannot run.

    Example:
        ```python
        validator = compile_schema({"type": "object", "required": ["rows"]})
        first_error(validator, {"rows": 3})  # None
        ```
    """
    if not isinstance(schema, dict):
        raise SchemaProblem(f"a JSON Schema must be an object, not {type(schema).__name__}")
    too_deep = nesting_problem(schema)
    if too_deep is not None:
        raise SchemaProblem(f"the schema is refused: {too_deep}")
    try:
        size = len(json.dumps(schema))
    except (TypeError, ValueError) as exc:
        raise SchemaProblem(f"the schema is not JSON: {exc}") from exc
    if size > MAX_SCHEMA_BYTES:
        raise SchemaProblem(f"the schema is {size} bytes, over the limit of {MAX_SCHEMA_BYTES}")
    try:
        return jsonschema_rs.validator_for(schema, pattern_options=_REGEX, retriever=_refuse_retrieval,
                                           validate_formats=False)
    except jsonschema_rs.ValidationError as exc:
        raise SchemaProblem(_summary(exc)) from None
    except (ValueError, TypeError) as exc:  # unsupported values (e.g. numbers beyond JSON's range)
        raise SchemaProblem(str(exc).splitlines()[0]) from None


def first_error(validator: Any, instance: Any) -> str | None:
    """The first violation of ``instance`` as ``"<path>: <message>"``, or None if valid.

    Example:
        ```python
        first_error(compile_schema({"properties": {"a": {"minimum": 5}}}), {"a": 3})
        # "a: 3 is less than the minimum of 5"
        ```
    """
    for error in validator.iter_errors(instance):
        where = "/".join(str(p) for p in error.instance_path) or "(root)"
        return f"{where}: {error.message}"
    return None


def _summary(exc: jsonschema_rs.ValidationError) -> str:
    """One line naming what is wrong with a schema (the library appends the whole instance)."""
    message = str(exc.message).splitlines()[0]
    outside = _OUTSIDE.match(message)
    if outside:  # refused by our retriever, or by the library once its registry is built
        return f"the schema refers to {outside.group(1)!r}: only references inside the schema itself are allowed"
    where = "/".join(str(p) for p in exc.instance_path) or "(root)"
    if message.endswith('is not a "regex"'):
        return (f"unsupported regular expression at {where}: {message} (patterns run in linear time: "
                "no look-around or back-references)")
    return f"invalid JSON Schema at {where}: {message}"
