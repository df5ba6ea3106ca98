#!/usr/bin/env python3
"""Embedded ``upload_dir`` of a folder of large files (a sharded checkpoint) against ``cp -r`` + ``sync``.

Both copy the same cached folder into a fresh target with the page cache pre-touched
(`pagecache.pretouch`), after the previous target was deleted and synced, and end with
the data on disk: ``cp -r`` then ``sync -f`` on the target, the registry with its
shipped durable writes. Rounds alternate which goes first.

Usage:
    .venv/bin/python bench/bench_shards.py                     # 4 x 256 MiB, 6 rounds
    .venv/bin/python bench/bench_shards.py --shards 8 --shard-mib 128 --rounds 4
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench_server import embedded, make_file, warm
from pagecache import pretouch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--shard-mib", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    total = args.shards * args.shard_mib
    with tempfile.TemporaryDirectory(prefix="pa-shards-") as tmp:
        work = Path(tmp)
        src = work / "ckpt"
        src.mkdir()
        for i in range(args.shards):
            warm(make_file(src / f"shard-{i}.bin", args.shard_mib))
        times: dict[str, list[float]] = {"cp": [], "upload_dir": []}
        for rnd in range(args.rounds):
            order = ["cp", "upload_dir"] if rnd % 2 == 0 else ["upload_dir", "cp"]
            for who in order:
                target = work / f"{who}-{rnd}"
                pretouch(work, 2 * total * 1024 * 1024)
                t = time.perf_counter()
                if who == "cp":
                    subprocess.run(["cp", "-r", str(src), str(target)], check=True)
                    subprocess.run(["sync", "-f", str(target)], check=True)
                else:
                    reg = embedded(target)
                    reg.upload_dir(src, name="ckpt")
                    reg.close()
                times[who].append(time.perf_counter() - t)
                shutil.rmtree(target)
                os.sync()  # the deletes' discards (ext4 `discard` here) must not land in the next timing
                time.sleep(1)
            print(f"round {rnd}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = sorted(u / c for u, c in zip(times["upload_dir"], times["cp"], strict=True))
    print(f"{args.shards} x {args.shard_mib} MiB: upload_dir {med['upload_dir']:.3f} s, "
          f"cp -r + sync {med['cp']:.3f} s; ratio median {statistics.median(ratios):.2f} "
          f"({ratios[0]:.2f}-{ratios[-1]:.2f})")


if __name__ == "__main__":
    main()
