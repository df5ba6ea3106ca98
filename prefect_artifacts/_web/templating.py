"""The Jinja2 environment of the web view: package templates, autoescaping everywhere.

Example:
    ```python
    html = render_page(request, "list.html", {"page": page})
    ```
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse

from prefect_artifacts._sizes import human_size


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _path_url(path: str) -> str:
    """A file path as URL path segments (each segment percent-encoded, ``/`` kept)."""
    return quote(path, safe="/")


def _query(**params: Any) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


ENV = Environment(
    loader=PackageLoader("prefect_artifacts._web", "templates"),
    autoescape=True,  # every template, whatever its name
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(size=human_size, when=_when, pretty_json=_pretty_json, path_url=_path_url,
                   quote=lambda s: quote(str(s), safe=""))
ENV.globals.update(query=_query)


def render_page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render a page template with the signed-in viewer (``request.state.viewer``, if any).

    Example:
        ```python
        return render_page(request, "error.html", {"title": "Not found", "message": "…"}, 404)
        ```
    """
    viewer = getattr(request.state, "viewer", None)
    html = ENV.get_template(template).render(viewer=viewer, **context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
