# One entry point for people and CI. `make run` and `make test` create the
# environment first when it is missing or older than the lock file.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
export FRAUD_ASSETS_HOME ?= $(CURDIR)/.fraud_assets
export DAGSTER_HOME := $(FRAUD_ASSETS_HOME)/dagster
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

.PHONY: run test lint demo bench lock browser-deps postgres-deps redis-deps clean help

help:
	@echo "make run    start Dagster (:3000), MLflow's UI (:5000) and the scoring page (:8501); lands the baseline when the landing folder is empty"
	@echo "make test   run the whole test suite"
	@echo "make demo   headless end-to-end demo"
	@echo "make bench  benchmarks (slow, prints figures)"

$(VENV)/.installed: requirements.lock pyproject.toml
	@py=$$(./scripts/find-python312) || exit 1; \
	  [ -x $(PY) ] || $$py -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock 2>&1 | { grep -v ' is ignored: ' || true; }
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 | { grep -v ' is ignored: ' || true; }
	@touch $@

run: $(VENV)/.installed
	$(VENV)/bin/fraud-assets dev

test: $(VENV)/.installed lint postgres-deps redis-deps browser-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# Lint, format and types: ruff over the whole tree, mypy over the plain packages (pyproject.toml).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The demo keeps its own home, wiped each time, so it never touches the one `make run` uses.
demo: $(VENV)/.installed
	FRAUD_ASSETS_HOME=$(CURDIR)/.fraud_assets-demo DAGSTER_HOME=$(CURDIR)/.fraud_assets-demo/dagster \
	  $(VENV)/bin/fraud-assets demo --fresh $(DEMO_ARGS)

bench: $(VENV)/.installed
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Chromium for the browser test: Debian's package, driven by Playwright through executablePath.
browser-deps:
	@./scripts/browser-deps

# PostgreSQL for the Postgres tests: Debian's package when root (scripts/postgres); skipped otherwise.
postgres-deps:
	@./scripts/postgres install || echo "the Postgres tests will be skipped"

# Redis for the shared online-state tests: Debian's package when root (scripts/redis).
redis-deps:
	@./scripts/redis install

# Re-resolve the pinned set from pyproject.toml's ranges in a throwaway venv.
lock:
	@py=$$(./scripts/find-python312) || exit 1; rm -rf .lockenv && $$py -m venv .lockenv && \
	  .lockenv/bin/pip install --quiet -e '.[dev]' && \
	  { echo "# Exact versions of every dependency, resolved together on Python 3.12."; \
	    echo "# Regenerate with 'make lock' after changing pyproject.toml."; \
	    .lockenv/bin/pip freeze --exclude-editable | grep -vE '^(pip|setuptools|wheel)=='; } > requirements.lock; \
	  rm -rf .lockenv

clean:
	rm -rf $(VENV) $(FRAUD_ASSETS_HOME)
