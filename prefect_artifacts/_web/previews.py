"""Bounded, escaped previews of an artifact's file for the web view's artifact page.

`build_preview` picks a kind from the file's MIME type, name and first bytes, reads
only what that kind needs through the registry's verified ranged reads (never a whole
large file, never a reference's URI), and returns a `Preview` whose ``html`` is a
self-contained fragment safe to insert as is: every string from the artifact is
escaped, and it has no ``<script>``, no event handler attributes, no ``style``
attributes and no ``javascript:`` URLs (SVG and HTML content are never inlined).

The fragment's CSS classes, for the stylesheet: ``preview-text`` (a ``<pre>``, with a
``preview-gap`` span between head and tail), ``preview-markdown``, ``preview-json``
(nested ``<details>``: ``json-key``, ``json-string``, ``json-number``, ``json-bool``,
``json-null``, ``json-count``, ``json-more``), ``preview-table`` (CSV and Parquet rows;
``preview-schema`` for a Parquet schema), ``preview-image`` (and ``preview-svg``),
``preview-fields`` (a ``<dl>`` of facts: arrays, objects, references),
``preview-note`` (a ``<p>``), ``preview-array-items`` (a ``<pre>``).
"""

from __future__ import annotations

import codecs
import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

from prefect_artifacts._aspects import PRODUCER_ASPECT
from prefect_artifacts._mime import detect_mime
from prefect_artifacts._sizes import human_size
from prefect_artifacts.errors import ArtifactError, ArtifactIntegrityError, BlobNotFound, StorageError
from prefect_artifacts.models import Artifact, ArtifactFile, ArtifactKind
from prefect_artifacts.registry.base import Registry
from prefect_artifacts.serializers.api import OBJECT_ASPECT

#: Bytes of a text file shown from its start.
TEXT_HEAD = 64 * 1024
#: Bytes of a text file shown from its end (when it is longer than head and tail).
TEXT_TAIL = 16 * 1024
#: Bytes read to decide whether a file of unknown type is UTF-8 text.
SNIFF_BYTES = 8 * 1024
#: Largest Markdown file rendered (markdown-it needs ~1 s of CPU for 128 KiB of adversarial
#: input); a larger one is shown as text (head and tail).
MARKDOWN_MAX = 128 * 1024
#: Largest JSON file parsed into a tree (the tree itself is bounded below); a larger one is text.
JSON_MAX = 1024 * 1024
#: JSON tree bounds: nesting depth shown, items shown per object or array, nodes in all.
JSON_MAX_DEPTH = 12
JSON_MAX_ITEMS = 200
JSON_MAX_NODES = 2000
#: Levels of the JSON tree open at first.
JSON_OPEN_DEPTH = 2
#: Characters of one JSON string, CSV cell or Parquet value shown.
MAX_VALUE_CHARS = 500

KIND_TEXT = "text"
KIND_MARKDOWN = "markdown"
KIND_JSON = "json"
KIND_CSV = "csv"
KIND_PARQUET = "parquet"
KIND_IMAGE = "image"
KIND_SVG = "svg"
KIND_ARRAY = "array"
KIND_OBJECT = "object"
KIND_DIRECTORY = "directory"
KIND_REFERENCE = "reference"
KIND_NONE = "none"

_IMAGE_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),  # and "WEBP" at offset 8, checked below
}
_TEXT_TYPES = {
    "application/yaml", "application/x-yaml", "application/toml", "application/xml", "application/jsonl",
    "application/x-ndjson", "application/javascript", "application/x-sh", "application/sql",
    "application/x-python", "application/x-python-code", "application/x-tex", "application/ecmascript",
}
_TEXT_SUFFIXES = (".log", ".txt", ".out", ".err", ".ini", ".cfg", ".conf", ".py", ".sql", ".sh", ".jsonl",
                  ".ndjson", ".yaml", ".yml", ".toml", ".rst", ".env", ".r", ".tex")
#: Serializers whose payload an object preview shows (by its file type; never unpickled).
_PAYLOAD_SERIALIZERS = ("json", "text", "numpy", "pandas")


