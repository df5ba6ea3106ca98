"""SQLite catalogs for tests: the migrated template copied per test, and a catalog at revision 0005.

Migrating a fresh SQLite catalog costs about 0.2 s, so the catalog is migrated once per
process and each test starts from a copy of that file (the registry still opens and
checks it as usual).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from prefect_artifacts.catalog.engine import migrate, sqlite_url
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.settings import ArtifactSettings

_lock = threading.Lock()
_template: list[Path] = []


def migrated_catalog_template() -> Path:
    """A SQLite catalog file migrated to head, made once per process (removed at exit): copy it, never open it."""
    with _lock:
        if not _template:
            root = Path(tempfile.mkdtemp(prefix="pa-catalog-template-"))
            atexit.register(shutil.rmtree, root, ignore_errors=True)
            reg = LocalRegistry.from_urls(str(root / "blobs"), sqlite_url(root / "catalog.sqlite"),
                                          settings=ArtifactSettings(home=root / "home"), use_digest_cache=False)
            assert reg.count() == 0
            reg.close()  # the last connection checkpoints the WAL into the main file
            _template.append(root / "catalog.sqlite")
        return _template[0]


def copy_migrated_catalog(path: Path) -> Path:
    """Write an empty catalog already migrated to head at ``path`` (a copy of the template); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated_catalog_template(), path)
    return path


# Folders of a catalog at 0005 and the artifacts in them: (folder, group, created).
_FOLDERS_0005 = ["/", "/team-a", "/team-a/models", "/shared", "/empty"]
_ARTIFACTS_0005 = [("/shared", "team-b", datetime(2025, 1, 1)), ("/team-a/models", "team-a", datetime(2025, 1, 2)),
                   ("/shared", "team-a", datetime(2025, 1, 3))]


def build_catalog_at_0005(engine: Any) -> None:
    """A catalog at revision 0005 with folders and artifacts of two groups (no owners yet)."""
    migrate(engine, "0005")
    with engine.begin() as conn:
        for path in _FOLDERS_0005:
            conn.execute(text("INSERT INTO folders (path, created) VALUES (:p, :c)"),
                         {"p": path, "c": datetime(2025, 1, 1)})
        for i, (folder, group, created) in enumerate(_ARTIFACTS_0005):
            conn.execute(text(
                "INSERT INTO artifacts (id, group_id, folder, name, version, kind, is_dir, file_count, labels,"
                " created, modified) VALUES (:id, :g, :f, :n, 1, 'file', :d, 0, '[]', :c, :c)"),
                {"id": f"00000000-0000-4000-8000-00000000000{i}", "g": group, "f": folder, "n": f"a{i}",
                 "d": False, "c": created})


def check_folder_owners(engine: Any) -> None:
    """After the upgrade from `build_catalog_at_0005`: each folder is its oldest artifact's group (in it or below)."""
    with engine.connect() as conn:
        owners = dict(conn.execute(text("SELECT path, group_id FROM folders")).all())
        assert conn.execute(text("SELECT count(*) FROM blob_uploads")).scalar() == 0
    assert owners == {"/": None, "/team-a": "team-a", "/team-a/models": "team-a", "/shared": "team-b",
                      "/empty": None}


def waiting_on_a_lock(engine: Engine, query: str) -> bool:
    """Whether a PostgreSQL session waits on a lock in a statement starting with ``query``.

    Example:
        ```python
        while not waiting_on_a_lock(engine, "INSERT INTO artifacts"):
            time.sleep(0.05)
        ```
    """
    with engine.connect() as conn:  # a transaction of its own: pg_stat_activity is a snapshot per transaction
        return bool(conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                     "AND starts_with(query, :query)"), {"query": query}))
