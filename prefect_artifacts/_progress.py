"""Byte progress from deep inside the upload paths, without a parameter on every primitive.

`Registry.upload` (and so ``upload_file``/``upload_dir``) takes a public ``progress``
callback. Between it and the loops that really move bytes (`copy_hashing` writing a
blob, `HttpRegistry` streaming a request body) sit the storage primitives every backend
implements; rather than widen all of them, the registry installs a per-file `Meter` in
a context variable (`metering`) and those loops call `report` with each chunk as it is
written or sent. `Meter.finish` tops it up to the stored size, so paths that report nothing on the way
(small files sent in one request, content the store already holds) still sum exactly.
Passes that only hash (to skip content the store already holds) are not counted there:
they go to the ``hashing`` callback of the meter (`watching_hashes`), e.g. a second bar.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar


class Meter:
    """Counts the bytes of one stored file towards a callback; `finish` makes the sum exact.

    Example:
        ```python
        meter = Meter(print)
        meter(4)
        meter.finish(10)  # prints 4, then 6
        ```
    """

    def __init__(self, callback: Callable[[int], None], hashing: Callable[[int], None] | None = None) -> None:
        self._callback = callback
        self.hashing = hashing  #: told about passes that only hash (they store nothing)
        self._done = 0
        self._lock = threading.Lock()

    def __call__(self, nbytes: int) -> None:
        """Pass on ``nbytes`` more bytes of the file.

        Example:
            ```python
            meter(len(chunk))
            ```
        """
        if nbytes <= 0:
            return
        with self._lock:
            self._done += nbytes
        self._callback(nbytes)

    def finish(self, size: int) -> None:
        """The file is stored with ``size`` bytes: report what the loops did not (e.g. content already held).

        Example:
            ```python
            meter.finish(info.size)
            ```
        """
        with self._lock:
            rest, self._done = size - self._done, max(size, self._done)
        if rest > 0:
            self._callback(rest)


#: The meter of the file being stored in this context (None: nobody is listening).
_CURRENT: ContextVar[Meter | None] = ContextVar("prefect_artifacts_progress", default=None)


@contextlib.contextmanager
def metering(meter: Meter) -> Iterator[Meter]:
    """Make ``meter`` the one `report` feeds in this thread (or context) while the block runs.

    Example:
        ```python
        with metering(Meter(bar.advance)) as meter:
            info = store.put_file(path)
        meter.finish(info.size)
        ```
    """
    token = _CURRENT.set(meter)
    try:
        yield meter
    finally:
        _CURRENT.reset(token)


def current() -> Meter | None:
    """The meter `metering` installed for this thread, if any.

    Example:
        ```python
        progress = current()
        ```
    """
    return _CURRENT.get()


def hashing_progress() -> Callable[[int], None] | None:
    """Where a hash-only pass of the file being stored reports its bytes (see `watching_hashes`), if anywhere.

    Example:
        ```python
        digest, size = hash_file(path, progress=hashing_progress())
        ```
    """
    meter = _CURRENT.get()
    return None if meter is None else meter.hashing


def report(nbytes: int) -> None:
    """Tell the current meter, if any, that ``nbytes`` more bytes were written or sent.

    Example:
        ```python
        sock.sendall(chunk)
        report(len(chunk))
        ```
    """
    meter = _CURRENT.get()
    if meter is not None:
        meter(nbytes)


class HighWater:
    """Reports a stream's progress to the current meter, only past the furthest point reached before.

    A retried request sends its body again from the start: those bytes are not counted twice.
    A stream sent in parts (a multipart upload) gives each part a mark of its own (`part`):
    parts go in parallel and are retried on their own, and what they send counts here too.

    Example:
        ```python
        sent = HighWater()
        for attempt in range(3):
            offset = 0
            for chunk in chunks():
                offset += len(chunk)
                sent.reach(offset)
        ```
    """

    def __init__(self) -> None:
        self._meter = _CURRENT.get()  # taken now: the stream may be pulled in another context
        self._mark = 0
        self._lock = threading.Lock()  # parts report from several threads at once

    def reach(self, offset: int) -> None:
        """The stream is at ``offset``: report the bytes beyond the previous furthest point.

        Example:
            ```python
            sent.reach(1024)
            ```
        """
        with self._lock:
            extra = offset - self._mark
            self._mark = max(offset, self._mark)
        if extra > 0:
            self._count(extra)

    def part(self) -> HighWater:
        """A mark of its own for one part of this stream, sent apart (offsets from the part's start).

        Each part counts its bytes once however often it is retried, and they count towards
        this stream's mark: once parts have sent ``n`` bytes, sending the whole stream again
        (e.g. through another route) reports only what lies past ``n``.

        Example:
            ```python
            sent = HighWater()
            third = sent.part()
            third.reach(4096)  # part 3 has sent 4 KiB: reported once, however often it is resent
            ```
        """
        return _PartMark(self)

    def _count(self, nbytes: int) -> None:
        if self._meter is not None:
            self._meter(nbytes)

    def _add(self, nbytes: int) -> None:
        """A part sent ``nbytes`` more: they count, and move this stream's mark on."""
        with self._lock:
            self._mark += nbytes
        self._count(nbytes)


class _PartMark(HighWater):
    """The mark of one part of a stream (`HighWater.part`): its bytes go to the whole stream's mark."""

    def __init__(self, whole: HighWater) -> None:
        super().__init__()
        self._whole = whole

    def _count(self, nbytes: int) -> None:
        self._whole._add(nbytes)


#: Who watches the hash-only passes of the uploads started in this context (see `watching_hashes`).
_HASH_WATCHER: ContextVar[Callable[[int], None] | None] = ContextVar("prefect_artifacts_hashing", default=None)


@contextlib.contextmanager
def watching_hashes(callback: Callable[[int], None]) -> Iterator[None]:
    """Report to ``callback`` the bytes of the passes that only hash, in the uploads the block runs.

    Before sending a large file a server may already hold, `HttpRegistry` hashes it (then
    asks); an embedded registry does the same when it holds a file of that size. Those
    bytes are not stored, so the ``progress`` callback does not count them: this one can.

    Example:
        ```python
        with watching_hashes(hash_bar.advance):
            reg.upload_file("big.bin", progress=bar.advance)
        ```
    """
    token = _HASH_WATCHER.set(callback)
    try:
        yield
    finally:
        _HASH_WATCHER.reset(token)


def hash_watcher() -> Callable[[int], None] | None:
    """The callback `watching_hashes` installed in this context, if any.

    Example:
        ```python
        Meter(progress, hashing=hash_watcher())
        ```
    """
    return _HASH_WATCHER.get()


#: Where a long batch measured in items (garbage collection) reports ``(done, total)``.
_TALLY: ContextVar[Callable[[int, int], None] | None] = ContextVar("prefect_artifacts_tally", default=None)


@contextlib.contextmanager
def tallying(callback: Callable[[int, int], None]) -> Iterator[None]:
    """Let batches run in the block (e.g. `LocalRegistry.gc`) report ``callback(done, total)``.

    Example:
        ```python
        with tallying(lambda done, total: print(f"{done}/{total}")):
            reg.gc(dry_run=True)
        ```
    """
    token = _TALLY.set(callback)
    try:
        yield
    finally:
        _TALLY.reset(token)


def tally() -> Callable[[int, int], None]:
    """The ``(done, total)`` callback `tallying` installed, or one that does nothing.

    Example:
        ```python
        step = tally()
        for i, item in enumerate(items):
            step(i, len(items))
        ```
    """
    return _TALLY.get() or _ignore


def _ignore(done: int, total: int) -> None:
    pass
