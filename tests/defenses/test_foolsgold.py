"""FoolsGold: learning rates by hand, histories across rounds, identical Sybils flagged."""

from __future__ import annotations

import math

import numpy as np
import torch
from defense_helpers import context, random_updates

from fedarena.defenses import RoundContext
from fedarena.defenses.foolsgold import FoolsGold, foolsgold_weights
from fedarena.defenses.geometry import cosine_similarities
from fedarena.engine.detection import score_auc


def test_learning_rates_by_hand():
    # cos(x1, x2) = 0.5, x3 orthogonal to both: alpha = 1 - max cs = (0.5, 0.5, 1), scaled
    # by max (1 -> 0.99), logit + 0.5: ln(1) + 0.5 = 0.5 and ln(99) + 0.5 > 1 -> 1.
    x = torch.tensor([[1.0, 0.0, 0.0], [0.5, math.sqrt(0.75), 0.0], [0.0, 0.0, 2.0]])
    alpha = foolsgold_weights(cosine_similarities(x), kappa=1.0)
    torch.testing.assert_close(alpha, torch.tensor([0.5, 0.5, 1.0], dtype=torch.float64))
    out = FoolsGold().aggregate(x, torch.ones(3), context(x)).update
    torch.testing.assert_close(out, (0.5 * x[0] + 0.5 * x[1] + x[2]) / 2)


def test_pardoning_spares_an_honest_client_similar_to_one_sybil():
    # cs: sybils 1, 2 at 0.99; client 0 at 0.5 to sybil 1. Without pardoning client 0
    # would get 1 - 0.5 = 0.5; with it, cs_01 *= v_0 / v_1 = 0.5 / 0.99.
    cs = torch.tensor([[1.0, 0.5, 0.0], [0.5, 1.0, 0.99], [0.0, 0.99, 1.0]], dtype=torch.float64)
    alpha = foolsgold_weights(cs, kappa=1.0)
    pardoned = 1 - 0.5 * 0.5 / 0.99
    expected_0 = math.log(pardoned / (1 - pardoned)) + 0.5 if pardoned < 1 else 1.0
    assert alpha[0].item() == min(1.0, expected_0)
    assert alpha[1].item() == 0.0 and alpha[2].item() == 0.0


def test_histories_accumulate_per_client_id():
    fg = FoolsGold()
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    ctx = RoundContext.for_updates(a)
    fg.aggregate(a, torch.ones(1), ctx)
    fg.aggregate(b, torch.ones(1), ctx)
    torch.testing.assert_close(fg._history[0], torch.tensor([1.0, 1.0]))


def test_identical_sybils_are_flagged_round_after_round():
    fg = FoolsGold()
    g = torch.Generator().manual_seed(0)
    payload = torch.randn(100, generator=g)
    flagged, seen = 0, 0
    for round in range(10):
        ids = np.sort(np.random.default_rng(round).choice(60, size=20, replace=False))
        sybil = ids < 10
        x = random_updates(20, 100, seed=round)
        x[torch.from_numpy(sybil)] = payload
        ctx = RoundContext(round, 0, ids, torch.zeros(100), g)
        out = fg.aggregate(x, torch.ones(20), ctx)
        flagged += int((~out.accepted[torch.from_numpy(sybil)]).sum())
        seen += int(sybil.sum())
        assert out.accepted[torch.from_numpy(~sybil)].all()
    assert flagged == seen


def test_suspicion_is_one_minus_the_learning_rate():
    x = torch.tensor([[1.0, 0.0, 0.0], [0.5, math.sqrt(0.75), 0.0], [0.0, 0.0, 2.0]])
    out = FoolsGold().aggregate(x, torch.ones(3), context(x))
    assert out.suspicion.shape == (3,)
    torch.testing.assert_close(out.suspicion, torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64))


def test_identical_sybils_are_the_most_suspicious():
    g = torch.Generator().manual_seed(1)
    x = random_updates(10, 50, seed=1)
    sybil = np.arange(10) >= 7
    x[torch.from_numpy(sybil)] = torch.randn(50, generator=g)
    out = FoolsGold().aggregate(x, torch.ones(10), context(x))
    assert score_auc(out.suspicion.numpy(), sybil) == 1.0


def test_a_nan_row_gets_infinite_suspicion():
    x = random_updates(6, 20, seed=2)
    x[1, 3] = float("nan")
    out = FoolsGold().aggregate(x, torch.ones(6), context(x))
    assert out.suspicion[1] == float("inf")
    assert torch.isfinite(out.suspicion[torch.arange(6) != 1]).all()
