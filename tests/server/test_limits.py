"""Limits and error bodies: clear 4xx for oversized requests, one JSON error shape, no
stack traces, the OpenAPI document published."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from prefect_artifacts._server import Limits, NoAuth
from prefect_artifacts.errors import InvalidArtifactInput, PayloadTooLarge, SearchSyntaxError
from prefect_artifacts.registry.http import HttpRegistry
from tests.support.live_server import LiveServer


@pytest.fixture
def small_server(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server(auth=NoAuth(), limits=Limits(max_request_bytes=10_000, max_query_bytes=2_000))


def _manifest(name: str, description: str = "") -> dict[str, object]:
    return {"folder": "/default", "name": name, "kind": "directory", "isDir": True, "files": [],
            "description": description}


def test_request_body_limit(small_server: LiveServer) -> None:
    url = f"{small_server.url}/artifacts"
    declared = httpx.post(url, json=_manifest("big", "x" * 20_000))
    assert declared.status_code == 413 and declared.json()["error"] == "PayloadTooLarge"

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        yield b'{"folder": "/default", "name": "big", "kind": "file", "files": [], "description": "'
        for _ in range(30):
            yield b"x" * 1000
        yield b'"}'

    streamed = httpx.post(url, content=chunked(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["error"] == "PayloadTooLarge"
    assert httpx.post(url, json=_manifest("ok", "fits")).status_code == 201
    assert small_server.registry.count() == 1


def test_query_and_page_limits(small_server: LiveServer) -> None:
    url = f"{small_server.url}/artifacts"
    too_long = httpx.get(url, params={"search": "name:" + "a" * 3_000})
    assert too_long.status_code == 414 and too_long.json()["error"] == "PayloadTooLarge"
    for page_length in (0, 10**7):
        response = httpx.get(url, params={"pageLength": page_length})
        assert response.status_code == 413 and response.json()["error"] == "PayloadTooLarge"
    with HttpRegistry(small_server.url) as reg:
        with pytest.raises(PayloadTooLarge):
            reg.list(page_length=10**7)
        with pytest.raises(PayloadTooLarge):
            reg.list(search="x" * 100_000)


def test_validation_errors_use_the_error_shape(open_server: LiveServer) -> None:
    bad_type = httpx.get(f"{open_server.url}/artifacts", params={"pageLength": "many"})
    assert bad_type.status_code == 400
    assert bad_type.json()["error"] == "InvalidArtifactInput" and "pageLength" in bad_type.json()["message"]
    bad_body = httpx.post(f"{open_server.url}/artifacts", content=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert bad_body.status_code == 400 and bad_body.json()["error"] == "InvalidArtifactInput"
    bad_name = httpx.post(f"{open_server.url}/artifacts", json=_manifest("bad%name"))
    assert bad_name.status_code == 400 and bad_name.json()["error"] == "InvalidName"
    unknown = httpx.get(f"{open_server.url}/no-such-route")
    assert unknown.status_code == 404 and set(unknown.json()) == {"error", "message"}
    method = httpx.put(f"{open_server.url}/artifacts")
    assert method.status_code == 405 and method.json()["error"] == "MethodNotAllowed"


def test_search_errors_keep_their_position(open_server: LiveServer) -> None:
    response = httpx.get(f"{open_server.url}/artifacts", params={"search": "name:("})
    body = response.json()
    assert response.status_code == 400 and body["error"] == "SearchSyntaxError"
    with HttpRegistry(open_server.url) as reg, pytest.raises(SearchSyntaxError) as remote:
        reg.list(search="name:(")
    with pytest.raises(SearchSyntaxError) as local:
        open_server.registry.list(search="name:(")
    assert remote.value.position == local.value.position == body["position"]
    assert str(remote.value) == str(local.value)
    assert isinstance(remote.value, InvalidArtifactInput)


def test_unexpected_errors_are_a_generic_500(open_server: LiveServer) -> None:
    assert httpx.post(f"{open_server.url}/artifacts", json=_manifest("one")).status_code == 201
    with open_server.registry.catalog.engine.begin() as conn:  # a row no version of the code wrote
        conn.exec_driver_sql("UPDATE artifacts SET kind = 'no-such-kind-/srv/secret'")
    response = httpx.get(f"{open_server.url}/artifacts")
    body = response.json()
    assert response.status_code == 500 and body == {
        "error": "InternalServerError", "message": "internal server error (see the server log)"}


def test_a_broken_catalog_is_a_500_that_names_no_table_or_path(open_server: LiveServer) -> None:
    assert httpx.post(f"{open_server.url}/artifacts", json=_manifest("one")).status_code == 201
    with open_server.registry.catalog.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE artifact_runs")  # break the catalog for real
    response = httpx.get(f"{open_server.url}/artifacts")
    body = response.json()
    assert response.status_code == 500 and body == {  # not retried by clients (only 502/503/504 are)
        "error": "StorageCorrupted", "message": "the server's storage or catalog failed (see the server log)"}
    for leak in ("Traceback", "File \"", "sqlite", "artifact_runs", "/"):
        assert leak not in body["message"], body


def test_openapi_is_published(open_server: LiveServer) -> None:
    spec = httpx.get(open_server.url.removesuffix("/api/v1") + "/openapi.json").json()
    paths = spec["paths"]
    for path, methods in {
        "/api/v1/artifacts": {"get", "post"}, "/api/v1/artifacts/{id}": {"get", "patch", "delete"},
        "/api/v1/artifacts/{id}/files": {"get"}, "/api/v1/artifacts/{id}/contents": {"get"},
        "/api/v1/artifacts/{id}/runs": {"get", "post"}, "/api/v1/artifacts/{id}/aspects": {"get", "post"},
        "/api/v1/artifacts/{id}/lineage": {"get"}, "/api/v1/blobs/{digest}": {"head", "put"},
        "/api/v1/plugin-snapshots": {"post"}, "/api/v1/plugin-snapshots/{id}": {"get"},
        "/api/v1/runs/{runId}/artifacts": {"get"}, "/api/v1/health": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
    page = spec["components"]["schemas"]["ArtifactPage"]["properties"]
    assert {"index", "pageLength", "totalNumResults", "isComplete", "nextCursor", "data"} <= set(page)


def test_column_limits_are_a_400_on_every_catalog(open_server: LiveServer) -> None:
    # The registry checks (one rule each, named in its words); the server only translates.
    for field, value, named in (("mimeType", "x" * 300, "mime type"), ("checksum", "c" * 200, "checksum")):
        response = httpx.post(f"{open_server.url}/artifacts", json={**_manifest("m"), field: value})
        assert response.status_code == 400 and named in response.json()["message"], field
    runs = httpx.post(f"{open_server.url}/artifacts", json={**_manifest("r"), "runs": [["r" * 65, "input"]]})
    assert runs.status_code == 400 and "run id" in runs.json()["message"]
    assert open_server.registry.count() == 0
