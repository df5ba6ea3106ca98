"""Content storage: content-addressed blobs over any fsspec filesystem."""

from prefect_artifacts.storage.content_store import BlobInfo, ContentStore
from prefect_artifacts.storage.digest_cache import DigestCache

__all__ = ["BlobInfo", "ContentStore", "DigestCache"]
