"""constraints.txt, the pinned versions every install uses (`make venv`, CI, the student zip),
agrees with pyproject.toml, where the dependencies are declared: each requirement is pinned
at a version it allows, no CUDA package or local build tag is pinned, and this venv has what
it pins. `make constraints` (.ci/update-constraints) rewrites it from pyproject.toml."""
from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
FIX = "run `make constraints` (and read its diff), then `make venv`"


def constraints() -> dict[str, str]:
    """constraints.txt as {canonical name: version}; it holds only `name==version` lines."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line).groups()
            pins[canonicalize_name(name)] = version
    return pins


def requirements() -> list[Requirement]:
    """pyproject.toml's dependencies and its dev extra's (what `make venv` installs)."""
    return [Requirement(line)
            for line in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]]


def test_every_requirement_is_pinned_at_a_version_pyproject_allows():
    pins = constraints()
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in constraints.txt: {FIX}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, pyproject.toml asks for "
            f"{requirement}: {FIX}")
        for extra in requirement.extras:  # dask[distributed]: what the extra brings is pinned
            for needed in metadata.requires(requirement.name) or []:
                if f'extra == "{extra}"' in needed:
                    assert canonicalize_name(Requirement(needed).name) in pins, needed


def test_pins_are_exact_and_portable():
    """Plain release versions (no `+cpu`: a local build tag only matches that one wheel) and
    no CUDA libraries: constraints never install a package, so where PyPI's torch wheel wants
    them they install unpinned, and here, where torch is a CPU build, nothing pulls them."""
    pins = constraints()
    assert len(pins) > 100  # every package, not only the direct ones
    assert not [f"{n}=={v}" for n, v in pins.items() if "+" in v]
    assert not [n for n in pins if n.startswith(("nvidia-", "triton", "cuda"))]
    assert pins["torch"] == "2.13.0" and "seq2seq-course" not in pins


def test_this_venv_has_the_pinned_versions():
    """What `make venv` installed is what constraints.txt says (a package installed by hand at
    another version, or a venv older than the file, fails here)."""
    wrong = []
    for name, version in constraints().items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = "missing"
        if have.split("+")[0] != version:
            wrong.append(f"{name} {have} (pinned {version})")
    assert not wrong, f"this venv differs from constraints.txt: {wrong}; run `make venv`"
