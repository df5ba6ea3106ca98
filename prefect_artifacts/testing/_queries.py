"""Contract: catalog queries (list paging and sorting, the search language, count, ids)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from prefect_artifacts.errors import InvalidArtifactInput, PayloadTooLarge, SearchSyntaxError
from prefect_artifacts.models import Artifact
from prefect_artifacts.registry.base import Registry
from prefect_artifacts.testing._base import ContractFixtures, MakeFile, MakeTree, new_run_id, payload

SORT_KEYS = ("name", "created", "modified", "size", "version", "folder", "kind")


def _names(arts: list[Artifact]) -> set[str]:
    return {a.name for a in arts}


class ListContract(ContractFixtures):
    """`list` paging (index, cursor), sorting, filters; `count`; `ids`.

    Example:
        ```python
        class TestMine(ListContract): ...
        ```
    """

    __test__ = False

    @pytest.fixture
    def seven(self, reg: Registry, make_file: MakeFile, make_tree: MakeTree) -> list[Artifact]:
        """Seven artifacts, created in this order, with distinct names, sizes and folders.

        Example:
            ```python
            def test_x(self, reg, seven): assert reg.count() == len(seven)
            ```
        """
        specs = [("delta", 300, "/b"), ("alpha", 10, "/a"), ("golf", 7000, "/c"), ("charlie", 1, "/a"),
                 ("echo", 50, "/b"), ("bravo", 2000, "/c")]
        arts = [reg.upload_file(make_file(f"{n}.bin", payload(size, i)), name=n, folder=folder)
                for i, (n, size, folder) in enumerate(specs)]
        arts.append(reg.upload_dir(make_tree("foxtrot", {"a.txt": "A", "b.txt": "BB"}), folder="/a"))
        return arts

    def test_first_page(self, reg: Registry, seven: list[Artifact]) -> None:
        page = reg.list(page_length=3)
        assert page.total == 7
        assert page.index == 0 and page.page_length == 3
        assert page.is_complete is False
        assert [a.id for a in page.data] == [a.id for a in seven[:3]]  # default: oldest first
        full = reg.list()
        assert full.is_complete is True and len(full.data) == 7 and full.total == 7

    def test_index_pages(self, reg: Registry, seven: list[Artifact]) -> None:
        seen: list[str] = []
        for index in range(0, 9, 3):
            page = reg.list(index=index, page_length=3)
            assert page.total == 7
            seen += [a.id for a in page.data]
            assert page.is_complete is (index + 3 >= 7)
        assert seen == [a.id for a in seven]
        beyond = reg.list(index=50, page_length=3)
        assert beyond.data == [] and beyond.total == 7 and beyond.is_complete

    def test_listed_artifacts_are_usable(self, reg: Registry, seven: list[Artifact]) -> None:
        first = reg.list(page_length=1).data[0]
        assert first.model_dump() == reg.get(seven[0].id).model_dump()
        assert b"".join(first.as_stream()) == payload(300, 0)

    def test_sorting_and_cursor_walk(self, reg: Registry, seven: list[Artifact]) -> None:
        for sort_by in SORT_KEYS:
            for descending in (False, True):
                self._check_walk(reg, seven, sort_by, descending)

    def _check_walk(self, reg: Registry, seven: list[Artifact], sort_by: str, descending: bool) -> None:
        case = f"sort_by={sort_by} descending={descending}"
        whole = reg.list(page_length=100, sort_by=sort_by, descending=descending).data
        keys = [getattr(a, sort_by) for a in whole]
        keys = [k.value if hasattr(k, "value") else k for k in keys]
        assert keys == sorted(keys, reverse=descending), case
        if sort_by in ("name", "size", "created"):  # distinct values: the order is fully determined
            expected = sorted(seven, key=lambda a: getattr(a, sort_by), reverse=descending)
            assert [a.id for a in whole] == [a.id for a in expected], case
        walked: list[str] = []
        page = reg.list(page_length=2, sort_by=sort_by, descending=descending)
        pages = 1
        while True:
            assert page.total == 7, case
            walked += [a.id for a in page.data]
            if page.next_cursor is None:
                assert page.is_complete, case
                break
            assert not page.is_complete, case
            page = reg.list(page_length=2, sort_by=sort_by, descending=descending, cursor=page.next_cursor)
            pages += 1
        assert pages == 4, case
        assert walked == [a.id for a in whole], case

    def test_modified_follows_changes(self, reg: Registry, seven: list[Artifact]) -> None:
        reg.update(seven[0].id, description="touched")
        reg.add_metadata(seven[1].id, {"touched": True})
        order = [a.id for a in reg.list(sort_by="modified").data]
        assert order[-2:] == [seven[0].id, seven[1].id]
        assert [a.id for a in reg.list(sort_by="created").data] == [a.id for a in seven]
        newest = reg.list(sort_by="modified", descending=True, page_length=1).data[0]
        assert newest.id == seven[1].id and newest.modified > newest.created

    def test_iter_walks_everything(self, reg: Registry, seven: list[Artifact]) -> None:
        assert [a.id for a in reg.iter(page_length=2)] == [a.id for a in seven]
        assert [a.name for a in reg.iter(search="folder:/a", sort_by="name")] == ["alpha", "charlie", "foxtrot"]

    def test_folder_filter(self, reg: Registry, seven: list[Artifact]) -> None:
        page = reg.list(folder="/a", sort_by="name")
        assert [a.name for a in page.data] == ["alpha", "charlie", "foxtrot"]
        assert page.total == 3
        assert reg.count(folder="/a") == 3
        assert reg.list(folder="/nowhere").total == 0
        assert reg.list(folder="/a/").total == reg.count(folder="//a/./") == 3  # the same folder, spelled loosely

    def test_bad_folder_and_group_filters(self, reg: Registry, seven: list[Artifact]) -> None:
        # PostgreSQL's driver raised a bare ValueError for a NUL; every catalog a UnicodeEncodeError for a surrogate
        for folder in ("/a\x00", "/a\ud800", "/a/../b", "/a\\b"):
            with pytest.raises(InvalidArtifactInput, match="folder"):
                reg.list(folder=folder)
            with pytest.raises(InvalidArtifactInput, match="folder"):
                reg.count(folder=folder)
        for group in ("g\x00", "g\ud800"):
            with pytest.raises(InvalidArtifactInput, match="group"):
                reg.list(group_id=group)

    def test_bad_list_arguments(self, reg: Registry, seven: list[Artifact]) -> None:
        with pytest.raises(InvalidArtifactInput):
            reg.list(sort_by="color")
        with pytest.raises(InvalidArtifactInput):
            reg.list(cursor="not-a-cursor")
        for page_length in (0, -1, 10**7):
            with pytest.raises(PayloadTooLarge):
                reg.list(page_length=page_length)
        with pytest.raises(PayloadTooLarge):
            reg.list(search="name:" + "x" * 100_000)
        with pytest.raises(InvalidArtifactInput):
            reg.list(index=-1)

    def test_count(self, reg: Registry, seven: list[Artifact]) -> None:
        assert reg.count() == 7
        assert reg.count("name:alpha") == 1
        assert reg.count(search="kind:file") == 6
        assert reg.count(search="size>=2000") == 2
        with pytest.raises(SearchSyntaxError):
            reg.count("name:(")

    def test_ids(self, reg: Registry, seven: list[Artifact]) -> None:
        all_ids = [a.id for a in seven]
        assert reg.ids() == all_ids
        assert reg.ids(count=2) == all_ids[:2]
        assert reg.ids(offset=5) == all_ids[5:]
        assert reg.ids(count=2, offset=3) == all_ids[3:5]
        assert reg.ids(count=10, offset=7) == []
        assert reg.ids(count=0) == []
        for count, offset in ((None, -1), (-1, 0)):
            with pytest.raises(InvalidArtifactInput):
                reg.ids(count=count, offset=offset)

    def test_empty_registry(self, reg: Registry) -> None:
        page = reg.list()
        assert (page.data, page.total, page.is_complete, page.next_cursor) == ([], 0, True, None)
        assert reg.count() == 0
        assert reg.ids() == []


class SearchContract(ContractFixtures):
    """The search language: fields, wildcards, comparisons, OR/NOT, quotes, syntax errors.

    Example:
        ```python
        class TestMine(SearchContract): ...
        ```
    """

    __test__ = False

    @pytest.fixture
    def corpus(self, reg: Registry, make_file: MakeFile, make_tree: MakeTree) -> dict[str, Any]:
        """Four artifacts with known names, folders, labels, sizes, metadata and runs.

        Example:
            ```python
            def test_x(self, reg, corpus): reg.list(search=f"run:{corpus['run']}")
            ```
        """
        run = new_run_id()
        one = reg.upload_file(make_file("one.csv", "a,b\n1,2\n"), name="abc-one", folder="/team/data",
                              labels=["raw", "x"], description="first dataset",
                              metadata={"stage": "raw", "rows": 10, "ok": True})
        two = reg.upload_file(make_file("two.bin", payload(2000, 2)), name="abc-two", folder="/team/models",
                              labels=["prod"], description="a trained model",
                              metadata={"stage": "prod", "rows": 500, "ok": False, "nested": {"k": "deep"}})
        zeta = reg.upload_file(make_file("zeta.json", '{"zz": 1}'), name="zeta", folder="/other",
                               description="with space words")
        tree = reg.upload_dir(make_tree("tree", {"a.txt": "A"}), folder="/team/data", labels=["x"])
        reg.attach(one.id, run, "input")
        reg.attach(two.id, run, "output")
        return {"run": run, "one": one, "two": two, "zeta": zeta, "tree": tree}

    SEARCHES: tuple[tuple[str, set[str]], ...] = (
            ("name:abc*", {"abc-one", "abc-two"}),
            ("name:abc-???", {"abc-one", "abc-two"}),
            ("name:zeta", {"zeta"}),
            ("name:ZETA", {"zeta"}),
            ("name:zet", set()),
            ("label:raw", {"abc-one"}),
            ("label:x", {"abc-one", "tree"}),
            ("label:pr*", {"abc-two"}),
            ("folder:/team/data", {"abc-one", "tree"}),
            ("folder:/team/*", {"abc-one", "abc-two", "tree"}),
            ("kind:directory", {"tree"}),
            ("kind:file", {"abc-one", "abc-two", "zeta"}),
            ("mime:text/csv", {"abc-one"}),
            ("mime:application/*", {"abc-two", "zeta"}),
            ("description:trained", {"abc-two"}),
            ('description:"trained model"', {"abc-two"}),
            ("description:'space words'", {"zeta"}),
            ("size>1000", {"abc-two"}),
            ("size>=1KB", {"abc-two"}),
            ("size<10", {"abc-one", "zeta", "tree"}),
            ("size<1KiB size>8", {"zeta"}),
            ("meta.stage:prod", {"abc-two"}),
            ("meta.stage:r*", {"abc-one"}),
            ("meta.rows>100", {"abc-two"}),
            ("meta.rows<=10", {"abc-one"}),
            ("meta.ok:true", {"abc-one"}),
            ("meta.missing:x", set()),
            ("meta.nested.k:deep", {"abc-two"}),
            ("meta.nested.k:d*", {"abc-two"}),
            ("category:input", {"abc-one"}),
            ("category:output", {"abc-two"}),
            ("name:zeta OR label:prod", {"zeta", "abc-two"}),
            ("NOT name:abc*", {"zeta", "tree"}),
            ("-label:raw", {"abc-two", "zeta", "tree"}),
            ("label:x -kind:directory", {"abc-one"}),
            ("label:x AND kind:directory", {"tree"}),
            ("(name:zeta OR name:tree) kind:file", {"zeta"}),
            ("-description:trained", {"abc-one", "zeta", "tree"}),  # no description is "not trained"
            ("description!=trained", {"abc-one", "zeta", "tree"}),
            ("NOT trained", {"abc-one", "zeta", "tree"}),
            ("-(name:abc* OR label:x)", {"zeta"}),
            ("NOT (name:abc* OR label:x)", {"zeta"}),
            ("-mime:text/csv", {"abc-two", "zeta", "tree"}),
            ("trained", {"abc-two"}),
            ("abc", {"abc-one", "abc-two"}),
            ("prod", {"abc-two"}),
            ('"space words"', {"zeta"}),
            ("nothing-matches-this", set()),
            ("", {"abc-one", "abc-two", "zeta", "tree"}),
    )

    def test_search(self, reg: Registry, corpus: dict[str, Any]) -> None:
        failures = []
        for query, expected in self.SEARCHES:
            page = reg.list(search=query, page_length=50)
            got = (_names(page.data), page.total, reg.count(search=query))
            if got != (expected, len(expected), len(expected)):
                failures.append(f"{query!r}: expected {sorted(expected)}, got {sorted(got[0])} total={got[1:]}")
        assert not failures, "\n".join(failures)

    def test_search_values_are_literal(self, reg: Registry, make_file: MakeFile) -> None:
        path = make_file("a.txt")
        for name in ("a_b", "axb", "a.b", "abb"):
            reg.upload_file(path, name=name, labels=["team:ml", "k=v"] if name == "a_b" else ["team-ml"])
        assert _names(reg.list(search="name:a_b").data) == {"a_b"}
        assert _names(reg.list(search="name:a.b").data) == {"a.b"}
        assert _names(reg.list(search="name:a?b").data) == {"a_b", "axb", "a.b", "abb"}
        assert _names(reg.list(search="name:a\\?b").data) == set()
        assert _names(reg.list(search="label:team:ml").data) == {"a_b"}
        assert _names(reg.list(search='label:"k=v"').data) == {"a_b"}
        assert _names(reg.list(search="label:team?ml").data) == {"a_b", "axb", "a.b", "abb"}
        assert reg.count(search="name:%") == 0

    def test_search_by_run(self, reg: Registry, corpus: dict[str, Any]) -> None:
        assert _names(reg.list(search=f"run:{corpus['run']}").data) == {"abc-one", "abc-two"}
        assert _names(reg.list(search=f"run:{corpus['run']} category:output").data) == {"abc-two"}
        assert reg.count(search=f"run:{new_run_id()}") == 0

    def test_search_by_dates(self, reg: Registry, corpus: dict[str, Any]) -> None:
        today = datetime.now(timezone.utc).date()
        tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)
        assert reg.count(search=f"created>={today.isoformat()}") == 4
        assert reg.count(search=f"created>={yesterday.isoformat()}") == 4
        assert reg.count(search=f"created:{today.isoformat()}") == 4
        assert reg.count(search=f"created>={tomorrow.isoformat()}") == 0
        assert reg.count(search="created<2000-01-01") == 0
        assert reg.count(search=f"modified<{tomorrow.isoformat()}") == 4

    def test_search_by_checksum_and_version(self, reg: Registry, corpus: dict[str, Any]) -> None:
        two = corpus["two"]
        assert _names(reg.list(search=f"checksum:{two.checksum}").data) == {"abc-two"}
        assert reg.count(search="version:1") == 4
        assert reg.count(search="version>1") == 0

    def test_search_combined_with_paging(self, reg: Registry, corpus: dict[str, Any]) -> None:
        page = reg.list(search="folder:/team/*", page_length=2, sort_by="name")
        assert [a.name for a in page.data] == ["abc-one", "abc-two"]
        assert (page.total, page.is_complete) == (3, False)
        rest = reg.list(search="folder:/team/*", page_length=2, sort_by="name", cursor=page.next_cursor)
        assert [a.name for a in rest.data] == ["tree"] and rest.is_complete

    #: (query, acceptable positions): the start of the offending term, or the exact character.
    MALFORMED: tuple[tuple[str, set[int]], ...] = (
        ('description:"unterminated', {12}),
        ("(name:abc", {0, 9}),
        ("name:abc )", {9}),
        ("name:", {0, 5}),
        ("kind:file bogus:1", {10}),
        ("size>huge", {0, 5}),
        ("created>=yesterday", {0, 9}),
        ("OR name:x", {0}),
        ("name:x OR", {7, 9}),
        ("name:x NOT", {7, 10}),
        ("meta.rows>many", {0, 10}),
        ("name>abc", {0, 4}),
    )

    def test_malformed_queries(self, reg: Registry, corpus: dict[str, Any]) -> None:
        for query, positions in self.MALFORMED:
            with pytest.raises(SearchSyntaxError) as info:
                reg.list(search=query)
            assert info.value.position in positions, (query, info.value.position)
            assert isinstance(info.value, InvalidArtifactInput)
            with pytest.raises(SearchSyntaxError):
                reg.count(search=query)
