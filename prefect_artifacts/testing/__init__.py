"""Test helpers shipped with prefect-artifacts: the `Registry` contract suite.

A backend runs the whole suite by subclassing `RegistryContract` (see its docstring).
Importing this package asks pytest to rewrite the suite's asserts, so failures show
the compared values.

Example:
    ```python
    from prefect_artifacts.testing import RegistryContract

    class TestMyRegistry(RegistryContract):
        __test__ = True
        ...
    ```
"""

import pytest

pytest.register_assert_rewrite(
    "prefect_artifacts.testing._base",
    "prefect_artifacts.testing._writes",
    "prefect_artifacts.testing._reads",
    "prefect_artifacts.testing._queries",
    "prefect_artifacts.testing._lifecycle",
    "prefect_artifacts.testing.contract",
)

from prefect_artifacts.testing._base import ContractFixtures, new_run_id, payload, sha256  # noqa: E402
from prefect_artifacts.testing.contract import RegistryContract  # noqa: E402

__all__ = ["ContractFixtures", "RegistryContract", "new_run_id", "payload", "sha256"]
