# One Makefile for humans and CI. Every target sets up what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
NODE_DIR   := tests/interop
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
SRC    := src tests examples bench docs/conf.py
PYTEST_ARGS ?=

.PHONY: all setup demo test unit lint format docs bench fuzz clean

all: test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(STAMP) $(NODE_STAMP)

## make demo: run the demo apps on http://127.0.0.1:5000 (no Redis needed); installs only
## the package, not the dev tools. DEMO_PORT=8000 / DEMO_HOST=0.0.0.0 choose the address.
$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e .
	touch $@

demo: $(DEMO_STAMP)
	$(BIN)/python examples/demo.py

## make lint: ruff (lint + format check) and mypy --strict on src/
lint: $(STAMP)
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format $(SRC)
	$(BIN)/ruff check --fix $(SRC)

## make docs: the documentation site in docs/_build/html; any warning fails it
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

## make test: lint, the docs, then the whole suite with branch coverage
test: lint docs $(NODE_STAMP)
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered $(PYTEST_ARGS)
	$(BIN)/python -m coverage report --include='src/flask_realtime/protocol/*' --precision=1

## make unit: the suite without lint, for a quick loop
unit: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make fuzz: every decoder, the HTTP and the WebSocket path, FUZZ_CASES cases each
## (a million by default; FUZZ_SEED to replay a run). make test runs a short version.
FUZZ_CASES ?= 1000000
FUZZ_SEED ?= 1
fuzz: $(STAMP)
	cd tests && ../$(BIN)/python -m fuzz.run --cases $(FUZZ_CASES) --seed $(FUZZ_SEED)

## make bench: the benchmark suite against the peers (see bench/README.md)
bench: $(STAMP)
	$(MAKE) -C bench all

clean:
	rm -rf $(VENV) $(NODE_DIR)/node_modules .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov \
		docs/_build dist
