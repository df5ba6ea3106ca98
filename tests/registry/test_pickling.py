"""Registries, artifacts and blocks cross process boundaries as `RegistrySpec`s.

The child processes are spawned (a fresh interpreter, like ProcessPoolTaskRunner's
and Dask's workers) with ``PREFECT_ARTIFACTS_HOME`` pointing elsewhere, so what they
open comes from the pickled spec, not from their environment.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from prefect_artifacts import Artifact, ArtifactRegistry, ArtifactStorage, Page
from prefect_artifacts.catalog.engine import sqlite_url
from prefect_artifacts.errors import InvalidOperation
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.registry.spec import RegistrySpec, open_registry
from prefect_artifacts.settings import get_settings

PICKLERS = {"pickle": pickle, "cloudpickle": cloudpickle}


@pytest.fixture(scope="module")
def child(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessPoolExecutor]:
    """One spawned worker process for the module (its start costs about a second)."""
    elsewhere = tmp_path_factory.mktemp("child-home")
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=set_home,
                             initargs=(str(elsewhere),)) as pool:
        yield pool


def set_home(home: str) -> None:
    """Point the child's embedded registry elsewhere than the test's."""
    os.environ["PREFECT_ARTIFACTS_HOME"] = home


# -- what the child does (module level: the spawned process imports them) -------------------


def use_local(blob: bytes, loads: str) -> dict[str, Any]:
    """Unpickle artifacts, a page, a lineage, a registry and blocks, and use them."""
    from prefect_artifacts.registry.spec import _REGISTRIES

    got = PICKLERS[loads].loads(blob)
    arts: list[Artifact] = got["arts"]
    out: dict[str, Any] = {"pid": os.getpid(), "home": os.environ["PREFECT_ARTIFACTS_HOME"]}
    out["versions"] = [a.refresh().version for a in arts]
    out["registries"] = len({id(a._reg()) for a in arts})
    out["same_as_unpickled_registry"] = arts[0]._reg() is got["registry"]
    with arts[0].as_local_file() as local:
        out["file"] = local.read_text()
    out["object"] = got["registry"].load_object(got["object_id"])
    out["page"] = [a.refresh().name for a in got["page"].data]
    out["lineage"] = sorted(a.refresh().name for a in got["lineage"].artifacts)
    out["opened"] = len(_REGISTRIES.opened)
    block: ArtifactRegistry = got["block"]
    out["block_same_registry"] = block.get_registry() is got["registry"]
    written = block.save_object({"from": "child"}, name="from-child")
    out["written"] = written.id
    out["unbuilt_block_home"] = str(got["unbuilt"].get_registry().settings.home)
    out["storage_options"] = got["storage"].storage_options.get_secret_value()
    return out


def use_http(blob: bytes) -> dict[str, Any]:
    """Unpickle HTTP artifacts, registry and block; read through the (authenticated) server."""
    got = cloudpickle.loads(blob)
    arts: list[Artifact] = got["arts"]
    out: dict[str, Any] = {"versions": [a.refresh().version for a in arts]}
    out["registries"] = len({id(a._reg()) for a in arts})
    with arts[0].as_local_file() as local:
        out["file"] = local.read_text()
    out["object"] = got["registry"].load_object(got["object_id"])
    out["block"] = got["block"].get(arts[0].id).name
    for registry in {id(r): r for r in (arts[0]._reg(), got["registry"], got["block"].get_registry())}.values():
        registry.close()  # no keep-alive connection left to hold the test's server open
    return out


# -- LocalRegistry on SQLite ------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalRegistry]:
    """A registry on a SQLite file, with the settings a block built now would read."""
    monkeypatch.setenv("PREFECT_ARTIFACTS_DURABLE", "false")  # no fsync: the machine is shared
    reg = LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(tmp_path / "c.sqlite"))
    yield reg
    reg.close()


@pytest.mark.parametrize("dumps", list(PICKLERS))
def test_local_artifacts_work_in_a_spawned_process(dumps: str, local: LocalRegistry, tmp_path: Path,
                                                   child: ProcessPoolExecutor) -> None:
    data = tmp_path / "data.csv"
    data.write_text("x,y\n1,2\n")
    first = local.upload_file(data, name="data", runs=[("run-1", "input")])
    arts = [first] + [local.save_object({"i": i}, name="obj", runs=[("run-1", "output")]) for i in range(200)]
    block = ArtifactRegistry(storage=ArtifactStorage(basepath=str(tmp_path / "blobs")),
                             catalog_url=sqlite_url(tmp_path / "c.sqlite"))
    block.get_registry()  # built: it travels as its registry's spec
    got = {
        "arts": arts, "registry": local, "object_id": arts[5].id, "page": local.list(search="name:obj", page_length=3),
        "lineage": local.lineage(first.id), "block": block, "unbuilt": ArtifactRegistry(),
        "storage": ArtifactStorage(basepath="memory://x", storage_options={"token": "s3cret"}),
    }
    blob = PICKLERS[dumps].dumps(got)
    for loads in PICKLERS:  # what one pickled, both load (Prefect uses cloudpickle, Dask either)
        out = child.submit(use_local, blob, loads).result(timeout=120)
        assert out["pid"] != os.getpid() and out["home"] != str(local.settings.home)
        assert out["versions"] == [a.version for a in arts] and out["versions"][1:] == list(range(1, 201))
        assert out["registries"] == 1 and out["same_as_unpickled_registry"], "201 artifacts, one registry"
        assert out["opened"] >= 1
        assert out["file"] == "x,y\n1,2\n"
        assert out["object"] == {"i": 4}
        assert out["page"] == ["obj"] * 3
        # save_object(runs=) linked the serializer snapshot to the run as its code.
        assert out["lineage"] == ["data", *["obj"] * 200, "serializer-prefect_artifacts.serializers.builtins"]
        assert out["block_same_registry"], "the block reopens the same configuration, shared"
        assert local.load_object(out["written"]) == {"from": "child"}, "the child wrote into our catalog"
        assert out["unbuilt_block_home"] != str(local.settings.home)  # not built: the child's own settings
        assert out["storage_options"] == {"token": "s3cret"}


def test_an_artifact_unpickled_in_its_own_process_keeps_its_registry(local: LocalRegistry) -> None:
    arts = [local.save_object(i, name="n") for i in range(3)]
    back = pickle.loads(pickle.dumps(arts))
    assert all(a._registry is None for a in back), "bound lazily, on first use"
    assert [a.refresh().version for a in back] == [1, 2, 3]
    assert all(a._reg() is local for a in back)
    assert pickle.loads(pickle.dumps(local)) is local


def test_unpickled_artifacts_share_one_registry_per_spec(local: LocalRegistry) -> None:
    spec = local.spec()
    other = spec.build()
    arts = [other.save_object(i, name="n") for i in range(200)]
    blob = pickle.dumps(arts)  # remembers `other` as this process's registry for the spec...
    other.close()  # ...until it is closed: unpickling must then open one from the spec
    back = pickle.loads(blob)
    assert [a.refresh().version for a in back] == list(range(1, 201))
    shared = {id(a._reg()) for a in back}
    assert len(shared) == 1 and back[0]._reg() is open_registry(spec)
    assert back[0]._reg() is not local and back[0]._reg() is not other


def test_spec_equality_and_secrets(tmp_path: Path) -> None:
    settings = get_settings()
    spec = RegistrySpec("local", settings, storage_url="s3://bucket/a", storage_options={"secret": "s3cret-key"},
                        catalog_url="postgresql://user:hunter2@db:5432/artifacts")
    again = pickle.loads(pickle.dumps(spec))
    assert again == spec and hash(again) == hash(spec)
    assert again.catalog_url == "postgresql://user:hunter2@db:5432/artifacts"
    assert again.storage_options == {"secret": "s3cret-key"}
    text = repr(again)
    assert "hunter2" not in text and "s3cret" not in text
    assert "s3://bucket/a" in text and "postgresql://user:***@db:5432/artifacts" in text
    assert spec != RegistrySpec("local", settings, storage_url="s3://bucket/b", catalog_url=spec.catalog_url)

    http = RegistrySpec("http", settings, api_url="http://h:4300/api/v1", api_key="pa_topsecret")
    assert "pa_topsecret" not in repr(http) and pickle.loads(pickle.dumps(http)).api_key == "pa_topsecret"
    with pytest.raises(ValueError, match="unknown registry kind"):
        RegistrySpec("ftp", settings)  # type: ignore[arg-type]


def test_an_undescribable_registry_leaves_the_artifact_unbound(local: LocalRegistry) -> None:
    art = local.save_object(1, name="one")
    scoped = local.for_principal(_admin(local))
    art_seen = scoped.get(art.id)
    back = pickle.loads(pickle.dumps(art_seen))
    assert back.version == 1
    with pytest.raises(InvalidOperation, match="not bound"):
        back.refresh()
    with pytest.raises(TypeError, match="RegistrySpec"):
        pickle.dumps(scoped)


def _admin(reg: LocalRegistry) -> Any:
    from prefect_artifacts.catalog.auth import AuthCatalog

    auth = AuthCatalog(reg.catalog.engine)
    auth.create_user("root", admin=True)
    return auth.authenticate(auth.create_key("root")[1])


def test_a_closed_registry_is_not_handed_out_again(local: LocalRegistry) -> None:
    spec = local.spec()
    art = local.save_object(1, name="one")
    blob = pickle.dumps(art)
    local.close()
    back = pickle.loads(blob)
    assert back.refresh().version == 1 and back._reg() is not local
    assert open_registry(spec) is back._reg()


# -- HttpRegistry against a real server with API keys -------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(API URL, API key) of a uvicorn server in a thread, keys required."""
    import uvicorn

    from prefect_artifacts._server import create_app
    from prefect_artifacts._server.auth import ApiKeyAuth
    from prefect_artifacts.catalog.auth import AuthCatalog

    reg = LocalRegistry.from_urls(str(tmp_path / "srv-blobs"), sqlite_url(tmp_path / "srv.sqlite"),
                                  settings=get_settings().model_copy(update={"durable": False}))
    auth = AuthCatalog(reg.catalog.engine)
    auth.create_user("alice", default_group="team-a")
    key = auth.create_key("alice")[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(reg, auth=ApiKeyAuth(auth)), log_level="warning", access_log=False,
                            timeout_graceful_shutdown=2)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/api/v1", key
    srv.should_exit = True
    thread.join(10)
    sock.close()
    reg.close()


