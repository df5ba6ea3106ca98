"""Contract: reading artifacts (streams, local files, ranges, bundles, references)."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_artifacts.errors import (
    ArtifactIntegrityError,
    ArtifactNotFound,
    InvalidArtifactInput,
    InvalidOperation,
    StorageError,
    UnsafePath,
)
from prefect_artifacts.models import Artifact, ArtifactKind, BundleType
from prefect_artifacts.registry.base import Registry
from prefect_artifacts.testing._base import ContractFixtures, MakeFile, MakeTree, payload, sha256, tree_bytes

KIB, MIB = 1024, 1024 * 1024
TREE = {"a.txt": b"alpha", "empty.txt": b"", "sub/b.txt": b"beta", "sub/deep/c.bin": payload(3000, 7),
        "z.json": b'{"z": 1}'}


def _chunks(stream: Iterator[bytes]) -> list[bytes]:
    chunks = list(stream)
    assert all(isinstance(c, bytes) for c in chunks)
    return chunks


def _tar_members(path: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            assert member.isfile(), member.name
            f = tar.extractfile(member)
            assert f is not None
            out[member.name] = f.read()
    return out


def _zip_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _safe_member_names(names: list[str]) -> None:
    for name in names:
        assert not name.startswith("/") and ".." not in name.split("/"), name


class StreamContract(ContractFixtures):
    """`as_stream`, `download_content`, `open`, `as_local_file` and `read` ranges.

    Example:
        ```python
        class TestMine(StreamContract): ...
        ```
    """

    __test__ = False

    @pytest.fixture
    def big(self, reg: Registry, make_file: MakeFile) -> tuple[Artifact, bytes]:
        """A 300,000-byte file artifact: its default chunk is 30,000 bytes.

        Example:
            ```python
            def test_x(self, big): art, content = big
            ```
        """
        content = payload(300_000, 1)
        return reg.upload_file(make_file("big.bin", content), name="big"), content

    @pytest.mark.parametrize(
        ("size", "expected_chunk"),
        [(100, 8 * KIB), (50_000, 8 * KIB), (81_920, 8 * KIB), (300_000, 30_000), (1_000_003, 100_000)],
    )
    def test_default_chunk_formula(
        self, reg: Registry, make_file: MakeFile, size: int, expected_chunk: int
    ) -> None:
        content = payload(size, size)
        art = reg.upload_file(make_file("x.bin", content))
        assert art.stream_chunk_size() == int(max(8 * KIB, min(size / 10, 10 * MIB))) == expected_chunk
        chunks = _chunks(art.as_stream())
        assert b"".join(chunks) == content
        assert all(len(c) == expected_chunk for c in chunks[:-1])
        assert 0 < len(chunks[-1]) <= expected_chunk
        assert len(chunks) == -(-size // expected_chunk)

    def test_default_chunk_is_capped_at_10_mib(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("small.bin", b"x"))
        assert art.model_copy(update={"size": 500 * MIB}).stream_chunk_size() == 10 * MIB
        assert art.model_copy(update={"size": None}).stream_chunk_size() == 8 * KIB

    @pytest.mark.parametrize("chunk_size", [1000, 29_999, 300_000, 10**6])
    def test_explicit_chunk_size(self, big: tuple[Artifact, bytes], chunk_size: int) -> None:
        art, content = big
        chunks = _chunks(art.as_stream(chunk_size=chunk_size))
        assert b"".join(chunks) == content
        assert all(len(c) == chunk_size for c in chunks[:-1])
        assert 0 < len(chunks[-1]) <= chunk_size
        assert len(chunks) == -(-len(content) // chunk_size)

    def test_tiny_chunks(self, reg: Registry, make_file: MakeFile) -> None:
        art = reg.upload_file(make_file("tiny.txt", "0123456789abcdef"), name="tiny")
        assert _chunks(art.as_stream(chunk_size=1)) == [bytes([b]) for b in b"0123456789abcdef"]
        assert _chunks(art.as_stream(chunk_size=7)) == [b"0123456", b"789abcd", b"ef"]

    def test_download_content_is_a_lazy_stream(self, big: tuple[Artifact, bytes]) -> None:
        art, content = big
        stream = art.download_content()
        assert not isinstance(stream, (bytes, bytearray, list))
        assert b"".join(stream) == content

    def test_open_returns_in_memory_file(self, big: tuple[Artifact, bytes]) -> None:
        art, content = big
        with art.open() as f:
            assert f.read(10) == content[:10]
            f.seek(0)
            assert f.read() == content

    def test_as_local_file_temporary(self, big: tuple[Artifact, bytes]) -> None:
        art, content = big
        with art.as_local_file() as path:
            assert isinstance(path, Path)
            assert path.read_bytes() == content
            assert path.name == "big.bin"                    # the file's name and extension
            assert os.listdir(path.parent) == ["big.bin"]   # alone in its private directory
            kept = Path(path)
        assert not kept.exists() and not kept.parent.exists()

    def test_as_local_file_temporary_keeps_object_and_nested_names(self, reg: Registry, tmp_path: Path) -> None:
        obj = reg.save_object({"a": 1}, name="obj")
        with obj.as_local_file() as path:
            assert path.suffix == Path(obj.files[0].path).suffix == ".json"
        (tmp_path / "tree" / "plots").mkdir(parents=True)
        (tmp_path / "tree" / "plots" / "loss.png").write_bytes(b"png")
        tree = reg.upload_dir(tmp_path / "tree", name="tree")
        with reg.download(tree.id, artifact_path="plots/loss.png") as path:
            assert path.name == "loss.png" and path.read_bytes() == b"png"
        assert not path.parent.exists()

    def test_as_local_file_explicit_path_is_kept(self, big: tuple[Artifact, bytes], tmp_path: Path) -> None:
        art, content = big
        target = tmp_path / "out" / "deeper" / "copy.bin"
        returned = art.as_local_file(target)
        assert Path(returned) == target
        assert target.read_bytes() == content
        assert sorted(os.listdir(target.parent)) == ["copy.bin"]  # no leftovers
        art.as_local_file(str(target))  # overwriting works, str accepted
        assert target.read_bytes() == content

    def test_read_byte_ranges(self, big: tuple[Artifact, bytes], reg: Registry) -> None:
        art, content = big
        for start, end in ((0, 10), (5, 6), (29_990, 30_010), (299_990, 300_000), (0, 300_000), (100, 100)):
            assert b"".join(reg.read(art.id, start=start, end=end)) == content[start:end], (start, end)
        assert b"".join(reg.read(art.id, start=299_000)) == content[299_000:]
        assert b"".join(reg.read(art.id, end=1234)) == content[:1234]
        assert b"".join(reg.read(art.ref, chunk_size=4096)) == content
        assert b"".join(reg.read(art.id, start=299_995, end=400_000)) == content[299_995:]
        assert b"".join(reg.read(art.id, start=400_000)) == b""
        assert b"".join(reg.read(art.id, start=10, end=5)) == b""  # like content[10:5]
        for bad_start, bad_end in ((-1, None), (-5, 10), (None, -1)):
            with pytest.raises(InvalidArtifactInput):
                b"".join(reg.read(art.id, start=bad_start, end=bad_end))

    def test_empty_file_everywhere(self, reg: Registry, make_file: MakeFile, tmp_path: Path) -> None:
        art = reg.upload_file(make_file("empty.dat", b""), name="empty")
        assert _chunks(art.as_stream()) in ([], [b""])
        assert b"".join(reg.read(art.id, start=0, end=0)) == b""
        assert art.open().read() == b""
        with art.as_local_file() as path:
            assert path.exists() and path.read_bytes() == b""
        assert art.get_contents(output_dir=tmp_path).read_bytes() == b""

    def test_read_range_inside_directory(self, reg: Registry, make_tree: MakeTree) -> None:
        art = reg.upload_dir(make_tree("t", TREE), name="t")
        data = TREE["sub/deep/c.bin"]
        assert b"".join(reg.read(art.id, path="sub/deep/c.bin", start=100, end=2100)) == data[100:2100]
        assert b"".join(reg.read(art.id, path="./sub//b.txt")) == b"beta"

    def test_directory_stream_needs_a_path(self, reg: Registry, make_tree: MakeTree, tmp_path: Path) -> None:
        art = reg.upload_dir(make_tree("t", TREE), name="t")
        with pytest.raises(InvalidOperation):
            b"".join(art.as_stream())
        with pytest.raises(InvalidOperation):
            art.as_local_file(tmp_path / "x")
        with pytest.raises(InvalidOperation):
            art.open()
        with pytest.raises(InvalidOperation):
            b"".join(reg.read(art.id))
        assert b"".join(art.as_stream(path="sub/b.txt")) == b"beta"
        with pytest.raises(ArtifactNotFound):
            b"".join(reg.read(art.id, path="nope.txt"))
        with pytest.raises(UnsafePath):
            b"".join(reg.read(art.id, path="../a.txt"))

    def test_unicode_and_spaces_in_paths(self, reg: Registry, make_tree: MakeTree, tmp_path: Path) -> None:
        files = {"données/é t.txt": b"unicode", "名前.bin": b"cjk", "with space/a.txt": b"space"}
        art = reg.upload_dir(make_tree("uni", files), name="uni")
        assert [f.path for f in art.files] == sorted(files)
        for path, data in files.items():
            assert b"".join(reg.read(art.id, path=path)) == data
        assert _tar_members(art.get_contents(output_dir=tmp_path)) == files
        assert _zip_members(art.get_contents(file_type="zip", output_dir=tmp_path)) == files
        assert art.get_contents(artifact_path="données/é t.txt", output_dir=tmp_path).read_bytes() == b"unicode"

    def test_files_listing(self, reg: Registry, make_tree: MakeTree) -> None:
        art = reg.upload_dir(make_tree("t", TREE), name="t")
        listed = reg.files("t")
        assert [f.path for f in listed] == sorted(TREE)
        assert {f.path: (f.size, f.checksum) for f in listed} == {
            p: (len(c), sha256(c)) for p, c in TREE.items()
        }
        assert {f.path: f.mime_type for f in listed}["z.json"] == "application/json"
        as_dict = json.loads(json.dumps(art.to_dict()))
        assert as_dict["files"] == [f.model_dump(mode="json") for f in listed]
        assert (as_dict["id"], as_dict["name"], as_dict["version"]) == (art.id, "t", 1)


class ContentsContract(ContractFixtures):
    """`get_contents`: single files, tar.gz/zip bundles, sub-paths and their errors (seed 002).

    Example:
        ```python
        class TestMine(ContentsContract): ...
        ```
    """

    __test__ = False

    @pytest.fixture
    def tree_art(self, reg: Registry, make_tree: MakeTree) -> Artifact:
        """A directory artifact holding `TREE`.

        Example:
            ```python
            def test_x(self, tree_art): tree_art.get_contents(file_type="zip")
            ```
        """
        return reg.upload_dir(make_tree("t", TREE), name="t")

    def test_file_artifact(self, reg: Registry, make_file: MakeFile, tmp_path: Path) -> None:
        art = reg.upload_file(make_file("data.csv", "a,b\n"), name="data")
        out = art.get_contents(output_dir=tmp_path / "dl")
        assert out == tmp_path / "dl" / "contents.csv"
        assert out.read_bytes() == b"a,b\n"
        named = reg.get_contents("data", output_dir=tmp_path / "dl", file_stem="mine")
        assert named == tmp_path / "dl" / "mine.csv" and named.read_bytes() == b"a,b\n"
        archive = reg.upload_file(make_file("x.tar.gz", b"\x1f\x8b fake"), name="arch")
        assert archive.get_contents(output_dir=tmp_path).name == "contents.tar.gz"

    def test_default_output_dir_is_cwd(self, reg: Registry, make_file: MakeFile, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
        cwd = tmp_path / "cwd"
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        out = reg.upload_file(make_file("n.txt", "N")).get_contents()
        assert out.resolve() == (cwd / "contents.txt").resolve() and out.read_bytes() == b"N"

    def test_file_artifact_refuses_file_type_and_path(
        self, reg: Registry, make_file: MakeFile, tmp_path: Path
    ) -> None:
        art = reg.upload_file(make_file("data.csv", "a,b\n"), name="data")
        for kwargs in ({"file_type": "zip"}, {"file_type": BundleType.TAR_GZ}, {"artifact_path": "data.csv"}):
            with pytest.raises(InvalidOperation):
                art.get_contents(output_dir=tmp_path, **kwargs)
        assert not any(tmp_path.glob("contents*"))

    def test_directory_tar_gz_by_default(self, tree_art: Artifact, tmp_path: Path) -> None:
        out = tree_art.get_contents(output_dir=tmp_path)
        assert out == tmp_path / "contents.tar.gz"
        members = _tar_members(out)
        _safe_member_names(list(members))
        assert members == TREE
        with tarfile.open(out, "r:gz") as tar:  # what a user does with the bundle
            tar.extractall(tmp_path / "extracted", filter="data")
        assert tree_bytes(tmp_path / "extracted") == TREE

    def test_directory_zip(self, tree_art: Artifact, tmp_path: Path) -> None:
        out = tree_art.get_contents(file_type="zip", output_dir=tmp_path, file_stem="bundle")
        assert out == tmp_path / "bundle.zip"
        members = _zip_members(out)
        _safe_member_names(list(members))
        assert members == TREE
        with zipfile.ZipFile(out) as archive:
            archive.extractall(tmp_path / "unzipped")
        assert tree_bytes(tmp_path / "unzipped") == TREE
        assert _tar_members(tree_art.get_contents(file_type=BundleType.TAR_GZ, output_dir=tmp_path)) == TREE

    def test_bundle_stream(self, reg: Registry, tree_art: Artifact) -> None:
        data = b"".join(reg.bundle(tree_art.id, "zip"))
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert {i.filename: archive.read(i) for i in archive.infolist()} == TREE
        sub = b"".join(reg.bundle(tree_art.id, BundleType.TAR_GZ, artifact_path="sub"))
        with tarfile.open(fileobj=io.BytesIO(sub), mode="r:gz") as tar:
            assert sorted(tar.getnames()) == ["sub/b.txt", "sub/deep/c.bin"]

    def test_artifact_path_of_one_file(self, tree_art: Artifact, tmp_path: Path) -> None:
        out = tree_art.get_contents(artifact_path="sub/b.txt", output_dir=tmp_path)
        assert out == tmp_path / "contents.txt"
        assert out.read_bytes() == b"beta"
        zipped = tree_art.get_contents(artifact_path="sub/b.txt", file_type="zip", output_dir=tmp_path)
        assert _zip_members(zipped) == {"sub/b.txt": b"beta"}

    @pytest.mark.parametrize("file_type", [None, "zip"])
    def test_artifact_path_of_a_sub_folder(self, tree_art: Artifact, tmp_path: Path, file_type: str | None) -> None:
        out = tree_art.get_contents(artifact_path="sub/", file_type=file_type, output_dir=tmp_path)
        members = _zip_members(out) if file_type == "zip" else _tar_members(out)
        assert members == {k: v for k, v in TREE.items() if k.startswith("sub/")}
        deep = tree_art.get_contents(artifact_path="sub/deep", output_dir=tmp_path, file_stem="deep")
        assert _tar_members(deep) == {"sub/deep/c.bin": TREE["sub/deep/c.bin"]}

    def test_artifact_path_errors(self, tree_art: Artifact, tmp_path: Path) -> None:
        for missing in ("nope", "sub/nope.txt", "su", "a.txt/x"):
            with pytest.raises(ArtifactNotFound):
                tree_art.get_contents(artifact_path=missing, output_dir=tmp_path)
        for unsafe in ("../x", "sub/../../x", "/etc/passwd"):
            with pytest.raises(UnsafePath):
                tree_art.get_contents(artifact_path=unsafe, output_dir=tmp_path)
        with pytest.raises(InvalidArtifactInput):
            tree_art.get_contents(file_type="rar", output_dir=tmp_path)
        with pytest.raises(InvalidArtifactInput):
            tree_art.get_contents(output_dir=tmp_path, file_stem="../escape")
        assert not any(p.name.startswith(("contents", "escape")) for p in tmp_path.rglob("*"))


class ReferenceContract(ContractFixtures):
    """``file://`` references: recorded, not copied, and verified on every read.

    Example:
        ```python
        class TestMine(ReferenceContract): ...
        ```
    """

    __test__ = False

    def test_file_reference_is_not_copied(self, reg: Registry, make_file: MakeFile, tmp_path: Path) -> None:
        self.skip_unless("supports_file_references")
        content = payload(50_000, 3)
        path = make_file("ref.bin", content)
        art = reg.add_reference(path.as_uri(), name="raw", labels=["ext"])
        assert art.kind is ArtifactKind.REFERENCE
        assert (art.size, art.checksum) == (len(content), sha256(content))
        assert [(f.path, f.uri, f.is_reference) for f in art.files] == [("ref.bin", path.as_uri(), True)]
        assert art.original_path == path.as_uri()
        assert b"".join(reg.get("raw").as_stream()) == content
        assert b"".join(reg.read(art.id, start=10, end=20)) == content[10:20]
        assert art.get_contents(output_dir=tmp_path / "got").read_bytes() == content
        assert (tmp_path / "got" / "contents.bin").exists()
        path.write_bytes(content[:-1] + b"!")  # same size, different bytes
        with pytest.raises(ArtifactIntegrityError):
            b"".join(reg.get("raw").as_stream())
        target = tmp_path / "dl" / "raw.bin"
        with pytest.raises(ArtifactIntegrityError):
            reg.get("raw").as_local_file(target)
        assert not target.exists()
        path.write_bytes(content)  # restored: readable again
        assert reg.get("raw").open().read() == content

    def test_local_path_reference_becomes_file_uri(self, reg: Registry, make_file: MakeFile) -> None:
        self.skip_unless("supports_file_references")
        path = make_file("plain.txt", "plain")
        art = reg.add_reference(str(path))
        assert art.name == "plain.txt"
        assert art.files[0].uri == path.as_uri()
        assert b"".join(art.as_stream()) == b"plain"

    def test_reference_with_spaces_and_percent_signs(self, reg: Registry, make_file: MakeFile,
                                                      make_tree: MakeTree) -> None:
        self.skip_unless("supports_file_references")
        path = make_file("my file 100%.bin", "odd name")
        by_uri = reg.add_reference(path.as_uri(), name="by-uri")
        by_path = reg.add_reference(str(path), name="by-path")
        for art in (by_uri, by_path):
            assert art.files[0].uri == path.as_uri()
            assert b"".join(art.as_stream()) == b"odd name"
        root = make_tree("dir with space", {"a b%.txt": "x"})
        folder = reg.add_reference(root.as_uri() + "/", name="folder")
        assert [f.path for f in folder.files] == ["a b%.txt"]
        assert b"".join(reg.read(folder.id, path="a b%.txt")) == b"x"

    def test_reference_to_a_folder(self, reg: Registry, make_tree: MakeTree, tmp_path: Path) -> None:
        self.skip_unless("supports_file_references")
        root = make_tree("refdir", TREE)
        art = reg.add_reference(root.as_uri() + "/", name="refdir")
        assert art.kind is ArtifactKind.REFERENCE and art.is_dir
        assert [f.path for f in art.files] == sorted(TREE)
        assert all(f.is_reference for f in art.files)
        assert b"".join(reg.read(art.id, path="sub/b.txt")) == b"beta"
        assert _tar_members(art.get_contents(output_dir=tmp_path)) == TREE
        (root / "a.txt").write_bytes(b"ALPHA")
        with pytest.raises(ArtifactIntegrityError):
            b"".join(reg.read(art.id, path="a.txt"))

    def test_missing_reference_is_refused(self, reg: Registry, tmp_path: Path) -> None:
        self.skip_unless("supports_file_references")
        with pytest.raises((StorageError, ArtifactNotFound)):
            reg.add_reference((tmp_path / "missing.bin").as_uri(), name="missing")
        assert reg.count() == 0

    def test_deleted_reference_source(self, reg: Registry, make_file: MakeFile) -> None:
        self.skip_unless("supports_file_references")
        path = make_file("gone.bin", "soon gone")
        art = reg.add_reference(path.as_uri(), name="gone")
        path.unlink()
        with pytest.raises((ArtifactNotFound, ArtifactIntegrityError)):
            b"".join(art.as_stream())
