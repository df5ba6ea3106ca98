"""``prefect-artifacts ui``: serves the embedded registry's pages on loopback, refuses other hosts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from prefect_artifacts._cli.ui import free_port, is_loopback


def test_ui_serves_the_pages_of_the_embedded_registry(tmp_path: Path) -> None:
    port = free_port("127.0.0.1", 0)
    env = {**os.environ, "PREFECT_ARTIFACTS_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "prefect_artifacts._cli.main", "ui", "--no-browser",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/ui/", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[1].decode()
                assert time.monotonic() < deadline, "the ui command did not start"
                time.sleep(0.1)
        assert r.status_code == 200 and 'id="results"' in r.text and "no sign-in" in r.text
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert httpx.get(f"http://127.0.0.1:{port}/").headers["location"] == "/ui/"
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/ui/" in err.decode()


def test_ui_refuses_a_non_loopback_host(tmp_path: Path) -> None:
    env = {**os.environ, "PREFECT_ARTIFACTS_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "prefect_artifacts._cli.main", "ui", "--no-browser",
                           "--host", "0.0.0.0"], env=env, capture_output=True, timeout=60)
    assert done.returncode == 2 and b"--allow-remote" in done.stderr and b"refusing" in done.stderr
    assert not (tmp_path / "home").exists()  # refused before opening anything


def test_loopback_hosts() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.2", "example.com", ""))
