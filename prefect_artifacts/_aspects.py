"""Metadata aspects: JSON Schema enforcement shared by every write path."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from prefect_artifacts._json_bounds import nesting_problem
from prefect_artifacts._jsonschema import SchemaProblem, compile_schema, first_error
from prefect_artifacts._paths import is_unicode
from prefect_artifacts.errors import InvalidArtifactInput, MetadataValidationError, PayloadTooLarge
from prefect_artifacts.models import GROUP_URN_PREFIX

MAX_ASPECT_BYTES = 1024 * 1024
#: Most metadata aspects one artifact holds, and most bytes of their JSON together: every
#: read of an artifact's metadata answers all of them at once.
MAX_ASPECTS_PER_ARTIFACT = 1000
MAX_ARTIFACT_ASPECT_BYTES = 16 * 1024 * 1024
#: Schema name of the aspect recording the Prefect flow run, task run and deployment that created an artifact.
PRODUCER_ASPECT = "urn:prefect-artifacts:aspect:produced-by:v1"


#: Longest schema URN (the catalog's column holds this many characters).
MAX_URN_LENGTH = 255
#: Longest aspect policy.
MAX_POLICY_LENGTH = 1024
# RFC 8141: urn:<NID>:<NSS>; the NSS without spaces, quotes, angle brackets or backslashes.
_URN = re.compile(r"urn:[A-Za-z0-9][A-Za-z0-9-]{0,30}[A-Za-z0-9]:[A-Za-z0-9()+,\-.:=@;$_!*'%/?#~&]+")
_GROUP_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")  # as catalog.auth validates group names

# How json.dumps (ASCII) writes a NUL or a surrogate; an escaped backslash before "u" can look the same.
_ESCAPES = re.compile(r"\\u(?:0000|d[89a-f])")

#: Looks a schema name up in a schema registry: the registered JSON Schema, or None.
SchemaResolver = Callable[[str], "dict[str, Any] | None"]


def is_urn(value: object) -> bool:
    """Whether ``value`` is a URN as a schema registry takes it (``urn:<nid>:<nss>``, at most 255 characters).

    Example:
        ```python
        is_urn("urn:example:schema:rows:1")  # True
        ```
    """
    return isinstance(value, str) and len(value) <= MAX_URN_LENGTH and _URN.fullmatch(value) is not None


def check_urn(value: object, what: str = "schema URN") -> str:
    """``value`` if it is a URN (`is_urn`), else a clear error.

    Raises:
        InvalidArtifactInput: not a string of the form ``urn:<nid>:<nss>`` of at most 255 characters.

    Example:
        ```python
        check_urn("urn:example:schema:rows:1")
        ```
    """
    if not is_urn(value):
        shown = repr(value)[:80]
        raise InvalidArtifactInput(f"{what} {shown} is not a URN (urn:<nid>:<nss>, at most {MAX_URN_LENGTH} "
                                   "characters, no spaces)")
    return str(value)


def policy_group(policy: object) -> str | None:
    """The group an aspect's ``policy`` keeps it to, or None when the policy names no group.

    A policy ``urn:prefect-artifacts:group:<group id>`` (`Artifact.policy` gives the
    artifact's own) is enforced: only that group's members (and admins) read the aspect
    or find it by search, and only its members may write an aspect with it. Any other
    string (at most 1024 characters) is kept as the aspect's policy label, unenforced:
    every reader of the artifact reads the aspect.

    Raises:
        InvalidArtifactInput: not a string, too long, or a group URN with an invalid group id.

    Example:
        ```python
        policy_group("urn:prefect-artifacts:group:team-a")  # "team-a"
        policy_group("urn:ivcap:policy:42")                 # None: a label, not enforced
        ```
    """
    if policy is None:
        return None
    if not isinstance(policy, str) or len(policy) > MAX_POLICY_LENGTH or "\x00" in policy:
        raise InvalidArtifactInput(f"aspect policy {repr(policy)[:80]} is not a string of at most "
                                   f"{MAX_POLICY_LENGTH} characters")
    if not policy.startswith(GROUP_URN_PREFIX):
        return None
    group = policy[len(GROUP_URN_PREFIX):]
    if not _GROUP_ID.fullmatch(group):
        raise InvalidArtifactInput(f"aspect policy {policy[:120]!r} names no valid group: use "
                                   f"{GROUP_URN_PREFIX}<group id> (letters, digits, '_', '.', '-'; at most 64)")
    return group


def _text_problem(content: Any) -> str | None:
    """What makes a plain-JSON value's strings or keys unstorable: a NUL, or a lone surrogate (no recursion)."""
    stack = [content]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return "it holds a NUL character (U+0000), which PostgreSQL cannot search"
            if not is_unicode(value):
                return f"{value[:60]!r} is not valid Unicode text (a lone surrogate)"
        elif isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None


def check_aspect_budget(count: int, size: int) -> None:
    """Refuse an artifact's aspects beyond `MAX_ASPECTS_PER_ARTIFACT` or `MAX_ARTIFACT_ASPECT_BYTES` of JSON in all.

    Raises:
        PayloadTooLarge: ``count`` aspects, or ``size`` bytes of them, are over the limit.

    Example:
        ```python
        check_aspect_budget(held + 1, held_bytes + len(json.dumps(content)))
        ```
    """
    if count > MAX_ASPECTS_PER_ARTIFACT:
        raise PayloadTooLarge(f"an artifact holds at most {MAX_ASPECTS_PER_ARTIFACT} metadata aspects")
    if size > MAX_ARTIFACT_ASPECT_BYTES:
        raise PayloadTooLarge(f"an artifact's metadata aspects hold at most {MAX_ARTIFACT_ASPECT_BYTES} bytes of "
                              f"JSON in all, not {size}")


def prepare_aspect(
    aspect: object, schema: str | dict[str, Any] | None = None, policy: str | None = None,
    resolve: SchemaResolver | None = None,
) -> dict[str, Any]:
    """Validate an aspect and return ``{"content", "schema_name", "policy"}`` to store.

    ``aspect`` may be anything a client sent: what is not a JSON object is refused.

    The schema is ``schema`` or else ``aspect["$schema"]``. A dict is a JSON Schema
    that the aspect must satisfy (it is not stored in the content); a string is
    recorded as the schema's name; when ``resolve`` (a schema registry) knows that name,
    the aspect (without its ``$schema`` key) must satisfy the registered schema too.
    Validation is safe for untrusted schemas: linear-time patterns, no reference outside
    the schema (see `prefect_artifacts._jsonschema`). ``policy`` is checked by `policy_group`.

    Raises:
        MetadataValidationError: not a JSON object, too large, nested deeper than
            `MAX_JSON_DEPTH`, holding NaN, an infinity, a NUL or a lone surrogate, an
            invalid schema, or an aspect that violates its schema.
        InvalidArtifactInput: an invalid policy (see `policy_group`).

    Example:
        ```python
        prepare_aspect({"rows": 3}, schema={"type": "object", "required": ["rows"]})
        ```
    """
    if not isinstance(aspect, dict):
        raise MetadataValidationError(f"an aspect must be a JSON object, not {type(aspect).__name__}")
    too_deep = nesting_problem(aspect)
    if too_deep is not None:
        raise MetadataValidationError(f"aspect refused: {too_deep}")
    try:
        text = json.dumps(aspect, default=str, allow_nan=False)
    except (TypeError, ValueError) as exc:
        if "Out of range float" in str(exc):  # JSON has no NaN or infinities: PostgreSQL and JSON parsers refuse them
            raise MetadataValidationError("aspect holds NaN or an infinity, which JSON cannot represent: "
                                          "store it as null or a string") from exc
        raise MetadataValidationError(f"aspect is not JSON-serializable: {exc}") from exc
    if len(text) > MAX_ASPECT_BYTES:
        raise MetadataValidationError(f"aspect is {len(text)} bytes, over the limit of {MAX_ASPECT_BYTES}")
    policy_group(policy)
    schema = schema if schema is not None else aspect.get("$schema")
    content = json.loads(text)  # a plain-JSON copy, encoded once
    problem = _ESCAPES.search(text) and _text_problem(content)  # the text test is cheap; the walk is exact
    if problem:  # stored, PostgreSQL would fail every metadata search on it
        raise MetadataValidationError(f"aspect refused: {problem}")
    if not isinstance(schema, dict):
        if schema is not None and not isinstance(schema, str):
            raise MetadataValidationError(f"schema must be a name or a JSON Schema, not {schema!r}")
        registered = resolve(schema) if resolve is not None and isinstance(schema, str) and is_urn(schema) else None
        if registered is not None:
            _validate(registered, {k: v for k, v in content.items() if k != "$schema"}, f"schema {schema}")
        return {"content": content, "schema_name": schema, "policy": policy}
    content.pop("$schema", None)
    _validate(schema, content, "its schema")
    name = schema.get("$id") or schema.get("title") or "inline-json-schema"
    return {"content": content, "schema_name": str(name), "policy": policy}


def _validate(schema: dict[str, Any], content: dict[str, Any], which: str) -> None:
    try:
        validator = compile_schema(schema)
    except SchemaProblem as exc:
        raise MetadataValidationError(str(exc)) from None
    error = first_error(validator, content)
    if error:
        raise MetadataValidationError(f"aspect violates {which} at {error}")
