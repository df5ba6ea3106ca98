"""Reading offline (`prefect_artifacts.registry.cache`): what was read from a server stays readable while it is down.

The server is a real uvicorn on loopback (`LiveServer`); "down" is a server that was up
and then stopped (its port refuses connections), or one not started yet.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_artifacts import OfflineError
from prefect_artifacts._server import NoAuth
from prefect_artifacts.errors import ArtifactIntegrityError, ArtifactNotFound, StorageError
from prefect_artifacts.registry.cache import ReadCache
from prefect_artifacts.registry.http import HttpRegistry
from prefect_artifacts.registry.offline import OfflineRegistry
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A running server; tests stop it to go offline."""
    live = LiveServer(make_registry(tmp_path / "server"), auth=NoAuth()).start()
    yield live
    if live.thread.is_alive():
        live.stop()
    live.registry.close()


def _stop(server: LiveServer) -> None:
    server.stop()


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_what_was_read_online_is_read_offline_verified(server: LiveServer, tmp_path: Path) -> None:
    payload = os.urandom(400_000)  # streamed (over the inline limit), several chunks
    art = server.registry.upload_file(_file(tmp_path, "data.bin", payload), name="data", folder="/team")
    config = server.registry.save_object({"lr": 0.1}, name="config", folder="/team")
    reg = OfflineRegistry.for_server(server.url, mode=True, retries=0)
    assert reg.cache is not None

    got = reg.get("/team/data:latest")
    assert got.id == art.id and b"".join(got.as_stream()) == payload  # fills the cache as it streams
    assert reg.cache.has(art.checksum or "")
    assert reg.load_object("/team/config:latest") == {"lr": 0.1}

    _stop(server)
    offline = reg.get("/team/data:latest")  # the server is asked, does not answer: the cache
    assert (offline.id, offline.checksum, offline.ref) == (art.id, art.checksum, art.ref)
    assert b"".join(reg.read("/team/data:latest")) == payload
    assert b"".join(reg.read(art.id, start=10, end=20)) == payload[10:20]
    assert reg.download(art.id, tmp_path / "out" / "copy.bin").read_bytes() == payload
    with offline.as_local_file() as tmp:
        assert tmp.read_bytes() == payload
    assert [f.path for f in reg.files(art.id)] == ["data.bin"]
    assert reg.load_object(config.id) == {"lr": 0.1}
    assert reg.load_object("/team/config:latest") == {"lr": 0.1}
    reg.close()


def test_what_was_never_read_raises_offline_error_naming_it(server: LiveServer, tmp_path: Path) -> None:
    server.registry.upload_file(_file(tmp_path, "a.txt", b"a"), name="never", folder="/team")
    reg = OfflineRegistry.for_server(server.url, mode=True, retries=0)
    entry_only = server.registry.upload_file(_file(tmp_path, "b.txt", b"b" * 5000), name="entry", folder="/team")
    reg.get(entry_only.id)  # the catalog entry is cached, its content never read
    _stop(server)

    with pytest.raises(OfflineError, match="/team/never:latest.*catalog entry") as caught:
        reg.get("/team/never:latest")
    assert isinstance(caught.value, ArtifactNotFound) and isinstance(caught.value, StorageError)
    assert caught.value.status_code == 503
    with pytest.raises(OfflineError, match="/team/never:1"):
        b"".join(reg.read("/team/never:1"))
    with pytest.raises(OfflineError, match=r"content of /team/entry:1 \(b.txt\).*only the content"):
        reg.download(entry_only.id, tmp_path / "x.txt")
    assert not (tmp_path / "x.txt").exists()
    reg.close()


def test_a_tampered_cached_blob_is_dropped_not_served(server: LiveServer, tmp_path: Path) -> None:
    payload = b"precious " * 2000
    art = server.registry.upload_file(_file(tmp_path, "p.txt", payload), name="p", folder="/team")
    reg = OfflineRegistry.for_server(server.url, mode=True, retries=0)
    assert b"".join(reg.read(art.id)) == payload
    assert reg.cache is not None
    blob = Path(reg.cache.store.blob_path(art.checksum or ""))
    os.chmod(blob, 0o644)
    blob.write_bytes(b"tampered" + payload[8:])  # same size, other content

    _stop(server)
    with pytest.raises(ArtifactIntegrityError, match="cached copy .* corrupt"):
        b"".join(reg.read(art.id))
    assert not blob.exists()  # dropped: the next read says the content is missing
    with pytest.raises(OfflineError, match="only the content"):
        b"".join(reg.read(art.id))
    reg.close()


