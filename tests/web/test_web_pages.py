"""The pages of the web view over a real registry: list, artifact, diff, lineage, downloads, raw bytes.

ann (team-a) owns every artifact below except ben's ``/team-b/secret``; the pages are
read as ann, and as ben to check that nothing of team-a shows.
"""

from __future__ import annotations

import io
import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from prefect_artifacts._web.security import SVG_CSP
from prefect_artifacts.models import Artifact
from tests.web.conftest import Teams

PAYLOAD = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><script>window.__xss=3</script></svg>'


@dataclass
class Site:
    teams: Teams
    arts: dict[str, Artifact]


def _write(root: Path, name: str, data: bytes) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def site(teams: Teams, tmp_path: Path) -> Site:
    ann, ben = teams.regs["ann"], teams.regs["ben"]
    arts: dict[str, Artifact] = {}
    arts["v1"] = ann.upload_file(_write(tmp_path, "prices.csv", b"city,price\nOslo,10\n"), name="prices",
                                 folder="/team-a/data", description="first", labels=["raw"],
                                 metadata={"rows": 1, "source": {"kind": "survey"}})
    arts["v2"] = ann.upload_file(_write(tmp_path, "prices.csv", b"city,price\nOslo,10\nLima,7\n"), name="prices",
                                 folder="/team-a/data", description="second", labels=["clean"],
                                 metadata={"rows": 2, "source": {"kind": "survey"}})
    ann.set_alias(arts["v2"].id, "production")
    d = tmp_path / "ckpt"
    _write(d, "weights.bin", b"\x00\x01" * 1000)
    _write(d, "notes.txt", b"model notes\n")
    _write(d, "plots/loss.csv", b"step,loss\n1,0.5\n")
    arts["dir"] = ann.upload_dir(d, name="model", folder="/team-a/models")
    arts["svg"] = ann.upload_file(_write(tmp_path, "pic.svg", SVG), name="pic", folder="/team-a/data")
    arts["xss"] = ann.upload_file(_write(tmp_path, "x.txt", PAYLOAD.encode()), name="hostile", folder="/team-a/xss",
                                  description=PAYLOAD, metadata={PAYLOAD: PAYLOAD})
    ann.attach(arts["v2"].id, "run-1", "output")
    ann.attach(arts["v1"].id, "run-1", "input")
    ann.attach(arts["v2"].id, "run-2", "input")
    ann.attach(arts["dir"].id, "run-2", "output")
    arts["secret"] = ben.upload_file(_write(tmp_path, "s.txt", b"ben's"), name="secret", folder="/team-b")
    return Site(teams, arts)


def _ids(html: str) -> list[str]:
    return re.findall(r'class="artifact-row" data-id="([^"]+)"', html)


def test_list_shows_only_readable_artifacts_and_folders(site: Site) -> None:
    ann = site.teams.sign_in("ann").get("/ui/").text
    ben = site.teams.sign_in("ben").get("/ui/").text
    assert site.arts["secret"].id not in ann and "/team-b" not in ann
    assert set(_ids(ben)) == {site.arts["secret"].id}
    assert "team-a" not in ben and "prices" not in ben
    assert "folder=%2Fteam-a%2Fdata" in ann and "folder=%2Fteam-b" in ben


