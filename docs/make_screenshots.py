"""Make the README's screenshots of the web view: docs/ui-list.png and docs/ui-artifact.png.

Builds a small registry in a temporary home (a dataset, its cleaned version, a model and
a report, linked through runs), serves it with the web view on a free loopback port, and
photographs two pages with Debian's chromium through Playwright (nothing downloaded).

Usage: ``.venv/bin/python docs/make_screenshots.py``
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def _populate(reg: object, work: Path) -> str:
    """Artifacts a data team would have; returns the id of the page to photograph."""
    from prefect_artifacts.registry.local import LocalRegistry

    assert isinstance(reg, LocalRegistry)
    ingest, clean, train = (str(uuid.uuid4()) for _ in range(3))
    raw = work / "housing.csv"
    raw.write_text("city,rooms,price\n" + "".join(f"{c},{r},{p}\n" for c, r, p in [
        ("Oslo", 3, 412000), ("Lima", 2, 98000), ("Lyon", 4, 365000), ("Pune", 3, 87000),
        ("Graz", 2, 231000), ("Cork", 3, 298000), ("Kobe", 4, 455000), ("Turku", 2, 176000)]))
    raw_art = reg.upload_file(raw, name="housing-raw", folder="/team/datasets", labels=["raw"],
                              description="Listings exported from the pricing database", runs=[(ingest, "output")])
    clean_art = reg.upload_file(raw, name="housing-clean", folder="/team/datasets", labels=["clean", "prod"],
                                description="Deduplicated listings, prices in EUR",
                                metadata={"rows": 8, "columns": ["city", "rooms", "price"], "source": raw_art.ref},
                                runs=[(clean, "output")])
    reg.attach(raw_art.id, clean, "input")
    reg.attach(clean_art.id, train, "input")
    reg.save_object({"weights": [0.12, -0.4, 3.1], "intercept": 51000.0}, name="price-model", folder="/team/models",
                    labels=["prod"], runs=[(train, "output")])
    (work / "report.md").write_text("# Price model\n\nMAE **12,400 EUR** on the held-out cities.\n")
    reg.upload_file(work / "report.md", name="model-report", folder="/team/reports", runs=[(train, "output")])
    for i in range(5):
        (work / f"metrics-{i}.json").write_text(f'{{"epoch": {i}, "mae": {20000 - i * 1500}}}')
        reg.upload_file(work / f"metrics-{i}.json", name="training-metrics", folder="/team/models",
                        labels=["metrics"], runs=[(train, "output")])
    return clean_art.id


def main() -> None:
    """Build, serve, photograph.

    Example:
        ```bash
        .venv/bin/python docs/make_screenshots.py
        ```
    """
    home = Path(tempfile.mkdtemp(prefix="pa-screenshots-"))
    os.environ["PREFECT_ARTIFACTS_HOME"] = str(home / "registry")
    import uvicorn
    from playwright.sync_api import sync_playwright

    from prefect_artifacts._server import create_app
    from prefect_artifacts._server.auth import NoAuth
    from prefect_artifacts.registry.local import LocalRegistry

    try:
        reg = LocalRegistry.embedded()
        (home / "work").mkdir()
        artifact_id = _populate(reg, home / "work")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(reg, auth=NoAuth()), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        browser_home = home / "browser"
        env = {**os.environ, "HOME": str(browser_home), "XDG_CONFIG_HOME": str(browser_home / ".config"),
               "XDG_CACHE_HOME": str(browser_home / ".cache")}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"],
                                                 env=env)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"http://127.0.0.1:{port}/ui/")
            page.screenshot(path=str(DOCS / "ui-list.png"), full_page=False)
            page.goto(f"http://127.0.0.1:{port}/ui/artifacts/{artifact_id}")
            page.screenshot(path=str(DOCS / "ui-artifact.png"), full_page=True)
            browser.close()
        server.should_exit = True
        thread.join(10)
        reg.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("wrote", DOCS / "ui-list.png", "and", DOCS / "ui-artifact.png")


if __name__ == "__main__":
    main()
