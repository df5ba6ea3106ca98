# One-step set-up: every target installs what it needs into a virtualenv first.
# Installs are pinned by constraints/*.txt (made by `make lock`), so a run is reproducible:
# .venv has the newest versions pyproject.toml allows, .venv-oldest the oldest supported Prefect.
PYTHON ?= python3
VENV ?= .venv
OLDEST ?= .venv-oldest
PY := $(VENV)/bin/python
PYTEST := -m pytest -q -p no:cacheprovider
# The tests that talk to Prefect: run again on the oldest supported Prefect.
PREFECT_TESTS := tests/prefect tests/prefect_server tests/server/test_block.py

.PHONY: setup azurite localstack run test test-newest test-newest-waiting test-newest-rest test-oldest typecheck lint bench lock clean

$(VENV)/.installed: pyproject.toml constraints/newest.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints/newest.txt -e ".[test]"
	touch $@

$(OLDEST)/.installed: pyproject.toml constraints/oldest.txt
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install -q --upgrade pip
	$(OLDEST)/bin/python -m pip install -q -c constraints/oldest.txt -e ".[test]"
	touch $@

setup: $(VENV)/.installed

# Azurite (the Azure Blob Storage emulator tests/backends/test_azure.py runs), installed once
# into .node/ (npm cache included: nothing under $HOME) from the pinned lock file; nothing is
# downloaded while the tests run. Without npm it says so and the Azure tests skip.
NODE_DIR ?= .node
AZURITE_PIN := tests/support/azurite

$(NODE_DIR)/.installed: $(AZURITE_PIN)/package.json $(AZURITE_PIN)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		mkdir -p $(NODE_DIR) && cp $^ $(NODE_DIR)/ && \
		npm ci --prefix $(NODE_DIR) --cache $(NODE_DIR)/.npm-cache --no-update-notifier --no-audit --no-fund \
			--ignore-scripts --loglevel=error && touch $@; \
	else \
		echo "npm not found: Azurite not installed, the Azure Blob tests (tests/backends/test_azure.py) will skip"; \
	fi

azurite: $(NODE_DIR)/.installed

# LocalStack's S3 (tests/server/test_s3_enforcement.py: an S3 that checks signed checksums, expiry and
# signatures, which moto does not), installed once into its own venv .localstack/ from the pinned
# freeze (its pins clash with ours); nothing is downloaded while the tests run.
LOCALSTACK_DIR ?= .localstack
LOCALSTACK_PIN := tests/support/localstack/requirements.txt

$(LOCALSTACK_DIR)/.installed: $(LOCALSTACK_PIN)
	rm -rf $(LOCALSTACK_DIR) && $(PYTHON) -m venv $(LOCALSTACK_DIR)
	$(LOCALSTACK_DIR)/bin/python -m pip install -q --no-deps -r $(LOCALSTACK_PIN)
	touch $@

localstack: $(LOCALSTACK_DIR)/.installed

run: setup  ## the example pipeline on the embedded registry; writes only under .example/ (its registry and Prefect homes)
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(PY) flows/example_pipeline.py

# Three pytest processes at once (each output printed whole when it ends): the Prefect tests on
# the oldest stack, and the newest stack's suite in two halves. Most of the suite's time is spent
# waiting (on Prefect servers, replicas, a browser, fsync), so three processes share 2 cores well.
WAITING_TESTS := tests/prefect tests/prefect_server tests/web tests/deploy tests/test_readme.py
test: typecheck $(OLDEST)/.installed azurite localstack  ## mypy, then at once: the whole suite on the newest stack (two halves), the Prefect tests on the oldest
	$(MAKE) --no-print-directory -j3 --output-sync=target test-oldest test-newest-waiting test-newest-rest

test-newest: setup azurite localstack  ## the whole suite on the newest stack, in one process
	$(PY) $(PYTEST)

test-newest-waiting: setup
	$(PY) $(PYTEST) $(WAITING_TESTS)

test-newest-rest: setup azurite localstack
	$(PY) $(PYTEST) $(addprefix --ignore=,$(WAITING_TESTS))

test-oldest: $(OLDEST)/.installed
	$(OLDEST)/bin/python $(PYTEST) $(PREFECT_TESTS)

typecheck: setup  ## mypy over prefect_artifacts ([tool.mypy] in pyproject.toml)
	$(PY) -m mypy

lint: setup
	$(VENV)/bin/ruff check prefect_artifacts tests flows bench

bench: setup
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) bench/run.py

# Re-resolve both constraint files from pyproject.toml in throw-away virtualenvs.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install -q -e ".[test]"
	.lock-venv/bin/pip freeze --exclude-editable > constraints/newest.txt
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install -q -e ".[test]" \
		"prefect==$$(sed -n 's/.*"prefect>=\([0-9.]*\).*/\1/p' pyproject.toml)"
	.lock-venv/bin/pip freeze --exclude-editable > constraints/oldest.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) $(OLDEST) .lock-venv .pytest_cache .mypy_cache .example $(NODE_DIR) $(LOCALSTACK_DIR)