@dataclass
class Preview:
    """A preview of one artifact file, ready for a page.

    ``kind`` is one of ``text``, ``markdown``, ``json``, ``csv``, ``parquet``, ``image``,
    ``svg``, ``array``, ``object``, ``directory``, ``reference``, ``none``; ``note`` says
    what was left out or why there is none; ``html`` is a safe fragment.

    Example:
        ```python
        preview = build_preview(reg, art, "logs/train.log", raw_url)
        preview.kind, preview.note  # ("text", "first 64.0 KiB and last 16.0 KiB of 20.0 MiB")
        ```
    """

    kind: str
    note: str | None
    html: Markup


class FileSource:
    """One file of an artifact read in verified byte ranges, counting what it reads.

    Example:
        ```python
        source = FileSource(reg, art, None, art.files[0])
        head = source.read(0, 1024)
        ```
    """

    def __init__(self, registry: Registry, art: Artifact, path: str | None, meta: ArtifactFile) -> None:
        self.registry = registry
        self.art = art
        self.path = path
        self.meta = meta
        self.name = meta.path.rsplit("/", 1)[-1] or art.name
        self.size = meta.size
        #: Bytes returned by the registry so far.
        self.bytes_read = 0

    def read(self, start: int, end: int) -> bytes:
        r"""Bytes ``[start, end)`` (fewer at the end of the file).

        Example:
            ```python
            source.read(0, 8)  # b"\\x89PNG\\r\\n\\x1a\\n"
            ```
        """
        if self.size is not None:
            end = min(end, self.size)
        if end <= start:
            return b""
        parts = []
        for chunk in self.registry.read(self.art.id, path=self.path, start=start, end=end):
            parts.append(chunk)
            self.bytes_read += len(chunk)
        return b"".join(parts)

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes (all of them for a shorter file).

        Example:
            ```python
            source.head(512)
            ```
        """
        return self.read(0, n if self.size is None else min(n, self.size))

    def whole(self, limit: int) -> bytes | None:
        """The whole file if it has at most ``limit`` bytes, else None (reading at most ``limit + 1``).

        Example:
            ```python
            data = source.whole(JSON_MAX)
            ```
        """
        if self.size is not None and self.size > limit:
            return None
        data = self.read(0, limit + 1)
        return data if len(data) <= limit else None


def build_preview(registry: Registry, art: Artifact, path: str | None, raw_url: str) -> Preview:
    """A bounded, escaped preview of ``path`` in ``art`` (None: the artifact itself).

    A directory artifact without ``path`` is a ``directory`` preview (its page shows the
    file tree); an object artifact without ``path`` shows its serializer, snapshot and
    type (and its payload for the json, text, numpy and pandas serializers); a reference is described, never
    fetched. ``raw_url`` is where the page serves the file's bytes, used for images only.

    Example:
        ```python
        preview = build_preview(reg, art, None, "/ui/artifacts/abc/raw")
        return templates.TemplateResponse("artifact.html", {"preview": preview, ...})
        ```
    """
    if path is None and art.kind is ArtifactKind.OBJECT:
        return _object_preview(registry, art, raw_url)
    if path is None and art.is_dir:
        count = f"{art.file_count:,} file{'s' if art.file_count != 1 else ''}"
        return Preview(KIND_DIRECTORY, f"a directory of {count}: choose a file to preview",
                       _note_html(f"A directory of {count}."))
    meta = _find_file(registry, art, path)
    if meta is None:
        return no_preview(f"no file {path!r} in {art.name}")
    if meta.is_reference or art.kind is ArtifactKind.REFERENCE:
        return _reference_preview(meta)
    source = FileSource(registry, art, path if art.is_dir else None, meta)
    try:
        return preview_file(source, raw_url)
    except ArtifactIntegrityError as exc:
        return no_preview(f"the content failed verification: {exc}")
    except (BlobNotFound, StorageError) as exc:
        return no_preview(f"the content could not be read: {exc}")


def preview_file(source: FileSource, raw_url: str) -> Preview:
    """The preview of one stored file, chosen by its MIME type, name and first bytes.

    Example:
        ```python
        preview_file(FileSource(reg, art, None, art.files[0]), raw_url)
        ```
    """
    from prefect_artifacts._web import preview_data

    mime = _mime_of(source)
    lower = source.name.lower()
    if mime == "image/svg+xml" or lower.endswith(".svg"):
        img = _img(raw_url, source.name, "preview-svg")
        return no_preview("no preview: no web address for the SVG") if img is None else Preview(KIND_SVG, None, img)
    if mime in _IMAGE_MAGIC:
        return _image_preview(source, mime, raw_url)
    if source.size == 0:
        return Preview(KIND_TEXT, "empty file", Markup('<pre class="preview-text"></pre>'))
    if mime == "text/markdown" or lower.endswith((".md", ".markdown")):
        return markdown_preview(source)
    if mime == "application/json" or mime.endswith("+json") or lower.endswith(".json"):
        return json_preview(source)
    if mime in ("text/csv", "text/tab-separated-values") or lower.endswith((".csv", ".tsv")):
        return preview_data.csv_preview(source)
    if mime == "application/vnd.apache.parquet" or lower.endswith(".parquet"):
        return preview_data.parquet_preview(source)
    if mime == "application/x-npy" or lower.endswith(".npy"):
        return preview_data.npy_preview(source)
    if mime.startswith("text/") or mime in _TEXT_TYPES or lower.endswith(_TEXT_SUFFIXES):
        return text_preview(source)
    if _looks_like_text(source.head(SNIFF_BYTES), complete=source.size is not None and source.size <= SNIFF_BYTES):
        return text_preview(source)
    return no_preview(f"no preview for {mime}")


def text_preview(source: FileSource, note: str | None = None) -> Preview:
    """The first `TEXT_HEAD` and last `TEXT_TAIL` bytes as text in a ``<pre>``.

    Example:
        ```python
        text_preview(source).html  # Markup('<pre class="preview-text">...</pre>')
        ```
    """
    size = source.size
    if size is None or size <= TEXT_HEAD + TEXT_TAIL:
        data = source.read(0, TEXT_HEAD + TEXT_TAIL + 1)
        if len(data) <= TEXT_HEAD + TEXT_TAIL:
            return Preview(KIND_TEXT, note, Markup('<pre class="preview-text">{}</pre>').format(decode_text(data)))
        size = None  # the size was unknown or wrong: show the head only
    head = decode_text(source.read(0, TEXT_HEAD), final=False)
    if size is None:
        parts = [note, f"first {human_size(TEXT_HEAD)}"]
        html = Markup('<pre class="preview-text">{}<span class="preview-gap">\n… more not shown …</span></pre>')
        return Preview(KIND_TEXT, "; ".join(p for p in parts if p), html.format(head))
    tail = _decode_tail(source.read(size - TEXT_TAIL, size))
    hidden = size - TEXT_HEAD - TEXT_TAIL
    html = Markup('<pre class="preview-text">{}<span class="preview-gap">\n… {} bytes not shown …\n</span>{}</pre>')
    parts = [note, f"first {human_size(TEXT_HEAD)} and last {human_size(TEXT_TAIL)} of {human_size(size)}"]
    return Preview(KIND_TEXT, "; ".join(p for p in parts if p), html.format(head, f"{hidden:,}", tail))


# Markdown ---------------------------------------------------------------------------

_SAFE_SCHEMES = ("http", "https", "mailto")


def _safe_link(url: str) -> bool:
    """Only http(s), mailto and scheme-less (relative, anchor) links survive."""
    cleaned = "".join(ch for ch in url if ch > " " and ch != "\x7f").lower()
    scheme, sep, _rest = cleaned.partition(":")
    if not sep or "/" in scheme or "?" in scheme or "#" in scheme:
        return True
    return scheme in _SAFE_SCHEMES


def _render_image(self: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    """An image is not fetched: its alt text stands in for it."""
    alt = self.renderInlineAsText(tokens[idx].children or [], options, env)
    return str(Markup('<span class="preview-md-image">[image: {}]</span>').format(alt))


def _render_link_open(self: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict,
                      env: EnvType) -> str:
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
    return self.renderToken(tokens, idx, options, env)


def _render_cell_open(self: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict,
                      env: EnvType) -> str:
    """A table cell's alignment as a class (``align-left|right|center``): the CSP forbids ``style``."""
    token = tokens[idx]
    style = str(token.attrs.pop("style", ""))
    if style.startswith("text-align:") and style[11:] in ("left", "right", "center"):
        token.attrSet("class", f"align-{style[11:]}")
    return self.renderToken(tokens, idx, options, env)


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    md.validateLink = _safe_link  # type: ignore[method-assign]
    md.add_render_rule("image", _render_image)
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("th_open", _render_cell_open)
    md.add_render_rule("td_open", _render_cell_open)
    return md


