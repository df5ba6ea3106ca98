"""Content on Azure Blob Storage: adlfs against a real Azurite on loopback.

Azurite (``azurite_server`` in tests/support/services.py; `make azurite` installs it from
npm into .node/) runs in memory for the session; each test gets a fresh container, reached
with the development account's connection string. The ContentStore and registry cases
are shared with the other object stores (tests/support/object_store_cases.py). Of the
registry contract, the classes that exercise the store run here (uploads of files and directories, deduplication,
streams and verified byte ranges, downloads and bundles, deletion and gc): the whole suite
takes about a minute per emulator, over the suite's budget; its catalog-only classes
(names, versions, search, runs, metadata…) run against local blobs elsewhere.

Moves into place wait for Azure's copy: adlfs's ``cp_file`` only starts a Copy Blob,
which Azure may answer ``pending`` (Azurite always copies at once, so the waiting itself
is driven below by a list of answers and a clock that does not sleep). A copy that fails,
or is still pending at the timeout (then aborted), is deleted from its content address
unless a good blob replaced it meantime: a store subclass reports the copy's status, the
copy id, etag, abort and conditional delete are Azurite's own.

Listings cross pages: Azure answers at most 5,000 blobs a request, and adlfs lists with
the SDK's default page size; the listing test makes the SDK's pages small instead
(``results_per_page``, which Azurite honours), so 42 objects take seven pages.

Presigned URLs work: adlfs signs a read-only SAS with the account key, so an embedded
registry's ``download_url`` is a URL a plain HTTP GET reads the blob from (tested below),
until it expires; it cannot write.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from prefect_artifacts.errors import StorageError
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.storage.fsspec_store import (
    COPY_POLL_FIRST,
    COPY_POLL_MAX,
    AzureCopy,
    ObjectContentStore,
    azure_copy_status,
    wait_for_copy,
)
from tests.support.object_store_cases import *  # noqa: F403 - the shared cases, collected here
from tests.support.object_store_cases import ObjectStoreRegistryContract, blob_key, keys, payload, sha
from tests.support.services import AzuriteServer


@pytest.fixture
def store_url(azure_store_url: str) -> str:
    return azure_store_url


@pytest.fixture
def store_options(azure_options: dict[str, Any]) -> dict[str, Any]:
    return azure_options


@pytest.fixture
def raw_fs(azurite_server: AzuriteServer) -> Any:
    return azurite_server.filesystem()


def test_store_url_is_abfs(registry: LocalRegistry, store_url: str) -> None:  # noqa: F405
    assert store_url.startswith("abfs://") and registry.store.url == store_url


def test_download_url_is_a_read_only_sas(registry: LocalRegistry, tmp_path: Path) -> None:  # noqa: F405
    data = payload(70_000, seed=5)
    (tmp_path / "a.bin").write_bytes(data)
    art = registry.upload_file(tmp_path / "a.bin", name="a")
    url = art.download_url
    assert url is not None and url.startswith("http://127.0.0.1:") and "sig=" in url and "sp=r" in url
    assert f"/sha256/{art.checksum[:2]}/{art.checksum}?" in url  # type: ignore[index]
    got = httpx.get(url)
    assert got.status_code == 200 and got.content == data
    # read only: the same URL cannot overwrite the blob, nor can a URL whose signature was altered read it
    refused = httpx.put(url, content=b"evil", headers={"x-ms-blob-type": "BlockBlob"})
    assert refused.status_code == 403
    assert httpx.get(url.replace("sig=", "sig=A")).status_code == 403
    assert registry.get("a").open().read() == data


# Listings of more than one page ------------------------------------------------------------------

#: Blobs per page of Azure's list calls in `small_pages` (Azure's own limit is 5,000).
PAGE = 7


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Azure's list calls return `PAGE` blobs a page; the URLs of the list requests sent are collected.

    adlfs lists through the SDK's ``ContainerClient.list_blobs`` without a page size: this
    gives that call (the SDK's, not ours) ``results_per_page``, and a ``raw_response_hook``
    that sees every page's request. Calls that ask for a page size keep theirs.
    """
    from azure.storage.blob.aio import ContainerClient

    requests: list[str] = []
    list_blobs = ContainerClient.list_blobs

    def paged(self: ContainerClient, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("results_per_page", PAGE)
        kwargs.setdefault("raw_response_hook", lambda answer: requests.append(unquote(str(answer.http_request.url))))
        return list_blobs(self, *args, **kwargs)

    monkeypatch.setattr(ContainerClient, "list_blobs", paged)
    return requests


def listing(requests: list[str], folder: str) -> list[str]:
    """The list requests of `small_pages` for the pages of a store's folder (not its one-blob existence checks)."""
    return [url for url in requests if f"prefix=artifacts/{folder}/" in url and f"maxresults={PAGE}" in url]


def test_gc_lists_every_blob_across_pages_once(registry: LocalRegistry, raw_fs: Any, store_url: str,  # noqa: F405
                                                small_pages: list[str]) -> None:
    store = registry.store
    digests = sorted(store.put_bytes(f"blob {i}".encode()).digest for i in range(30))
    for i in range(12):
        raw_fs.pipe_file(f"{store.root}/tmp/{i}.part", b"abandoned")
    small_pages.clear()
    listed = [digest for digest, _size, _mtime in store.iter_blobs()]
    assert sorted(listed) == digests  # each once, none missing
    pages = listing(small_pages, "sha256")
    assert len(pages) == 5  # 30 blobs, 7 a page: each page asked from where the last ended
    assert ["marker=" in url for url in pages] == [False, True, True, True, True]
    small_pages.clear()
    report = registry.gc(grace_seconds=0)  # lists blobs and tmp/ again, then deletes what it saw
    assert (report.blobs_deleted, report.temp_files_deleted) == (30, 12)
    assert len(listing(small_pages, "sha256")) == 5 and len(listing(small_pages, "tmp")) == 2
    assert keys(raw_fs, store_url) == []


# Copies into place: wait until Azure says the copy succeeded, then delete the source --------------


class CopyWatched(ObjectContentStore):
    """The real Azure store, noting what Azure said of each copy and whether its source was still there."""

    raw_fs: Any = None
    seen: list[tuple[str, str | None, bool]]

    def _copy_state(self, path: str) -> AzureCopy:
        state = super()._copy_state(path)
        self.seen.append((path, state.status, bool(self.raw_fs.find(f"{self.root}/tmp"))))
        return state


def test_a_blob_copied_into_place_is_whole_and_its_source_deleted_once_azure_says_done(
        store_url: str, store_options: dict[str, Any], raw_fs: Any) -> None:
    store = CopyWatched(store_url, store_options)
    store.raw_fs, store.seen = raw_fs, []
    data = payload(700_000, seed=11)
    digest = store.put_stream(iter([data[:300_000], data[300_000:]])).digest  # through tmp/, then a copy
    final = store.blob_path(digest)
    assert store.seen == [(final, "success", True)]  # asked about the destination while the source was there
    assert raw_fs.cat_file(final) == data
    assert not [k for k in keys(raw_fs, store_url) if k.startswith("tmp/")]  # then the source went
    small = store.put_bytes(b"one PUT").digest  # no copy: Azure reports no copy status
    assert azure_copy_status(raw_fs, store.blob_path(small)) is None and len(store.seen) == 1
    with pytest.raises(StorageError, match="not found"):
        azure_copy_status(raw_fs, store.blob_path("0" * 64))


class CopyEnds(ObjectContentStore):
    """The real Azure store, whose copies Azure reports ending ``end`` (Azurite never fails nor delays one).

    ``failed`` or ``aborted``; or ``pending``: still pending at the timeout (0 s here), then
    ``aborted`` once the store aborted it. The copy id and etag are Azurite's own, and the
    abort really is sent (Azurite refuses it: its copy is over). ``replace``: bytes that a
    concurrent upload of the same content PUTs over the destination right after the first look.
    """

    copy_timeout = 0.0
    end = "failed"
    replace: bytes | None = None
    raw_fs: Any = None
    ids: list[str | None]  # the copy id Azurite gave at each look
    aborts: list[tuple[str, str]]  # (copy id, what Azurite answered) for each abort sent

    def _copy_state(self, path: str) -> AzureCopy:
        real = super()._copy_state(path)
        self.ids.append(real.copy_id)
        if real.copy_id is None:  # no copy there: a PUT replaced it
            return real
        assert real.status == "success"  # the real copy did happen
        if self.replace is not None:
            self.raw_fs.pipe_file(path, self.replace)
            self.replace = None
        return dataclasses.replace(real, status="aborted" if self.aborts else self.end)

    def _abort_copy(self, path: str, copy_id: str) -> None:
        try:
            super()._abort_copy(path, copy_id)
        except StorageError as exc:
            self.aborts.append((copy_id, str(exc)))
            raise
        self.aborts.append((copy_id, "aborted"))


def copy_ends(end: str, store_url: str, store_options: dict[str, Any], raw_fs: Any,
              replace: bytes | None = None) -> CopyEnds:
    store = CopyEnds(store_url, store_options)
    store.end, store.raw_fs, store.replace, store.ids, store.aborts = end, raw_fs, replace, [], []
    return store


@pytest.mark.parametrize("end", ["failed", "aborted", "pending"])
def test_a_copy_that_did_not_succeed_raises_leaves_the_source_and_nothing_at_the_key(
        end: str, store_url: str, store_options: dict[str, Any], raw_fs: Any) -> None:
    store = copy_ends(end, store_url, store_options, raw_fs)
    data = payload(50_000, seed=12)
    tmp, final = f"{store.root}/tmp/moving.part", f"{store.root}/sha256/ab/{'ab' * 32}"
    raw_fs.pipe_file(tmp, data)
    with pytest.raises(StorageError, match=f"{final}.*'{end}'"):
        store._move_into_place(tmp, final, True)
    assert raw_fs.cat_file(tmp) == data  # the source stays for whoever retries or cleans up
    assert not raw_fs.exists(final)  # the failed (or aborted) copy is off the content address
    copy_id = store.ids[0]
    assert copy_id is not None
    if end == "pending":  # aborted by its id (a wrong one Azurite would answer CopyIdMismatch), looked at again
        [(aborted_id, answer)] = store.aborts
        assert aborted_id == copy_id and "NoPendingCopyOperation" in answer and store.ids == [copy_id, copy_id]
    else:
        assert store.aborts == [] and store.ids == [copy_id]


def test_after_a_failed_copy_the_same_content_is_stored_again_not_reused(
        store_url: str, store_options: dict[str, Any], raw_fs: Any) -> None:
    data = payload(700_000, seed=13)
    digest = sha(data)
    failing = copy_ends("failed", store_url, store_options, raw_fs)
    with pytest.raises(StorageError, match="'failed'"):
        failing.put_stream(iter([data[:300_000], data[300_000:]]))
    assert not failing.exists(digest) and keys(raw_fs, store_url) == []  # no blob; the caller dropped the temp
    store = ObjectContentStore(store_url, store_options)
    info = store.put_stream(iter([data]))
    assert info.digest == digest and info.written  # stored anew, not deduplicated against a broken blob
    assert azure_copy_status(raw_fs, store.blob_path(digest)) == "success"
    assert b"".join(store.read(digest)) == data and store.verify(digest)  # read back, SHA-256 checked
    assert blob_key(digest) in keys(raw_fs, store_url)


@pytest.mark.parametrize("end", ["failed", "pending"])
def test_a_good_blob_written_over_the_failed_copy_meanwhile_is_not_deleted(
        end: str, store_url: str, store_options: dict[str, Any], raw_fs: Any) -> None:
    data = payload(700_000, seed=14)
    digest = sha(data)
    store = copy_ends(end, store_url, store_options, raw_fs, replace=data)  # a concurrent upload's PUT
    with pytest.raises(StorageError, match=f"'{end}'"):
        store.put_stream(iter([data]))
    final = store.blob_path(digest)
    assert raw_fs.cat_file(final) == data and azure_copy_status(raw_fs, final) is None  # the PUT's blob stays
    assert ObjectContentStore(store_url, store_options).verify(digest)
    if end == "pending":  # the abort named a copy no longer there, and the second look saw no copy
        [(aborted_id, answer)] = store.aborts
        assert aborted_id == store.ids[0] and "CopyIdMismatch" in answer and store.ids[1:] == [None]


class CopyStuck(CopyEnds):
    """A copy Azure keeps reporting ``pending``, whose abort fails on the way (a network error, say)."""

    copy_timeout = 0.0
    end = "pending"

    def _copy_state(self, path: str) -> AzureCopy:
        return dataclasses.replace(super()._copy_state(path), status="pending")

    def _abort_copy(self, path: str, copy_id: str) -> None:
        self.aborts.append((copy_id, "connection reset"))
        raise StorageError("aborting the copy: connection reset")


def test_a_copy_that_may_still_run_keeps_its_source_for_gc_and_its_destination(
        store_url: str, store_options: dict[str, Any], raw_fs: Any) -> None:
    store = CopyStuck(store_url, store_options)
    store.raw_fs, store.replace, store.ids, store.aborts = raw_fs, None, [], []
    data = payload(700_000, seed=15)
    with pytest.raises(StorageError, match="'pending'"):
        store.put_stream(iter([data[:300_000], data[300_000:]]))  # _put discards its temp object on failure
    [tmp] = [k for k in keys(raw_fs, store_url) if k.startswith("tmp/")]
    assert raw_fs.cat_file(f"{store.root}/{tmp}") == data  # the copy may still read its source
    assert raw_fs.cat_file(store.blob_path(sha(data))) == data  # nor was the (maybe running) copy deleted
    assert [a for _id, a in store.aborts] == ["connection reset"] and store.ids == [store.ids[0]] * 2
    assert store._copy_sources == set()  # kept once, not forever: a later discard of that path deletes
    store._discard(f"{store.root}/{tmp}")
    assert not [k for k in keys(raw_fs, store_url) if k.startswith("tmp/")]


class Clock:
    """A monotonic clock that moves only when slept on, recording each pause."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def statuses(*answers: str | None) -> Any:
    """A ``status()`` giving ``answers`` in turn, and failing the test if asked once more."""
    left = list(answers)

    def status() -> str | None:
        assert left, "asked again after the copy was over"
        return left.pop(0)

    status.left = left  # type: ignore[attr-defined]
    return status


def test_wait_for_copy_polls_a_pending_copy_with_growing_pauses_until_it_succeeds() -> None:
    clock, status = Clock(), statuses("pending", "pending", "pending", "success")
    wait_for_copy(status, "c/k", sleep=clock.sleep, clock=clock)
    assert clock.pauses == [COPY_POLL_FIRST, 2 * COPY_POLL_FIRST, 4 * COPY_POLL_FIRST] and status.left == []


@pytest.mark.parametrize("answer", [None, "success"], ids=["written-by-a-put", "copied-at-once"])
def test_wait_for_copy_returns_at_once_when_there_is_nothing_to_wait_for(answer: str | None) -> None:
    clock = Clock()
    wait_for_copy(statuses(answer), "c/k", sleep=clock.sleep, clock=clock)
    assert clock.pauses == []


@pytest.mark.parametrize("end", ["failed", "aborted"])
def test_wait_for_copy_raises_when_the_copy_ends_otherwise(end: str) -> None:
    clock, status = Clock(), statuses("pending", end)
    with pytest.raises(StorageError, match=f"c/sha256/k: copy status '{end}'"):
        wait_for_copy(status, "c/sha256/k", sleep=clock.sleep, clock=clock)
    assert clock.pauses == [COPY_POLL_FIRST] and status.left == []


def test_wait_for_copy_gives_up_on_a_copy_still_pending_after_the_timeout() -> None:
    clock, status = Clock(), statuses(*["pending"] * 100)
    with pytest.raises(StorageError, match="c/k: copy status 'pending' after 20 s"):
        wait_for_copy(status, "c/k", timeout=20, sleep=clock.sleep, clock=clock)
    # doubling from 0.05 s, at most 5 s, the last one cut to the deadline: the whole timeout, not past it
    assert (COPY_POLL_FIRST, COPY_POLL_MAX) == (0.05, 5.0)
    assert clock.pauses == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 3.65])
    assert clock.now == pytest.approx(20) and len(status.left) == 100 - 11  # a look first, then one per pause


class TestAzureRegistry(ObjectStoreRegistryContract):
    """The store's part of the registry contract, blobs in a fresh Azurite container per test."""

    __test__ = True
