"""The baseline cache returns exactly what training computes, and only for the same world."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fedarena.data import cache
from fedarena.scenario.baseline_cache import baseline_key
from fedarena.scenario.run import run_scenario
from fedarena.scenario.world import build_world
from tiny import TINY

WITH_BASELINES = replace(TINY, baselines=True, malicious_fraction=0.2)


@pytest.fixture()
def cached(tmp_path):
    cache.use(tmp_path)
    yield tmp_path
    cache.use(None)


def _baselines(document):
    return {k: document["baselines"][k] for k in ("local", "centralised")}


def _files(folder):
    return sorted(p.name for p in folder.glob("baseline-*.json"))


def test_a_cell_of_the_same_world_reads_the_baselines_another_cell_trained(cached):
    computed = _baselines(run_scenario(WITH_BASELINES, compare_clean=False))
    assert len(_files(cached)) == 2
    other_cell = replace(WITH_BASELINES, attack="sign_flip", defense="median")
    stored = _baselines(run_scenario(other_cell, compare_clean=False))
    assert len(_files(cached)) == 2  # nothing new trained
    cache.use(None)
    assert stored == computed == _baselines(run_scenario(other_cell, compare_clean=False))


def test_the_key_follows_the_world_not_the_attack_defense_or_strategy():
    def key(scenario):
        return baseline_key("local", build_world(scenario))

    same = key(WITH_BASELINES)
    assert same == key(replace(WITH_BASELINES, attack="sign_flip", defense="norm_clip"))
    assert same == key(replace(WITH_BASELINES, strategy="fedavg_plus"))
    assert same != baseline_key("centralised", build_world(WITH_BASELINES))
    for changed in (
        {"seed": 1},
        {"malicious_fraction": 0.3},  # another honest set
        {"local_lr": 0.01},
        {"dim": 4},
        {"shoppers": 61},
    ):
        assert same != key(replace(WITH_BASELINES, **changed)), changed


def test_an_unreadable_file_is_recomputed_and_replaced(cached):
    computed = _baselines(run_scenario(WITH_BASELINES, compare_clean=False))
    for path in cached.glob("baseline-*.json"):
        path.write_text("{not json")
    assert _baselines(run_scenario(WITH_BASELINES, compare_clean=False)) == computed
    assert all(p.read_text().startswith('{"') for p in cached.glob("baseline-*.json"))
