"""The recommender's shared/private split and flat update layout."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from fedarena.model import (
    SharedLayout,
    example_gradient_norms,
    stacked_forward,
    stacked_gradients,
)


def test_layout_round_trips(model):
    tower, layout, flat, _ = model
    assert flat.dtype == torch.float32 and flat.shape == (layout.dim,)
    doubled = flat * 2
    layout.load(tower, doubled)
    assert torch.equal(layout.flatten(tower), doubled)
    stacked = torch.stack([flat, doubled])
    views = layout.unflatten(stacked)
    assert views["item_embedding"].shape == (2, *tower.item_embedding.shape)


def test_private_embedding_is_not_shared(model):
    tower, layout, _, users = model
    assert layout.dim == sum(p.numel() for p in tower.parameters())
    assert "user" not in " ".join(layout.names)
    assert SharedLayout.of(tower).dim == layout.dim
    assert users.shape[1] == tower.dim


def test_score_all_matches_forward(model):
    tower, _, _, users = model
    items = torch.arange(len(tower.item_bias)).expand(3, -1)
    torch.testing.assert_close(tower.score_all(users[:3]), tower(users[:3], items))


def _stacked_case(model, k=3, b=7, seed=0):
    """k clients' random towers (perturbed from the initial one), users and a minibatch."""
    tower, layout, flat, users = model
    g = torch.Generator().manual_seed(seed)
    stacked = flat + 0.3 * torch.randn(k, layout.dim, generator=g)
    params = layout.unflatten(stacked)
    items = torch.randint(0, len(tower.item_bias), (k, b), generator=g)
    dscore = torch.randn(k, b, generator=g)
    return tower, layout, stacked, params, users[:k].clone(), items, dscore


def _one_client_scores(tower, layout, flat, user, items):
    return functional_call(
        tower, layout.unflatten(flat), (user.expand(len(items), -1), items[:, None])
    )[:, 0]


def test_stacked_forward_scores_as_the_tower_does(model):
    tower, layout, stacked, params, users, items, _ = _stacked_case(model)
    batch = stacked_forward(params, users, items, items, tower)
    for c in range(len(items)):
        expected = _one_client_scores(tower, layout, stacked[c], users[c], items[c])
        torch.testing.assert_close(batch.scores[c], expected, atol=1e-6, rtol=1e-5)


def test_stacked_gradients_equal_autograd(model):
    tower, layout, stacked, params, users, items, dscore = _stacked_case(model)
    batch = stacked_forward(params, users, items, items, tower)
    grads, user_grad = stacked_gradients(params, batch, dscore)
    for c in range(len(items)):
        flat = stacked[c].clone().requires_grad_(True)
        user = users[c].clone().requires_grad_(True)
        score = _one_client_scores(tower, layout, flat, user, items[c])
        flat_grad, expected_user = torch.autograd.grad((dscore[c] * score).sum(), (flat, user))
        expected = layout.unflatten(flat_grad)
        for name in layout.names:
            torch.testing.assert_close(grads[name][c], expected[name], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(user_grad[c], expected_user, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("with_user", [True, False])
def test_example_gradient_norms_equal_per_example_autograd(model, with_user):
    tower, layout, stacked, params, users, items, dscore = _stacked_case(model, b=5)
    batch = stacked_forward(params, users, items, items, tower)
    norms = example_gradient_norms(params, batch, dscore, with_user)
    for c in range(len(items)):
        for j in range(items.shape[1]):
            flat = stacked[c].clone().requires_grad_(True)
            user = users[c].clone().requires_grad_(True)
            score = _one_client_scores(tower, layout, flat, user, items[c, j : j + 1])
            parts = torch.autograd.grad(dscore[c, j] * score.sum(), (flat, user))
            expected = torch.cat(parts if with_user else parts[:1]).norm()
            torch.testing.assert_close(norms[c, j], expected, atol=1e-6, rtol=1e-5)


def test_item_vectors_gathered_for_many_indices_equal_direct(model):
    tower = model[0]
    many = torch.randint(0, len(tower.item_bias), (3, len(tower.item_bias)))
    direct = torch.cat([tower.item_vectors(row) for row in many]).reshape(*many.shape, -1)
    torch.testing.assert_close(tower.item_vectors(many), direct)
    offsets = torch.stack([tower.item_offsets(row) for row in many])
    torch.testing.assert_close(tower.item_offsets(many), offsets)
