# Single entry point for set-up. `make demo` and `make test` are the README's two commands.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest install-dev install-local clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

$(VENV)/.local-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[local]'
	touch $@

install-dev: $(VENV)/.dev-installed
install-local: $(VENV)/.local-installed

lint: install-dev
	$(BIN)/ruff check .

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev
	$(BIN)/python -m pytest -q

# The tests: ruff, mypy and pytest, offline, no model needed.
test: lint typecheck pytest

# The main job: summarize the shipped demo paper offline on the embedded model.
demo: install-local
	$(BIN)/python -m pipeline local install
	$(BIN)/python -m pipeline summarize docs/report/pipeline-report.pdf

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
