"""Example pipeline: ingest → transform → train → report, every step tracked as artifacts.

    python flows/example_pipeline.py            # `make run`: embedded registry + ephemeral Prefect

Each stage is a sub-flow (its own flow run), so the registry records which run read
what (``input``), wrote what (``output``) and with which source (``code``). At the end
the script prints what it registered and walks the lineage from the report back to the
raw data. Only the standard library is used for the model (least squares).
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import statistics
import tempfile
from pathlib import Path
from typing import Any

# A first run creates Prefect's database: give the ephemeral server time on a busy machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, task  # noqa: E402

from prefect_artifacts.models import Artifact
from prefect_artifacts.tasks import (
    artifact_task,
    download_artifact,
    load_object,
    log_code,
    resolve_registry,
    upload_dir,
    upload_file,
)

FOLDER = "/examples/housing"


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


@artifact_task(name="price-model", folder=FOLDER, labels=["model"], serializer="json")
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
    log_code(folder=FOLDER)
    clean_csv = download_artifact(f"{FOLDER}/housing-clean:latest", path=f"{work}/train-input/")
    model = fit_model(clean_csv, work / "checkpoints")
    upload_dir(work / "checkpoints", name="price-model-checkpoints", folder=FOLDER, labels=["model"])
    return model


@flow(name="report")
def report(work: Path) -> Artifact:
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
def pipeline() -> Artifact:
    work = Path(tempfile.mkdtemp(prefix="example-pipeline-"))
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


def main() -> None:
    report_art = pipeline()
    reg = resolve_registry()
    runs = {e.run_id for e in reg.lineage(report_art.id).edges}  # the four stage runs
    print(f"\nRegistered by this pipeline (registry home: {reg.settings.home}):")
    print(f"  {'artifact':<48} {'kind':<9} {'size':>8}  {'sha256':<12}  used as")
    for art in reg.iter(folder=FOLDER, sort_by="created"):
        cats = sorted({link.category.value for link in art.runs if link.run_id in runs})
        if cats:
            print(f"  {art.ref:<48} {art.kind.value:<9} {art.size or 0:>8}  {str(art.checksum)[:12]}  "
                  f"{', '.join(cats)}")
    _print_lineage(report_art)
    print("\nEach stage's flow run has a Prefect table artifact 'artifacts-<stage>' listing these;"
          " every new artifact emitted 'prefect-artifacts.artifact.created'.")


if __name__ == "__main__":
    main()
