"""What an update attack estimates the honest updates from: its own, or everyone's.

Statistics-based attacks (ALIE, IPM, min-max, min-sum) shape their update
from a *reference* set of honest updates:

- ``omniscient``: the benign clients' updates of the round (the full-knowledge
  setting of Xie et al. 2020 and Shejwalkar & Houmansadr 2021);
- ``own``: the honest updates the malicious clients trained themselves on
  their own data (the non-omniscient setting of Baruch et al. 2019, and the
  partial-knowledge setting of Shejwalkar & Houmansadr).
"""

from __future__ import annotations

from torch import Tensor

from fedarena.attacks.base import AttackContext

REFERENCES = ("omniscient", "own")


def check_knowledge(knowledge: str) -> str:
    """``knowledge`` if it is one of ``REFERENCES``; else a one-sentence ``ValueError``."""
    if knowledge not in REFERENCES:
        raise ValueError(f"knowledge must be one of {', '.join(REFERENCES)}, got {knowledge!r}")
    return knowledge


def reference_updates(
    knowledge: str, updates: Tensor, malicious: Tensor, ctx: AttackContext
) -> Tensor:
    """The honest updates an attack with this ``knowledge`` sees, shape (k, d)."""
    if knowledge == "omniscient":
        assert ctx.benign_updates is not None, "an omniscient attack is given the benign updates"
        return ctx.benign_updates
    return updates[malicious]


def spread(reference: Tensor) -> Tensor:
    """Coordinate-wise sample standard deviation; zero when fewer than two updates."""
    if len(reference) < 2:
        return reference.new_zeros(reference.shape[1])
    return reference.std(dim=0)
