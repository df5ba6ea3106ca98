"""Environment settings, all prefixed ``PREFECT_ARTIFACTS_``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: What a content store's id may be (``storage=`` of an upload, `Artifact.storage_id`).
STORAGE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ArtifactSettings(BaseSettings):
    """Settings read from the environment (``PREFECT_ARTIFACTS_<FIELD>``).

    Example:
        ```python
        import os
        os.environ["PREFECT_ARTIFACTS_HOME"] = "/data/artifacts"
        ArtifactSettings().home  # Path('/data/artifacts')
        ```
    """

    model_config = SettingsConfigDict(env_prefix="PREFECT_ARTIFACTS_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: Path("~/.prefect-artifacts").expanduser(),
        description="Folder of the embedded registry (SQLite catalog and local blobs).",
    )
    storage_url: str | None = Field(
        default=None, description="fsspec URL of the content store; default <home>/blobs."
    )
    storages: dict[str, str] = Field(
        default_factory=dict,
        description="More content stores, by id: a JSON object {\"archive\": \"s3://bucket/archive\", …} of"
        " fsspec URLs. An upload chooses one with storage=\"archive\"; the store of storage_url is \"default\".",
    )
    catalog_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the catalog; default SQLite in <home>."
    )
    api_url: str | None = Field(default=None, description="URL of a registry server.")
    api_key: str | None = Field(default=None, description="API key for the registry server.")
    offline: bool | Literal["auto"] = Field(
        default=False,
        description="With api_url: true writes to a local outbox under <home>/outbox (replayed by"
        " `prefect-artifacts sync`); 'auto' goes offline only while the server can not be reached.",
    )
    registry_block: str | None = Field(
        default=None, description="Name of a saved ArtifactRegistry block used by tasks."
    )
    default_folder: str = Field(
        default="/default", description="Folder used when none is given; a relative folder is the current user's."
    )
    digest_cache: bool = Field(
        default=True, description="Reuse digests of unchanged files (path, size, mtime, inode)."
    )
    durable: bool = Field(
        default=True, description="fsync blobs and commit the catalog with synchronous=FULL."
    )
    gc_grace_seconds: float = Field(
        default=3600.0, description="Unreferenced blobs younger than this are never collected."
    )
    max_page_length: int = Field(default=1000, description="Largest page a list call returns.")
    index_key: SecretStr | None = Field(
        default=None,
        description="Secret that authenticates the chunk indexes stored next to blobs (range reads check"
        " chunks against them); the same on every process sharing a store. Unset: a public checksum.",
    )
    max_query_length: int = Field(default=4096, description="Longest accepted search query.")
    @field_validator("storages")
    @classmethod
    def _check_storages(cls, value: dict[str, str]) -> dict[str, str]:
        for storage_id, url in value.items():
            if storage_id == "default" or not STORAGE_ID.match(storage_id):
                raise ValueError(f"invalid storage id {storage_id!r}: use 1-64 of a-z, 0-9, '_', '-' (not 'default')")
            if not isinstance(url, str) or not url.strip():
                raise ValueError(f"storage {storage_id!r} needs a non-empty fsspec URL")
        return value

    cache_bytes: int = Field(
        default=1 << 30, ge=0,
        description="Bound of the read-through cache of content downloaded from a server (under"
        " <home>/cache; least recently used blobs are evicted past it); 0 disables the cache.",
    )


def get_settings() -> ArtifactSettings:
    """Read the settings from the current environment.

    Example:
        ```python
        get_settings().home
        ```
    """
    return ArtifactSettings()
