# One-step set-up: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup run test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

setup: $(VENV)/.installed

run: setup  ## the example pipeline on the embedded registry
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(PY) flows/example_pipeline.py

test: setup  ## the whole test suite, slow tests included
	$(PY) -m pytest -q -p no:cacheprovider

lint: setup
	$(VENV)/bin/ruff check prefect_artifacts tests flows bench

bench: setup
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache
