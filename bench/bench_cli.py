#!/usr/bin/env python3
"""CLI start-up (issue 18): whole-process wall time of ``prefect-artifacts`` commands, median of 10.

Each measurement is a new process, timed from spawn to exit, stdout to /dev/null.
The commands run round-robin: one uncounted warm-up round, then ``--runs`` rounds that
each run every command once, so load drift on this shared VM hits all of them alike.
Commands:

* floors: ``python -c pass`` and the import of the libraries ``ls`` cannot do without
  (typer, rich's table, SQLAlchemy, pydantic-settings);
* ``--help`` (target ≤ 0.3 s);
* ``ls`` of an embedded home holding ``--artifacts`` artifacts (10,000; target ≤ 0.6 s):
  the first page (50 rows) as a table, with the total. The home is built once in a
  temp dir through the Python API (`LocalRegistry.upload` of a one-file draft per
  artifact, ``PREFECT_ARTIFACTS_DURABLE=false``: ~20 s);
* ``--registry-block NAME ls``: the same home through a saved ``ArtifactRegistry``
  block (reported, no target). The block is saved on a ``prefect_test_harness`` server
  (started untimed, before the measurements), and the command finds it through
  ``PREFECT_API_URL``; loading a block imports Prefect, which the other commands do not.

A command runs as ``python -c "... from prefect_artifacts._cli.main import app; app()"``
with a ``--source`` checkout first on ``sys.path`` (default: this clone), as the
entry-point script would. ``--source`` is repeatable: an older commit
(``git worktree add /tmp/before <commit>``) is measured in the same rounds, each on a
home of its own built by its own package (a newer version may migrate a catalog).

Usage:
    .venv/bin/python bench/bench_cli.py                          # 10 rounds, 10,000 artifacts
    .venv/bin/python bench/bench_cli.py --runs 3 --artifacts 500 --no-block   # smoke
    .venv/bin/python bench/bench_cli.py --source /tmp/after --source /tmp/before
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"--help": 0.3, "ls": 0.6}
BLOCK = "bench-cli"
#: Floors measured in the same run: the interpreter alone, and the libraries `ls` cannot do without
#: (typer, rich's table, SQLAlchemy, pydantic-settings); on this shared 2-core VM the load moves every
#: figure, and these say by how much.
FLOORS = {
    "python -c pass": "pass",
    "python -c 'import typer, rich.table, sqlalchemy, pydantic_settings'":
        "import typer, rich.table, sqlalchemy, pydantic_settings",
}


@dataclass
class Case:
    """One measured command line."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    target: float | None = None
    goal: str = "report"


def command(source: Path, *args: str) -> list[str]:
    """The CLI as a process: ``source``'s package first on the path, then what the entry point does."""
    code = (f"import sys; sys.path.insert(0, {str(source)!r}); sys.argv[0] = 'prefect-artifacts'; "
            "from prefect_artifacts._cli.main import app; app()")
    return [sys.executable, "-c", code, *args]


def run_once(cmd: list[str], env: dict[str, str]) -> float:
    """Seconds from spawn to exit of one run; a failing run stops the bench."""
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{cmd[3:]} exited {done.returncode}: {done.stderr.strip()}")
    return elapsed


def round_robin(cases: list[Case], runs: int) -> dict[str, list[float]]:
    """``runs`` rounds (after one uncounted warm-up round), each running every case once, in order."""
    times: dict[str, list[float]] = {case.name: [] for case in cases}
    for i in range(runs + 1):
        for case in cases:
            elapsed = run_once(case.cmd, case.env)
            if i:
                times[case.name].append(elapsed)
    return times


def build_home(source: Path, home: Path, count: int) -> float:
    """``count`` one-file artifacts at ``home``, by ``source``'s package (a child process); the seconds it took."""
    start = time.perf_counter()
    subprocess.run([sys.executable, __file__, "_build", str(source), str(home), str(count)], check=True)
    return time.perf_counter() - start


