"""UNION: the exact 2-means, the gap statistic's verdict, the uniformity, the filter against a
collapsing update, its client-side term in both engines, the options."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from fedarena.defenses import create_defense
from fedarena.defenses.base import RoundContext
from fedarena.defenses.union import Union, filtered, two_means
from fedarena.errors import SpecError
from fedarena.model import ItemRows, SharedLayout, build_model
from fedarena.scenario.run import run_scenario
from fedarena.training.sequential import SequentialTrainer
from fedarena.training.vectorised import VectorisedTrainer
from tiny import TINY

ROWS = ItemRows(index=np.arange(200).reshape(50, 4), dense=np.arange(200, 210))


def _context(params: torch.Tensor, n: int, f: int) -> RoundContext:
    return RoundContext(
        round=0,
        n_malicious=f,
        client_ids=np.arange(n),
        global_params=params,
        generator=torch.Generator().manual_seed(1),
    )


def test_two_means_known_answer():
    within, split = two_means(torch.tensor([0.0, 0.1, 0.9, 1.0]).double())
    assert split == 2
    assert float(within) == pytest.approx(4 * 0.05**2)


def test_two_means_is_the_best_split_by_brute_force():
    values = torch.rand(9, generator=torch.Generator().manual_seed(2)).double().sort().values
    within, split = two_means(values)

    def sse(part):
        return float(((part - part.mean()) ** 2).sum())

    costs = [sse(values[:j]) + sse(values[j:]) for j in range(1, 9)]
    assert float(within) == pytest.approx(min(costs))
    assert split == int(np.argmin(costs)) + 1


def test_gap_statistic_sees_two_clusters_only_where_there_are():
    generator = torch.Generator().manual_seed(3)
    apart = torch.tensor([0.0, 0.01, 0.02, 0.03, 0.02, 0.01, 1.0, 0.99]).double()
    keep, _, two = filtered(apart, 0, 50, generator)
    assert two and keep.tolist() == [True] * 6 + [False] * 2
    even = torch.linspace(0, 1, 20).double()
    keep, _, two = filtered(even, 0, 50, generator)
    assert not two and keep.all()


def test_a_small_cluster_of_at_most_f_goes_even_without_a_gap():
    even = torch.linspace(0, 1, 20).double()
    keep, suspicion, two = filtered(even, 10, 50, torch.Generator().manual_seed(4))
    assert not two and int((~keep).sum()) == 10
    assert suspicion[~keep].min() > suspicion[keep].min()


def test_uniformity_is_the_mean_distance_between_the_rows_after_the_update():
    rows = ItemRows(index=np.array([[0, 1], [2, 3]]), dense=np.array([], dtype=np.int64))
    defense = Union(items=2, item_rows=rows)
    params = torch.tensor([0.0, 0.0, 3.0, 4.0])
    updates = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, -3.0, -4.0]])
    score = defense.uniformity(updates, _context(params, 2, 0))
    torch.testing.assert_close(score, torch.tensor([5.0, 0.0]).double())


def test_collapsing_updates_are_dropped_and_the_rest_averaged():
    g = torch.Generator().manual_seed(0)
    params = torch.randn(210, generator=g)
    honest = 0.05 * torch.randn(18, 210, generator=g)
    collapse = -0.9 * params.expand(2, -1)
    updates = torch.cat([honest, collapse])
    out = create_defense("union", item_rows=ROWS).aggregate(
        updates, torch.ones(20), _context(params, 20, 2)
    )
    assert out.accepted.tolist() == [True] * 18 + [False] * 2
    torch.testing.assert_close(out.update, honest.mean(dim=0))
    assert out.diagnostics["two_clusters"] == 1.0


def test_honest_updates_and_f_zero_keep_everyone():
    g = torch.Generator().manual_seed(5)
    params = torch.randn(210, generator=g)
    honest = 0.05 * torch.randn(18, 210, generator=g)
    out = create_defense("union", item_rows=ROWS).aggregate(
        honest, torch.ones(18), _context(params, 18, 0)
    )
    assert out.accepted.all()


@pytest.mark.parametrize("kind", [VectorisedTrainer, SequentialTrainer])
def test_clients_train_with_the_contrastive_term(kind, catalog):
    tower = build_model("mf", catalog, 8)
    layout = SharedLayout.of(tower)
    defense = create_defense("union(weight=0.5, negatives=7)", item_rows=ItemRows.of(layout))
    trainer = defense.client_trainer(tower, layout, kind(tower, layout))
    assert isinstance(trainer, kind)
    assert trainer.term is not None
    assert (trainer.term.weight, trainer.term.negatives, trainer.term.n_items) == (
        0.5,
        7,
        len(catalog),
    )


@pytest.mark.parametrize(
    "spec, message",
    [
        ("union(items=1)", "items must be an integer >= 2"),
        ("union(references=1)", "references must be an integer >= 2"),
        ("union(weight=-1)", "weight must be >= 0"),
        ("union(negatives=0)", "negatives must be an integer >= 1"),
        ("union(temperature=0)", "temperature must be > 0"),
    ],
)
def test_bad_options_are_one_line_errors(spec, message):
    with pytest.raises((ValueError, SpecError), match=message):
        create_defense(spec, item_rows=ROWS)


def test_it_needs_the_item_rows():
    with pytest.raises((ValueError, SpecError), match="union needs the model's item rows"):
        create_defense("union")


@pytest.mark.parametrize("engine", ["vectorised", "sequential"])
def test_union_runs_in_a_federation_against_cluster_attack(engine):
    scenario = replace(
        TINY,
        model="mf",
        attack="cluster_attack",
        malicious_fraction=0.1,
        defense="union",
        engine=engine,
    )
    result = run_scenario(scenario)
    assert 0.0 <= result["final"]["hr@10"] <= 1.0
    assert 0.0 <= result["final"]["detection_auc"] <= 1.0  # detection is reported per client
