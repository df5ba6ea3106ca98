"""Corrupted, truncated or missing blobs are detected by every retrieval path of the registry."""

from __future__ import annotations

import os
import resource
import signal
import tempfile
from pathlib import Path

import pytest

from prefect_artifacts.errors import ArtifactIntegrityError, BlobNotFound, StorageError
from prefect_artifacts.models import Artifact
from prefect_artifacts.registry.local import LocalRegistry

SIZE = 2 * 1024 * 1024 + 17


def flip(reg: LocalRegistry, digest: str, offset: int) -> None:
    path = reg.store.blob_path(digest)
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def truncate(reg: LocalRegistry, digest: str) -> None:
    os.truncate(reg.store.blob_path(digest), SIZE - 1)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files of this test land in a folder of its own, so leftovers can be counted."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def big(local_registry: LocalRegistry, tmp_path: Path) -> Artifact:
    data = (bytes(range(256)) * (SIZE // 256 + 1))[:SIZE]
    (tmp_path / "big.bin").write_bytes(data)
    return local_registry.upload_file(tmp_path / "big.bin", name="big")


@pytest.mark.parametrize("damage", ["flip-first", "flip-last", "truncate"])
def test_damaged_file_artifact_is_never_returned(
    local_registry: LocalRegistry, big: Artifact, tmp_path: Path, private_tmp: Path, damage: str
) -> None:
    digest = big.checksum
    assert digest is not None
    if damage == "truncate":
        truncate(local_registry, digest)
    else:
        flip(local_registry, digest, 0 if damage == "flip-first" else SIZE - 1)

    received = 0
    with pytest.raises(ArtifactIntegrityError):
        for chunk in big.as_stream(chunk_size=64 * 1024):
            received += len(chunk)
    assert received < SIZE
    with pytest.raises(ArtifactIntegrityError):
        big.open()
    with pytest.raises(ArtifactIntegrityError):
        b"".join(big.download_content())

    out = tmp_path / "out"
    with pytest.raises(ArtifactIntegrityError):
        big.as_local_file(out / "kept.bin")
    assert not out.exists() or list(out.iterdir()) == []
    with pytest.raises(ArtifactIntegrityError):
        big.as_local_file()
    assert list(private_tmp.iterdir()) == []  # the temporary file is gone too
    with pytest.raises(ArtifactIntegrityError):
        big.get_contents(output_dir=out)
    assert not out.exists() or list(out.iterdir()) == []
    assert local_registry.store.verify(digest) is False


def test_damaged_file_in_a_directory_artifact(local_registry: LocalRegistry, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "ok.txt").write_text("fine")
    (root / "sub" / "bad.bin").write_bytes(b"x" * 100_000)
    art = local_registry.upload_dir(root, name="tree")
    bad = next(f for f in art.files if f.path == "sub/bad.bin")
    flip(local_registry, bad.checksum or "", 50_000)
    out = tmp_path / "out"
    for file_type in ("tar_gz", "zip"):
        with pytest.raises(ArtifactIntegrityError):
            art.get_contents(file_type=file_type, output_dir=out)
        with pytest.raises(ArtifactIntegrityError):
            art.get_contents(file_type=file_type, artifact_path="sub", output_dir=out)
    with pytest.raises(ArtifactIntegrityError):
        art.get_contents(artifact_path="sub/bad.bin", output_dir=out)
    assert not out.exists() or list(out.iterdir()) == []
    assert art.get_contents(artifact_path="ok.txt", output_dir=out).read_text() == "fine"
    assert b"".join(art.as_stream(path="ok.txt")) == b"fine"


def test_missing_blob_is_blob_not_found(local_registry: LocalRegistry, big: Artifact, tmp_path: Path) -> None:
    os.unlink(local_registry.store.blob_path(big.checksum or ""))
    with pytest.raises(BlobNotFound):
        b"".join(big.as_stream())
    with pytest.raises(BlobNotFound):
        big.as_local_file(tmp_path / "x.bin")
    assert not (tmp_path / "x.bin").exists()


def test_ranges_are_verified_chunk_by_chunk(local_registry: LocalRegistry, big: Artifact) -> None:
    """A byte range is checked against the blob's chunk index: the corrupt chunk is refused, others are served."""
    flip(local_registry, big.checksum or "", 10)
    with pytest.raises(ArtifactIntegrityError, match="chunk index"):
        b"".join(local_registry.read(big.id, start=8, end=12))
    data = (bytes(range(256)) * (SIZE // 256 + 1))[:SIZE]
    assert b"".join(local_registry.read(big.id, start=SIZE - 100)) == data[-100:]  # the last chunk is intact


def test_write_failure_mid_blob_leaves_nothing(local_registry: LocalRegistry, tmp_path: Path) -> None:
    """A disk that fills up (here: RLIMIT_FSIZE, writes fail with EFBIG) fails the upload cleanly."""
    data = os.urandom(1 << 20) * 5
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, hard))
    try:
        with pytest.raises(StorageError):
            local_registry.upload_file(src, name="big")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert local_registry.count() == 0
    assert list(local_registry.store.iter_temp()) == [] and list(local_registry.store.iter_blobs()) == []
    art = local_registry.upload_file(src, name="big")  # room again: the retry works
    assert b"".join(art.as_stream()) == data
