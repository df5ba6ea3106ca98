"""The README's Python examples run as written (each in a fresh process and home)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
# Blocks that need outside services (S3, PostgreSQL, a server, Prefect's API) are
# exercised by their own test modules instead.
NEEDS_SERVICES = ("s3://", "postgresql://", "api_url", "@flow", ".save(")


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, tmp_path: Path) -> None:
    block = BLOCKS[index]
    if any(marker in block for marker in NEEDS_SERVICES):
        pytest.skip("needs outside services; covered by backend/Prefect tests")
    env = dict(os.environ, PREFECT_ARTIFACTS_HOME=str(tmp_path / "home"))
    # Examples build on each other (upload, then list/search), as a reader runs them.
    prelude = "\n".join(b for b in BLOCKS[:index] if not any(m in b for m in NEEDS_SERVICES))
    script = tmp_path / "example.py"
    script.write_text(prelude + "\nprint('---example---')\n" + block)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "---example---" in result.stdout
