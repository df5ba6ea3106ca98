"""Previews of each kind on a real embedded registry: structure, bounds and safety of the HTML."""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from prefect_artifacts._web import previews
from prefect_artifacts._web.preview_data import CSV_ROWS, NpyHeaderError, parse_npy_header
from prefect_artifacts._web.previews import Preview, build_preview
from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.models import Artifact, ArtifactFile
from prefect_artifacts.registry.local import LocalRegistry

RAW = "/ui/artifacts/x/raw?path=a%20b&amp=1"
PNG_HEAD = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 20
XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'
XSS_FILE = '<img src=x onerror="alert(2)">'  # no "/": a file name


class CountingRegistry(LocalRegistry):
    """A LocalRegistry that counts the bytes its reads return."""

    bytes_read = 0
    reads: list[tuple[int | None, int | None]]

    def read(self, ref: str, path: str | None = None, chunk_size: int = 8 << 20,
             start: int | None = None, end: int | None = None) -> Iterator[bytes]:
        self.reads.append((start, end))
        for chunk in super().read(ref, path, chunk_size, start, end):
            self.bytes_read += len(chunk)
            yield chunk


@pytest.fixture
def reg(tmp_path: Path, catalog_path: Path) -> Iterator[CountingRegistry]:
    registry = CountingRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(catalog_path))
    registry.reads = []
    yield registry
    registry.close()


def upload(reg: LocalRegistry, tmp_path: Path, filename: str, data: bytes | str, **kw: Any) -> Artifact:
    path = tmp_path / "src" / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return reg.upload_file(path, name=kw.pop("name", "a"), **kw)


