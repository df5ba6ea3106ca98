"""Metadata aspects: JSON Schema enforcement shared by every write path."""

from __future__ import annotations

import json
from typing import Any

from prefect_artifacts._jsonschema import SchemaProblem, compile_schema, first_error
from prefect_artifacts.errors import MetadataValidationError

MAX_ASPECT_BYTES = 1024 * 1024
#: Schema name of the aspect recording the Prefect flow run, task run and deployment that created an artifact.
PRODUCER_ASPECT = "urn:prefect-artifacts:aspect:produced-by:v1"


def prepare_aspect(
    aspect: object, schema: str | dict[str, Any] | None = None, policy: str | None = None
) -> dict[str, Any]:
    """Validate an aspect and return ``{"content", "schema_name", "policy"}`` to store.

    ``aspect`` may be anything a client sent: what is not a JSON object is refused.

    The schema is ``schema`` or else ``aspect["$schema"]``. A dict is a JSON Schema
    that the aspect must satisfy (it is not stored in the content); a string is
    recorded as the schema's name. Validation is safe for untrusted schemas: linear-time
    patterns, no reference outside the schema (see `prefect_artifacts._jsonschema`).

    Raises:
        MetadataValidationError: not a JSON object, too large, an invalid schema, or
            an aspect that violates its schema.

    Example:
        ```python
        prepare_aspect({"rows": 3}, schema={"type": "object", "required": ["rows"]})
        ```
    """
    if not isinstance(aspect, dict):
        raise MetadataValidationError(f"an aspect must be a JSON object, not {type(aspect).__name__}")
    try:
        text = json.dumps(aspect, default=str)
    except (TypeError, ValueError) as exc:
        raise MetadataValidationError(f"aspect is not JSON-serializable: {exc}") from exc
    if len(text) > MAX_ASPECT_BYTES:
        raise MetadataValidationError(f"aspect is {len(text)} bytes, over the limit of {MAX_ASPECT_BYTES}")
    schema = schema if schema is not None else aspect.get("$schema")
    content = json.loads(text)  # a plain-JSON copy, encoded once
    if not isinstance(schema, dict):
        if schema is not None and not isinstance(schema, str):
            raise MetadataValidationError(f"schema must be a name or a JSON Schema, not {schema!r}")
        return {"content": content, "schema_name": schema, "policy": policy}
    content.pop("$schema", None)
    try:
        validator = compile_schema(schema)
    except SchemaProblem as exc:
        raise MetadataValidationError(str(exc)) from None
    error = first_error(validator, content)
    if error:
        raise MetadataValidationError(f"aspect violates its schema at {error}")
    name = schema.get("$id") or schema.get("title") or "inline-json-schema"
    return {"content": content, "schema_name": str(name), "policy": policy}