def test_the_cache_evicts_the_least_recently_used_past_its_bound(server: LiveServer, tmp_path: Path) -> None:
    arts = [server.registry.upload_file(_file(tmp_path, f"{n}.bin", os.urandom(1000)), name=n, folder="/team")
            for n in "abc"]
    cache = ReadCache(tmp_path / "cache", max_bytes=2500)
    reg = OfflineRegistry(HttpRegistry(server.url, retries=0), mode=True, cache=cache)
    a, b, c = arts
    for art in (a, b, a):  # a is used again after b
        b"".join(reg.read(art.id))
        time.sleep(0.02)
    assert cache.has(a.checksum or "") and cache.has(b.checksum or "")
    b"".join(reg.read(c.id))  # 3000 bytes: over the bound, b goes
    assert [cache.has(x.checksum or "") for x in arts] == [True, False, True] and cache.size() <= 2500

    _stop(server)
    assert len(b"".join(reg.read(a.id))) == 1000
    with pytest.raises(OfflineError, match=f"content of {b.ref}"):
        b"".join(reg.read(b.id))
    reg.close()


def test_listing_offline_covers_the_outbox_and_cached_entries_and_says_it_may_be_incomplete(
    server: LiveServer, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    seen = server.registry.upload_file(_file(tmp_path, "s.txt", b"s"), name="seen", folder="/team",
                                       labels=["raw"])
    server.registry.upload_file(_file(tmp_path, "u.txt", b"u"), name="unseen", folder="/team", labels=["raw"])
    reg = OfflineRegistry.for_server(server.url, mode="auto", retries=0)
    reg.get(seen.id)
    _stop(server)
    mine = reg.upload_file(_file(tmp_path, "m.txt", b"m"), name="mine", folder="/team", labels=["raw"])

    with caplog.at_level(logging.WARNING, logger="prefect_artifacts.offline"):
        page = reg.list(page_length=10, search="label:raw")
        assert reg.count(search="label:raw") == 2
        assert [a.name for a in reg.iter(page_length=1)] == ["seen", "mine"]
    assert sorted(a.id for a in page.data) == sorted([seen.id, mine.id]) and page.total == 2
    assert [a.name for a in reg.list(search="name:se*").data] == ["seen"]
    assert reg.list(search="name:unseen").data == []  # never read here: not known offline
    incomplete = [r for r in caplog.records if "may be incomplete" in r.getMessage()]
    assert len(incomplete) == 1
    reg.close()


def test_on_reconnect_rewrites_an_offline_artifact_to_the_servers(tmp_path: Path) -> None:
    down = LiveServer(make_registry(tmp_path / "server"), auth=NoAuth())  # refuses connections until start
    try:
        reg = OfflineRegistry.for_server(down.url, mode=True, retries=0)
        art = reg.upload_file(_file(tmp_path, "d.csv", b"a,b\n"), name="d", folder="/team")
        other = reg.upload_file(_file(tmp_path, "e.csv", b"c,d\n"), name="e", folder="/team")
        offline_id, other_id = art.id, other.id
        assert art.on_reconnect({}) is art and art.id == offline_id  # not synced: unchanged
        reg.on_reconnect(art.on_reconnect)
        down.start()
        down.registry.upload_file(_file(tmp_path, "x.csv", b"x"), name="d", folder="/team")  # d:1 is taken

        report = reg.push_outbox()
        assert art.id == report.mapping[offline_id] != offline_id
        there = down.registry.get(art.id)
        assert (art.ref, art.version) == (there.ref, 2) and b"".join(art.as_stream()) == b"a,b\n"
        assert other.id == other_id  # not hooked
        assert other.on_reconnect(reg.mapping()).id == report.mapping[other_id]
        assert other.on_reconnect(reg.mapping()).id == report.mapping[other_id]  # idempotent
        reg.close()
    finally:
        down.close()


def test_a_directory_downloaded_online_is_downloaded_offline(server: LiveServer, tmp_path: Path) -> None:
    tree = tmp_path / "ckpt"
    (tree / "weights").mkdir(parents=True)
    (tree / "weights" / "l1.bin").write_bytes(os.urandom(300_000))
    (tree / "config.json").write_text("{}")
    art = server.registry.upload_dir(tree, name="ckpt", folder="/team")
    reg = OfflineRegistry.for_server(server.url, mode=True, retries=0)
    reg.download_dir("/team/ckpt:latest", tmp_path / "online")

    _stop(server)
    out = reg.download_dir("/team/ckpt:latest", tmp_path / "offline")
    assert (out / "weights" / "l1.bin").read_bytes() == (tree / "weights" / "l1.bin").read_bytes()
    assert (out / "config.json").read_text() == "{}"
    assert b"".join(reg.get(art.id).as_stream(path="config.json")) == b"{}"
    reg.close()


def test_without_a_cache_offline_reads_say_so(server: LiveServer, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    art = server.registry.upload_file(_file(tmp_path, "n.txt", b"n"), name="n", folder="/team")
    monkeypatch.setenv("PREFECT_ARTIFACTS_CACHE_BYTES", "0")
    reg = OfflineRegistry.for_server(server.url, mode=True, retries=0)
    assert reg.cache is None and b"".join(reg.read(art.id)) == b"n"
    _stop(server)
    with pytest.raises(OfflineError, match="not cached"):
        reg.get(art.id)
    with pytest.raises(OfflineError, match="needs the server"):
        reg.attach(art.id, "11111111-1111-4111-8111-111111111111")
    reg.close()
