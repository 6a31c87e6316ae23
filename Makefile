# Two commands: `make demo` (set up and run the main job) and `make test` (set up and run the tests).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
THREADS ?= 1  # small models gain little from a 2nd thread, and 2 stall on a busy box

.PHONY: demo test setup setup-dev lint guide docs clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

demo: setup
	$(BIN)/rnnlab train --threads $(THREADS)

lint: setup-dev
	$(BIN)/ruff check rnnlab tests benchmarks docs
	$(BIN)/mypy

test: setup-dev
	$(BIN)/ruff check rnnlab tests benchmarks docs
	$(BIN)/mypy  # the package, strict on tasks/, cli/, run.py, trainer.py (pyproject.toml)
	$(BIN)/pytest

guide: setup-dev  # every chapter of docs/guide at its full budget; refreshes the .ipynb files
	$(BIN)/python docs/guide/build.py

docs: setup-dev  # the site, strict: a broken link or a missing reference fails the build
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) runs docs/guide/runs site .pytest_cache .ruff_cache .mypy_cache
