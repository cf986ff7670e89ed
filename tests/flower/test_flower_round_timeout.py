"""A SuperNode that never replies does not stall the run: its clients are dropped from the
round after ``round_timeout`` seconds, and the result document and the log name them."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace

import pytest
from flower_local_grid import FIRST_NODE, SilentNodeGrid

from fedarena.errors import FedarenaError
from fedarena.flower import client_app
from fedarena.flower.server_app import AppConfig, serve
from fedarena.flower.strategy import ROUND_TIMEOUT_S
from fedarena.scenario.world import build_world
from tiny import TINY

SCENARIO = replace(TINY, seed=3, rounds=2, shoppers=60, clients_per_round=10)
SILENT = FIRST_NODE + 1


def _three_nodes_one_silent(app, n_shoppers):
    configs = [{"partition-id": k, "num-partitions": 3} for k in range(3)]
    return SilentNodeGrid(app, configs, silent=SILENT)


def test_a_silent_supernode_is_dropped_after_the_timeout_and_recorded(caplog):
    world = build_world(SCENARIO)
    grid = _three_nodes_one_silent(client_app.app, len(world.population))
    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="fedarena.flower"):
        result = serve(grid, world, round_timeout=1.0)
    assert time.monotonic() - began < 30
    assert grid.timeouts[-SCENARIO.rounds :] == [1.0] * SCENARIO.rounds
    for record in result["rounds"]:
        assert record["dropped_nodes"] == [SILENT]
        assert record["dropped_shoppers"] and all(s % 3 == 1 for s in record["dropped_shoppers"])
        assert record["n_sampled"] + len(record["dropped_shoppers"]) == SCENARIO.clients_per_round
        assert math.isfinite(record["train_loss"])
    assert math.isfinite(result["final"]["ndcg@10"])
    warnings = [r.getMessage() for r in caplog.records if r.name == "fedarena.flower"]
    assert len(warnings) == SCENARIO.rounds
    assert "no reply within 1 s" in warnings[0] and f"SuperNodes [{SILENT}]" in warnings[0]


def test_every_client_silent_stops_the_round_with_the_timeout_named():
    world = build_world(SCENARIO)
    grid = SilentNodeGrid(client_app.app, [{"partition-id": 0, "num-partitions": 1}], FIRST_NODE)
    with pytest.raises(
        FedarenaError,
        match=r"round 0: none of the 10 sampled clients replied within "
        r"round_timeout=0.2 s",
    ):
        serve(grid, world, round_timeout=0.2)


def test_round_timeout_is_a_run_config_key_with_a_stated_default():
    assert AppConfig.from_run_config({}).round_timeout == ROUND_TIMEOUT_S == 300.0
    assert AppConfig.from_run_config({"round_timeout": 2}).round_timeout == 2.0
    for bad in (0, -1.5, "x", True):
        with pytest.raises(FedarenaError, match="run config: round_timeout must be a number"):
            AppConfig.from_run_config({"round_timeout": bad})
