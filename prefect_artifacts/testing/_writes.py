"""Contract: creating artifacts (files, folders, versions, references, conflicts, names)."""

from __future__ import annotations

import io
import os
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from prefect_artifacts._paths import artifact_ref
from prefect_artifacts.draft import ArtifactDraft
from prefect_artifacts.errors import (
    AmbiguousReference,
    ArtifactConflict,
    ArtifactNotFound,
    FolderNotFound,
    InvalidArtifactInput,
    InvalidName,
    StorageError,
    UnsafePath,
)
from prefect_artifacts.models import ArtifactKind, ConflictStrategy
from prefect_artifacts.registry.base import Registry
from prefect_artifacts.testing._base import ContractFixtures, MakeFile, MakeTree, payload, sha256


class UploadContract(ContractFixtures):
    """`upload_file`, `upload_dir` and the fields they record.

    Example:
        ```python
        class TestMine(UploadContract): ...
        ```
    """

    __test__ = False

    def test_upload_file_records_every_field(self, reg: Registry, make_file: MakeFile) -> None:
        content = b"a,b\n1,2\n3,4\n"
        path = make_file("data.csv", content)
        before = datetime.now(timezone.utc)
        art = reg.upload_file(path, name="my-data", folder="/team/datasets", description="two rows",
                              labels=["raw", "csv"], metadata={"rows": 2})
        assert art.name == "my-data"
        assert art.folder == "/team/datasets"
        assert art.version == 1
        assert art.kind is ArtifactKind.FILE
        assert art.is_dir is False
        assert art.description == "two rows"
        assert art.labels == ["raw", "csv"]
        assert art.size == len(content)
        assert art.checksum == sha256(content)
        assert art.mime_type == "text/csv"
        assert art.original_path == os.path.abspath(path)
        assert before.timestamp() - 5 <= art.created.timestamp() <= datetime.now(timezone.utc).timestamp() + 5
        assert art.modified >= art.created
        assert art.urn.endswith(art.id) and art.urn != art.id
        assert [(f.path, f.size, f.checksum) for f in art.files] == [("data.csv", len(content), sha256(content))]
        assert art.files[0].uri is None and not art.files[0].is_reference
        assert [a.content for a in art.metadata] == [{"rows": 2}]
        fetched = reg.get(art.id)
        assert fetched.model_dump() == art.model_dump()
        assert b"".join(fetched.as_stream()) == content

    def test_name_defaults_to_file_name(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("report.txt", "hi"))
        assert art.name == "report.txt"
        assert art.folder == self.default_folder
        assert reg.get("report.txt").id == art.id

    def test_folder_absolute_relative_and_default(self, reg: Registry, make_file: MakeFile) -> None:
        path = make_file("a.txt", "x")
        assert reg.upload_file(path, name="a", folder="/abs/path").folder == "/abs/path"
        mine = f"/{reg.current_user}/rel/path"  # seed 001: a relative folder is the caller's
        assert reg.upload_file(path, name="a", folder="rel/path", make_folder=True).folder == mine
        assert reg.upload_file(path, name="a", folder="/abs//path/./").folder == "/abs/path"
        assert reg.upload_file(path, name="a").folder == self.default_folder
        assert reg.get("/abs/path/a").version == 2
        assert reg.get(f"{mine}/a").version == 1
        assert reg.get(name="a", folder="rel/path").folder == mine

    def test_folder_escaping_root_is_refused(self, reg: Registry, make_file: MakeFile) -> None:
        with pytest.raises(UnsafePath):
            reg.upload_file(make_file("a.txt"), name="a", folder="/team/../etc")
        assert reg.count() == 0

    @pytest.mark.parametrize(
        ("filename", "content", "mime"),
        [
            ("table.csv", b"a,b\n", "text/csv"),
            ("doc.json", b'{"a": 1}', "application/json"),
            ("noext", b"%PDF-1.7 fake", "application/pdf"),
            ("blob", b"\x89PNG\r\n\x1a\n" + bytes(20), "image/png"),
            ("plain", b"just some words\n", "text/plain"),
            ("binary", bytes(range(256)), "application/octet-stream"),
        ],
    )
    def test_mime_detected_from_name_then_content(
        self, reg: Registry, make_file: MakeFile, filename: str, content: bytes, mime: str
    ) -> None:
        art = reg.upload_file(make_file(filename, content))
        assert art.mime_type == mime
        assert art.files[0].mime_type == mime

    def test_explicit_mime_type_wins(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("data.csv", "a,b"), mime_type="application/x-custom")
        assert art.mime_type == "application/x-custom"
        assert reg.get(art.id).files[0].mime_type == "application/x-custom"

    def test_empty_file(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("empty.bin", b""))
        assert art.size == 0
        assert art.checksum == sha256(b"")
        assert b"".join(art.as_stream()) == b""

    def test_duplicate_labels_are_kept_once_in_order(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("a.txt"), labels=["b", "a", "b"])
        assert art.labels == ["b", "a"]
        assert reg.get(art.id).labels == ["b", "a"]

    def test_upload_dir_nested_files_sorted(self, reg: Registry, make_tree: MakeTree) -> None:
        files: dict[str, str | bytes] = {"z.txt": "Z", "a/b/c.txt": "C", "a/a.txt": "A", "m.bin": bytes(range(10))}
        root = make_tree("outputs", files, empty_dirs=["empty", "a/also-empty"])
        art = reg.upload_dir(root, name="checkpoint", labels=["ckpt"])
        assert art.kind is ArtifactKind.DIRECTORY
        assert art.is_dir is True
        assert art.original_path == os.path.abspath(root)
        listed = [f.path for f in art.files]
        assert listed == sorted(files)
        assert [f.path for f in reg.get(art.id).files] == listed
        expected = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
        assert art.size == sum(len(v) for v in expected.values())
        for f in reg.get(art.id).files:
            assert f.checksum == sha256(expected[f.path])
            assert f.size == len(expected[f.path])
            assert b"".join(reg.read(art.id, path=f.path)) == expected[f.path]

    def test_upload_dir_many_files(self, reg: Registry, make_tree: MakeTree) -> None:
        files = {f"part{i % 3}/f{i:03d}.txt": f"file {i % 140}".encode() for i in range(150)}  # 10 duplicates
        art = reg.upload_dir(make_tree("many", files), name="many")
        listed = reg.files(art.id)
        assert [f.path for f in listed] == sorted(files)
        assert {f.path: f.checksum for f in listed} == {p: sha256(c) for p, c in files.items()}
        assert art.size == sum(len(c) for c in files.values())
        for path in ("part0/f000.txt", "part1/f070.txt", "part2/f149.txt"):
            assert b"".join(reg.read(art.id, path=path)) == files[path]
        with zipfile.ZipFile(io.BytesIO(b"".join(reg.bundle(art.id, "zip")))) as archive:
            assert {i.filename: archive.read(i) for i in archive.infolist()} == files

    def test_upload_dir_name_defaults_to_folder_name(self, reg: Registry, make_tree: MakeTree) -> None:
        art = reg.upload_dir(make_tree("plots", {"a.txt": "A"}))
        assert art.name == "plots"
        assert [f.path for f in art.files] == ["a.txt"]
        assert art.kind is ArtifactKind.DIRECTORY and art.is_dir  # a folder of one file is still a folder
        assert b"".join(art.as_stream(path="a.txt")) == b"A"

    def test_directory_checksum_follows_content(self, reg: Registry, make_tree: MakeTree) -> None:
        files = {"a.txt": "A", "s/b.txt": "B"}
        first = reg.upload_dir(make_tree("one", files), name="d")
        same = reg.upload_dir(make_tree("two", files), name="d")
        assert same.checksum == first.checksum and same.version == 2
        renamed = reg.upload_dir(make_tree("three", {"a.txt": "A", "s/c.txt": "B"}), name="d")
        changed = reg.upload_dir(make_tree("four", {"a.txt": "A", "s/b.txt": "b"}), name="d")
        assert len({first.checksum, renamed.checksum, changed.checksum}) == 3

    def test_upload_dir_without_files_is_refused(self, reg: Registry, make_tree: MakeTree) -> None:
        root = make_tree("hollow", {}, empty_dirs=["x", "y/z"])
        with pytest.raises(InvalidArtifactInput):
            reg.upload_dir(root, name="hollow")
        assert reg.count() == 0
        mixed = ArtifactDraft(name="mixed").add_dir(root).add_file(_write(root.parent / "note.txt", b"n"))
        assert [f.path for f in reg.upload(mixed).files] == ["note.txt"]  # empty folders add nothing

    def test_upload_missing_file_is_refused(self, reg: Registry, tmp_path: Path) -> None:
        with pytest.raises(InvalidArtifactInput):
            reg.upload_file(tmp_path / "does-not-exist.txt", name="x")
        with pytest.raises(InvalidArtifactInput):
            reg.upload_dir(tmp_path / "no-such-dir", name="x")
        assert reg.count() == 0

    def test_changed_large_file_is_rehashed(self, reg: Registry, make_file: MakeFile) -> None:
        first_content, second_content = payload(1_500_000, 1), payload(1_500_000, 2)
        path = make_file("big.bin", first_content)
        first = reg.upload_file(path, name="big")
        same = reg.upload_file(path, name="big")  # unchanged: same content, next version
        assert (same.version, same.checksum) == (2, first.checksum)
        stat = path.stat()
        with open(path, "r+b") as f:  # rewritten in place, same size, mtime put back
            f.write(second_content)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        changed = reg.upload_file(path, name="big")
        assert changed.checksum == sha256(second_content) != first.checksum
        assert b"".join(reg.get("big:3").as_stream()) == second_content
        assert b"".join(reg.get("big:1").as_stream()) == first_content

    def test_identical_content_is_deduplicated(self, reg: Registry, make_file: MakeFile) -> None:
        a = reg.upload_file(make_file("one.txt", "same bytes"), name="one")
        b = reg.upload_file(make_file("two.txt", "same bytes"), name="two")
        assert a.id != b.id
        assert a.checksum == b.checksum == sha256(b"same bytes")
        assert b"".join(reg.get("two").as_stream()) == b"same bytes"


