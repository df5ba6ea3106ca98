"""README.md runs as written: every block a reader would run, in order, twice, from empty folders.

How the blocks run (one test, `test_readme_runs_as_written_twice`):

- Two passes over the README, against one fresh ``PREFECT_ARTIFACTS_HOME`` and one
  fresh ``PREFECT_HOME`` (both in the test's tmp folder), so the second pass meets
  the versions, users and keys of the first, as a reader running the examples again does.
- Each block runs in its own folder (``work/<block number>``), empty in the first pass
  and holding what that block itself left in the second: a block may not use files
  of another block.
- The ``python`` blocks of a pass run in one Python process (one import of Prefect and
  the package for all of them, `RUNNER`), each block from its own script file
  (``scripts/``) through `runpy`, in its folder, in a fresh namespace: a block may not use
  another's names.
- Each ``bash``/``sh`` block runs in a fresh ``bash -e -o pipefail`` (nothing exported by
  an earlier block is kept), with the virtualenv's ``bin`` first on PATH.
- Flows need a Prefect API: one Prefect server for the test (``prefect_api``), the
  temporary server Prefect itself starts when ``PREFECT_API_URL`` is unset, named by
  ``PREFECT_API_URL``, with ``PREFECT_SERVER_ANALYTICS_ENABLED=false`` as the README says.
  It starts while the other services and the first blocks do; a block using Prefect
  waits until it answers.

The only changes made to a block, each asserted to match the README (so they can not
drift apart):

- ``prefect-artifacts server start ... --port 4300 ...`` and ``prefect-artifacts ui
  --port 4310 ...`` in a bash block are not run by the block: the test starts that same
  command in the background on a free loopback port, waits until it listens, runs the
  rest of the block, and stops it at the end of the pass (the README runs it in a
  terminal of its own). Every ``127.0.0.1:4300`` / ``:4310`` is rewritten to its port.
- The S3 endpoint ``http://127.0.0.1:9000`` becomes the session's moto server (its
  ``AWS_*`` credentials are in the environment; the bucket ``artifacts`` is created as
  the README presumes it exists), and the PostgreSQL URL
  ``postgresql://artifacts:secret@127.0.0.1:5432/artifacts`` a fresh empty database
  of the session's PostgreSQL server (tests/support/services.py).

The first block (``make run`` / ``make test``) is not run here (``make test`` runs this
test): it is checked against the Makefile, and tests/prefect/test_flows.py runs the
example pipeline behind ``make run``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import MotoServer, PostgresServer, free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
RUNNABLE = {"python", "bash", "sh"}

SERVER_PORT = "4300"
SERVER_START = "prefect-artifacts server start"
UI_PORT = "4310"
UI_START = "prefect-artifacts ui"
# Commands a reader runs in a terminal of their own (they serve until stopped).
LONG_RUNNING = (SERVER_START, UI_START)
S3_ENDPOINT = "http://127.0.0.1:9000"
S3_BUCKET = "artifacts"
PG_URL = "postgresql://artifacts:secret@127.0.0.1:5432/artifacts"

# Runs the python blocks of a pass in one process, one block per line of stdin
# ("script<TAB>folder"), answering each with a line "\0ok" or "\0failed" on stdout. The
# Prefect server starts while the first blocks run: a block that uses Prefect (imports it,
# saves or loads a block) waits until it answers.
RUNNER = '''
import os, re, runpy, sys, time, traceback, urllib.request
USES_PREFECT = re.compile(r"^from prefect[ .]|^import prefect\\b|\\.save\\(|\\.load\\(", re.M)
def wait_for_prefect():
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(os.environ["PREFECT_API_URL"] + "/health", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
for line in sys.stdin:
    script, folder = line.rstrip("\\n").split("\\t")
    status = "ok"
    try:
        os.chdir(folder)
        with open(script) as f:
            if USES_PREFECT.search(f.read()):
                wait_for_prefect()
        runpy.run_path(script, run_name="__main__")
    except BaseException:
        traceback.print_exc()
        status = "failed"
    sys.stderr.flush()
    print(f"\\0{status}", flush=True)
'''


class PythonRunner:
    """The process running a pass's python blocks (`RUNNER`), started at the first one."""

    def __init__(self, services: Services, number: int) -> None:
        self.services, self.number = services, number
        self.log = services.tmp / f"python-pass-{number}.log"
        self.process: subprocess.Popen[str] | None = None

    def run(self, index: int, script: Path, folder: Path) -> None:
        if self.process is None:
            self.process = subprocess.Popen([sys.executable, "-c", RUNNER], cwd=self.services.tmp,
                                            env=self.services.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=self.log.open("w"), text=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        started = time.monotonic()
        self.process.stdin.write(f"{script}\t{folder}\n")
        self.process.stdin.flush()
        output = []
        for line in self.process.stdout:
            if line.startswith("\0"):
                break
            output.append(line)
        else:
            line = "\0exited"
        TIMINGS.append((f"pass {self.number}: python block {index}", time.monotonic() - started))
        assert line.strip() == "\0ok", (f"pass {self.number}: python block {index} {line.strip()[1:]}:\n"
                                        f"{script.read_text()}\n--- stdout\n{''.join(output)[-3000:]}\n"
                                        f"--- stderr\n{self.log.read_text()[-6000:]}")

    def close(self) -> None:
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                code = self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                raise
            assert code == 0, self.log.read_text()[-6000:]


def readme_blocks() -> list[tuple[str, str]]:
    """Every fenced block of README.md: (language, code)."""
    return [(lang, code) for lang, code in FENCE.findall(README.read_text())]


def test_readme_first_commands_are_the_makefile_targets() -> None:
    lang, code = readme_blocks()[0]
    commands = [line.split("#", 1)[0].strip() for line in code.splitlines()]
    assert (lang, commands) == ("bash", ["make run", "make test"])
    makefile = (ROOT / "Makefile").read_text()
    run = re.search(r"^run:.*\n((?:\t.*\n)+)", makefile, re.M)
    test = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert run and "flows/example_pipeline.py" in run.group(1)
    assert test and "test-newest" in test.group(1) and "$(PYTEST)" in makefile


def test_readme_has_only_runnable_or_plain_blocks() -> None:
    langs = {lang for lang, _ in readme_blocks()}
    assert langs <= RUNNABLE | {""}, langs  # "" is the layout tree, not code


class Services:
    """What the blocks talk to: URLs substituted into them, and the environment they run in."""

    def __init__(self, tmp: Path, prefect_url: str, moto: MotoServer, pg_url: str) -> None:
        self.tmp = tmp
        self.port, self.ui_port = free_port(), free_port()
        self.substitutions = {
            f"127.0.0.1:{SERVER_PORT}": f"127.0.0.1:{self.port}",
            f"--port {SERVER_PORT}": f"--port {self.port}",
            f"127.0.0.1:{UI_PORT}": f"127.0.0.1:{self.ui_port}",
            f"--port {UI_PORT}": f"--port {self.ui_port}",
            S3_ENDPOINT: moto.endpoint_url,
            PG_URL: pg_url,
        }
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AWS_"))}
        self.env = {
            **keep,
            **{k: v for k, v in moto.env.items() if not k.startswith("AWS_ENDPOINT_URL")},
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PREFECT_ARTIFACTS_HOME": str(tmp / "home"),
            "PREFECT_HOME": str(tmp / "prefect-home"),
            "PREFECT_API_URL": prefect_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_ARTIFACTS_DURABLE": "false",  # no fsync per blob: the machine is shared with other tests
            "PYTHONUNBUFFERED": "1",
        }
        self.servers: list[subprocess.Popen[bytes]] = []

    def substitute(self, code: str) -> str:
        for old, new in self.substitutions.items():
            code = re.sub(re.escape(old) + r"(?![\w])", new, code)
        return code

    def start_server(self, line: str, cwd: Path) -> None:
        """Run a long-running command (``server start``, ``ui``) in the background until it listens."""
        started = time.monotonic()
        port = self.ui_port if line.startswith(UI_START) else self.port
        log = (self.tmp / "server.log").open("ab")
        server = subprocess.Popen(["bash", "-c", f"exec {line}"], cwd=cwd, env=self.env,
                                  stdout=log, stderr=log, start_new_session=True)
        self.servers.append(server)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, (self.tmp / "server.log").read_text()[-3000:]
            try:
                import httpx

                if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2).status_code == 200:
                    TIMINGS.append((f"{line.split(' --')[0]} start", time.monotonic() - started))
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"{line!r} did not listen within 60 s:\n{(self.tmp / 'server.log').read_text()[-3000:]}")

    def stop_servers(self) -> None:
        while self.servers:
            server = self.servers.pop()
            started = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
            TIMINGS.append(("server stop", time.monotonic() - started))


