"""Directory bundles (tar.gz, zip) produced as streams, never whole in memory or on disk.

Entries are written as their content streams in; memory stays within a few chunks
whatever the directory's size. Every entry path passes `safe_relpath` again, so an
archive never holds an entry outside its root.
"""

from __future__ import annotations

import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prefect_artifacts._paths import safe_relpath
from prefect_artifacts.errors import ArtifactIntegrityError
from prefect_artifacts.models import BundleType

_FLUSH_AT = 1024 * 1024


@dataclass(frozen=True)
class BundleEntry:
    """One file to put in a bundle: its path, size and a function opening its content.

    Example:
        ```python
        BundleEntry("a/b.txt", 3, lambda: iter([b"abc"]))
        ```
    """

    path: str
    size: int
    open: Callable[[], Iterator[bytes]]


class _Sink:
    """A write-only file object whose bytes are drained by the generator."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.pending = 0

    def write(self, data: bytes) -> int:
        if data:
            self.parts.append(bytes(data))
            self.pending += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:  # never called: ZipFile closes only files it opened itself
        pass

    def drain(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        self.pending = 0
        return data


def stream_bundle(
    entries: Iterable[BundleEntry], file_type: BundleType, mtime: datetime | None = None
) -> Iterator[bytes]:
    """Yield the bytes of a tar.gz or zip archive of ``entries``.

    Example:
        ```python
        with open("out.zip", "wb") as f:
            for chunk in stream_bundle(entries, BundleType.ZIP):
                f.write(chunk)
        ```
    """
    stamp = (mtime.timestamp() if mtime else time.time())
    if file_type is BundleType.ZIP:
        return _zip(entries, stamp)
    return _tar_gz(entries, stamp)


def _tar_gz(entries: Iterable[BundleEntry], stamp: float) -> Iterator[bytes]:
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip container
    buffered: list[bytes] = []
    size = 0

    def emit(data: bytes) -> Iterator[bytes]:
        nonlocal size
        out = gz.compress(data)
        if out:
            buffered.append(out)
            size += len(out)
        if size >= _FLUSH_AT:
            yield b"".join(buffered)
            buffered.clear()
            size = 0

    for entry in entries:
        info = tarfile.TarInfo(safe_relpath(entry.path, "archive entry"))
        info.size, info.mode, info.mtime = entry.size, 0o644, int(stamp)
        yield from emit(info.tobuf(format=tarfile.PAX_FORMAT))
        written = 0
        for chunk in entry.open():
            written += len(chunk)
            yield from emit(chunk)
        if written != entry.size:
            raise ArtifactIntegrityError(f"{entry.path}: expected {entry.size} bytes, read {written}")
        yield from emit(b"\0" * (-written % tarfile.BLOCKSIZE))
    yield from emit(b"\0" * (2 * tarfile.BLOCKSIZE))
    buffered.append(gz.flush())
    yield b"".join(buffered)


def _zip(entries: Iterable[BundleEntry], stamp: float) -> Iterator[bytes]:
    sink = _Sink()
    date_time = time.gmtime(max(stamp, 315532800))[:6]  # zip dates start in 1980
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for entry in entries:
            info = zipfile.ZipInfo(safe_relpath(entry.path, "archive entry"), date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.file_size = entry.size  # zipfile picks zip64 when this (or its compressed size) may pass 2 GiB
            with archive.open(info, "w") as member:
                written = 0
                for chunk in entry.open():
                    written += len(chunk)
                    member.write(chunk)
                    if sink.pending >= _FLUSH_AT:
                        yield sink.drain()
                if written != entry.size:
                    raise ArtifactIntegrityError(f"{entry.path}: expected {entry.size} bytes, read {written}")
            yield sink.drain()
    yield sink.drain()
