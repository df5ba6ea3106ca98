"""Seed names 000/001 on every backend: transfers (``remote``), ``get_category``, ``uploaded``, drafts as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from prefect_artifacts.draft import ArtifactDraft
from prefect_artifacts.errors import ArtifactNotFound, InvalidArtifactInput, InvalidOperation
from prefect_artifacts.models import RunCategory, TransferAction
from prefect_artifacts.testing._base import ContractFixtures, MakeFile, MakeTree, new_run_id

if TYPE_CHECKING:
    from prefect_artifacts.registry.base import Registry


class TransferContract(ContractFixtures):
    """`Registry.transfers`, `record_download`, `Artifact.remote`, `get_category`, `uploaded`, ``storage=``.

    Example:
        ```python
        class TestMine(TransferContract): ...
        ```
    """

    __test__ = False

    def test_uploads_and_downloads_are_recorded(self, reg: Registry, make_file: MakeFile, tmp_path: Path) -> None:
        source = make_file("data.csv", "x,y\n")
        art = reg.upload_file(source, name="data")
        reg.download(art.id, tmp_path / "copy.csv")
        reg.download_dir(art.id, tmp_path / "tree")
        b"".join(reg.read(art.id))  # streams are not recorded
        reg.record_download(art.id, "/elsewhere/data.csv")
        history = reg.transfers(art.ref)
        assert [t.action for t in history] == [TransferAction.UPLOAD] + [TransferAction.DOWNLOAD] * 3
        assert [t.local_path for t in history] == [str(source), str(tmp_path / "copy.csv"), str(tmp_path / "tree"),
                                                   "/elsewhere/data.csv"]
        assert {t.ref for t in history} == {art.ref} and len({t.user for t in history}) == 1
        assert all(t.created >= art.created for t in history) and len({t.id for t in history}) == 4
        assert [t.id for t in reg.get(art.id).remote] == [t.id for t in history]

    def test_a_version_has_its_own_history(self, reg: Registry, make_file: MakeFile) -> None:
        first = reg.upload_file(make_file("a.csv", "1"), name="a")
        second = reg.upload_file(make_file("a.csv", "2"), name="a")
        reg.get_contents(second.id, output_dir=make_file("x", "x").parent / "out")
        assert [t.action for t in reg.transfers(first.id)] == [TransferAction.UPLOAD]
        assert [t.action for t in reg.transfers(second.id)] == [TransferAction.UPLOAD, TransferAction.DOWNLOAD]
        skipped = reg.upload_file(make_file("a.csv", "3"), name="a", conflict_strategy="skip")
        assert skipped.id == second.id and len(reg.transfers(second.id)) == 2  # nothing was uploaded

    def test_transfer_errors(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("a.csv", "1"), name="a")
        for local_path in ("x" * 5000, "/tmp/a\x00b", "/tmp/a\ud800b"):
            with pytest.raises(InvalidArtifactInput, match="local_path|localPath"):
                reg.record_download(art.id, local_path)
        with pytest.raises(ArtifactNotFound):
            reg.transfers("/nowhere/missing")
        with pytest.raises(ArtifactNotFound):
            reg.record_download("/nowhere/missing")
        art.delete()
        with pytest.raises(ArtifactNotFound):
            reg.transfers(art.id)

    def test_get_category_through_a_run(self, reg: Registry, make_file: MakeFile) -> None:
        run = new_run_id()
        raw = reg.upload_file(make_file("raw.csv", "r"), name="raw")
        out = reg.upload_file(make_file("out.csv", "o"), name="out")
        raw.attach_to_run(run, "input")
        out.attach_to_run(run, "output")
        assert {a.name: a.get_category() for a in reg.run_artifacts(run)} == {
            "raw": RunCategory.INPUT, "out": RunCategory.OUTPUT}
        assert reg.get(raw.id).get_category(run) is RunCategory.INPUT
        with pytest.raises(InvalidOperation):
            reg.get(raw.id).get_category()

    def test_uploaded_and_storage(self, reg: Registry, make_file: MakeFile, make_tree: MakeTree) -> None:
        art = reg.upload_file(make_file("a.csv", "1"), name="a", storage="default")
        tree = reg.upload_dir(make_tree("plots", {"a.txt": "a", "b/c.txt": "c"}), name="plots")
        assert art.uploaded is tree.uploaded  # True, but False in an offline outbox not pushed yet
        assert tree.storage_url is None  # one blob per file
        if self.supports_file_references:
            ref = reg.add_reference(make_file("r.csv", "r").as_uri(), name="r")
            assert ref.uploaded is False and ref.storage_id is None and ref.storage_url == ref.files[0].uri
        from prefect_artifacts.registry.offline import OfflineRegistry

        if isinstance(reg, OfflineRegistry) and reg._learned_storages() is None:
            return  # an outbox that never reached its server: the server checks the id at the replay
        with pytest.raises(InvalidArtifactInput, match="unknown storage"):
            reg.upload_file(make_file("b.csv", "2"), name="b", storage="nowhere")
        assert reg.count() == (3 if self.supports_file_references else 2)

    def test_a_draft_saved_as_json_uploads_the_same(self, reg: Registry, make_file: MakeFile,
                                                    make_tree: MakeTree) -> None:
        draft = ArtifactDraft(name="bundle", labels=["x"], metadata={"k": 1}).add_file(make_file("1.png", "p"),
                                                                                        obj_path="a/")
        draft.add_dir(make_tree("plots", {"l.png": "l"}), obj_path="b/").add_bytes(b"{}", "params.json")
        rebuilt = ArtifactDraft.parse_from_dict(json.loads(json.dumps(draft.to_dict())))
        assert rebuilt.to_dict() == draft.to_dict()
        art = reg.upload(rebuilt, folder="/drafts", make_folder=True)
        assert [f.path for f in art.files] == ["a/1.png", "b/plots/l.png", "params.json"]
        assert art.labels == ["x"] and [a.content for a in art.metadata] == [{"k": 1}]
