"""Fixtures of the backend tests: one PostgreSQL and one moto S3 server per session."""

from __future__ import annotations

from .services import (  # noqa: F401 - fixtures re-exported for this directory
    moto_server,
    pg_registry,
    pg_server,
    postgres_catalog_url,
    postgres_class_database,
    postgres_shared_catalog_url,
    postgres_url,
    s3_bucket,
    s3_options,
    s3_registry,
    s3_store_url,
)
