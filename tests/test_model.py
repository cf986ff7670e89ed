"""The recommender's shared/private split and flat update layout."""

from __future__ import annotations

import torch

from fedarena.model import SharedLayout


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
