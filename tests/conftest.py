"""Fixtures for every test: an isolated home, a LocalRegistry on a tmp SQLite file and tmp blobs.

Nothing outside the clone and the temporary folders is written: before Prefect is
imported, PREFECT_HOME and PREFECT_ARTIFACTS_HOME point into one temporary folder for the
session (removed at its end). Prefect writes under PREFECT_HOME its profile state
(``memo_store.toml``), the SQLite database of an ephemeral server (``prefect.db``) and, by
default, persisted results: a task with Prefect's default cache policy persists its
return value (pickled) to ``PREFECT_LOCAL_STORAGE_PATH``, which defaults to
``$PREFECT_HOME/storage``. A session-end check (`pytest_sessionfinish`) compares $HOME
with a snapshot taken at the start and fails the run if the suite changed it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="prefect-artifacts-tests-"))
# Forced, not defaulted: a PREFECT_HOME or PREFECT_ARTIFACTS_HOME set by the user is
# theirs and must not receive the suite's runs, results and blobs.
os.environ["PREFECT_HOME"] = str(_SESSION_DIR / "prefect-home")
os.environ["PREFECT_ARTIFACTS_HOME"] = str(_SESSION_DIR / "artifacts-home")  # each test gets its own below
os.environ.pop("PREFECT_LOCAL_STORAGE_PATH", None)  # so results follow PREFECT_HOME
os.environ.pop("PREFECT_PROFILES_PATH", None)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# Helpers shared by the tests live in tests/support (see tests/README.md); their asserts
# report like the tests' own (so this comes before they are imported). The service
# fixtures (PostgreSQL, moto S3) are for every test.
pytest.register_assert_rewrite("tests.support")
pytest_plugins = ["tests.support.services", "tests.support.topology"]

from prefect_artifacts.catalog.engine import sqlite_url  # noqa: E402
from prefect_artifacts.registry.local import LocalRegistry  # noqa: E402
from tests.support.catalogs import copy_migrated_catalog  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("PREFECT_ARTIFACTS_HOME", str(home))
    return home


@pytest.fixture
def catalog_path(tmp_path: Path) -> Path:
    """This test's own SQLite catalog file, empty and migrated (a copy of tests.support.catalogs' template)."""
    return copy_migrated_catalog(tmp_path / "catalog.sqlite")


@pytest.fixture
def local_registry(tmp_path: Path, catalog_path: Path) -> Iterator[LocalRegistry]:
    """A LocalRegistry on this test's `catalog_path` and a local blob folder, both in tmp."""
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(catalog_path))
    yield reg
    reg.close()


# -- $HOME is unchanged after the run ---------------------------------------------------

# Top-level entries of $HOME that may change while the suite runs, each for a reason that
# is not the suite's doing. Add more (colon-separated names) with
# PREFECT_ARTIFACTS_TEST_HOME_IGNORE, e.g. for an agent or editor writing its own state.
_HOME_IGNORED = {
    ".cache",  # XDG cache (pip, fontconfig, ...): regenerable by definition, never read back as state
    ".python_history", ".bash_history", ".lesshst", ".viminfo",  # an interactive shell next to the run
}


def _home_snapshot() -> dict[str, int]:
    """Names and mtimes of $HOME's top level, and of everything under ~/.prefect and ~/.prefect-artifacts."""
    home = Path.home()
    ignored = _HOME_IGNORED | set(filter(None, os.environ.get("PREFECT_ARTIFACTS_TEST_HOME_IGNORE", "").split(":")))
    snapshot: dict[str, int] = {}
    try:
        entries = list(os.scandir(home))
    except OSError:
        return snapshot
    for entry in entries:
        if entry.name in ignored:
            continue
        try:
            snapshot[entry.name] = entry.stat(follow_symlinks=False).st_mtime_ns
        except OSError:
            continue
        if entry.name in (".prefect", ".prefect-artifacts") and entry.is_dir(follow_symlinks=False):
            for root, dirs, files in os.walk(entry.path):
                for name in dirs + files:
                    path = os.path.join(root, name)
                    try:
                        snapshot[os.path.relpath(path, home)] = os.lstat(path).st_mtime_ns
                    except OSError:
                        continue
    return snapshot


_HOME_BEFORE = _home_snapshot()


def _home_changes() -> list[str]:
    after = _home_snapshot()
    changes = [f"created  ~/{name}" for name in sorted(after.keys() - _HOME_BEFORE.keys())]
    changes += [f"removed  ~/{name}" for name in sorted(_HOME_BEFORE.keys() - after.keys())]
    changes += [f"modified ~/{name}" for name in sorted(after.keys() & _HOME_BEFORE.keys())
                if after[name] != _HOME_BEFORE[name]]
    return changes


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when it changed $HOME; remove the session's PREFECT_HOME/PREFECT_ARTIFACTS_HOME."""
    changes = _home_changes()
    if changes:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["the test run changed $HOME (the suite must write only to the clone and temporary folders):",
                 *changes[:50], *([f"... and {len(changes) - 50} more"] if len(changes) > 50 else [])]
        if reporter is not None:
            reporter.write("\n")
            reporter.write_sep("=", "$HOME changed", red=True)
            for line in lines:
                reporter.write_line(line)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)