def test_search_filters_sort_and_syntax_error(site: Site) -> None:
    client = site.teams.sign_in("ann")
    assert _ids(client.get("/ui/", params={"search": "name:prices"}).text)[0] == site.arts["v2"].id
    assert _ids(client.get("/ui/", params={"label": "raw"}).text) == [site.arts["v1"].id]
    assert _ids(client.get("/ui/", params={"kind": "directory"}).text) == [site.arts["dir"].id]
    assert _ids(client.get("/ui/", params={"search": "name:prices OR name:model", "label": "clean"}).text) == [
        site.arts["v2"].id]  # the box's query stays inside its parentheses
    assert _ids(client.get("/ui/", params={"folder": "/team-a/models"}).text) == [site.arts["dir"].id]
    by_size = _ids(client.get("/ui/", params={"sort": "size", "order": "asc"}).text)
    sizes = [a.size for a in sorted(site.arts.values(), key=lambda a: (a.size or -1, a.id)) if a.group_id == "team-a"]
    assert [site.teams.regs["ann"].get(i).size for i in by_size] == sizes
    r = client.get("/ui/", params={"search": "size>>1MB"})
    assert r.status_code == 400
    error = r.text.split('id="search-error"', 1)[1].split("</div>", 1)[0]
    assert "size&gt;&gt;1MB" in error and "at position 5" in error and '<span class="pointer">     ^</span>' in error
    r = client.get("/ui/", params={"search": "nofield:x", "kind": "file"})  # found in the combined query
    assert r.status_code == 400 and "at position 0" in r.text
    r = client.get("/ui/", params={"search": PAYLOAD})
    assert "<script>window" not in r.text and "&lt;script&gt;" in r.text


def test_keyset_paging_visits_every_artifact_once(teams: Teams, tmp_path: Path) -> None:
    reg = teams.regs["ann"]
    made = {reg.upload_file(_write(tmp_path, f"f{i}.txt", b"%d" % i), name=f"bulk-{i:03d}", folder="/team-a/bulk").id
            for i in range(120)}
    client = teams.sign_in("ann")
    seen: list[str] = []
    url: str | None = "/ui/?sort=name&order=asc"
    pages = 0
    while url:
        html = client.get(url).text
        ids = _ids(html)
        assert len(ids) <= 50
        seen += ids
        pages += 1
        found = re.search(r'id="next-page" href="([^"]+)"', html)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert pages == 3 and len(seen) == len(set(seen)) == 120 and set(seen) == made


