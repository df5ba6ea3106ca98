"""Seed 002 (Dioptra's artifacts, groups and jobs): every public name, one test per README row.

Each test runs on the embedded and the HTTP registry (`world`, see `_world_b`); `ROWS`
maps each seed name of the README table to its test, and
`test_the_readme_table_has_a_test_per_row` keeps the two in step.
"""

from __future__ import annotations

import io
import json
import tarfile
from datetime import datetime
from pathlib import Path

import pytest

from prefect_artifacts.errors import ArtifactNotFound, InvalidArtifactInput, PermissionDenied
from prefect_artifacts.models import Artifact, ArtifactKind, BundleType, RunCategory, SerializerRef
from prefect_artifacts.registry.base import Registry
from tests.seeds._world_b import World, seeds_b_server_fixture, world_fixture  # noqa: F401 - fixtures
from tests.support.seed_tables import seed_names

JOB = "5f0c6a4e-0000-4000-8000-0000000000b2"
CONTENT = b'{"lr": 0.1}'


def _file(tmp_path: Path, name: str = "model.json", content: bytes = CONTENT) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _art(reg: Registry, tmp_path: Path, name: str = "data") -> Artifact:
    return reg.upload_file(_file(tmp_path, f"{name}.json"), name=name, folder="/team-a")


def _tree(reg: Registry, tmp_path: Path) -> Artifact:
    root = tmp_path / "tree"
    (root / "plots").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "plots" / "p.txt").write_text("p")
    return reg.upload_dir(root, name="tree", folder="/team-a")


def _created(world: World, tmp_path: Path) -> Artifact:
    """Seed 002's create: an existing URI, its job, group, plugin snapshot and serializer task."""
    reg = world.reg()
    pinned = reg.save_object({"lr": 0.0}, name="pin", folder="/team-a")  # a snapshot of the json serializer
    assert pinned.serializer is not None
    uri = _file(tmp_path, "written-by-task.json").as_uri()
    return reg.add_reference(uri, name="model", folder="/team-a", group="team-a", runs=[(JOB, "output")],
                             serializer=SerializerRef(snapshot_id=pinned.serializer.snapshot_id,
                                                      task_name=pinned.serializer.task_name),
                             description="weights of run 7")


def test_create(world: World, tmp_path: Path) -> None:
    art = _created(world, tmp_path)
    assert (art.kind, art.group_id, art.description) == (ArtifactKind.OBJECT, "team-a", "weights of run 7")
    assert [(r.run_id, r.category) for r in art.runs] == [(JOB, RunCategory.OUTPUT)]
    assert world.reg().load_object(art.id) == {"lr": 0.1}  # deserialized with the pinned snapshot
    with pytest.raises(InvalidArtifactInput, match="does not exist"):
        world.reg().add_reference(art.files[0].uri or "", name="bad", folder="/team-a",
                                  serializer=("00000000-0000-4000-8000-000000000000", "json"))
    with pytest.raises(InvalidArtifactInput, match="go together"):
        world.reg().add_reference(art.files[0].uri or "", name="bad", folder="/team-a", serializer=("only-one",))
    with pytest.raises(PermissionDenied):  # bob only reads team-a
        world.reg("bob").add_reference(art.files[0].uri or "", name="m", folder="/team-b", group="team-a")


def test_create_without_snapshot(world: World, tmp_path: Path) -> None:
    """Without plugin_snapshot_id and task_id: a plain reference, downloadable, not loadable as an object."""
    art = world.reg().add_reference(_file(tmp_path).as_uri(), name="raw", folder="/team-a", runs=[(JOB, "output")])
    assert art.kind is ArtifactKind.REFERENCE and art.serializer is None
    assert b"".join(art.as_stream()) == CONTENT


def test_task(world: World, tmp_path: Path) -> None:
    assert _created(world, tmp_path).serializer.task_name == "json"  # type: ignore[union-attr]


