"""Test helpers shipped with prefect-artifacts: the `Registry` contract suite.

A backend runs the whole suite by subclassing `RegistryContract` (see its docstring),
or a part of it through one of the part classes (`UploadContract`, `SearchContract`,
…); a backend that sees callers (users in groups) also runs `TenancyContract`. The
suite needs pytest and pytest-asyncio (its async tests are marked
``@pytest.mark.asyncio``, so ``asyncio_mode`` may be ``strict`` or ``auto``).
Importing this package asks pytest to rewrite the suite's asserts, so failures show
the compared values.

Example:
    ```python
    from prefect_artifacts.testing import RegistryContract

    class TestMyRegistry(RegistryContract):
        __test__ = True
        supports_gc = False          # capability hooks: see ContractFixtures

        @pytest.fixture
        def registry(self, tmp_path):
            ...                      # an empty registry, fresh for each test
    ```
"""

import pytest

pytest.register_assert_rewrite(
    "prefect_artifacts.testing._base",
    "prefect_artifacts.testing._writes",
    "prefect_artifacts.testing._reads",
    "prefect_artifacts.testing._queries",
    "prefect_artifacts.testing._lifecycle",
    "prefect_artifacts.testing._local_files",
    "prefect_artifacts.testing._tenancy",
    "prefect_artifacts.testing.contract",
)

from prefect_artifacts.testing._base import ContractFixtures, new_run_id, payload, sha256  # noqa: E402
from prefect_artifacts.testing._batches import BatchContract  # noqa: E402
from prefect_artifacts.testing._lifecycle import (  # noqa: E402
    AsyncContract,
    DeleteContract,
    MetadataContract,
    RunContract,
    SnapshotContract,
)
from prefect_artifacts.testing._local_files import LocalFilesContract  # noqa: E402
from prefect_artifacts.testing._queries import ListContract, SearchContract  # noqa: E402
from prefect_artifacts.testing._reads import ContentsContract, ReferenceContract, StreamContract  # noqa: E402
from prefect_artifacts.testing._tenancy import TenancyContract  # noqa: E402
from prefect_artifacts.testing._writes import (  # noqa: E402
    ConflictContract,
    DraftContract,
    NameContract,
    UploadContract,
    VersionContract,
)
from prefect_artifacts.testing.contract import RegistryContract  # noqa: E402

__all__ = [
    "AsyncContract",
    "BatchContract",
    "ConflictContract",
    "ContentsContract",
    "ContractFixtures",
    "DeleteContract",
    "DraftContract",
    "ListContract",
    "LocalFilesContract",
    "MetadataContract",
    "NameContract",
    "ReferenceContract",
    "RegistryContract",
    "RunContract",
    "SearchContract",
    "SnapshotContract",
    "StreamContract",
    "TenancyContract",
    "UploadContract",
    "VersionContract",
    "new_run_id",
    "payload",
    "sha256",
]
