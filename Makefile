# AI Studio backend — one set of commands for people, hooks and CI.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_DIR ?= .run
export RUN_DIR

# Every member of the monorepo, installed editable into one virtualenv for development.
MEMBERS := libs/contracts libs/runtime libs/devstack libs/providers \
	services/gateway services/generator services/poller services/usage services/captioner services/publisher \
	tools/provider_simulator
SERVICES := gateway generator poller usage captioner publisher
PYPROJECTS := $(foreach m,$(MEMBERS),$(wildcard $(m)/pyproject.toml))

.PHONY: help install browser-deps run test test-fast chaos lint migrate migrate-down asyncapi schemas bench requirements clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements/dev.txt $(PYPROJECTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation $(foreach m,$(MEMBERS),$(if $(wildcard $(m)/pyproject.toml),-e $(m)))
	touch $@

install: $(VENV)/.installed ## Create the virtualenv and install everything (run and test do this themselves)

browser-deps: ## Install Debian's Chromium for the browser tests (CI does; locally they skip without it)
	bash tools/ci/install-chromium.sh

run: install ## Start the whole system on this machine (embedded NATS/Postgres/simulator when not configured)
	$(BIN)/python -m aistudio_devstack run

# make test's pytest workers: each starts its own embedded NATS and Postgres and takes whole files.
# With a NATS_URL shared by the workers set TEST_WORKERS=1 (each test resets the shared JetStream).
TEST_WORKERS ?= 2

test: install ## Run the whole test suite against real NATS JetStream and Postgres (TEST_WORKERS=2 workers)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: install ## Run the tests that need no services (contracts, units)
	$(BIN)/python -m pytest -m "not integration and not e2e and not browser"

chaos: install ## Run every fault-injection scenario (tests/chaos, tests/cluster: three NATS nodes); reports in tests/artifacts
	CHAOS=full $(BIN)/python -m pytest -m chaos tests/chaos tests/cluster

lint: install ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

migrate: install ## Apply every service's migrations to DATABASE_URL (or to the embedded Postgres)
	$(BIN)/python -m aistudio_devstack migrate

migrate-down: install ## Undo the newest migration of SERVICE (e.g. make migrate-down SERVICE=usage)
	$(BIN)/python -m aistudio_devstack migrate --down --steps 1 $(SERVICE)

dlq: install ## Dead letters on NATS_URL: make dlq ARGS="list" (or "show SEQ", "replay SEQ", "drop SEQ", add --json)
	$(BIN)/python -m aistudio_runtime.deadletters $(or $(ARGS),list)

ops: install ## The operator's CLI on DATABASE_URL/NATS_URL: make ops ARGS="asset ID" (stuck, dlq list, consumers, usage USER, replay-outbox; --json)
	$(BIN)/aistudio-ops $(or $(ARGS),--help)

asyncapi: install ## Generate the AsyncAPI documentation of every event into docs/asyncapi
	mkdir -p docs
	cd docs && ../$(BIN)/faststream docs gen aistudio_runtime.asyncapi:app --yaml --out asyncapi.yaml

schemas: install ## Regenerate the checked-in JSON Schemas of the events (after a deliberate change)
	$(BIN)/python -m aistudio_contracts.jsonschema libs/contracts/schemas

bench: install ## Run the benchmarks and write bench/out/report.md
	$(BIN)/python -m bench

requirements: ## Recompile the pinned requirement files (needs uv)
	cd requirements && uv pip compile services.in -o services.txt --python-version 3.11 --no-header -q
	cd requirements && uv pip compile dev.in -o dev.txt --python-version 3.11 --no-header -q

clean: ## Remove the virtualenv and local state (embedded databases, media)
	rm -rf $(VENV) $(RUN_DIR)
