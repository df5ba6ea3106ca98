"""A flow run with the artifact server down registers into the outbox; the ``sync_outbox`` task replays it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.context import get_run_context

from prefect_artifacts import tasks as T
from prefect_artifacts._server import NoAuth
from prefect_artifacts.registry.offline import OfflineRegistry
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry

FLOWS = Path(__file__).resolve().parents[2] / "flows"
sys.path.insert(0, str(FLOWS))

import sync as sync_mod  # noqa: E402

#: The serializer source of ``stats``, linked to the run as code (offline: in the outbox, synced like the rest).
SERIALIZER_CODE = "serializer-prefect_artifacts.serializers.builtins"


def test_a_flow_run_offline_then_synced(tmp_path: Path) -> None:
    server = LiveServer(make_registry(tmp_path / "server"), auth=NoAuth())  # bound, not listening
    reg = OfflineRegistry.for_server(server.url, mode=True, retries=0)
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "x.txt").write_text("x")
    (tmp_path / "etl.py").write_text("print('etl')\n")

    @T.artifact_task(artifact_name="stats", folder="/flows", registry=reg)
    def stats() -> dict[str, Any]:
        return {"n": 2}

    @flow
    def pipeline() -> tuple[str, list[str]]:
        made = [T.upload_file(str(tmp_path / "data.csv"), name="data", folder="/flows", registry=reg).id,
                T.upload_dir(str(tmp_path / "tree"), name="tree", folder="/flows", registry=reg).id,
                T.log_code(str(tmp_path / "etl.py"), folder="/flows", registry=reg).id]
        stats()
        return str(get_run_context().flow_run.id), made  # type: ignore[union-attr]

    try:
        run_id, made = pipeline()
        offline = {a.name: a for a in reg.outbox.run_artifacts(run_id)}
        assert sorted(offline) == ["data", "etl.py", SERIALIZER_CODE, "stats", "tree"]
        assert set(made) <= {a.id for a in offline.values()}

        server.start()

        @flow
        def sync() -> Any:
            return T.sync_outbox(registry=reg)

        report = sync()
        assert report.ok and sorted(report.created) == sorted(a.id for a in offline.values())
        online = {a.name: a for a in server.registry.run_artifacts(run_id)}
        assert {n: (a.checksum, a.version) for n, a in online.items()} == {
            n: (a.checksum, a.version) for n, a in offline.items()}
        assert {n: {r.category.value for r in a.runs} for n, a in online.items()} == {
            "data": {"output"}, "tree": {"output"}, "etl.py": {"code"}, "stats": {"output"}, SERIALIZER_CODE: {"code"}}
        assert sync().skipped == report.created  # again: nothing new
        assert server.registry.count() == 5
    finally:
        server.close()
        reg.close()


def test_the_sync_flow_replays_the_default_servers_outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = LiveServer(make_registry(tmp_path / "server"), auth=NoAuth())
    monkeypatch.setenv("PREFECT_ARTIFACTS_API_URL", server.url)  # the tasks' default registry: that server
    reg = OfflineRegistry.for_server(server.url, mode=True, retries=0)
    (tmp_path / "a.txt").write_text("a")
    art = reg.upload_file(tmp_path / "a.txt", name="a", folder="/flows")
    try:
        assert sync_mod.sync(dry_run=True)["created"] == [art.id]  # the server is down: a dry run needs none
        server.start()
        report = sync_mod.sync()
        assert report["created"] == [art.id] and server.registry.get(report["mapping"][art.id]).name == "a"
        assert sync_mod.sync()["skipped"] == [art.id]
    finally:
        server.close()
        reg.close()


@pytest.mark.parametrize("mode", [True, "auto"])
def test_a_saved_block_keeps_its_offline_mode(mode: bool | str) -> None:
    from prefect_artifacts import ArtifactRegistry

    name = f"offline-{str(mode).lower()}"
    ArtifactRegistry(api_url="http://127.0.0.1:9/api/v1", offline=mode).save(name, overwrite=True)
    loaded = ArtifactRegistry.load(name, _sync=True)  # type: ignore[call-arg]
    assert loaded.offline == mode  # type: ignore[union-attr]
    reg = loaded.get_registry()  # type: ignore[union-attr]
    assert isinstance(reg, OfflineRegistry) and reg.mode == mode
    reg.close()
