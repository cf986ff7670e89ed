"""Label flipping: malicious shoppers train on their examples with the labels flipped."""

from __future__ import annotations

import numpy as np

from fedarena.attacks.base import ATTACKS, Attack
from fedarena.options import real
from fedarena.training.local import Examples


def flip_labels(labels: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``labels`` with ``round(ratio * n)`` uniformly chosen entries set to ``1 - y``."""
    chosen = rng.choice(len(labels), size=round(ratio * len(labels)), replace=False)
    flipped = labels.copy()
    flipped[chosen] = 1 - flipped[chosen]
    return flipped


@ATTACKS.register("label_flip")
class LabelFlip(Attack):
    """Label flipping (data poisoning; Biggio et al. 2012, Tolpegin et al. ESORICS 2020),
    in its implicit-feedback form (the recommender-poisoning literature's
    analogue: flip the observed interactions and the sampled negatives alike).

    A malicious shopper draws its examples for the round as an honest client
    does (its purchases, its browsed-only items and the sampled negatives,
    ``fedarena.training.local.training_examples``), then flips ``y' = 1 - y``
    on a share ``ratio`` of them, chosen afresh each round, and trains on them
    with full weight 1: its purchases become negatives and random unbought
    items become purchases, so its update teaches the model to rank what
    shoppers buy below what nobody wanted. Untargeted: it lowers utility for
    everyone.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> examples = (np.array([4, 7, 9]), np.array([1.0, 0.0, 0.0]), np.array([1.0, 0.1, 1.0]))
    >>> LabelFlip().poison_examples(examples, rng)
    (array([4, 7, 9]), array([0., 1., 1.]), array([1., 1., 1.]))
    """

    acts_on = frozenset({"data"})
    knowledge = "own"
    goal = "untargeted"

    def __init__(self, ratio: float = 1.0) -> None:
        ratio = real("ratio", ratio)
        if not 0 < ratio <= 1:
            raise ValueError(f"ratio must be in (0, 1], got {ratio}")
        self.ratio = ratio

    def poison_examples(self, examples: Examples, rng: np.random.Generator) -> Examples:
        items, labels, weights = examples
        return items, flip_labels(labels, self.ratio, rng), np.ones_like(weights)
