"""A Little Is Enough (Baruch et al., NeurIPS 2019): hide inside the honest spread."""

from __future__ import annotations

import math
from statistics import NormalDist

from torch import Tensor

from fedarena.attacks.base import ATTACKS, Attack, AttackContext, send
from fedarena.attacks.knowledge import check_knowledge, reference_updates, spread
from fedarena.options import real


def alie_z(n: int, f: int) -> float:
    """``z_max`` of Baruch et al.: ``s = floor(n/2 + 1) - f``, ``z = Phi^-1((n - s) / n)``.

    ``s`` is the number of honest clients the attackers must win over to hold
    a majority; ``z`` keeps the crafted value closer to the mean than ``n - s``
    of the ``n`` values of a normal coordinate. (Blades and ByzFL use
    ``(n - f - s) / (n - f)`` instead; this is the paper's formula.)

    >>> round(alie_z(50, 5), 4)
    0.2019
    """
    s = math.floor(n / 2 + 1) - f
    if not 0 < s < n:
        raise ValueError(
            f"ALIE needs 0 < s < n for s = floor(n/2 + 1) - f; got n={n}, f={f}, s={s}"
        )
    return NormalDist().inv_cdf((n - s) / n)


@ATTACKS.register("alie")
class ALittleIsEnough(Attack):
    """ALIE (Baruch, Baruch & Goldberg, NeurIPS 2019).

    With ``mu_j`` and ``sigma_j`` the mean and standard deviation of
    coordinate ``j`` over the reference updates, every malicious client sends

        x_j = mu_j - z * sigma_j,   z = alie_z(n, f)

    a small, consistent shift that stays within the honest spread, so that
    median- and distance-based aggregators keep it. ``n`` is the clients per
    round and ``f`` the malicious clients per round of the scenario, unless
    ``z`` is given. ``knowledge="own"`` (the paper's non-omniscient attacker)
    estimates ``mu`` and ``sigma`` from the malicious clients' own honest
    updates; ``"omniscient"`` from the benign ones (ByzFL, Blades).
    """

    acts_on = frozenset({"update"})
    goal = "untargeted"

    def __init__(
        self,
        z: float | None = None,
        knowledge: str = "own",
        n_clients: int | None = None,
        n_malicious: int | None = None,
    ) -> None:
        self.knowledge = check_knowledge(knowledge)
        if z is None:
            if n_clients is None or n_malicious is None:
                raise ValueError("alie needs z, or the scenario's n_clients and n_malicious")
            z = alie_z(n_clients, n_malicious)
        z = real("z", z)
        if not math.isfinite(z):
            raise ValueError(f"z must be a finite number, got {z}")
        self.z = z

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Tensor]:
        reference = reference_updates(self.knowledge, updates, malicious, ctx)
        if not malicious.any() or not len(reference):
            return list(updates)
        return send(updates, malicious, reference.mean(dim=0) - self.z * spread(reference))
