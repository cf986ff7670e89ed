"""Inner product manipulation (Xie, Koyejo & Gupta, "Fall of Empires", UAI 2020)."""

from __future__ import annotations

from torch import Tensor

from fedarena.attacks.base import ATTACKS, Attack, AttackContext, send
from fedarena.attacks.knowledge import check_knowledge, reference_updates
from fedarena.options import real


@ATTACKS.register("ipm")
class InnerProductManipulation(Attack):
    """IPM (Xie et al., UAI 2020): every malicious client sends ``-epsilon * mean(benign)``.

    The aggregate's inner product with the true mean becomes negative once the
    attack outweighs it: under plain averaging with ``f`` of ``n`` clients, when
    ``epsilon > (n - f) / f``. Small ``epsilon`` (the paper's 0.1) keeps the
    malicious updates close to the honest ones, which defeats Krum and the
    coordinate-wise median; a large one reverses plain averaging.
    ``knowledge="own"`` uses the mean of the malicious clients' honest updates.

    >>> import torch
    >>> u = torch.tensor([[9.0, 9.0], [1.0, 2.0], [3.0, 4.0]])
    >>> ctx = type("Ctx", (), {"benign_updates": u[1:]})()
    >>> InnerProductManipulation(epsilon=0.5).craft(u, torch.tensor([True, False, False]), ctx)[0]
    tensor([-1.0000, -1.5000])
    """

    acts_on = frozenset({"update"})
    goal = "untargeted"

    def __init__(self, epsilon: float = 0.1, knowledge: str = "omniscient") -> None:
        epsilon = real("epsilon", epsilon)
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon}")
        self.epsilon = epsilon
        self.knowledge = check_knowledge(knowledge)

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Tensor]:
        reference = reference_updates(self.knowledge, updates, malicious, ctx)
        if not malicious.any() or not len(reference):
            return list(updates)
        return send(updates, malicious, -self.epsilon * reference.mean(dim=0))
