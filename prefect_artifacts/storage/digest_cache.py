"""A machine-local cache of file digests keyed on (path, device, inode, size, times).

Re-registering an unchanged large file then costs a ``stat`` and one lookup instead
of a full hash, as DVC and W&B do. A file rewritten in place with identical size and
times (e.g. ``touch -d``) would fool it: turn it off with
``PREFECT_ARTIFACTS_DIGEST_CACHE=false`` or ``use_digest_cache=False``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path


class DigestCache:
    """SQLite-backed map from a file's identity to its SHA-256.

    Example:
        ```python
        cache = DigestCache(Path("~/.prefect-artifacts/digests.sqlite").expanduser())
        st = os.stat("big.bin")
        cache.get("big.bin", st) or cache.put("big.bin", st, hash_file("big.bin")[0])
        ```
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._local = threading.local()
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, dev INTEGER,"
                " ino INTEGER, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, digest TEXT)"
            )

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")  # a lost entry only costs a re-hash
            self._local.db = db
        return db

    @staticmethod
    def _key(path: str, st: os.stat_result) -> tuple[str, int, int, int, int, int]:
        return (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def get(self, path: str, st: os.stat_result) -> str | None:
        """The cached digest if the file is unchanged since it was recorded.

        Example:
            ```python
            cache.get("big.bin", os.stat("big.bin"))
            ```
        """
        key = self._key(path, st)
        row = self._connect().execute(
            "SELECT digest FROM digests WHERE path=? AND dev=? AND ino=? AND size=?"
            " AND mtime_ns=? AND ctime_ns=?",
            key,
        ).fetchone()
        return row[0] if row else None

    def put(self, path: str, st: os.stat_result, digest: str) -> str:
        """Record the digest of a file as it was when ``st`` was taken; returns it.

        Example:
            ```python
            cache.put("big.bin", st, digest)
            ```
        """
        self._connect().execute(
            "INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?, ?, ?)",
            (*self._key(path, st), digest),
        )
        return digest
