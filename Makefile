# One Makefile for humans and CI. Every target sets up what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
NODE_DIR   := tests/interop
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
ADMIN_UI_DIR   := tools/admin-ui
ADMIN_UI_STAMP := src/flask_realtime/static/admin-ui/index.html
SRC    := src tests examples bench tools docs/conf.py
PYTEST_ARGS ?=

.PHONY: all setup admin-ui demo test unit lint format docs bench fuzz clean

all: test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## make admin-ui: the official admin UI's files into the package (npm, versions pinned in
## tools/admin-ui/package-lock.json); the wheel ships them (see binding/admin_ui_files.py)
$(ADMIN_UI_STAMP): $(ADMIN_UI_DIR)/package.json $(ADMIN_UI_DIR)/package-lock.json $(ADMIN_UI_DIR)/install.py
	cd $(ADMIN_UI_DIR) && npm ci --no-audit --no-fund --loglevel=error --ignore-scripts
	$(PYTHON) $(ADMIN_UI_DIR)/install.py

admin-ui: $(ADMIN_UI_STAMP)

setup: $(STAMP) $(NODE_STAMP) $(ADMIN_UI_STAMP)

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
test: lint docs $(NODE_STAMP) $(ADMIN_UI_STAMP)
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered $(PYTEST_ARGS)
	$(BIN)/python -m coverage report --include='src/flask_realtime/protocol/*' --precision=1

## make unit: the suite without lint, for a quick loop
unit: $(STAMP) $(NODE_STAMP) $(ADMIN_UI_STAMP)
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
	rm -rf $(VENV) $(NODE_DIR)/node_modules $(ADMIN_UI_DIR)/node_modules src/flask_realtime/static/admin-ui .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov \
		docs/_build dist