def preview_of(reg: CountingRegistry, tmp_path: Path, filename: str, data: bytes | str, **kw: Any) -> Preview:
    art = upload(reg, tmp_path, filename, data, **kw)
    reg.bytes_read = 0
    preview = build_preview(reg, art, None, RAW)
    assert_safe(preview)
    return preview


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def audit(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Audit()
    parser.feed(html)
    parser.close()
    return parser.tags


def assert_safe(preview: Preview) -> None:
    tags = audit(str(preview.html))
    for tag, attrs in tags:
        assert tag not in ("script", "iframe", "object", "embed", "svg", "style", "base", "form", "meta", "link"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "style", tag
            if name in ("href", "src", "action", "formaction", "xlink:href"):
                squashed = "".join((value or "").split()).lower()
                assert not squashed.startswith(("javascript:", "data:", "vbscript:")), (tag, value)


def tags_named(preview: Preview, name: str) -> list[dict[str, str | None]]:
    return [attrs for tag, attrs in audit(str(preview.html)) if tag == name]


# Text ---------------------------------------------------------------------------------


def test_text_small(reg: CountingRegistry, tmp_path: Path) -> None:
    preview = preview_of(reg, tmp_path, "run.log", "line 1\nline <2> & 3\n")
    assert preview.kind == "text" and preview.note is None
    assert str(preview.html) == '<pre class="preview-text">line 1\nline &lt;2&gt; &amp; 3\n</pre>'


def test_large_text_reads_only_head_and_tail(reg: CountingRegistry, tmp_path: Path) -> None:
    line = "".join(f"{i:07d} é lorem ipsum dolor sit amet\n" for i in range(10))
    data = (line * (20 * 1024 * 1024 // len(line.encode()) + 1)).encode()
    preview = preview_of(reg, tmp_path, "big.log", data)
    assert preview.kind == "text"
    assert preview.note is not None and "first 64.0 KiB and last 16.0 KiB of 20.0 MiB" in preview.note
    hidden = len(data) - previews.TEXT_HEAD - previews.TEXT_TAIL
    assert f"… {hidden:,} bytes not shown …" in str(preview.html)
    assert len(str(preview.html)) < 100 * 1024
    # ranged reads: the chunks they touch are verified whole (512 KiB each), nothing near 20 MiB
    assert reg.bytes_read == previews.TEXT_HEAD + previews.TEXT_TAIL
    assert all(start is not None and end is not None for start, end in reg.reads)


def test_unknown_type_decoding_as_utf8_is_text(reg: CountingRegistry, tmp_path: Path) -> None:
    preview = preview_of(reg, tmp_path, "NOTES", "héllo\n")
    assert preview.kind == "text" and "héllo" in str(preview.html)


def test_binary_is_none_naming_the_type(reg: CountingRegistry, tmp_path: Path) -> None:
    preview = preview_of(reg, tmp_path, "a.zip", b"PK\x03\x04" + bytes(range(256)) * 4)
    assert preview.kind == "none" and preview.note == "no preview for application/zip"
    preview = preview_of(reg, tmp_path, "blob", bytes(range(256)) * 100, name="b")
    assert preview.kind == "none" and "application/octet-stream" in (preview.note or "")


# Markdown -------------------------------------------------------------------------------


def test_markdown_is_rendered_and_sanitized(reg: CountingRegistry, tmp_path: Path) -> None:
    source = "\n\n".join([
        "# Title <script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "<div style='color:red' onclick='x()'>raw</div>",
        "[bad](javascript:alert(1)) [bad2](JaVaScRiPt&#58;alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=)",
        "[ok](https://example.com/a?b=1&c=2) <javascript:alert(1)> [rel](docs/x.md)",
        "![alt <b>text</b>](https://tracker.example/p.png) ![png](data:image/png;base64,iVBORw0KGgo=)",
        "| a | b |\n|:--|--:|\n| 1 | <script>x</script> |",
        '```js" onclick="x\n<script>code</script>\n```',
        "[ref][1] ![r][1]\n\n[1]: javascript:alert(1)",
    ])
    preview = preview_of(reg, tmp_path, "README.md", source)
    assert preview.kind == "markdown"
    html = str(preview.html)
    assert "<h1>Title &lt;script&gt;alert(1)&lt;/script&gt;</h1>" in html
    assert "&lt;img src=x onerror" in html and "&lt;div style" in html
    hrefs = [attrs["href"] for attrs in tags_named(preview, "a")]
    assert hrefs == ["https://example.com/a?b=1&c=2", "docs/x.md"]
    assert all(a["rel"] == "noopener noreferrer nofollow" for a in tags_named(preview, "a"))
    assert tags_named(preview, "img") == []
    assert "[image: alt &lt;b&gt;text&lt;/b&gt;]" in html
    assert [a.get("class") for a in tags_named(preview, "th")] == ["align-left", "align-right"]
    assert "&lt;script&gt;code&lt;/script&gt;" in html and "[ref][1]" in html


def test_large_markdown_and_json_fall_back_to_text(reg: CountingRegistry, tmp_path: Path) -> None:
    preview = preview_of(reg, tmp_path, "big.md", "# x\n" + "word " * 30_000)
    assert preview.kind == "text" and "not rendered" in (preview.note or "")
    assert "<h1>" not in str(preview.html)
    assert reg.bytes_read == previews.TEXT_HEAD + previews.TEXT_TAIL
    data = json.dumps([{"k": i, "v": "x" * 20} for i in range(60_000)])
    preview = preview_of(reg, tmp_path, "big.json", data, name="json")
    assert preview.kind == "text" and (preview.note or "").startswith("larger than 1.0 MiB: shown as text; first ")
    assert reg.bytes_read == previews.TEXT_HEAD + previews.TEXT_TAIL


# JSON -------------------------------------------------------------------------------------


def test_json_tree_is_collapsible_and_bounded(reg: CountingRegistry, tmp_path: Path) -> None:
    doc = {XSS: [XSS, 1.5, True, None], "big": list(range(1234)), "deep": {"a": {"b": {"c": 1}}}, "empty": {}}
    preview = preview_of(reg, tmp_path, "doc.json", json.dumps(doc))
    assert preview.kind == "json"
    html = str(preview.html)
    assert html.startswith('<div class="preview-json">') and "<details open><summary>" in html
    assert f"… {1234 - previews.JSON_MAX_ITEMS:,} more items" in html
    assert "1,234 items" in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert '<span class="json-null">null</span>' in html and '<span class="json-bool">true</span>' in html
    assert preview.note is not None and "not shown" in preview.note


def test_json_depth_and_invalid(reg: CountingRegistry, tmp_path: Path) -> None:
    deep: Any = 1
    for _ in range(50):
        deep = [deep]
    preview = preview_of(reg, tmp_path, "deep.json", json.dumps(deep))
    assert preview.kind == "json" and str(preview.html).count("<details") == previews.JSON_MAX_DEPTH
    preview = preview_of(reg, tmp_path, "bad.json", '{"a": <script>', name="bad")
    assert preview.kind == "text" and "not valid JSON" in (preview.note or "")
    preview = preview_of(reg, tmp_path, "nested.json", "[" * 100_000 + "]" * 100_000, name="nested")
    assert preview.kind == "text"


# CSV and Parquet --------------------------------------------------------------------------


def test_csv_table_with_sniffed_delimiter(reg: CountingRegistry, tmp_path: Path) -> None:
    rows = ["name;value;note", f"{XSS};1;<b>x</b>", 'b;2;"multi\nline"'] + [f"r{i};{i};" for i in range(100)]
    preview = preview_of(reg, tmp_path, "data.csv", "\n".join(rows) + "\n")
    assert preview.kind == "csv"
    assert preview.note == "3 columns; semicolon-separated; first 50 of 102 rows"
    assert [a.get("class") for a in tags_named(preview, "table")] == ["preview-table"]
    assert len(tags_named(preview, "tr")) == 1 + CSV_ROWS
    assert len(tags_named(preview, "th")) == 3
    assert "&lt;script&gt;" in str(preview.html) and tags_named(preview, "img") == []


def test_tsv_wide_and_large(reg: CountingRegistry, tmp_path: Path) -> None:
    header = "\t".join(f"c{i}" for i in range(120))
    line = "\t".join(str(i) for i in range(120))
    data = (header + "\n" + (line + "\n") * 40_000).encode()
    preview = preview_of(reg, tmp_path, "wide.tsv", data)
    assert preview.kind == "csv"
    assert preview.note is not None and preview.note.startswith("120 columns; tab-separated; first 50 rows of ")
    assert "first 50 columns" in preview.note and "… 70 more" in str(preview.html)
    assert reg.bytes_read <= 256 * 1024


def test_parquet_schema_and_rows(reg: CountingRegistry, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"id": list(range(5000)), XSS: [f"<i>{i}</i>" for i in range(5000)],
                      "x": [i / 3 for i in range(5000)]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=1000)
    preview = preview_of(reg, tmp_path, "t.parquet", buffer.getvalue())
    assert preview.kind == "parquet"
    assert preview.note == "5,000 rows; 3 columns; 5 row groups; first 50 rows"
    schema, rows = tags_named(preview, "table")
    assert "preview-schema" in (schema["class"] or "")
    html = str(preview.html)
    assert "<td>int64</td>" in html and "<td>&lt;i&gt;49&lt;/i&gt;</td>" in html and "<td>50</td>" not in html
    assert len(tags_named(preview, "tr")) == (1 + 3) + (1 + 50)


def test_parquet_reads_within_budget(reg: CountingRegistry, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    import random

    rng = random.Random(1)
    table = pa.table({"blob": [rng.randbytes(200) for _ in range(100_000)]})  # ~20 MiB, one row group
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="none")
    preview = preview_of(reg, tmp_path, "big.parquet", buffer.getvalue())
    assert preview.kind == "parquet" and "first 50 rows" in (preview.note or "")
    assert reg.bytes_read < 4 * 1024 * 1024, reg.bytes_read


def test_not_parquet_is_none(reg: CountingRegistry, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    preview = preview_of(reg, tmp_path, "fake.parquet", b"PAR1 not really" * 10)
    assert preview.kind == "none" and "not a readable Parquet file" in (preview.note or "")


# Images ------------------------------------------------------------------------------------


def test_png_is_an_img_of_the_raw_url(reg: CountingRegistry, tmp_path: Path) -> None:
    preview = preview_of(reg, tmp_path, 'a"><script>.png', PNG_HEAD, name="img")
    assert preview.kind == "image"
    (img,) = tags_named(preview, "img")
    assert img == {"src": RAW, "alt": 'a"><script>.png', "class": "preview-image"}
    assert reg.bytes_read == 16


def test_image_whose_bytes_do_not_match_is_none(reg: CountingRegistry, tmp_path: Path) -> None:
    preview = preview_of(reg, tmp_path, "fake.png", b"<html><script>alert(1)</script>")
    assert preview.kind == "none" and preview.note == "no preview: the content is not a image/png image"
    assert tags_named(preview, "img") == []
    preview = preview_of(reg, tmp_path, "jpeg.png", b"\xff\xd8\xff\xe0" + b"\x00" * 40, name="j")
    assert preview.kind == "none"


def test_svg_is_never_inlined(reg: CountingRegistry, tmp_path: Path) -> None:
    svg = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
    preview = preview_of(reg, tmp_path, "x.svg", svg)
    assert preview.kind == "svg"
    assert [tag for tag, _ in audit(str(preview.html))] == ["img"]
    assert "alert" not in str(preview.html) and reg.bytes_read == 0


def test_unsafe_raw_url_is_not_used(reg: CountingRegistry, tmp_path: Path) -> None:
    art = upload(reg, tmp_path, "a.png", PNG_HEAD)
    preview = build_preview(reg, art, None, "javascript:alert(1)")
    assert_safe(preview)
    assert preview.kind == "none" and tags_named(preview, "img") == []


# NumPy -------------------------------------------------------------------------------------


def test_npy_small_is_summarized(reg: CountingRegistry, tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    buffer = io.BytesIO()
    np.save(buffer, np.arange(12, dtype=np.float64).reshape(3, 4))
    preview = preview_of(reg, tmp_path, "a.npy", buffer.getvalue())
    assert preview.kind == "array" and preview.note == "all 12 items"
    html = str(preview.html)
    for expected in ("<dt>Shape</dt><dd>(3, 4)</dd>", "<dd>float64 (&lt;f8)</dd>", "<dt>Min</dt><dd>0</dd>",
                     "<dt>Max</dt><dd>11</dd>", "<dt>Mean</dt><dd>5.5</dd>", "C (row-major)"):
        assert expected in html, expected
    assert '<pre class="preview-array-items">' in html


def test_npy_large_reads_header_and_first_items(reg: CountingRegistry, tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    buffer = io.BytesIO()
    np.save(buffer, np.arange(1_000_000, dtype=np.int32))
    preview = preview_of(reg, tmp_path, "big.npy", buffer.getvalue())
    assert preview.kind == "array"
    assert preview.note == "first 20 of 1,000,000 items; larger than 1.0 MiB: no summary"
    assert "19]" in str(preview.html) and "<dt>Min</dt>" not in str(preview.html)
    assert reg.bytes_read <= 4096 + 80


def test_npy_object_dtype_is_not_loaded(reg: CountingRegistry, tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}, "x", None], dtype=object), allow_pickle=True)
    data = buffer.getvalue()
    preview = preview_of(reg, tmp_path, "obj.npy", data)
    assert preview.kind == "array" and preview.note == "object array: not loaded (its items are pickled)"
    assert "<dt>Dtype</dt><dd>|O</dd>" in str(preview.html)
    assert reg.bytes_read == min(len(data), 4096)
    assert tags_named(preview, "pre") == []


def npy_bytes(header: str, version: int = 1) -> bytes:
    raw = header.encode("latin-1")
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(raw)) + raw
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(raw)) + raw


def test_npy_header_parsing_without_numpy() -> None:
    header = parse_npy_header(npy_bytes("{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }\n"))
    assert (header.descr, header.fortran_order, header.shape, header.count, header.has_object) == (
        "<i8", True, (2, 3), 6, False)
    v2 = parse_npy_header(npy_bytes("{'descr': [('a', '<f4'), ('b', '|O')], 'fortran_order': False, 'shape': ()}", 2))
    assert v2.version == (2, 0) and v2.has_object and v2.count == 1
    for bad in (b"not numpy", npy_bytes("{'descr': '<i8'}"), npy_bytes("__import__('os')"),
                npy_bytes("{'descr': '<i8', 'fortran_order': 1, 'shape': (2,)}"),
                npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (-1,)}"),
                npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (2,)}")[:20]):
        with pytest.raises(NpyHeaderError):
            parse_npy_header(bad)


def test_npy_invalid_is_none(reg: CountingRegistry, tmp_path: Path) -> None:
    preview = preview_of(reg, tmp_path, "bad.npy", npy_bytes("{'descr': '<i8', 'x': 1}") + b"\x00" * 8)
    assert preview.kind == "none" and "not a valid .npy file" in (preview.note or "")


# Objects, references, directories ------------------------------------------------------------


def test_object_artifact_shows_serializer_snapshot_and_payload(reg: CountingRegistry, tmp_path: Path) -> None:
    art = reg.save_object({"k": XSS, "n": [1, 2]}, "cfg", serializer="json")
    preview = build_preview(reg, art, None, RAW)
    assert_safe(preview)
    assert preview.kind == "object"
    html = str(preview.html)
    snapshot = reg.get_plugin_snapshot(art.serializer.snapshot_id)  # type: ignore[union-attr]
    for expected in ("<dt>Serializer</dt><dd>json</dd>", "<dt>Python type</dt><dd>builtins.dict</dd>",
                     f"<dd>{snapshot.id}</dd>", f"<dd>{snapshot.digest}</dd>", f"<dd>{snapshot.plugin_name}</dd>"):
        assert expected in html, (expected, html)
    assert '<div class="preview-payload"><div class="preview-json">' in html
    assert "&lt;script&gt;" in html


def test_numpy_object_shows_its_array(reg: CountingRegistry, tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    art = reg.save_object(np.arange(6).reshape(2, 3), "arr")
    preview = build_preview(reg, art, None, RAW)
    assert preview.kind == "object"
    assert "<dt>Serializer</dt><dd>numpy</dd>" in str(preview.html)
    assert "<dt>Shape</dt><dd>(2, 3)</dd>" in str(preview.html)


def test_reference_is_described_not_fetched(reg: CountingRegistry, tmp_path: Path) -> None:
    target = tmp_path / "ref" / "data.csv"
    target.parent.mkdir()
    target.write_text("a,b\n1,2\n")
    art = reg.add_reference(target.as_uri(), name="ref")
    preview = build_preview(reg, art, None, RAW)
    assert_safe(preview)
    assert preview.kind == "reference" and reg.reads == []
    assert f"<code>{target.as_uri()}</code>" in str(preview.html) and "<dd>8 B (8 bytes)</dd>" in str(preview.html)


def test_reference_links_only_http() -> None:
    for uri, linked in (("https://example.com/x?a=1&b=<2>", True), ("javascript:alert(1)", False),
                        ("s3://bucket/key", False)):
        preview = previews._reference_preview(ArtifactFile(path="x", uri=uri, size=None))
        assert_safe(preview)
        links = tags_named(preview, "a")
        assert bool(links) is linked
        if linked:
            assert links[0] == {"href": uri, "rel": "noopener noreferrer nofollow"}


def test_directory_and_its_files(reg: CountingRegistry, tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / f"{XSS_FILE}.txt").write_text("inner <b>")
    (folder / "m.json").write_text('{"a": 1}')
    art = reg.upload_dir(folder, name="d")
    preview = build_preview(reg, art, None, RAW)
    assert preview.kind == "directory" and preview.note == "a directory of 2 files: choose a file to preview"
    preview = build_preview(reg, art, f"sub/{XSS_FILE}.txt", RAW)
    assert_safe(preview)
    assert preview.kind == "text" and "inner &lt;b&gt;" in str(preview.html)
    assert build_preview(reg, art, "m.json", RAW).kind == "json"
    missing = build_preview(reg, art, "nope.txt", RAW)
    assert missing.kind == "none" and "nope.txt" in (missing.note or "")


def test_xss_name_and_empty_file(reg: CountingRegistry, tmp_path: Path) -> None:
    preview = preview_of(reg, tmp_path, "empty.txt", b"", name="x")
    assert preview.kind == "text" and preview.note == "empty file"


def test_corrupt_content_is_none(reg: CountingRegistry, tmp_path: Path) -> None:
    data = b"precious log line\n" * 1000
    art = upload(reg, tmp_path, "c.log", data)
    (blob,) = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file() and p.stat().st_size == len(data)]
    blob.chmod(0o644)
    blob.write_bytes(b"X" + data[1:])
    preview = build_preview(reg, art, None, RAW)
    assert preview.kind == "none" and (preview.note or "").startswith("the content failed verification")
    assert "precious" not in str(preview.html)
