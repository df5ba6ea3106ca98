"""`LocalRegistry.for_principal`: the server's possession and manifest rules, in process."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from prefect_artifacts.errors import BlobNotFound, InvalidArtifactInput, SnapshotIntegrityError
from prefect_artifacts.models import ArtifactKind, ArtifactManifest, ManifestFile, SnapshotFile
from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.testing import payload
from tests.support.registries import tenant_registries


@pytest.fixture
def tenants(local_registry: LocalRegistry) -> dict[str, LocalRegistry]:
    return tenant_registries(local_registry)


def _manifest(folder: str, digest: str, **fields: object) -> ArtifactManifest:
    base = {"folder": folder, "name": "copy", "kind": ArtifactKind.FILE, "files": [ManifestFile(path="m.bin",
                                                                                              digest=digest)]}
    return ArtifactManifest.model_validate({**base, **fields})


def test_a_digest_alone_gives_nothing(tenants: dict[str, LocalRegistry], tmp_path: Path) -> None:
    data = payload(400_000, seed=1)
    (tmp_path / "m.bin").write_bytes(data)
    alice, bob, carol = tenants["alice"], tenants["bob"], tenants["carol"]
    art = alice.upload_file(tmp_path / "m.bin", name="model", folder="/team-a")
    digest = art.checksum or ""
    assert alice.usable_blob(digest) == len(data) and carol.usable_blob(digest) == len(data)  # carol reads team-a
    assert bob.usable_blob(digest) is None
    with pytest.raises(BlobNotFound, match="has not been uploaded"):
        bob.create(_manifest("/team-b", digest), make_folder=True)
    with pytest.raises(SnapshotIntegrityError, match="has not been uploaded"):
        listed = [SnapshotFile(path="p.py", checksum=digest, size=len(data))]
        bob.register_plugin_snapshot("p", None, hashlib.sha256(f"p.py\0{digest}\n".encode()).hexdigest(), listed)
    made, created = carol.create(_manifest("/team-c", digest), make_folder=True)  # she can read it: she possesses it
    assert created and (made.size, made.checksum, made.group_id) == (len(data), digest, "team-c")


def test_sending_the_bytes_makes_them_yours_without_a_second_copy(tenants: dict[str, LocalRegistry],
                                                                 local_registry: LocalRegistry) -> None:
    data = payload(400_000, seed=2)
    digest = hashlib.sha256(data).hexdigest()
    tenants["alice"].create(_manifest("/team-a", digest), make_folder=True, blobs={digest: data})
    bob = tenants["bob"]
    receiver = bob.receive_blob(digest)
    assert receiver.usable is None
    info = receiver.put_stream(iter([data[:1000], data[1000:]]), expected_digest=digest)
    assert (info.digest, info.size, info.written) == (digest, len(data), False)  # verified, not rewritten
    assert sum(1 for _ in local_registry.store.iter_blobs()) == 1
    assert bob.receive_blob(digest).usable == len(data)
    art, _created = bob.create(_manifest("/team-b", digest), make_folder=True)
    assert b"".join(art.as_stream()) == data


def test_the_embedded_registry_refuses_what_the_server_refuses(local_registry: LocalRegistry) -> None:
    data = b"some content"
    digest = hashlib.sha256(data).hexdigest()
    for bad in (dict(size=3), dict(checksum="0" * 64), dict(kind=ArtifactKind.DIRECTORY)):
        with pytest.raises(InvalidArtifactInput):
            local_registry.create(_manifest("/x", digest, **bad), make_folder=True, blobs={digest: data})
    twice = ArtifactManifest(folder="/x", name="twice", kind=ArtifactKind.DIRECTORY, is_dir=True,
                             files=[ManifestFile(path=p, digest=digest) for p in ("same", "./same")])
    with pytest.raises(InvalidArtifactInput, match="appears twice"):
        local_registry.create(twice, make_folder=True, blobs={digest: data})
    assert local_registry.count() == 0
    art, _ = local_registry.create(_manifest("/x", digest), make_folder=True, blobs={digest: data})
    assert (art.size, art.checksum, art.is_dir) == (len(data), digest, False)


def test_a_principals_view_is_not_reopened_elsewhere(tenants: dict[str, LocalRegistry]) -> None:
    with pytest.raises(NotImplementedError):
        tenants["alice"].spec()
