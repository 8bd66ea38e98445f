# seq2seq-course: two commands do all the set-up on a fresh clone where only python3 exists.
#   make lab    create .venv if missing, install, open JupyterLab on notebooks/
#   make test   create or update .venv, run the whole test suite
# Course authoring (docs/AUTHORING.md):
#   make execute  re-run every solutions/*/*.ipynb in place so its stored outputs are fresh
#   make release  regenerate notebooks/ (the student version) from solutions/ with nbgrader
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab test unit venv bench clean-venv release execute

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

# Per-cell limit for `make execute`; nbgrader_config.py and pytest's nbval use the same.
CELL_TIMEOUT := 120

# Student release: one `nbgrader generate_assignment` per assignment folder (settings in
# nbgrader_config.py). --force replaces notebooks/NN_name entirely, so files deleted from
# solutions/NN_name disappear from the release too; release folders whose solutions folder is
# gone are removed. The output depends only on solutions/ (no timestamps, ids or paths), so
# notebooks/ can be checked against a fresh run. Also updates gradebook.db (gitignored).
# nbgrader runs `alembic` by name when it opens gradebook.db, so the venv's bin must be on PATH.
release execute: export PATH := $(abspath $(BIN)):$(PATH)
# One intra-op thread, as nbval's kernels get (conftest.py): the stored outputs and the
# re-run then do the same float arithmetic, and tiny models run fastest on one thread anyway.
execute: export OMP_NUM_THREADS := 1
release: $(STAMP)
	@set -e; for dir in solutions/*/; do \
	  [ -d "$$dir" ] || continue; \
	  name=$$(basename "$$dir"); \
	  echo "release: $$name"; \
	  $(BIN)/nbgrader generate_assignment "$$name" --force --log-level=WARN; \
	done; \
	for dir in notebooks/*/; do \
	  [ -d "$$dir" ] || continue; \
	  name=$$(basename "$$dir"); \
	  [ -d "solutions/$$name" ] || { echo "release: removing $$dir (no solutions/$$name)"; rm -rf "$$dir"; }; \
	done

# Re-execute the solution notebooks in place (kernel: this venv's python), so the outputs
# that nbval compares against are fresh. Timing metadata and widget state are not stored, so
# a seeded notebook without warnings or progress bars re-executes to the same file. Warm
# matplotlib's font cache first: on a fresh machine its one-off "building the font cache"
# message would land in a cell's stderr.
execute: $(STAMP)
	@$(BIN)/python -c "import matplotlib.pyplot"
	@set -e; TIMEFORMAT="  took %R s"; for nb in solutions/*/*.ipynb; do \
	  [ -e "$$nb" ] || continue; \
	  echo "execute: $$nb"; \
	  time $(BIN)/jupyter nbconvert --to notebook --execute --inplace --log-level=WARN \
	    --ExecutePreprocessor.timeout=$(CELL_TIMEOUT) \
	    --ExecutePreprocessor.record_timing=False \
	    --ExecutePreprocessor.store_widget_state=False \
	    "$$nb"; \
	done
