"""The SQL catalog: schema, migrations, queries and the search language."""

from prefect_artifacts.catalog.sql import SqlCatalog

__all__ = ["SqlCatalog"]
