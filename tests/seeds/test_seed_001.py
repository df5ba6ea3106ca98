"""Seed 001 (a run-artifact API's ``Artifact(metadata, objects)``): every public name, one test per README row.

The registry tests run on the embedded and the HTTP registry (`seed_registry`); `ROWS`
maps each seed name of the README table to its test, and
`test_the_readme_table_has_a_test_per_row` keeps the two in step.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_artifacts import ArtifactDraft
from prefect_artifacts.errors import ArtifactConflict, ArtifactNotFound, InvalidArtifactInput, UnsafePath
from prefect_artifacts.models import ArtifactKind, TransferAction
from prefect_artifacts.registry.base import Registry, os_user
from prefect_artifacts.registry.http import HttpRegistry
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry
from tests.support.seed_tables import seed_names


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "plots"
    (root / "sub").mkdir(parents=True)
    (root / "loss.png").write_bytes(b"png")
    (root / "sub" / "acc.png").write_bytes(b"acc")
    return root


def _file(tmp_path: Path, name: str = "1.png", content: bytes = b"one") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _paths(reg: Registry, draft: ArtifactDraft) -> list[str]:
    return [f.path for f in reg.upload(draft, folder="/seeds", make_folder=True).files]


def test_constructor(seed_registry: Registry, tmp_path: Path) -> None:
    metadata = {"name": "bundle", "labels": ["x"], "description": "plots", "alternative_name": "bundle-2"}
    draft = ArtifactDraft(**metadata).add_file(_file(tmp_path))
    art = seed_registry.upload(draft, folder="/seeds", make_folder=True)
    assert (art.name, art.labels, art.description) == ("bundle", ["x"], "plots")
    rebuilt = ArtifactDraft.parse_from_dict({**metadata, "objects": draft.objects})
    assert rebuilt.to_dict() == draft.to_dict()


@pytest.mark.parametrize("field", ["name", "labels", "description"])
def test_fields(seed_registry: Registry, tmp_path: Path, field: str) -> None:
    draft = ArtifactDraft(name="bundle", labels=["a", "b"], description="d").add_file(_file(tmp_path))
    art = seed_registry.upload(draft, folder="/seeds", make_folder=True)
    assert getattr(art, field) == getattr(draft, field) == {"name": "bundle", "labels": ["a", "b"],
                                                            "description": "d"}[field]


def test_created_timestamp(seed_registry: Registry, tmp_path: Path) -> None:
    art = seed_registry.upload(ArtifactDraft(name="b").add_file(_file(tmp_path)), folder="/seeds", make_folder=True)
    assert isinstance(art.created, datetime) and art.created.tzinfo is not None
    assert seed_registry.get(art.id).created == art.created


def test_alternative_name(seed_registry: Registry, tmp_path: Path) -> None:
    def draft() -> ArtifactDraft:
        return ArtifactDraft(name="bundle", alternative_name="bundle-alt").add_file(_file(tmp_path))

    first = seed_registry.upload(draft(), folder="/seeds", make_folder=True)
    second = seed_registry.upload(draft(), folder="/seeds", conflict_strategy="new")
    assert (first.name, second.name) == ("bundle", "bundle-alt")


def test_objects(seed_registry: Registry, tmp_path: Path) -> None:
    draft = ArtifactDraft(name="b").add_file(_file(tmp_path), obj_path="a/").add_bytes(b"{}", "params.json")
    assert [(o["kind"], o["path"]) for o in draft.objects] == [("file", "a/1.png"), ("bytes", "params.json")]
    assert draft.objects[1]["source"] == base64.b64encode(b"{}").decode()
    art = seed_registry.upload(draft, folder="/seeds", make_folder=True)
    assert [f.path for f in art.files] == ["a/1.png", "params.json"]


def test_remote(seed_registry: Registry, tmp_path: Path) -> None:
    source = _file(tmp_path, "data.csv", b"x,y\n")
    art = seed_registry.upload_file(source, name="data", folder="/seeds")
    art.as_local_file(tmp_path / "out" / "copy.csv")
    seed_registry.get_contents(art.id, output_dir=tmp_path / "contents")
    b"".join(art.as_stream())  # a stream is not recorded: the reader says so if it wants
    seed_registry.record_download(art.id, "/elsewhere/copy.csv")
    history = art.remote
    user = "alice" if isinstance(seed_registry, HttpRegistry) else os_user()
    assert [(t.action, t.user, t.ref) for t in history] == [
        (TransferAction.UPLOAD, user, "/seeds/data:1"), *[(TransferAction.DOWNLOAD, user, "/seeds/data:1")] * 3]
    assert [t.local_path for t in history] == [
        str(source), str(tmp_path / "out" / "copy.csv"), str(tmp_path / "contents" / "contents.csv"),
        "/elsewhere/copy.csv"]
    assert history[0].created <= history[-1].created
    assert seed_registry.transfers("/seeds/data") == history
    with pytest.raises(InvalidArtifactInput, match="local_path"):
        seed_registry.record_download(art.id, "a\x00b")
    with pytest.raises(ArtifactNotFound):
        seed_registry.transfers("/seeds/missing")


def test_remote_access_rules(tmp_path: Path) -> None:
    """Reading an artifact is enough to see and add to its history; others get 404, no key 401."""
    registry = make_registry(tmp_path / "server")
    server = LiveServer(registry).start()
    try:
        auth = server.auth
        for user, group in (("alice", "team-a"), ("bob", "team-b"), ("carol", "team-c")):
            auth.create_user(user, default_group=group)
        auth.add_member("team-a", "bob", write=False)
        keys = {user: auth.create_key(user)[1] for user in ("alice", "bob", "carol")}
        with HttpRegistry(server.url, api_key=keys["alice"]) as alice:
            art = alice.upload_file(_file(tmp_path), name="x", folder="/shared")
        url = f"{server.url}/artifacts/{art.id}/transfers"

        def call(who: str | None, method: str, **kwargs: Any) -> httpx.Response:
            headers = {"Authorization": f"Bearer {keys[who]}"} if who else {}
            return httpx.request(method, url, headers=headers, timeout=30, **kwargs)

        for method in ("GET", "POST"):
            assert call(None, method).status_code == 401
            assert call("carol", method).status_code == 404
        recorded = call("bob", "POST", json={"localPath": "/home/bob/x"})  # a read-only member
        assert recorded.status_code == 201 and recorded.json()["user"] == "bob"
        assert call("bob", "POST").status_code == 201  # the body is optional
        assert [(t["action"], t["user"]) for t in call("bob", "GET").json()] == [
            ("upload", "alice"), ("download", "bob"), ("download", "bob")]
        assert call("bob", "POST", json={"localPath": "x" * 4097}).status_code == 400  # a clear error, not a 5xx
    finally:
        server.stop()
        registry.close()


def test_local(seed_registry: Registry, tmp_path: Path) -> None:
    source = _file(tmp_path)
    tree = _tree(tmp_path)
    draft = ArtifactDraft(name="b", local=tmp_path / "work")
    draft.add_file(source, obj_path="a/").add_dir(tree, obj_path="b/")
    assert draft.local == str(tmp_path / "work")
    assert sorted(p.relative_to(tmp_path / "work").as_posix() for p in (tmp_path / "work").rglob("*.png")) == [
        "a/1.png", "b/plots/loss.png", "b/plots/sub/acc.png"]
    source.write_bytes(b"changed after add_file")  # the draft holds its copy
    art = seed_registry.upload(draft, folder="/seeds", make_folder=True)
    assert b"".join(seed_registry.read(art.id, path="a/1.png")) == b"one"
    assert ArtifactDraft(name="c").local is None


def test_add_dir(seed_registry: Registry, tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    cases = {"a": ["a/loss.png", "a/sub/acc.png"], "b/": ["b/plots/loss.png", "b/plots/sub/acc.png"],
             "b/a": ["b/a/loss.png", "b/a/sub/acc.png"], None: ["plots/loss.png", "plots/sub/acc.png"]}
    for obj_path, expected in cases.items():
        assert _paths(seed_registry, ArtifactDraft(name="d").add_dir(tree, obj_path=obj_path)) == expected
    with pytest.raises(InvalidArtifactInput, match="not a directory"):
        ArtifactDraft(name="d").add_dir(tmp_path / "missing")


def test_add_file(seed_registry: Registry, tmp_path: Path) -> None:
    source = _file(tmp_path)
    for obj_path, expected in {None: "1.png", "1.png": "1.png", "a/": "a/1.png", "a/1.png": "a/1.png"}.items():
        assert _paths(seed_registry, ArtifactDraft(name="f").add_file(source, obj_path=obj_path)) == [expected]
    with pytest.raises(UnsafePath):
        ArtifactDraft(name="f").add_file(source, obj_path="../1.png")


def test_add_reference(seed_registry: Registry, tmp_path: Path) -> None:
    target = _file(tmp_path, "x.bin", b"ref")
    art = seed_registry.upload(ArtifactDraft(name="r").add_reference(target.as_uri(), obj_path="ext/"),
                               folder="/seeds", make_folder=True)
    assert art.kind is ArtifactKind.REFERENCE
    assert [(f.path, f.uri) for f in art.files] == [("ext/x.bin", target.as_uri())]


def test_parse_from_dict(seed_registry: Registry, tmp_path: Path) -> None:
    draft = ArtifactDraft(name="b", metadata={"rows": 1}).add_file(_file(tmp_path)).add_dir(_tree(tmp_path))
    saved = tmp_path / "draft.json"
    saved.write_text(json.dumps(draft.to_dict()))
    rebuilt = ArtifactDraft.parse_from_dict(json.loads(saved.read_text()))
    assert rebuilt.to_dict() == draft.to_dict() and rebuilt.entries() == draft.entries()
    art = seed_registry.upload(rebuilt, folder="/seeds", make_folder=True)
    assert [f.path for f in art.files] == ["1.png", "plots/loss.png", "plots/sub/acc.png"]
    assert [a.content for a in art.metadata] == [{"rows": 1}]
    for bad, problem in [({"objects": []}, "needs a 'name'"), ({"name": "b", "colour": 1}, "unknown draft key"),
                         ({"name": "b", "objects": [{"kind": "tape", "source": "x"}]}, "unknown kind"),
                         ({"name": "b", "objects": [{"kind": "bytes", "path": "a", "source": "@@"}]}, "base64"),
                         ({"name": "b", "objects": [{"kind": "file", "path": "a", "source": "rel/a"}]}, "absolute"),
                         ({"name": "b", "labels": "x", "metadata": []}, "metadata")]:
        with pytest.raises(InvalidArtifactInput, match=problem):
            ArtifactDraft.parse_from_dict(bad)


_names = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,20}", fullmatch=True)
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=8)
_objects = st.lists(st.one_of(
    st.tuples(st.just("bytes"), st.binary(max_size=32), _names),
    st.tuples(st.just("ref"), _names.map(lambda n: f"https://host.example/{n}"), _names),
    st.tuples(st.just("file"), _names.map(lambda n: f"/abs/{n}"), _names),
    st.tuples(st.just("dir"), _names.map(lambda n: f"/abs/dir-{n}"), st.sampled_from(["", "b", "b/c"])),
), max_size=5)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(name=_names, alternative=st.none() | _names, description=st.none() | st.text(max_size=20),
       labels=st.lists(_names, max_size=3, unique=True),
       metadata=st.none() | st.dictionaries(st.text(max_size=5), _json, max_size=3),
       mime=st.none() | st.sampled_from(["text/csv", "application/json"]),
       local=st.none() | _names.map(lambda n: f"/w/{n}"), objects=_objects)
def test_to_dict_round_trips_through_json(name: str, alternative: str | None, description: str | None,
                                          labels: list[str], metadata: dict[str, Any] | None, mime: str | None,
                                          local: str | None, objects: list[tuple[str, Any, str]]) -> None:
    data = {"name": name, "alternative_name": alternative, "description": description, "labels": labels,
            "metadata": metadata, "mime_type": mime, "local": local,
            "objects": [{"kind": kind, "path": path, "move": False,
                         "source": base64.b64encode(source).decode() if kind == "bytes" else source}
                        for kind, source, path in objects]}
    draft = ArtifactDraft.parse_from_dict(data)
    assert draft.to_dict() == data
    again = ArtifactDraft.parse_from_dict(json.loads(json.dumps(draft.to_dict())))
    assert again.to_dict() == draft.to_dict() and again._sources == draft._sources


def test_to_dict(seed_registry: Registry, tmp_path: Path) -> None:
    draft = ArtifactDraft(name="b", labels=["x"]).add_reference(_file(tmp_path).as_uri())
    data = json.loads(json.dumps(draft.to_dict()))
    assert set(data) == {"name", "alternative_name", "description", "labels", "metadata", "mime_type", "local",
                         "objects"}
    assert seed_registry.upload(ArtifactDraft.parse_from_dict(data), folder="/seeds", make_folder=True).labels == ["x"]


def test_upload(seed_registry: Registry, tmp_path: Path) -> None:
    def draft(content: bytes = b"one") -> ArtifactDraft:
        return ArtifactDraft(name="u").add_file(_file(tmp_path, content=content))

    relative = seed_registry.upload(draft(), folder="mine", make_folder=True)
    assert relative.folder == f"/{seed_registry.current_user}/mine"  # no leading '/': the caller's folder
    first = seed_registry.upload(draft(), folder="/seeds/deep/er", make_folder=True)
    assert seed_registry.upload(draft(b"two"), folder="/seeds/deep/er", conflict_strategy="skip").id == first.id
    with pytest.raises(ArtifactConflict):
        seed_registry.upload(draft(), folder="/seeds/deep/er", conflict_strategy="error")
    assert seed_registry.upload(draft(), folder="/seeds/deep/er", conflict_strategy="new").version == 2
    replaced = seed_registry.upload(draft(b"three"), folder="/seeds/deep/er", conflict_strategy="replace")
    assert replaced.version == 3 and [a.version for a in seed_registry.list(folder="/seeds/deep/er").data] == [3]
    with pytest.raises(InvalidArtifactInput, match="conflict_strategy"):
        seed_registry.upload(draft(), folder="/seeds", conflict_strategy="overwrite")


#: Every seed name of the README table → the test exercising it.
ROWS = {
    "Artifact(metadata, objects)": test_constructor,
    "name": test_fields,
    "labels": test_fields,
    "description": test_fields,
    "created_timestamp": test_created_timestamp,
    "alternative_name": test_alternative_name,
    "objects": test_objects,
    "remote": test_remote,
    "local": test_local,
    "add_dir(dir_path, obj_path)": test_add_dir,
    "add_file(file_path, obj_path)": test_add_file,
    "add_reference(uri, obj_path)": test_add_reference,
    "parse_from_dict(data)": test_parse_from_dict,
    "to_dict()": test_to_dict,
    "upload(folder, make_folder, conflict_strategy)": test_upload,
}


def test_the_readme_table_has_a_test_per_row() -> None:
    names = seed_names("From a run-artifact API")
    assert names, "the README has no table under '### From a run-artifact API'"
    assert sorted(set(names) - set(ROWS)) == [], "README rows without a test"
    assert sorted(set(ROWS) - set(names)) == [], "tests of names the README table does not list"
