"""ClusterAttack: the clustering loss's gradient, k-means against scikit-learn, the upload,
and the rule that adapts k."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

from fedarena.attacks import ATTACKS, AttackContext
from fedarena.attacks.cluster_attack import ClusterAttack, kmeans
from fedarena.errors import SpecError
from fedarena.model import ItemRows
from fedarena.scenario.run import run_scenario
from tiny import TINY

N_ITEMS, DIM = 30, 2


def _blobs() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]])
    return (centres.repeat_interleave(10, dim=0) + 0.3 * torch.randn(30, 2, generator=g)).double()


def test_kmeans_finds_the_partition_scikit_learn_finds():
    points = _blobs()
    centres, labels = kmeans(points, 3, torch.Generator().manual_seed(1))
    reference = KMeans(3, n_init=10, random_state=0).fit(points.numpy())
    pairs = set(zip(labels.tolist(), reference.labels_.tolist(), strict=True))
    assert len(pairs) == 3  # the same three groups, up to their names
    inertia = float((points - centres[labels]).square().sum())
    assert inertia == pytest.approx(reference.inertia_, rel=1e-6)


def test_the_gradient_is_the_gradient_of_the_clustering_loss():
    attack, items = ClusterAttack(clusters=3), _blobs()
    gradient, loss = attack.cluster_gradient(items, torch.Generator().manual_seed(1))
    centres, labels = kmeans(items, 3, torch.Generator().manual_seed(1))
    leaf = items.clone().requires_grad_(True)
    expected = (leaf - centres[labels]).square().sum() / 3
    expected.backward()
    torch.testing.assert_close(gradient, leaf.grad)
    assert loss == pytest.approx(float(expected.detach()))


def _ctx(items: torch.Tensor, n: int) -> AttackContext:
    return AttackContext(0, items.float().flatten(), n, 1.0, torch.Generator().manual_seed(2))


def test_every_row_points_to_its_centre_with_an_honest_length():
    rows = ItemRows(index=np.arange(N_ITEMS * DIM).reshape(N_ITEMS, DIM), dense=np.zeros(0, int))
    attack, items = ClusterAttack(clusters=3, norm_scale=3.0, item_rows=rows), _blobs()
    honest = torch.zeros(4, N_ITEMS, DIM)
    honest[:, :5] = torch.randn(4, 5, DIM, generator=torch.Generator().manual_seed(3))
    malicious = torch.tensor([True, False, True, False])
    sent = torch.stack(attack.craft(honest.reshape(4, -1), malicious, _ctx(items, 4)))
    rows = sent[malicious].double().reshape(2, N_ITEMS, DIM)
    norms = honest[malicious].norm(dim=-1)
    norms = norms[norms > 0].double()
    mu, sigma = float(norms.mean()), float(norms.std())
    lengths = rows.norm(dim=-1)
    assert (lengths >= mu - 1e-5).all() and (lengths <= mu + 3 * sigma + 1e-5).all()
    gradient, _ = ClusterAttack(clusters=3).cluster_gradient(
        items, torch.Generator().manual_seed(2)
    )
    cosine = torch.nn.functional.cosine_similarity(rows, -gradient[None], dim=-1)
    torch.testing.assert_close(cosine, torch.ones_like(cosine))
    assert torch.equal(sent[~malicious], honest[~malicious].reshape(2, -1))


def test_k_grows_after_patience_rounds_of_rising_loss_and_shrinks_after_falling():
    attack = ClusterAttack(clusters=2, max_clusters=50, patience=3, ema_decay=0.0)
    for loss in (1.0, 2.0, 3.0, 4.0):
        attack.adapt(loss)
    assert attack.k == round(2 + 48**0.5) and attack.patience == pytest.approx(3.3)
    for loss in (9.0, 8.0, 7.0, 6.0, 5.0):
        attack.adapt(loss)
    assert attack.k == round(9 - 8**0.5)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("cluster_attack(clusters=0)", "clusters must be an integer >= 1"),
        ("cluster_attack(clusters=60)", "clusters \\(60\\) exceeds max_clusters \\(50\\)"),
        ("cluster_attack(norm_scale=-1)", "norm_scale must be >= 0"),
        ("cluster_attack(ema_decay=1)", "ema_decay must be in \\[0, 1\\)"),
    ],
)
def test_bad_options_are_one_line_errors(spec, message):
    with pytest.raises((ValueError, SpecError), match=message):
        ATTACKS.create(spec, seed=0)


@pytest.mark.parametrize("model", ["mf", "tower"])
def test_it_runs_in_a_federation(model):
    scenario = replace(TINY, model=model, attack="cluster_attack", malicious_fraction=0.2)
    result = run_scenario(scenario)
    assert result["attack"]["goal"] == "untargeted"
    assert {"hr@10_drop", "ndcg@10_drop"} <= set(result["final"])
