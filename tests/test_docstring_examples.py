"""Every docstring example in the package runs and prints what it says.

The modules are found by walking the package, so a new module's examples run
with no edit here.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import fedarena


def _source(name: str) -> str:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).read_text() if spec and spec.origin else ""


MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(fedarena.__path__, prefix="fedarena.")
    if not info.name.endswith("__main__") and ">>>" in _source(info.name)
)


def test_the_walk_finds_the_examples_of_every_kind():
    assert {m.split(".")[1] for m in MODULES} >= {
        "attacks",
        "defenses",
        "strategies",
        "compression",
    }


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:  # a module of an optional extra that is not installed
        pytest.skip(f"{name} needs {err.name}")
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags)
    assert result.attempted > 0 and result.failed == 0
