"""The README's "Coming from another system" tables: the seed names each row maps (tests/seeds check them)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def seed_names(heading: str, readme: Path = README) -> list[str]:
    """The first-column names (inside backticks) of the table under ``### <heading>…``, in order.

    The subsection ends at the next ``#``/``##``/``###`` heading. A row's seed name is the
    text of the first backtick span of its first cell.

    Example:
        ```python
        seed_names("From Simvue")  # ["FileArtifact(identifier)", "attach_to_run(run_id, category)", ...]
        ```
    """
    names: list[str] = []
    inside = False
    for line in readme.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            inside = line.startswith(f"### {heading}")
            continue
        if inside and line.startswith("|"):
            first = line.strip("|").split("|", 1)[0]
            match = re.search(r"`([^`]+)`", first)
            if match:
                names.append(match.group(1))
    return names
