"""Links from artifacts to the Prefect UI's flow-run pages, when a Prefect UI is known.

The UI's address is ``PREFECT_UI_URL``, else derived from ``PREFECT_API_URL`` (its
``/api`` suffix dropped), from the environment or else from the active Prefect profile
(read once per process: importing Prefect's settings takes a second).
"""

from __future__ import annotations

import functools
import os
from urllib.parse import quote, urlsplit


def _from_values(ui_url: str | None, api_url: str | None) -> str | None:
    if ui_url:
        return ui_url.rstrip("/")
    if api_url:
        base = api_url.rstrip("/")
        return base[: -len("/api")] if base.endswith("/api") else base
    return None


@functools.lru_cache(maxsize=1)
def _profile_ui_url() -> str | None:
    try:
        from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL
    except Exception:  # Prefect missing or misconfigured: no links  # noqa: BLE001
        return None
    try:
        return _from_values(PREFECT_UI_URL.value(), PREFECT_API_URL.value())
    except Exception:  # noqa: BLE001
        return None


def prefect_ui_url() -> str | None:
    """The Prefect UI's base URL (http or https only), or None when none is configured.

    Example:
        ```python
        prefect_ui_url()  # "http://127.0.0.1:4200"
        ```
    """
    url = _from_values(os.environ.get("PREFECT_UI_URL"), os.environ.get("PREFECT_API_URL"))
    if url is None:
        url = _profile_ui_url()
    if url is None or urlsplit(url).scheme not in ("http", "https"):
        return None
    return url


def flow_run_url(base: str | None, run_id: str) -> str | None:
    """The Prefect UI page of a flow run, or None without a UI.

    Example:
        ```python
        flow_run_url("http://127.0.0.1:4200", run_id)  # ".../runs/flow-run/<id>"
        ```
    """
    return None if base is None else f"{base}/runs/flow-run/{quote(run_id, safe='')}"
