#!/usr/bin/env python3
"""CLI start-up (issue 18): whole-process wall time of ``prefect-artifacts`` commands, median of 10.

Each measurement is a new process, timed from spawn to exit, stdout to /dev/null,
after one uncounted warm-up run (the page cache holds the interpreter and the
package afterwards, as it does for anyone who ran the command once). Cases:

* ``--help`` (target ≤ 0.3 s);
* ``ls`` of an embedded home holding ``--artifacts`` artifacts (10,000; target ≤ 0.6 s):
  the first page (50 rows) as a table, with the total. The home is built once in a
  temp dir through the Python API (`LocalRegistry.upload` of a one-file draft per
  artifact, ``PREFECT_ARTIFACTS_DURABLE=false``: ~20 s);
* floors, same run: ``python -c pass`` and the import of the libraries ``ls`` needs
  (typer, rich's table, SQLAlchemy, pydantic-settings);
* ``--registry-block NAME ls``: the same home through a saved ``ArtifactRegistry``
  block (reported, no target). The block is saved on a ``prefect_test_harness`` server
  (started untimed, before the measurements), and the command finds it through
  ``PREFECT_API_URL``; loading a block imports Prefect, which the other two do not.

The command runs as ``python -c "... from prefect_artifacts._cli.main import app; app()"``
with ``--source`` (default: this clone) first on ``sys.path``, so a checkout of an
older commit can be measured the same way (``git worktree add /tmp/before <commit>``,
then ``--source /tmp/before``). The entry-point script does the same import.

Usage:
    .venv/bin/python bench/bench_cli.py                          # 10 runs per command, 10,000 artifacts
    .venv/bin/python bench/bench_cli.py --runs 3 --artifacts 500 --no-block   # smoke
    .venv/bin/python bench/bench_cli.py --source /tmp/before     # another checkout, same venv
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
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


def command(source: Path, *args: str) -> list[str]:
    """The CLI as a process: ``source``'s package first on the path, then what the entry point does."""
    code = (f"import sys; sys.path.insert(0, {str(source)!r}); sys.argv[0] = 'prefect-artifacts'; "
            "from prefect_artifacts._cli.main import app; app()")
    return [sys.executable, "-c", code, *args]


def wall_times(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    """Seconds from spawn to exit of ``runs`` runs (after one warm-up); a failing run stops the bench."""
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{cmd[3:]} exited {done.returncode}: {done.stderr.strip()}")
        if i:
            times.append(elapsed)
    return times


def build_home(home: Path, count: int) -> float:
    """``count`` one-file artifacts in the embedded registry at ``home``; returns the seconds it took."""
    os.environ["PREFECT_ARTIFACTS_HOME"] = str(home)
    os.environ["PREFECT_ARTIFACTS_DURABLE"] = "false"
    from prefect_artifacts import ArtifactDraft, LocalRegistry

    start = time.perf_counter()
    reg = LocalRegistry.embedded()
    try:
        for i in range(count):
            draft = ArtifactDraft(f"item-{i:05d}", labels=["bench"])
            draft.add_bytes(f"{i}\n".encode(), "item.txt")
            reg.upload(draft, folder="/bench-cli", make_folder=True)
        assert reg.count() == count
    finally:
        reg.close()
    del os.environ["PREFECT_ARTIFACTS_DURABLE"]
    return time.perf_counter() - start


def row(name: str, times: list[float], target: float | None) -> str:
    median = statistics.median(times)
    verdict = "-" if target is None else ("**met**" if median <= target else "**missed**")
    goal = "report" if target is None else f"≤ {target:.1f} s"
    return (f"| `{name}` | {median:.3f} | {min(times):.3f} | {max(times):.3f} | {goal} | {verdict} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--artifacts", type=int, default=10_000)
    ap.add_argument("--source", type=Path, default=REPO, help="checkout whose prefect_artifacts is measured")
    ap.add_argument("--no-block", action="store_true", help="skip the saved-block command (no Prefect server)")
    args = ap.parse_args()
    sys.path.insert(0, str(args.source))  # this process builds the home with the measured checkout's package
    load0 = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="pa-bench-cli-") as tmp:
        home = Path(tmp) / "home"
        built = build_home(home, args.artifacts)
        env = {**os.environ, "PREFECT_ARTIFACTS_HOME": str(home), "COLUMNS": "160"}
        rows = [row(name, wall_times([sys.executable, "-c", code], env, args.runs), None)
                for name, code in FLOORS.items()]
        rows += [row("prefect-artifacts --help", wall_times(command(args.source, "--help"), env, args.runs),
                     TARGETS["--help"]),
                 row(f"prefect-artifacts ls   ({args.artifacts:,} artifacts)",
                     wall_times(command(args.source, "ls"), env, args.runs), TARGETS["ls"])]
        if not args.no_block:
            rows.append(block_row(args, env))
    print(f"## bench_cli — {started}, load average before {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f}, "
          f"after {os.getloadavg()[0]:.2f}\n")
    print(f"source: {args.source}; {args.runs} runs per command after 1 warm-up; home of {args.artifacts:,} "
          f"artifacts built in {built:.1f} s\n")
    print("| command | median (s) | min (s) | max (s) | target | verdict |\n|---|---:|---:|---:|---|---|")
    print("\n".join(rows))


def block_row(args: argparse.Namespace, env: dict[str, str]) -> str:
    """Save an ArtifactRegistry block on a throwaway Prefect server, then time ``--registry-block NAME ls``."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ["PREFECT_HOME"] = str(Path(env["PREFECT_ARTIFACTS_HOME"]).parent / "prefect-home")  # not ~/.prefect
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    from prefect_artifacts import ArtifactRegistry

    with prefect_test_harness(server_startup_timeout=120):
        ArtifactRegistry().save(BLOCK, overwrite=True)  # no fields: the home comes from the command's environment
        block_env = {**env, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PREFECT_HOME": os.environ["PREFECT_HOME"]}
        times = wall_times(command(args.source, "--registry-block", BLOCK, "ls"), block_env, args.runs)
    return row(f"prefect-artifacts --registry-block {BLOCK} ls", times, None)


if __name__ == "__main__":
    main()
