"""A Flower cell in a matrix runs at the default limits, with Flower's and Ray's output in
the cell's own log and not on the console."""

from __future__ import annotations

from dataclasses import replace

from fedarena.cli import main
from fedarena.matrix.runner import DEFAULT_LIMITS, FLOWER_MEMORY_MB, cell_limits
from tiny import TINY, toml


def test_flower_cells_get_the_address_space_ray_needs():
    assert cell_limits(DEFAULT_LIMITS, TINY) == DEFAULT_LIMITS
    flower = cell_limits(DEFAULT_LIMITS, replace(TINY, engine="flower"))
    assert flower.memory_mb == FLOWER_MEMORY_MB and flower.seconds == DEFAULT_LIMITS.seconds
    larger = replace(DEFAULT_LIMITS, memory_mb=2 * FLOWER_MEMORY_MB)
    assert cell_limits(larger, replace(TINY, engine="flower")) == larger


def test_a_flower_cell_runs_at_the_defaults_and_logs_to_its_own_file(tmp_path, capfd):
    scenario = tmp_path / "flower.toml"
    scenario.write_text(toml(replace(TINY, rounds=1, engine="flower")))
    out = tmp_path / "out"
    assert main(["matrix", "--scenario", str(scenario), "--out", str(out), "--workers", "1"]) == 0
    console = capfd.readouterr()
    logs = list((out / "logs").glob("*.log"))
    assert len(logs) == 1 and "Starting Flower SuperLink" in logs[0].read_text()
    assert "SuperLink" not in console.out + console.err
