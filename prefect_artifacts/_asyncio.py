"""Run the sync core in worker threads: the basis of every ``a``-prefixed twin."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import anyio.to_thread

R = TypeVar("R")
_DONE = object()


async def run_in_thread(fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run a blocking call in a worker thread and await its result.

    Example:
        ```python
        art = await run_in_thread(reg.get, "name")
        ```
    """
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


async def iterate_in_thread(make: Callable[[], Iterator[R]]) -> AsyncIterator[R]:
    """Drive a blocking iterator from a worker thread, one item at a time.

    Example:
        ```python
        async for chunk in iterate_in_thread(lambda: art.as_stream()):
            ...
        ```
    """
    iterator = await anyio.to_thread.run_sync(make)
    try:
        while True:
            item = await anyio.to_thread.run_sync(next, iterator, _DONE)
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            await anyio.to_thread.run_sync(close)
