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
    import hashlib, json, os, resource, sys, time
    import numpy as np
    case, work, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.environ["PREFECT_ARTIFACTS_HOME"] = os.path.join(work, "home")
    from prefect_artifacts.registry.local import LocalRegistry
    from prefect_artifacts.serializers import snapshot_serializer, get_serializer

    def rss():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB

    def sha256(path):
        h = hashlib.sha256()
        with open(path, "rb", buffering=0) as f:
            while chunk := f.read(8 << 20):
                h.update(chunk)
        return h.hexdigest()

    reg = LocalRegistry.embedded()
    saving = case in ("save_object", "floor_save")
    array = np.random.default_rng(1).random(mb * 1024 * 1024 // 8) if saving else None
    npy = os.path.join(work, "floor.npy")
    if case == "floor_load" and not os.path.exists(npy):
        np.save(npy, np.random.default_rng(1).random(mb * 1024 * 1024 // 8))
    base = rss()
    out = {}
    t = time.perf_counter()
    if case == "floor_save":
        np.save(npy, array)
        fd = os.open(npy, os.O_RDONLY); os.fsync(fd); os.close(fd)
        sha256(npy)
    elif case == "floor_load":
        sha256(npy)
        loaded = np.load(npy)
    elif case == "save_object":
        reg.save_object(array, name="array", conflict_strategy="replace")
    elif case == "load_object":
        loaded = reg.load_object("array")
    elif case == "snapshot":
        t = time.perf_counter(); snapshot_serializer(reg, get_serializer("numpy")); first = time.perf_counter() - t
        t2 = time.perf_counter()
        for _ in range(100):
            snapshot_serializer(reg, get_serializer("numpy"))
        out["later_us"] = (time.perf_counter() - t2) / 100 * 1e6
        out["first_ms"] = first * 1000
    out["seconds"] = time.perf_counter() - t
    out["growth_mib"] = rss() - base
    out["payload_mib"] = mb
    print(json.dumps(out))
    """
)


def run(case: str, work: Path, mb: int) -> dict[str, float]:
    """Run one measurement in a fresh process and return its JSON record."""
    proc = subprocess.run([sys.executable, "-c", WORKER, case, str(work), str(mb)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure, then print a markdown table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-objects-") as tmp:
        work = Path(tmp)
        run("save_object", work, 1)  # warm-up: creates the catalog and the snapshot
        results: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.repeats):
            for case in ("floor_save", "save_object", "floor_load", "load_object"):
                results.setdefault(case, []).append(run(case, work, args.mb))
        snap = run("snapshot", work, 1)

    def med(case: str, key: str = "seconds") -> float:
        return statistics.median(r[key] for r in results[case])

    print(f"### Objects — NumPy float64 array of {args.mb} MiB, {args.repeats} interleaved repeats\n")
    print("| operation | median s | min–max s | × floor (median) | RSS growth MiB | × payload |")
    print("|---|---|---|---|---|---|")
    for case, floor in (("floor_save", "floor_save"), ("save_object", "floor_save"),
                        ("floor_load", "floor_load"), ("load_object", "floor_load")):
        secs = [r["seconds"] for r in results[case]]
        growth = med(case, "growth_mib")
        print(f"| `{case}` | {med(case):.3f} | {min(secs):.3f}–{max(secs):.3f} | {med(case) / med(floor):.2f} "
              f"| {growth:.0f} | {growth / args.mb:.2f} |")
    print(f"\nSnapshot capture: first use {snap['first_ms']:.1f} ms (store included), "
          f"later uses {snap['later_us']:.1f} µs each.")


if __name__ == "__main__":
    main()
