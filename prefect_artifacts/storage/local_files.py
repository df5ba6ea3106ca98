"""Writing local files safely: whole or not at all, and never outside their folder.

- `part_file` and `write_file`: the content goes to a hidden ``.part`` sibling that is
  renamed over the target once complete, and removed if anything fails, so no partial
  file ever carries the final name.
- `path_inside`: a file extracted under a folder lands inside it, never through a
  symlink already there (a link could lead anywhere).

Every front end that writes downloads to disk (`Registry.download`,
`Registry.get_contents`, `Registry.download_dir`, the CLI's ``pull``, `ContentStore.download`)
goes through here. It lives in `storage` because the content store uses it too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from prefect_artifacts._ids import new_uuid
from prefect_artifacts._paths import safe_relpath
from prefect_artifacts.errors import UnsafePath
from prefect_artifacts.storage.hashing import write_behind


@contextlib.contextmanager
def part_file(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A hidden ``.part`` sibling of ``target`` to write; renamed over ``target`` when the block ends.

    If the block raises, the ``.part`` file is removed and ``target`` is left as it was.
    The folder of ``target`` must exist.

    Example:
        ```python
        with part_file("out/data.csv") as part:
            part.write_bytes(b"a,b")
        # out/data.csv appears only now, complete
        ```
    """
    target = Path(target)
    part = target.with_name(f".{target.name}.{new_uuid().hex[:8]}.part")
    try:
        yield part
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def write_file(chunks: Iterable[bytes], target: str | os.PathLike[str]) -> int:
    """Write ``chunks`` to ``target`` through `part_file`; returns the number of bytes.

    A write is in flight on a worker thread while the next chunk is produced.

    Example:
        ```python
        size = write_file(reg.read("my-data"), "copy.csv")
        ```
    """
    written = 0

    def counted() -> Iterator[bytes]:
        nonlocal written
        for chunk in chunks:
            written += len(chunk)
            yield chunk

    with part_file(target) as part, open(part, "wb") as out:
        write_behind(counted(), out.write)
    return written


def path_inside(root: str | os.PathLike[str], relpath: str) -> Path:
    """``root / relpath``, refusing a path that escapes ``root`` or passes through a symlink in it.

    Nothing is created; check every file of an extraction before writing any of them.

    Raises:
        UnsafePath: ``relpath`` escapes ``root``, or an existing part of the path below
            ``root`` is a symlink.

    Example:
        ```python
        path_inside("out", "plots/a.png")   # Path("out/plots/a.png")
        path_inside("out", "../etc/passwd") # raises UnsafePath
        ```
    """
    root = Path(root)
    current = root
    for part in safe_relpath(relpath, "artifact path").split("/"):
        current = current / part
        if current.is_symlink():
            raise UnsafePath(f"{relpath!r} would be written through the symlink {current} (outside {root})")
    return current
