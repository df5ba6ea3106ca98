"""Offline registries and exactly-once sync (`prefect_artifacts.registry.offline`).

The server is a real uvicorn on loopback (`LiveServer`); "down" is its socket bound but
not yet listening (connections are refused), "up" is `LiveServer.start`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import random
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefect_artifacts import ArtifactRegistry
from prefect_artifacts._cli.main import app
from prefect_artifacts._cli.state import EXIT_OTHER
from prefect_artifacts._server import NoAuth
from prefect_artifacts.errors import ArtifactNotFound, InvalidName, OfflineError
from prefect_artifacts.registry import offline as offline_module
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.registry.offline import OfflineRegistry, outbox_path
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry

RUN_A = "11111111-1111-4111-8111-111111111111"
RUN_B = "22222222-2222-4222-8222-222222222222"


@pytest.fixture
def down_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A server whose port refuses connections until ``.start()``."""
    server = LiveServer(make_registry(tmp_path / "server"), auth=NoAuth())
    yield server
    server.close()


def _offline(server: LiveServer, mode: bool | str = True) -> OfflineRegistry:
    return OfflineRegistry.for_server(server.url, mode=mode, retries=0)  # type: ignore[arg-type]


def _server_state(reg: LocalRegistry) -> list[tuple[str, str | None, list[tuple[str, str]]]]:
    return sorted((a.ref, a.checksum, sorted((r.run_id, r.category.value) for r in a.runs))
                  for a in reg.iter())


def test_offline_writes_sync_to_the_server_once(down_server: LiveServer, tmp_path: Path) -> None:
    reg = _offline(down_server)
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    tree = tmp_path / "ckpt"
    (tree / "weights").mkdir(parents=True)
    (tree / "weights" / "l1.bin").write_bytes(os.urandom(300_000))  # over the inline limit: a PUT
    (tree / "config.json").write_text("{}")
    script = tmp_path / "train.py"
    script.write_text("print('train')\n")

    v1 = reg.upload_file(data, name="data", folder="/team", labels=["raw"], metadata={"rows": 1},
                         description="first", runs=[(RUN_A, "output")])
    data.write_text("a,b\n1,2\n3,4\n")
    v2 = reg.upload_file(data, name="data", folder="/team")
    reg.set_alias(v1.id, "prod")
    ckpt = reg.upload_dir(tree, name="ckpt", folder="/team")
    reg.attach(ckpt.id, RUN_B, "input")
    reg.add_metadata(ckpt.id, {"acc": 0.9}, schema="metrics")
    config = reg.save_object({"lr": 0.1}, name="config", folder="/team")
    code = reg.upload_code(script, runs=[(RUN_A, "code")])
    link = reg.add_reference(script.as_uri(), name="train-ref", folder="/team")

    # Offline reads: by id and by name ref, from the outbox.
    assert reg.get("/team/data:latest").id == v2.id
    assert reg.get("/team/data:prod").id == v1.id
    assert reg.is_offline(v1.id) and not reg.is_offline("00000000-0000-4000-8000-000000000000")
    assert b"".join(reg.read(v1.id)) == b"a,b\n1,2\n"
    assert reg.load_object("/team/config:latest") == {"lr": 0.1}
    assert [f.path for f in reg.files("/team/ckpt:1")] == ["config.json", "weights/l1.bin"]

    seen: list[dict[str, str]] = []
    reg.on_reconnect(seen.append)
    reg.on_reconnect(lambda mapping: 1 / 0)  # a failing hook is logged; the sync stands
    dry = reg.push_outbox(dry_run=True)
    assert dry.created == [v1.id, v2.id, ckpt.id, config.id, code.id, link.id] and not dry.mapping
    down_server.start()
    assert down_server.registry.count() == 0  # a dry run changes nothing

    assert [a.id for a in reg.pending()] == dry.created
    sizes: list[int] = []
    report = reg.push_outbox(progress=sizes.append)
    assert report.ok and report.created == [v1.id, v2.id, ckpt.id, config.id, code.id, link.id]
    assert not report.unreachable
    assert sizes == [reg.outbox.get(i).size for i in report.created] and reg.pending() == []
    assert report.mapping == reg.mapping() and reg.server_id(v1.id) == report.mapping[v1.id]
    server = down_server.registry
    for offline_id, server_id in report.mapping.items():
        there, here = server.get(server_id), reg.outbox.get(offline_id)
        assert (there.ref, there.checksum, there.kind, there.labels, there.description) == (
            here.ref, here.checksum, here.kind, here.labels, here.description)
        assert [(f.path, f.checksum, f.mime_type) for f in server.files(server_id)] == [
            (f.path, f.checksum, f.mime_type) for f in reg.outbox.files(offline_id)]
        assert [(a.content, a.schema_name) for a in server.get_metadata(server_id)] == [
            (a.content, a.schema_name) for a in reg.outbox.get_metadata(offline_id)]
    assert server.get("/team/data:1").id == report.mapping[v1.id]  # versions in order
    assert server.get("/team/data:2").id == report.mapping[v2.id]
    assert server.get("/team/data:prod").id == report.mapping[v1.id]
    assert {(r.run_id, r.category.value) for r in server.get(report.mapping[ckpt.id]).runs} == {(RUN_B, "input")}
    assert [a.id for a in server.run_artifacts(RUN_A, "code")] == [report.mapping[code.id]]
    assert HttpRegistry(down_server.url).load_object("/team/config:latest") == {"lr": 0.1}

    assert seen == [report.mapping]  # the reconnect hook saw the mapping once
    before = _server_state(server)
    again = reg.push_outbox()
    assert again.created == [] and again.skipped == report.created and again.mapping == report.mapping
    assert _server_state(server) == before and len(seen) == 1
    reg.close()


