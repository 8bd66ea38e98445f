# seq2seq-course: two commands do all the set-up on a fresh clone where only python3 exists.
#   make lab    create .venv if missing, install, open JupyterLab on notebooks/
#   make test   create or update .venv, run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab test unit venv bench clean-venv

# Reinstall whenever the dependency list changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

test: $(STAMP)
	$(BIN)/python -m pytest

# Unit tests only (no notebooks, no grading round trip): seconds.
unit: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser"

bench: $(STAMP)
	$(BIN)/python bench/beam.py

clean-venv:
	rm -rf $(VENV)
