"""Tiny scenario files for the matrix tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tiny import TINY as TINY_SCENARIO
from tiny import toml

PLUGINS = Path(__file__).with_name("cell_plugins.py")

# A cell of this shop trains in about 0.1 s.
TINY = toml(replace(TINY_SCENARIO, baselines=True))  # the matrix chooses who computes baselines


@pytest.fixture()
def plugin():
    """``plugin("Raises")``: the component spec of a test plugin, by absolute path."""
    return lambda name: f"{PLUGINS}:{name}"


@pytest.fixture()
def write_matrix(tmp_path):
    """Write a scenario file (the tiny shop plus ``body``) and return its path."""

    def write(body: str, name: str = "m.toml") -> Path:
        """The tiny shop's lines come first, except those whose key ``body`` sets."""
        keys = {line.partition("=")[0].strip() for line in body.splitlines()}
        kept = [line for line in TINY.splitlines() if line.partition("=")[0].strip() not in keys]
        path = tmp_path / name
        path.write_text("# the tiny shop of tests/tiny.py\n" + "\n".join(kept) + "\n" + body)
        return path

    return write
