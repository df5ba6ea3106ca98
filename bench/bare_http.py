"""The HTTP floor for bench_server.py: uvicorn (httptools) + httpx on loopback, no storage, no hashing.

``PUT`` drains the request body; ``GET`` streams a file in 1 MiB pieces. Run as
``python bench/bare_http.py PORT FILE``; `measure` times one upload and one download
of FILE through it with a plain ``httpx.Client``, as HttpRegistry would send them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def make_app(path: str) -> Any:
    """An ASGI app: drain PUT bodies, stream ``path`` on GET."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "PUT":
            size = 0
            while True:
                message = await receive()
                size += len(message.get("body", b""))
                if not message.get("more_body"):
                    break
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": str(size).encode()})
            return
        length = Path(path).stat().st_size
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(length).encode())]})
        with open(path, "rb") as fh:
            while piece := fh.read(MIB):
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def _pieces(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while piece := fh.read(MIB):
            yield piece


def measure(url: str, path: Path, server_cpu: Any = None) -> dict[str, float]:
    """One streamed upload (PUT) and one download (GET, body discarded) of ``path``.

    Returns seconds (``up_s``, ``down_s``) and CPU seconds of this process
    (``up_client_cpu_s``, ...) and, given ``server_cpu()`` (the server's CPU seconds so
    far), of the server (``up_server_cpu_s``, ...).
    """
    import httpx

    out: dict[str, float] = {}
    with httpx.Client(timeout=120) as client:
        for op in ("up", "down"):
            s0, c0, t = server_cpu() if server_cpu else 0.0, time.process_time(), time.perf_counter()
            if op == "up":
                client.put(url, content=_pieces(path)).raise_for_status()
            else:
                with client.stream("GET", url) as response:
                    for _ in response.iter_bytes():
                        pass
            out[f"{op}_s"] = time.perf_counter() - t
            out[f"{op}_client_cpu_s"] = time.process_time() - c0
            out[f"{op}_server_cpu_s"] = server_cpu() - s0 if server_cpu else float("nan")
    return out


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(make_app(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]), log_level="error",
                http="httptools")