def test_edits_of_a_synced_offline_artifact_reach_the_server(down_server: LiveServer, tmp_path: Path) -> None:
    reg = _offline(down_server)
    (tmp_path / "a.txt").write_text("a")
    held = reg.upload_file(tmp_path / "a.txt", name="a", folder="/team", labels=["raw"])
    reg.upload_file(tmp_path / "a.txt", name="b", folder="/team")
    down_server.start()
    server_id = reg.push_outbox().mapping[held.id]
    reg.outbox.close()
    reg = _offline(down_server)  # a new process: the held ids are all it has
    pending_edit = reg.upload_file(tmp_path / "a.txt", name="c", folder="/team")  # still offline-only

    reg.add_metadata(held.id, {"checked": True})
    reg.set_alias(held.id, "prod")
    reg.attach(held.id, RUN_A, "input")
    held = reg.update(held.id, labels=["raw", "clean"])
    reg.add_metadata(pending_edit.id, {"queued": True})  # an unsynced one is edited in the outbox
    server = down_server.registry
    there = server.get(server_id)
    assert [a.content for a in server.get_metadata(server_id)] == [{"checked": True}]
    assert server.get("/team/a:prod").id == server_id and there.labels == ["raw", "clean"]
    assert [r.run_id for r in there.runs] == [RUN_A]
    assert [a.content for a in reg.outbox.get_metadata(pending_edit.id)] == [{"queued": True}]
    assert server.count() == 2 and reg.pending()[0].id == pending_edit.id  # b synced, c waits

    down_server.stop()
    with pytest.raises(OfflineError, match="server can not be reached"):  # an edit never lands in a done copy
        reg.add_metadata(held.id, {"lost": True})
    reg.delete(pending_edit.id)
    assert reg.pending() == []
    reg.close()


def test_a_group_chosen_offline_is_replayed(down_server: LiveServer, tmp_path: Path) -> None:
    reg = _offline(down_server)
    (tmp_path / "a.txt").write_text("a")
    chosen = reg.upload_file(tmp_path / "a.txt", name="a", folder="/g", group="team-x", make_folder=True)
    default = reg.upload_file(tmp_path / "a.txt", name="a", folder="/h", make_folder=True)
    down_server.start()
    mapping = reg.push_outbox().mapping
    online = down_server.registry.upload_file(tmp_path / "a.txt", name="a", folder="/i", make_folder=True)
    assert down_server.registry.get(mapping[chosen.id]).group_id == "team-x"
    assert down_server.registry.get(mapping[default.id]).group_id == online.group_id
    reg.close()


def test_offline_reads_miss_fast_once_the_server_did_not_answer(down_server: LiveServer) -> None:
    reg = OfflineRegistry.for_server(down_server.url, mode=True, retries=2, backoff=0.2)
    with pytest.raises(ArtifactNotFound, match="server can not be reached"):
        reg.get("/team/nothing:latest")  # asked the server (and waited for its retries)
    started = time.monotonic()
    with pytest.raises(ArtifactNotFound, match="not found|no artifact|nothing"):
        reg.get("/team/still-nothing:latest")  # the outbox only, for a while
    assert time.monotonic() - started < 0.2
    reg.close()


