"""The schema registry: JSON Schemas for metadata aspects, registered under URNs (table ``aspect_schemas``).

A registered schema is immutable: registering the same URN again with the same schema
returns it, with another schema is a conflict (an aspect validated once stays valid).
Schemas are untrusted input: each is compiled with `prefect_artifacts._jsonschema`
(bounded size, linear-time patterns, no outside references) before it is stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select

from prefect_artifacts._aspects import check_urn
from prefect_artifacts._jsonschema import SchemaProblem, compile_schema
from prefect_artifacts.catalog.engine import EngineQueries, integrity_violation
from prefect_artifacts.catalog.schema import aspect_schemas
from prefect_artifacts.catalog.sql import utcnow
from prefect_artifacts.errors import ArtifactConflict, ArtifactNotFound, MetadataValidationError
from prefect_artifacts.models import AspectSchema

#: Most schemas one listing returns.
MAX_LISTED = 1000


def schema_digest(schema: dict[str, Any]) -> str:
    """SHA-256 of a schema's canonical JSON (sorted keys, no spaces): equal schemas, equal digests.

    Example:
        ```python
        schema_digest({"type": "object"}) == schema_digest({"type":  "object"})  # True
        ```
    """
    return hashlib.sha256(json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class SchemaCatalog(EngineQueries):
    """Queries over ``aspect_schemas``, on the catalog's engine.

    Example:
        ```python
        schemas = SchemaCatalog(registry.catalog.engine)
        schemas.register("urn:example:schema:rows:1", {"type": "object"})
        schemas.find("urn:example:schema:rows:1")  # the JSON Schema, or None
        ```
    """

    def register(self, urn: str, schema: dict[str, Any]) -> tuple[AspectSchema, bool]:
        """Register ``schema`` under ``urn``; (the registered schema, whether this call registered it).

        Raises:
            InvalidArtifactInput: ``urn`` is not a URN.
            MetadataValidationError: ``schema`` is not a usable JSON Schema (invalid, too
                large, with outside references or patterns needing backtracking).
            ArtifactConflict: ``urn`` holds another schema.

        Example:
            ```python
            registered, created = schemas.register("urn:example:schema:rows:1", {"type": "object"})
            ```
        """
        check_urn(urn)
        try:
            compile_schema(schema)
        except SchemaProblem as exc:
            raise MetadataValidationError(f"schema {urn}: {exc}") from None
        digest = schema_digest(schema)
        existing = self._find(urn)
        if existing is None:
            try:
                with self._write() as conn:
                    conn.execute(insert(aspect_schemas).values(urn=urn, schema=schema, digest=digest,
                                                               created=utcnow()))
                return self.get(urn), True
            except ArtifactConflict as exc:  # registered meanwhile by another writer
                if integrity_violation(exc) is None:
                    raise
                existing = self.get(urn)
        if existing.digest != digest:
            raise ArtifactConflict(f"schema {urn} is registered with other content (digest {existing.digest[:16]}…): "
                                   "a registered schema never changes, register the new one under a new URN")
        return existing, False

    def get(self, urn: str) -> AspectSchema:
        """The schema registered under ``urn``.

        Raises:
            ArtifactNotFound: none is.

        Example:
            ```python
            schemas.get("urn:example:schema:rows:1").json_schema
            ```
        """
        found = self._find(urn)
        if found is None:
            raise ArtifactNotFound(f"no schema is registered as {urn[:300]!r}")
        return found

    def _find(self, urn: str) -> AspectSchema | None:
        if not isinstance(urn, str) or len(urn) > 255:
            return None
        with self._read() as conn:
            row = conn.execute(select(aspect_schemas).where(aspect_schemas.c.urn == urn)).first()
        return None if row is None else AspectSchema(urn=row.urn, schema=row.schema, digest=row.digest,
                                                     created=row.created)

    def find(self, urn: str) -> dict[str, Any] | None:
        """The JSON Schema registered under ``urn``, or None (the resolver of `prepare_aspect`).

        Example:
            ```python
            prepare_aspect(aspect, "urn:example:schema:rows:1", resolve=schemas.find)
            ```
        """
        found = self._find(urn)
        return None if found is None else found.json_schema

    def list(self, prefix: str | None = None, limit: int = MAX_LISTED) -> list[AspectSchema]:
        """Registered schemas sorted by URN, those starting with ``prefix`` when given.

        Example:
            ```python
            [s.urn for s in schemas.list("urn:example:")]
            ```
        """
        query = select(aspect_schemas).order_by(aspect_schemas.c.urn).limit(limit)
        if prefix:
            query = query.where(aspect_schemas.c.urn.startswith(prefix, autoescape=True))
        with self._read() as conn:
            rows: Iterable[Any] = conn.execute(query)
            return [AspectSchema(urn=r.urn, schema=r.schema, digest=r.digest, created=r.created) for r in rows]