def test_a_broad_count_stops_at_the_limit(teams: Teams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect_artifacts._web import pages

    reg = teams.regs["ann"]
    for i in range(7):
        reg.upload_file(_write(tmp_path, f"c{i}.txt", b"%d" % i), name=f"count-{i}", folder="/team-a/count")
    client = teams.sign_in("ann")
    assert re.search(r'id="result-count"[^>]*>7 artifacts<', client.get("/ui/?folder=/team-a/count").text)
    monkeypatch.setattr(pages, "TOTAL_LIMIT", 5)
    html = client.get("/ui/?folder=/team-a/count").text
    assert re.search(r'id="result-count"[^>]*>5\+ artifacts<', html) and len(_ids(html)) == 7
    assert reg.list(page_length=3, folder="/team-a/count", total_limit=5).total == 6  # "more than 5"
    assert reg.list(page_length=3, folder="/team-a/count", total_limit=50).total == 7


def test_artifact_page_shows_every_part(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_UI_URL", "http://prefect.example:4200")
    client = site.teams.sign_in("ann")
    v1, v2 = site.arts["v1"], site.arts["v2"]
    html = client.get(f"/ui/artifacts/{v2.id}").text
    versions = html.split('id="versions"', 1)[1].split("</ul>", 1)[0]
    assert f'href="/ui/artifacts/{v1.id}"' in versions and "<strong>v2</strong>" in versions
    assert "<code>production</code>" in html
    assert 'href="http://prefect.example:4200/runs/flow-run/run-1"' in html and ">input<" in html
    assert "&#34;rows&#34;: 2" in html or "&quot;rows&quot;: 2" in html  # formatted JSON, escaped
    assert v2.checksum in html and "second" in html and f'href="/ui/artifacts/{v2.id}/lineage"' in html
    assert f'/ui/artifacts/{v2.id}/files/prices.csv' in html
    assert 'id="preview"' in html
    monkeypatch.delenv("PREFECT_UI_URL")
    monkeypatch.setenv("PREFECT_API_URL", "https://cloud.example/api")
    assert 'href="https://cloud.example/runs/flow-run/run-1"' in client.get(f"/ui/artifacts/{v2.id}").text


def test_directory_page_lists_files_with_folder_bundles(site: Site) -> None:
    client = site.teams.sign_in("ann")
    art = site.arts["dir"]
    html = client.get(f"/ui/artifacts/{art.id}").text
    files = html.split('id="files"', 1)[1]
    assert "weights.bin" in files and "notes.txt" in files and "plots/" in files and "loss.csv" in files
    assert f"/ui/artifacts/{art.id}/bundle.tar.gz?path=plots" in files
    chosen = client.get(f"/ui/artifacts/{art.id}", params={"file": "notes.txt"}).text
    assert "of <code>notes.txt</code>" in chosen


def test_downloads_stream_the_right_bytes(site: Site) -> None:
    client = site.teams.sign_in("ann")
    csv, d = site.arts["v2"], site.arts["dir"]
    r = client.get(f"/ui/artifacts/{csv.id}/files/prices.csv")
    assert r.status_code == 200 and r.content == b"city,price\nOslo,10\nLima,7\n"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["content-type"] == "application/octet-stream"
    r = client.get(f"/ui/artifacts/{d.id}/files/plots/loss.csv")
    assert r.content == b"step,loss\n1,0.5\n"
    r = client.get(f"/ui/artifacts/{d.id}/bundle.tar.gz")
    assert r.headers["content-disposition"] == "attachment; filename*=UTF-8''model.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        names = {m.name.split("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
        assert {n.rsplit("/", 1)[-1] for n in names} == {"weights.bin", "notes.txt", "loss.csv"}
        weights = tar.extractfile(next(m for n, m in names.items() if n.endswith("weights.bin")))
        assert weights is not None and weights.read() == b"\x00\x01" * 1000
    r = client.get(f"/ui/artifacts/{d.id}/bundle.zip")
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        notes = next(n for n in archive.namelist() if n.endswith("notes.txt"))
        assert archive.read(notes) == b"model notes\n"
    r = client.get(f"/ui/artifacts/{d.id}/bundle.zip", params={"path": "plots"})
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        assert [n.rsplit("/", 1)[-1] for n in archive.namelist() if not n.endswith("/")] == ["loss.csv"]
    assert "model-plots.zip" in r.headers["content-disposition"]
    assert client.get(f"/ui/artifacts/{d.id}/files/nope.txt").status_code == 404
    assert client.get(f"/ui/artifacts/{d.id}/files/../../etc/passwd").status_code in (400, 404)


def test_raw_bytes_serve_images_only_inline_and_svg_sandboxed(site: Site) -> None:
    client = site.teams.sign_in("ann")
    r = client.get(f"/ui/artifacts/{site.arts['svg'].id}/raw/pic.svg")
    assert r.status_code == 200 and r.content == SVG
    assert r.headers["content-type"] == "image/svg+xml"
    assert r.headers["content-security-policy"] == SVG_CSP and r.headers["x-content-type-options"] == "nosniff"
    r = client.get(f"/ui/artifacts/{site.arts['xss'].id}/raw/x.txt")
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment")
    assert r.headers["x-content-type-options"] == "nosniff"


def test_another_group_gets_the_same_404_everywhere(site: Site) -> None:
    client = site.teams.sign_in("ben")
    d, csv = site.arts["dir"], site.arts["v2"]
    missing = client.get("/ui/artifacts/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    for url in (f"/ui/artifacts/{csv.id}", f"/ui/artifacts/{csv.id}/files/prices.csv",
                f"/ui/artifacts/{csv.id}/raw/prices.csv", f"/ui/artifacts/{d.id}/bundle.tar.gz",
                f"/ui/artifacts/{d.id}/bundle.zip?path=plots", f"/ui/artifacts/{d.id}/lineage",
                f"/ui/diff?a={site.arts['secret'].id}&b={csv.id}"):
        r = client.get(url)
        assert r.status_code == 404, url
        assert r.text == missing.text, url
    assert "prices" not in client.get(f"/ui/artifacts/{site.arts['secret'].id}/lineage").text


def test_diff_compares_fields_labels_metadata_and_files(site: Site) -> None:
    client = site.teams.sign_in("ann")
    v1, v2 = site.arts["v1"], site.arts["v2"]
    html = client.get("/ui/diff", params={"a": v1.id, "b": v2.id}).text
    diff = html.split('id="diff"', 1)[1]

    def row(table: str, key: str) -> str:
        part = diff.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
        return next(r for r in part.split("<tr") if f"<code>{key}</code>" in r)

    assert 'class="changed"' in row("diff-fields", "description") and "first" in diff and "second" in diff
    assert 'class="same"' in row("diff-fields", "name")
    assert v2.checksum in row("diff-fields", "checksum")
    assert 'class="removed"' in row("diff-labels", "raw") and 'class="added"' in row("diff-labels", "clean")
    assert 'class="changed"' in row("diff-metadata", "rows") and 'class="same"' in row("diff-metadata", "source.kind")
    assert 'class="changed"' in row("diff-files", "prices.csv")


def test_lineage_links_upstream_and_downstream_with_a_depth(site: Site) -> None:
    client = site.teams.sign_in("ann")
    v1, v2, d = site.arts["v1"], site.arts["v2"], site.arts["dir"]
    html = client.get(f"/ui/artifacts/{v2.id}/lineage").text
    up = html.split('id="upstream"', 1)[1].split("</section>", 1)[0]
    down = html.split('id="downstream"', 1)[1].split("</section>", 1)[0]
    assert f'href="/ui/artifacts/{v1.id}"' in up and f'href="/ui/artifacts/{d.id}"' in down
    deep = client.get(f"/ui/artifacts/{v1.id}/lineage", params={"depth": "2"}).text
    shallow = client.get(f"/ui/artifacts/{v1.id}/lineage", params={"depth": "1"}).text
    assert f'href="/ui/artifacts/{d.id}"' in deep and f'href="/ui/artifacts/{d.id}"' not in shallow
    assert "more (increase depth)" in shallow
    assert client.get(f"/ui/artifacts/{v1.id}/lineage", params={"depth": "999"}).status_code == 200
    assert 'value="10"' in client.get(f"/ui/artifacts/{v1.id}/lineage", params={"depth": "999"}).text


def test_user_strings_are_escaped_everywhere(site: Site) -> None:
    client = site.teams.sign_in("ann")
    x = site.arts["xss"]
    pages: list[Any] = [client.get(f"/ui/artifacts/{x.id}").text, client.get("/ui/").text,
                        client.get("/ui/diff", params={"a": x.id, "b": site.arts["v1"].id}).text,
                        client.get(f"/ui/artifacts/{x.id}/lineage").text]
    for html in pages:
        assert "<script>window" not in html and "onerror=\"window" not in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in pages[0]  # shown as text
    assert "<script>" not in "".join(pages).replace('<script src="/ui/static/app.js" defer></script>', "")
    assert ' style="' not in "".join(pages)  # no inline styles either (the CSP forbids them)


def test_object_artifact_shows_its_serializer_and_snapshot(teams: Teams) -> None:
    art = teams.regs["ann"].save_object({"lr": 0.1}, name="params", folder="/team-a/objects")
    assert art.serializer is not None
    html = teams.sign_in("ann").get(f"/ui/artifacts/{art.id}").text
    section = html.split('id="serializer"', 1)[1].split("</table>", 1)[0]
    assert art.serializer.snapshot_id in section and art.serializer.task_name in section
    assert "Plugin" in section  # the snapshot is readable by its owner's group
    assert 'id="preview" class="preview preview-object"' in html


def test_references_are_described_not_fetched(teams: Teams, tmp_path: Path) -> None:
    uri = _write(tmp_path, "remote.csv", b"a,b\n").as_uri()
    art = teams.registry.add_reference(uri, name="remote", folder="/team-a/refs", group="team-a")
    client = teams.sign_in("ann")
    html = client.get(f"/ui/artifacts/{art.id}").text
    assert uri in html and f"/ui/artifacts/{art.id}/files/" not in html
    [meta] = teams.registry.files(art.id)
    r = client.get(f"/ui/artifacts/{art.id}/files/{meta.path}")
    assert r.status_code == 409 and "reference" in r.text