class VersionContract(ContractFixtures):
    """Versions per (folder, name), every reference form, aliases, ambiguity.

    Example:
        ```python
        class TestMine(VersionContract): ...
        ```
    """

    __test__ = False

    def _three_versions(self, reg: Registry, make_file: MakeFile) -> list:
        return [reg.upload_file(make_file("d.txt", f"v{i}"), name="data", folder="/team") for i in (1, 2, 3)]

    def test_versions_count_per_folder_and_name(self, reg: Registry, make_file: MakeFile) -> None:
        arts = self._three_versions(reg, make_file)
        assert [a.version for a in arts] == [1, 2, 3]
        assert len({a.id for a in arts}) == 3
        other = reg.upload_file(make_file("d.txt", "x"), name="data", folder="/elsewhere")
        assert other.version == 1
        assert reg.upload_file(make_file("d.txt", "y"), name="other", folder="/team").version == 1

    def test_every_reference_form(self, reg: Registry, make_file: MakeFile) -> None:
        v1, v2, v3 = self._three_versions(reg, make_file)
        forms = {
            v3.id: v3, v3.urn: v3, "data": v3, "data:latest": v3, "data:2": v2, "data:v2": v2,
            "data:1": v1, "/team/data": v3, "/team/data:latest": v3, "/team/data:3": v3,
            "/team/data:v1": v1, "team/data:2": v2, f"  {v1.id}  ": v1,
        }
        for ref, expected in forms.items():
            got = reg.get(ref)
            assert (ref, got.id, got.version) == (ref, expected.id, expected.version)
        assert b"".join(reg.get("data:v2").as_stream()) == b"v2"
        assert reg.get(v1.ref).id == v1.id

    def test_alias(self, reg: Registry, make_file: MakeFile) -> None:
        v1, v2, _v3 = self._three_versions(reg, make_file)
        returned = reg.set_alias("data:2", "production")
        assert returned.id == v2.id
        assert reg.get("/team/data:production").id == v2.id
        assert reg.get("data:production").id == v2.id
        reg.set_alias(v1.id, "production")  # moving an alias
        assert reg.get("data:production").id == v1.id
        with pytest.raises(ArtifactNotFound):
            reg.get("data:staging")
        with pytest.raises(InvalidName):
            reg.set_alias(v1.id, "7")  # a version number is not an alias
        with pytest.raises(InvalidName):
            reg.set_alias(v1.id, "bad alias!")
        with pytest.raises(InvalidName):
            reg.set_alias(v1.id, "latest")  # reserved: always the newest live version
        assert reg.get("data:latest").version == 3
        reg.set_alias(v2.id, "staging")
        reg.delete(v2.id)  # an alias dies with its version
        with pytest.raises(ArtifactNotFound):
            reg.get("data:staging")
        with pytest.raises(ArtifactNotFound):
            reg.set_alias("data:9", "production")

    def test_missing_references(self, reg: Registry, make_file: MakeFile) -> None:
        self._three_versions(reg, make_file)
        for ref in ("nothing", "data:4", "/other/data", "/team/nothing:latest",
                    "00000000-0000-0000-0000-000000000000",
                    "urn:prefect-artifacts:artifact:00000000-0000-0000-0000-000000000000"):
            with pytest.raises(ArtifactNotFound):
                reg.get(ref)

    def test_malformed_references(self, reg: Registry) -> None:
        for ref in ("", "   ", "bad name!", "/a/../b/data", "data:bad alias"):
            with pytest.raises(InvalidArtifactInput):
                reg.get(ref)

    def test_bare_name_in_two_folders_is_ambiguous(self, reg: Registry, make_file: MakeFile) -> None:
        a = reg.upload_file(make_file("d.txt", "a"), name="data", folder="/a")
        b = reg.upload_file(make_file("d.txt", "b"), name="data", folder="/b")
        for ref in ("data", "data:1", "data:latest"):
            with pytest.raises(AmbiguousReference):
                reg.get(ref)
        assert issubclass(AmbiguousReference, ArtifactConflict)
        assert reg.get("/a/data").id == a.id
        assert reg.get("/b/data:1").id == b.id

    def test_latest_skips_deleted_versions(self, reg: Registry, make_file: MakeFile) -> None:
        _v1, v2, v3 = self._three_versions(reg, make_file)
        reg.delete(v3.id)
        assert reg.get("data:latest").id == v2.id
        assert reg.get("/team/data").version == 2


