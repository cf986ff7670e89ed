"""A-ra and A-hum (Rong et al., "Poisoning Deep Learning based Recommender Model in Federated
Learning Scenarios", IJCAI 2022): fake users who promote targets for users they make up."""

from __future__ import annotations

import torch
from torch import Tensor

from fedarena.attacks.base import ATTACKS
from fedarena.attacks.item_rows import ItemRowAttack, bounded_rows
from fedarena.data.catalog import Catalog
from fedarena.options import integer, real

MINING_LR = 0.001  # the reference's rate, its server learning rate


@ATTACKS.register("a_hum")
class HardUserMining(ItemRowAttack):
    """A-hum: fake users who lift the targets for mined "hard" users (Rong et al., IJCAI 2022).

    *Knowledge* (``own``): the global item matrix ``V`` and nothing of the benign users:
    the attacker makes up the users it poisons for.

    *Approximated users*: each fake user, each round it is sampled, draws ``users``
    vectors ``u ~ N(0, user_std^2 I)`` (the reference's 10 and 0.01). A-hum then mines
    hard users, who dislike the targets ``T``, by ``mining_steps`` steps of gradient
    descent (rate ``mining_lr``; the reference's 30 and 0.001) on::

        l(u) = -1/|T| sum_t log(1 - s(u . v_t))         (s: the sigmoid)

    *Attack gradient*: on the target rows only, of the loss that the made-up users
    like the targets::

        L = -1/(users |T|) sum_u sum_t log s(u . v_t),
        G_t = dL/dv_t = -1/(users |T|) sum_u (1 - s(u . v_t)) u

    *Upload*: the target rows ``-row_norm G_t / ||G_t||`` and nothing else
    (``fedarena.attacks.item_rows``: the bound, the fake users' ``kappa``-item
    profiles, their reported counts). The reference uploads ``G`` unclipped to a server
    that sums gradients; fedarena's clients send parameter changes, so the bound puts
    the upload in those units. The paper's setting is 0.1 % fake users on a deep model
    (NCF); on FedMF the score is ``u . v``, the reference's MLP with no layer. FedMF
    only (``models``).

    >>> attack = HardUserMining(targets=[0], users=1, mining_steps=0)
    >>> items, users = torch.tensor([[1.0, 0.0]]).double(), torch.tensor([[2.0, 1.0]]).double()
    >>> [round(float(g), 4) for g in attack.attack_gradient(items, users)[0]]
    [-0.2384, -0.1192]
    """

    def __init__(
        self,
        users: int = 10,
        mining_steps: int = 30,
        mining_lr: float = MINING_LR,
        user_std: float = 0.01,
        kappa: int = 30,
        targets: list[int] | None = None,
        n_targets: int | None = None,
        row_norm: float | str = "auto",
        seed: int = 0,
        catalog: Catalog | None = None,
    ) -> None:
        super().__init__(kappa, targets, n_targets, row_norm, seed, catalog)
        self.users = integer("users", users, 1)
        self.mining_steps = integer("mining_steps", mining_steps, 0)
        self.mining_lr = real("mining_lr", mining_lr)
        if not self.mining_lr > 0:
            raise ValueError(f"mining_lr must be > 0, got {mining_lr}")
        self.user_std = real("user_std", user_std)
        if not self.user_std > 0:
            raise ValueError(f"user_std must be > 0, got {user_std}")

    def craft_rows(self, items: Tensor, own: Tensor, generator: torch.Generator) -> Tensor:
        row_norm = self.bound(own)
        targets = torch.from_numpy(self.target_items)
        uploads = []
        for _ in own:
            drawn = torch.randn(self.users, items.shape[1], generator=generator).double()
            users = self.mine(items, self.user_std * drawn)
            gradient = torch.zeros_like(items)
            gradient[targets] = self.attack_gradient(items, users)
            uploads.append(bounded_rows(gradient, targets, row_norm))
        return torch.stack(uploads)

    def mine(self, items: Tensor, users: Tensor) -> Tensor:
        """``mining_steps`` steps of gradient descent on ``l(u)`` (the class docstring)."""
        targets = items[torch.from_numpy(self.target_items)]
        for _ in range(self.mining_steps):
            liking = torch.sigmoid(users @ targets.T)  # (users, |T|)
            users = users - self.mining_lr * liking @ targets / len(targets)
        return users

    def attack_gradient(self, items: Tensor, users: Tensor) -> Tensor:
        """``G_t`` for every target, shape (|T|, dim) (the class docstring)."""
        targets = items[torch.from_numpy(self.target_items)]
        missing = 1 - torch.sigmoid(users @ targets.T)  # (users, |T|)
        return -(missing.T @ users) / (len(users) * len(targets))


@ATTACKS.register("a_ra")
class RandomApproximation(HardUserMining):
    """A-ra: A-hum without the mining, the made-up users as drawn (Rong et al., IJCAI 2022).

    Everything else is ``a_hum``'s (see ``HardUserMining``): the upload lifts the targets
    for ``users`` random vectors ``u ~ N(0, user_std^2 I)``.
    """

    def __init__(
        self,
        users: int = 10,
        user_std: float = 0.01,
        kappa: int = 30,
        targets: list[int] | None = None,
        n_targets: int | None = None,
        row_norm: float | str = "auto",
        seed: int = 0,
        catalog: Catalog | None = None,
    ) -> None:
        super().__init__(
            users, 0, MINING_LR, user_std, kappa, targets, n_targets, row_norm, seed, catalog
        )
