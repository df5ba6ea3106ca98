"""Contract: runs and lineage, metadata aspects, updates, deletion, gc, snapshots, async twins."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest

from prefect_artifacts._aspects import MAX_ARTIFACT_ASPECT_BYTES, MAX_ASPECT_BYTES, MAX_ASPECTS_PER_ARTIFACT
from prefect_artifacts.batches import BatchResult
from prefect_artifacts.errors import (
    ArtifactConflict,
    ArtifactNotFound,
    InvalidArtifactInput,
    InvalidName,
    InvalidOperation,
    MetadataValidationError,
    PayloadTooLarge,
)
from prefect_artifacts.models import Artifact, RunCategory
from prefect_artifacts.registry.base import Registry
from prefect_artifacts.testing._base import ContractFixtures, MakeFile, MakeTree, new_run_id, payload, sha256


class RunContract(ContractFixtures):
    """`attach`, `art.runs`, `run_artifacts` and `lineage`.

    Example:
        ```python
        class TestMine(RunContract): ...
        ```
    """

    __test__ = False

    def test_attach_and_run_artifacts(self, reg: Registry, make_file: MakeFile) -> None:
        run = new_run_id()
        raw = reg.upload_file(make_file("raw.csv", "r"), name="raw")
        out = reg.upload_file(make_file("out.csv", "o"), name="out")
        link = reg.attach("raw", run, "input")
        assert (link.run_id, link.category) == (run, RunCategory.INPUT)
        assert link.created is not None
        reg.attach(out.id, run, RunCategory.OUTPUT)
        reg.attach(out.id, run, "output")  # idempotent
        assert [a.id for a in reg.run_artifacts(run)] == [raw.id, out.id]
        assert [a.id for a in reg.run_artifacts(run, category="input")] == [raw.id]
        assert [a.id for a in reg.run_artifacts(run, category=RunCategory.OUTPUT)] == [out.id]
        assert reg.run_artifacts(run, category="code") == []
        assert reg.run_artifacts(new_run_id()) == []
        assert [(r.run_id, r.category) for r in reg.get(out.id).runs] == [(run, RunCategory.OUTPUT)]

    def test_same_artifact_in_several_runs_and_categories(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("code.py", "print(1)"), name="code")
        first, second = new_run_id(), new_run_id()
        reg.attach(art.id, first, "code")
        reg.attach(art.id, first, "input")
        reg.attach(art.id, second, "input")
        links = {(r.run_id, r.category) for r in reg.get(art.id).runs}
        assert links == {(first, RunCategory.CODE), (first, RunCategory.INPUT), (second, RunCategory.INPUT)}
        assert [a.id for a in reg.run_artifacts(first)] == [art.id]  # listed once

    def test_art_attach_to_run_updates_runs(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("a.txt"), name="a")
        run = new_run_id()
        link = art.attach_to_run(run, "output")
        assert link.category is RunCategory.OUTPUT
        assert [(r.run_id, r.category) for r in art.runs] == [(run, RunCategory.OUTPUT)]
        art.attach_to_run(run, "output")
        assert len(art.runs) == 1
        fresh = reg.get(art.id)
        assert [(r.run_id, r.category) for r in fresh.runs] == [(run, RunCategory.OUTPUT)]
        stale = reg.get(art.id)
        reg.attach(art.id, run, "input")
        assert len(stale.refresh().runs) == 2

    def test_invalid_category(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("a.txt"), name="a")
        run = new_run_id()
        for category in ("sideways", "INPUT ", ""):
            with pytest.raises(InvalidArtifactInput):
                reg.attach(art.id, run, category)
        with pytest.raises(InvalidArtifactInput):
            art.attach_to_run(run, "both")
        with pytest.raises(InvalidArtifactInput):
            reg.run_artifacts(run, category="sideways")
        assert reg.get(art.id).runs == []
        assert reg.run_artifacts(run) == []

    def test_attach_to_missing_artifact(self, reg: Registry) -> None:
        with pytest.raises(ArtifactNotFound):
            reg.attach("no-such-artifact", new_run_id(), "input")
        with pytest.raises(ArtifactNotFound):
            reg.lineage("no-such-artifact")
        with pytest.raises(ArtifactNotFound):
            reg.files("no-such-artifact")
        with pytest.raises(ArtifactNotFound):
            reg.get_metadata("no-such-artifact")

    def test_invalid_run_ids(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("a.txt"), name="a")
        for run_id in ("", "x" * 65):
            with pytest.raises(InvalidArtifactInput):
                reg.attach(art.id, run_id, "input")
        assert reg.get(art.id).runs == []
        link = reg.attach(art.id, "any-run-name-1", "input")  # run ids need not be UUIDs
        assert [a.id for a in reg.run_artifacts(link.run_id)] == [art.id]

    def test_lineage_through_runs(self, reg: Registry, make_file: MakeFile) -> None:
        prepare, train = new_run_id(), new_run_id()
        raw = reg.upload_file(make_file("raw.csv", "raw"), name="raw")
        code = reg.upload_file(make_file("train.py", "fit()"), name="train-code")
        clean = reg.upload_file(make_file("clean.csv", "clean"), name="clean")
        model = reg.upload_file(make_file("model.bin", "weights"), name="model")
        unrelated = reg.upload_file(make_file("other.txt", "other"), name="other")
        reg.attach(raw.id, prepare, "input")
        reg.attach(clean.id, prepare, "output")
        reg.attach(clean.id, train, "input")
        reg.attach(code.id, train, "code")
        reg.attach(model.id, train, "output")
        reg.attach(unrelated.id, new_run_id(), "output")

        graph = reg.lineage("model")
        assert graph.root == model.id
        assert {a.id for a in graph.artifacts} == {raw.id, code.id, clean.id, model.id}
        assert sorted(graph.upstream(model.id)) == sorted([clean.id, code.id])
        assert graph.upstream(clean.id) == [raw.id]
        assert graph.upstream(raw.id) == []
        edges = {(e.artifact_id, e.run_id, e.category) for e in graph.edges}
        assert (model.id, train, RunCategory.OUTPUT) in edges
        assert (raw.id, prepare, RunCategory.INPUT) in edges
        alone = reg.lineage(unrelated.id)
        assert {a.id for a in alone.artifacts} == {unrelated.id}
        lonely = reg.upload_file(make_file("l.txt", "l"), name="lonely")
        assert [a.id for a in reg.lineage(lonely.id).artifacts] == [lonely.id]
        assert reg.lineage(lonely.id).edges == []


class MetadataContract(ContractFixtures):
    """Metadata aspects, `update`, and object state (`read_only`, `staged`, `commit`, `refresh`).

    `add_metadata` (schema names, JSON Schema enforcement), `art.metadata`, `update`; an
    artifact starts read-only, stages edits when writable, and `commit` sends them.

    Example:
        ```python
        class TestMine(MetadataContract): ...
        ```
    """

    __test__ = False

    SCHEMA = {
        "title": "dataset-stats",
        "type": "object",
        "required": ["rows"],
        "properties": {"rows": {"type": "integer", "minimum": 0}, "columns": {"type": "array"}},
    }

    def test_aspects_with_schema_name(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("a.csv", "a"), name="a")
        first = reg.add_metadata(art.id, {"rows": 3, "nested": {"k": [1, 2]}}, schema="stats/v1", policy="keep")
        assert first.schema_name == "stats/v1"
        assert first.content == {"rows": 3, "nested": {"k": [1, 2]}}
        assert first.policy == "keep"
        returned = art.add_metadata({"note": "second"})
        assert returned is art
        aspects = art.metadata
        assert [a.content for a in aspects] == [{"rows": 3, "nested": {"k": [1, 2]}}, {"note": "second"}]
        assert [a.schema_name for a in aspects] == ["stats/v1", None]
        assert aspects[0].id == first.id and aspects[0].id != aspects[1].id
        assert json.loads(json.dumps([a.content for a in reg.get_metadata("a")])) == [a.content for a in aspects]

    def test_aspects_belong_to_one_version(self, reg: Registry, make_file: MakeFile) -> None:
        v1 = reg.upload_file(make_file("a.csv", "1"), name="a", metadata={"rows": 1})
        v2 = reg.upload_file(make_file("a.csv", "2"), name="a")
        assert [a.content for a in v1.metadata] == [{"rows": 1}]
        assert v2.metadata == []
        assert reg.count(search="meta.rows:1") == 1
        assert [a.id for a in reg.list(search="meta.rows:1").data] == [v1.id]

    def test_json_schema_enforced(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("a.csv", "a"), name="a")
        ok = reg.add_metadata(art.id, {"rows": 10, "columns": ["a"]}, schema=self.SCHEMA)
        assert ok.content == {"rows": 10, "columns": ["a"]}
        assert ok.schema_name == "dataset-stats"
        bad_aspects: list[dict[str, object]] = [{"columns": []}, {"rows": -1}, {"rows": "ten"}]
        for bad in bad_aspects:
            with pytest.raises(MetadataValidationError):
                reg.add_metadata(art.id, bad, schema=self.SCHEMA)
        assert [a.content for a in art.metadata] == [{"rows": 10, "columns": ["a"]}]

    def test_inline_dollar_schema(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("a.csv", "a"), name="a")
        stored = reg.add_metadata(art.id, {"rows": 1, "$schema": self.SCHEMA})
        assert stored.content == {"rows": 1}
        with pytest.raises(MetadataValidationError):
            reg.add_metadata(art.id, {"$schema": self.SCHEMA})
        assert len(art.metadata) == 1

    def test_invalid_aspects(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("a.csv", "a"), name="a")
        with pytest.raises(MetadataValidationError):
            reg.add_metadata(art.id, ["not", "an", "object"])  # type: ignore[arg-type]
        with pytest.raises(MetadataValidationError):
            reg.add_metadata(art.id, {"a": 1}, schema={"type": "not-a-type"})
        with pytest.raises(MetadataValidationError):
            reg.add_metadata(art.id, {"big": "x" * (2 * 1024 * 1024)})
        assert art.metadata == []
        with pytest.raises(ArtifactNotFound):
            reg.add_metadata("missing", {"a": 1})

    @pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
    def test_nan_and_infinities_refused_everywhere(self, reg: Registry, make_file: MakeFile, value: float) -> None:
        # JSON cannot hold them: stored embedded they would read back differently over HTTP (null) and break PostgreSQL
        art = reg.upload_file(make_file("a.csv", "a"), name="a")
        with pytest.raises(MetadataValidationError, match="NaN or an infinity"):
            reg.add_metadata(art.id, {"loss": [0.5, {"final": value}]})
        with pytest.raises(MetadataValidationError, match="NaN or an infinity"):
            reg.upload_file(make_file("b.csv", "b"), name="b", metadata={"loss": value})
        [result] = reg.upload_many([{"path": make_file("c.csv", "c"), "name": "c", "metadata": {"loss": value}}])
        assert isinstance(result.error, MetadataValidationError) and "NaN or an infinity" in str(result.error)
        assert [a.name for a in reg.list().data] == ["a"] and art.metadata == []

    @pytest.mark.parametrize("aspect", [{"note": "a\x00b"}, {"a\x00b": 1}, {"list": [{"deep": "\x00"}]}])
    def test_nul_characters_in_metadata_refused(self, reg: Registry, make_file: MakeFile,
                                                aspect: dict[str, object]) -> None:
        # PostgreSQL's jsonb cannot hold U+0000: refused on every catalog alike, before anything is stored
        art = reg.upload_file(make_file("a.csv", "a"), name="a")
        with pytest.raises(MetadataValidationError, match="NUL"):
            reg.add_metadata(art.id, aspect)
        with pytest.raises(MetadataValidationError, match="NUL"):
            reg.upload_file(make_file("b.csv", "b"), name="b", metadata=aspect)
        assert art.metadata == [] and reg.count() == 1
        reg.add_metadata(art.id, {"note": "a literal \\u0000, six characters"})  # text, not a NUL
        assert [a.name for a in reg.list(search="meta.note:a*").data] == ["a"]

    def test_text_that_is_not_unicode_refused(self, reg: Registry, make_file: MakeFile) -> None:
        # A lone surrogate has no UTF-8 form: the drivers raised UnicodeEncodeError, and in an
        # aspect on PostgreSQL it made every metadata search fail ("invalid input syntax for type json")
        art = reg.upload_file(make_file("a.csv", "a"), name="a", metadata={"note": "fine"})
        bad = "x\ud800y"
        attempts = [
            ("aspect", lambda: reg.add_metadata(art.id, {"note": bad})),
            ("aspect", lambda: reg.add_metadata(art.id, {bad: 1})),
            ("description", lambda: reg.update(art.id, description=bad)),
            ("description", lambda: reg.upload_file(make_file("b.csv", "b"), name="b", description=bad)),
            ("mime type", lambda: reg.upload_file(make_file("c.csv", "c"), name="c", mime_type="text/" + bad)),
        ]
        for what, attempt in attempts:
            with pytest.raises(InvalidArtifactInput, match=f"{what}.*not valid Unicode"):
                attempt()
        assert reg.count() == 1 and [a.content for a in reg.get_metadata(art.id)] == [{"note": "fine"}]
        assert reg.get(art.id).description is None
        assert [a.name for a in reg.list(search="meta.note:fine").data] == ["a"]

    def test_aspects_of_one_artifact_are_bounded(self, reg: Registry, make_file: MakeFile) -> None:
        # Every read of an artifact's metadata answers all its aspects at once: one writer
        # adding aspects without end would make those answers (and the server's memory) unbounded.
        def create(name: str, aspects: list[dict[str, object]]) -> BatchResult:
            [result] = reg.upload_many([{"path": make_file(f"{name}.csv", name), "name": name,
                                         "extra_aspects": aspects}])
            return result

        many = create("many", [{"i": i} for i in range(MAX_ASPECTS_PER_ARTIFACT)]).unwrap()
        with pytest.raises(PayloadTooLarge, match=f"at most {MAX_ASPECTS_PER_ARTIFACT} metadata aspects"):
            reg.add_metadata(many.id, {"one": "more"})
        refused = create("too-many", [{"i": i} for i in range(MAX_ASPECTS_PER_ARTIFACT + 1)])
        assert isinstance(refused.error, PayloadTooLarge) and "metadata aspects" in str(refused.error)

        big: dict[str, object] = {"blob": "x" * (MAX_ASPECT_BYTES - 100)}
        fits = MAX_ARTIFACT_ASPECT_BYTES // MAX_ASPECT_BYTES - 1  # 15 of 1 MiB, with room for small ones
        heavy = create("heavy", [big] * fits).unwrap()
        reg.add_metadata(heavy.id, {"small": 1})
        reg.add_metadata(heavy.id, big)  # 16,775,866 bytes in all: just under
        with pytest.raises(PayloadTooLarge, match="bytes of JSON in all"):
            reg.add_metadata(heavy.id, big)
        assert isinstance(create("too-heavy", [big] * (fits + 2)).error, PayloadTooLarge)
        assert {a.name for a in reg.list(page_length=50).data} == {"many", "heavy"}
        assert len(reg.get_metadata(many.id)) == MAX_ASPECTS_PER_ARTIFACT

    def test_deep_metadata_refused(self, reg: Registry, make_file: MakeFile) -> None:
        def nested(depth: int) -> dict[str, object]:
            value: dict[str, object] = {"leaf": 1}
            for _ in range(depth - 1):
                value = {"x": value}
            return value

        art = reg.upload_file(make_file("a.csv", "a"), name="a")
        with pytest.raises(MetadataValidationError, match="nest more than 64 levels deep"):
            reg.add_metadata(art.id, nested(65))
        with pytest.raises(MetadataValidationError, match="nest more than 64 levels deep"):
            reg.upload_file(make_file("b.csv", "b"), name="b", metadata=nested(5000))  # past Python's recursion limit
        assert art.metadata == [] and reg.count() == 1
        reg.add_metadata(art.id, nested(64))
        assert [a.content for a in reg.get_metadata(art.id)] == [nested(64)]

    def test_upload_metadata_validated_before_storing(self, reg: Registry, make_file: MakeFile) -> None:
        with pytest.raises(MetadataValidationError):
            reg.upload_file(make_file("a.csv", "a"), name="a", metadata={"rows": "x", "$schema": self.SCHEMA})
        assert reg.count() == 0

    def test_update_description_and_labels(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("a.csv", "a"), name="a", description="old", labels=["raw"])
        updated = reg.update("a", description="cleaned")
        assert (updated.description, updated.labels) == ("cleaned", ["raw"])
        assert updated.modified >= art.modified
        relabeled = reg.update(art.id, labels=["clean", "v2"])
        assert (relabeled.description, relabeled.labels) == ("cleaned", ["clean", "v2"])
        assert reg.get(art.id).labels == ["clean", "v2"]
        assert reg.count(search="label:raw") == 0
        assert reg.count(search="label:v2") == 1
        assert reg.update(art.id, labels=[]).labels == []
        long_text = "naïve ☃ — line\n" * 500
        assert reg.update(art.id, description=long_text).description == long_text
        assert reg.get(art.id).description == long_text
        assert reg.count(search="description:☃") == 1
        assert reg.count(search="label:clean") == 0
        with pytest.raises(InvalidName):
            reg.update(art.id, labels=["bad\nlabel"])
        with pytest.raises(InvalidName):
            reg.update(art.id, labels="abc")
        assert reg.get(art.id).labels == []
        with pytest.raises(ArtifactNotFound):
            reg.update("missing", description="x")

    def test_artifacts_are_read_only_by_default(self, reg: Registry, make_file: MakeFile) -> None:
        uploaded = reg.upload_file(make_file("a.csv", "a"), name="a", description="old", labels=["raw"])
        for art in (uploaded, reg.get("a"), reg.list().data[0]):
            assert art.is_read_only
            with pytest.raises(InvalidOperation, match=r"'description'.*read_only\(False\)"):
                art.description = "new"
            with pytest.raises(InvalidOperation, match="'labels'"):
                art.labels = ["x"]
            assert (art.description, art.labels, art.staged) == ("old", ["raw"], {})
            with pytest.raises(InvalidOperation):
                art.stage_alias("production")
        assert (reg.get("a").description, reg.get("a").labels) == ("old", ["raw"])

    def test_staged_changes_are_sent_only_by_commit(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("a.csv", "a"), name="a", description="old", labels=["raw"])
        assert art.read_only(False) is art and not art.is_read_only
        art.description = "cleaned"
        art.labels = [*art.labels, "clean"]
        aspect = {"rows": 10}
        assert art.stage_metadata(aspect, schema=self.SCHEMA, policy="keep") is art
        aspect["rows"] = -1  # the staged copy is not the caller's dict
        art.stage_alias("production")
        assert art.staged == {
            "description": "cleaned", "labels": ["raw", "clean"],
            "metadata": [{"aspect": {"rows": 10}, "schema": self.SCHEMA, "policy": "keep"}],
            "aliases": ["production"],
        }
        stored = reg.get(art.id)  # nothing sent yet
        assert (stored.description, stored.labels, stored.metadata) == ("old", ["raw"], [])
        with pytest.raises(ArtifactNotFound):
            reg.get("a:production")
        with pytest.raises(InvalidOperation, match="'version'"):
            art.version = 9  # writable or not, a stored version's fields are fixed
        assert art.commit() is art
        assert art.staged == {}
        stored = reg.get(art.id)
        assert (stored.description, stored.labels) == ("cleaned", ["raw", "clean"])
        assert (art.description, art.labels, art.modified) == (stored.description, stored.labels, stored.modified)
        assert [(a.content, a.schema_name, a.policy) for a in stored.metadata] == [
            ({"rows": 10}, "dataset-stats", "keep")]
        assert reg.get("a:production").id == art.id
        assert art.commit() is art  # nothing staged: nothing sent
        assert len(reg.get_metadata(art.id)) == 1

    def test_commit_validates_everything_before_sending(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("a.csv", "a"), name="a", description="old").read_only(False)
        with pytest.raises(InvalidName):
            art.labels = ["bad\nlabel"]  # assignments are validated at once
        with pytest.raises(MetadataValidationError):
            art.stage_metadata({"rows": "ten"}, schema=self.SCHEMA)
        with pytest.raises(InvalidName):
            art.stage_alias("7")
        assert art.staged == {}
        art.description = "new"
        art.stage_metadata({"rows": 1})
        art.labels.append("bad\nlabel")  # an in-place edit is staged too, and checked by commit
        with pytest.raises(InvalidName):
            art.commit()
        stored = reg.get(art.id)
        assert (stored.description, stored.labels, stored.metadata) == ("old", [], [])
        assert set(art.staged) == {"description", "labels", "metadata"}
        art.labels = ["good"]
        art.commit()
        stored = reg.get(art.id)
        assert (stored.description, stored.labels, len(stored.metadata)) == ("new", ["good"], 1)

    def test_refresh_discards_or_rebases_staged_changes(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("a.csv", "a"), name="a", description="old", labels=["raw"])
        art.read_only(False)
        art.description = "mine"
        art.stage_alias("candidate")
        reg.update(art.id, labels=["theirs"])  # another writer, meanwhile
        run_id = new_run_id()
        reg.attach(art.id, run_id, "input")
        assert art.refresh(discard=False) is art
        assert (art.description, art.labels) == ("mine", ["theirs"])
        assert [r.run_id for r in art.runs] == [run_id]
        assert art.staged == {"description": "mine", "aliases": ["candidate"]}
        art.commit()
        stored = reg.get(art.id)
        assert (stored.description, stored.labels) == ("mine", ["theirs"])
        assert reg.get("a:candidate").id == art.id
        art.description = "draft"
        art.labels = []
        art.stage_metadata({"rows": 2})
        assert art.refresh() is art and not art.is_read_only
        assert (art.description, art.labels, art.staged) == ("mine", ["theirs"], {})
        assert reg.get_metadata(art.id) == []

    @pytest.mark.asyncio
    async def test_async_commit_and_refresh(self, reg: Registry, make_file: MakeFile) -> None:
        art = (await reg.aupload_file(make_file("a.csv", "a"), name="a")).read_only(False)
        art.labels = ["async"]
        assert await art.acommit() is art
        assert (await reg.aget(art.id)).labels == ["async"]
        art.description = "local"
        assert await art.arefresh(discard=False) is art
        assert art.staged == {"description": "local"}
        await art.arefresh()
        assert art.staged == {} and art.description is None


class DeleteContract(ContractFixtures):
    """`delete` hides an artifact everywhere; `gc` reclaims only unreferenced blobs.

    Example:
        ```python
        class TestMine(DeleteContract): ...
        ```
    """

    __test__ = False

    def test_delete_hides_everywhere(self, reg: Registry, make_file: MakeFile) -> None:
        run = new_run_id()
        keep = reg.upload_file(make_file("k.txt", "keep"), name="keep")
        gone = reg.upload_file(make_file("g.txt", "gone"), name="gone", labels=["doomed"])
        reg.attach(keep.id, run, "input")
        reg.attach(gone.id, run, "output")
        reg.delete("gone")
        for ref in (gone.id, gone.urn, "gone", "gone:1", "gone:latest"):
            with pytest.raises(ArtifactNotFound):
                reg.get(ref)
        assert [a.id for a in reg.list().data] == [keep.id]
        assert reg.list().total == 1
        assert reg.count() == 1 and reg.count(search="label:doomed") == 0
        assert reg.ids() == [keep.id]
        assert [a.id for a in reg.run_artifacts(run)] == [keep.id]
        assert [a.id for a in reg.lineage(keep.id).artifacts] == [keep.id]
        with pytest.raises(ArtifactNotFound):
            b"".join(reg.read(gone.id))
        with pytest.raises(ArtifactNotFound):
            reg.delete(gone.id)
        with pytest.raises(ArtifactNotFound):
            reg.attach(gone.id, run, "input")

    def test_version_numbers_are_never_reused(self, reg: Registry, make_file: MakeFile) -> None:
        arts = [reg.upload_file(make_file("a.txt", str(i)), name="a") for i in range(3)]
        arts[2].delete()
        arts[1].delete()
        assert reg.get("a").id == arts[0].id
        assert reg.upload_file(make_file("a.txt", "new"), name="a").version == 4
        arts[0].delete()
        assert reg.get("a").version == 4
        reg.delete("a")
        with pytest.raises(ArtifactNotFound):
            reg.get("a")
        assert reg.upload_file(make_file("a.txt", "newer"), name="a").version == 5

    def test_gc_reclaims_only_unreferenced_blobs(self, reg: Registry, make_file: MakeFile) -> None:
        self.skip_unless("supports_gc")
        shared, alone = payload(40_000, 11), payload(30_000, 12)
        doomed_shared = reg.upload_file(make_file("s1.bin", shared), name="doomed-shared")
        doomed_alone = reg.upload_file(make_file("a.bin", alone), name="doomed-alone")
        survivor = reg.upload_file(make_file("s2.bin", shared), name="survivor")
        assert reg.gc(grace_seconds=0).blobs_deleted == 0  # everything is referenced
        doomed_shared.delete()
        doomed_alone.delete()
        preview = reg.gc(dry_run=True, grace_seconds=0)
        assert preview.dry_run and (preview.blobs_deleted, preview.bytes_freed) == (1, len(alone))
        report = reg.gc(grace_seconds=0)
        assert not report.dry_run
        assert (report.blobs_deleted, report.bytes_freed) == (1, len(alone))
        assert b"".join(reg.get("survivor").as_stream()) == shared
        assert reg.get(survivor.id).checksum == sha256(shared)
        again = reg.gc(grace_seconds=0)
        assert (again.blobs_deleted, again.bytes_freed) == (0, 0)
        back = reg.upload_file(make_file("a2.bin", alone), name="back")  # the reclaimed content, re-uploaded
        assert b"".join(back.as_stream()) == alone

    def test_gc_reclaims_a_deleted_directory(self, reg: Registry, make_tree: MakeTree) -> None:
        self.skip_unless("supports_gc")
        files = {"a.bin": payload(1000, 21), "s/b.bin": payload(2000, 22), "s/c.bin": payload(3000, 23),
                 "dup.bin": payload(1000, 21)}  # same bytes as a.bin: one blob
        art = reg.upload_dir(make_tree("d", files), name="d")
        reg.add_metadata(art.id, {"k": 1})
        art.delete()
        with pytest.raises(ArtifactNotFound):
            reg.get_metadata(art.id)
        report = reg.gc(grace_seconds=0)
        assert (report.blobs_deleted, report.bytes_freed) == (3, 6000)

    def test_gc_never_touches_referenced_sources(self, reg: Registry, make_file: MakeFile) -> None:
        self.skip_unless("supports_gc")
        self.skip_unless("supports_file_references")
        source = make_file("precious.bin", payload(4000, 30))
        art = reg.add_reference(source.as_uri(), name="precious")
        art.delete()
        report = reg.gc(grace_seconds=0)
        assert report.blobs_deleted == 0
        assert source.read_bytes() == payload(4000, 30)

    def test_gc_grace_keeps_young_blobs(self, reg: Registry, make_file: MakeFile) -> None:
        self.skip_unless("supports_gc")
        reg.upload_file(make_file("x.bin", payload(1000, 5)), name="x").delete()
        report = reg.gc(grace_seconds=3600)
        assert report.blobs_deleted == 0 and report.blobs_kept_young == 1
        assert (report.bytes_kept_young, report.grace_seconds) == (1000, 3600)
        assert reg.gc(grace_seconds=0).blobs_deleted == 1

    def test_gc_keeps_directory_and_snapshot_blobs(self, reg: Registry, make_file: MakeFile,
                                                   tmp_path: Path) -> None:
        self.skip_unless("supports_gc")
        root = tmp_path / "d"
        (root / "s").mkdir(parents=True)
        (root / "one.txt").write_bytes(b"one")
        (root / "s" / "two.txt").write_bytes(b"two")
        art = reg.upload_dir(root, name="d")
        snap = reg.create_plugin_snapshot("plug", "1", [("plug.py", b"X = 1\n")])
        assert reg.gc(grace_seconds=0).blobs_deleted == 0
        assert b"".join(reg.read(art.id, path="s/two.txt")) == b"two"
        assert reg.read_plugin_snapshot_file(snap.id, "plug.py") == b"X = 1\n"


class SnapshotContract(ContractFixtures):
    """Plugin snapshots: immutable, content-addressed, verified on read.

    Example:
        ```python
        class TestMine(SnapshotContract): ...
        ```
    """

    __test__ = False

    FILES = [("my_plugin/__init__.py", b"from .core import *\n"), ("my_plugin/core.py", b"def f():\n    return 1\n")]

    def test_create_get_read(self, reg: Registry) -> None:
        snap = reg.create_plugin_snapshot("my_plugin", "1.0", self.FILES)
        assert (snap.plugin_name, snap.version) == ("my_plugin", "1.0")
        assert [(f.path, f.checksum, f.size) for f in snap.files] == [
            (p, sha256(d), len(d)) for p, d in sorted(self.FILES)
        ]
        fetched = reg.get_plugin_snapshot(snap.id)
        assert fetched.model_dump() == snap.model_dump()
        for path, data in self.FILES:
            assert reg.read_plugin_snapshot_file(snap.id, path) == data

    def test_same_files_same_snapshot(self, reg: Registry) -> None:
        first = reg.create_plugin_snapshot("my_plugin", "1.0", self.FILES)
        again = reg.create_plugin_snapshot("my_plugin", "1.0", list(reversed(self.FILES)))
        assert again.id == first.id and again.digest == first.digest
        changed = reg.create_plugin_snapshot("my_plugin", "1.0", [*self.FILES[:1], ("my_plugin/core.py", b"2")])
        assert changed.id != first.id and changed.digest != first.digest
        assert reg.read_plugin_snapshot_file(first.id, "my_plugin/core.py") == self.FILES[1][1]

    @pytest.mark.parametrize(("name", "version", "problem"), [
        ("", "1", "(?i)plugin ?name"), ("p" * 256, "1", "(?i)plugin ?name"), ("p\x00", "1", "(?i)plugin ?name"),
        ("p\ud800", "1", "(?i)plugin ?name"), ("p", "1" * 129, "version"), ("p", "1\x00", "version"),
    ])  # the server's request schema words some of them itself ("pluginName: String should have …")
    def test_snapshot_names_the_catalog_cannot_hold(self, reg: Registry, name: str, version: str,
                                                    problem: str) -> None:
        # SQLite stored them (an empty name too) and PostgreSQL refused them with a generic message
        with pytest.raises(InvalidArtifactInput, match=problem):
            reg.create_plugin_snapshot(name, version, [("p.py", b"x")])
        assert reg.create_plugin_snapshot("p", "1", [("p.py", b"x")]).plugin_name == "p"  # nothing was stored

    def test_snapshot_errors(self, reg: Registry) -> None:
        snap = reg.create_plugin_snapshot("p", None, [("p.py", b"x")])
        assert snap.version is None
        with pytest.raises(ArtifactNotFound):
            reg.get_plugin_snapshot("00000000-0000-0000-0000-000000000000")
        with pytest.raises(ArtifactNotFound):
            reg.read_plugin_snapshot_file(snap.id, "other.py")
        with pytest.raises(InvalidArtifactInput):
            reg.create_plugin_snapshot("p", None, [("../evil.py", b"x")])


class AsyncContract(ContractFixtures):
    """The ``a``-prefixed async twins of the registry and of `Artifact`.

    Example:
        ```python
        class TestMine(AsyncContract): ...
        ```
    """

    __test__ = False

    @pytest.mark.asyncio
    async def test_async_twins(self, reg: Registry, make_file: MakeFile, tmp_path: Path) -> None:
        content = payload(100_000, 9)
        art = await reg.aupload_file(make_file("a.bin", content), name="a", folder="/async")
        assert isinstance(art, Artifact) and art.version == 1
        assert (await reg.aget("/async/a:1")).id == art.id
        page = await reg.alist(search="folder:/async")
        assert [a.id for a in page.data] == [art.id]
        assert await reg.acount() == 1
        assert (await art.aopen()).read() == content
        assert b"".join([chunk async for chunk in art.adownload_content()]) == content
        chunks = [chunk async for chunk in art.aas_stream()]
        assert b"".join(chunks) == content
        assert all(len(c) == art.stream_chunk_size() for c in chunks[:-1])
        kept = await art.aas_local_file(tmp_path / "out" / "a.bin")
        assert Path(kept).read_bytes() == content
        with await art.aas_local_file() as temp:
            assert temp.read_bytes() == content
        assert not temp.exists()
        with pytest.raises(ArtifactNotFound):
            await reg.aget("missing")

    @pytest.mark.asyncio
    async def test_concurrent_async_uploads(self, reg: Registry, make_file: MakeFile) -> None:
        paths = [make_file(f"f{i}.txt", f"content {i}") for i in range(6)]
        arts = await asyncio.gather(*(reg.aupload_file(p, name="same") for p in paths))
        assert sorted(a.version for a in arts) == [1, 2, 3, 4, 5, 6]
        for art in arts:
            version_content = b"".join((await reg.aget(art.id)).as_stream())
            assert version_content.startswith(b"content ")
        assert await reg.acount() == 6

    @pytest.mark.asyncio
    async def test_concurrent_conflict_strategies(self, reg: Registry, make_file: MakeFile) -> None:
        paths = [make_file(f"c{i}.txt", f"racer {i}") for i in range(5)]
        results = await asyncio.gather(
            *(reg.aupload_file(p, name="race", conflict_strategy="error") for p in paths), return_exceptions=True
        )
        winners = [r for r in results if isinstance(r, Artifact)]
        losers = [r for r in results if not isinstance(r, Artifact)]
        assert len(winners) == 1 and winners[0].version == 1
        assert all(isinstance(e, ArtifactConflict) for e in losers), losers
        skipped = await asyncio.gather(*(reg.aupload_file(p, name="race", conflict_strategy="skip") for p in paths))
        assert {a.id for a in skipped} == {winners[0].id}
        fresh = await asyncio.gather(*(reg.aupload_file(p, name="calm", conflict_strategy="skip") for p in paths))
        assert len({a.id for a in fresh}) == 1, "concurrent skips of a new name must agree on one artifact"
        assert await reg.acount() == 2

