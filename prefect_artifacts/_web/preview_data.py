"""Previews of data files: CSV/TSV rows, Parquet schema and rows, NumPy ``.npy`` headers and summaries.

Each reads a bounded part of the file through `FileSource` (verified ranged reads):
CSV its first `CSV_HEAD` bytes, Parquet its footer and first pages through a seekable
view with a read budget, ``.npy`` its header and, for a small array, the whole file.
pyarrow and numpy are optional: without them the preview says what it cannot show.
"""

from __future__ import annotations

import ast
import csv
import importlib
import io
import math
import warnings
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from prefect_artifacts._sizes import human_size
from prefect_artifacts._web.previews import (
    KIND_ARRAY,
    KIND_CSV,
    KIND_PARQUET,
    FileSource,
    Preview,
    decode_text,
    fields_html,
    no_preview,
    shorten,
    text_preview,
)

#: Bytes read from the start of a CSV/TSV file.
CSV_HEAD = 256 * 1024
#: Bytes of that head given to the delimiter sniffer.
CSV_SNIFF = 16 * 1024
#: Rows (after the header) and columns shown of a CSV or Parquet file.
CSV_ROWS = 50
CSV_COLUMNS = 50
#: Characters shown of one cell.
CELL_CHARS = 200
#: Columns listed in a Parquet schema.
PARQUET_SCHEMA_COLUMNS = 500
#: Bytes a Parquet preview may read in all (footer, first pages); beyond it the rows are left out.
PARQUET_READ_BUDGET = 16 * 1024 * 1024
#: Size of the aligned blocks the Parquet reader fetches (the chunk index's chunk size).
PARQUET_BLOCK = 512 * 1024
#: Bytes read first from a ``.npy`` file, and the largest header accepted.
NPY_HEAD = 4096
NPY_HEADER_MAX = 64 * 1024
#: Largest ``.npy`` file loaded whole (with numpy) for min/max/mean.
NPY_LOAD_MAX = 1024 * 1024
#: Items of an array shown.
NPY_ITEMS = 20

_DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
_NPY_MAGIC = b"\x93NUMPY"


# CSV --------------------------------------------------------------------------------


def csv_preview(source: FileSource) -> Preview:
    """The header and first `CSV_ROWS` rows (`CSV_COLUMNS` columns) of a CSV/TSV file as a table.

    The delimiter is sniffed on the head (comma, tab, semicolon or pipe).

    Example:
        ```python
        csv_preview(source).note  # "3 columns, comma-separated; all 12 rows"
        ```
    """
    data = source.head(CSV_HEAD)
    complete = source.size is not None and len(data) >= source.size
    text = decode_text(data, final=complete)
    if not complete and "\n" in text:
        text = text[: text.rfind("\n") + 1]  # the last line may be cut
    delimiter = _sniff(text, source.name)
    rows: list[list[str]] = []
    counted = 0
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            counted += 1
            if len(rows) <= CSV_ROWS:
                rows.append(row)
            elif not complete:
                break
    except csv.Error as exc:
        return text_preview(source, f"not parsed as CSV ({exc})")
    if not rows:
        return text_preview(source, "no CSV rows")
    width = max(len(row) for row in rows)
    header, body = rows[0], rows[1:]
    shown = min(width, CSV_COLUMNS)
    html = table_html([_cell(c) for c in header[:shown]], [[_cell(c) for c in row[:shown]] for row in body],
                      shown, width - shown)
    parts = [f"{width:,} column{'s' if width != 1 else ''}", f"{_DELIMITERS.get(delimiter, repr(delimiter))}-separated"]
    if complete and counted - 1 <= CSV_ROWS:
        parts.append(f"all {counted - 1:,} rows")
    elif complete:
        parts.append(f"first {len(body):,} of {counted - 1:,} rows")
    else:
        parts.append(f"first {len(body):,} rows of {human_size(source.size)}")
    if width > shown:
        parts.append(f"first {shown} columns")
    return Preview(KIND_CSV, "; ".join(parts), html)


def _sniff(text: str, name: str) -> str:
    fallback = "\t" if name.lower().endswith(".tsv") else ","
    sample = text[:CSV_SNIFF]
    if "\n" in sample[:-1]:
        sample = sample[: sample.rfind("\n")]
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        return fallback


def _cell(value: Any) -> str:
    return shorten(str(value), CELL_CHARS)