TIMINGS: list[tuple[str, float]] = []  # what took how long (printed at the end: pytest -s)


def _run(args: list[str], cwd: Path, env: dict[str, str], what: str) -> None:
    started = time.monotonic()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, (f"{what} failed (exit {done.returncode}):\n--- stdout\n{done.stdout[-4000:]}"
                                  f"\n--- stderr\n{done.stderr[-6000:]}")
    TIMINGS.append((what.splitlines()[0][:60], time.monotonic() - started))


def _run_pass(number: int, blocks: list[tuple[int, str, str]], services: Services) -> None:
    scripts = services.tmp / "scripts"
    scripts.mkdir(exist_ok=True)
    python = PythonRunner(services, number)
    try:
        for index, lang, code in blocks:
            folder = services.tmp / "work" / f"{index:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            code = services.substitute(code)
            if lang == "python":
                script = scripts / f"block_{index:02d}.py"
                script.write_text(code)
                python.run(index, script, folder)
                continue
            lines = code.splitlines()
            starts = [i for i, line in enumerate(lines) if line.startswith(LONG_RUNNING)]
            parts = [lines]
            if starts:
                (at,) = starts
                parts = [lines[:at], lines[at + 1:]]
            for part_number, part in enumerate(parts):
                if part_number == 1:
                    services.start_server(lines[starts[0]].split("#", 1)[0].strip(), folder)
                script = "\n".join(part) + "\n"
                _run(["bash", "-e", "-o", "pipefail", "-c", script], folder, services.env,
                     f"pass {number}: bash block {index}:\n{script}")
        python.close()
    finally:
        services.stop_servers()
        if python.process is not None and python.process.poll() is None:
            python.process.kill()