def test_a_conflict_is_reported_not_dropped(down_server: LiveServer, tmp_path: Path) -> None:
    reg = _offline(down_server)
    (tmp_path / "x.txt").write_text("offline")
    art = reg.upload_file(tmp_path / "x.txt", name="x", folder="/team", conflict_strategy="error")
    down_server.start()
    (tmp_path / "y.txt").write_text("online meanwhile")
    down_server.registry.upload_file(tmp_path / "y.txt", name="x", folder="/team")
    assert [c.offline_id for c in reg.push_outbox(dry_run=True).conflicts] == [art.id]
    report = reg.push_outbox()
    assert [(c.offline_id, c.strategy.value) for c in report.conflicts] == [(art.id, "error")]
    assert "already exists" in report.conflicts[0].server_answer and not report.mapping
    assert down_server.registry.count() == 1
    assert [c.offline_id for c in reg.push_outbox().conflicts] == [art.id]  # still pending, reported again
    reg.close()


def test_auto_goes_offline_while_the_server_is_down_and_says_so_once(
    down_server: LiveServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(offline_module, "RETRY_ONLINE_AFTER", 0.0)  # try the server on every call
    reg = _offline(down_server, "auto")
    (tmp_path / "a.txt").write_text("a")
    with caplog.at_level(logging.WARNING, logger="prefect_artifacts.offline"):
        first = reg.upload_file(tmp_path / "a.txt", name="a", folder="/team")
        second = reg.upload_file(tmp_path / "a.txt", name="b", folder="/team")
        assert reg.get("/team/a:latest").id == first.id  # the server is down: the outbox answers
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()
    assert reg.is_offline(first.id) and reg.is_offline(second.id)

    down_server.start()
    online = reg.upload_file(tmp_path / "a.txt", name="c", folder="/team")
    assert not reg.is_offline(online.id) and down_server.registry.get(online.id).name == "c"
    report = reg.push_outbox()
    assert report.created == [first.id, second.id]
    assert sorted(a.name for a in down_server.registry.iter()) == ["a", "b", "c"]
    reg.close()


_WRITER_CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from prefect_artifacts.registry.offline import OfflineRegistry
    reg = OfflineRegistry.for_server(sys.argv[1], mode=True, retries=0)
    for i in range(5):
        path = Path(sys.argv[2]) / f"p{sys.argv[3]}-{i}.txt"
        path.write_text(f"process {sys.argv[3]} file {i}")
        reg.upload_file(path, name=f"p{sys.argv[3]}", folder="/many")
""")


def test_concurrent_writers_to_one_outbox_sync_each_once(down_server: LiveServer, tmp_path: Path) -> None:
    children = [subprocess.Popen([sys.executable, "-c", _WRITER_CHILD, down_server.url, str(tmp_path), str(n)],
                                 env=dict(os.environ)) for n in range(2)]
    reg = _offline(down_server)
    with pytest.raises(InvalidName):  # the same validation as online
        reg.upload_file(__file__, name="no%percent", folder="/many")

    def write(n: int) -> None:
        for i in range(5):
            path = tmp_path / f"t{n}-{i}.txt"
            path.write_text(f"thread {n} file {i}")
            reg.upload_file(path, name=f"t{n}", folder="/many")

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(write, range(3)))
    assert [child.wait(60) for child in children] == [0, 0]
    assert reg.outbox.count() == 25
    down_server.start()
    report = reg.push_outbox()
    assert report.ok and len(report.created) == 25
    server = down_server.registry
    versions = sorted((a.name, a.version, a.checksum) for a in server.iter())
    assert versions == sorted((a.name, a.version, a.checksum) for a in reg.outbox.iter())  # same numbering
    reg.close()


_SYNC_CHILD = textwrap.dedent("""
    import sys
    from prefect_artifacts.registry.offline import OfflineRegistry
    reg = OfflineRegistry.for_server(sys.argv[1], mode=True, retries=0)
    print("ready", flush=True)
    sys.stdin.readline()
    reg.push_outbox()
    print("done", flush=True)
""")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_killed_sync_run_again_creates_nothing_twice(down_server: LiveServer, tmp_path: Path, seed: int) -> None:
    reg = _offline(down_server)
    made = []
    for i in range(12):
        (tmp_path / f"f{i}.txt").write_text(f"content {i} " * (i * 5000))  # some inline, some PUT
        made.append(reg.upload_file(tmp_path / f"f{i}.txt", name=f"n{i % 4}", folder="/kill",
                                    metadata={"i": i}))
        if i % 5 == 0:
            reg.set_alias(made[-1].id, f"a{i}")
    down_server.start()
    child = subprocess.Popen([sys.executable, "-c", _SYNC_CHILD, down_server.url], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        child.stdin.write("go\n")
        child.stdin.flush()
        time.sleep(random.Random(seed).uniform(0.02, 0.2))  # the 12 creates take about 0.25 s
        child.kill()
    finally:
        child.wait(10)
    first = reg.push_outbox()
    assert first.ok and sorted(first.mapping) == sorted(a.id for a in made)
    server = down_server.registry
    assert server.count() == 12
    for i, art in enumerate(made):  # versions in order, each exactly once
        there = server.get(first.mapping[art.id])
        assert (there.ref, there.checksum) == (art.ref, art.checksum)
        assert [a.content for a in server.get_metadata(there.id)] == [{"i": i}]
    assert server.get("/kill/n0:a0").id == first.mapping[made[0].id]
    assert server.get("/kill/n2:a10").id == first.mapping[made[10].id]
    state = _server_state(server)
    assert reg.push_outbox().created == [] and _server_state(server) == state
    reg.close()


def test_block_setting_and_pickling_build_the_offline_registry(
    down_server: LiveServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    block = ArtifactRegistry(api_url=down_server.url, offline=True)
    reg = block.get_registry()
    assert isinstance(reg, OfflineRegistry) and reg.mode is True
    assert Path(reg.outbox.store.url).parent == outbox_path(down_server.url)
    assert pickle.loads(pickle.dumps(reg)) is reg  # in this process: the very registry
    spec = pickle.loads(pickle.dumps(reg.spec()))
    assert spec == reg.spec() and "offline=True" in repr(spec)
    rebuilt = spec.build()
    assert isinstance(rebuilt, OfflineRegistry) and rebuilt.outbox.catalog.url == reg.outbox.catalog.url
    rebuilt.close()
    assert isinstance(ArtifactRegistry(api_url=down_server.url).get_registry(), HttpRegistry)
    monkeypatch.setenv("PREFECT_ARTIFACTS_OFFLINE", "auto")
    auto = ArtifactRegistry(api_url=down_server.url).get_registry()
    assert isinstance(auto, OfflineRegistry) and auto.mode == "auto"
    assert isinstance(ArtifactRegistry(api_url=down_server.url, offline=False).get_registry(), HttpRegistry)
    reg.close()
    auto.close()


def test_sync_outbox_task_syncs_the_servers_outbox(down_server: LiveServer, tmp_path: Path) -> None:
    from prefect_artifacts.tasks import async_outbox, sync_outbox

    reg = _offline(down_server)
    (tmp_path / "a.txt").write_text("a")
    art = reg.upload_file(tmp_path / "a.txt", name="a", folder="/team")
    down_server.start()
    online = HttpRegistry(down_server.url)  # not offline itself: the task syncs its server's outbox
    assert sync_outbox.fn(dry_run=True, registry=online).created == [art.id]
    assert down_server.registry.count() == 0
    assert sync_outbox.fn(registry=online).created == [art.id]
    assert asyncio.run(async_outbox.fn(registry=online)).skipped == [art.id]
    assert sync_outbox.fn(registry=down_server.registry).mapping == {}  # no outbox: an empty report
    online.close()
    reg.close()


def test_cli_sync_json_and_dry_run(down_server: LiveServer, tmp_path: Path) -> None:
    reg = _offline(down_server)
    (tmp_path / "a.txt").write_text("a")
    art = reg.upload_file(tmp_path / "a.txt", name="a", folder="/team")
    runner = CliRunner(env={"COLUMNS": "250"})
    down = runner.invoke(app, ["--api-url", down_server.url, "sync"])
    assert down.exit_code == EXIT_OTHER and "stopped answering" in down.output, down.output
    down_json = json.loads(runner.invoke(app, ["--json", "--api-url", down_server.url, "sync"]).stdout)
    assert down_json["unreachable"] is True and down_json["created"] == [] and len(down_json["errors"]) == 1
    down_server.start()
    dry = runner.invoke(app, ["--api-url", down_server.url, "sync", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would replay 1" in dry.output and down_server.registry.count() == 0
    result = runner.invoke(app, ["--json", "--api-url", down_server.url, "sync"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["created"] == [art.id] and document["mapping"][art.id] == down_server.registry.ids()[0]
    again = json.loads(runner.invoke(app, ["--json", "--api-url", down_server.url, "sync"]).stdout)
    assert again["created"] == [] and again["skipped"] == [art.id]
    reg.close()
