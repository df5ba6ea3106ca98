"""A path to a temporary file that deletes itself on leaving ``with``."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from types import TracebackType

_PathBase = type(Path())


class TemporaryLocalFile(_PathBase):  # type: ignore[misc, valid-type]
    """A `pathlib.Path` whose file is deleted when the ``with`` block exits.

    Made by `in_private_dir`, it is ``<private temp dir>/<file name>`` and the directory
    goes too, so the file keeps its name and extension for tools that look at them.

    Example:
        ```python
        with art.as_local_file() as path:
            data = path.read_bytes()      # path.name == "data.csv" for an upload of data.csv
        assert not path.exists()
        ```
    """

    #: The private directory created for this file (removed with it), if any.
    _private_dir: str | None = None

    @classmethod
    def in_private_dir(cls, file_name: str, prefix: str = "prefect-artifacts-") -> TemporaryLocalFile:
        """A path named ``file_name`` (its last component) in a new private temp directory.

        The directory (mode 0700, from `tempfile.mkdtemp`) is removed with the file on
        leaving ``with`` or by `cleanup`. An empty or dot-only name becomes ``content``.

        Example:
            ```python
            path = TemporaryLocalFile.in_private_dir("plots/loss.png")   # /tmp/prefect-artifacts-…/loss.png
            ```
        """
        name = PurePosixPath(file_name.replace("\\", "/")).name
        if name in ("", ".", ".."):
            name = "content"
        directory = tempfile.mkdtemp(prefix=prefix)
        path = cls(directory, name)
        path._private_dir = directory
        return path

    def cleanup(self) -> None:
        """Delete the file, and its private directory when it has one.

        Example:
            ```python
            path = art.as_local_file()
            ...
            path.cleanup()
            ```
        """
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self)
        if self._private_dir is not None:
            shutil.rmtree(self._private_dir, ignore_errors=True)

    def __enter__(self) -> TemporaryLocalFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()
