"""Label flipping: malicious shoppers swap bought and browsed-only before training."""

from __future__ import annotations

import numpy as np

from fedarena.attacks.base import ATTACKS, Attack
from fedarena.options import real


def flip_labels(labels: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``labels`` with ``round(ratio * n)`` uniformly chosen entries set to ``1 - y``."""
    chosen = rng.choice(len(labels), size=round(ratio * len(labels)), replace=False)
    flipped = labels.copy()
    flipped[chosen] = 1 - flipped[chosen]
    return flipped


@ATTACKS.register("label_flip")
class LabelFlip(Attack):
    """Label flipping (data poisoning; Biggio et al. 2012, Tolpegin et al. ESORICS 2020).

    A malicious shopper rewrites its implicit feedback before each local
    training: a share ``ratio`` of its logged interactions, chosen afresh each
    round, get ``y' = 1 - y``, so purchases become browsed-only and
    browsed-only items become purchases. The local trainer then treats the log
    as honest data (uniform negatives per purchase, browsed-only items
    down-weighted), so the update teaches the model to recommend what shoppers
    looked at and left. Untargeted: it lowers utility for everyone.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> LabelFlip().poison(np.array([4, 7, 9]), np.array([1.0, 0.0, 0.0]), 10, rng)[1]
    array([0., 1., 1.])
    """

    acts_on = frozenset({"data"})
    knowledge = "own"
    goal = "untargeted"

    def __init__(self, ratio: float = 1.0) -> None:
        ratio = real("ratio", ratio)
        if not 0 < ratio <= 1:
            raise ValueError(f"ratio must be in (0, 1], got {ratio}")
        self.ratio = ratio

    def poison(
        self, items: np.ndarray, labels: np.ndarray, n_items: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return items, flip_labels(labels, self.ratio, rng)
