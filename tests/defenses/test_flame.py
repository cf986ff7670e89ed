"""FLAME: majority cluster, clipping to the median norm, noise of the stated scale."""

from __future__ import annotations

import numpy as np
import torch
from defense_helpers import context

from fedarena.defenses.flame import Flame, majority_cluster
from fedarena.defenses.geometry import cosine_similarities
from fedarena.engine.detection import score_auc


def _two_camps(n_benign: int, n_bad: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    good = torch.randn(d, generator=g)
    bad = torch.randn(d, generator=g)
    benign = good + 0.1 * torch.randn(n_benign, d, generator=g)
    attack = bad + 0.05 * torch.randn(n_bad, d, generator=g)
    return torch.cat([benign, 20 * attack])


def test_keeps_the_majority_cluster_only():
    # HDBSCAN's single-cluster mode may also leave the sparsest benign point out as noise.
    x = _two_camps(7, 3, 50, seed=0)
    out = Flame(noise=0.0).aggregate(x, torch.ones(10), context(x))
    assert not out.accepted[7:].any()
    assert int(out.accepted[:7].sum()) >= 6


def test_kept_updates_are_clipped_to_the_median_norm_then_averaged():
    x = _two_camps(7, 3, 50, seed=1)
    x[0] *= 10  # a long benign update, clipped
    out = Flame(noise=0.0).aggregate(x, torch.ones(10), context(x))
    norms = x.norm(dim=1)
    bound = float(np.median(norms.double().numpy()))
    kept = out.accepted
    clipped = x[kept] * torch.clamp(bound / norms[kept], max=1.0)[:, None]
    torch.testing.assert_close(out.update, clipped.mean(dim=0), rtol=1e-5, atol=1e-5)
    assert kept[0], "the long benign update is clipped, not dropped"
    assert out.diagnostics["clip_norm"] == bound


def test_noise_has_standard_deviation_lambda_times_the_bound():
    x = _two_camps(7, 3, 20_000, seed=2)
    quiet = Flame(noise=0.0).aggregate(x, torch.ones(10), context(x, seed=5))
    noisy = Flame(noise=0.01).aggregate(x, torch.ones(10), context(x, seed=5))
    spread = float((noisy.update - quiet.update).std())
    assert abs(spread / (0.01 * quiet.diagnostics["clip_norm"]) - 1) < 0.03


def test_too_few_to_cluster_keeps_everyone():
    assert majority_cluster(np.zeros((2, 2))).tolist() == [True, True]


def test_suspicion_is_the_mean_cosine_distance_to_the_majority_cluster():
    x = torch.tensor([[1.0, 0.1], [1.0, -0.1], [1.0, 0.0], [-5.0, 9.0]])
    out = Flame(noise=0.0).aggregate(x, torch.ones(4), context(x))
    distance = 1 - cosine_similarities(x)
    members = [[1, 2], [0, 2], [0, 1], [0, 1, 2]]  # the cluster {0, 1, 2} without the row
    expected = torch.stack([distance[i, others].mean() for i, others in enumerate(members)])
    assert out.suspicion.shape == (4,)
    torch.testing.assert_close(out.suspicion, expected)


def test_the_other_camp_is_the_most_suspicious():
    x = _two_camps(8, 2, 50, seed=3)
    out = Flame(noise=0.0).aggregate(x, torch.ones(10), context(x))
    assert score_auc(out.suspicion.numpy(), np.arange(10) >= 8) == 1.0


def test_a_nan_row_gets_infinite_suspicion():
    x = _two_camps(7, 3, 50, seed=0)
    x[8, 0] = float("nan")
    out = Flame(noise=0.0).aggregate(x, torch.ones(10), context(x))
    assert out.suspicion[8] == float("inf")
    assert torch.isfinite(out.suspicion[torch.arange(10) != 8]).all()
    assert score_auc(out.suspicion.numpy(), np.arange(10) >= 7) == 1.0
