"""`prefect-artifacts users|groups|keys` administration and `server start`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from prefect_artifacts._cli.main import app
from prefect_artifacts.errors import AuthenticationError, PermissionDenied
from prefect_artifacts.registry.http import HttpRegistry

runner = CliRunner()


def cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (args, result.output)
    return result.stdout


def test_users_groups_and_keys(_isolated_home: Path) -> None:
    assert "created user alice (default group team-a)" in cli("users", "create", "alice", "--group", "team-a")
    cli("users", "create", "bob")
    cli("users", "create", "alice", code=4)  # conflict
    cli("users", "create", "bad/name", code=2)
    cli("groups", "create", "shared")
    cli("groups", "add-member", "shared", "bob", "--write")
    cli("groups", "add-member", "team-a", "bob")
    cli("groups", "add-member", "nope", "bob", code=3)
    users = {u["name"]: u for u in json.loads(cli("--json", "users", "list"))}
    assert users["alice"]["groups"] == {"team-a": True}
    assert users["bob"]["groups"] == {"bob": True, "shared": True, "team-a": False}
    groups = {g["id"]: g["members"] for g in json.loads(cli("--json", "groups", "list"))}
    assert groups == {"bob": {"bob": True}, "shared": {"bob": True}, "team-a": {"alice": True, "bob": False}}
    secret = cli("keys", "create", "alice").strip()
    assert secret.startswith("pa_") and len(secret) > 40
    listed = json.loads(cli("--json", "keys", "list", "alice"))
    assert len(listed) == 1 and listed[0]["revoked"] is None and secret not in json.dumps(listed)
    cli("keys", "revoke", listed[0]["id"])
    assert json.loads(cli("--json", "keys", "list"))[0]["revoked"] is not None
    cli("keys", "revoke", listed[0]["id"], code=3)
    pasted = cli("keys", "create", "bob").strip()  # revoked by the secret itself: only its id is printed
    said = cli("keys", "revoke", pasted) + cli("--json", "keys", "revoke", cli("keys", "create", "bob").strip())
    assert pasted not in said and "_" + pasted.rsplit("_", 1)[1] not in said
    assert said.startswith(f"revoked key {pasted.split('_')[1]}\n")


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_server_start_serves_with_api_keys(_isolated_home: Path, tmp_path: Path, workers: int) -> None:
    cli("users", "create", "alice", "--group", "team-a")
    cli("users", "create", "root", "--admin")
    alice = json.loads(cli("--json", "keys", "create", "alice"))["key"]
    root = cli("keys", "create", "root").strip()
    port = _free_port()
    script = Path(sys.executable).with_name("prefect-artifacts")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "prefect_artifacts._cli.main"]
    env = {**os.environ, "PREFECT_ARTIFACTS_HOME": str(_isolated_home)}
    proc = subprocess.Popen([*command, "server", "start", "--port", str(port), "--log-level", "warning",
                             "--workers", str(workers)], env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{url}/health").json()
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert health["auth"] is True
        (tmp_path / "a.txt").write_text("served")
        with HttpRegistry(url, api_key=alice) as reg:
            art = reg.upload_file(tmp_path / "a.txt", name="a")
            assert art.group_id == "team-a" and art.open().read() == b"served"
            with pytest.raises(PermissionDenied):
                reg.gc()
        with HttpRegistry(url, api_key=root) as reg:
            assert reg.gc(dry_run=True).dry_run
            assert reg.count() == 1
        with HttpRegistry(url) as reg, pytest.raises(AuthenticationError):
            reg.count()
        if workers > 1:
            assert len(_worker_processes(proc.pid)) == workers
            _concurrent_versions(url, alice, tmp_path)
        login = httpx.get(f"http://127.0.0.1:{port}/ui/", follow_redirects=True)  # every process serves the pages
        assert login.status_code == 200 and 'id="login-key"' in login.text
    finally:
        proc.terminate()
        proc.wait(30)
    assert f"web view at http://127.0.0.1:{port}/ui/" in proc.stderr.read()  # type: ignore[union-attr]


def test_each_worker_process_switches_the_gil_every_millisecond(_isolated_home: Path) -> None:
    """A spawned ``--workers`` process starts with Python's defaults: it tunes itself as it builds its app."""
    code = ("import sys; from prefect_artifacts._server.app import app_from_environment; "
            "before = sys.getswitchinterval(); app_from_environment(); print(before, sys.getswitchinterval())")
    env = {**os.environ, "PREFECT_ARTIFACTS_HOME": str(_isolated_home)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0.005", "0.001"]


def _worker_processes(pid: int) -> list[int]:
    """Children of ``pid`` serving requests (uvicorn's workers), from /proc."""
    out = []
    for child in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"resource_tracker" not in cmdline:
            out.append(int(child))
    return out


def _concurrent_versions(url: str, key: str, tmp_path: Path) -> None:
    """Four clients writing one name through several server processes: every version once."""
    sources = []
    for i in range(40):
        sources.append(tmp_path / f"s{i}.txt")
        sources[-1].write_text(f"content {i}")

    def upload(part: list[Path]) -> list[int]:
        with HttpRegistry(url, api_key=key) as reg:
            return [reg.upload_file(p, name="shared", folder="/w").version for p in part]

    with ThreadPoolExecutor(4) as pool:
        versions = [v for part in pool.map(upload, [sources[i::4] for i in range(4)]) for v in part]
    assert sorted(versions) == list(range(1, 41))
    with HttpRegistry(url, api_key=key) as reg:
        stored = {reg.get(f"/w/shared:{v}").open().read() for v in range(1, 41)}
    assert stored == {f"content {i}".encode() for i in range(40)}


def test_the_workers_listener_gets_tcp_nodelay_connections() -> None:
    """uvicorn binds --workers sockets with proto 0, so asyncio skipped TCP_NODELAY (40 ms per response)."""
    import asyncio

    import uvicorn

    from prefect_artifacts._cli.server import tcp_listener

    listener = tcp_listener(uvicorn.Config("x:y", host="127.0.0.1", port=0))
    port = listener.getsockname()[1]
    accepted: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def serve_once() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        async with server:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if accepted:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(serve_once())
    assert listener.proto == socket.IPPROTO_TCP and accepted == [1]