def table_html(header: list[str], rows: list[list[str]], width: int, hidden_columns: int = 0,
               extra_class: str | None = None) -> Markup:
    """A ``<table class="preview-table">`` with a header row; short rows are padded to ``width``.

    Example:
        ```python
        table_html(["a", "b"], [["1", "2"]], 2)
        ```
    """
    more = Markup('<th class="preview-more">… {} more</th>').format(f"{hidden_columns:,}") if hidden_columns else ""
    head = Markup("").join(Markup("<th>{}</th>").format(h) for h in header + [""] * (width - len(header)))
    body = Markup("").join(
        Markup("<tr>{}</tr>").format(Markup("").join(Markup("<td>{}</td>").format(c)
                                                     for c in row + [""] * (width - len(row))))
        for row in rows
    )
    classes = "preview-table" + (f" {extra_class}" if extra_class else "")
    return Markup('<table class="{}"><thead><tr>{}{}</tr></thead><tbody>{}</tbody></table>').format(
        classes, head, more, body)


# Parquet ----------------------------------------------------------------------------


class ReadBudgetExceeded(OSError):
    """A preview wanted more bytes than its budget."""


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over a `FileSource`, fetching aligned blocks on demand within a budget.

    Example:
        ```python
        pq.ParquetFile(RangeFile(source, source.size), pre_buffer=False)
        ```
    """

    def __init__(self, source: FileSource, size: int, budget: int = PARQUET_READ_BUDGET,
                 block: int = PARQUET_BLOCK) -> None:
        super().__init__()
        self.source = source
        self.size = size
        self.budget = budget
        self.block = block
        self.position = 0
        self.fetched = 0
        self._blocks: dict[int, bytes] = {}

    def readable(self) -> bool:  # noqa: D102
        return True

    def seekable(self) -> bool:  # noqa: D102
        return True

    def tell(self) -> int:  # noqa: D102
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:  # noqa: D102
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:  # noqa: D102
        view = memoryview(buffer).cast("B")
        data = self._range(self.position, min(self.size, self.position + len(view)))
        view[: len(data)] = data
        self.position += len(data)
        return len(data)

    def read(self, size: int | None = -1) -> bytes:  # noqa: D102
        stop = self.size if size is None or size < 0 else min(self.size, self.position + size)
        data = self._range(self.position, stop)
        self.position += len(data)
        return data

    def _range(self, start: int, stop: int) -> bytes:
        if stop <= start:
            return b""
        first, last = start // self.block, (stop - 1) // self.block
        parts = [self._fetch(i) for i in range(first, last + 1)]
        joined = b"".join(parts)
        offset = first * self.block
        return joined[start - offset: stop - offset]

    def _fetch(self, index: int) -> bytes:
        cached = self._blocks.get(index)
        if cached is not None:
            return cached
        start = index * self.block
        stop = min(self.size, start + self.block)
        if self.fetched + (stop - start) > self.budget:
            raise ReadBudgetExceeded(f"a preview reads at most {human_size(self.budget)}")
        data = self.source.read(start, stop)
        self.fetched += len(data)
        if len(self._blocks) >= 16:
            self._blocks.pop(next(iter(self._blocks)))
        self._blocks[index] = data
        return data


def parquet_preview(source: FileSource) -> Preview:
    """The schema (names, types) and first `CSV_ROWS` rows of a Parquet file, read within `PARQUET_READ_BUDGET`.

    Example:
        ```python
        parquet_preview(source).note  # "1,000,000 rows, 3 columns, 8 row groups; first 50 rows"
        ```
    """
    try:
        pq: Any = importlib.import_module("pyarrow.parquet")  # no type information
    except ImportError:
        return no_preview("no preview for Parquet: pyarrow is not installed")
    if source.size is None:
        return no_preview("no preview: the Parquet file's size is unknown")
    handle = RangeFile(source, source.size)
    try:
        parquet = pq.ParquetFile(handle, pre_buffer=False, buffer_size=64 * 1024)
        schema = parquet.schema_arrow
        meta = parquet.metadata
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds; any means "cannot read it"
        return no_preview(f"no preview: not a readable Parquet file ({exc})")
    names = list(schema.names)
    schema_rows = [[_cell(field.name), _cell(field.type)] for field in list(schema)[:PARQUET_SCHEMA_COLUMNS]]
    schema_html = table_html(["column", "type"], schema_rows, 2, extra_class="preview-schema")
    parts = [f"{meta.num_rows:,} rows", f"{len(names):,} columns", f"{meta.num_row_groups:,} row groups"]
    if len(names) > PARQUET_SCHEMA_COLUMNS:
        parts.append(f"schema: first {PARQUET_SCHEMA_COLUMNS} columns")
    rows_html: Markup | str = ""
    shown = names[:CSV_COLUMNS]
    if meta.num_rows and shown:
        try:
            batch = next(parquet.iter_batches(batch_size=CSV_ROWS, columns=shown, use_threads=False))
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            rows = [[_cell(_value(col[r])) for col in columns] for r in range(batch.num_rows)]
            rows_html = table_html([_cell(n) for n in shown], rows, len(shown), len(names) - len(shown))
            parts.append(f"first {batch.num_rows:,} rows" + (f", {len(shown)} columns" if len(names) > len(shown)
                                                              else ""))
        except Exception as exc:  # noqa: BLE001 - pyarrow errors, the read budget
            parts.append(f"rows not shown ({exc})")
    html = Markup("{}{}").format(schema_html, rows_html)
    return Preview(KIND_PARQUET, "; ".join(parts), html)


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bytes):
        return repr(value[:CELL_CHARS])
    return str(value)


# NumPy ------------------------------------------------------------------------------


@dataclass
class NpyHeader:
    """The header of a ``.npy`` file.

    Example:
        ```python
        parse_npy_header(head).shape  # (3, 4)
        ```
    """

    version: tuple[int, int]
    descr: Any
    fortran_order: bool
    shape: tuple[int, ...]
    data_offset: int

    @property
    def count(self) -> int:
        """Number of elements.

        Example:
            ```python
            header.count  # 12
            ```
        """
        return math.prod(self.shape)

    @property
    def has_object(self) -> bool:
        """Whether the dtype holds Python objects (stored pickled: never loaded here).

        Example:
            ```python
            header.has_object  # False
            ```
        """
        return _descr_has_object(self.descr)


class NpyHeaderError(ValueError):
    """Not a valid ``.npy`` header (or a larger one than `NPY_HEADER_MAX`)."""


def npy_header_size(head: bytes) -> int:
    """Bytes up to the end of the header (the data's offset), from the first 12 bytes.

    Raises:
        NpyHeaderError: no NumPy magic, an unknown version, or a header over `NPY_HEADER_MAX`.

    Example:
        ```python
        npy_header_size(head)  # 128
        ```
    """
    if len(head) < 10 or not head.startswith(_NPY_MAGIC):
        raise NpyHeaderError("no NumPy magic")
    major = head[6]
    if major == 1:
        return 10 + int.from_bytes(head[8:10], "little")
    if major in (2, 3):
        if len(head) < 12:
            raise NpyHeaderError("truncated header")
        length = int.from_bytes(head[8:12], "little")
        if length > NPY_HEADER_MAX:
            raise NpyHeaderError(f"header of {length:,} bytes")
        return 12 + length
    raise NpyHeaderError(f"unknown format version {major}.{head[7]}")


def parse_npy_header(head: bytes) -> NpyHeader:
    """Parse a ``.npy`` header (magic, version, dict of descr, fortran_order, shape) without numpy.

    Raises:
        NpyHeaderError: ``head`` is not a complete, valid header.

    Example:
        ```python
        parse_npy_header(open("a.npy", "rb").read(4096)).descr  # "<f8"
        ```
    """
    end = npy_header_size(head)
    if len(head) < end:
        raise NpyHeaderError("truncated header")
    start = 10 if head[6] == 1 else 12
    raw = head[start:end]
    text = raw.decode("utf-8" if head[6] == 3 else "latin-1")
    try:
        fields = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise NpyHeaderError(f"unreadable header ({exc.__class__.__name__})") from None
    if not isinstance(fields, dict) or set(fields) != {"descr", "fortran_order", "shape"}:
        raise NpyHeaderError("the header is not a dict of descr, fortran_order and shape")
    shape = fields["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                               for n in shape):
        raise NpyHeaderError("invalid shape")
    if not isinstance(fields["fortran_order"], bool):
        raise NpyHeaderError("invalid fortran_order")
    if not isinstance(fields["descr"], (str, list)):
        raise NpyHeaderError("invalid descr")
    return NpyHeader((head[6], head[7]), fields["descr"], fields["fortran_order"], shape, end)


def _descr_has_object(descr: Any) -> bool:
    if isinstance(descr, str):
        return descr.lstrip("<>|=!")[:1] == "O"
    if isinstance(descr, (list, tuple)):
        return any(_descr_has_object(part) for part in descr)
    return True  # unknown: treat as unsafe


def npy_preview(source: FileSource) -> Preview:
    """Shape, dtype and order of a ``.npy`` array; with numpy, its first items and (≤ `NPY_LOAD_MAX`) min/max/mean.

    An object array is never loaded (that would unpickle).

    Example:
        ```python
        npy_preview(source).note  # "float64 (3, 4): min, max and mean of all 12 items"
        ```
    """
    head = source.head(NPY_HEAD)
    try:
        needed = npy_header_size(head)
        if needed > len(head):
            head = source.head(needed)
        header = parse_npy_header(head)
    except NpyHeaderError as exc:
        return no_preview(f"no preview: not a valid .npy file ({exc})")
    try:
        import numpy as np
    except ImportError:
        np = None  # type: ignore[assignment]
    dtype: Any = None
    if np is not None and not header.has_object:
        try:
            dtype = np.lib.format.descr_to_dtype(header.descr)
        except (TypeError, ValueError):
            dtype = None
    rows: list[tuple[str, Any]] = [
        ("Shape", "(" + ", ".join(str(n) for n in header.shape) + ("," if len(header.shape) == 1 else "") + ")"),
        ("Dtype", header.descr if dtype is None else f"{dtype} ({header.descr})"),
        ("Order", "Fortran (column-major)" if header.fortran_order else "C (row-major)"),
        ("Items", f"{header.count:,}"),
        ("Format version", f"{header.version[0]}.{header.version[1]}"),
    ]
    notes: list[str] = []
    items_html: Markup | str = ""
    if header.has_object:
        notes.append("object array: not loaded (its items are pickled)")
    elif np is None:
        notes.append("header only: numpy is not installed")
    elif dtype is None:
        notes.append("header only: unknown dtype")
    else:
        rows.append(("Data size", human_size(header.count * dtype.itemsize)))
        try:
            items, stats, how = _npy_items(source, header, dtype, np)
        except (ValueError, TypeError, OSError) as exc:
            notes.append(f"items not shown ({exc})")
        else:
            rows += stats
            if how:
                notes.append(how)
            if items is not None:
                items_html = Markup('<pre class="preview-array-items">{}</pre>').format(items)
    html = Markup("{}{}").format(fields_html(rows), items_html)
    return Preview(KIND_ARRAY, "; ".join(notes) or None, html)


def _npy_items(source: FileSource, header: NpyHeader, dtype: Any, np: Any) -> tuple[str | None,
                                                                                    list[tuple[str, Any]], str]:
    """The first items as text, summary rows and a note, reading the whole file only when small."""
    if header.count == 0:
        return None, [], "empty array"
    data = source.whole(NPY_LOAD_MAX) if source.size is not None and source.size <= NPY_LOAD_MAX else None
    if data is not None:
        array = np.load(io.BytesIO(data), allow_pickle=False)
        flat = array.ravel()
        return _format_items(flat[:NPY_ITEMS], np), _stats(flat, np), _items_note(min(NPY_ITEMS, flat.size),
                                                                                  flat.size)
    if header.fortran_order and len(header.shape) > 1:
        return None, [], f"larger than {human_size(NPY_LOAD_MAX)}: not loaded"
    n = min(NPY_ITEMS, header.count)
    raw = source.read(header.data_offset, header.data_offset + n * dtype.itemsize)
    first = np.frombuffer(raw, dtype=dtype, count=len(raw) // max(1, dtype.itemsize))
    return (_format_items(first, np), [],
            f"{_items_note(first.size, header.count)}; larger than {human_size(NPY_LOAD_MAX)}: no summary")


def _items_note(shown: int, total: int) -> str:
    return f"all {total:,} items" if shown >= total else f"first {shown:,} of {total:,} items"


def _format_items(items: Any, np: Any) -> str:
    try:
        text = np.array2string(items, threshold=NPY_ITEMS + 1, max_line_width=100, precision=6, separator=", ")
    except (TypeError, ValueError):
        text = repr(items.tolist())
    return shorten(text, 8000)


def _stats(flat: Any, np: Any) -> list[tuple[str, Any]]:
    kind = flat.dtype.kind
    if kind not in "biuf" or flat.size == 0:
        return []
    values = flat.astype(np.float64) if kind == "b" else flat
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        rows: list[tuple[str, Any]] = [("Min", _num(np.nanmin(values))), ("Max", _num(np.nanmax(values))),
                                       ("Mean", _num(np.nanmean(values)))]
    if kind == "f":
        nans = int(np.isnan(flat).sum())
        if nans:
            rows.append(("NaN items", f"{nans:,}"))
    return rows


def _num(value: Any) -> str:
    number = value.item() if hasattr(value, "item") else value
    return f"{number:.6g}" if isinstance(number, float) else str(number)

