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

# llama.cpp is built for a portable x86-64 (AVX2, FMA, F16C) instead of -march=native: a VM may
# advertise AVX-512/AMX that its kernel cannot run (seen here: SIGILL on the first prompt). Not from
# pip's wheel cache, which does not key on CMAKE_ARGS and may hold a native build.
LLAMA_CMAKE_ARGS := $(if $(filter x86_64,$(shell uname -m)),-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON)

$(VENV)/.local-installed: pyproject.toml | $(BIN)/python
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install -q --no-cache-dir \
		"$$(grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml)"
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
