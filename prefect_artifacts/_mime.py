"""MIME type detection from a file's name and first bytes."""

from __future__ import annotations

import mimetypes

DIRECTORY = "inode/directory"
_MAGIC: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"PAR1", "application/vnd.apache.parquet"),
    (b"\x93NUMPY", "application/x-npy"),
    (b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (b"\x89HDF\r\n\x1a\n", "application/x-hdf5"),
    (b"CDF\x01", "application/x-netcdf"),
]
_EXTRA = {".parquet": "application/vnd.apache.parquet", ".npy": "application/x-npy",
          ".yaml": "application/yaml", ".yml": "application/yaml", ".md": "text/markdown",
          ".toml": "application/toml", ".ipynb": "application/x-ipynb+json",
          ".jsonl": "application/jsonl", ".pkl": "application/x-pickle"}


def detect_mime(name: str, head: bytes = b"") -> str:
    """Guess a MIME type: known extensions first, then magic numbers, then text or binary.

    Example:
        ```python
        detect_mime("data.csv")            # "text/csv"
        detect_mime("blob", b"%PDF-1.7")   # "application/pdf"
        ```
    """
    lower = name.lower()
    for ext, mime in _EXTRA.items():
        if lower.endswith(ext):
            return mime
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if guessed and not encoding:
        return guessed
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    if guessed:
        return guessed
    if not head:
        return "application/octet-stream"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a cut multi-byte character at the end is fine
            return "application/octet-stream"
        text = head[: exc.start].decode("utf-8")
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        return "application/json"
    return "text/plain" if "\x00" not in text else "application/octet-stream"


def read_head(path: str, n: int = 512) -> bytes:
    """The first ``n`` bytes of a local file.

    Example:
        ```python
        detect_mime("x", read_head("x"))
        ```
    """
    with open(path, "rb") as f:
        return f.read(n)