_MD = _markdown()


def render_markdown(text: str) -> Markup:
    r"""CommonMark (and tables) as safe HTML: raw HTML stays text, unsafe links are dropped, images are alt text.

    Example:
        ```python
        render_markdown("# Title\\n<script>x</script>")  # the tag is shown escaped
        ```
    """
    return Markup(_MD.render(text))  # noqa: S704 - markdown-it escapes all text; html=False


def markdown_preview(source: FileSource) -> Preview:
    """Markdown rendered (sanitized) when at most `MARKDOWN_MAX` bytes, else its text head and tail.

    Example:
        ```python
        markdown_preview(source).kind  # "markdown"
        ```
    """
    data = source.whole(MARKDOWN_MAX)
    if data is None:
        return text_preview(source, f"larger than {human_size(MARKDOWN_MAX)}: not rendered")
    html = Markup('<div class="preview-markdown">{}</div>').format(render_markdown(decode_text(data)))
    return Preview(KIND_MARKDOWN, None, html)


# JSON -------------------------------------------------------------------------------


def json_preview(source: FileSource) -> Preview:
    """A collapsible tree of a JSON file of at most `JSON_MAX` bytes, else its text head and tail.

    Example:
        ```python
        json_preview(source).kind  # "json"
        ```
    """
    data = source.whole(JSON_MAX)
    if data is None:
        return text_preview(source, f"larger than {human_size(JSON_MAX)}: shown as text")
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else f"not valid JSON ({exc})"
        return text_preview(source, reason)
    tree = JsonTree()
    html = tree.render(value)
    return Preview(KIND_JSON, tree.note(), html)


