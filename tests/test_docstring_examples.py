"""Every docstring example in the package runs and prints what it says.

The modules are found by walking the package, so a new module's examples run
with no edit here.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import fedarena

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(fedarena.__path__, prefix="fedarena.")
    if not info.name.endswith("__main__")
    and ">>>" in inspect.getsource(importlib.import_module(info.name))
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
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(importlib.import_module(name), optionflags=flags)
    assert result.attempted > 0 and result.failed == 0
