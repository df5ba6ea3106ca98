"""A path to a temporary file that deletes itself on leaving ``with``."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType

_PathBase = type(Path())


class TemporaryLocalFile(_PathBase):  # type: ignore[misc, valid-type]
    """A `pathlib.Path` whose file is deleted when the ``with`` block exits.

    Example:
        ```python
        with art.as_local_file() as path:
            data = path.read_bytes()
        assert not path.exists()
        ```
    """

    def __enter__(self) -> TemporaryLocalFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self)
