#!/usr/bin/env python3
"""Verified random access: the cost of checking ranges, and of building chunk indexes on upload.

Targets:

(a) a 1 MiB range of a 1 GiB blob, verified, within 2x an unverified read of the same range
    (``Registry.read`` now against ``Registry.read`` of the commit before chunk indexes, and
    against the same catalog lookup + ``read_range(verify=False)``);
(b) ``upload_file`` of 1 GiB within 1.1x ``copy_sha256_overlap`` (the harness's two-core
    floor: hash and write overlapped) and no slower than before chunk indexes.

Runs the shared harness ``../shared/bench/peers.py`` (workload ``large``) with
``cases_large.py`` and ``cases_verified.py`` as plugins: floors, "before" and "after"
round-robin in one run, each measurement in its own worker process, a warm-up round
uncounted. "Before" is a ``git archive`` of ``--before`` (default: the parent of the
commit that added ``storage/chunk_index.py``) imported from ``$PA_BEFORE_SRC``. Then a
chunk-size sweep in one process: the same blob indexed with 256 KiB, 512 KiB, 1 MiB
and 4 MiB chunks, verified and unverified 1 MiB reads interleaved.

Usage:
    python bench/bench_ranges.py                         # 1 GiB, 3 rounds (~6 min on 2 busy cores)
    python bench/bench_ranges.py --large-mib 256 --repeats 1 --warmup 0    # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SYSTEMS = ("copy_sha256_overlap,copy_sha256_1pass,pa_upload_file,pa_upload_file_before,pa_range_registry,"
           "pa_range_registry_unverified,pa_range_registry_before,pa_range_store,pa_range_store_unverified")
MIB = 1024 * 1024


def find_peers(explicit: str | None) -> Path:
    for c in (explicit, os.environ.get("PREFECT_ARTIFACTS_PEERS"), str(REPO.parent / "shared" / "bench" / "peers.py")):
        if c and Path(c).is_file():
            return Path(c).resolve()
    raise SystemExit("needs the shared harness peers.py: --peers PATH or $PREFECT_ARTIFACTS_PEERS")


def before_revision(explicit: str | None) -> str:
    if explicit:
        return explicit
    added = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--",
                            "prefect_artifacts/storage/chunk_index.py"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    if not added:
        raise SystemExit("cannot find the commit that added chunk indexes: pass --before REV")
    return added[-1] + "^"


def export_tree(rev: str, dest: Path) -> str:
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev, "prefect_artifacts"], cwd=REPO, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return subprocess.run(["git", "rev-parse", "--short", rev], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()


# -- chunk-size sweep (in one process) -------------------------------------------------------


def sweep(large: Path, work: Path, reads: int = 200) -> list[dict[str, Any]]:
    """Verified and unverified 1 MiB reads of one blob indexed with each chunk size, all interleaved.

    Each chunk size gets a store of its own holding a hard link of the same blob, re-indexed
    by ``verify``; every offset is read from each store in turn, so all see the same noise.
    """
    sys.path.insert(0, str(REPO))
    from prefect_artifacts.storage.content_store import ContentStore

    digest = ContentStore(str(work / "blob"), durable=False).put_file(large).digest
    size = large.stat().st_size
    sizes = (256 * 1024, 512 * 1024, MIB, 4 * MIB)
    stores = {}
    for chunk in sizes:
        store = ContentStore(str(work / str(chunk)), durable=False, index_chunk_size=chunk)
        Path(store.blob_path(digest)).parent.mkdir(parents=True)
        os.link(ContentStore(str(work / "blob")).blob_path(digest), store.blob_path(digest))
        store.verify(digest)  # writes its index
        stores[chunk] = ContentStore(str(work / str(chunk)), durable=False, index_chunk_size=chunk)
        assert stores[chunk].chunk_index(digest).chunk_size == chunk
    rows = []
    for aligned in (False, True):
        rng = random.Random(7 + aligned)
        offsets = [rng.randrange(0, size // MIB - 1) * MIB if aligned else rng.randrange(0, size - MIB)
                   for _ in range(reads)]
        verified: dict[int, list[float]] = {chunk: [] for chunk in sizes}
        plain: list[float] = []
        for offset in offsets:
            for chunk, store in stores.items():
                t = time.perf_counter()
                b"".join(store.read_range(digest, offset, offset + MIB))
                verified[chunk].append(time.perf_counter() - t)
            t = time.perf_counter()
            b"".join(stores[MIB].read_range(digest, offset, offset + MIB, verify=False))
            plain.append(time.perf_counter() - t)
        p = statistics.median(plain) * 1000
        for chunk in sizes:
            v = statistics.median(verified[chunk]) * 1000
            rows.append({"chunk_kib": chunk // 1024, "aligned": aligned, "verified_p50_ms": v,
                         "unverified_p50_ms": p, "ratio": v / p,
                         "sidecar_bytes": os.path.getsize(stores[chunk].index_path(digest))})
    return rows


# -- report ------------------------------------------------------------------------------------


def _res(doc: dict[str, Any], system: str) -> dict[str, Any] | None:
    return next((r for r in doc["results"] if r["system"] == system and r.get("summary")), None)


def _m(r: dict[str, Any] | None, key: str, stat: str = "median") -> float | None:
    return None if r is None or key not in r["summary"] else r["summary"][key][stat]


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _f(v: float | None, nd: int = 3) -> str:
    return "–" if v is None else f"{v:.{nd}g}"


def report(doc: dict[str, Any], swept: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    rows: list[str] = ["| target | measured (median) | ratio (median) | ratio (best/best) | bound | met |",
                       "|---|---|---|---|---|---|"]

    def add(target: str, a: str, b: str, key: str, bound: float | None, unit: str) -> None:
        ra, rb = _res(doc, a), _res(doc, b)
        med, best = _ratio(_m(ra, key), _m(rb, key)), _ratio(_m(ra, key, "min"), _m(rb, key, "min"))
        met = "info" if bound is None else ("**met**" if med is not None and med <= bound else "**MISSED**")
        rows.append(f"| {target} | {_f(_m(ra, key))} {unit} vs {_f(_m(rb, key))} {unit} | {_f(med)} | {_f(best)} "
                    f"| {'<= ' + str(bound) if bound else 'info'} | {met} |")

    add("a 1 MiB range, Registry.read verified ÷ Registry.read before (unverified), p50", "pa_range_registry",
        "pa_range_registry_before", "p50_ms", 2.0, "ms")
    add("a same, chunk-aligned ranges, p50", "pa_range_registry", "pa_range_registry_before", "aligned_p50_ms",
        2.0, "ms")
    add("a Registry.read verified ÷ lookup + read_range(verify=False), p50", "pa_range_registry",
        "pa_range_registry_unverified", "p50_ms", 2.0, "ms")
    add("a (info) ContentStore.read_range verified ÷ unverified, p50", "pa_range_store", "pa_range_store_unverified",
        "p50_ms", None, "ms")
    add("a (info) ContentStore.read_range verified ÷ unverified, aligned p50", "pa_range_store",
        "pa_range_store_unverified", "aligned_p50_ms", None, "ms")
    add("b upload_file 1 GiB ÷ copy_sha256_overlap", "pa_upload_file", "copy_sha256_overlap", "op_s", 1.1, "s")
    add("b upload_file 1 GiB ÷ upload_file before chunk indexes", "pa_upload_file", "pa_upload_file_before",
        "op_s", 1.0, "s")
    add("b (info) upload_file before ÷ copy_sha256_overlap", "pa_upload_file_before", "copy_sha256_overlap",
        "op_s", None, "s")
    add("b (info) upload_file ÷ copy_sha256_1pass", "pa_upload_file", "copy_sha256_1pass", "op_s", None, "s")
    lines = [f"load average before / after: {meta['load_before']} / {meta['load_after']}; "
             f"'before' = {meta['before']}; harness: {meta['argv']}", "", *rows, "",
             "| system | kind | wall s | p50 ms | aligned p50 ms | op user s | op sys s |",
             "|---|---|---|---|---|---|---|"]
    for r in doc["results"]:
        if r.get("summary"):
            lines.append(f"| `{r['system']}` | {r.get('kind', '')} | {_f(_m(r, 'op_s'))} ({_f(_m(r, 'op_s', 'min'))}–"
                         f"{_f(_m(r, 'op_s', 'max'))}) | {_f(_m(r, 'p50_ms'))} | {_f(_m(r, 'aligned_p50_ms'))} | "
                         f"{_f(_m(r, 'op_user_s'))} | {_f(_m(r, 'op_sys_s'))} |")
    lines += ["", "Chunk-size sweep (one process, ContentStore.read_range of 1 MiB, verified and unverified "
              "interleaved, p50 of 200):", "",
              "| index chunk | ranges | verified ms | unverified ms | ratio | sidecar of 1 GiB |",
              "|---|---|---|---|---|---|"]
    for s in swept:
        lines.append(f"| {s['chunk_kib']} KiB | {'aligned' if s['aligned'] else 'random'} | {_f(s['verified_p50_ms'])} "
                     f"| {_f(s['unverified_p50_ms'])} | {_f(s['ratio'])} | {s['sidecar_bytes']:,} B |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large-mib", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--before", help="revision of the 'before' tree (default: the parent of the chunk-index commit)")
    ap.add_argument("--peers")
    ap.add_argument("--out", default=str(HERE / "out" / "ranges.json"))
    args = ap.parse_args()
    peers = find_peers(args.peers)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="pa-ranges-"))
    try:
        rev = export_tree(before_revision(args.before), tmp / "before")
        env = {**os.environ, "PA_BEFORE_SRC": str(tmp / "before")}
        argv = ["--workloads", "large", "--large-mib", str(args.large_mib), "--systems", SYSTEMS,
                "--repeats", str(args.repeats), "--warmup", str(args.warmup), "--plugin", str(HERE / "cases_large.py"),
                "--plugin", str(HERE / "cases_verified.py"), "--data-dir", str(tmp / "data"), "--keep-data",
                "--out", str(out.with_suffix(".harness.json"))]
        load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print("+ peers.py " + " ".join(argv), flush=True)
        subprocess.run([sys.executable, str(peers), *argv], env=env, check=True)
        doc = json.loads(out.with_suffix(".harness.json").read_text())
        large = next((tmp / "data").rglob("large.bin"))
        swept = sweep(large, tmp / "sweep")
        meta = {"before": rev, "argv": "peers.py " + " ".join(argv), "load_before": load_before,
                "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg())}
        text = report(doc, swept, meta)
        out.write_text(json.dumps({"meta": meta, "sweep": swept, "harness": str(out.with_suffix(".harness.json"))},
                                  indent=2))
        out.with_suffix(".md").write_text(text)
        print(text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
