"""Third-party components registered through entry points, for real: a distribution
(``shopguard``, a dist-info folder and its package) on ``PYTHONPATH`` of a fresh
``fedarena`` process is listed with its origin, usable by name in a run, and
submittable; a name it tries to take from a built-in is listed as ignored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tiny import TINY as TINY_SCENARIO
from tiny import toml

PACKAGE = '''
"""A third-party defense, attack and strategy."""

import torch

from fedarena.attacks.base import Attack, send
from fedarena.defenses import Aggregate, Aggregator
from fedarena.strategies.fedavg import FedAvg


class Guard(Aggregator):
    """Coordinate-wise median of the updates."""

    def combine(self, updates, weights, ctx):
        return Aggregate(update=updates.median(dim=0).values)


class Noise(Attack):
    """Malicious clients send their update plus unit Gaussian noise from ctx.generator."""

    acts_on = frozenset({"update"})
    knowledge = "own"
    goal = "untargeted"

    def craft(self, updates, malicious, ctx):
        noise = torch.randn(updates[malicious].shape, generator=ctx.generator)
        return send(updates, malicious, updates[malicious] + noise)


class Steady(FedAvg):
    """FedAvg with half the server step."""

    def __init__(self, server_lr: float = 0.5):
        super().__init__(server_lr=server_lr)
'''

ENTRY_POINTS = """
[fedarena.defenses]
shop_guard = shopguard:Guard
krum = shopguard:Guard

[fedarena.attacks]
shop_noise = shopguard:Noise

[fedarena.strategies]
shop_steady = shopguard:Steady
"""

TINY = toml(replace(TINY_SCENARIO, baselines=True, malicious_fraction=0.2))
TINY += 'attack = ["none", "shop_noise"]\nstrategy = "shop_steady"\n'


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder holding the ``shopguard`` package and its installed metadata."""
    site = tmp_path_factory.mktemp("site")
    (site / "shopguard").mkdir()
    (site / "shopguard" / "__init__.py").write_text(PACKAGE)
    info = site / "shopguard-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shopguard\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return site


def fedarena(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(site)}
    command = [sys.executable, "-m", "fedarena.cli", *args]
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300
    )


def test_list_shows_each_entry_point_with_its_distribution(site, tmp_path):
    listed = fedarena(site, tmp_path, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {(c["kind"], c["name"], c["active"]): c for c in json.loads(listed.stdout)}
    guard = rows["defense", "shop_guard", True]
    assert guard["origin"] == "entry point shopguard:Guard of shopguard 0.1"
    assert rows["attack", "shop_noise", True]["origin"].endswith("of shopguard 0.1")
    steady = rows["strategy", "shop_steady", True]
    assert steady["options"] == ["server_lr"]
    assert rows["defense", "krum", True]["origin"] == "fedarena.defenses.krum"
    ignored = rows["defense", "krum", False]["origin"]
    assert ignored == (
        "entry point shopguard:Guard of shopguard 0.1: ignored, the name is taken "
        "(fedarena.defenses.krum)"
    )
    assert rows["compression", "topk", True]["origin"] == "fedarena.compression.topk"

    table = fedarena(site, tmp_path, "list", "defense")
    assert table.returncode == 0 and "shop_guard" in table.stdout and "topk" not in table.stdout
    bad = fedarena(site, tmp_path, "list", "defence")
    assert bad.returncode == 2
    assert bad.stderr == (
        "fedarena: error: unknown kind 'defence'; kinds: attack, defense, strategy, compression\n"
    )


def test_entry_point_components_are_submitted_and_run_by_name(site, tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    submitted = fedarena(
        site,
        tmp_path,
        *("submit", "shop_guard", "--scenario", "tiny.toml", "--entry", "guard.json"),
        *("--workers", "2", "--quiet"),
    )
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert submitted.stdout.count("pass    ") == 6
    entry = json.loads((tmp_path / "guard.json").read_text())
    cells = {(c["spec"]["attack"], c["spec"]["defense"]): c for c in entry["cells"]}
    assert set(cells) == {(a, d) for a in ("none", "shop_noise") for d in ("shop_guard", "fedavg")}
    assert all(c["status"] == "done" for c in cells.values())
    assert all(c["spec"]["strategy"] == "shop_steady" for c in cells.values())
    assert cells["shop_noise", "fedavg"]["result"]["attack"]["goal"] == "untargeted"
    assert list(entry["manifest"]["sources"]) == [str(site / "shopguard" / "__init__.py")]


def test_a_broken_entry_point_fails_only_where_it_is_used(tmp_path):
    site = tmp_path / "site"
    (site / "brokenguard").mkdir(parents=True)
    (site / "brokenguard" / "__init__.py").write_text("raise ImportError('no such backend')\n")
    info = site / "brokenguard-0.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenguard\nVersion: 0.2\n")
    (info / "entry_points.txt").write_text(
        "[fedarena.defenses]\nbroken_guard = brokenguard:Guard\n"
    )

    listed = fedarena(site, tmp_path, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {(c["name"], c["active"]): c for c in json.loads(listed.stdout)}
    assert "no such backend" in rows["broken_guard", False]["origin"]
    assert ("krum", True) in rows

    used = fedarena(site, tmp_path, "run", "--defense", "broken_guard", "--rounds", "1", "--quiet")
    assert used.returncode == 2
    assert "broken_guard" in used.stderr and "no such backend" in used.stderr
    assert used.stderr.count("\n") == 1
