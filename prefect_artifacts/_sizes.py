"""Byte counts for people, shared by log lines and the CLI."""

from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int | None, unknown: str = "-") -> str:
    """A byte count in binary units (``1.5 MiB``); ``unknown`` when there is none.

    Example:
        ```python
        human_size(1536)  # "1.5 KiB"
        ```
    """
    if size is None:
        return unknown
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
