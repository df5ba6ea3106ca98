"""A bounded property-based run against the published OpenAPI document (schemathesis):
no generated request may cause a 5xx, and every response must match its schema; once
with no auth and once as an ordinary writer with a valid key (other groups' data on
the server, an admin-only endpoint or two to be refused)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from prefect_artifacts._server import NoAuth  # noqa: E402
from prefect_artifacts._server.auth import ApiKeyAuth  # noqa: E402
from prefect_artifacts.catalog.auth import AuthCatalog  # noqa: E402
from prefect_artifacts.registry.http import HttpRegistry  # noqa: E402
from tests.support.live_server import LiveServer  # noqa: E402
from tests.support.registries import make_registry  # noqa: E402


@pytest.fixture(scope="module", params=["no-auth", "writer-key"])
def fuzz_server(request: pytest.FixtureRequest) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    root = Path(tempfile.mkdtemp(prefix="pa-fuzz-"))
    registry = make_registry(root / "server")
    keys: dict[str, str] = {}
    if request.param == "no-auth":
        server = LiveServer(registry, auth=NoAuth()).start()
    else:
        auth = AuthCatalog(registry.catalog.engine)
        server = LiveServer(registry, auth=ApiKeyAuth(auth)).start()
        for user, group in (("writer", "team-w"), ("other", "team-o")):
            auth.create_user(user, default_group=group)
            keys[user] = auth.create_key(user)[1]
    (root / "seed.txt").write_text("seed")
    (root / "tree").mkdir()
    (root / "tree" / "a.txt").write_text("a")
    for user, key in keys.items() or [("open", None)]:  # something to find, so not every answer is a 404
        with HttpRegistry(server.url, api_key=key) as reg:
            reg.upload_file(root / "seed.txt", name="seed", folder=f"/{user}").add_metadata({"rows": 1})
            reg.upload_dir(root / "tree", name="tree", folder=f"/{user}")
    headers = {"Authorization": f"Bearer {keys['writer']}"} if keys else {}
    yield server, headers
    server.stop()
    server.registry.close()


def _operations(server: LiveServer) -> list[object]:
    spec = schemathesis.openapi.from_url(server.url.removesuffix("/api/v1") + "/openapi.json")
    return [result.ok() for result in spec.get_all_operations()]


def test_api_conforms_to_its_schema(fuzz_server: tuple[LiveServer, dict[str, str]]) -> None:
    server, headers = fuzz_server
    checks = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
    operations = _operations(server)
    assert len(operations) >= 20
    failures: list[str] = []
    calls = 0
    for operation in operations:

        @settings(max_examples=8, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())  # type: ignore[attr-defined]
        def run(case: object) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(checks=checks, headers=headers)  # type: ignore[attr-defined]

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report
            failures.append(f"{operation.label}: {str(exc)[:2000]}")  # type: ignore[attr-defined]
    print(f"\n{calls} generated requests over {len(operations)} operations")
    assert not failures, "\n\n".join(failures)
