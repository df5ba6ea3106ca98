"""Prefect-side overhead: a flow calling the `save_object` task N times vs a plain @task.

    .venv/bin/python bench/bench_prefect.py [--n 200] [--repeat 3]

One `prefect_test_harness` (heartbeat disabled); each kind of flow writes to its own
embedded registry (SQLite + local blobs, durable writes), created in the warm-up and
reused by every round, as any flow after a home's first does (``--fresh-home``: a new
home per flow run, which adds the one-time creation, measured and printed separately).
Flows measured, each N calls:

- plain:        a @task returning the object (Prefect's own cost per task run);
- save_object:  `prefect_artifacts.tasks.save_object` (serialize, snapshot-pinned
                object artifact, run association, event, table refresh request);
- artifact_task: an `@artifact_task` returning the object;
- link:         `create_link_artifact` per call inside a flow (Prefect's own artifact);
- the save_object flow again with PREFECT_ARTIFACTS_DURABLE=false (no fsync), and the
  registry's save_object alone, without Prefect, for reference.

The table artifact is published in the background (coalesced); the time to drain it
after the flow ends is reported separately ("table flush"). Before each measured flow
the harness server gets ``--settle`` seconds to finish recording the previous flow's
task-run events (it persists them every 5 s): a flow started while the server was still
writing ~600 events of the previous one waited up to 14 s in its own flow-run creation,
which measured the previous flow, not this one. A fixed pause was not enough once the
server's backlog grew over a run (flows then varied 1-8 s), so the harness waits until
the server subprocess has used no CPU for half a second (at most ``--settle`` s).
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"

from prefect import flow, task  # noqa: E402
from prefect.artifacts import create_link_artifact  # noqa: E402
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

from prefect_artifacts import tasks as T  # noqa: E402
from prefect_artifacts._prefect import PUBLISHER  # noqa: E402


def _obj(i: int) -> dict:
    return {"i": i, "name": f"item-{i}", "values": [i * 0.5, i * 1.5, i * 2.5]}


@task
def plain(obj: dict) -> dict:
    return obj


@T.artifact_task(artifact_name="bench-at", folder="/bench")
def via_artifact_task(obj: dict) -> dict:
    return obj


@flow
def flow_plain(n: int) -> None:
    for i in range(n):
        plain(_obj(i))


@flow
def flow_save(n: int) -> None:
    for i in range(n):
        T.save_object(_obj(i), name=f"bench-{i % 20}", folder="/bench")


@flow
def flow_artifact_task(n: int) -> None:
    for i in range(n):
        via_artifact_task(_obj(i))


@flow
def flow_link(n: int) -> None:
    for i in range(n):
        create_link_artifact(f"https://example.com/{i}", link_text=f"item {i}", key="bench-link")


def _new_home() -> str:
    return tempfile.mkdtemp(prefix="bench-prefect-")


def _creation_ms() -> float:
    """Median time to create a registry in a new home and save one object (once per home)."""
    from prefect_artifacts.registry.local import LocalRegistry

    times = []
    for _ in range(3):
        start = time.perf_counter()
        reg = LocalRegistry.embedded(_new_home())
        reg.save_object(_obj(0), name="first")
        times.append(time.perf_counter() - start)
        reg.close()
    return statistics.median(times) * 1000


def registry_only(n: int) -> None:
    """The registry call alone, no Prefect task or flow (for reference)."""
    reg = T.resolve_registry()
    for i in range(n):
        reg.save_object(_obj(i), name=f"bench-{i % 20}", folder="/bench")


def _children_cpu() -> float:
    """CPU seconds used so far by this process's children (the harness server), from /proc."""
    total, me, tick = 0.0, os.getpid(), os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _wait_quiet(limit: float) -> float:
    """Wait until the harness server idles (< 4 % CPU over 0.5 s); returns the seconds waited."""
    start = time.monotonic()
    used = _children_cpu()
    while time.monotonic() - start < limit:
        time.sleep(0.5)
        now = _children_cpu()
        if now - used < 0.02:
            break
        used = now
    return time.monotonic() - start


