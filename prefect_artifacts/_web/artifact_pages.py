"""The artifact page, the diff of two artifacts and the lineage page.

Everything is read through the caller's registry view (`Viewer.registry`): an
artifact the caller cannot read is the same 404 page as a missing one.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from prefect_artifacts._web import diff as diffs
from prefect_artifacts._web.access import UiRoute, Viewer, current_viewer
from prefect_artifacts._web.folder_tree import file_tree
from prefect_artifacts._web.lineage import bounded_tree, parse_depth
from prefect_artifacts._web.prefect_links import flow_run_url, prefect_ui_url
from prefect_artifacts._web.queries import name_aliases, some_files, versions
from prefect_artifacts._web.templating import render_page
from prefect_artifacts.errors import ArtifactError
from prefect_artifacts.models import Artifact, PluginSnapshot
from prefect_artifacts.registry.local import LocalRegistry

router = APIRouter(route_class=UiRoute)
logger = logging.getLogger("prefect_artifacts.web")
#: Files compared per side by the diff page.
MAX_DIFF_FILES = 10_000


def raw_url(art: Artifact, path: str) -> str:
    """Where the web view serves the bytes of one file (for ``<img>``).

    Example:
        ```python
        raw_url(art, "plots/loss.png")  # "/ui/artifacts/<id>/raw/plots/loss.png"
        ```
    """
    return f"/ui/artifacts/{quote(art.id, safe='')}/raw/{quote(path, safe='/')}"


def _preview(reg: LocalRegistry, art: Artifact, path: str | None, raw: str) -> Any:
    """The previews module's preview, or None when it is missing or fails (the page still works)."""
    try:
        from prefect_artifacts._web.previews import build_preview
    except ImportError:
        return None
    try:
        return build_preview(reg, art, path, raw)
    except ArtifactError as exc:
        logger.info("no preview of %s %r: %s", art.id, path, exc)
    except Exception:  # a preview bug must not take the page down
        logger.exception("preview of %s %r failed", art.id, path)
    return None


def _snapshot(reg: LocalRegistry, art: Artifact) -> PluginSnapshot | None:
    if art.serializer is None:
        return None
    try:
        return reg.get_plugin_snapshot(art.serializer.snapshot_id)
    except ArtifactError:  # not readable by this caller, or gone
        return None


@router.get("/artifacts/{artifact_id}", include_in_schema=False)
def artifact_page(request: Request, artifact_id: str, file: str = "",
                  viewer: Viewer = Depends(current_viewer)) -> Response:
    """Every field, versions, aliases, runs, metadata, serializer, files, downloads and a preview."""
    reg = viewer.registry
    art = reg.get(artifact_id)
    files, files_cut = some_files(reg, art)
    all_versions = versions(reg, art)
    version_of = {v.id: v.version for v in all_versions}
    aliases = [(alias, target, version_of.get(target)) for alias, target in name_aliases(reg, art).items()]
    ui_base = prefect_ui_url() if art.runs else None
    runs = [(link, flow_run_url(ui_base, link.run_id)) for link in art.runs]
    chosen = file if art.is_dir and file else None
    shown = chosen or (files[0].path if files and not art.is_dir else None)
    preview = _preview(reg, art, chosen, raw_url(art, shown) if shown else "")
    context = {
        "art": art, "files": files, "files_cut": files_cut, "tree": file_tree(files) if art.is_dir else [],
        "versions": all_versions, "aliases": aliases, "runs": runs, "metadata": reg.get_metadata(art.id),
        "snapshot": _snapshot(reg, art), "preview": preview, "chosen": chosen, "shown": shown,
        "art_url": f"/ui/artifacts/{quote(art.id, safe='')}",
    }
    return render_page(request, "artifact.html", context)


@router.get("/diff", include_in_schema=False)
def diff_page(request: Request, a: str = "", b: str = "", viewer: Viewer = Depends(current_viewer)) -> Response:
    """Two artifacts compared: fields, labels, metadata and files (added, removed, changed by digest)."""
    reg = viewer.registry
    left, right = reg.get(a), reg.get(b)
    files_a, cut_a = some_files(reg, left, MAX_DIFF_FILES)
    files_b, cut_b = some_files(reg, right, MAX_DIFF_FILES)
    unchanged = {(f.path, f.checksum) for f in files_a} & {(f.path, f.checksum) for f in files_b}
    context = {
        "a": left, "b": right,
        "fields": diffs.field_changes(left, right),
        "labels": diffs.label_changes(left, right),
        "metadata": diffs.mapping_changes(diffs.flatten_metadata(reg.get_metadata(left.id)),
                                          diffs.flatten_metadata(reg.get_metadata(right.id))),
        "files": diffs.file_changes(files_a, files_b), "files_cut": cut_a or cut_b,
        "same_files": len(unchanged),
    }
    return render_page(request, "diff.html", context)


@router.get("/artifacts/{artifact_id}/lineage", include_in_schema=False)
def lineage_page(request: Request, artifact_id: str, depth: str = "",
                 viewer: Viewer = Depends(current_viewer)) -> Response:
    """Upstream and downstream trees of an artifact, ``depth`` levels each (default 3, at most 10)."""
    reg = viewer.registry
    art = reg.get(artifact_id)
    levels = parse_depth(depth)
    graph = reg.lineage(art.id)
    context = {
        "art": art, "depth": levels,
        "upstream": bounded_tree(graph, art.id, levels),
        "downstream": bounded_tree(graph, art.id, levels, downstream=True),
    }
    return render_page(request, "lineage.html", context)