class JsonTree:
    """Renders a JSON value as nested ``<details>``, bounded in depth, items and nodes.

    Example:
        ```python
        tree = JsonTree()
        html = tree.render({"a": [1, 2, 3]})
        ```
    """

    def __init__(self, max_depth: int = JSON_MAX_DEPTH, max_items: int = JSON_MAX_ITEMS,
                 max_nodes: int = JSON_MAX_NODES) -> None:
        self.max_depth = max_depth
        self.max_items = max_items
        self.max_nodes = max_nodes
        self.nodes = 0
        self.truncated = False

    def render(self, value: Any) -> Markup:
        """The tree of ``value`` in a ``<div class="preview-json">``.

        Example:
            ```python
            JsonTree().render([1, "a", None])
            ```
        """
        self.nodes = 0
        self.truncated = False
        inner = self._node(Markup(""), value, 0)
        return Markup('<div class="preview-json"><ul class="json-root">{}</ul></div>').format(inner)

    def note(self) -> str | None:
        """What the last `render` left out, if anything.

        Example:
            ```python
            tree.note()  # "some items not shown (limits: depth 12, 200 items, 2000 nodes)"
            ```
        """
        if not self.truncated:
            return None
        return (f"some items not shown (limits: depth {self.max_depth}, {self.max_items} items per level, "
                f"{self.max_nodes} nodes)")

    def _node(self, label: Markup, value: Any, depth: int) -> Markup:
        self.nodes += 1
        if isinstance(value, dict):
            items: list[tuple[Markup, Any]] = [
                (Markup('<span class="json-key">{}</span>: ').format(json.dumps(k, ensure_ascii=False)), v)
                for k, v in _first(value.items(), self.max_items)
            ]
            return self._container(label, items, len(value), "{", "}", "key", depth)
        if isinstance(value, list):
            indexed = [(Markup('<span class="json-index">{}</span>: ').format(i), v)
                       for i, v in enumerate(_first(value, self.max_items))]
            return self._container(label, indexed, len(value), "[", "]", "item", depth)
        return Markup("<li>{}{}</li>").format(label, _scalar(value))

    def _container(self, label: Markup, items: list[tuple[Markup, Any]], total: int, opening: str,
                   closing: str, noun: str, depth: int) -> Markup:
        count = Markup('<span class="json-count">{} {}{}</span>').format(f"{total:,}", noun, "" if total == 1 else "s")
        if total == 0:
            return Markup("<li>{}{}{} {}</li>").format(label, opening, closing, count)
        if depth >= self.max_depth or self.nodes >= self.max_nodes:
            self.truncated = True
            return Markup('<li>{}{}…{} {} <span class="json-more">(not shown)</span></li>').format(
                label, opening, closing, count)
        children: list[Markup] = []
        for child_label, child in items:
            if self.nodes >= self.max_nodes:
                break
            children.append(self._node(child_label, child, depth + 1))
        hidden = total - len(children)
        if hidden:
            self.truncated = True
            children.append(Markup('<li class="json-more">… {} more {}{}</li>').format(
                f"{hidden:,}", noun, "" if hidden == 1 else "s"))
        opened = Markup(" open") if depth < JSON_OPEN_DEPTH else Markup("")
        return Markup("<li><details{}><summary>{}{} {}</summary><ul>{}</ul>{}</details></li>").format(
            opened, label, opening, count, Markup("").join(children), closing)