@pytest.fixture
def prefect_api() -> Iterator[str]:
    """Prefect's own temporary server (what a flow run starts without PREFECT_API_URL); its API URL.

    On a free loopback port and the session's temporary PREFECT_HOME (tests/conftest.py).
    It starts in the background (while PostgreSQL, moto and the first blocks start): the
    blocks that use Prefect wait until it answers.
    """
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer(port=free_port())
    starting = threading.Thread(target=server.start, kwargs={"timeout": 180}, daemon=True)
    starting.start()
    try:
        yield server.api_url
    finally:
        starting.join(180)
        server.stop()


@pytest.mark.slow
def test_readme_runs_as_written_twice(prefect_api: str, tmp_path: Path, moto_server: MotoServer,
                                      pg_server: PostgresServer) -> None:
    text = README.read_text()
    for needle in (f"{SERVER_START} ", f"127.0.0.1:{SERVER_PORT}", f"--port {SERVER_PORT}", f"{UI_START} ",
                   f"127.0.0.1:{UI_PORT}", f"--port {UI_PORT}", S3_ENDPOINT, PG_URL):
        assert needle in text, f"the README no longer has {needle!r}: update the substitutions here"
    blocks = [(i, lang, code) for i, (lang, code) in enumerate(readme_blocks()) if lang in RUNNABLE and i > 0]
    assert len(blocks) >= 15, blocks
    if not moto_server.filesystem().exists(S3_BUCKET):
        moto_server.filesystem().mkdir(S3_BUCKET)
    try:
        services = Services(tmp_path, prefect_api, moto_server, pg_server.create_database())
        for number in (1, 2):
            _run_pass(number, blocks, services)
    finally:
        print("\n".join(f"{seconds:6.1f} s  {what}" for what, seconds in TIMINGS))


def test_shell_lines_parse() -> None:
    """Every bash/sh block is valid shell (checked without running it)."""
    for index, (lang, code) in enumerate(readme_blocks()):
        if lang in ("bash", "sh"):
            done = subprocess.run(["bash", "-n", "-c", code], capture_output=True, text=True)
            assert done.returncode == 0, (index, code, done.stderr)
            assert all(shlex.split(line, comments=True) is not None for line in code.splitlines())