class ConflictContract(ContractFixtures):
    """Conflict strategies ``skip``, ``error``, ``new`` and ``replace`` (seed 001).

    Example:
        ```python
        class TestMine(ConflictContract): ...
        ```
    """

    __test__ = False

    def _no_orphans(self, reg: Registry) -> None:
        """Nothing was stored for an upload that must store nothing (needs gc)."""
        if self.supports_gc:
            report = reg.gc(dry_run=True, grace_seconds=0)
            assert report.blobs_deleted == 0, "content was stored for an upload that stored nothing"

    def test_skip_returns_existing_and_stores_nothing(self, reg: Registry, make_file: MakeFile) -> None:
        first = reg.upload_file(make_file("a.txt", "original"), name="a", folder="/f")
        again = reg.upload_file(make_file("b.txt", "other content"), name="a", folder="/f",
                                conflict_strategy="skip")
        assert again.id == first.id and again.version == 1
        assert reg.count() == 1
        assert b"".join(reg.get("/f/a").as_stream()) == b"original"
        self._no_orphans(reg)

    def test_skip_keeps_the_callers_run_links(self, reg: Registry, make_file: MakeFile) -> None:
        first = reg.upload_file(make_file("a.txt", "original"), name="a", folder="/f")
        again = reg.upload_file(make_file("a.txt", "original"), name="a", folder="/f",
                                conflict_strategy="skip", runs=[("run-skip", "output")])
        assert again.id == first.id
        assert [(r.run_id, r.category.value) for r in again.runs] == [("run-skip", "output")]
        assert [a.id for a in reg.run_artifacts("run-skip")] == [first.id]

    def test_skip_without_existing_creates(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("a.txt"), name="a", conflict_strategy=ConflictStrategy.SKIP)
        assert art.version == 1 and reg.count() == 1

    def test_error_raises_and_changes_nothing(self, reg: Registry, make_file: MakeFile) -> None:
        first = reg.upload_file(make_file("a.txt", "original"), name="a", folder="/f")
        with pytest.raises(ArtifactConflict):
            reg.upload_file(make_file("b.txt", "other content"), name="a", folder="/f",
                            conflict_strategy="error")
        assert reg.count() == 1
        assert reg.get("/f/a").id == first.id
        self._no_orphans(reg)
        assert reg.upload_file(make_file("c.txt"), name="a", folder="/g", conflict_strategy="error").version == 1

    def test_new_adds_next_version(self, reg: Registry, make_file: MakeFile) -> None:
        reg.upload_file(make_file("a.txt", "1"), name="a")
        second = reg.upload_file(make_file("a.txt", "2"), name="a", conflict_strategy="new")
        assert second.version == 2 and reg.count() == 2

    def test_replace_hides_old_versions_and_keeps_numbering(self, reg: Registry, make_file: MakeFile) -> None:
        v1 = reg.upload_file(make_file("a.txt", "1"), name="a", folder="/f")
        reg.set_alias(v1.id, "production")
        reg.upload_file(make_file("a.txt", "2"), name="a", folder="/f")
        v3 = reg.upload_file(make_file("a.txt", "3"), name="a", folder="/f", conflict_strategy="replace")
        assert v3.version == 3
        assert reg.count() == 1
        assert [a.id for a in reg.list().data] == [v3.id]
        for ref in ("/f/a:1", "/f/a:2", v1.id, "/f/a:production"):
            with pytest.raises(ArtifactNotFound):
                reg.get(ref)
        assert reg.get("/f/a").id == v3.id
        assert b"".join(reg.get("/f/a").as_stream()) == b"3"
        reg.delete(v3.id)
        assert reg.upload_file(make_file("a.txt", "4"), name="a", folder="/f").version == 4

    def test_only_live_versions_conflict(self, reg: Registry, make_file: MakeFile) -> None:
        reg.upload_file(make_file("a.txt", "1"), name="a").delete()
        again = reg.upload_file(make_file("a.txt", "2"), name="a", conflict_strategy="error")
        assert again.version == 2
        again.delete()
        skipped = reg.upload_file(make_file("a.txt", "3"), name="a", conflict_strategy="skip")
        assert skipped.version == 3 and b"".join(skipped.as_stream()) == b"3"

    def test_a_reused_idempotency_key_returns_the_first_version(self, reg: Registry, make_file: MakeFile) -> None:
        from prefect_artifacts._prefect import is_new, now

        started = now()
        first = reg.upload_file(make_file("a.txt", "1"), name="a", idempotency_key="job-7")
        again = reg.upload_file(make_file("a.txt", "2"), name="a", idempotency_key="job-7")
        assert again.id == first.id and again.version == 1 and reg.count() == 1
        assert b"".join(again.as_stream()) == b"1"
        assert is_new(first, started) and not is_new(again, started)  # one created event, not two

    def test_invalid_strategy(self, reg: Registry, make_file: MakeFile) -> None:
        with pytest.raises(InvalidArtifactInput):
            reg.upload_file(make_file("a.txt"), name="a", conflict_strategy="overwrite")
        assert reg.count() == 0


