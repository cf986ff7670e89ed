"""Named random streams: every generator fedarena draws from, in one place.

A generator is seeded by ``(scenario seed, stream, ids...)``, so what each
purpose draws depends only on the seed and its own ids (round, client), never
on what another purpose drew before it, nor on the engine or the order in
which clients are processed. Their values are part of every published number:
changing one changes results, so new purposes get new values and old ones stay.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import torch


class Stream(IntEnum):
    """The purpose a generator serves; the ids that follow it are listed beside each."""

    ROUND = 1  # (round): client sampling and the seed of the round's torch generator
    CLIENT_DATA = 2  # (round, client): poisoning, negatives, batch order, DP-SGD noise seed
    ROOT_UPDATE = 3  # (round): the server's training on its root set (FLTrust)
    CLIENT_CRAFT = 4  # (round, client): a crafting attack's draws on a Flower client
    SHOPPERS = 0x5B0  # (): the simulated population
    CATALOG_SAMPLE = 0xCA7  # (): the items sampled from a large Amazon catalog
    ENROLMENT = 0xA77  # (): which shoppers are malicious, Sybils' fake logs
    EVALUATION = 0xE7A1  # (): evaluation negatives
    TARGETS = 0x7A6E7  # (): a targeted attack's target items
    QSGD = 0x0516D  # (round, client): QSGD's stochastic rounding
    POPULARITY_TIEBREAK = 0x909  # (): ties in the popularity baseline
    LOCAL_BASELINE = 0x10C  # (shopper): the local-only baseline's training
    CENTRALISED = 0xCE7  # (): the centralised baseline's training
    INTERACTIONS = 0x1065  # (0): users kept from a large log; (1): its evaluation negatives
    EPOCH = 0xE90C  # (epoch): the order of the shoppers under epoch sampling
    ATTACK_STATE = 0xA75  # (): what an attack draws once for the whole run (spattack's rows)


ROOT_SEED_OFFSET = 10_007  # the root set's shoppers are simulated with seed + this offset
BUILTIN_CATALOG_SEED = 0  # the built-in catalog is one shop for every scenario seed

# Two draws use torch, not numpy: ``model_generator`` initialises the item tower and the
# private embeddings, and ``torch.manual_seed(seed)`` seeds torch's global generator before
# anything else is built (for components that draw from it).


def model_generator(seed: int) -> torch.Generator:
    """The torch generator the initial model and private embeddings are drawn from."""
    return torch.Generator().manual_seed(int(seed))


def stream(seed: int, purpose: Stream, *ids: int) -> np.random.Generator:
    """The numpy generator of ``purpose`` for ``seed`` and ``ids``."""
    return np.random.default_rng([int(seed), int(purpose), *(int(i) for i in ids)])
