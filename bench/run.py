#!/usr/bin/env python3
"""prefect-artifacts benchmarks (issue 2): the embedded registry against floors and peers.

Runs the shared harness ``../shared/bench/peers.py`` (floors: ``cp``, SHA-256, the
one-pass read+hash+write copy, fsspec, the naive content-addressed SQLite registry;
peers: MLflow, Prefect) with this folder's ``cases_*.py`` as plugins, so every
``prefect_artifacts`` figure is a ratio against a floor measured in the same run
(each measurement in its own worker process, round-robin, warm-up round uncounted).
Then it checks the issue's targets and writes JSON plus a markdown report.

Usage:
    python bench/run.py                       # everything (~10 min on 2 cores)
    python bench/run.py --quick               # small sizes, a smoke run
    python bench/run.py --cases large,memory --repeats 5
    python bench/run.py --out bench/out/results.json

Cases: ``large`` (1 GiB upload_file / as_local_file / re-registration), ``memory``
(peak RSS while uploading and downloading 2 GiB), ``small`` (1,000 durable 4 KiB
uploads), ``dir`` (upload_dir of 10,000 x 1 KiB), ``catalog`` (list over 100,000).

The harness is looked up at ``$PREFECT_ARTIFACTS_PEERS`` or ``../shared/bench/peers.py``
next to the repository (``--peers`` overrides).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PLUGINS = [HERE / f"cases_{w}.py" for w in ("large", "small", "dir", "catalog")]
CASES = ("large", "memory", "small", "dir", "catalog")
#: harness systems run next to ours (prefect_persisted_result is left out: 13 s and 7 GiB per run, no target)
FLOORS = {
    "large": "cp,hashlib_sha256,fsspec_put_file,copy_sha256_1pass,copy_sha256_1pass_fsync,mlflow_log_artifact",
    "small": "shutil_copyfile,cas_sqlite,cas_sqlite_durable,mlflow_log_artifact,prefect_link_artifact",
    "dir": "cp_r,fsspec_put_recursive,mlflow_log_artifacts,cas_sqlite_1tx",
    "catalog": "sqlite_first_page,sqlite_keyset_pages,sqlite_offset_pages,sqlite_count",
}
BASELINE_PREFECT_LINK_PER_S = 87.9  # ../shared/bench/baseline-2026-11-22.md, prefect_link_artifact


def find_peers(explicit: str | None) -> Path:
    candidates = [explicit, os.environ.get("PREFECT_ARTIFACTS_PEERS"),
                  str(HERE.parent.parent / "shared" / "bench" / "peers.py")]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c).resolve()
    raise SystemExit("bench/run.py needs the shared harness peers.py: pass --peers PATH or set "
                     "PREFECT_ARTIFACTS_PEERS (looked in ../shared/bench/peers.py)")


def load_peers(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("peers", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["peers"] = mod  # the plugins do `from peers import case, Ctx`
    spec.loader.exec_module(mod)
    return mod


def run_harness(peers: Any, argv: list[str]) -> dict[str, Any]:
    out = argv[argv.index("--out") + 1]
    print("+ peers.py " + " ".join(argv), flush=True)
    peers.REGISTRY.clear()  # re-registered by load_plugins + the module's own cases
    spec = importlib.util.spec_from_file_location("peers", peers.__file__)
    assert spec and spec.loader
    spec.loader.exec_module(peers)
    rc = peers.main(argv)
    doc = json.loads(Path(out).read_text())
    doc["exit_code"] = rc
    doc["argv"] = argv
    return doc


# -- targets ---------------------------------------------------------------------------


def _res(doc: dict[str, Any] | None, workload: str, system: str) -> dict[str, Any] | None:
    if not doc:
        return None
    for r in doc["results"]:
        if r["workload"] == workload and r["system"] == system and r.get("summary"):
            return r
    return None


def _m(r: dict[str, Any] | None, key: str, stat: str = "median") -> float | None:
    if r is None or key not in r["summary"]:
        return None
    return r["summary"][key][stat]


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _row(target: str, measured: str, ratio_med: float | None, ratio_min: float | None, bound: str,
         ok: bool | None, note: str = "") -> dict[str, Any]:
    return {"target": target, "measured": measured, "ratio_median": ratio_med, "ratio_min": ratio_min,
            "bound": bound, "met": ok, "note": note}


def _fmt(v: float | None, nd: int = 3) -> str:
    return "–" if v is None else f"{v:.{nd}g}" if abs(v) < 1000 else f"{v:,.0f}"


def evaluate(main: dict[str, Any] | None, mem: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def time_ratio(target: str, w: str, sys_a: str, sys_b: str, bound: float, cmp: str = "<=",
                   note: str = "") -> None:
        a, b = _res(main, w, sys_a), _res(main, w, sys_b)
        if a is None or b is None:
            return
        med = _ratio(_m(a, "op_s"), _m(b, "op_s"))
        best = _ratio(_m(a, "op_s", "min"), _m(b, "op_s", "min"))
        ok = None if bound is None or med is None else (med <= bound if cmp == "<=" else med >= bound)
        measured = f"{_fmt(_m(a, 'op_s'))} s vs {_fmt(_m(b, 'op_s'))} s"
        rows.append(_row(target, measured, med, best, f"{cmp} {bound}" if bound else "info", ok, note))

    # (1) large upload / download
    time_ratio("1 upload_file 1 GiB ÷ copy_sha256_1pass", "large", "pa_upload_file", "copy_sha256_1pass", 1.1)
    time_ratio("1 upload_file 1 GiB ÷ cp", "large", "pa_upload_file", "cp", None)
    time_ratio("1 upload_file durable ÷ copy_sha256_1pass_fsync", "large", "pa_upload_file_durable",
               "copy_sha256_1pass_fsync", 1.1, note="the library default (fsync) against a floor that fsyncs too")
    time_ratio("1 as_local_file 1 GiB ÷ copy_sha256_1pass", "large", "pa_as_local_file", "copy_sha256_1pass", 1.1)
    time_ratio("1 as_local_file 1 GiB ÷ cp", "large", "pa_as_local_file", "cp", None)
    # (2) memory
    for sysname, label in (("pa_upload_file", "upload_file"), ("pa_as_local_file", "as_local_file")):
        r = _res(mem, "large", sysname)
        if r is not None:
            worst = _m(r, "op_rss_growth_mib", "max")
            size = mem["params"]["large_mib"]
            rows.append(_row(f"2 peak RSS growth, {label} of {size} MiB", f"{_fmt(_m(r, 'op_rss_growth_mib'))} MiB "
                             f"(max {_fmt(worst)}; op peak {_fmt(_m(r, 'op_peak_rss_mib'))} MiB)",
                             None, None, "<= 64 MiB", worst is not None and worst <= 64,
                             "VmHWM during the op minus RSS just before it (library imported, registry open)"))
    # (3) re-registration
    a, first = _res(main, "large", "pa_reupload_cached"), _res(main, "large", "pa_upload_file")
    if a is not None and first is not None:
        med = _ratio(_m(a, "op_s"), _m(first, "op_s"))
        rows.append(_row("3 re-register unchanged 1 GiB (digest cache) ÷ first upload", f"{_fmt(_m(a, 'op_s'))} s vs "
                         f"{_fmt(_m(first, 'op_s'))} s; new bytes {_fmt(_m(a, 'new_bytes_stored', 'max'))}",
                         med, _ratio(_m(a, "op_s", "min"), _m(first, "op_s", "min")), "<= 0.1",
                         med is not None and med <= 0.1 and _m(a, "new_bytes_stored", "max") == 0,
                         f"same-process first upload: {_fmt(_m(a, 'first_upload_s'))} s"))
    a = _res(main, "large", "pa_reupload_nocache")
    if a is not None:
        time_ratio("3 re-register, cache off ÷ hashlib_sha256", "large", "pa_reupload_nocache", "hashlib_sha256",
                   1.05, note=f"new bytes stored: {_fmt(_m(a, 'new_bytes_stored', 'max'))}")
    # (4) small durable uploads
    pa = _res(main, "small", "pa_upload_file_durable")
    if pa is not None:
        for ref, bound, note in (("cas_sqlite_durable", 0.6, ""), ("mlflow_log_artifact", None, ""),
                                 ("prefect_link_artifact", None, "")):
            r = _res(main, "small", ref)
            if r is None and ref == "prefect_link_artifact":
                rows.append(_row("4 small durable artifacts/s ÷ prefect_link_artifact (baseline)",
                                 f"{_fmt(_m(pa, 'per_s'))}/s vs {BASELINE_PREFECT_LINK_PER_S}/s",
                                 _ratio(_m(pa, "per_s"), BASELINE_PREFECT_LINK_PER_S), None, "info", None,
                                 "Prefect not run here: figure quoted from baseline-2026-11-22.md"))
                continue
            if r is None:
                continue
            med = _ratio(_m(pa, "per_s"), _m(r, "per_s"))
            best = _ratio(_m(pa, "per_s", "max"), _m(r, "per_s", "max"))
            rows.append(_row(f"4 small durable artifacts/s ÷ {ref}", f"{_fmt(_m(pa, 'per_s'))}/s vs "
                             f"{_fmt(_m(r, 'per_s'))}/s", med, best, f">= {bound}" if bound else "info",
                             None if bound is None else med is not None and med >= bound, note))
    pa = _res(main, "small", "pa_upload_file")
    r = _res(main, "small", "cas_sqlite")
    if pa is not None and r is not None:
        rows.append(_row("4 small non-durable artifacts/s ÷ cas_sqlite", f"{_fmt(_m(pa, 'per_s'))}/s vs "
                         f"{_fmt(_m(r, 'per_s'))}/s", _ratio(_m(pa, "per_s"), _m(r, "per_s")),
                         _ratio(_m(pa, "per_s", "max"), _m(r, "per_s", "max")), "info", None))
    # (5) directories
    time_ratio("5 upload_dir 10k files (durable) ÷ mlflow_log_artifacts", "dir", "pa_upload_dir_durable",
               "mlflow_log_artifacts", 1.0)
    time_ratio("5 upload_dir 10k files (durable=False) ÷ mlflow_log_artifacts", "dir", "pa_upload_dir",
               "mlflow_log_artifacts", 1.0)
    time_ratio("5 upload_dir (durable=False) ÷ cas_sqlite_1tx", "dir", "pa_upload_dir", "cas_sqlite_1tx", None)
    # (6) catalog
    first = _res(main, "catalog", "pa_list_first_page")
    if first is not None:
        p50 = _m(first, "p50_ms")
        raw = _res(main, "catalog", "pa_raw_sql_first_page")
        floor = _res(main, "catalog", "sqlite_first_page")
        rows.append(_row("6 list first page (50, name:abc*) p50", f"{_fmt(p50)} ms (p95 {_fmt(_m(first, 'p95_ms'))})",
                         _ratio(p50, _m(raw, "p50_ms")), _ratio(p50, _m(floor, "p50_ms")), "<= 5 ms",
                         p50 is not None and p50 <= 5,
                         f"ratios: ÷ same SQL on bare sqlite3 ({_fmt(_m(raw, 'p50_ms'))} ms), "
                         f"÷ harness sqlite_first_page ({_fmt(_m(floor, 'p50_ms'))} ms)"))
    ks = _res(main, "catalog", "pa_list_keyset_pages")
    if ks is not None:
        rows.append(_row("6 deep keyset pages ÷ first page (p50)", f"deep {_fmt(_m(ks, 'deep_p50_ms'))} ms, first "
                         f"{_fmt(_m(ks, 'first_p50_ms'))} ms, last {_fmt(_m(ks, 'last_p50_ms'))} ms",
                         _m(ks, "deep_over_first"), _m(ks, "deep_over_first", "min"), "<= 2",
                         (_m(ks, "deep_over_first") or 99) <= 2))
    off = _res(main, "catalog", "pa_list_offset_pages")
    if off is not None:
        rows.append(_row("6 (info) OFFSET pages deep ÷ first", f"deep {_fmt(_m(off, 'deep_p50_ms'))} ms",
                         _m(off, "deep_over_first"), _m(off, "deep_over_first", "min"), "info", None))
    return rows


def render_targets(rows: list[dict[str, Any]]) -> str:
    out = ["| target | measured (median) | ratio (median) | ratio (best/best) | bound | met |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        met = "–" if r["met"] is None else ("**met**" if r["met"] else "**MISSED**")
        note = f" — {r['note']}" if r["note"] else ""
        out.append(f"| {r['target']} | {r['measured']}{note} | {_fmt(r['ratio_median'])} | {_fmt(r['ratio_min'])} "
                   f"| {r['bound']} | {met} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one round: a smoke run")
    ap.add_argument("--cases", default=",".join(CASES), help="comma list of %(default)s")
    ap.add_argument("--out", default=str(HERE / "out" / "results.json"))
    ap.add_argument("--repeats", type=int, default=None, help="measured rounds (default 3; --quick 1)")
    ap.add_argument("--warmup", type=int, default=None, help="uncounted rounds first (default 1; --quick 0)")
    ap.add_argument("--no-prefect", action="store_true", help="skip prefect_link_artifact (starts a server)")
    ap.add_argument("--memory-mib", type=int, default=None, help="file size of the memory case (default 2048)")
    ap.add_argument("--peers", default=None, help="path of the shared harness peers.py")
    ap.add_argument("--data-dir", default=None, help="scratch folder (default: a new temp dir, deleted)")
    args = ap.parse_args(argv)
    chosen = [c.strip() for c in args.cases.split(",") if c.strip()]
    bad = [c for c in chosen if c not in CASES]
    if bad:
        raise SystemExit(f"unknown case(s) {bad}; choose from {CASES}")

    peers = load_peers(find_peers(args.peers))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    repeats = args.repeats or (1 if args.quick else 3)
    warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
    sizes = (["--large-mib", "64", "--small-n", "100", "--dir-n", "500", "--catalog-rows", "5000",
              "--catalog-queries", "30"] if args.quick else [])
    mem_mib = args.memory_mib or (128 if args.quick else 2048)
    data = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="pa-bench-"))
    common = ["--repeats", str(repeats), "--warmup", str(warmup), *(f for p in PLUGINS for f in ("--plugin", str(p)))]

    main_doc = mem_doc = None
    try:
        workloads = [w for w in ("large", "small", "dir", "catalog") if w in chosen]
        for w in workloads:  # one harness run per workload: a finished workload survives a later failure
            systems = FLOORS[w] + ",pa_*"
            if args.no_prefect or args.quick:
                systems = systems.replace(",prefect_link_artifact", "")
            part = run_harness(peers, ["--workloads", w, "--systems", systems, *sizes, *common,
                                       "--data-dir", str(data / w), "--out", str(out.with_suffix(f".{w}.json"))])
            if main_doc is None:
                main_doc = {**part, "argv": [part["argv"]], "total_s": part["total_s"]}
            else:
                main_doc["results"] += part["results"]
                main_doc["argv"].append(part["argv"])
                main_doc["total_s"] += part["total_s"]
                main_doc["manifest"].update(part["manifest"])
        if "memory" in chosen:
            mem_doc = run_harness(peers, ["--workloads", "large", "--large-mib", str(mem_mib), "--systems",
                                          "copy_sha256_1pass,pa_upload_file,pa_as_local_file",
                                          "--repeats", str(min(repeats, 2)), "--warmup", "0",
                                          *(f for p in PLUGINS for f in ("--plugin", str(p))),
                                          "--data-dir", str(data / "memory"),
                                          "--out", str(out.with_suffix(".memory.json"))])
    finally:
        if not args.data_dir:
            shutil.rmtree(data, ignore_errors=True)

    rows = evaluate(main_doc, mem_doc)
    doc = {"command": "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "targets": rows, "main": main_doc, "memory": mem_doc}
    out.write_text(json.dumps(doc, indent=1, default=str))
    for part in ("large", "small", "dir", "catalog", "memory"):
        out.with_suffix(f".{part}.json").unlink(missing_ok=True)
    md = ["## Targets (issue 2)", "", render_targets(rows), ""]
    for title, d in (("Main run", main_doc), ("Memory run", mem_doc)):
        if d:
            argvs = d["argv"] if isinstance(d["argv"][0], list) else [d["argv"]]
            md += [f"## {title}", "", *(f"- `peers.py {' '.join(a)}`" for a in argvs), "",
                   f"environment: {json.dumps(d['environment'])}",
                   f"packages: {json.dumps(d['packages'])}", "", peers.render_markdown(d), ""]
    md_path = out.with_suffix(".md")
    md_path.write_text("\n".join(md))
    print("\n" + render_targets(rows))
    print(f"\nJSON: {out}\nmarkdown: {md_path}")
    failed = [r for d in (main_doc, mem_doc) if d for r in d["results"] if r.get("status") == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
