"""Python objects: save_object/load_object of a NumPy array against numpy + SHA-256 floors.

Every measurement runs in its own process (clean peak-RSS accounting); systems are
interleaved round-robin and repeated, and ratios are taken against the floors
measured in the same run.

    python bench/bench_objects.py [--mb 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

WORKER = textwrap.dedent(
    """
    import hashlib, json, os, sys, time
    import numpy as np
    case, work, bench_dir = sys.argv[1], sys.argv[2], sys.argv[5]
    mb, pretouch_factor = int(sys.argv[3]), float(sys.argv[4])
    os.environ["PREFECT_ARTIFACTS_HOME"] = os.path.join(work, "home")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    from prefect_artifacts.registry.local import LocalRegistry
    from prefect_artifacts.serializers import snapshot_serializer, get_serializer

    def rss():  # peak RSS since the last reset, MiB
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024

    def pretouch(nbytes):
        # Hot page-cache pages (bench/pagecache.py), then hot anonymous memory, as
        # ../shared/bench/peers.py does; VmHWM is reset: the touch is not the operation's.
        sys.path.insert(0, bench_dir)
        from pagecache import pretouch as pretouch_page_cache
        pretouch_page_cache(work, nbytes)
        buf = bytearray(nbytes)
        buf[::4096] = b"\x01" * len(range(0, nbytes, 4096))
        del buf
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    def sha256(path):
        h = hashlib.sha256()
        with open(path, "rb", buffering=0) as f:
            while chunk := f.read(8 << 20):
                h.update(chunk)
        return h.hexdigest()

    reg = LocalRegistry.embedded()
    saving = case in ("save_object", "floor_save", "prefect_result_save")
    array = np.random.default_rng(1).random(mb * 1024 * 1024 // 8) if saving else None
    npy = os.path.join(work, "floor.npy")
    if case == "floor_load" and not os.path.exists(npy):
        np.save(npy, np.random.default_rng(1).random(mb * 1024 * 1024 // 8))
    if case.startswith("prefect_result"):  # harness start, block and flow set-up untimed
        import contextlib
        import prefect
        import prefect.settings as ps
        from prefect import flow, task
        from prefect.filesystems import LocalFileSystem
        from prefect.results import ResultStore
        from prefect.testing.utilities import prefect_test_harness

        stack = contextlib.ExitStack()
        stack.enter_context(prefect_test_harness(server_startup_timeout=60))
        stack.enter_context(ps.temporary_settings({ps.PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}))
        results_block = LocalFileSystem(basepath=os.path.join(work, "prefect-results"))
        results_block.save("bench-objects", overwrite=True)

        @task(persist_result=True, result_storage=results_block, result_storage_key="array-result")
        def make(a):
            return a

        @flow(persist_result=False)
        def persist_array(a):
            make(a)

    base = rss()
    if pretouch_factor:
        need = 8 if case.startswith("prefect") else 1  # Prefect's copies: ~7x the payload
        pretouch(int(pretouch_factor * need * mb * 1024 * 1024) + (64 << 20))
    out = {}
    t = time.perf_counter()
    if case == "floor_save":  # a new file, as save_object writes one (an overwrite recycles hot pages)
        fresh = os.path.join(work, f"floor-{os.getpid()}.npy")
        np.save(fresh, array)
        fd = os.open(fresh, os.O_RDONLY); os.fsync(fd); os.close(fd)
        sha256(fresh)
    elif case == "floor_load":
        sha256(npy)
        loaded = np.load(npy)
    elif case == "save_object":
        reg.save_object(array, name="array", conflict_strategy="replace")
    elif case == "load_object":
        loaded = reg.load_object("array")
    elif case == "prefect_result_save":  # a task returning the array, result persisted
        out["prefect_version"] = prefect.__version__
        persist_array(array)
    elif case == "prefect_result_load":
        loaded = ResultStore(result_storage=results_block).read("array-result").result
    elif case == "snapshot":
        t = time.perf_counter(); snapshot_serializer(reg, get_serializer("numpy")); first = time.perf_counter() - t
        t2 = time.perf_counter()
        for _ in range(100):
            snapshot_serializer(reg, get_serializer("numpy"))
        out["later_us"] = (time.perf_counter() - t2) / 100 * 1e6
        out["first_ms"] = first * 1000
    out["seconds"] = time.perf_counter() - t
    if case == "floor_save":
        os.unlink(fresh)
    out["growth_mib"] = rss() - base
    out["payload_mib"] = mb
    print(json.dumps(out))
    """
)


#: Measured in this order each round; a load follows the save it reads.
CASES = ("floor_save", "save_object", "prefect_result_save", "floor_load", "load_object", "prefect_result_load")


def run(case: str, work: Path, mb: int, pretouch: float = 0.0) -> dict[str, float]:
    """Run one measurement in a fresh process and return its JSON record."""
    proc = subprocess.run([sys.executable, "-c", WORKER, case, str(work), str(mb), str(pretouch),
                           str(Path(__file__).resolve().parent)],
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{case} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure, then print a markdown table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pretouch-factor", type=float, default=2.0,
                        help="touch and free this x the payload before each clock start (0: cold)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-objects-") as tmp:
        work = Path(tmp)
        run("save_object", work, 1)  # warm-up: creates the catalog and the snapshot
        results: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.repeats):
            for case in CASES:
                results.setdefault(case, []).append(run(case, work, args.mb, args.pretouch_factor))
        snap = run("snapshot", work, 1)

    def med(case: str, key: str = "seconds") -> float:
        return statistics.median(r[key] for r in results[case])

    print(f"### Objects — NumPy float64 array of {args.mb} MiB, {args.repeats} interleaved repeats, "
          f"pre-touch {args.pretouch_factor}× payload\n")
    print("| operation | median s | min–max s | × floor (median) | RSS growth MiB | × payload |")
    print("|---|---|---|---|---|---|")
    for case in CASES:
        floor = "floor_save" if "save" in case else "floor_load"
        secs = [r["seconds"] for r in results[case]]
        growth = med(case, "growth_mib")
        print(f"| `{case}` | {med(case):.3f} | {min(secs):.3f}–{max(secs):.3f} | {med(case) / med(floor):.2f} "
              f"| {growth:.0f} | {growth / args.mb:.2f} |")
    print(f"\nSnapshot capture: first use {snap['first_ms']:.1f} ms (store included), "
          f"later uses {snap['later_us']:.1f} µs each.")


if __name__ == "__main__":
    main()
