"""The search language: parse trees, errors with positions, and results on a real SQLite catalog."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.catalog.schema import artifacts
from prefect_artifacts.catalog.search import BoolOp, Not, Term, compile_search, parse
from prefect_artifacts.draft import ArtifactDraft
from prefect_artifacts.errors import SearchSyntaxError
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.settings import ArtifactSettings

# parse trees -------------------------------------------------------------------------


def test_parse_trees() -> None:
    assert parse("") is None and parse("   ") is None
    assert parse("name:abc*") == Term("name", ":", "abc*", 0)
    assert parse("NAME:x") == Term("name", ":", "x", 0)
    assert parse("a b") == BoolOp("and", [Term(None, ":", "a", 0), Term(None, ":", "b", 2)])
    assert parse("a AND b") == BoolOp("and", [Term(None, ":", "a", 0), Term(None, ":", "b", 6)])
    assert parse("a OR b c") == BoolOp(
        "or", [Term(None, ":", "a", 0), BoolOp("and", [Term(None, ":", "b", 5), Term(None, ":", "c", 7)])]
    )
    assert parse("(a OR b) c") == BoolOp(
        "and", [BoolOp("or", [Term(None, ":", "a", 1), Term(None, ":", "b", 6)]), Term(None, ":", "c", 9)]
    )
    assert parse("-label:tmp") == Not(Term("label", ":", "tmp", 1))
    assert parse("NOT NOT kind:file") == Not(Not(Term("kind", ":", "file", 8)))
    assert parse("size>=10MB") == Term("size", ">=", "10MB", 0)
    assert parse("size<=1") == Term("size", "<=", "1", 0)
    assert parse("name!=x") == Term("name", "!=", "x", 0)
    assert parse("meta.a.b-c:1") == Term("meta.a.b-c", ":", "1", 0)
    assert parse("-") == Term(None, ":", "-", 0)


def test_parse_quotes_and_escapes() -> None:
    assert parse('description:"two words"') == Term("description", ":", "two words", 0)
    assert parse("description:'it''s'") == Term("description", ":", "its", 0)
    assert parse(r'name:"a\"b"') == Term("name", ":", 'a"b', 0)
    assert parse(r"name:a\*b") == Term("name", ":", r"a\*b", 0)  # escaped wildcard kept escaped
    assert parse(r'name:"a\?b"') == Term("name", ":", r"a\?b", 0)
    assert parse('"OR"') == Term(None, ":", "OR", 0)  # a quoted keyword is a word
    assert parse('a "OR" b') == BoolOp(
        "and", [Term(None, ":", "a", 0), Term(None, ":", "OR", 2), Term(None, ":", "b", 7)]
    )
    assert parse(r"a\ b") == Term(None, ":", r"a\ b", 0)


@pytest.mark.parametrize(
    ("query", "position", "message"),
    [
        ('name:"abc', 5, "unterminated quote"),
        ("kind:file 'x", 10, "unterminated quote"),
        ("(name:a", 0, "missing ')'"),
        ("kind:file (a OR (b)", 10, "missing ')'"),
        ("a)", 1, "unexpected ')'"),
        ("()", 1, "unbalanced ')'"),
        ("foo:bar", 0, "unknown field"),
        ("kind:file nme:abc", 10, "unknown field"),
        ("size>10XB", 7, "invalid size"),
        ("kind:file size>ten", 15, "invalid size"),
        ("size>-1", 5, "invalid size"),
        ("created>=2026-13-01", 9, "invalid date"),
        ("a created<yesterday", 10, "invalid date"),
        ("a OR", 4, "ends where a term"),
        ("a OR OR b", 5, "OR needs a term"),
        ("OR a", 0, "OR needs a term"),
        ("AND a", 0, "AND needs a term"),
        ("NOT", 3, "ends where a term"),
        ("name:", 5, "missing value"),
        ("kind:file size>", 15, "missing value"),
        ("a name>x", 6, "does not support"),
        ("version>x", 8, "integer"),
        ("meta.rows>many", 10, "number"),
        ("kind:file size>" + "9" * 25, 15, "out of range"),
        ("size>" + "9" * 400, 5, "out of range"),
        ("size>9000000PiB", 12, "invalid size"),
        ("size<=10000000TB", 6, "out of range"),
        ("version>" + "9" * 30, 8, "out of range"),
        ("created:9999-12-31", 8, "invalid date"),
        ("a created<9999-12-31T23:59:59.999999", 10, "invalid date"),
        ("created>=0001-01-01T00:00:00+01:00", 9, "invalid date"),
        ("a \udcff", 2, "not valid UTF-8"),
        # A value's error points at the value (the bad character where it can tell), not at the term.
        ("size>>1MB", 5, "invalid size"),
        ("-size>>1MB", 6, "invalid size"),
        ('size:">1MB"', 6, "invalid size"),
        ("a size>1\\QB", 8, "invalid size"),
    ],
)
def test_malformed_queries_name_their_position(seeded: LocalRegistry, query: str, position: int, message: str) -> None:
    with pytest.raises(SearchSyntaxError, match=re.escape(message)) as info:
        compile_search(query, "sqlite")
    with pytest.raises(SearchSyntaxError):  # and through the registry, before any SQL runs
        seeded.count(query)
    assert info.value.position == position
    assert f"position {position}" in str(info.value)


# results on a seeded catalog -----------------------------------------------------------


def _at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=timezone.utc)


def seed(reg: LocalRegistry, root: Path) -> None:
    """Register the artifacts every query below runs against (reusable on other catalogs)."""
    src = root / "src"
    src.mkdir()
    (src / "data.csv").write_text("a,b\n1,2\n")
    (src / "model.bin").write_bytes(b"\x00\x01weights")
    (src / "dir").mkdir()
    (src / "dir" / "x.txt").write_text("x")
    (src / "dir" / "y.json").write_text("{}")
    (src / "ref.txt").write_text("referenced")

    data = reg.upload_file(
        src / "data.csv", name="abc-data", folder="/team/data", labels=["prod", "raw"], description="Raw customer data"
    )
    m1 = reg.upload_file(
        src / "model.bin", name="abc_model", folder="/team/data", labels=["prod"], description="Trained model v1"
    )
    m2 = reg.upload_file(
        src / "model.bin", name="abc_model", folder="/team/data", labels=["prod", "v2"], description="Trained model v2"
    )
    tmpdir = reg.upload_dir(
        src / "dir", name="ABCdef", folder="/other", labels=["tmp"], description="scratch: 50% done"
    )
    ref = reg.add_reference(str(src / "ref.txt"), name="xyz", folder="/other")
    odd = reg.upload(
        ArtifactDraft(name="odd name", description="a_b and x*y").add_file(src / "data.csv"),
        folder="/Tools/Data",  # one spelling per folder (case-insensitively unique)
        make_folder=True,
    )
    data.add_metadata({"rows": 10, "owner": "ann", "flags": {"clean": True}, "score": 0.5})
    m2.add_metadata({"rows": 1000, "owner": "bob", "flags": {"clean": False}, "tag": "5"})
    ref.add_metadata({"rows": "many", "owner": "carl"})
    reg.attach(data.id, "run-1", "input")
    reg.attach(m2.id, "run-1", "output")
    reg.attach(m2.id, "run-2", "code")
    sizes = {data.id: 500, m1.id: 1_000_000, m2.id: 2_000_000, tmpdir.id: 3 * 2**30, ref.id: 0, odd.id: 1024}
    created = {
        data.id: _at(2025, 6, 15),
        m1.id: _at(2025, 12, 31, 23),
        m2.id: _at(2026, 1, 1, 0),
        tmpdir.id: _at(2026, 3, 1),
        ref.id: _at(2026, 3, 2),
        odd.id: _at(2026, 3, 2, 13),
    }
    with reg.catalog.engine.begin() as conn:
        for art_id, size in sizes.items():
            conn.execute(update(artifacts).where(artifacts.c.id == art_id).values(size=size, created=created[art_id]))
    reg.ids_by_name = {
        "data": data.id,
        "m1": m1.id,
        "m2": m2.id,
        "dir": tmpdir.id,
        "ref": ref.id,  # type: ignore[attr-defined]
        "odd": odd.id,
    }


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    root = tmp_path_factory.mktemp("search")
    settings = ArtifactSettings(home=root / "home")
    reg = LocalRegistry.from_urls(
        str(root / "blobs"), sqlite_url(root / "catalog.sqlite"), settings=settings, use_digest_cache=False
    )
    seed(reg, root)
    yield reg
    reg.close()


def found(reg: LocalRegistry, query: str) -> set[str]:
    """Short keys of the artifacts matching ``query`` (checked against count and paging)."""
    page = reg.list(search=query, page_length=100)
    assert page.total == reg.count(query) == len(page.data)
    keys = {v: k for k, v in reg.ids_by_name.items()}  # type: ignore[attr-defined]
    return {keys[a.id] for a in page.data}


ALL = {"data", "m1", "m2", "dir", "ref", "odd"}


RESULTS = [
    ("", ALL),
    # name: case-insensitive, wildcards, '_' and '%' literal
    ("name:abc*", {"data", "m1", "m2", "dir"}),
    ("name:ABC*", {"data", "m1", "m2", "dir"}),
    ("name:abc_model", {"m1", "m2"}),
    ("name:abc?model", {"m1", "m2"}),
    ("name:abc_*", {"m1", "m2"}),  # '_' is not a LIKE wildcard
    ("name:abc-data", {"data"}),
    ("name:abc", set()),
    ("name:*def", {"dir"}),
    ('name:"odd name"', {"odd"}),
    ("name:odd*name", {"odd"}),
    ("name!=abc*", {"ref", "odd"}),
    # folder: case-sensitive
    ("folder:/team/data", {"data", "m1", "m2"}),
    ("folder:/Tools/Data", {"odd"}),
    ("folder:/tools/data", set()),
    ("folder:/team*", {"data", "m1", "m2"}),
    ("folder:/T*", {"odd"}),
    ("folder:/t*", {"data", "m1", "m2"}),
    ("folder:/?eam/data", {"data", "m1", "m2"}),
    ("folder:/other", {"dir", "ref"}),
    # description: contains
    ("description:customer", {"data"}),
    ("description:MODEL", {"m1", "m2"}),
    ("description:50%", {"dir"}),
    ("description:a_b", {"odd"}),
    (r"description:x\*y", {"odd"}),
    ("description:x*y", set()),  # with a wildcard the pattern is anchored
    ("description:*x*y", {"odd"}),
    ("description:'model v2'", {"m2"}),
    # labels, kind, mime, version, checksum
    ("label:prod", {"data", "m1", "m2"}),
    ("label:PROD", {"data", "m1", "m2"}),
    ("label:pr*", {"data", "m1", "m2"}),
    ("-label:prod", {"dir", "ref", "odd"}),
    ("label:prod label:raw", {"data"}),
    ("label:raw OR label:tmp", {"data", "dir"}),
    ("label!=tmp", ALL - {"dir"}),
    ("kind:file", {"data", "m1", "m2", "odd"}),
    ("kind:directory", {"dir"}),
    ("kind:reference", {"ref"}),
    ("mime:text/csv", {"data", "odd"}),
    ("mime:text/*", {"data", "odd", "ref"}),
    ("version>1", {"m2"}),
    ("version:1 name:abc_model", {"m1"}),
    # bare words: name, description or label
    ("customer", {"data"}),
    ("v2", {"m2"}),
    ("raw", {"data"}),
    ("ABC", {"data", "m1", "m2", "dir"}),
    ('"model v1"', {"m1"}),
    # boolean structure
    ("NOT kind:file", {"dir", "ref"}),
    ("-kind:file -kind:directory", {"ref"}),
    ("kind:file AND label:raw", {"data"}),
    ("(kind:directory OR kind:reference) folder:/other", {"dir", "ref"}),
    ("kind:directory OR kind:reference folder:/team/data", {"dir"}),
    ("NOT (label:prod OR label:tmp)", {"ref", "odd"}),
    # sizes with units
    ("size>10MB", {"dir"}),
    ("size>=1MB", {"m1", "m2", "dir"}),
    ("size>1MB", {"m2", "dir"}),
    ("size<1KiB", {"data", "ref"}),
    ("size<=1KiB", {"data", "ref", "odd"}),
    ("size:1024", {"odd"}),
    ("size:1k", {"odd"}),
    ("size>=3GiB", {"dir"}),
    ("size>3GiB", set()),
    ("size>1.5MB", {"m2", "dir"}),
    ("size!=0", ALL - {"ref"}),
    # dates (UTC days)
    ("created>=2026-01-01", {"m2", "dir", "ref", "odd"}),
    ("created<2026-01-01", {"data", "m1"}),
    ("created:2025-12-31", {"m1"}),
    ("created>2025-12-31", {"m2", "dir", "ref", "odd"}),
    ("created<=2025-12-31", {"data", "m1"}),
    ("created!=2026-03-02", ALL - {"ref", "odd"}),
    ("created>=2026-03-02T12:30:00", {"odd"}),
    ("created<2026-03-02T12:30:00Z", {"data", "m1", "m2", "dir", "ref"}),
    ("created:2026-03-02T13:00:00+00:00", {"odd"}),
    ("modified>=2026-01-01", ALL),
    ("created>=0001-01-01", ALL),
    ("created<9999-12-30", ALL),
    ("created>=2026-03-02T13:30:00+01:00", {"odd"}),
    ("created<2026-03-02T13:30:00+01:00", ALL - {"odd"}),
    # runs
    ("run:run-1", {"data", "m2"}),
    ("run:run-1 category:output", {"m2"}),
    ("category:code", {"m2"}),
    ("category:input", {"data"}),
    ("run:run-*", {"data", "m2"}),
    ("-run:*", {"m1", "dir", "ref", "odd"}),
    # metadata aspects
    ("meta.owner:ann", {"data"}),
    ("meta.owner:b*", {"m2"}),
    ("meta.owner!=ann", ALL - {"data"}),
    ("meta.rows>100", {"m2"}),
    ("meta.rows>=10", {"data", "m2"}),
    ("meta.rows:10", {"data"}),
    ("meta.rows:many", {"ref"}),
    ("meta.score<1", {"data"}),
    ("meta.flags.clean:true", {"data"}),
    ("meta.flags.clean:false", {"m2"}),
    ("meta.tag:5", {"m2"}),
    ("meta.missing:x", set()),
]


@pytest.mark.parametrize(("query", "expected"), RESULTS)
def test_search_results(seeded: LocalRegistry, query: str, expected: set[str]) -> None:
    assert found(seeded, query) == expected


TYPED = [
    ("meta.rows<5", set()),  # "many" is not a number below 5
    ("meta.owner:false", set()),  # strings are not booleans
    ("meta.rows:false", set()),  # numbers are not booleans
    ("meta.owner>0", set()),
]


@pytest.mark.parametrize(("query", "expected"), TYPED)
def test_meta_typed_comparisons_ignore_other_json_types(seeded: LocalRegistry, query: str, expected: set[str]) -> None:
    assert found(seeded, query) == expected


def test_checksum_and_id_fields(seeded: LocalRegistry) -> None:
    m2 = seeded.get(seeded.ids_by_name["m2"])  # type: ignore[attr-defined]
    assert found(seeded, f"checksum:{m2.checksum}") == {"m1", "m2"}  # same content
    assert found(seeded, f"checksum:{m2.checksum[:12]}*") == {"m1", "m2"}
    assert found(seeded, f"id:{m2.id}") == {"m2"}
    assert found(seeded, "group:default") == ALL


def test_search_excludes_deleted(seeded: LocalRegistry, tmp_path: Path) -> None:
    f = tmp_path / "gone.txt"
    f.write_text("gone")
    art = seeded.upload_file(f, name="abc-gone", folder="/tmp-search")
    assert seeded.count("name:abc-gone") == 1
    art.delete()
    assert seeded.count("name:abc-gone") == 0


def test_name_prefix_search_uses_the_nocase_index(seeded: LocalRegistry) -> None:
    engine = seeded.catalog.engine
    where = [artifacts.c.deleted.is_(None), compile_search("name:abc*", "sqlite")]
    queries = [
        select(func.count()).select_from(artifacts).where(*where),
        select(artifacts.c.id).where(*where).order_by(artifacts.c.created).limit(50),
    ]
    with engine.connect() as conn:
        for query in queries:
            compiled = query.compile(engine)
            params = tuple(compiled.params[k] for k in compiled.positiontup or ())
            plan = " | ".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params))
            assert "USING INDEX ix_artifacts_name_ci (name>? AND name<?)" in plan, plan


@pytest.mark.parametrize(
    ("query", "position", "message"),
    [
        ("(" * 400 + "a" + ")" * 400, 32, "nests more than 32"),
        ("NOT " * 400 + "a", 128, "nests more than 32"),
        ("x " + "(NOT " * 20 + "a" + ")" * 20, 2 + 16 * 5, "nests more than 32"),
        (" ".join(["a"] * 1000), 400, "more than 200 terms"),
        (" OR ".join(["kind:file"] * 300), 200 * 13, "more than 200 terms"),
    ],
)
def test_pathological_queries_are_syntax_errors(seeded: LocalRegistry, query: str, position: int, message: str) -> None:
    """Queries within the length limit never overflow Python's stack or SQLite's expression depth."""
    with pytest.raises(SearchSyntaxError, match=message) as info:
        seeded.count(query)
    assert info.value.position == position


@pytest.mark.parametrize(
    "query",
    [
        "(" * 31 + "kind:file" + ")" * 31,
        "NOT " * 30 + "kind:file",
        " ".join(["a"] * 200),
        " OR ".join(["kind:file"] * 200),
        "(" * 30 + " ".join(["-zzz"] * 190) + ")" * 30,
    ],
)
def test_queries_at_the_limits_run(seeded: LocalRegistry, query: str) -> None:
    assert seeded.count(query) >= 0
    assert len(seeded.list(search=query, page_length=100).data) == seeded.count(query)


@pytest.mark.parametrize(("sort_by", "index"), [("size", "ix_artifacts_size_live"),
                                                 ("version", "ix_artifacts_version_live"),
                                                 ("name", "ix_artifacts_name_live"),
                                                 ("created", "ix_artifacts_created")])
def test_every_sort_key_reads_its_index(local_registry: LocalRegistry, sort_by: str, index: str) -> None:
    """The page query `list` sends reads its index in order: no sort of every live artifact (migration 0010)."""
    from sqlalchemy import event

    engine = local_registry.catalog.engine
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "ORDER BY" in statement:
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        local_registry.list(page_length=50, sort_by=sort_by, descending=True)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    statement, parameters = sent[0]
    with engine.connect() as conn:
        plan = [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    assert any(index in step for step in plan) and not any("TEMP B-TREE" in step for step in plan), plan


def test_exact_kind_terms_are_equalities(local_registry: LocalRegistry, tmp_path: Path) -> None:
    """``kind:File`` is ``kind = 'file'`` (kinds are stored lower-case), ``kind:fi*`` still a pattern."""
    from prefect_artifacts.catalog.search import compile_search

    (tmp_path / "a.txt").write_text("a")
    local_registry.upload_file(tmp_path / "a.txt", name="a")
    local_registry.save_object({"x": 1}, name="o")
    assert "LIKE" not in str(compile_search("kind:File", "sqlite", None))
    assert [a.name for a in local_registry.list(search="kind:File").data] == ["a"]
    assert [a.name for a in local_registry.list(search="kind:fi*").data] == ["a"]
    assert [a.name for a in local_registry.list(search="kind!=file").data] == ["o"]
