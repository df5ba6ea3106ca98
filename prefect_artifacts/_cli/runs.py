"""Flow and run names for ``show``: looked up through Prefect's client, ids when Prefect can not say.

Artifacts store the ids of the flow runs that used them. When a Prefect API is
configured (``PREFECT_API_URL``, from the environment or the active profile), `run_names`
asks it for those runs and their flows, with a short timeout and no retries; without
one, or when it does not answer in time, the caller shows the ids alone. Prefect is
imported only for an artifact that has runs, and only when an API URL may be configured
(it costs about a second).
"""

import os
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path

#: Seconds to wait for the Prefect API (each request); then `show` goes on with ids.
LOOKUP_TIMEOUT = 2.0


def _uuids(run_ids: Iterable[str]) -> list[uuid.UUID]:
    found = []
    for run_id in run_ids:
        try:
            found.append(uuid.UUID(run_id))
        except ValueError:  # attached by hand with another id scheme: Prefect does not know it
            continue
    return found


def _api_may_be_configured() -> bool:
    """Whether Prefect may have an API URL, decided without importing it (a second, for nothing, otherwise).

    True when Prefect is already imported (its settings say), ``PREFECT_API_URL`` is set,
    the profiles file names it, or the current folder has a file Prefect reads settings from.
    """
    if "prefect" in sys.modules or os.environ.get("PREFECT_API_URL"):
        return True
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    # Files Prefect 3 reads settings from, and what in them could set the API URL.
    sources = {profiles: "PREFECT_API_URL", Path(".env"): "PREFECT_", Path("prefect.toml"): "",
               Path("pyproject.toml"): "[tool.prefect"}
    for path, marker in sources.items():
        try:
            if marker in path.read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            continue
    return False


def run_names(run_ids: Iterable[str], timeout: float = LOOKUP_TIMEOUT) -> dict[str, str]:
    """``{run id: "flow-name/run-name"}`` for the runs the configured Prefect API knows.

    Empty when no API URL is configured (an ephemeral server would take seconds to start)
    or the API does not answer within ``timeout``; never raises.

    Example:
        ```python
        run_names([str(flow_run.id)])  # {"0b7c…": "etl/bright-otter"}
        ```
    """
    ids = _uuids(run_ids)
    if not ids or not _api_may_be_configured():
        return {}
    try:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowFilter, FlowFilterId, FlowRunFilter, FlowRunFilterId
        from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

        if not PREFECT_API_URL.value():
            return {}
        with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}), \
                get_client(sync_client=True, httpx_settings={"timeout": timeout}) as client:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
            flow_ids = sorted({run.flow_id for run in runs}, key=str)
            flows = client.read_flows(flow_filter=FlowFilter(id=FlowFilterId(any_=flow_ids))) if flow_ids else []
    except Exception:  # noqa: BLE001 - unreachable, refused, or not Prefect: the ids will do
        return {}
    flow_names = {flow.id: flow.name for flow in flows}
    return {str(run.id): f"{flow_names.get(run.flow_id, '?')}/{run.name}" for run in runs}
