# Mairie — the two commands: `make run` and `make test` (plus `make bench`).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck pytest bench install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@scripts/system-deps.sh run
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml package.json package-lock.json | $(BIN)/python
	@scripts/system-deps.sh test
	$(BIN)/pip install -q -e '.[test]'
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## make run: install, migrate, load the demo, start web + worker on 127.0.0.1:8000
run: install
	$(BIN)/mairie migrate --no-input -v 0
	$(BIN)/mairie demo
	$(BIN)/mairie serve --host $(HOST) --port $(PORT)

## make test: lint, type-check and the whole suite (DATABASE_URL selects PostgreSQL)
test: install-test lint typecheck pytest

lint:
	$(BIN)/ruff check mairie
	$(BIN)/ruff format --check mairie

typecheck:
	$(BIN)/mypy mairie

pytest:
	$(BIN)/pytest $(PYTEST_ARGS)

## make bench: benchmarks B1, B2, B4–B9 (results appended to docs/benchmarks.md)
bench: install-test
	@scripts/system-deps.sh bench
	$(BIN)/python -m mairie.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules
