"""download_artifact recreates directories through Registry.download_dir: its safety rules hold for the task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prefect_artifacts import tasks as T
from prefect_artifacts.errors import ArtifactNotFound, UnsafePath


@pytest.fixture
def tree(tmp_path: Path, task_registry: Any) -> str:
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("bb")
    return task_registry.upload_dir(folder, name="plots", folder="/dl").ref


def test_download_artifact_refuses_to_write_through_a_symlink_in_the_destination(
    tree: str, tmp_path: Path,
) -> None:
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (dest / "sub").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePath, match="symlink"):
        T.download_artifact(tree, path=dest)
    assert list(outside.iterdir()) == []
    assert not (dest / "a.txt").exists()  # every destination is checked before any write


def test_download_artifact_of_a_sub_folder_and_of_nothing(tree: str, tmp_path: Path) -> None:
    sub = T.download_artifact(tree, path=tmp_path / "sub", artifact_path="sub")
    assert sorted(p.relative_to(sub).as_posix() for p in sub.rglob("*") if p.is_file()) == ["b.txt"]
    with pytest.raises(ArtifactNotFound, match="has no file or folder 'nope'"):
        T.download_artifact(tree, path=tmp_path / "none", artifact_path="nope")
