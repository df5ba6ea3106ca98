"""The web view in a real browser: Debian's chromium, headless, driven by Playwright.

One registry server (uvicorn on loopback, API keys) serves two teams: alice (team-a) and
bob (team-b). Alice signs in, searches (valid and malformed), pages through, opens
artifacts, previews every kind, diffs two versions, follows lineage, downloads a file and
bundles and checks their bytes, and signs out; bob sees none of it. An artifact whose
description, metadata, original path, file contents and search query carry XSS payloads
runs no script: checked in the browser (console, dialogs, a global the payload would set)
and in the DOM (no element the payload would have created).

Playwright is given the system browser (``executable_path``): nothing is downloaded.
`.ci/run` installs Debian's ``chromium`` when it is missing.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_artifacts._server.auth import ApiKeyAuth
from prefect_artifacts.catalog.auth import AuthCatalog
from prefect_artifacts.registry.local import LocalRegistry
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAGE_LENGTH = 50  # the list page's length
MARK = "XSS-RAN"
PAYLOAD = (f"<script>window.__xss=1;console.log('{MARK}')</script>"
           f"<img src=x onerror=\"window.__xss=1;console.log('{MARK}')\">"
           f"<svg onload=\"window.__xss=1\"></svg>\"'><b id=injected>bold</b>")
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c6360f8ffff3f0005fe02fea7d6a4c50000000049454e44ae426082")
SVG_SCRIPT = ('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="window.__xss=1">'
              f"<script>window.__xss=1;console.log('{MARK}')</script><rect width='10' height='10'/></svg>")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.fail("the browser tests need Debian's chromium: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    # Chromium writes crash-report settings and dconf files under $HOME even with a
    # temporary profile: give it a home of its own (the suite checks $HOME is untouched).
    home = tmp_path_factory.mktemp("chromium-home")
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache")}
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], env=env)
        yield launched
        launched.close()


class Site:
    """The running server, its users' keys and registries, and what alice registered."""

    def __init__(self, root: Path) -> None:
        self.registry = make_registry(root / "server")
        auth = AuthCatalog(self.registry.catalog.engine)
        self.keys: dict[str, str] = {}
        self.regs: dict[str, LocalRegistry] = {}
        for user, group in (("alice", "team-a"), ("bob", "team-b")):
            auth.create_user(user, default_group=group)
            self.keys[user] = auth.create_key(user)[1]
            principal = auth.authenticate(self.keys[user])
            assert principal is not None
            self.regs[user] = self.registry.for_principal(principal)
        self.server = LiveServer(self.registry, auth=ApiKeyAuth(auth, cache_seconds=0)).start()
        self.base = f"http://127.0.0.1:{self.server.port}"
        self.work = root / "work"
        self.work.mkdir()
        self.arts: dict[str, Any] = {}
        self._populate()

    def _file(self, name: str, content: bytes | str) -> Path:
        path = self.work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    def _populate(self) -> None:
        reg, a = self.regs["alice"], self.arts
        for i in range(PAGE_LENGTH + 5):  # more than a page
            reg.upload_file(self._file(f"bulk/{i:03d}.txt", f"bulk {i}\n"), name=f"bulk-{i:03d}",
                            folder="/team-a/bulk", labels=["bulk"])
        a["text"] = reg.upload_file(self._file("log.txt", "line one\n" * 50 + "THE-END\n"), name="run-log",
                                    folder="/team-a/docs")
        a["markdown"] = reg.upload_file(self._file("readme.md", "# Title\n\nSome *emphasis*.\n"),
                                        name="readme", folder="/team-a/docs")
        a["json"] = reg.upload_file(self._file("config.json", json.dumps({"lr": 0.1, "layers": [1, 2, 3]})),
                                    name="config", folder="/team-a/docs")
        a["csv"] = reg.upload_file(self._file("table.csv", "city,price\nOslo,10\nLima,7\n"), name="prices",
                                   folder="/team-a/data")
        a["image"] = reg.upload_file(self._file("dot.png", PNG), name="dot", folder="/team-a/docs")
        a["object"] = reg.save_object({"rows": 3}, name="stats", folder="/team-a/data")
        import numpy as np
        import pandas as pd

        np.save(self.work / "grid.npy", np.arange(12, dtype="float64").reshape(3, 4))
        a["array"] = reg.upload_file(self.work / "grid.npy", name="grid", folder="/team-a/data")
        pd.DataFrame({"city": ["Oslo", "Lima"], "price": [10, 7]}).to_parquet(self.work / "prices.parquet")
        a["parquet"] = reg.upload_file(self.work / "prices.parquet", name="prices-parquet", folder="/team-a/data")
        a["svg"] = reg.upload_file(self._file("logo.svg", '<svg xmlns="http://www.w3.org/2000/svg" width="8" '
                                              'height="8"><rect width="8" height="8"/></svg>'),
                                   name="logo", folder="/team-a/docs")
        self._file("model/weights.bin", b"\x00\x01" * 1000)
        self._file("model/sub/notes.txt", "model notes\n")
        a["dir"] = reg.upload_dir(self.work / "model", name="model", folder="/team-a/ml")
        a["v1"] = reg.upload_file(self._file("v.csv", "a,b\n1,2\n"), name="versioned", folder="/team-a/data",
                                  labels=["first"])
        a["v2"] = reg.upload_file(self._file("v.csv", "a,b\n1,2\n3,4\n"), name="versioned", folder="/team-a/data",
                                  labels=["second"])
        reg.attach(a["csv"].id, "run-clean", "input")
        reg.attach(a["v2"].id, "run-clean", "output")
        # Every free-text field and every previewed content carries the payload.
        a["xss"] = reg.upload_file(self._file(f"x{PAYLOAD[:40]}.csv".replace("/", "_"),
                                              f"h1,h2\n{PAYLOAD},x\n"),
                                   name="hostile", folder="/team-a/xss", description=PAYLOAD,
                                   metadata={PAYLOAD: PAYLOAD, "note": PAYLOAD})
        a["xss-md"] = reg.upload_file(self._file("hostile.md", f"# t\n\n{PAYLOAD}\n\n[click](javascript:alert(1))\n"),
                                      name="hostile-md", folder="/team-a/xss")
        a["xss-svg"] = reg.upload_file(self._file("hostile.svg", SVG_SCRIPT), name="hostile-svg",
                                       folder="/team-a/xss")
        a["xss-json"] = reg.upload_file(self._file("hostile.json", json.dumps({PAYLOAD: [PAYLOAD]})),
                                        name="hostile-json", folder="/team-a/xss")
        a["bob"] = self.regs["bob"].upload_file(self._file("secret.txt", "bob's secret\n"), name="secret",
                                                folder="/team-b/private", description="bob only")

    def close(self) -> None:
        self.server.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    built = Site(tmp_path_factory.mktemp("web"))
    yield built
    built.close()


