"""Contract: conveniences over local files that every registry gets from `Registry` itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_artifacts.errors import ArtifactNotFound, UnsafePath
from prefect_artifacts.models import Artifact
from prefect_artifacts.registry.base import Registry
from prefect_artifacts.testing._base import ContractFixtures, MakeTree, payload, tree_bytes

TREE = {"a.txt": b"alpha", "sub/b.txt": b"beta", "sub/deep/c.bin": payload(300_000, 3)}


class LocalFilesContract(ContractFixtures):
    """`Registry.download_dir`: a directory recreated on disk, safely.

    Example:
        ```python
        class TestMine(LocalFilesContract): ...
        ```
    """

    __test__ = False

    @pytest.fixture
    def tree(self, reg: Registry, make_tree: MakeTree) -> Artifact:
        """A directory artifact holding `TREE`.

        Example:
            ```python
            def test_x(self, tree): tree.files
            ```
        """
        return reg.upload_dir(make_tree("tree", TREE), name="tree")

    def test_download_dir_recreates_the_tree(self, reg: Registry, tree: Artifact, tmp_path: Path) -> None:
        out = reg.download_dir(tree.id, tmp_path / "all")
        assert out == tmp_path / "all" and tree_bytes(out) == TREE
        default = reg.download_dir(tree.id)
        assert default.name == "tree" and tree_bytes(default) == TREE
        assert not [p for p in (tmp_path / "all").rglob("*.part")]

    def test_download_dir_of_a_sub_folder_or_file(self, reg: Registry, tree: Artifact, tmp_path: Path) -> None:
        sub = reg.download_dir(tree.id, tmp_path / "sub", artifact_path="sub/")
        assert tree_bytes(sub) == {"b.txt": b"beta", "deep/c.bin": TREE["sub/deep/c.bin"]}
        full = reg.download_dir(tree.id, tmp_path / "full", artifact_path="sub/deep", full_paths=True)
        assert tree_bytes(full) == {"sub/deep/c.bin": TREE["sub/deep/c.bin"]}
        one = reg.download_dir(tree.id, tmp_path / "one", artifact_path="sub/b.txt")
        assert tree_bytes(one) == {"b.txt": b"beta"}

    def test_download_dir_reports_progress(self, reg: Registry, tree: Artifact, tmp_path: Path) -> None:
        sizes: list[int] = []
        reg.download_dir(tree.id, tmp_path / "out", progress=sizes.append)
        assert sum(sizes) == sum(map(len, TREE.values()))
        assert tree_bytes(tmp_path / "out") == TREE

    def test_download_dir_names_what_is_missing_or_unsafe(self, reg: Registry, tree: Artifact, tmp_path: Path) -> None:
        with pytest.raises(ArtifactNotFound, match="nope"):
            reg.download_dir(tree.id, tmp_path / "out", artifact_path="nope")
        with pytest.raises(UnsafePath):
            reg.download_dir(tree.id, tmp_path / "out", artifact_path="../x")
        assert not (tmp_path / "out").exists()

    @pytest.mark.parametrize("link", ["sub", "sub/b.txt"])
    def test_download_dir_never_writes_through_a_symlink(self, reg: Registry, tree: Artifact, tmp_path: Path,
                                                         link: str) -> None:
        dest, outside = tmp_path / "dest", tmp_path / "outside"
        outside.mkdir()
        (dest / "sub").mkdir(parents=True)
        target = outside if link == "sub" else outside / "victim.txt"
        if link == "sub":
            (dest / "sub").rmdir()
        (dest / link).symlink_to(target, target_is_directory=link == "sub")
        with pytest.raises(UnsafePath, match="symlink"):
            reg.download_dir(tree.id, dest)
        assert list(outside.iterdir()) == []
        assert not (dest / "a.txt").exists()  # refused before anything was written
