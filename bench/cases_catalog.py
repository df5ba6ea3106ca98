"""Catalog cases: ``list()`` pages of 50 with ``search="name:abc*"`` over 100,000 artifacts.

Plugin for ``peers.py`` (workload ``catalog``). Each worker seeds its own embedded
registry's catalog (untimed) by inserting rows directly through SQLAlchemy Core into
``artifacts``, ``artifact_files``, ``artifact_labels`` and ``folders`` — not through
100k uploads. Floors: the harness's ``sqlite_*`` rows (a minimal table), and
``pa_raw_sql_first_page`` here: the very SQL statements one ``list()`` call issues
(captured from the engine), re-run with bare ``sqlite3`` on the same catalog file.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from peers import Ctx, _latency_metrics, _percentile, case

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases_common import open_registry  # noqa: E402

PAGE = 50
SEARCH = "name:abc*"


def seed(ctx: Ctx, reg) -> int:  # noqa: ANN001
    """Insert ``catalog_rows`` artifacts (one file row and one label each); return the abc* count."""
    from sqlalchemy import insert

    from prefect_artifacts.catalog.schema import artifact_files, artifact_labels, artifacts, folders

    n = ctx.params["catalog_rows"]
    frac = ctx.params["catalog_match_frac"]
    rng = random.Random(20261123)
    letters = "abcdefghijklmnopqrstuvwxyz"

    def word(prefix: str = "") -> str:
        return prefix + "".join(rng.choice(letters) for _ in range(rng.randint(3, 8)))

    others = [w for w in (word() for _ in range(600)) if not w.startswith("abc")][:400]
    abc_words = [word("abc") for _ in range(8)]
    folder_paths = [f"/team-{t}/project-{j}" for t in "abcdefgh" for j in range(6)]
    t0 = datetime(2025, 11, 22)
    versions: dict[tuple[str, str], int] = {}
    arts, files, labels = [], [], []
    matches = 0
    for i in range(n):
        is_abc = rng.random() < frac
        matches += is_abc
        name = f"{rng.choice(abc_words) if is_abc else rng.choice(others)}-{rng.randint(0, 49)}"
        folder = rng.choice(folder_paths)
        v = versions[(folder, name)] = versions.get((folder, name), 0) + 1
        created = t0 + timedelta(seconds=i * 300 + rng.random() * 60)
        digest = f"{rng.getrandbits(256):064x}"
        size = rng.randint(100, 10**9)
        aid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        label = f"stage-{rng.choice(('dev', 'staging', 'prod'))}"
        arts.append({
            "id": aid, "group_id": "default", "folder": folder, "name": name, "version": v, "kind": "file",
            "is_dir": False, "file_count": 1, "description": f"seeded artifact {i}", "labels": [label],
            "mime_type": "application/octet-stream", "size": size, "checksum": digest,
            "original_path": f"/data/{name}.bin", "serializer_snapshot_id": None, "serializer_task": None,
            "idempotency_key": None, "created": created, "modified": created, "deleted": None,
        })
        files.append({"artifact_id": aid, "path": f"{name}.bin", "size": size, "checksum": digest,
                      "mime_type": "application/octet-stream", "uri": None, "digest": digest})
        labels.append({"artifact_id": aid, "label": label})
    parents = sorted({p for f in folder_paths for p in (f.rsplit("/", 1)[0], f)})
    with reg.catalog.engine.begin() as conn:
        conn.execute(insert(folders), [{"path": p, "created": t0} for p in parents])
        conn.execute(insert(artifacts), arts)
        conn.execute(insert(artifact_files), files)
        conn.execute(insert(artifact_labels), labels)
    return matches


def _template(ctx: Ctx) -> tuple[Path, int]:
    """A seeded catalog file in the inputs folder, built by the first worker that needs it."""
    key = f"{ctx.params['catalog_rows']}-{ctx.params['catalog_match_frac']}"
    path = ctx.inputs / f"pa-catalog-{key}.sqlite"
    meta = path.with_suffix(".json")
    if not path.exists():
        scratch = ctx.work / "seed"
        reg = open_registry(ctx, durable=False, home="seed")
        t = time.perf_counter()
        matches = seed(ctx, reg)
        ctx.extra["seed_s"] = round(time.perf_counter() - t, 2)
        reg.close()
        db = sqlite3.connect(scratch / "catalog.sqlite")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        meta.write_text(json.dumps({"matches": matches}))
        shutil.move(scratch / "catalog.sqlite", path)
    return path, json.loads(meta.read_text())["matches"]


def _setup(ctx: Ctx):  # noqa: ANN202
    template, matches = _template(ctx)
    home = ctx.work / "pa-home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, home / "catalog.sqlite")  # a private copy of the seeded catalog
    reg = open_registry(ctx, durable=True)
    ctx.extra["rows"] = ctx.params["catalog_rows"]
    ctx.extra["matches"] = matches
    ctx.check(reg.count() == ctx.params["catalog_rows"], "seeding failed")
    return reg, matches


def _list(reg, cursor=None, index=0):  # noqa: ANN001, ANN202
    return reg.list(index=index, page_length=PAGE, search=SEARCH, descending=True, cursor=cursor)


def _capture_sql(reg):  # noqa: ANN001, ANN202
    from sqlalchemy import event

    seen: list[tuple[str, object]] = []

    def hook(_conn, _cursor, statement, parameters, _context, _many):  # noqa: ANN001, ANN202
        seen.append((statement, parameters))

    event.listen(reg.catalog.engine, "before_cursor_execute", hook)
    try:
        _list(reg)
    finally:
        event.remove(reg.catalog.engine, "before_cursor_execute", hook)
    return [(s, p) for s, p in seen if s.lstrip().upper().startswith("SELECT")]


def _plans(ctx: Ctx, reg) -> list[tuple[str, object]]:  # noqa: ANN001
    stmts = _capture_sql(reg)
    db = sqlite3.connect(reg.catalog.engine.url.database)
    ctx.extra["sql"] = [s for s, _ in stmts]
    ctx.extra["plans"] = [[r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + s, p)] for s, p in stmts]
    db.close()
    return stmts


@case("catalog", "pa_list_first_page", kind="candidate",
      what=f"reg.list(page_length={PAGE}, search='{SEARCH}', descending=True), first page, repeated "
      "(includes the total count and building the models)")
def catalog_pa_first(ctx: Ctx) -> None:
    reg, matches = _setup(ctx)
    _plans(ctx, reg)
    for _ in range(10):
        _list(reg)
    samples, rows = [], []
    with ctx.timed():
        for _ in range(ctx.params["catalog_queries"]):
            t = time.perf_counter()
            page = _list(reg)
            samples.append(time.perf_counter() - t)
            rows.append(len(page.data))
    ctx.check(rows[0] == min(PAGE, matches) and page.total == matches, "wrong first page")
    ctx.check(all(a.name.lower().startswith("abc") for a in page.data), "search returned non-matching names")
    _latency_metrics(ctx, samples, rows)


def _walk(reg, keyset: bool) -> tuple[list[float], list[int], list[str]]:  # noqa: ANN001
    samples, rows, names = [], [], []
    cursor = None
    index = 0
    while True:
        t = time.perf_counter()
        page = _list(reg, cursor=cursor) if keyset else _list(reg, index=index)
        samples.append(time.perf_counter() - t)
        rows.append(len(page.data))
        names += [a.id for a in page.data]
        if keyset:
            cursor = page.next_cursor
            if cursor is None:
                return samples, rows, names
        else:
            index += PAGE
            if index >= page.total:
                return samples, rows, names


def _pages(ctx: Ctx, keyset: bool) -> None:
    reg, matches = _setup(ctx)
    _, _, ids = _walk(reg, keyset)  # warm-up walk
    ctx.check(len(ids) == matches and len(set(ids)) == matches, f"walk saw {len(ids)} of {matches}")
    target = ctx.params["catalog_queries"]
    walks: list[list[float]] = []
    samples: list[float] = []
    rows: list[int] = []
    with ctx.timed():
        while len(samples) < target:
            s, r, _ = _walk(reg, keyset)
            walks.append(s)
            samples += s
            rows += r
    n_pages = len(walks[0])
    ctx.extra["pages_per_walk"] = n_pages
    ctx.extra["walks"] = len(walks)
    first = [w[0] for w in walks]
    deep = [x for w in walks for x in w[n_pages // 2:]]
    last = [w[-1] for w in walks]
    _latency_metrics(ctx, samples, rows)
    ctx.metrics["first_p50_ms"] = _percentile(first, 0.5) * 1000
    ctx.metrics["deep_p50_ms"] = _percentile(deep, 0.5) * 1000
    ctx.metrics["last_p50_ms"] = _percentile(last, 0.5) * 1000
    ctx.metrics["deep_over_first"] = ctx.metrics["deep_p50_ms"] / ctx.metrics["first_p50_ms"]


@case("catalog", "pa_list_keyset_pages", kind="candidate",
      what="every page of the same list() via page.next_cursor (keyset); deep = second half of the pages")
def catalog_pa_keyset(ctx: Ctx) -> None:
    _pages(ctx, keyset=True)


@case("catalog", "pa_list_offset_pages", kind="candidate",
      what="every page of the same list() via index= (LIMIT/OFFSET), for comparison")
def catalog_pa_offset(ctx: Ctx) -> None:
    _pages(ctx, keyset=False)


@case("catalog", "pa_raw_sql_first_page", kind="floor",
      what="the SELECTs one list() call issues (page + count + runs), captured and re-run with bare sqlite3 "
      "on the same seeded catalog: the floor for pa_list_first_page")
def catalog_pa_raw(ctx: Ctx) -> None:
    reg, _matches = _setup(ctx)
    stmts = _plans(ctx, reg)
    path = reg.catalog.engine.url.database
    reg.close()
    db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    for _ in range(10):
        for s, p in stmts:
            db.execute(s, p).fetchall()
    samples, rows = [], []
    with ctx.timed():
        for _ in range(ctx.params["catalog_queries"]):
            t = time.perf_counter()
            n = 0
            for s, p in stmts:
                n = len(db.execute(s, p).fetchall()) or n
            samples.append(time.perf_counter() - t)
            rows.append(n)
    _latency_metrics(ctx, samples, rows)