class Watch:
    """A browser page with everything a script could leave behind recorded."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda message: self.console.append(message.text))
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    def assert_no_script_ran(self) -> None:
        page = self.page
        assert page.evaluate("typeof window.__xss") == "undefined", page.url
        assert not [m for m in self.console if MARK in m], self.console
        assert not self.dialogs, self.dialogs
        # Nothing the payload would have created exists: no inline script, no handler, no injected node.
        assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0, page.url
        assert page.evaluate(
            "[...document.querySelectorAll('*')].filter(e => [...e.attributes].some("
            "a => a.name.startsWith('on'))).length") == 0, page.url
        assert page.locator("#injected").count() == 0, page.url


@pytest.fixture
def context(browser: Any, site: Site) -> Iterator[Any]:
    ctx = browser.new_context(base_url=site.base, accept_downloads=True)
    yield ctx
    ctx.close()


def sign_in(context: Any, site: Site, user: str) -> Watch:
    watch = Watch(context.new_page())
    page = watch.page
    page.goto("/ui/")
    assert "/ui/login" in page.url  # not signed in: the sign-in page, nothing else
    page.fill("#login-key", site.keys[user])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/ui/?(\?.*)?$"))
    return watch


def _rows(page: Any) -> list[str]:
    return [row.inner_text() for row in page.locator(".artifact-row").all()]


def test_sign_in_search_page_through_and_sign_out(context: Any, site: Site) -> None:
    watch = sign_in(context, site, "alice")
    page = watch.page
    assert "alice" in page.inner_text("body")
    first = _rows(page)
    assert len(first) == PAGE_LENGTH and all("/team-a/" in r for r in first)  # newest first, hers only

    page.fill("#search", "label:bulk")
    page.press("#search", "Enter")
    page.wait_for_load_state()
    seen = _rows(page)
    assert len(seen) == PAGE_LENGTH and all("bulk-" in r for r in seen)
    page.click("#next-page")
    page.wait_for_load_state()
    rest = _rows(page)
    assert len(rest) == 5 and not set(rest) & set(seen)
    assert page.locator("#next-page").count() == 0  # the last page

    page.fill("#search", "size>>1MB")
    page.press("#search", "Enter")
    page.wait_for_load_state()
    error = page.inner_text("#search-error")
    assert "size>>1MB" in error and "^" in error  # the query and a caret under the bad position
    caret_line = next(line for line in error.splitlines() if line.strip() == "^")
    query_line = next(line for line in error.splitlines() if "size>>1MB" in line)
    assert query_line[len(caret_line) - 1] == ">"  # the caret points at the second '>'

    page.click("#logout")
    page.wait_for_url(re.compile(r"/ui/login"))
    page.goto("/ui/")
    assert "/ui/login" in page.url
    watch.assert_no_script_ran()


def test_artifact_pages_preview_every_kind(context: Any, site: Site) -> None:
    watch = sign_in(context, site, "alice")
    page, arts = watch.page, site.arts
    expected = {"text": "THE-END", "markdown": "Title", "json": "layers", "csv": "Oslo", "object": "json",
                "array": "(3, 4)", "parquet": "Lima"}
    for kind, needle in expected.items():
        page.goto(f"/ui/artifacts/{arts[kind].id}")
        preview = page.locator("#preview")
        assert needle in preview.inner_text(), (kind, preview.inner_text())
    page.goto(f"/ui/artifacts/{arts['markdown'].id}")
    assert page.locator("#preview h1").inner_text() == "Title"  # rendered, not shown as source
    page.goto(f"/ui/artifacts/{arts['csv'].id}")
    assert page.locator("#preview table td").first.inner_text() == "Oslo"
    page.goto(f"/ui/artifacts/{arts['image'].id}")
    image = page.locator("#preview img")
    assert image.count() == 1
    assert page.evaluate("img => img.complete && img.naturalWidth", image.element_handle()) == 1  # it loaded
    page.goto(f"/ui/artifacts/{arts['array'].id}")
    assert "float64" in page.inner_text("#preview")
    page.goto(f"/ui/artifacts/{arts['parquet'].id}")
    assert page.locator("#preview table").count() >= 1  # schema and first rows
    page.goto(f"/ui/artifacts/{arts['svg'].id}")
    svg = page.locator("#preview img")  # an SVG is only ever an image
    assert svg.count() == 1 and page.locator("#preview svg").count() == 0
    assert page.evaluate("img => img.complete && img.naturalWidth", svg.element_handle()) == 8
    page.goto(f"/ui/artifacts/{arts['dir'].id}")
    assert {"weights.bin", "notes.txt"} <= set(re.findall(r"[\w.]+", page.inner_text("#files")))
    watch.assert_no_script_ran()


def test_diff_lineage_and_downloads(context: Any, site: Site) -> None:
    watch = sign_in(context, site, "alice")
    page, arts = watch.page, site.arts
    page.goto(f"/ui/artifacts/{arts['v2'].id}")
    assert page.locator("#versions a").count() >= 2
    page.goto(f"/ui/diff?a={arts['v1'].id}&b={arts['v2'].id}")
    diff = page.inner_text("#diff")
    assert "first" in diff and "second" in diff and arts["v2"].checksum[:12] in diff

    page.goto(f"/ui/artifacts/{arts['v2'].id}/lineage")
    page.locator("#lineage a", has_text="prices").first.click()  # a node is a link to its artifact
    page.wait_for_url(re.compile(re.escape(f"/ui/artifacts/{arts['csv'].id}")))

    page.goto(f"/ui/artifacts/{arts['csv'].id}")
    with page.expect_download() as info:
        page.locator("a[href*='/files/']").first.click()
    assert Path(info.value.path()).read_bytes() == b"city,price\nOslo,10\nLima,7\n"
    page.goto(f"/ui/artifacts/{arts['dir'].id}")
    with page.expect_download() as info:
        page.locator("a[href*='tar.gz']").first.click()
    with tarfile.open(info.value.path()) as tar:
        members = {m.name.split("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
        weights = tar.extractfile(next(m for n, m in members.items() if n.endswith("weights.bin")))
        assert weights is not None and weights.read() == b"\x00\x01" * 1000
    with page.expect_download() as info:
        page.locator("a[href*='zip']").first.click()
    with zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes())) as archive:
        notes = next(n for n in archive.namelist() if n.endswith("notes.txt"))
        assert archive.read(notes) == b"model notes\n"
    watch.assert_no_script_ran()


def test_another_group_sees_none_of_it(context: Any, site: Site) -> None:
    watch = sign_in(context, site, "bob")
    page, arts = watch.page, site.arts
    assert [r for r in _rows(page) if "secret" in r] and not [r for r in _rows(page) if "/team-a" in r]
    assert "team-a" not in page.inner_text("body")  # not even in the folder tree
    for key in ("csv", "dir", "xss"):
        response = page.goto(f"/ui/artifacts/{arts[key].id}")
        assert response is not None and response.status == 404
        assert arts[key].name not in page.inner_text("body")
    response = page.goto(f"/ui/artifacts/{arts['dir'].id}/lineage")
    assert response is not None and response.status == 404


def test_hostile_content_runs_no_script(context: Any, site: Site) -> None:
    watch = sign_in(context, site, "alice")
    page, arts = watch.page, site.arts
    page.goto("/ui/?search=" + "folder:/team-a/xss")
    assert len(_rows(page)) == 4
    for key in ("xss", "xss-md", "xss-svg", "xss-json"):
        page.goto(f"/ui/artifacts/{arts[key].id}")
        watch.assert_no_script_ran()
    page.goto(f"/ui/artifacts/{arts['xss'].id}")
    assert PAYLOAD in page.inner_text("body")  # shown as text, not interpreted
    page.goto(f"/ui/artifacts/{arts['xss-md'].id}")
    assert page.locator("#preview a[href^='javascript']").count() == 0
    # The SVG opened directly (not through <img>) still runs nothing: sandboxed.
    [svg] = site.regs["alice"].files(arts["xss-svg"].id)
    page.goto(f"/ui/artifacts/{arts['xss-svg'].id}/raw/{svg.path}")
    assert page.evaluate("typeof window.__xss") == "undefined"
    # A hostile query is reflected as text, in the search box and in the error.
    page.goto("/ui/")
    page.fill("#search", PAYLOAD)
    page.press("#search", "Enter")
    page.wait_for_load_state()
    watch.assert_no_script_ran()
