"""The training losses, in the batch layouts ``fedarena.training.local`` builds.

- ``bce``: pointwise, each example an item with a label ``y`` and a weight ``w``::

      l = w BCE(s, y)

- ``bpr``: pairwise (Rendle et al., UAI 2009). A batch of b pairs is laid out as
  ``[a_1 .. a_b | b_1 .. b_b]``, labels and weights likewise; with ``d = y_a - y_b``::

      l = w_a w_b |d| softplus(-d (s_a - s_b))  = -log sigmoid(s_a - s_b) for d = 1

  so a pair whose labels were swapped (label flipping) is trained the other way round,
  and one with equal labels (padding) not at all.

Both give a batch's loss as the weighted mean over its examples (pairs) and the
derivative of that mean in every score, which is all the closed-form gradients need.
"""

from __future__ import annotations

import torch
from torch import Tensor

LOSSES = ("bce", "bpr")


def example_terms(
    scores: Tensor, labels: Tensor, weight: Tensor, loss: str
) -> tuple[Tensor, Tensor, Tensor]:
    """Per example (pair) of the last axis: its weighted loss, its weight and the derivative
    of its weighted loss in every score (shaped as ``scores``)."""
    if loss == "bce":
        losses = torch.nn.functional.binary_cross_entropy_with_logits(
            scores, labels, reduction="none"
        )
        return weight * losses, weight, weight * (torch.sigmoid(scores) - labels)
    half = scores.shape[-1] // 2
    sign = labels[..., :half] - labels[..., half:]
    pair_weight = weight[..., :half] * weight[..., half:] * sign.abs()
    margin = sign * (scores[..., :half] - scores[..., half:])
    slope = pair_weight * sign * torch.sigmoid(-margin)
    derivative = torch.cat([-slope, slope], dim=-1)
    return pair_weight * torch.nn.functional.softplus(-margin), pair_weight, derivative


def batch_loss(scores: Tensor, labels: Tensor, weight: Tensor, loss: str) -> Tensor:
    """The weighted mean loss over the last axis (weight 0 = padding)."""
    losses, weights, _ = example_terms(scores, labels, weight, loss)
    return losses.sum(-1) / weights.sum(-1).clamp_min(1e-12)


def mean_loss_derivative(scores: Tensor, labels: Tensor, weight: Tensor, loss: str) -> Tensor:
    """The derivative of ``batch_loss`` in every score (shaped as ``scores``)."""
    _, weights, derivative = example_terms(scores, labels, weight, loss)
    return derivative / weights.sum(-1, keepdim=True).clamp_min(1e-12)
