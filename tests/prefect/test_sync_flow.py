"""flows/sync.py as its scheduled deployment runs it: nothing to replay and a server still down complete the run.

Only an error the server answered with (it is up), or a conflict, fails it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from prefect_artifacts._server import NoAuth
from prefect_artifacts.registry.offline import OfflineRegistry
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry

FLOWS = Path(__file__).resolve().parents[2] / "flows"
sys.path.insert(0, str(FLOWS))

import sync as sync_mod  # noqa: E402


def test_nothing_to_replay_completes_and_says_so() -> None:
    state = sync_mod.sync(return_state=True)  # the embedded registry: no server, no outbox
    assert state.is_completed(), state
    report = state.result()
    assert report["summary"] == "nothing to replay"
    assert report["created"] == report["errors"] == [] and report["pending"] == 0
    assert report["server_unreachable"] is False


def test_an_empty_outbox_of_an_unreachable_server_is_nothing_to_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = LiveServer(make_registry(tmp_path / "server"), auth=NoAuth())  # bound, not listening
    monkeypatch.setenv("PREFECT_ARTIFACTS_API_URL", server.url)
    try:
        state = sync_mod.sync(return_state=True)
        assert state.is_completed(), state
        assert state.result()["summary"] == "nothing to replay"  # the server was not even asked
    finally:
        server.close()


def test_a_server_still_down_completes_the_run_and_keeps_the_outbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = LiveServer(make_registry(tmp_path / "server"), auth=NoAuth())  # bound, not listening
    monkeypatch.setenv("PREFECT_ARTIFACTS_API_URL", server.url)
    reg = OfflineRegistry.for_server(server.url, mode=True, retries=0)
    for name in ("a", "b"):
        (tmp_path / name).write_text(name)
    made = [reg.upload_file(tmp_path / name, name=name, folder="/sync").id for name in ("a", "b")]
    try:
        state = sync_mod.sync(return_state=True)
        assert state.is_completed(), state  # not a failure every 15 minutes while offline
        down = state.result()
        assert down["server_unreachable"] is True and down["pending"] == 2 and down["created"] == []
        assert "server unreachable: 2 artifact(s) wait" in down["summary"]
        assert [e["offline_id"] for e in down["errors"]] == made[:1]  # the sync stopped at the first
        assert [a.id for a in reg.pending()] == made  # nothing lost

        server.start()
        up = sync_mod.sync()
        assert up["created"] == made and up["pending"] == 0 and up["server_unreachable"] is False
        assert sorted(a.name for a in server.registry.iter()) == ["a", "b"]
    finally:
        server.close()
        reg.close()


def test_an_error_the_server_answered_with_still_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = LiveServer(make_registry(tmp_path / "server")).start()  # API keys required; none given
    monkeypatch.setenv("PREFECT_ARTIFACTS_API_URL", server.url)
    reg = OfflineRegistry.for_server(server.url, mode=True, retries=0)
    (tmp_path / "a").write_text("a")
    reg.upload_file(tmp_path / "a", name="a", folder="/sync")
    try:
        state = sync_mod.sync(return_state=True)
        assert state.is_failed(), state
        assert "1 offline artifact(s) not synced" in (state.message or ""), state.message
        assert len(reg.pending()) == 1
    finally:
        server.close()
        reg.close()
