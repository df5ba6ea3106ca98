"""`RegistryContract`: the whole Registry contract suite, for any backend to run.

Every test talks to the registry only through the public `Registry` interface and
`Artifact` methods, and checks error *types*, so the same suite validates the
in-process registry, the HTTP client against a server (error translation
included), and SQL/storage backends such as PostgreSQL and S3.
"""

from __future__ import annotations

from prefect_artifacts.testing._batches import BatchContract
from prefect_artifacts.testing._lifecycle import (
    AsyncContract,
    DeleteContract,
    MetadataContract,
    RunContract,
    SnapshotContract,
)
from prefect_artifacts.testing._local_files import LocalFilesContract
from prefect_artifacts.testing._queries import ListContract, SearchContract
from prefect_artifacts.testing._reads import ContentsContract, ReferenceContract, StreamContract
from prefect_artifacts.testing._transfers import TransferContract
from prefect_artifacts.testing._writes import (
    ConflictContract,
    DraftContract,
    NameContract,
    UploadContract,
    VersionContract,
)


class RegistryContract(
    UploadContract,
    VersionContract,
    ConflictContract,
    DraftContract,
    NameContract,
    StreamContract,
    ContentsContract,
    ReferenceContract,
    LocalFilesContract,
    ListContract,
    SearchContract,
    RunContract,
    MetadataContract,
    DeleteContract,
    SnapshotContract,
    AsyncContract,
    TransferContract,
    BatchContract,
):
    """Every contract test; subclass it, set ``__test__ = True`` and provide ``registry``.

    The ``registry`` fixture must return an EMPTY registry, fresh for each test (the
    tests count what they created). Capability hooks (`supports_gc`,
    `supports_file_references`, `default_folder`) switch off what a backend cannot
    do; see `ContractFixtures`.

    Example:
        ```python
        import pytest
        from prefect_artifacts import LocalRegistry
        from prefect_artifacts.catalog.engine import sqlite_url
        from prefect_artifacts.testing import RegistryContract

        class TestLocalRegistry(RegistryContract):
            __test__ = True

            @pytest.fixture
            def registry(self, tmp_path):
                reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(tmp_path / "c.sqlite"))
                yield reg
                reg.close()
        ```
    """

    __test__ = False
