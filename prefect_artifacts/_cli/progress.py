"""Progress on stderr for transfers: byte bars for streams, a spinner for pushes.

Both are no-ops when disabled (``--json``, or stderr is not a terminal).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class ByteProgress:
    """A byte-counting progress bar (one task per transfer) that may be disabled.

    Example:
        ```python
        with ByteProgress(Console(stderr=True), enabled=True) as bar:
            for chunk in bar.track(reg.read("my-data"), "my-data", total=art.size):
                out.write(chunk)
        ```
    """

    def __init__(self, console: Console, enabled: bool) -> None:
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=True,
            )

    def __enter__(self) -> ByteProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def track(self, chunks: Iterable[bytes], description: str, total: int | None = None) -> Iterator[bytes]:
        """Yield ``chunks`` unchanged, advancing a bar by their lengths.

        Example:
            ```python
            for chunk in bar.track(stream, "download", total=1024): ...
            ```
        """
        with self.shared(description, total) as advance:
            for chunk in chunks:
                advance(len(chunk))
                yield chunk

    @contextlib.contextmanager
    def shared(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        """One bar for several consecutive streams (e.g. the files of a directory); yields its advance.

        Example:
            ```python
            with bar.shared("checkpoint", total=sum(sizes)) as advance:
                reg.download_dir("checkpoint", "out", progress=advance)
            ```
        """
        progress = self._progress
        if progress is None:
            yield lambda size: None
            return
        task = progress.add_task(description, total=total)
        try:
            yield lambda size: progress.advance(task, size)
        finally:
            progress.remove_task(task)


@contextlib.contextmanager
def spinner(console: Console, message: str, enabled: bool) -> Iterator[None]:
    """Show a spinner with elapsed time while a blocking call runs.

    Example:
        ```python
        with spinner(console, "Pushing 3 files (1.2 MiB)", enabled=True):
            reg.upload_dir("outputs/")
        ```
    """
    if not enabled:
        yield
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        progress.add_task(message, total=None)
        yield


@contextlib.contextmanager
def file_progress(
    console: Console, message: str, files: int, total: int, enabled: bool
) -> Iterator[Callable[[int], None]]:
    """A bar of files and bytes; yields the callback to call with each stored file's size.

    Example:
        ```python
        with file_progress(console, "Pushing outputs/", 120, 2**30, enabled=True) as advance:
            reg.upload_dir("outputs/", progress=advance)
        ```
    """
    if not enabled:
        yield lambda size: None
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                  TextColumn("{task.fields[done]}/{task.fields[files]} files"), TransferSpeedColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task(message, total=total or None, done=0, files=files)

        def advance(size: int) -> None:
            progress.update(task, advance=size, done=progress.tasks[task].fields["done"] + 1)

        yield advance
