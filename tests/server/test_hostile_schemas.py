"""User-supplied JSON Schemas cost bounded CPU and never make the server read a file or URL.

Each case would hang (catastrophic backtracking) or reach outside the schema before
the validator ran on a linear-time regex engine with retrieval refused. JSON nested
too deep to serve again is refused before it is stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_artifacts._aspects import prepare_aspect
from prefect_artifacts._server import NoAuth
from prefect_artifacts.errors import MetadataValidationError
from prefect_artifacts.registry.http import HttpRegistry
from tests.support.live_server import LiveServer

# Classic exponential patterns, each with an input that makes a backtracking engine explode.
CATASTROPHIC = [
    ("^(a+)+$", "a" * 40 + "!"),
    ("^(a|aa)+$", "a" * 60 + "!"),
    ("^(a|a?)+$", "a" * 40 + "!"),
    ("^(\\w+\\s?)*$", "word " * 20 + "!"),
    ("^(.*a){25}$", "a" * 30 + "b"),
    ("^([a-zA-Z0-9]+)*@x$", "a" * 50),
]


@pytest.fixture
def counting_http_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server that records every path it is asked for."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            seen.append(self.path)
            body = b'{"type": "object"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("pattern", "text"), CATASTROPHIC)
def test_catastrophic_patterns_finish_at_once(pattern: str, text: str) -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": pattern}}}
    started = time.monotonic()
    with pytest.raises(MetadataValidationError, match="does not match"):
        prepare_aspect({"s": text}, schema)
    # Backtracking takes minutes to years on these inputs; linear time takes microseconds.
    assert time.monotonic() - started < 2
    huge = {"s": text[:-1] * (500_000 // len(text))}
    started = time.monotonic()
    with contextlib.suppress(MetadataValidationError):
        prepare_aspect(huge, schema)
    assert time.monotonic() - started < 2


def test_pattern_properties_and_property_names_run_in_linear_time() -> None:
    schema = {"type": "object", "patternProperties": {"^(a+)+$": {"type": "integer"}},
              "propertyNames": {"pattern": "^(a|aa)+$"}}
    started = time.monotonic()
    with pytest.raises(MetadataValidationError, match="does not match"):
        prepare_aspect({"a" * 50 + "!": 1}, schema)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("pattern", ["(?=a)b", "(?!x)y", "(?<=a)b", "(a)\\1"])
def test_patterns_needing_backtracking_are_refused_by_name(pattern: str) -> None:
    with pytest.raises(MetadataValidationError, match="unsupported regular expression at properties/s/pattern"):
        prepare_aspect({"s": "b"}, {"properties": {"s": {"pattern": pattern}}})


def test_references_stay_inside_the_schema(counting_http_server: tuple[str, list[str]], tmp_path: Path) -> None:
    url, seen = counting_http_server
    secret = tmp_path / "secret.json"
    secret.write_text('{"type": "string", "description": "TOP-SECRET-CONTENT"}')
    outside = [
        {"$ref": f"{url}/evil.json"},
        {"$ref": secret.as_uri()},
        {"$id": f"{url}/root.json", "$ref": "evil.json"},  # relative to the schema's $id
        {"$id": f"{url}/root.json", "properties": {"a": {"$ref": "other.json#/x"}}},
        {"$dynamicRef": f"{url}/dyn.json#meta"},
        {"$schema": f"{url}/meta.json"},
        {"allOf": [{"$ref": f"{url}/deep.json"}]},
    ]
    for schema in outside:
        with pytest.raises(MetadataValidationError) as caught:
            prepare_aspect({"a": 1}, schema)
        assert "TOP-SECRET-CONTENT" not in str(caught.value)
        assert "only references inside the schema" in str(caught.value) or "meta-schema" in str(caught.value)
    assert seen == []  # nothing was fetched
    inside = {"$id": f"{url}/root.json", "$defs": {"n": {"type": "integer", "minimum": 0}},
              "properties": {"a": {"$ref": "#/$defs/n"}, "b": {"$ref": f"{url}/root.json#/$defs/n"}}}
    assert prepare_aspect({"a": 1, "b": 2}, inside)["content"] == {"a": 1, "b": 2}
    with pytest.raises(MetadataValidationError, match="minimum"):
        prepare_aspect({"a": -1}, inside)
    assert seen == []


def test_unique_items_on_a_large_array_is_not_quadratic() -> None:
    items = [{"k": i, "v": [i, str(i)]} for i in range(20_000)]
    started = time.monotonic()
    assert prepare_aspect({"items": items}, {"properties": {"items": {"uniqueItems": True}}})
    assert time.monotonic() - started < 2  # a pairwise comparison would be 2*10^8 dict compares


def test_oversized_schema_is_refused() -> None:
    schema = {"enum": ["x" * 1000] * 1200}
    with pytest.raises(MetadataValidationError, match="over the limit"):
        prepare_aspect({"a": 1}, schema)


def test_a_hostile_schema_does_not_stall_the_server(start_server: Callable[..., LiveServer], tmp_path: Path,
                                                    counting_http_server: tuple[str, list[str]]) -> None:
    server = start_server(auth=NoAuth())
    data = tmp_path / "a.txt"
    data.write_text("a")
    with HttpRegistry(server.url) as reg:
        art = reg.upload_file(data, name="a")
    url, seen = counting_http_server
    latencies: list[float] = []
    statuses: list[int] = []
    stop = threading.Event()

    def probe_health() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                started = time.monotonic()
                statuses.append(client.get(f"{server.url}/health").status_code)
                latencies.append(time.monotonic() - started)
                time.sleep(0.01)

    def probes_after(count: int) -> None:
        deadline = time.monotonic() + 30
        while len(latencies) <= count and time.monotonic() < deadline:
            time.sleep(0.01)

    prober = threading.Thread(target=probe_health, daemon=True)
    prober.start()
    probes_after(0)  # the prober is connected before the attack starts, so it measures the attack
    try:
        with httpx.Client(timeout=30) as client:
            for pattern, text in CATASTROPHIC:
                body = {"aspect": {"s": text}, "schema": {"type": "object",
                                                          "properties": {"s": {"type": "string", "pattern": pattern}}}}
                answer = client.post(f"{server.url}/artifacts/{art.id}/aspects", json=body)
                assert answer.status_code == 400 and answer.json()["error"] == "MetadataValidationError", answer.text
            for schema in ({"$ref": f"{url}/evil.json"}, {"$ref": (tmp_path / "a.txt").as_uri()}):
                answer = client.post(f"{server.url}/artifacts/{art.id}/aspects", json={"aspect": {}, "schema": schema})
                assert answer.status_code == 400, answer.text
                assert "only references inside the schema" in answer.json()["message"]
        probes_after(len(latencies) + 1)  # two more: at least one probe started after it
    finally:
        stop.set()
        prober.join(30)
    assert seen == []
    assert len(latencies) >= 2 and set(statuses) == {200}, statuses
    assert max(latencies) < 1.0, max(latencies)
    assert server.registry.get_metadata(art.id) == []


def _nested(depth: int) -> str:
    """JSON text of objects nested ``depth`` levels deep."""
    return '{"x":' * (depth - 1) + '{"x":1' + "}" * depth


def test_deep_json_is_refused_before_it_is_stored(start_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    # 300 levels parse, but pydantic-core cannot serialize them: stored, the aspect would
    # have made every later read of the artifact's metadata a 500, for every reader.
    server = start_server(auth=NoAuth())
    data = tmp_path / "a.txt"
    data.write_text("a")
    with HttpRegistry(server.url) as reg:
        art = reg.upload_file(data, name="a")
    refusals = [
        ("POST", f"/artifacts/{art.id}/aspects", '{"aspect":' + _nested(300) + "}"),
        ("POST", f"/artifacts/{art.id}/aspects", '{"aspect":{},"schema":' + _nested(300) + "}"),
        ("POST", "/schemas", '{"urn":"urn:example:deep:1","schema":' + _nested(300) + "}"),
        ("POST", "/artifacts", '{"folder":"/default","name":"b","kind":"file","files":[{"path":"b.txt","digest":"'
         + hashlib.sha256(b"b").hexdigest() + '","size":1}],"blobs":{"' + hashlib.sha256(b"b").hexdigest()
         + '":"Yg=="},"aspects":[{"content":' + _nested(300) + "}]}"),
    ]
    with httpx.Client(base_url=server.url, timeout=30, headers={"Content-Type": "application/json"}) as client:
        for method, path, body in refusals:
            answer = client.request(method, path, content=body)
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["error"] == "MetadataValidationError", answer.text
            assert "nest more than 64 levels deep" in answer.json()["message"], answer.text
        kept = client.post(f"/artifacts/{art.id}/aspects", content='{"aspect":' + _nested(64) + "}")
        assert kept.status_code == 201, kept.text
        read = client.get(f"/artifacts/{art.id}/aspects")
        assert read.status_code == 200 and read.json()[0]["content"] == json.loads(_nested(64))
        assert client.get("/schemas/urn:example:deep:1").status_code == 404
    assert server.registry.count() == 1
