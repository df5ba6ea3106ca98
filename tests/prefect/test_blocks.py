"""Blocks: Prefect's standard suite, save/load round trip, secrets, use from a new process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.blocks.core import Block
from prefect.runtime import flow_run as runtime_flow_run
from prefect.testing.standard_test_suites import BlockStandardTestSuite

from prefect_artifacts import ArtifactRegistry, ArtifactStorage
from prefect_artifacts import tasks as T

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


@pytest.mark.parametrize("block_class", [ArtifactStorage, ArtifactRegistry])
class TestAllBlocksAdhereToStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self, block_class: type[Block]) -> type[Block]:
        return block_class

    def test_has_a_valid_image(self, block: type[Block]) -> None:  # type: ignore[override]
        pytest.skip("downloads the logo: no internet on this machine")


def _registry_block(tmp_path: Path) -> ArtifactRegistry:
    storage = ArtifactStorage(basepath=str(tmp_path / "shared-blobs"),
                              storage_options={"auto_mkdir": True, "token": "s3cr3t-token"})
    return ArtifactRegistry(storage=storage, catalog_url=f"sqlite:///{tmp_path / 'shared.sqlite'}")


def test_save_load_round_trip_with_nested_storage_and_masked_secrets(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    block = _registry_block(tmp_path)
    block.save("round-trip", overwrite=True)
    loaded = ArtifactRegistry.load("round-trip")
    assert isinstance(loaded.storage, ArtifactStorage)
    assert loaded.storage.basepath == str(tmp_path / "shared-blobs")
    assert loaded.storage.storage_options.get_secret_value()["token"] == "s3cr3t-token"
    assert loaded.catalog_url.get_secret_value() == f"sqlite:///{tmp_path / 'shared.sqlite'}"
    assert "s3cr3t" not in repr(loaded) and "shared.sqlite" not in repr(loaded.catalog_url)
    with get_client(sync_client=True) as client:
        doc = client.read_block_document_by_name("round-trip", "artifact-registry", include_secrets=False)
    secret_fields = doc.block_schema.fields["secret_fields"]
    assert {"catalog_url", "api_key", "storage.storage_options.*"} <= set(secret_fields), secret_fields
    assert doc.data["catalog_url"] != loaded.catalog_url.get_secret_value()
    assert "s3cr3t" not in json.dumps(doc.model_dump(mode="json"), default=str)
    # the loaded block works
    data = tmp_path / "f.txt"
    data.write_text("hello")
    art = loaded.upload_file(data, name="via-block")
    assert loaded.get("via-block:latest").checksum == art.checksum
    assert Path(loaded.get_registry().store.root).name == "shared-blobs"


async def test_aload_and_async_methods(tmp_path: Path) -> None:
    block = _registry_block(tmp_path)
    await block.asave("async-round-trip", overwrite=True)
    loaded = await ArtifactRegistry.aload("async-round-trip")
    data = tmp_path / "g.txt"
    data.write_text("async")
    art = await loaded.aupload_file(data, name="async-via-block")
    assert (await loaded.aget(art.id)).name == "async-via-block"


def test_tasks_use_a_block_by_name_and_by_setting(tmp_path: Path, monkeypatch: Any) -> None:
    _registry_block(tmp_path).save("by-name", overwrite=True)
    data = tmp_path / "h.txt"
    data.write_text("named")

    @flow
    def job() -> str:
        T.upload_file(data, name="named", registry="by-name")
        return str(runtime_flow_run.id)

    run_id = job()
    shared = ArtifactRegistry.load("by-name")
    assert [a.name for a in shared.run_artifacts(run_id, "output")] == ["named"]
    monkeypatch.setenv("PREFECT_ARTIFACTS_REGISTRY_BLOCK", "by-name")
    T.upload_file(data, name="from-setting")
    assert shared.get("from-setting:latest").checksum == shared.get("named:latest").checksum
    # the embedded registry of this test's home saw nothing
    assert ArtifactRegistry().count() == 0


def test_blocks_work_after_loading_in_a_new_process(tmp_path: Path, prefect_harness: str) -> None:
    _registry_block(tmp_path).save("cross-process", overwrite=True)
    data = tmp_path / "x.bin"
    data.write_bytes(os.urandom(3000))
    script = textwrap.dedent(f"""
        import json
        from prefect.blocks.core import Block
        from prefect import flow
        from prefect_artifacts.tasks import upload_file
        blk = Block.load("artifact-registry/cross-process")   # generic load: class from the entry point
        assert type(blk).__name__ == "ArtifactRegistry", type(blk)

        @flow
        def remote():
            return upload_file({str(data)!r}, name="from-child", registry="cross-process")

        art = remote()
        print(json.dumps({{"id": art.id, "checksum": art.checksum, "runs": len(art.runs)}}))
    """)
    env = {**os.environ, "PREFECT_API_URL": prefect_harness, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "", "PREFECT_ARTIFACTS_HOME": str(tmp_path / "child-home")}
    env.pop("PREFECT_FLOWS_HEARTBEAT_FREQUENCY")
    proc = subprocess.run([PYTHON, "-c", script], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    here = ArtifactRegistry.load("cross-process")
    art = here.get(out["id"])
    assert art.checksum == out["checksum"] and out["runs"] == 1
    assert b"".join(here.read(art.id)) == data.read_bytes()


def test_block_register_cli_registers_both_types(prefect_harness: str) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_harness, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    proc = subprocess.run([str(Path(PYTHON).parent / "prefect"), "block", "register", "-m", "prefect_artifacts"],
                          env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = " ".join((proc.stdout + proc.stderr).split())
    assert "Successfully registered 2 blocks" in text, text


TITLES = {
    ArtifactStorage: {"basepath": "Base path", "storage_options": "Storage options"},
    ArtifactRegistry: {"storage": "Storage", "catalog_url": "Catalog URL", "api_url": "API URL", "api_key": "API key",
                       "offline": "Offline"},
}


@pytest.mark.parametrize("block_class", [ArtifactStorage, ArtifactRegistry])
def test_every_field_has_a_title_and_description_and_no_hot_linked_logo(block_class: type[Block]) -> None:
    properties = block_class.model_json_schema()["properties"]
    assert {field: spec.get("title") for field, spec in properties.items()} == TITLES[block_class]
    assert all(spec.get("description") for spec in properties.values()), properties
    assert block_class._logo_url is None  # the UI falls back to its own icon, online or not


def test_the_collection_entry_point_defines_both_block_types() -> None:
    from importlib.metadata import entry_points

    code = ("from importlib.metadata import entry_points\n"
            "from prefect.blocks.core import Block\n"
            "[ep.load() for ep in entry_points(group='prefect.collections') if ep.name == 'prefect_artifacts']\n"
            "from prefect.utilities.dispatch import get_registry_for_type\n"
            "print(sorted(k for k in get_registry_for_type(Block) if k.startswith('artifact-')))\n")
    (ep,) = [ep for ep in entry_points(group="prefect.collections") if ep.name == "prefect_artifacts"]
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[-2] == "['artifact-registry', 'artifact-storage']", (ep.value, proc.stdout)