def _build(home: Path, count: int) -> None:
    """The child of `build_home`: fill the embedded registry at ``home`` with ``count`` artifacts."""
    os.environ["PREFECT_ARTIFACTS_HOME"] = str(home)
    os.environ["PREFECT_ARTIFACTS_DURABLE"] = "false"
    from prefect_artifacts import ArtifactDraft, LocalRegistry

    reg = LocalRegistry.embedded()
    try:
        for i in range(count):
            draft = ArtifactDraft(f"item-{i:05d}", labels=["bench"])
            draft.add_bytes(f"{i}\n".encode(), "item.txt")
            reg.upload(draft, folder="/bench-cli", make_folder=True)
        assert reg.count() == count
    finally:
        reg.close()


def row(name: str, times: list[float], target: float | None, goal: str = "report") -> str:
    median = statistics.median(times)
    verdict = "-" if target is None else ("**met**" if median <= target else "**missed**")
    goal = goal if target is None else f"≤ {target:.1f} s"
    return (f"| `{name}` | {median:.3f} | {min(times):.3f} | {max(times):.3f} | {goal} | {verdict} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--artifacts", type=int, default=10_000)
    ap.add_argument("--source", type=Path, action="append",
                    help="checkout whose prefect_artifacts is measured (repeatable: interleaved; default this clone)")
    ap.add_argument("--no-block", action="store_true", help="skip the saved-block command (no Prefect server)")
    args = ap.parse_args()
    sources: list[Path] = args.source or [REPO]
    sys.path.insert(0, str(sources[0]))  # this process saves the block with this package
    load0 = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="pa-bench-cli-") as tmp, ExitStack() as stack:
        # A Prefect home of its own (a command that imports Prefect may write there), not ~/.prefect.
        env = {**os.environ, "PREFECT_HOME": str(Path(tmp) / "prefect-home"), "COLUMNS": "160"}
        block_env = None if args.no_block else stack.enter_context(saved_block(env))
        cases = [Case(name, [sys.executable, "-c", code], env, goal="floor") for name, code in FLOORS.items()]
        built = []
        for i, source in enumerate(sources):  # each source its own home: a newer one may migrate its catalog
            home = Path(tmp) / f"home-{i}"
            built.append(build_home(source, home, args.artifacts))
            env = {**env, "PREFECT_ARTIFACTS_HOME": str(home)}
            if block_env is not None:
                block_env = {**block_env, "PREFECT_ARTIFACTS_HOME": str(home)}
            label = f" [{source.name}]" if len(sources) > 1 else ""
            cases += [Case(f"prefect-artifacts --help{label}", command(source, "--help"), env, TARGETS["--help"]),
                      Case(f"prefect-artifacts ls ({args.artifacts:,} artifacts){label}", command(source, "ls"), env,
                           TARGETS["ls"])]
            if block_env is not None:
                cases.append(Case(f"prefect-artifacts --registry-block {BLOCK} ls{label}",
                                  command(source, "--registry-block", BLOCK, "ls"), block_env))
        times = round_robin(cases, args.runs)
    print(f"## bench_cli — {started}, load average before {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f}, "
          f"after {os.getloadavg()[0]:.2f}\n")
    print(f"sources: {', '.join(map(str, sources))}; {args.runs} rounds after 1 warm-up round, every command once "
          f"per round; each source's home of {args.artifacts:,} artifacts built in "
          f"{', '.join(f'{b:.1f}' for b in built)} s\n")
    print("| command | median (s) | min (s) | max (s) | target | verdict |\n|---|---:|---:|---:|---|---|")
    print("\n".join(row(case.name, times[case.name], case.target, case.goal) for case in cases))


@contextmanager
def saved_block(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A throwaway Prefect server holding an ArtifactRegistry block named BLOCK; yields the commands' env."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ["PREFECT_HOME"] = env["PREFECT_HOME"]  # the harness's too, not ~/.prefect
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    from prefect_artifacts import ArtifactRegistry

    with prefect_test_harness(server_startup_timeout=120):
        ArtifactRegistry().save(BLOCK, overwrite=True)  # no fields: the home comes from the command's environment
        yield {**env, "PREFECT_API_URL": str(PREFECT_API_URL.value())}


if __name__ == "__main__":
    if sys.argv[1:2] == ["_build"]:  # build_home's child: _build SOURCE HOME COUNT
        sys.path.insert(0, sys.argv[2])
        _build(Path(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
