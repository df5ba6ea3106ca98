"""Helpers shared by the tests; imported as ``from tests.support.<module> import ...``.

- `services`: real PostgreSQL and moto (S3) server processes, and their fixtures
  (registered for the whole suite by tests/conftest.py).
- `catalogs`: the migrated SQLite catalog copied per test, and an old-revision catalog.
- `registries`: registries in a folder (`make_registry`), one per tenant (`tenant_registries`).
- `live_server`: `LiveServer`, a real uvicorn server in a thread on a loopback port.
- `proxies`: TCP proxies that drop connections, for retry tests.
- `prefect_server`: a real ``prefect server start`` and the child processes that use it.
- `flow_scenarios`: registry scenarios of the maintenance flows (tests/prefect, tests/prefect_server).

No test module imports from another test module or a conftest: what two places need lives here.
"""