def test_http_artifacts_work_in_a_spawned_process(server: tuple[str, str], tmp_path: Path,
                                                  child: ProcessPoolExecutor) -> None:
    url, key = server
    data = tmp_path / "data.csv"
    data.write_text("a,b\n")
    with HttpRegistry(url, api_key=key) as reg:
        arts = [reg.upload_file(data, name="remote", folder="/team-a")]
        arts += [reg.save_object({"i": i}, name="obj", folder="/team-a") for i in range(20)]
        block = ArtifactRegistry(api_url=url, api_key=key)
        for text in (repr(reg), repr(reg.spec()), repr(arts[0]), repr(block), str(block)):
            assert key not in text
        blob = cloudpickle.dumps({"arts": arts, "registry": reg, "object_id": arts[3].id, "block": block})
        assert key.encode() in blob, "the child needs the key"
        out = child.submit(use_http, blob).result(timeout=120)
    assert out["versions"] == [1, *range(1, 21)]
    assert out["registries"] == 1
    assert out["file"] == "a,b\n"
    assert out["object"] == {"i": 2}
    assert out["block"] == "remote"


def test_a_page_pickles_with_plain_pickle(local: LocalRegistry) -> None:
    local.save_object(1, name="p")
    page = local.list()
    back = pickle.loads(pickle.dumps(page))
    assert isinstance(back, Page) and type(back) is type(page)
    assert [a.refresh().name for a in back.data] == ["p"]
