"""Bounded catalog reads the pages need and the registry API has no call for.

Every query applies the caller's visibility the way the registry does: live
artifacts only, of the groups ``registry.group_ids`` (None: every group). Each one is
bounded (``limit``), so a page stays fast however large the catalog or the artifact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select

from prefect_artifacts._paths import parent_folders
from prefect_artifacts.catalog.engine import read_connection
from prefect_artifacts.catalog.schema import aliases, artifact_files, artifacts, folders
from prefect_artifacts.models import Artifact, ArtifactFile
from prefect_artifacts.registry.local import LocalRegistry

#: Most folders the folder tree lists; files an artifact page lists; versions it links.
MAX_FOLDERS = 500
MAX_FILES = 2000
MAX_VERSIONS = 100


@dataclass(frozen=True)
class VersionRow:
    """One version of a name, as the artifact page links it.

    Example:
        ```python
        [v.version for v in versions(reg, art)]
        ```
    """

    id: str
    version: int
    created: datetime
    size: int | None


def _visible(registry: LocalRegistry) -> list[Any]:
    where: list[Any] = [artifacts.c.deleted.is_(None)]
    if registry.group_ids is not None:
        where.append(artifacts.c.group_id.in_(registry.group_ids))
    return where


def visible_folders(registry: LocalRegistry, limit: int = MAX_FOLDERS) -> tuple[list[str], bool]:
    """Folders holding a live artifact the caller can read, with their ancestors, sorted; and whether cut.

    Folders are probed one by one through the ``(folder, name, version)`` index, at most
    ``limit`` of them, so the cost does not grow with the number of artifacts.

    Example:
        ```python
        paths, truncated = visible_folders(reg.for_principal(principal))
        ```
    """
    holds = exists().where(artifacts.c.folder == folders.c.path, *_visible(registry))
    query = select(folders.c.path).where(holds).order_by(folders.c.path).limit(limit + 1)
    with read_connection(registry.catalog.engine) as conn:
        rows = list(conn.scalars(query))
    truncated = len(rows) > limit
    found = set(rows[:limit])
    for path in list(found):
        found.update(p for p in parent_folders(path) if p != "/")
    return sorted(found), truncated


def versions(registry: LocalRegistry, art: Artifact, limit: int = MAX_VERSIONS) -> list[VersionRow]:
    """The readable live versions of ``art``'s folder and name, newest first (at most ``limit``).

    Example:
        ```python
        versions(reg, reg.get("/team/data"))
        ```
    """
    query = (select(artifacts.c.id, artifacts.c.version, artifacts.c.created, artifacts.c.size)
             .where(artifacts.c.folder == art.folder, artifacts.c.name == art.name, *_visible(registry))
             .order_by(artifacts.c.version.desc()).limit(limit))
    with read_connection(registry.catalog.engine) as conn:
        return [VersionRow(r.id, r.version, r.created, r.size) for r in conn.execute(query)]


def name_aliases(registry: LocalRegistry, art: Artifact) -> dict[str, str]:
    """Aliases of ``art``'s folder and name (alias → artifact id) that point at a readable version.

    Example:
        ```python
        name_aliases(reg, art)  # {"production": "…"}
        ```
    """
    query = (select(aliases.c.alias, aliases.c.artifact_id)
             .join(artifacts, artifacts.c.id == aliases.c.artifact_id)
             .where(aliases.c.folder == art.folder, aliases.c.name == art.name, *_visible(registry))
             .order_by(aliases.c.alias).limit(MAX_VERSIONS))
    with read_connection(registry.catalog.engine) as conn:
        return {r.alias: r.artifact_id for r in conn.execute(query)}


def some_files(registry: LocalRegistry, art: Artifact, limit: int = MAX_FILES) -> tuple[list[ArtifactFile], bool]:
    """The first ``limit`` files of an artifact the caller has read (``registry.get``), by path; and whether cut.

    Example:
        ```python
        files, truncated = some_files(reg, reg.get("checkpoint"))
        ```
    """
    query = (select(artifact_files).where(artifact_files.c.artifact_id == art.id)
             .order_by(artifact_files.c.path).limit(limit + 1))
    with read_connection(registry.catalog.engine) as conn:
        rows = list(conn.execute(query))
    files = [ArtifactFile(path=r.path, size=r.size, checksum=r.checksum, mime_type=r.mime_type, uri=r.uri)
             for r in rows[:limit]]
    return files, len(rows) > limit
