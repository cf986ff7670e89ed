"""A tiny scenario file and the test defenses, for the submission tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tiny import TINY as TINY_SCENARIO
from tiny import toml

DEFECTS = Path(__file__).with_name("defects.py")
CELL_PLUGINS = Path(__file__).parents[1] / "matrix" / "cell_plugins.py"

TINY = toml(replace(TINY_SCENARIO, baselines=True))  # the matrix chooses who computes baselines


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
