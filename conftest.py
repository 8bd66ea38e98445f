"""pytest hooks for the whole repo: how nbval's notebook cells join the test suite.

pyproject.toml turns nbval on for `solutions/`; here the notebook cells get the `slow`
marker (so `make unit` skips them), stderr is left out of the output comparison, and the
sanitizer file is found from any working directory.
"""
import os
from pathlib import Path

import pytest

# Kernels started by nbval inherit this: one intra-op thread, as `make notebooks` uses when it
# stores the outputs, so both runs do the same float arithmetic. (Tiny models run fastest on
# one thread; with other processes on 2 cores, spinning OpenMP threads slow training ~20x.)
os.environ["OMP_NUM_THREADS"] = "1"


def pytest_configure(config):
    # nbval opens --nbval-sanitize-with relative to the current directory; make it relative
    # to the repo instead, so `cd tests && pytest ..` works too.
    path = getattr(config.option, "nbval_sanitize_with", None)
    if path and not Path(path).is_absolute():
        config.option.nbval_sanitize_with = str(config.rootpath / path)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix == ".ipynb":  # a notebook cell collected by nbval
            item.add_marker(pytest.mark.slow)
            # nbval compares stderr like stdout, so a warning that appears in one run and not
            # the other (first-run messages, deprecations after an upgrade) would fail the
            # cell although its results are right. Exceptions still fail the cell.
            notebook = item.parent
            if "stderr" not in getattr(notebook, "skip_compare", ("stderr",)):
                notebook.skip_compare += ("stderr",)
