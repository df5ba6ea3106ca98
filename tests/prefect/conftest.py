"""One Prefect test harness for the whole session, heartbeat off, plus polling helpers."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

T = TypeVar("T")


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[str]:
    """Start ``prefect_test_harness`` once; yields its API URL."""
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=60),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield str(PREFECT_API_URL.value())
        from prefect_artifacts._prefect import PUBLISHER

        PUBLISHER.flush(30)  # pending table publishes go out while the server is still up


def _poll(fetch: Callable[[], T], ok: Callable[[T], bool], timeout: float = 20.0, every: float = 0.5) -> T:
    """Call ``fetch`` until ``ok(result)`` or the deadline; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if ok(value) or time.monotonic() > deadline:
            return value
        time.sleep(every)


@pytest.fixture
def poll() -> Callable[..., Any]:
    """``poll(fetch, ok, timeout=20)``: call ``fetch`` until ``ok(result)`` or the deadline."""
    return _poll


@pytest.fixture
def task_registry(tmp_path: Any) -> Any:
    """The registry tasks resolve by default: the embedded one in this test's home."""
    from prefect_artifacts.tasks import resolve_registry

    return resolve_registry()