def test_group(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    assert art.group_id == "team-a"
    with pytest.raises(ArtifactNotFound):
        world.reg("carol").get(art.id)  # the group controls access


def test_plugin_snapshot(world: World, tmp_path: Path) -> None:
    art = _created(world, tmp_path)
    snap = world.reg().get_plugin_snapshot(art.serializer.snapshot_id)  # type: ignore[union-attr]
    assert snap.files and snap.digest


def test_artifact_uri(world: World, tmp_path: Path) -> None:
    art = _created(world, tmp_path)
    uri = (tmp_path / "written-by-task.json").as_uri()
    assert art.files[0].uri == uri and art.original_path == uri


def test_job(world: World, tmp_path: Path) -> None:
    art = _created(world, tmp_path)
    assert [a.id for a in world.reg().run_artifacts(JOB, "output")] == [art.id]


def test_description(world: World, tmp_path: Path) -> None:
    assert _created(world, tmp_path).description == "weights of run 7"


def test_id(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    assert world.reg().get(art.id).id == art.id


def test_created_on(world: World, tmp_path: Path) -> None:
    assert isinstance(_art(world.reg(), tmp_path).created, datetime)


def test_last_modified_on(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    assert world.reg().update(art.id, description="changed").modified > art.modified


def test_file_size(world: World, tmp_path: Path) -> None:
    assert _art(world.reg(), tmp_path).size == len(CONTENT)


def test_is_directory(world: World, tmp_path: Path) -> None:
    assert _tree(world.reg(), tmp_path).is_dir and not _art(world.reg(), tmp_path).is_dir


def test_file_url(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    url = art.download_url
    assert url is not None
    if world.server is not None:
        assert url == f"{world.server.url}/artifacts/{art.id}/contents"
        assert world.http("GET", url.removeprefix(world.server.url)).content == CONTENT


def test_get_list(world: World, tmp_path: Path) -> None:
    reg = world.reg()
    for name in ("a", "b", "c"):
        _art(reg, tmp_path, name)
    world.reg("bob").upload_file(_file(tmp_path), name="theirs", folder="/team-b")
    page = reg.list(index=1, page_length=1, sort_by="name", descending=True, search="name:?", group_id="team-a")
    assert ([a.name for a in page.data], page.total, page.index, page.is_complete) == (["b"], 3, 1, False)
    assert {a.name for a in world.reg("bob").list(page_length=10).data} == {"a", "b", "c", "theirs"}


def test_get_by_id(world: World, tmp_path: Path) -> None:
    art = _art(world.reg(), tmp_path)
    assert world.reg().get(art.id).model_dump() == art.model_dump()


def test_get_files(world: World, tmp_path: Path) -> None:
    assert [f.path for f in world.reg().files(_tree(world.reg(), tmp_path).id)] == ["a.txt", "plots/p.txt"]


def test_get_contents(world: World, tmp_path: Path) -> None:
    reg = world.reg()
    tree = _tree(reg, tmp_path)
    bundle = reg.get_contents(tree.id, file_type="tar_gz", artifact_path="plots", output_dir=tmp_path / "o",
                              file_stem="plots")
    assert bundle.name == "plots.tar.gz"
    with tarfile.open(bundle) as tar:
        assert tar.getnames() == ["plots/p.txt"]
    single = reg.get_contents(_art(reg, tmp_path).id, output_dir=tmp_path / "o")
    assert single.read_bytes() == CONTENT


def test_file_types(world: World, tmp_path: Path) -> None:
    tree = _tree(world.reg(), tmp_path)
    assert {t.value for t in BundleType} == {"tar_gz", "zip"}
    assert tree.get_contents(BundleType.ZIP, output_dir=tmp_path / "z").suffix == ".zip"


def _rest(world: World) -> None:
    if world.server is None:
        pytest.skip("a REST endpoint: the HTTP backend's")


def test_rest_list(world: World, tmp_path: Path) -> None:
    _rest(world)
    _art(world.reg(), tmp_path)
    body = world.http("GET", "/artifacts", params={"groupId": "team-a", "pageLength": 5, "sortBy": "name"}).json()
    assert (body["totalNumResults"], body["index"], body["pageLength"], body["isComplete"]) == (1, 0, 5, True)
    assert body["data"][0]["groupId"] == "team-a"


def test_rest_contents(world: World, tmp_path: Path) -> None:
    _rest(world)
    tree = _tree(world.reg(), tmp_path)
    response = world.http("GET", f"/artifacts/{tree.id}/contents", params={"fileType": "tar_gz", "path": "plots"})
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        assert tar.getnames() == ["plots/p.txt"]


def test_rest_files(world: World, tmp_path: Path) -> None:
    _rest(world)
    tree = _tree(world.reg(), tmp_path)
    assert [f["path"] for f in world.http("GET", f"/artifacts/{tree.id}/files").json()] == ["a.txt", "plots/p.txt"]


def test_rest_create(world: World, tmp_path: Path) -> None:
    _rest(world)
    uri = _file(tmp_path).as_uri()
    body = {"folder": "/team-a", "name": "ref", "kind": "reference", "groupId": "team-a", "runs": [[JOB, "output"]],
            "description": "d", "files": [{"path": "model.json", "uri": uri, "size": len(CONTENT)}]}
    created = world.http("POST", "/artifacts", json=body)
    assert created.status_code == 201, created.text
    art = created.json()["artifact"]
    assert (art["kind"], art["groupId"], art["runs"][0]["runId"]) == ("reference", "team-a", JOB)


def test_rest_groups(world: World) -> None:
    _rest(world)
    assert world.http("GET", "/groups", who="bob").json() == [
        {"id": "team-a", "canWrite": False, "isDefault": False}, {"id": "team-b", "canWrite": True, "isDefault": True}]
    assert world.http("GET", "/groups/team-b", who="bob").json()["canWrite"] is True
    assert world.http("GET", "/groups/team-b", who="alice").status_code == 404


def test_rest_jobs(world: World, tmp_path: Path) -> None:
    _rest(world)
    art = _created(world, tmp_path)
    source = _art(world.reg(), tmp_path, "source")
    world.reg().attach(source.id, JOB, "input")
    job = world.http("GET", f"/jobs/{JOB}").json()
    assert ([a["id"] for a in job["inputs"]], [a["id"] for a in job["outputs"]]) == ([source.id], [art.id])
    outputs = world.http("GET", f"/jobs/{JOB}/artifacts", params={"category": "output"}).json()
    assert [a["id"] for a in outputs] == [art.id]
    assert world.http("GET", f"/jobs/{JOB}", who="carol").status_code == 404
    assert json.loads(world.http("GET", f"/jobs/{JOB}/artifacts", who="carol").content) == []


ROWS = {
    "Task": test_task,
    "Group": test_group,
    "Plugin Snapshot": test_plugin_snapshot,
    "Artifact URI": test_artifact_uri,
    "Job": test_job,
    "Description": test_description,
    "ID": test_id,
    "Created On": test_created_on,
    "Last Modified On": test_last_modified_on,
    "File Size": test_file_size,
    "Is Directory": test_is_directory,
    "File URL": test_file_url,
    "get(group_id, index, page_length, sort_by, descending, search)": test_get_list,
    "get_by_id(artifact_id)": test_get_by_id,
    "get_files(artifact_id)": test_get_files,
    "get_contents(artifact_id, file_type, artifact_path, output_dir, file_stem)": test_get_contents,
    "create(group_id, job_id, artifact_uri, plugin_snapshot_id, task_id, description)": test_create,
    "create(..., plugin_snapshot_id=None, task_id=None)": test_create_without_snapshot,
    "FileTypes": test_file_types,
    "GET /api/v1/artifacts": test_rest_list,
    "GET /api/v1/artifacts/{id}/contents": test_rest_contents,
    "GET /api/v1/artifacts/{id}/files": test_rest_files,
    "POST /api/v1/artifacts": test_rest_create,
    "GET /api/v1/groups": test_rest_groups,
    "GET /api/v1/jobs/{id}": test_rest_jobs,
    "Output Artifacts page": test_rest_jobs,
}


def test_the_readme_table_has_a_test_per_row() -> None:
    names = seed_names("From Dioptra")
    assert names, "the README has no table under '### From Dioptra'"
    assert sorted(set(names) - set(ROWS)) == [], "README rows without a test"
    assert sorted(set(ROWS) - set(names)) == [], "tests of names the README table does not list"
