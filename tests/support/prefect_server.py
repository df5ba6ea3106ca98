"""A real ``prefect server start`` and the processes that use it (workers, ``prefect deploy``, runners).

`PrefectServer` runs the server with a temporary PREFECT_HOME and SQLite database, the UI
off, a 2 s scheduler loop and one future run per schedule; every child (`Child`) runs in
its own process group, its output in a log file, and is stopped with its descendants.
The session fixtures that start them are in tests/prefect_server/conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "flows"
PREFECT_YAML = FLOWS / "prefect.yaml"
WORK_POOL = yaml.safe_load(PREFECT_YAML.read_text())["deployments"][0]["work_pool"]["name"]

SERVER_START_TIMEOUT = 120.0  # first start migrates a fresh database; the machine is shared
STOP_TIMEOUT = 15.0

T = TypeVar("T")


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, start time) of every live process (Linux /proc)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[int(entry)] = (int(fields[1]), int(fields[2]), fields[19])
    return found


def _family(pid: int) -> dict[int, str]:
    """The processes of ``pid``'s group and every descendant of ``pid``, with their start times."""
    procs = _processes()
    family = {p: info[2] for p, info in procs.items() if info[1] == pid}
    children: dict[int, list[int]] = {}
    for p, info in procs.items():
        children.setdefault(info[0], []).append(p)
    todo, seen = [pid], {pid}
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
                family[child] = procs[child][2]
    return family


def _signal(family: dict[int, str], sig: int) -> None:
    """Signal the processes still alive with the same start time (never a reused pid)."""
    procs = _processes()
    for pid, started in family.items():
        if pid in procs and procs[pid][2] == started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


