"""A tiny scenario file and the test defenses, for the submission tests."""

from __future__ import annotations

from pathlib import Path

import pytest

DEFECTS = Path(__file__).with_name("defects.py")
CELL_PLUGINS = Path(__file__).parents[1] / "scenarios" / "cell_plugins.py"

# Two rounds on a tiny shop: a cell trains in about 0.1 s.
TINY = """
rounds = 2
shoppers = 60
items = 300
dim = 8
clients_per_round = 10
local_epochs = 1
eval_every = 1
"""


@pytest.fixture()
def defect():
    """``defect("Conforming")``: the spec of a defense in ``defects.py``, by absolute path."""
    return lambda name: f"{DEFECTS}:{name}"


@pytest.fixture()
def misbehaving():
    """``misbehaving("Hangs")``: a defense of the matrix tests that raises, hangs, hogs or dies."""
    return lambda name: f"{CELL_PLUGINS}:{name}"


@pytest.fixture()
def tiny_matrix(tmp_path):
    """Write a scenario file: the tiny shop plus ``body`` (whose keys come last)."""

    def write(body: str = "", name: str = "tiny.toml") -> Path:
        path = tmp_path / name
        path.write_text(TINY + body)
        return path

    return write
