"""Contract: `Registry.upload_many`, one result per item, in order, each item on its own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from prefect_artifacts.batches import BatchResult
from prefect_artifacts.draft import ArtifactDraft
from prefect_artifacts.errors import ArtifactConflict, InvalidArtifactInput, InvalidName
from prefect_artifacts.registry.base import Registry
from prefect_artifacts.testing._base import ContractFixtures, MakeFile, new_run_id


class BatchContract(ContractFixtures):
    """`Registry.upload_many` and `Registry.aupload_many`: many artifacts, a `BatchResult` per item.

    Example:
        ```python
        class TestMine(BatchContract): ...
        ```
    """

    __test__ = False

    def test_results_in_order(self, reg: Registry, make_file: MakeFile) -> None:
        items = [{"path": make_file(f"f{i}.txt", f"content {i}"), "name": f"n{i}", "labels": [f"l{i}"]}
                 for i in range(5)]
        results = reg.upload_many(items, folder="/batch")
        assert [r.index for r in results] == list(range(5))
        assert all(isinstance(r, BatchResult) and r.ok for r in results)
        arts = [r.unwrap() for r in results]
        assert [a.name for a in arts] == [f"n{i}" for i in range(5)]
        assert [a.labels for a in arts] == [[f"l{i}"] for i in range(5)]
        assert {a.folder for a in arts} == {"/batch"}
        for i, art in enumerate(arts):
            assert b"".join(reg.read(art.id)) == f"content {i}".encode()
            fetched = reg.get(art.id)  # what a create answers is what the catalog holds, etag included
            assert art.model_dump() == fetched.model_dump() and art.etag == fetched.etag
            assert [f.model_dump() for f in art.files] == [f.model_dump() for f in fetched.files]
        assert reg.count() == 5

    def test_a_bad_item_does_not_lose_the_others(self, reg: Registry, make_file: MakeFile) -> None:
        reg.upload_file(make_file("taken.txt", "old"), name="taken", folder="/batch")
        items: list[Any] = [
            {"path": make_file("a.txt", "A"), "name": "a"},
            {"path": make_file("missing.txt").with_name("not-there.txt"), "name": "missing"},
            {"path": make_file("b.txt", "B"), "name": "bad;name"},
            {"path": make_file("c.txt", "C"), "name": "taken", "conflict_strategy": "error"},
            {"path": make_file("d.txt", "D"), "name": "d", "nonsense": 1},
            "not an item",
            {"path": make_file("e.txt", "E"), "name": "e"},
        ]
        results = reg.upload_many(items, folder="/batch")  # bad items on purpose
        assert [r.ok for r in results] == [True, False, False, False, False, False, True]
        assert isinstance(results[1].error, InvalidArtifactInput)
        assert isinstance(results[2].error, InvalidName)
        assert isinstance(results[3].error, ArtifactConflict)
        assert isinstance(results[4].error, InvalidArtifactInput) and "nonsense" in str(results[4].error)
        assert isinstance(results[5].error, InvalidArtifactInput)
        for r in results[1:6]:
            assert str(r.error).startswith(f"item {r.index}:"), r.error
        with pytest.raises(ArtifactConflict):
            results[3].unwrap()
        assert b"".join(reg.read(results[6].unwrap().id)) == b"E"
        assert reg.count() == 3  # taken, a, e
        assert reg.get("/batch/taken:latest").version == 1

    def test_conflict_inside_the_batch(self, reg: Registry, make_file: MakeFile) -> None:
        items = [{"path": make_file("x1.txt", "1"), "name": "x", "conflict_strategy": "error"},
                 {"path": make_file("x2.txt", "2"), "name": "x", "conflict_strategy": "error"},
                 {"path": make_file("x3.txt", "3"), "name": "x"}]
        results = reg.upload_many(items, folder="/batch")
        assert [r.ok for r in results] == [True, False, True]
        assert isinstance(results[1].error, ArtifactConflict)
        assert [results[0].unwrap().version, results[2].unwrap().version] == [1, 2]

    def test_skip_returns_the_existing_artifact(self, reg: Registry, make_file: MakeFile) -> None:
        first = reg.upload_file(make_file("s.txt", "s"), name="s", folder="/batch")
        results = reg.upload_many([{"path": make_file("s2.txt", "other"), "name": "s"}],
                                  folder="/batch", conflict_strategy="skip")
        assert results[0].unwrap().id == first.id
        assert reg.count() == 1

    def test_drafts_and_item_options(self, reg: Registry, make_file: MakeFile) -> None:
        run = new_run_id()
        draft = ArtifactDraft(name="bundle", description="two files").add_file(make_file("p.txt", "P"))
        draft.add_file(make_file("q.txt", "Q"))
        csv = {"path": make_file("m.csv", "a,b\n1,2\n"), "folder": "/elsewhere", "description": "csv",
               "metadata": {"rows": 1}, "mime_type": "text/csv", "runs": [(run, "output")],
               "extra_aspects": [{"source": i} for i in range(10)]}
        items: list[Any] = [draft, csv]
        results = reg.upload_many(items, folder="/batch")
        bundle, single = (r.unwrap() for r in results)
        assert bundle.folder == "/batch" and bundle.is_dir
        assert sorted(f.path for f in bundle.files) == ["p.txt", "q.txt"]
        assert single.folder == "/elsewhere" and single.name == "m.csv" and single.description == "csv"
        assert single.mime_type == "text/csv"
        # made in one instant, they come back in the item's order (metadata first)
        assert [a.content for a in reg.get_metadata(single.id)] == [{"rows": 1}, *({"source": i} for i in range(10))]
        assert [a.id for a in reg.run_artifacts(run)] == [single.id]

    def test_idempotent_retry_returns_the_same_artifacts(self, reg: Registry, make_file: MakeFile) -> None:
        items = [{"path": make_file(f"k{i}.txt", f"k{i}"), "name": f"k{i}", "idempotency_key": f"key-{i}"}
                 for i in range(3)]
        first = [r.unwrap().id for r in reg.upload_many(items, folder="/batch")]
        again = [r.unwrap().id for r in reg.upload_many(items, folder="/batch")]
        assert first == again
        assert reg.count() == 3

    def test_many_small_files(self, reg: Registry, make_file: MakeFile) -> None:
        items = [{"path": make_file(f"many/{i}.txt", f"small {i}")} for i in range(200)]
        results = reg.upload_many(items, folder="/many")
        assert all(r.ok for r in results)
        assert [r.unwrap().name for r in results] == [f"{i}.txt" for i in range(200)]
        assert reg.count(folder="/many") == 200
        assert b"".join(reg.read(results[123].unwrap().id)) == b"small 123"

    def test_empty_batch_and_bad_batches(self, reg: Registry) -> None:
        assert reg.upload_many([]) == []
        with pytest.raises(InvalidArtifactInput):
            reg.upload_many({"path": "a.txt"})  # type: ignore[arg-type]  # one item, not a list

    def test_async_twin(self, reg: Registry, make_file: MakeFile) -> None:
        items = [{"path": make_file("async.txt", "async")}]
        results = asyncio.run(reg.aupload_many(items, folder="/batch"))
        assert b"".join(reg.read(results[0].unwrap().id)) == b"async"