class Child:
    """A subprocess in its own process group, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.name, self.args, self.log = name, args, log
        with open(log, "wb") as out:
            self.popen = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)

    def tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        """SIGTERM the group and every descendant (flow runs may start sessions of their own), then SIGKILL."""
        family = _family(self.popen.pid)
        _signal(family, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(STOP_TIMEOUT)
        family.update(_family(self.popen.pid))  # a group id is not reused while the group has members
        _signal(family, signal.SIGKILL)
        self.popen.wait(STOP_TIMEOUT)


class PrefectServer:
    """``python -m prefect server start`` on 127.0.0.1:<free port>, plus the processes that use it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.prefect_home = root / "prefect-home"
        self.home = root / "artifacts-home"  # the worker's registry, and the tests'
        self.children: list[Child] = []
        self.server: Child | None = None

    def env(self, home: Path | None = None, **extra: str) -> dict[str, str]:
        """The environment of a child: no inherited PREFECT_* setting, this server, ``home``'s registry."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update({
            "PREFECT_HOME": str(self.prefect_home),
            "PREFECT_API_URL": self.url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_ARTIFACTS_HOME": str(home or self.home),
            "PREFECT_ARTIFACTS_DURABLE": "false",  # shared machine: no fsync per blob
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_WORKER_PREFETCH_SECONDS": "2",
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(extra)
        return env

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Child:
        """Start ``args`` in its own process group; stopped at the end of the session at the latest."""
        child = Child(name, args, env or self.env(), cwd or ROOT, self.root / f"{name}-{len(self.children)}.log")
        self.children.append(child)
        return child

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
        """Run ``python -m prefect <args>`` from the repository root against this server; its output."""
        done = subprocess.run([sys.executable, "-m", "prefect", *args], env=env or self.env(), cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"prefect {' '.join(args)} exited {done.returncode}:\n{output[-5000:]}"
        return output

    def logs(self, lines: int = 60) -> str:
        """The last lines of every process's log, for failure messages."""
        return "\n".join(f"----- {c.name} (pid {c.popen.pid}, exit {c.popen.poll()}): {' '.join(c.args[1:6])}\n"
                         f"{c.tail(lines)}" for c in self.children)

    def start(self) -> PrefectServer:
        env = self.env(
            PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{self.root / 'prefect.db'}",
            PREFECT_SERVER_UI_ENABLED="false",
            PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
            # One future run per schedule at a time (default: up to 100): a schedule of a
            # few seconds then never leaves a backlog of due runs for a worker to churn through.
            PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS="1",
        )
        self.server = self.spawn("server", [sys.executable, "-m", "prefect", "server", "start",
                                            "--host", "127.0.0.1", "--port", str(self.port)], env=env)
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            if not self.server.alive():
                raise RuntimeError(f"prefect server exited ({self.server.popen.returncode}):\n{self.server.tail()}")
            try:
                response = httpx.get(f"{self.url}/health", timeout=2)
                if response.status_code == 200:
                    return self
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.25)
        raise RuntimeError(f"prefect server not healthy within {SERVER_START_TIMEOUT:.0f}s ({last}):\n"
                           f"{self.server.tail()}")

    def stop(self) -> None:
        """Stop every child, the server last (workers and runners may still report to it)."""
        errors = []
        for child in sorted(self.children, key=lambda c: c is self.server):
            try:
                child.stop()
            except Exception as exc:  # noqa: BLE001 - stop the others anyway
                errors.append(f"{child.name}: {exc!r}")
        assert not errors, errors

    def wait_for(self, fetch: Callable[[], T], ok: Callable[[T], bool], timeout: float, what: str) -> T:
        """Call ``fetch`` every 0.5 s until ``ok(result)``; past ``timeout`` fail with every process's log tail."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = fetch()
            except AssertionError:
                raise
            except Exception as exc:  # noqa: BLE001 - a busy server may answer 5xx once: poll on
                value = exc  # type: ignore[assignment]
            else:
                if ok(value):
                    return value
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout:.0f}s; last seen: {repr(value)[:3000]}\n{self.logs()}")
            time.sleep(0.5)

    # Flow runs of a deployment, through this process's client (pointed at this server).

    def runs_of(self, deployment_id: Any) -> list[Any]:
        """Every flow run of the deployment, oldest expected start first."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
        from prefect.client.schemas.sorting import FlowRunSort

        with get_client(sync_client=True) as client:
            return client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=200)

    def wait_for_final_run(self, deployment_id: Any, timeout: float, what: str) -> Any:
        """The first flow run of the deployment to reach a final state (Completed, Failed, Crashed, ...)."""

        def final(runs: list[Any]) -> list[Any]:
            return [r for r in runs if r.state is not None and r.state.is_final()]

        runs = self.wait_for(lambda: self.runs_of(deployment_id), lambda runs: bool(final(runs)), timeout,
                             what + " (a flow run in a final state)")
        return final(runs)[0]

    def run_once_on_schedule(self, deployment_id: Any, timeout: float, what: str) -> Any:
        """Wait for a scheduled run to be picked up, pause the deployment, and return that run once final.

        Pausing as soon as a worker or runner took the first run deletes the runs
        scheduled after it: one run does the work, the next ones do not pile up.
        """
        from prefect.client.orchestration import get_client

        def started(runs: list[Any]) -> list[Any]:
            return [r for r in runs if r.state is not None and not r.state.is_scheduled()]

        deadline = time.monotonic() + timeout
        runs = self.wait_for(lambda: self.runs_of(deployment_id), lambda runs: bool(started(runs)), timeout,
                             what + " (a flow run created by the scheduler and picked up)")
        run = started(runs)[0]
        with get_client(sync_client=True) as client:
            client.pause_deployment(deployment_id)

            def read() -> Any:
                return client.read_flow_run(run.id)

            return self.wait_for(read, lambda r: r.state is not None and r.state.is_final(),
                                 max(deadline - time.monotonic(), 30), what + f" (flow run {run.id} final)")

    def stop_deployment(self, deployment_id: Any, timeout: float = 60) -> None:
        """Pause the deployment (the server deletes its scheduled runs) and let started runs finish.

        Runs already handed to a worker or runner finish; the rest (waiting for a
        concurrency slot) are cancelled, so no run of it touches the registry later.
        """
        from prefect.client.orchestration import get_client
        from prefect.states import Cancelled

        with get_client(sync_client=True) as client:
            client.pause_deployment(deployment_id)

        def started(runs: list[Any]) -> list[Any]:
            return [r for r in runs if r.state is not None and (r.state.is_running() or r.state.is_pending())]

        self.wait_for(lambda: started(self.runs_of(deployment_id)), lambda runs: not runs, timeout,
                      f"started runs of deployment {deployment_id} to finish")
        with get_client(sync_client=True) as client:
            for run in self.runs_of(deployment_id):
                if run.state is not None and not run.state.is_final():
                    client.set_flow_run_state(run.id, Cancelled(message="test over"), force=True)
