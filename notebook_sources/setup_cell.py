# Setup: check that this notebook runs in the course's Python environment.
import sys

_FIX = ("Close JupyterLab and, from the root of the course repository, run `make lab`: "
        "it installs the course environment in .venv and opens JupyterLab with it.")
try:
    import torch
except ImportError:
    raise ImportError(f"This kernel ({sys.executable}) has no torch. {_FIX}") from None
if not torch.__version__.startswith("2.13"):
    raise ImportError(f"This course needs torch 2.13; this kernel ({sys.executable}) has "
                      f"torch {torch.__version__}. {_FIX}") from None
try:
    import course_utils
except ImportError as err:
    raise ImportError(f"This kernel ({sys.executable}) cannot import course_utils ({err}). "
                      f"{_FIX}") from None
