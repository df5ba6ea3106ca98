"""Objects over the HTTP registry: the serializers use only the Registry interface."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from prefect_artifacts import SnapshotIntegrityError


@pytest.fixture
def http_reg(embedded_registry):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from prefect_artifacts._server.app import create_app
    from prefect_artifacts._server.auth import NoAuth
    from prefect_artifacts.registry.http import HttpRegistry

    client = TestClient(create_app(embedded_registry, auth=NoAuth()))
    http = HttpRegistry("http://testserver/api/v1", client=client)
    yield http
    http.close()


def test_save_and_load_over_http(embedded_registry, http_reg, plugins, _isolated_home) -> None:
    arr = np.arange(6, dtype=np.int8).reshape(2, 3)
    art = http_reg.save_object(arr, name="arr")
    np.testing.assert_array_equal(http_reg.load_object("arr"), arr)
    np.testing.assert_array_equal(embedded_registry.load_object(art.id), arr)  # same catalog, read in process

    module = plugins.unique()
    name = f"tagged-{module}"
    plugins.tagged_module(module, name, tag="v1")
    plugins.load(module)
    obj = http_reg.save_object({"x": 1}, name="obj", serializer=name)
    assert embedded_registry.get_plugin_snapshot(obj.serializer.snapshot_id).files[0].path == f"{module}.py"
    assert http_reg.load_object(obj.id) == {"tag": "v1", "value": {"x": 1}}

    # a second, fresh snapshot mount over HTTP is refused when the server's blob is tampered
    other = f"{module}_b"
    plugins.tagged_module(other, f"tagged-{other}", tag="v9")
    plugins.load(other)
    bad = http_reg.save_object(1, name="bad", serializer=f"tagged-{other}")
    digest = embedded_registry.get_plugin_snapshot(bad.serializer.snapshot_id).files[0].checksum
    blob = _isolated_home / "blobs" / "sha256" / digest[:2] / digest
    blob.chmod(0o644)
    blob.write_text("raise SystemExit('tampered code ran')\n")
    with pytest.raises(SnapshotIntegrityError):
        http_reg.load_object(bad.id)
    reports = {r.artifact_id: r for r in http_reg.check_loadable()}
    assert reports[obj.id].ok and not reports[bad.id].ok
