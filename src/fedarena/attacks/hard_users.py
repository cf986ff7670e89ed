"""A-ra and A-hum (Rong et al., "Poisoning Deep Learning based Recommender Model in Federated
Learning Scenarios", IJCAI 2022): fake users who promote targets for users they make up."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.functional import softplus

from fedarena.attacks.base import ATTACKS
from fedarena.attacks.item_rows import ItemRowAttack, ModelScores, bounded_rows
from fedarena.data.catalog import Catalog
from fedarena.model import ItemRows, Recommender
from fedarena.options import integer, real

MINING_LR = 0.001  # the reference's rate, its server learning rate


@ATTACKS.register("a_hum")
class HardUserMining(ItemRowAttack):
    """A-hum: fake users who lift the targets for mined "hard" users (Rong et al., IJCAI 2022).

    *Knowledge* (``own``): the global model (item rows and, on FedNCF, its layers) and
    nothing of the benign users: the attacker makes up the users it poisons for.

    *Approximated users*: each fake user, each round it is sampled, draws ``users``
    vectors ``u ~ N(0, user_std^2 I)`` (the reference's 10 and 0.01). A-hum then mines
    hard users, who dislike the targets ``T``, by ``mining_steps`` steps of gradient
    descent (rate ``mining_lr``; the reference's 30 and 0.001) on each user's::

        l(u) = -1/|T| sum_t log(1 - s(r(u, t)))         (s: the sigmoid)

    with ``r(u, t)`` the model's score: ``u . v_t`` on FedMF, the MLP on FedNCF.

    *Attack gradient*: of the loss that the made-up users like the targets::

        L = -1/(users |T|) sum_u sum_t log s(r(u, t)),     G = dL/dtheta

    over the shared parameters ``theta``; on FedMF ``G_t = -1/(users |T|) sum_u (1 -
    s(u . v_t)) u`` on the target rows and zero elsewhere.

    *Upload*: the target rows ``-row_norm G_t / ||G_t||`` (``fedarena.attacks.item_rows``:
    the bound, the fake users' ``kappa``-item profiles, their reported counts) and, on
    FedNCF, the layers ``-b G_L / ||G_L||`` with ``b`` the largest norm of the layers in
    the fake users' honest updates; nothing else. The reference uploads ``G`` unclipped
    to a server that sums gradients; fedarena's clients send parameter changes, so the
    bounds put the upload in those units. The paper's setting is 0.1 % fake users on
    FedNCF (``models``: FedMF and FedNCF).

    >>> from fedarena.factorisation import MatrixFactorisation
    >>> mf = MatrixFactorisation(n_items=1, dim=2)
    >>> attack = HardUserMining(targets=[0], users=1, mining_steps=0, model=mf)
    >>> params, users = torch.tensor([1.0, 0.0]).double(), torch.tensor([[2.0, 1.0]]).double()
    >>> [round(float(g), 4) for g in attack.attack_gradient(params, users)]
    [-0.2384, -0.1192]
    """

    models = ("mf", "ncf")

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
        model: Recommender | None = None,
        item_rows: ItemRows | None = None,
    ) -> None:
        super().__init__(kappa, targets, n_targets, row_norm, seed, catalog, item_rows)
        self.users = integer("users", users, 1)
        self.mining_steps = integer("mining_steps", mining_steps, 0)
        self.mining_lr = real("mining_lr", mining_lr)
        if not self.mining_lr > 0:
            raise ValueError(f"mining_lr must be > 0, got {mining_lr}")
        self.user_std = real("user_std", user_std)
        if not self.user_std > 0:
            raise ValueError(f"user_std must be > 0, got {user_std}")
        self.scores = ModelScores(model, "a_hum")

    def craft_updates(self, params: Tensor, own: Tensor, generator: torch.Generator) -> Tensor:
        columns, layers = self.columns(), torch.from_numpy(self.layout().dense)
        targets = torch.from_numpy(self.target_items)
        row_norm = self.bound(own[:, columns])
        layer_norm = float(own[:, layers].double().norm(dim=1).max()) if len(layers) else 0.0
        uploads = torch.zeros(len(own), len(params))
        for upload in uploads:
            drawn = torch.randn(self.users, columns.shape[1], generator=generator).double()
            gradient = self.attack_gradient(params, self.mine(params, self.user_std * drawn))
            upload[columns] = bounded_rows(gradient[columns], targets, row_norm)
            if layer_norm > 0:
                upload[layers] = bounded_rows(gradient[layers][None], torch.tensor([0]), layer_norm)
        return uploads

    def mine(self, params: Tensor, users: Tensor) -> Tensor:
        """``mining_steps`` steps of gradient descent on ``l(u)`` (the class docstring)."""
        for _ in range(self.mining_steps):
            users = users.detach().requires_grad_(True)
            loss = softplus(self.target_scores(params, users)).mean(dim=1).sum()
            (step,) = torch.autograd.grad(loss, users)
            users = users - self.mining_lr * step
        return users.detach()

    def attack_gradient(self, params: Tensor, users: Tensor) -> Tensor:
        """``G = dL/dtheta`` as a flat vector like ``params`` (the class docstring)."""
        theta = params.detach().requires_grad_(True)
        loss = softplus(-self.target_scores(theta, users)).mean()
        (gradient,) = torch.autograd.grad(loss, theta)
        return gradient

    def target_scores(self, params: Tensor, users: Tensor) -> Tensor:
        """``r(u, t)`` for every made-up user and target, shape (users, |T|), under the
        flat shared parameters ``params``."""
        return self.scores(params, users, torch.from_numpy(self.target_items))


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
        model: Recommender | None = None,
        item_rows: ItemRows | None = None,
    ) -> None:
        super().__init__(
            users,
            0,
            MINING_LR,
            user_std,
            kappa,
            targets,
            n_targets,
            row_norm,
            seed,
            catalog,
            model,
            item_rows,
        )
