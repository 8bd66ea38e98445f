# Setup: check that this notebook runs in the course's Python environment.
import sys
import warnings

_TESTED = "2.13.0"  # the torch the course is tested and graded with (pyproject.toml)
_FIX = ("Close JupyterLab and, in the course folder, run `make lab` (without make: see "
        "README.md): it installs the tested versions in .venv and opens JupyterLab with it.")
try:
    import torch
except ImportError:
    raise ImportError(f"This kernel ({sys.executable}) has no torch. {_FIX}") from None
if not torch.__version__.startswith("2."):
    raise ImportError(f"This course needs torch 2 (it is tested with torch {_TESTED}); this "
                      f"kernel ({sys.executable}) has torch {torch.__version__}. {_FIX}") from None
if torch.__version__.split("+")[0] != _TESTED:  # "+cpu", "+cu128": the same release
    warnings.warn(f"This course is tested with torch {_TESTED}; this kernel ({sys.executable}) "
                  f"has torch {torch.__version__}. It should work, but a number may differ "
                  f"from the text. To get the tested versions: {_FIX}", stacklevel=1)
try:
    import course_utils
except ImportError as err:
    raise ImportError(f"This kernel ({sys.executable}) cannot import course_utils ({err}). "
                      f"{_FIX}") from None