def _first(items: Any, n: int) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if len(out) >= n:
            break
        out.append(item)
    return out


def _scalar(value: Any) -> Markup:
    if value is None:
        return Markup('<span class="json-null">null</span>')
    if isinstance(value, bool):
        return Markup('<span class="json-bool">{}</span>').format("true" if value else "false")
    if isinstance(value, (int, float)):
        text = repr(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
        return Markup('<span class="json-number">{}</span>').format(shorten(text))
    return Markup('<span class="json-string">{}</span>').format(shorten(json.dumps(str(value), ensure_ascii=False)))


# Images, objects, references ----------------------------------------------------------


def _image_preview(source: FileSource, mime: str, raw_url: str) -> Preview:
    head = source.head(16)
    ok = any(head.startswith(magic) for magic in _IMAGE_MAGIC[mime])
    if mime == "image/webp":
        ok = ok and head[8:12] == b"WEBP"
    if not ok:
        return no_preview(f"no preview: the content is not a {mime} image")
    img = _img(raw_url, source.name, None)
    return no_preview("no preview: no web address for the image") if img is None else Preview(KIND_IMAGE, None, img)


def _img(raw_url: str, name: str, extra_class: str | None) -> Markup | None:
    """``<img src=raw_url alt=name>``; None when ``raw_url`` is not a relative or http(s) address."""
    if _scheme(raw_url) not in ("", "http", "https"):
        return None
    classes = "preview-image" + (f" {extra_class}" if extra_class else "")
    return Markup('<img src="{}" alt="{}" class="{}">').format(raw_url, name, classes)


def _object_preview(registry: Registry, art: Artifact, raw_url: str) -> Preview:
    recorded: dict[str, Any] = {}
    producer: dict[str, Any] = {}
    for aspect in registry.get_metadata(art.id):
        if aspect.schema_name == OBJECT_ASPECT:
            recorded = aspect.content
        elif aspect.schema_name == PRODUCER_ASPECT and aspect.created == art.created:
            producer = aspect.content
    serializer = recorded.get("serializer") or (art.serializer.task_name if art.serializer else None)
    rows: list[tuple[str, Any]] = [
        ("Serializer", serializer),
        ("Serializer version", recorded.get("serializer_version")),
        ("Serializer task", art.serializer.task_name if art.serializer else None),
        ("Python type", recorded.get("python_type")),
        ("Serializer module", recorded.get("module")),
        ("Serializer class", recorded.get("qualname")),
        ("Payload path", recorded.get("path")),
        ("Options", json.dumps(recorded["options"], sort_keys=True) if recorded.get("options") else None),
        ("Produced by task run", producer.get("task_run_name")),
        ("Produced by flow", producer.get("flow_name")),
    ]
    notes: list[str] = []
    snapshot_id = (art.serializer.snapshot_id if art.serializer else None) or recorded.get("snapshot_id")
    if snapshot_id:
        rows.append(("Plugin snapshot", snapshot_id))
        try:
            snapshot = registry.get_plugin_snapshot(snapshot_id)
        except ArtifactError as exc:
            notes.append(f"plugin snapshot unavailable: {exc}")
            rows.append(("Snapshot digest", recorded.get("snapshot_digest")))
        else:
            rows += [("Plugin", snapshot.plugin_name), ("Plugin version", snapshot.version),
                     ("Snapshot digest", snapshot.digest), ("Snapshot files", f"{len(snapshot.files):,}")]
    html = fields_html(rows)
    if serializer in _PAYLOAD_SERIALIZERS:
        payload = _payload_preview(registry, art, recorded.get("path"), raw_url)
        if payload is not None:
            html = Markup('{}<div class="preview-payload">{}</div>').format(html, payload.html)
            if payload.note:
                notes.append(f"payload: {payload.note}")
    return Preview(KIND_OBJECT, "; ".join(notes) or None, html)


def _payload_preview(registry: Registry, art: Artifact, path: Any, raw_url: str) -> Preview | None:
    files = registry.files(art.id)
    if art.is_dir:
        if not isinstance(path, str) or path in ("", "."):
            return None
        meta = next((f for f in files if f.path == path), None)
        read_path: str | None = path
    else:
        meta = files[0] if files else None
        read_path = None
    if meta is None or meta.is_reference:
        return None
    try:
        return preview_file(FileSource(registry, art, read_path, meta), raw_url)
    except (ArtifactIntegrityError, BlobNotFound, StorageError) as exc:
        return no_preview(f"the content could not be read: {exc}")


def _reference_preview(meta: ArtifactFile) -> Preview:
    uri = meta.uri or ""
    if _scheme(uri) in ("http", "https"):
        shown = Markup('<a href="{}" rel="noopener noreferrer nofollow">{}</a>').format(uri, uri)
    else:
        shown = Markup("<code>{}</code>").format(uri)
    rows: list[tuple[str, Any]] = [("URI", shown), ("Size", _size_text(meta.size)), ("Checksum", meta.checksum),
                                   ("MIME type", meta.mime_type)]
    return Preview(KIND_REFERENCE, "a reference: its content is not fetched for a preview", fields_html(rows))


def fields_html(rows: list[tuple[str, Any]]) -> Markup:
    """A ``<dl class="preview-fields">`` of the rows whose value is not None (values escaped unless Markup).

    Example:
        ```python
        fields_html([("Shape", "(3, 4)"), ("Dtype", "float64")])
        ```
    """
    parts = [Markup("<dt>{}</dt><dd>{}</dd>").format(label, value if isinstance(value, Markup) else shorten(str(value)))
             for label, value in rows if value is not None]
    return Markup('<dl class="preview-fields">{}</dl>').format(Markup("").join(parts))


# Helpers ------------------------------------------------------------------------------


def _find_file(registry: Registry, art: Artifact, path: str | None) -> ArtifactFile | None:
    files = registry.files(art.id)
    if path is None:
        return files[0] if len(files) == 1 else None
    wanted = path.strip("/")
    return next((f for f in files if f.path == wanted), None)


def _scheme(url: str) -> str | None:
    """The URL's scheme, lower case ("" for a relative URL; None when it does not parse)."""
    try:
        return urlsplit("".join(ch for ch in url if ch > " ")).scheme.lower()
    except ValueError:
        return None


def _mime_of(source: FileSource) -> str:
    mime = (source.meta.mime_type or "").split(";")[0].strip().lower()
    if not mime or mime == "application/octet-stream":
        guessed = detect_mime(source.name)
        if guessed != "application/octet-stream":
            return guessed
    return mime or "application/octet-stream"


def _looks_like_text(head: bytes, complete: bool) -> bool:
    if not head or b"\x00" in head:
        return False
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        decoder.decode(head, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def decode_text(data: bytes, final: bool = True) -> str:
    """UTF-8 (BOM dropped), bad bytes replaced; ``final=False`` drops a character cut at the end.

    Example:
        ```python
        decode_text("é".encode()[:1], final=False)  # ""
        ```
    """
    return codecs.getincrementaldecoder("utf-8-sig")("replace").decode(data, final=final)


def _decode_tail(data: bytes) -> str:
    """A tail cut at an arbitrary byte: leading UTF-8 continuation bytes dropped."""
    skip = 0
    while skip < min(3, len(data)) and 0x80 <= data[skip] <= 0xBF:
        skip += 1
    return data[skip:].decode("utf-8", "replace")


def shorten(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis.

    Example:
        ```python
        shorten("x" * 1000, 10)  # "xxxxxxxxx…"
        ```
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _size_text(size: int | None) -> str | None:
    return None if size is None else f"{human_size(size)} ({size:,} bytes)"


def _note_html(text: str) -> Markup:
    return Markup('<p class="preview-note">{}</p>').format(text)


def no_preview(note: str) -> Preview:
    """A ``none`` preview whose note (also shown in the fragment) says why.

    Example:
        ```python
        no_preview("no preview for application/zip").kind  # "none"
        ```
    """
    return Preview(KIND_NONE, note, Markup('<p class="preview-none">No preview.</p>'))