def _time(fn, n: int, home: str, durable: bool = True, settle: float = 0.0) -> tuple[float, float]:
    _wait_quiet(settle)
    os.environ["PREFECT_ARTIFACTS_HOME"] = home
    os.environ["PREFECT_ARTIFACTS_DURABLE"] = "true" if durable else "false"
    start = time.perf_counter()
    fn(n)
    wall = time.perf_counter() - start
    start = time.perf_counter()
    PUBLISHER.flush(60)
    os.environ.pop("PREFECT_ARTIFACTS_DURABLE")
    return wall, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--settle", type=float, default=60.0,
                        help="at most this many seconds waiting for the harness server to idle before each flow")
    parser.add_argument("--only", default="", help="comma-separated flow labels to run (default: all)")
    parser.add_argument("--fresh-home", action="store_true", help="a new registry home for every flow run")
    args = parser.parse_args(argv)
    n = args.n
    flows = {"plain @task": (flow_plain, True), "save_object task": (flow_save, True),
             "save_object task, durable=false": (flow_save, False),
             "@artifact_task": (flow_artifact_task, True), "create_link_artifact": (flow_link, True),
             "registry.save_object alone (no Prefect)": (registry_only, True)}
    if args.only:
        flows = {k: v for k, v in flows.items() if k in args.only.split(",") or k == "plain @task"}
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in flows}
    with prefect_test_harness(server_startup_timeout=120), \
            temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        homes = {label: _new_home() for label in flows}
        for label, (fn, durable) in flows.items():  # warm-up: imports, registries, serializer snapshot
            _time(fn, 5, homes[label], durable)
        for _ in range(args.repeat):  # interleaved so machine load hits every flow alike
            for label, (fn, durable) in flows.items():
                home = _new_home() if args.fresh_home else homes[label]
                results[label].append(_time(fn, n, home, durable, args.settle))
    wall = {k: statistics.median(w for w, _ in v) for k, v in results.items()}
    flush = {k: statistics.median(f for _, f in v) for k, v in results.items()}
    base = wall["plain @task"]
    link_per_call = wall.get("create_link_artifact", float("nan")) / n
    print(f"\n### Prefect-side overhead, {n} calls per flow, median of {args.repeat}, server idle before each "
          f"(python {sys.version.split()[0]}, {os.cpu_count()} cpus)\n")
    print("| flow | wall (s) | per call (ms) | ratio vs plain @task | overhead/artifact (ms) "
          "| overhead vs create_link_artifact/call | table flush after flow (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label in flows:
        over = (wall[label] - base) / n * 1000
        plain_row = label in ("plain @task", "create_link_artifact") or "alone" in label
        vs_link = "" if plain_row else f"{over / (link_per_call * 1000):.2f}x"
        print(f"| {label} | {wall[label]:.2f} | {wall[label] / n * 1000:.1f} | {wall[label] / base:.2f}x | "
              f"{over:.1f} | {vs_link} | {flush[label]:.2f} |")
    print("\nPer round (s): " + "; ".join(
        f"{label}: " + ", ".join(f"{w:.2f}" for w, _ in results[label]) for label in flows))
    print(f"\ncreate_link_artifact alone: {link_per_call * 1000:.1f} ms/call. Target: save_object flow "
          f"≤ 2x the plain flow → {'met' if wall.get('save_object task', 0) <= 2 * base else 'NOT met'} "
          f"({wall.get('save_object task', float('nan')) / base:.2f}x).")
    print(f"\nRegistry homes: {'a new one per flow run' if args.fresh_home else 'one per flow kind, reused'}; "
          f"creating a home and its first object costs {_creation_ms():.0f} ms once "
          f"(under {Path(tempfile.gettempdir())}/bench-prefect-*).")


if __name__ == "__main__":
    main()
