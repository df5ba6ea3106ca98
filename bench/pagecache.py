"""Page-cache pre-touch shared by the benchmarks.

On this VM (Firecracker, virtio-balloon free page reporting) a fresh page-cache page
costs ~3 ms/MiB of system time unless a file freed it just before; touching anonymous
memory (what ``../shared/bench/peers.py`` does) does not help the page cache. Writing
and deleting a file of the size an operation will write, right before its clock starts,
gives every system in every round the same start (measured: ``numpy.save`` of 200 MiB
to a new file, 0.47-0.66 s of system time cold, 0.035-0.05 s after this).
"""

from __future__ import annotations

import os
from pathlib import Path

_BLOCK = bytes(8 * 1024 * 1024)


def pretouch(directory: str | os.PathLike[str], nbytes: int) -> None:
    """Write and delete a file of ``nbytes`` in ``directory`` (same filesystem as the operation)."""
    scratch = Path(directory) / "pretouch.bin"
    with open(scratch, "wb", buffering=0) as fh:
        for _ in range(-(-nbytes // len(_BLOCK))):
            fh.write(_BLOCK)
    scratch.unlink()
