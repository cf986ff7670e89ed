"""The examples in the defenses' docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import fedarena.defenses

MODULES = [
    info.name
    for info in pkgutil.iter_modules(fedarena.defenses.__path__, prefix="fedarena.defenses.")
    if ">>>" in inspect.getsource(importlib.import_module(info.name))
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
