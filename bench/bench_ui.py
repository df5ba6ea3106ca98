"""Web view list page (issue 16): server time of ``GET /ui/`` over 100,000 artifacts.

    .venv/bin/python bench/bench_ui.py [--n 100000] [--rounds 20] [--home DIR]

Seeds an embedded home (untimed; kept in ``--home`` for later runs) through the public
API: one blob stored once, then ``LocalRegistry.create`` of a manifest per artifact
(names over 48 folders, labels and kinds varied). Times ``GET /ui/`` in-process through
``httpx.AsyncClient(transport=httpx.ASGITransport)`` — the whole app: routing, security
headers, folder tree, ``Registry.list`` (page of 50, total count), template — without
sockets: the median of ``--rounds`` after two warm-ups, for the first page, a deep
keyset page, a search, a label filter and each sort. Single-user (``NoAuth``); signed-in
pages add one indexed key lookup (``AuthCatalog.session_key``), timed separately.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect_artifacts._server import NoAuth, create_app  # noqa: E402
from prefect_artifacts.models import ArtifactKind, ArtifactManifest, ManifestFile  # noqa: E402
from prefect_artifacts.registry.local import LocalRegistry  # noqa: E402
from prefect_artifacts.settings import get_settings  # noqa: E402

FOLDERS = [f"/team-{t}/project-{j}" for t in "abcdefgh" for j in range(6)]
WORDS = ["alpha", "beta", "gamma", "delta", "prices", "model", "report", "logs", "weights", "metrics"]


def open_home(home: Path) -> LocalRegistry:
    settings = get_settings().model_copy(update={"home": home, "durable": False})
    return LocalRegistry.from_urls(settings=settings)


def seed(reg: LocalRegistry, n: int) -> None:
    """Create artifacts until the registry holds ``n``: one stored blob, a manifest per artifact."""
    have = reg.count()
    if have >= n:
        return
    data = b"bench payload\n"
    digest = hashlib.sha256(data).hexdigest()
    reg.store.put_bytes(data)
    start = time.perf_counter()
    for i in range(have, n):
        word = WORDS[i % len(WORDS)]
        manifest = ArtifactManifest(
            folder=FOLDERS[i % len(FOLDERS)], name=f"{word}-{i % 500}", kind=ArtifactKind.FILE,
            labels=[("dev", "staging", "prod")[i % 3]],
            files=[ManifestFile(path=f"{word}.bin", size=len(data), digest=digest)])
        reg.create(manifest, "new", make_folder=True)
        if (i + 1) % 10_000 == 0:
            rate = (i + 1 - have) / (time.perf_counter() - start)
            print(f"  seeded {i + 1:,} ({rate:,.0f}/s)", file=sys.stderr)


async def median_ms(client: httpx.AsyncClient, url: str, rounds: int, status: int = 200) -> tuple[float, int]:
    """Median milliseconds of ``GET url`` over ``rounds`` (after two warm-ups) and the rows of the page."""
    for _ in range(2):
        r = await client.get(url)
        assert r.status_code == status, (url, r.status_code, r.text[:500])
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        r = await client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), r.text.count('class="artifact-row"')


async def run_cases(app: object, cases: list[tuple[str, str, int]], rounds: int) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for label, url, status in cases:
            ms, rows = await median_ms(client, url, rounds, status)
            print(f"| {label} | {ms:.1f} | {rows} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "pa-bench-ui")
    args = ap.parse_args()
    reg = open_home(args.home)
    seed(reg, args.n)
    app = create_app(reg, auth=NoAuth())
    total = reg.count()
    # A deep page: follow next_cursor 40 pages in (artifacts 2,001-2,050 by created).
    cursor = None
    for _ in range(40):
        cursor = reg.list(page_length=50, sort_by="created", descending=True, cursor=cursor).next_cursor
    cases = [
        ("first page (created, newest first)", "/ui/", 200),
        ("page 41 by keyset cursor", f"/ui/?cursor={cursor}", 200),
        ("search `name:prices* label:prod`", "/ui/?search=name:prices*+label:prod", 200),
        ("label + kind filters", "/ui/?label=staging&kind=file", 200),
        ("folder `/team-c/project-2`", "/ui/?folder=/team-c/project-2", 200),
        ("sort name asc", "/ui/?sort=name&order=asc", 200),
        ("sort size desc", "/ui/?sort=size&order=desc", 200),
        ("sort version desc", "/ui/?sort=version&order=desc", 200),
        ("search syntax error (400)", "/ui/?search=size>>1MB", 400),
    ]
    print(f"{total:,} artifacts, median of {args.rounds} (ms, in-process ASGI):\n")
    print("| page | median ms | rows |\n|---|---:|---:|")
    asyncio.run(run_cases(app, cases, args.rounds))
    reg.close()


if __name__ == "__main__":
    main()
