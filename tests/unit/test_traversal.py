"""Path traversal through the registry: drafts, directory uploads, symlinks, retrieval paths."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from prefect_artifacts.draft import ArtifactDraft
from prefect_artifacts.errors import InvalidName, UnsafePath
from prefect_artifacts.models import Artifact, ArtifactKind, ArtifactManifest, ManifestFile
from prefect_artifacts.registry.local import LocalRegistry

ESCAPES = ["../x", "../", "a/../../x", "/abs", "/abs/", "/", "C:\\x", "a\\..\\x", "..", "a\x00b"]


def assert_untouched(reg: LocalRegistry) -> None:
    assert reg.count() == 0
    assert list(reg.store.iter_blobs()) == []
    assert list(reg.store.iter_temp()) == []


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    (root / "a.txt").write_text("a")
    return root


@pytest.mark.parametrize("obj_path", ESCAPES)
def test_draft_add_file_refuses_escaping_obj_path(local_registry: LocalRegistry, src: Path, obj_path: str) -> None:
    draft = ArtifactDraft(name="x")
    with pytest.raises(UnsafePath):
        draft.add_file(src / "a.txt", obj_path=obj_path)
    assert draft.is_empty
    assert_untouched(local_registry)


@pytest.mark.parametrize("obj_path", [p for p in ESCAPES if p != "/"])
def test_draft_add_dir_and_reference_refuse_escaping_obj_path(src: Path, obj_path: str) -> None:
    with pytest.raises(UnsafePath):
        ArtifactDraft(name="x").add_dir(src, obj_path=obj_path)
    with pytest.raises(UnsafePath):
        ArtifactDraft(name="x").add_reference((src / "a.txt").as_uri(), obj_path=obj_path)


def test_add_dir_with_symlink_to_etc_stores_and_catalogs_nothing(local_registry: LocalRegistry, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "inner").mkdir(parents=True)
    (root / "a.txt").write_text("stored first if anything were")
    (root / "inner" / "b.txt").write_text("b")
    os.symlink("/etc", root / "inner" / "zz-etc")
    draft = ArtifactDraft(name="tree").add_dir(root)
    with pytest.raises(UnsafePath, match="outside"):
        local_registry.upload(draft, folder="/t", make_folder=True)
    with pytest.raises(UnsafePath):
        local_registry.upload_dir(root, name="tree")
    assert_untouched(local_registry)


@pytest.mark.parametrize("target", ["/etc/hostname", "../outside.txt", "../../outside.txt"])
def test_symlinked_file_outside_is_refused(local_registry: LocalRegistry, tmp_path: Path, target: str) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    root = tmp_path / "tree"
    (root / "d").mkdir(parents=True)
    (root / "ok.txt").write_text("ok")
    link_dir = root if target.startswith("../") and target.count("..") == 1 else root / "d"
    os.symlink(target, link_dir / "link.txt")
    with pytest.raises(UnsafePath):
        local_registry.upload_dir(root, name="tree")
    assert_untouched(local_registry)


def test_symlinks_inside_the_tree_are_followed_and_dir_links_skipped(
    local_registry: LocalRegistry, tmp_path: Path,
) -> None:
    root = tmp_path / "tree"
    (root / "real").mkdir(parents=True)
    (root / "real" / "f.txt").write_text("f")
    os.symlink("real/f.txt", root / "alias.txt")
    os.symlink("real", root / "loop")  # a directory link: skipped (no duplicates, no loops)
    os.symlink(".", root / "real" / "self")
    art = local_registry.upload_dir(root, name="tree")
    assert [f.path for f in art.files] == ["alias.txt", "real/f.txt"]
    assert b"".join(local_registry.read(art.id, path="alias.txt")) == b"f"


def test_root_itself_may_be_a_symlink(local_registry: LocalRegistry, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "x.txt").write_text("x")
    os.symlink(real, tmp_path / "link")
    art = local_registry.upload_dir(tmp_path / "link", name="linked")
    assert [f.path for f in art.files] == ["x.txt"]


def test_file_names_with_backslashes_are_refused(local_registry: LocalRegistry, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "..\\evil.txt").write_text("x")  # a legal POSIX name that means '../evil.txt' on Windows
    with pytest.raises(UnsafePath):
        local_registry.upload_dir(root, name="tree")
    assert_untouched(local_registry)


def test_undecodable_file_names_are_refused_before_storing(local_registry: LocalRegistry, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "ok.txt").write_text("ok")
    undecodable = os.path.join(os.fsencode(root), b"\xff\xfe.txt")
    with open(undecodable, "wb") as f:
        f.write(b"x")
    with pytest.raises(UnsafePath, match="UTF-8"):
        local_registry.upload_dir(root, name="tree")
    with pytest.raises(UnsafePath, match="UTF-8"):
        local_registry.upload_file(os.fsdecode(undecodable))
    assert_untouched(local_registry)


@pytest.fixture
def tree_artifact(local_registry: LocalRegistry, tmp_path: Path) -> Artifact:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "sub" / "b.txt").write_text("b")
    return local_registry.upload_dir(root, name="tree")


@pytest.mark.parametrize("artifact_path", ["../../x", "../tree/a.txt", "/etc/passwd", "sub/../../x", "C:\\x", "a\x00"])
def test_get_contents_refuses_escaping_artifact_path(
    local_registry: LocalRegistry, tree_artifact: Artifact, tmp_path: Path, artifact_path: str
) -> None:
    out = tmp_path / "out"
    for file_type in (None, "zip", "tar_gz"):
        with pytest.raises(UnsafePath):
            tree_artifact.get_contents(file_type=file_type, artifact_path=artifact_path, output_dir=out)
    with pytest.raises(UnsafePath):
        list(local_registry.read(tree_artifact.id, path=artifact_path))
    with pytest.raises(UnsafePath):
        list(local_registry.bundle(tree_artifact.id, "zip", artifact_path=artifact_path))
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize("stem", ["../evil", "/tmp/evil", "a/b", "..", ""])
def test_get_contents_refuses_unsafe_file_stem(tree_artifact: Artifact, tmp_path: Path, stem: str) -> None:
    with pytest.raises(InvalidName):
        tree_artifact.get_contents(output_dir=tmp_path / "out", file_stem=stem)
    assert not (tmp_path / "evil.tar.gz").exists() and not (tmp_path / "out").exists()


def test_bundles_hold_only_entries_inside_their_root(tree_artifact: Artifact, tmp_path: Path) -> None:
    zipped = tree_artifact.get_contents(file_type="zip", output_dir=tmp_path / "o")
    with zipfile.ZipFile(zipped) as z:
        assert sorted(z.namelist()) == ["a.txt", "sub/b.txt"]
    tgz = tree_artifact.get_contents(output_dir=tmp_path / "o")
    with tarfile.open(tgz) as t:
        names = sorted(t.getnames())
        for member in t.getmembers():
            tarfile.data_filter(member, str(tmp_path / "extract"))
    assert names == ["a.txt", "sub/b.txt"]
    sub = tree_artifact.get_contents(file_type="zip", artifact_path="sub", output_dir=tmp_path / "s")
    with zipfile.ZipFile(io.BytesIO(sub.read_bytes())) as z:
        assert z.namelist() == ["sub/b.txt"]


@pytest.mark.parametrize("bad", ["../x", "/abs", "a/../../x"])
def test_create_from_manifest_refuses_escaping_paths(local_registry: LocalRegistry, bad: str) -> None:
    digest = local_registry.store.put_bytes(b"x").digest
    manifest = ArtifactManifest(
        folder="/m",
        name="m",
        kind=ArtifactKind.FILE,
        is_dir=False,
        size=1,
        checksum=digest,
        files=[ManifestFile(path=bad, size=1, checksum=digest, digest=digest)],
    )
    with pytest.raises(UnsafePath):
        local_registry.create(manifest, make_folder=True)
    assert local_registry.count() == 0
