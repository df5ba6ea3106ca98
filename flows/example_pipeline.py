"""Example pipeline: ingest → transform → train → report, every step tracked as artifacts.

    python flows/example_pipeline.py            # `make run`: embedded registry + ephemeral Prefect

Each stage is a sub-flow (its own flow run), so the registry records which run read
what (``input``), wrote what (``output``) and with which source (``code``). At the end
the script prints what this run registered, walks the lineage from the report back to
the raw data, and says which commands to try next. Only the standard library is used
for the model (least squares).

Where it writes (all inside the clone, in ``.example/``, unless set otherwise):

- the registry home ``.example/registry`` (``PREFECT_ARTIFACTS_HOME``): every run adds a
  version of each artifact there, so ``prefect-artifacts ls`` shows them afterwards;
- Prefect's home ``.example/prefect`` (``PREFECT_HOME``): the database of the temporary
  Prefect server the run starts (flow runs, the stages' table and lineage artifacts)
  and Prefect's persisted task results. With ``PREFECT_API_URL`` set, the run goes to
  that server instead and Prefect's home is left as it is.

The stages work in a temporary folder removed at the end. ``rm -rf .example`` (or ``make
clean``) removes everything the example wrote.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DIR = ROOT / ".example"
os.environ.setdefault("PREFECT_ARTIFACTS_HOME", str(EXAMPLE_DIR / "registry"))
if not os.environ.get("PREFECT_API_URL"):
    os.environ.setdefault("PREFECT_HOME", str(EXAMPLE_DIR / "prefect"))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
# A first run creates Prefect's database: give the temporary server time on a busy machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry (and no error when offline)

from prefect import flow, task  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402

from prefect_artifacts.models import Artifact  # noqa: E402
from prefect_artifacts.tasks import (  # noqa: E402
    artifact_task,
    download_artifact,
    load_object,
    log_code,
    resolve_registry,
    upload_dir,
    upload_file,
)

FOLDER = "/examples/housing"
#: The flow run ids of this invocation's stages (sub-flows run in this process).
STAGE_RUNS: list[str] = []


def _stage_started() -> None:
    STAGE_RUNS.append(str(flow_run.id))


@task
def generate_raw(path: Path, rows: int = 500, seed: int = 7) -> Path:
    """Write a synthetic housing dataset (size, rooms, age → price), with a few bad rows."""
    rng = random.Random(seed)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["size_m2", "rooms", "age_years", "price_k"])
        for i in range(rows):
            size = rng.uniform(30, 200)
            rooms = max(1, round(size / 30 + rng.gauss(0, 0.7)))
            age = rng.uniform(0, 80)
            price = 1.9 * size + 12 * rooms - 0.8 * age + rng.gauss(0, 15)
            if i % 97 == 0:
                writer.writerow([f"{size:.1f}", rooms, "", f"{price:.1f}"])  # missing age
            else:
                writer.writerow([f"{size:.1f}", rooms, f"{age:.1f}", f"{price:.1f}"])
    return path


@flow(name="ingest")
def ingest(work: Path) -> Artifact:
    _stage_started()
    log_code(folder=FOLDER)
    raw = generate_raw(work / "housing_raw.csv")
    return upload_file(raw, name="housing-raw", folder=FOLDER, labels=["raw", "example"],
                       description="Synthetic housing prices, as collected (with missing values).")


@task
def clean_rows(raw_csv: Path, out: Path) -> dict[str, Any]:
    """Drop incomplete rows, add the feature columns; return counts for the metadata."""
    kept = dropped = 0
    with raw_csv.open() as src, out.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.writer(dst)
        writer.writerow(["size_m2", "rooms", "age_years", "price_k"])
        for row in reader:
            if not all(row.values()):
                dropped += 1
                continue
            writer.writerow([row["size_m2"], row["rooms"], row["age_years"], row["price_k"]])
            kept += 1
    return {"rows": kept, "dropped": dropped}


@flow(name="transform")
def transform(work: Path) -> Artifact:
    _stage_started()
    log_code(folder=FOLDER)
    raw_csv = download_artifact(f"{FOLDER}/housing-raw:latest", path=f"{work}/download/")
    counts = clean_rows(raw_csv, work / "housing_clean.csv")
    return upload_file(work / "housing_clean.csv", name="housing-clean", folder=FOLDER, labels=["clean"],
                       metadata=counts, description="Complete rows only.")


def _read_xy(path: Path) -> tuple[list[list[float]], list[float]]:
    xs, ys = [], []
    with path.open() as f:
        for row in csv.DictReader(f):
            xs.append([1.0, float(row["size_m2"]), float(row["rooms"]), float(row["age_years"])])
            ys.append(float(row["price_k"]))
    return xs, ys


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (tiny systems only)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            factor = m[r][col] / m[col][col]
            for c in range(col, n + 1):
                m[r][c] -= factor * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


@artifact_task(artifact_name="price-model", folder=FOLDER, labels=["model"], serializer="json")
def fit_model(clean_csv: Path, checkpoints: Path) -> dict[str, Any]:
    """Least-squares linear model of the price, with one checkpoint per fold."""
    xs, ys = _read_xy(clean_csv)
    checkpoints.mkdir(parents=True, exist_ok=True)
    folds = 3
    for k in range(folds):  # k-fold fits, kept as checkpoints
        idx = [i for i in range(len(xs)) if i % folds != k]
        w = _fit([xs[i] for i in idx], [ys[i] for i in idx])
        (checkpoints / f"fold-{k}.json").write_text(json.dumps({"fold": k, "weights": w}))
    weights = _fit(xs, ys)
    return {"features": ["bias", "size_m2", "rooms", "age_years"], "weights": weights, "trained_on": len(xs)}


def _fit(xs: list[list[float]], ys: list[float]) -> list[float]:
    d = len(xs[0])
    xtx = [[sum(x[i] * x[j] for x in xs) for j in range(d)] for i in range(d)]
    xty = [sum(x[i] * y for x, y in zip(xs, ys, strict=True)) for i in range(d)]
    return _solve(xtx, xty)


@flow(name="train")
def train(work: Path) -> dict[str, Any]:
    _stage_started()
    log_code(folder=FOLDER)
    clean_csv = download_artifact(f"{FOLDER}/housing-clean:latest", path=f"{work}/train-input/")
    model = fit_model(clean_csv, work / "checkpoints")
    upload_dir(work / "checkpoints", name="price-model-checkpoints", folder=FOLDER, labels=["model"])
    return model


@flow(name="report")
def report(work: Path) -> Artifact:
    _stage_started()
    log_code(folder=FOLDER)
    model = load_object(f"{FOLDER}/price-model:latest")
    clean_csv = download_artifact(f"{FOLDER}/housing-clean:latest", path=f"{work}/report-input/")
    xs, ys = _read_xy(clean_csv)
    preds = [sum(w * x for w, x in zip(model["weights"], row, strict=True)) for row in xs]
    residuals = [y - p for y, p in zip(ys, preds, strict=True)]
    rmse = math.sqrt(statistics.fmean(r * r for r in residuals))
    r2 = 1 - sum(r * r for r in residuals) / sum((y - statistics.fmean(ys)) ** 2 for y in ys)
    lines = ["# Housing price model", "", f"Trained on {model['trained_on']} rows.", "",
             "| feature | weight |", "| --- | ---: |",
             *[f"| {f} | {w:.3f} |" for f, w in zip(model["features"], model["weights"], strict=True)],
             "", f"RMSE: {rmse:.2f} k, R²: {r2:.3f}"]
    (work / "report.md").write_text("\n".join(lines) + "\n")
    return upload_file(work / "report.md", name="housing-report", folder=FOLDER, labels=["report"],
                       metadata={"rmse": round(rmse, 3), "r2": round(r2, 4)})


@flow(name="example-pipeline")
def pipeline(work: Path) -> Artifact:
    ingest(work)
    transform(work)
    train(work)
    return report(work)


def _print_lineage(report_art: Artifact) -> None:
    reg = resolve_registry()
    graph = reg.lineage(report_art.id)
    by_id = {a.id: a for a in graph.artifacts}
    by_id.setdefault(report_art.id, report_art)

    def producers_inputs(art_id: str) -> tuple[list[str], list[str]]:
        runs = {e.run_id for e in graph.edges if e.artifact_id == art_id and e.category.value == "output"}
        used = [e for e in graph.edges if e.run_id in runs and e.artifact_id != art_id]
        data = sorted({e.artifact_id for e in used if e.category.value == "input"})
        code = sorted({e.artifact_id for e in used if e.category.value == "code"})
        return data, code

    def label(art_id: str) -> str:
        art = by_id.get(art_id) or reg.get(art_id)
        return f"{art.ref}  [{art.kind.value}, {art.size} B, sha256 {str(art.checksum)[:12]}]"

    def show(art_id: str, depth: int, seen: frozenset[str]) -> None:
        data, code = producers_inputs(art_id)
        code_refs = ", ".join((by_id.get(c) or reg.get(c)).ref.rsplit("/", 1)[-1] for c in code)
        print(f"  {'    ' * depth}{'└─ ' if depth else ''}{label(art_id)}"
              + (f"  written with code {code_refs}" if code_refs else ""))
        for up in sorted(data, key=lambda a: (by_id.get(a) or reg.get(a)).ref):  # stable order
            if up not in seen:
                show(up, depth + 1, seen | {up})

    print("\nLineage (each artifact ← the inputs of the flow run that wrote it):")
    show(report_art.id, 0, frozenset({report_art.id}))


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when inside it (shorter commands to copy)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _next_steps(reg: Any, report_art: Artifact) -> None:
    cli = _shown(Path(sys.executable).parent / "prefect-artifacts")
    home = _shown(Path(reg.settings.home))
    print("\nNext, in this shell (the registry is the one this run wrote):")
    print(f"  export PREFECT_ARTIFACTS_HOME={home}")
    print(f"  {cli} ls --folder {FOLDER}            # every version: this run's and earlier ones")
    print(f"  {cli} show {report_art.ref}    # its files, metadata and runs")
    print(f"  {cli} lineage {report_art.ref}    # the tree above, from the catalog")
    print(f"  {cli} ui                      # the same in a browser: previews, diffs, lineage")
    if os.environ.get("PREFECT_API_URL"):
        print(f"\nEach stage's flow run has a Prefect table artifact 'artifacts-<stage>' and a lineage graph"
              f" 'lineage-<stage>' on {os.environ['PREFECT_API_URL']}.")
    else:
        prefect_home = _shown(Path(os.environ["PREFECT_HOME"]))
        prefect = _shown(Path(sys.executable).parent / "prefect")
        print(f"\nEach stage's flow run published a Prefect table artifact 'artifacts-<stage>' and a lineage graph"
              f" 'lineage-<stage>' to the temporary Prefect server, which has stopped; its database is kept in"
              f" {prefect_home}: `PREFECT_HOME={prefect_home} {prefect} server start`"
              f" shows them in the UI."
              f"\nThis run wrote only under {_shown(EXAMPLE_DIR)}/ (`rm -rf {_shown(EXAMPLE_DIR)}` removes it all).")


def main() -> None:
    started = datetime.now(timezone.utc)
    work = Path(tempfile.mkdtemp(prefix="example-pipeline-"))
    try:
        report_art = pipeline(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    reg = resolve_registry()
    runs = set(STAGE_RUNS)  # the four stage runs of this invocation
    registered, reused = [], []
    for art in reg.iter(folder=FOLDER, sort_by="created"):
        cats = sorted({link.category.value for link in art.runs if link.run_id in runs})
        if cats:
            (registered if art.created >= started else reused).append((art, cats))
    print(f"\nRegistered by this run (registry home: {_shown(Path(reg.settings.home))}):")
    print(f"  {'artifact':<48} {'kind':<9} {'size':>8}  {'sha256':<12}  used as")
    for art, cats in registered:
        print(f"  {art.ref:<48} {art.kind.value:<9} {art.size or 0:>8}  {str(art.checksum)[:12]}  "
              f"{', '.join(cats)}")
    if reused:
        print("Used by this run, registered by an earlier one: "
              + ", ".join(f"{art.ref} ({', '.join(cats)})" for art, cats in reused))
    _print_lineage(report_art)
    _next_steps(reg, report_art)


if __name__ == "__main__":
    main()
    # The temporary Prefect server stops at exit and says so at INFO: the next steps stay the last lines.
    logging.getLogger("prefect").setLevel(logging.WARNING)