class DraftContract(ContractFixtures):
    """`ArtifactDraft` object-path rules and `upload(draft, folder, make_folder)`.

    Example:
        ```python
        class TestMine(DraftContract): ...
        ```
    """

    __test__ = False

    def _paths(self, reg: Registry, draft: ArtifactDraft, **kwargs: object) -> list[str]:
        art = reg.upload(draft, **kwargs)  # type: ignore[arg-type]
        listed = [f.path for f in art.files]
        assert [f.path for f in reg.get(art.id).files] == listed
        return listed

    @pytest.mark.parametrize(
        ("obj_path", "expected"),
        [(None, "1.png"), ("1.png", "1.png"), ("a/", "a/1.png"), ("a/1.png", "a/1.png"),
         ("a/x", "a/x"), ("", "1.png"), ("a//b/", "a/b/1.png")],
    )
    def test_add_file_obj_path(
        self, reg: Registry, make_file: MakeFile, obj_path: str | None, expected: str
    ) -> None:
        draft = ArtifactDraft(name="bundle").add_file(make_file("1.png", b"png"), obj_path=obj_path)
        draft.add_file(make_file("other.txt", "o"), obj_path="zz/")  # a second file: a directory artifact
        assert self._paths(reg, draft) == sorted([expected, "zz/other.txt"])

    @pytest.mark.parametrize(
        ("obj_path", "expected"),
        [(None, ["a/1.txt", "a/s/2.txt"]), ("a", ["a/1.txt", "a/s/2.txt"]), ("b/", ["b/a/1.txt", "b/a/s/2.txt"]),
         ("b/a", ["b/a/1.txt", "b/a/s/2.txt"]), ("b/x", ["b/x/1.txt", "b/x/s/2.txt"]), ("", ["1.txt", "s/2.txt"])],
    )
    def test_add_dir_obj_path(
        self, reg: Registry, make_tree: MakeTree, obj_path: str | None, expected: list[str]
    ) -> None:
        root = make_tree("a", {"1.txt": "1", "s/2.txt": "2"})
        assert self._paths(reg, ArtifactDraft(name="bundle").add_dir(root, obj_path=obj_path)) == expected

    @pytest.mark.parametrize(
        ("obj_path", "expected"),
        [(None, "x.bin"), ("ext/", "ext/x.bin"), ("ext/y.bin", "ext/y.bin"), ("", "x.bin")],
    )
    def test_add_reference_obj_path(
        self, reg: Registry, make_file: MakeFile, obj_path: str | None, expected: str
    ) -> None:
        self.skip_unless("supports_file_references")
        uri = make_file("x.bin", b"ref").as_uri()
        draft = ArtifactDraft(name="refs").add_reference(uri, obj_path=obj_path)
        draft.add_file(make_file("local.txt", "l"))
        assert self._paths(reg, draft) == sorted([expected, "local.txt"])

    def test_draft_mixing_sources(self, reg: Registry, make_file: MakeFile, make_tree: MakeTree) -> None:
        draft = ArtifactDraft(name="bundle", description="mixed", labels=["x"])
        draft.add_file(make_file("1.png", b"\x89PNG\r\n\x1a\n"), obj_path="a/")
        draft.add_dir(make_tree("plots", {"p.txt": "p"}), obj_path="b/")
        art = reg.upload(draft, folder="/team", make_folder=True, conflict_strategy="skip")
        assert [f.path for f in art.files] == ["a/1.png", "b/plots/p.txt"]
        assert art.kind is ArtifactKind.DIRECTORY and art.is_dir
        assert (art.folder, art.description, art.labels) == ("/team", "mixed", ["x"])
        assert b"".join(reg.read(art.id, path="b/plots/p.txt")) == b"p"

    def test_draft_with_bytes_from_memory(self, reg: Registry, make_file: MakeFile) -> None:
        one = reg.upload(ArtifactDraft(name="params").add_bytes(b'{"lr": 0.1}', "cfg/params.json"))
        assert one.kind is ArtifactKind.FILE and [f.path for f in one.files] == ["cfg/params.json"]
        assert (one.size, one.checksum) == (11, sha256(b'{"lr": 0.1}'))
        assert one.files[0].mime_type == "application/json"
        assert b"".join(one.as_stream()) == b'{"lr": 0.1}'
        draft = ArtifactDraft(name="mixed").add_bytes(bytearray(b"%PDF-1.7 x"), "report")
        draft.add_file(make_file("a.txt", "A"))
        art = reg.upload(draft)
        assert art.is_dir and [(f.path, f.mime_type) for f in art.files] == [
            ("a.txt", "text/plain"), ("report", "application/pdf")]  # sniffed from the bytes
        assert b"".join(reg.read(art.id, path="report")) == b"%PDF-1.7 x"

    @pytest.mark.parametrize("obj_path", ["", ".", "dir/", "../x", "/abs"])
    def test_add_bytes_needs_a_safe_file_name(self, obj_path: str) -> None:
        with pytest.raises((InvalidArtifactInput, UnsafePath)):
            ArtifactDraft(name="x").add_bytes(b"data", obj_path)

    def test_single_file_draft_is_a_file_artifact(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload(ArtifactDraft(name="one").add_file(make_file("a.txt", "A"), obj_path="sub/"))
        assert art.kind is ArtifactKind.FILE and not art.is_dir
        assert [f.path for f in art.files] == ["sub/a.txt"]
        assert b"".join(art.as_stream()) == b"A"

    def test_duplicate_paths_are_refused(self, reg: Registry, make_file: MakeFile) -> None:
        draft = ArtifactDraft(name="dup").add_file(make_file("a.txt", "1"), obj_path="x/")
        draft.add_file(make_file("b/a.txt", "2"), obj_path="x/")
        with pytest.raises(InvalidArtifactInput):
            reg.upload(draft)
        clash = ArtifactDraft(name="clash").add_file(make_file("a.txt"), obj_path="x")
        clash.add_file(make_file("b.txt"), obj_path="x/")  # 'x' both a file and a folder
        with pytest.raises(InvalidArtifactInput):
            reg.upload(clash)
        assert reg.count() == 0

    @pytest.mark.parametrize(("first", "second"), [
        ("same", "./same"), ("A.txt", "a.txt"), ("dir/File.bin", "DIR/file.bin"),
        ("caf\u00e9.txt", "cafe\u0301.txt"),  # NFC and NFD: one name on macOS
    ])
    def test_paths_that_would_collide_when_extracted_are_refused(self, reg: Registry, first: str,
                                                                 second: str) -> None:
        draft = ArtifactDraft(name="clash").add_bytes(b"1", first).add_bytes(b"2", second)
        with pytest.raises(InvalidArtifactInput, match="each file needs its own path|both a file and a folder"):
            reg.upload(draft)
        assert reg.count() == 0

    def test_a_reference_folder_cannot_overlap_the_drafts_files(self, reg: Registry, make_file: MakeFile,
                                                                make_tree: MakeTree) -> None:
        self.skip_unless("supports_file_references")
        root = make_tree("refs", {"x.txt": "referenced", "sub/y.txt": "y"})
        draft = ArtifactDraft(name="overlap").add_reference(root.as_uri() + "/", obj_path="")
        draft.add_file(make_file("x.txt", "stored"), obj_path="X.txt")  # expands next to the reference's x.txt
        with pytest.raises(InvalidArtifactInput, match="differ only in case"):
            reg.upload(draft)
        assert reg.count() == 0

    def test_empty_draft_is_refused(self, reg: Registry) -> None:
        with pytest.raises(InvalidArtifactInput):
            reg.upload(ArtifactDraft(name="nothing"))
        assert reg.count() == 0

    @pytest.mark.parametrize("obj_path", ["../", "../x", "a/../../x", "/abs/x", "/", "..", "a/../..", "C:/x"])
    def test_unsafe_obj_paths(self, make_file: MakeFile, make_tree: MakeTree, obj_path: str) -> None:
        path, root = make_file("f.txt"), make_tree("d", {"a": "a"})
        with pytest.raises(UnsafePath):
            ArtifactDraft(name="x").add_file(path, obj_path=obj_path)
        with pytest.raises(UnsafePath):
            ArtifactDraft(name="x").add_dir(root, obj_path=obj_path)
        with pytest.raises(UnsafePath):
            ArtifactDraft(name="x").add_reference("file:///tmp/x.bin", obj_path=obj_path)

    def test_symlink_escaping_a_dir_is_refused(self, reg: Registry, make_file: MakeFile,
                                               make_tree: MakeTree) -> None:
        secret = make_file("secret.txt", "do not upload")
        root = make_tree("d", {"ok.txt": "ok"})
        os.symlink(secret, root / "escape.txt")
        with pytest.raises(UnsafePath):
            reg.upload_dir(root, name="d")
        with pytest.raises(UnsafePath):
            reg.upload(ArtifactDraft(name="d").add_dir(root))
        assert reg.count() == 0

    def test_symlinked_dir_escaping_is_refused(self, reg: Registry, make_tree: MakeTree) -> None:
        outside = make_tree("outside", {"secret.txt": "s"})
        root = make_tree("d", {"ok.txt": "ok"})
        os.symlink(outside, root / "link")
        with pytest.raises(UnsafePath):
            reg.upload_dir(root, name="d")

    def test_symlink_inside_the_dir_is_followed(self, reg: Registry, make_tree: MakeTree) -> None:
        root = make_tree("d", {"real.txt": "real content"})
        os.symlink(root / "real.txt", root / "alias.txt")
        os.symlink("real.txt", root / "relative-alias.txt")
        art = reg.upload_dir(root, name="d")
        assert [f.path for f in art.files] == ["alias.txt", "real.txt", "relative-alias.txt"]
        for path in ("alias.txt", "relative-alias.txt"):
            assert b"".join(reg.read(art.id, path=path)) == b"real content"

    def test_missing_folder_without_make_folder(self, reg: Registry, make_file: MakeFile) -> None:
        draft = ArtifactDraft(name="a").add_file(make_file("a.txt"))
        with pytest.raises(FolderNotFound):
            reg.upload(draft, folder="/does/not/exist", make_folder=False)
        with pytest.raises(ArtifactNotFound):  # FolderNotFound is a kind of ArtifactNotFound
            reg.upload(draft, folder="/does/not/exist")
        assert reg.count() == 0
        made = reg.upload(draft, folder="/does/not/exist", make_folder=True)
        assert made.folder == "/does/not/exist"
        assert reg.upload(draft, folder="/does/not/exist", make_folder=False).version == 2
        assert reg.upload(draft, folder="/does/not", make_folder=False).folder == "/does/not"
        with pytest.raises(FolderNotFound):
            reg.upload_file(make_file("b.txt"), name="b", folder="/elsewhere", make_folder=False)
        with pytest.raises(FolderNotFound):
            reg.upload_dir(make_file("d/c.txt").parent, name="d", folder="/elsewhere", make_folder=False)

    def test_default_folder_always_exists(self, reg: Registry, make_file: MakeFile) -> None:
        draft = ArtifactDraft(name="a").add_file(make_file("a.txt"))
        art = reg.upload(draft, make_folder=False)  # fresh registry: the default folder needs no make_folder
        assert art.folder == self.default_folder
        assert reg.upload_file(make_file("b.txt"), name="b", make_folder=False).folder == self.default_folder

    def test_failed_upload_leaves_no_artifact(self, reg: Registry, make_file: MakeFile, tmp_path: Path) -> None:
        vanished = make_file("vanished.txt", "soon gone")
        draft = ArtifactDraft(name="half").add_file(make_file("kept.txt", payload(5000, 4)))
        draft.add_file(vanished)
        vanished.unlink()
        with pytest.raises(InvalidArtifactInput):
            reg.upload(draft)
        assert reg.count() == 0
        if self.supports_file_references:
            broken = ArtifactDraft(name="half").add_file(make_file("stored.txt", payload(6000, 5)))
            broken.add_reference((tmp_path / "no-such-file.bin").as_uri())
            with pytest.raises((StorageError, ArtifactNotFound)):
                reg.upload(broken)
            assert reg.count() == 0
        with pytest.raises(ArtifactNotFound):
            reg.get("half")
        if self.supports_gc:  # whatever was stored before the failure is an orphan for gc
            reg.gc(grace_seconds=0)
        retry = reg.upload(ArtifactDraft(name="half").add_file(make_file("kept.txt", payload(5000, 4))))
        assert retry.version == 1
        assert b"".join(retry.as_stream()) == payload(5000, 4)

    def test_draft_metadata_and_mime(self, reg: Registry, make_file: MakeFile) -> None:
        draft = ArtifactDraft(name="m", metadata={"k": "v"}, mime_type="text/x-special")
        art = reg.upload(draft.add_file(make_file("a.txt", "A")))
        assert art.mime_type == "text/x-special"
        assert [a.content for a in reg.get(art.id).metadata] == [{"k": "v"}]


#: Names seed 000's pattern accepts that the first version refused, and plain ones.
SEED_NAMES = ["a:b", "run:1/out.csv", ".hidden", "trail.", "trail ", " lead", "-dash", "tab\tname", "newline\n",
              "..", "/abs/like", "a//b", "   ", "550e8400-e29b-41d4-a716-446655440000", "ok", "with space",
              "v1.2_final", "X" * 128]


class NameContract(ContractFixtures):
    """Artifact, folder and label names are validated before anything is written.

    Example:
        ```python
        class TestMine(NameContract): ...
        ```
    """

    __test__ = False

    @pytest.mark.parametrize("name", ["", "x" * 129, "é", "a%b", "semi;colon", "star*", "nul\x00", "q?"])
    def test_invalid_names(self, reg: Registry, make_file: MakeFile, name: str) -> None:
        with pytest.raises(InvalidName):
            reg.upload_file(make_file("a.txt"), name=name)
        with pytest.raises(InvalidName):
            ArtifactDraft(name=name)
        assert reg.count() == 0

    @pytest.mark.parametrize("name", SEED_NAMES)
    def test_every_seed_name_is_stored_verbatim_and_resolves(self, reg: Registry, make_file: MakeFile,
                                                             name: str) -> None:
        """Every name seed 000's pattern accepts is kept verbatim and reached by every ref form."""
        first = reg.upload_file(make_file("a.txt", "1"), name=name, folder="/seed")
        second = reg.upload_file(make_file("a.txt", "2"), name=name, folder="/seed")
        assert (first.name, second.name, second.version) == (name, name, 2)
        assert reg.get(second.id).name == name
        assert reg.get(first.ref).id == first.id  # the escaped short form Artifact.ref prints
        assert reg.get(second.ref.rsplit(":", 1)[0]).id == second.id
        assert reg.get(name=name, folder="/seed", version=1).id == first.id
        assert reg.get(name=name, folder="/seed").id == second.id
        assert reg.get(name=name).id == second.id  # one folder holds it
        reg.set_alias(first.ref, "stable")
        assert reg.get(name=name, folder="/seed", version="stable").id == first.id
        assert reg.get(artifact_ref("/seed", name, "stable")).id == first.id
        assert [a.name for a in reg.list(folder="/seed").data] == [name, name]
        assert b"".join(reg.read(first.ref)) == b"1"

    def test_a_name_like_a_ref_is_reached_by_keywords(self, reg: Registry, make_file: MakeFile) -> None:
        plain = reg.upload_file(make_file("a.txt", "a"), name="a", folder="/k")
        reg.set_alias(plain.ref, "b")
        colon = reg.upload_file(make_file("a.txt", "ab"), name="a:b", folder="/k")
        assert reg.get("/k/a:b").id == plain.id  # the short form keeps its meaning: alias b of "a"
        assert reg.get(name="a:b", folder="/k").id == colon.id
        assert reg.get("/k/a%3Ab").id == colon.id
        for bad in ({}, {"ref": "a", "name": "a"}, {"ref": "a", "folder": "/k"}, {"ref": "a", "version": 1}):
            with pytest.raises(InvalidName):
                reg.get(**bad)
        with pytest.raises(InvalidName):
            reg.get("/k/a%ff")  # not UTF-8 once unescaped

    def test_alternative_name_takes_new_uploads_of_a_taken_name(self, reg: Registry, make_file: MakeFile) -> None:
        def draft(text: str) -> ArtifactDraft:
            return ArtifactDraft(name="report", alternative_name="report-alt").add_file(make_file("r.txt", text))

        assert reg.upload(draft("1"), folder="/alt", make_folder=True).ref == "/alt/report:1"
        assert reg.upload(draft("2"), folder="/alt").ref == "/alt/report-alt:1"
        assert reg.upload(draft("3"), folder="/alt").ref == "/alt/report-alt:2"  # taken too: its next version
        assert reg.upload(draft("4"), folder="/alt", conflict_strategy="skip").ref == "/alt/report:1"
        assert reg.upload(draft("5"), folder="/alt", conflict_strategy="replace").ref == "/alt/report:2"
        with pytest.raises(InvalidName):
            ArtifactDraft(name="r", alternative_name="bad%name")

    def test_invalid_labels(self, reg: Registry, make_file: MakeFile) -> None:
        for labels in (["ok", ""], ["bad\nlabel"], ["trailing\n"], "not-a-list"):
            with pytest.raises(InvalidName):
                reg.upload_file(make_file("a.txt"), name="a", labels=labels)
        assert reg.count() == 0

    def test_names_become_safe_local_paths(self, reg: Registry, make_tree: MakeTree) -> None:
        art = reg.upload_dir(make_tree("t", {"x.txt": "x"}), name="run:1/../out")
        target = reg.download_dir(art.ref)
        assert target.name == "run_1_.._out" and (target / "x.txt").read_text() == "x"
        assert not (target.parent / "run:1").exists()
        for dots in ("..", "."):
            dot = reg.upload_dir(make_tree("u", {"y.txt": "y"}), name=dots)
            assert reg.download_dir(dot.ref).name == "artifact"

    def test_invalid_folder_component(self, reg: Registry, make_file: MakeFile) -> None:
        with pytest.raises(InvalidArtifactInput):
            reg.upload_file(make_file("a.txt"), name="a", folder="/ok/bad:part")
        assert reg.count() == 0


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
