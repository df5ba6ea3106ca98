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

    presign_urls: bool = Field(
        default=True,
        description="Server: offer clients presigned URLs so file bytes go straight to and from the content"
        " store when it signs them (S3); false: every byte goes through the server.",
    )
    direct_transfers: bool = Field(
        default=True, description="Client: use the presigned URLs a server offers (false: send everything through it).",
    )
    presign_expiry_seconds: int = Field(
        default=900, ge=1, le=7 * 86400, description="Server: how long a presigned URL stays valid.",
    )
    presign_min_bytes: int = Field(
        default=4 << 20, ge=0,
        description="Server: files smaller than this go through the server (a presigned URL costs a round trip).",
    )
    presign_multipart_bytes: int = Field(
        default=5 << 30, ge=1, le=5 << 30,
        description="Server: largest blob uploaded with one presigned, checksummed PUT (S3's limit is 5 GiB);"
        " larger ones are uploaded in presigned parts to a temp key that the server hashes.",
    )
    presign_part_bytes: int = Field(
        default=64 << 20, ge=5 << 20, le=5 << 30,
        description="Server: size of the parts of a presigned multipart upload (more when 10,000 would not do).",
    )
    presign_store_checks: bool | None = Field(
        default=None,
        description="Server: whether the store refuses a PUT whose body does not match its signed SHA-256"
        " (S3 does): then uploads go straight to the blob's key and the store's check is trusted; otherwise"
        " they go to a temp key that the server hashes. None: probe the store once.",
    )
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
