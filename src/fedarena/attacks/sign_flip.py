"""Sign flipping: send the opposite of the honestly trained update."""

from __future__ import annotations

from torch import Tensor

from fedarena.attacks.base import ATTACKS, Attack, AttackContext, send
from fedarena.options import real


@ATTACKS.register("sign_flip")
class SignFlip(Attack):
    """Sign flipping (Damaskinos et al. 2018; Li et al., RSA, AAAI 2019; as in Blades).

    Each malicious client trains honestly, then sends ``-scale * u_i``: the
    same step size, the opposite direction (``scale = 1``), or a stronger push
    (Li et al. use ``scale = 4``). Needs only its own update.

    >>> import torch
    >>> u = torch.tensor([[1.0, -2.0], [3.0, 4.0]])
    >>> torch.stack(SignFlip().craft(u, torch.tensor([True, False]), None))
    tensor([[-1.,  2.],
            [ 3.,  4.]])
    """

    acts_on = frozenset({"update"})
    knowledge = "own"
    goal = "untargeted"

    def __init__(self, scale: float = 1.0) -> None:
        scale = real("scale", scale)
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.scale = scale

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Tensor]:
        return send(updates, malicious, -self.scale * updates[malicious])
