"""Progress on stderr: byte bars (size, speed, ETA) for transfers, count bars for batches.

Every bar is fed by what really happened: uploads by the registry's ``progress``
callback (bytes as they are written to the store or sent to the server, see
`prefect_artifacts._progress`), downloads and verification by the chunks as they are
read. Everything here is a no-op when disabled (``--json``, ``--quiet``, or stderr is
not an interactive terminal); `rich.progress` is imported only when a bar is drawn.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


def _byte_columns() -> list[Any]:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        ProgressColumn,
        SpinnerColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from prefect_artifacts._sizes import human_size

    class SpeedColumn(ProgressColumn):
        """Bytes per second since the bar started: content found already stored counts as done at once.

        (rich's ``TransferSpeedColumn`` leaves the first update out, which makes nonsense
        of a transfer whose first update is most of it.)
        """

        def render(self, task: Task) -> Text:
            elapsed = task.finished_time or task.elapsed
            if not elapsed or not task.completed:
                return Text("?", style="progress.data.speed")
            return Text(f"{human_size(int(task.completed / elapsed))}/s", style="progress.data.speed")

    return [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
            SpeedColumn(), TimeRemainingColumn()]


def _count_columns(unit: str) -> list[Any]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        SpinnerColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items per second (``TransferSpeedColumn`` speaks bytes)."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:.1f}/s", style="progress.data.speed")

    return [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn(unit), RateColumn(), TimeRemainingColumn()]


class _Bars:
    """A transient `rich.progress.Progress` that may be disabled (then every method does nothing)."""

    def __init__(self, console: Console, enabled: bool, columns: Callable[[], list[Any]]) -> None:
        self._progress: Progress | None = None
        if enabled:
            from rich.progress import Progress

            self._progress = Progress(*columns(), console=console, transient=True)

    def __enter__(self) -> Any:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextlib.contextmanager
    def shared(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        """One bar for everything done in the block; yields its ``advance(n)`` (thread-safe).

        Example:
            ```python
            with bar.shared("checkpoint", total=sum(sizes)) as advance:
                reg.download_dir("checkpoint", "out", progress=advance)
            ```
        """
        progress = self._progress
        if progress is None:
            yield lambda n: None
            return
        task = progress.add_task(description, total=total)
        progress.refresh()
        try:
            yield lambda n: progress.advance(task, n)
        finally:
            progress.refresh()  # its last state is drawn, however short the transfer
            progress.remove_task(task)


class ByteProgress(_Bars):
    """Byte bars (done/total, speed, ETA), one per transfer; disabled, it draws nothing.

    Without a total (a compressed bundle's size is known only once it is built) the bar
    shows the bytes so far and the speed, and no ETA: nothing it could not know.

    Example:
        ```python
        with ByteProgress(Console(stderr=True), enabled=True) as bar:
            for chunk in bar.track(reg.read("my-data"), "my-data", total=art.size):
                out.write(chunk)
        ```
    """

    def __init__(self, console: Console, enabled: bool) -> None:
        super().__init__(console, enabled, _byte_columns)

    def __enter__(self) -> ByteProgress:
        super().__enter__()
        return self

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


class CountProgress(_Bars):
    """Count bars (done/total items, items per second, ETA) for batches measured in items, not bytes.

    Example:
        ```python
        with CountProgress(console, True, "artifacts") as bar, bar.shared("Syncing", total=12) as advance:
            reg.push_outbox(progress=lambda size: advance(1))
        ```
    """

    def __init__(self, console: Console, enabled: bool, unit: str) -> None:
        super().__init__(console, enabled, lambda: _count_columns(unit))

    def __enter__(self) -> CountProgress:
        super().__enter__()
        return self

    @contextlib.contextmanager
    def tallied(self, description: str) -> Iterator[None]:
        """One bar fed by the batches the block runs (`prefect_artifacts._progress.tallying`).

        Example:
            ```python
            with CountProgress(console, True, "blobs") as bar, bar.tallied("Collecting garbage"):
                reg.gc()
            ```
        """
        progress = self._progress
        if progress is None:
            yield
            return
        from prefect_artifacts._progress import tallying

        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            with tallying(update):
                yield
        finally:
            progress.refresh()
            progress.remove_task(task)


@contextlib.contextmanager
def byte_bar(console: Console, description: str, total: int | None, enabled: bool) -> Iterator[Callable[[int], None]]:
    """One byte bar for the block; yields its ``advance(n)``, e.g. an upload's ``progress`` callback.

    Example:
        ```python
        with byte_bar(console, "Pushing outputs/", total=2**30, enabled=True) as advance:
            reg.upload_dir("outputs/", progress=advance)
        ```
    """
    with ByteProgress(console, enabled) as bar, bar.shared(description, total) as advance:
        yield advance


@contextlib.contextmanager
def upload_bars(
    console: Console, description: str, total: int, enabled: bool, hash_total: int | None = None
) -> Iterator[Callable[[int], None]]:
    """A byte bar for an upload, fed with the ``advance`` this yields as its ``progress`` callback.

    Content the store (or server) may hold already is hashed first, and not stored or
    sent when it does: that pass gets a second bar (``hash_total``: its size when known),
    shown only once it starts, so the first one never sits still unexplained.

    Example:
        ```python
        with upload_bars(console, "Pushing big.bin", size, True, hash_total=size) as advance:
            reg.upload_file("big.bin", progress=advance)
        ```
    """
    from prefect_artifacts._progress import watching_hashes

    with ByteProgress(console, enabled) as bar, bar.shared(description, total) as advance:
        progress = bar._progress
        if progress is None:
            yield advance
            return
        lock = threading.Lock()
        hashing: list[Any] = []  # its task, once the first hash-only pass starts

        def hashed(nbytes: int) -> None:
            with lock:
                if not hashing:
                    hashing.append(progress.add_task("  hashing (to skip stored content)",
                                                     total=hash_total))
            progress.advance(hashing[0], nbytes)

        try:
            with watching_hashes(hashed):
                yield advance
        finally:
            if hashing:
                progress.remove_task(hashing[0])


@contextlib.contextmanager
def spinner(console: Console, message: str, enabled: bool) -> Iterator[None]:
    """A spinner with elapsed time, for a call that can not say how far it is (e.g. a server's gc).

    Example:
        ```python
        with spinner(console, "Collecting garbage on the server", enabled=True):
            reg.gc()
        ```
    """
    if not enabled:
        yield
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        progress.add_task(message, total=None)
        yield
