"""Folder ownership: whose writers may create names in a folder, and what a caller learns.

A folder belongs to the group that created it (recorded in ``folders.group_id``); the
root ``/`` belongs to no group. A folder that does not exist yet is governed by its
nearest existing owned ancestor, so a new sub-folder of ``/team-a`` is team-a's too.
For a caller with a `Principal` that is not an admin:

- creating anything in a folder governed by a group the caller cannot write is refused
  with one `PermissionDenied`, worded the same whatever the name, the conflict
  strategy, and whether the folder or the name exist: nothing is learnt about the
  names inside (only a top-level folder's existence shows, by who may create it);
- an artifact in an owned folder belongs to the folder's group (it is the default,
  and another group is refused), so every name in a folder is readable by the writers
  of that folder;
- artifacts go in folders, not directly in the shared root.

Folders are told apart case-insensitively: ``/Team-A`` is refused next to ``/team-a``
(with the same `PermissionDenied` for a caller who cannot write that folder). Folder
and artifact names are ASCII (see `prefect_artifacts._paths`), so Unicode look-alikes
cannot be written at all. A folder without an owner (an old folder with no artifact;
never the root) is claimed by the first artifact created in or below it. Admins, and
callers without a principal (the embedded registry), pass every permission check; the
one-spelling rule holds for everyone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, insert, select, update

from prefect_artifacts._paths import parent_folders
from prefect_artifacts.catalog.schema import folders
from prefect_artifacts.errors import FolderNotFound, InvalidArtifactInput, InvalidName, PermissionDenied

if TYPE_CHECKING:
    from datetime import datetime

    from prefect_artifacts.catalog.auth import Principal

ROOT = "/"


def artifact_group(
    folder: str, owner: str | None, requested: str | None, writer: Principal | None, default_group: str
) -> str:
    """The group a new artifact in ``folder`` belongs to, or the refusal of the create.

    Args:
        folder: the artifact's folder.
        owner: the group governing the folder (None: unowned).
        requested: the group the writer asked for (None: the folder's, else its default).
        writer: the caller (None: no access rules, as in the embedded registry).
        default_group: the group of a caller without a principal.

    Raises:
        PermissionDenied: the caller may not create names in this folder or group.
        InvalidArtifactInput: ``requested`` is not the group of the owned folder.

    Example:
        ```python
        artifact_group("/team-a/models", "team-a", None, alice, "default")  # "team-a"
        ```
    """
    if writer is None or writer.is_admin:
        return requested or owner or (writer.default_group if writer else default_group)
    if owner is not None and not writer.can_write(owner):
        raise PermissionDenied(f"you may not create artifacts in folder {folder!r}: it is another group's "
                               "(use a folder of your own group)")
    if owner is None and folder == ROOT:
        raise PermissionDenied("the root folder '/' is shared: put artifacts in a folder of your group")
    group = requested or owner or writer.default_group
    if not writer.can_write(group):
        raise PermissionDenied(f"user {writer.user_name!r} may not write to group {group!r}")
    if owner is not None and group != owner:
        raise InvalidArtifactInput(f"artifacts in folder {folder!r} belong to its group {owner!r}, not {group!r}")
    return group


def prepare_folder(
    conn: Connection, folder: str, make: bool, requested: str | None, writer: Principal | None,
    default_group: str, now: datetime, locked: bool = False,
) -> tuple[str, str | None]:
    """Check (and make) ``folder`` inside the caller's write transaction.

    Returns the new artifact's group, and the folder's owner when the folder was
    already committed with one (safe to cache), else None.

    Raises:
        PermissionDenied: see `artifact_group`.
        InvalidName: the folder, or an ancestor, differs only in case from an existing one.
        FolderNotFound: the folder is missing and ``make`` is false.

    Example:
        ```python
        group, cached_owner = prepare_folder(conn, "/team-a/x", True, None, alice, "default", utcnow())
        ```
    """
    chain = parent_folders(folder)
    keys = [p.lower() for p in chain]
    found: dict[str, tuple[str, str | None]] = {}
    for path, owner in conn.execute(select(folders.c.path, folders.c.group_id)
                                    .where(func.lower(folders.c.path).in_(keys))):
        if path.lower() not in found or path in chain:  # the exact spelling wins over a variant
            found[path.lower()] = (path, owner)
    hits = [found.get(key) for key in keys]
    owner = next((hit[1] for hit in reversed(hits) if hit is not None and hit[1] is not None), None)
    group = artifact_group(folder, owner, requested, writer, default_group)
    for path, hit in zip(chain, hits, strict=True):
        if hit is not None and hit[0] != path:
            raise InvalidName(f"folder {path!r} differs only in case from the existing {hit[0]!r}: use that spelling")
    if hits[-1] is None and not make:
        raise FolderNotFound(f"folder {folder!r} does not exist (pass make_folder=True)")
    missing = [path for path, hit in zip(chain, hits, strict=True) if hit is None]
    if missing and not locked and conn.dialect.name == "postgresql":
        # New folders are created one transaction at a time, so two look-alikes cannot both
        # pass the check above; then look again, as the lock holder may have made them.
        conn.execute(select(func.pg_advisory_xact_lock(func.hashtext("prefect-artifacts/folders"))))
        return prepare_folder(conn, folder, make, requested, writer, default_group, now, locked=True)
    if missing:
        conn.execute(insert(folders), [{"path": p, "created": now, "group_id": None if p == ROOT else group}
                                       for p in missing])
    unowned = [path for path, hit in zip(chain, hits, strict=True)
               if hit is not None and hit[1] is None and path != ROOT]
    if unowned:
        conn.execute(update(folders).where(folders.c.path.in_(unowned), folders.c.group_id.is_(None))
                     .values(group_id=group))
    last = hits[-1]
    return group, last[1] if last is not None else None
