"""The examples in the strategies' docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "fedarena.strategies.fedavg",
    "fedarena.strategies.fedprox",
    "fedarena.strategies.fedavg_plus",
    "fedarena.strategies.server_optimisers",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
