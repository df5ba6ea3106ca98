"""Contract: conveniences over local files that every registry gets from `Registry` itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_artifacts.errors import ArtifactNotFound, InvalidArtifactInput, UnsafePath
from prefect_artifacts.models import Artifact, ArtifactKind
from prefect_artifacts.registry.base import Registry
from prefect_artifacts.testing._base import ContractFixtures, MakeFile, MakeTree, new_run_id, payload, tree_bytes

TREE = {"a.txt": b"alpha", "sub/b.txt": b"beta", "sub/deep/c.bin": payload(300_000, 3)}


class LocalFilesContract(ContractFixtures):
    """`Registry.download_dir` (a directory recreated on disk, safely) and `Registry.upload_code`.

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

    def test_upload_code_reuses_the_latest_version_while_the_code_is_unchanged(
        self, reg: Registry, make_file: MakeFile,
    ) -> None:
        job = make_file("job.py", "print('v1')\n")
        first = reg.upload_code(job, folder="/code")
        assert (first.name, first.version, first.kind) == ("job.py", 1, ArtifactKind.FILE)
        run = new_run_id()
        again = reg.upload_code(str(job), folder="/code", runs=[(run, "code")])
        assert again.id == first.id and [(r.run_id, r.category.value) for r in again.runs] == [(run, "code")]
        assert reg.upload_code([job], folder="/code", runs=[(run, "code")]).id == first.id
        job.write_text("print('v2')\n")
        changed = reg.upload_code(job, folder="/code")
        assert changed.version == 2 and b"".join(reg.read(changed.id)) == b"print('v2')\n"
        assert reg.count() == 2

    def test_upload_code_of_several_files_is_one_directory(self, reg: Registry, make_file: MakeFile) -> None:
        paths = [make_file("etl/transform.py", "t = 1\n"), make_file("etl/sql/schema.sql", "create table t;")]
        first = reg.upload_code(paths, name="etl-code", folder="/code")
        assert first.is_dir and sorted(f.path for f in first.files) == ["sql/schema.sql", "transform.py"]
        assert reg.upload_code(list(reversed(paths)), name="etl-code", folder="/code").id == first.id
        single = reg.upload_code(paths[0], name="etl-code", folder="/code")  # a file now, not a directory
        assert single.version == 2 and not single.is_dir
        assert reg.upload_code(paths, folder="/code").name == "code"

    def test_upload_code_refuses_what_is_not_a_file(self, reg: Registry, make_tree: MakeTree, tmp_path: Path) -> None:
        bad_paths: list[Path | list[Path]] = [[], tmp_path / "missing.py", make_tree("pkg", {"m.py": "x"})]
        for bad in bad_paths:
            with pytest.raises(InvalidArtifactInput):
                reg.upload_code(bad)
        assert reg.count() == 0
