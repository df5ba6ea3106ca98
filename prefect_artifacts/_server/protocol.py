"""The server's HTTP connections: limits a slow or oversized client cannot get around.

uvicorn closes idle keep-alive connections, but a connection that opens and then
sends its request head one byte a minute, or a body that stops half-way, would stay
open forever, and the head's size is unbounded with httptools. `GuardedHttpToolsProtocol`
adds, per connection:

- a deadline for the whole request head (from the moment the connection opens, or
  from the first byte of a later request on a keep-alive connection, whose idle time
  between requests uvicorn's keep-alive timeout already bounds);
- an idle timeout while the body is read (no byte for that long closes it; a large
  upload that keeps sending is never cut);
- a cap on the head's size (request line plus headers): a larger one gets ``431``.

Example:
    ```python
    config = server_config(app, ConnectionLimits(header_timeout=10), host="127.0.0.1", port=4300)
    uvicorn.Server(config).run()
    ```
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-connection limits of the server (seconds and bytes).

    Attributes:
        header_timeout: the request line and headers must arrive within this time.
        body_timeout: the longest pause allowed while a request body is being sent.
        max_header_bytes: largest request head (request line plus headers).

    Example:
        ```python
        ConnectionLimits(header_timeout=30, body_timeout=60, max_header_bytes=32 * 1024)
        ```
    """

    header_timeout: float = 30.0
    body_timeout: float = 60.0
    max_header_bytes: int = 32 * 1024


class _HeadTooLarge(Exception):
    pass


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head/body timeouts and a head size cap.

    The limits come from ``config.connection_limits`` (set by `server_config`), so they
    reach every worker process with the pickled config.

    Example:
        ```python
        uvicorn.Config(app, http=GuardedHttpToolsProtocol)
        ```
    """

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.limits: ConnectionLimits = getattr(config, "connection_limits", None) or ConnectionLimits()
        self._guard: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._reading_body = False
        self._last_body = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the head deadline as soon as the connection opens."""
        super().connection_made(transport)
        self._arm(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the timer with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """Parser failures; our size refusal (raised in a parser callback) surfaces here too."""
        if self._head_bytes > self.limits.max_header_bytes:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        """A new request: count its head from zero; its deadline runs since the last response."""
        super().on_message_begin()
        self._head_bytes = 0
        if self._guard is None:
            self._arm(self.limits.header_timeout)

    def on_url(self, url: bytes) -> None:
        """Count the request target against the head cap."""
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count each header against the head cap."""
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """The head arrived in time: from now on only pauses in the body count."""
        self._disarm()
        self._reading_body = True
        self._last_body = time.monotonic()
        self._arm(self.limits.body_timeout)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """Note progress (the timer checks it when it fires: no timer churn per chunk)."""
        self._last_body = time.monotonic()
        super().on_body(body)

    def on_message_complete(self) -> None:
        """The whole request arrived: no limit applies until the next one starts."""
        self._reading_body = False
        self._disarm()
        super().on_message_complete()

    def _count(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self.limits.max_header_bytes:
            raise _HeadTooLarge

    def _refuse_head(self) -> None:
        msg = f"request head larger than {self.limits.max_header_bytes} bytes".encode()
        self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
                             b"connection: close\r\ncontent-length: " + str(len(msg)).encode() + b"\r\n\r\n" + msg)
        self.transport.close()

    def _arm(self, delay: float) -> None:
        self._disarm()
        self._guard = self.loop.call_later(delay, self._expired)

    def _disarm(self) -> None:
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None

    def _expired(self) -> None:
        self._guard = None
        if self.transport.is_closing():
            return
        if self._reading_body:
            if self.flow.read_paused:  # we stopped reading (back-pressure): not the client's pause
                self._last_body = time.monotonic()
            idle = time.monotonic() - self._last_body
            if idle < self.limits.body_timeout:
                self._arm(self.limits.body_timeout - idle)
                return
        self.transport.close()


def server_config(app: Any, limits: ConnectionLimits | None = None, **options: Any) -> uvicorn.Config:
    """A uvicorn config serving ``app`` through `GuardedHttpToolsProtocol` with ``limits``.

    Example:
        ```python
        uvicorn.Server(server_config(app, host="127.0.0.1", port=4300)).run()
        ```
    """
    config = uvicorn.Config(app, http=GuardedHttpToolsProtocol, **options)
    config.connection_limits = limits or ConnectionLimits()  # type: ignore[attr-defined]
    return config

