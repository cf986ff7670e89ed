"""PipAttack (Zhang et al., "PipAttack: Poisoning Federated Recommender Systems for
Manipulating Item Promotion", WSDM 2022): fake users who give the targets a popular item's
embedding, close to what honest training would send."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.nn.functional import cross_entropy, softplus

from fedarena.attacks.base import ATTACKS
from fedarena.attacks.item_rows import ItemRowAttack, ModelScores
from fedarena.attacks.targets import purchase_counts
from fedarena.data.catalog import Catalog
from fedarena.data.shoppers import Population
from fedarena.model import ItemRows, Recommender
from fedarena.options import integer, non_negative, positive


@ATTACKS.register("pipattack")
class PipAttack(ItemRowAttack):
    """Fake users who promote the targets through popularity bias (Zhang et al., WSDM 2022).

    A recommender learns to rank popular items high, and where an item's embedding lies
    tells how popular it is. PipAttack moves the targets' embeddings to where popular items
    lie, and keeps its uploads close to honest ones.

    *Knowledge* (``public``): the global model, and the popularity level of a share
    ``known`` of the items (public side information: sales ranks, review counts). It does
    not know any user's interactions. Levels are the ``levels`` equal-sized groups of the
    known items ranked by their real purchase counts. The highest level is "popular".

    *Popularity estimator*: an MLP ``f`` (one hidden layer as wide as an item row, ReLU,
    ``levels`` logits) on the item rows. Each round it takes ``estimator_steps`` full-batch
    Adam steps (rate ``estimator_lr``) of cross-entropy on the known items' current rows.
    Its weights and Adam state carry over between rounds.

    *Objective*: each fake user ``m`` sends the update ``D`` that minimises::

        J(D) = L_exp + alpha L_pop + gamma ||D - D_m||^2
        L_exp = -1/|T| sum_t log s(r(u, t; theta + D))          (explicit promotion)
        L_pop = -1/|T| sum_t log softmax(f(v_t + D_t))[popular]   (popularity enhancement)

    Here ``s`` is the sigmoid, ``r`` the model's score (FedMF's ``u . v``, FedNCF's MLP),
    and ``D_m`` the fake user's honest update (the distance constraint). ``u`` is the
    coalition's own user vector. It starts at ``N(0, user_std^2 I)`` and takes ``steps``
    gradient steps on ``L_exp`` each round, so the fake user likes the targets (as PIECK's
    reimplementation of explicit boosting trains its own vector, github.com/junzhang-zj/PIECK;
    PipAttack's authors published no code). ``J`` is minimised by ``steps`` steps of gradient
    descent at rate ``lr``, starting at ``D = D_m``. Only the target rows and, on FedNCF,
    the layers enter ``L_exp`` and ``L_pop``, so every other column of the minimiser is
    ``D_m``'s: the fake user sends its honest update with those columns replaced.

    The paper penalises the distance between the poisoned and the benign *gradients*. Here
    the penalty is on parameter changes, because fedarena's clients send parameter changes.
    The fake users' profiles and reported counts are ``fedarena.attacks.item_rows``'s. The
    loss weights, level boundaries and estimator are fedarena's choices. Their values in the
    paper could not be checked here.

    >>> attack = PipAttack(targets=[0], steps=1, lr=0.5, alpha=0.0, gamma=1.0)
    >>> honest, gradient = torch.tensor([0.2]).double(), torch.tensor([-0.4]).double()
    >>> round(float(attack.descend(honest, honest, gradient)), 4)
    0.4
    """

    knowledge = "public"
    models = ("mf", "ncf")

    def __init__(
        self,
        alpha: float = 1.0,
        gamma: float = 1.0,
        steps: int = 10,
        lr: float = 0.1,
        levels: int = 3,
        known: float = 1.0,
        estimator_steps: int = 20,
        estimator_lr: float = 0.01,
        user_std: float = 0.01,
        kappa: int = 30,
        targets: list[int] | None = None,
        n_targets: int | None = None,
        seed: int = 0,
        catalog: Catalog | None = None,
        model: Recommender | None = None,
        item_rows: ItemRows | None = None,
    ) -> None:
        super().__init__(kappa, targets, n_targets, "auto", seed, catalog, item_rows)
        self.alpha = non_negative("alpha", alpha)
        self.gamma = non_negative("gamma", gamma)
        self.steps = integer("steps", steps, 0)
        self.lr = positive("lr", lr)
        self.levels = integer("levels", levels, 2)
        self.known = positive("known", known)
        if self.known > 1:
            raise ValueError(f"known must be in (0, 1], got {known}")
        self.estimator_steps = integer("estimator_steps", estimator_steps, 0)
        self.estimator_lr = positive("estimator_lr", estimator_lr)
        self.user_std = positive("user_std", user_std)
        self.scores = ModelScores(model, "pipattack")
        self.labelled = np.empty(0, dtype=np.int64)  # the items whose level is known
        self.level = np.empty(0, dtype=np.int64)  # their levels, levels - 1 = popular
        self.estimator: list[Tensor] = []
        self.estimator_optimizer: torch.optim.Adam | None = None
        self.user: Tensor | None = None

    def enrol(
        self, population: Population, catalog: Catalog, n_malicious: int, rng: np.random.Generator
    ) -> tuple[Population, np.ndarray]:
        enrolled, ids = super().enrol(population, catalog, n_malicious, rng)
        counts = purchase_counts(population, len(catalog))
        known = rng.random(len(catalog)) < self.known
        known[self.target_items] = False
        self.labelled = np.flatnonzero(known)
        self.level = popularity_levels(counts[self.labelled], self.levels)
        return enrolled, ids

    def craft_updates(self, params: Tensor, own: Tensor, generator: torch.Generator) -> Tensor:
        columns, layers = self.columns(), torch.from_numpy(self.layout().dense)
        targets = torch.from_numpy(self.target_items)
        self.fit_estimator(params[columns].detach(), generator)
        self.fit_user(params, columns.shape[1], generator)
        free = torch.cat([columns[targets].reshape(-1), layers])
        start = params[free]
        uploads = own.double().clone()
        for upload in uploads:
            honest = upload[free]
            free_update = honest
            for _ in range(self.steps):
                gradient = self.loss_gradient(params, free, start + free_update, len(targets))
                free_update = self.descend(free_update, honest, gradient)
            upload[free] = free_update
        return uploads.float()

    def descend(self, update: Tensor, honest: Tensor, gradient: Tensor) -> Tensor:
        """One step of gradient descent on ``J`` from ``update``: ``gradient`` is that of
        ``L_exp + alpha L_pop`` there, ``honest`` the fake user's own ``D_m``."""
        return update - self.lr * (gradient + 2 * self.gamma * (update - honest))

    def loss_gradient(self, params: Tensor, free: Tensor, values: Tensor, n_targets: int) -> Tensor:
        """The gradient of ``L_exp + alpha L_pop`` in the free columns, at the parameters
        ``params`` with those columns set to ``values``."""
        values = values.detach().requires_grad_(True)
        theta = params.index_put((free,), values)
        rows = values[: n_targets * self.layout().index.shape[1]].reshape(n_targets, -1)
        loss = self.explicit_loss(theta, self._user()) + self.alpha * self.popularity_loss(rows)
        (gradient,) = torch.autograd.grad(loss, values)
        return gradient

    def explicit_loss(self, params: Tensor, user: Tensor) -> Tensor:
        """``L_exp``: the coalition's user dislikes the targets by this much."""
        scores = self.scores(params, user[None], torch.from_numpy(self.target_items))
        return softplus(-scores).mean()

    def popularity_loss(self, rows: Tensor) -> Tensor:
        """``L_pop``: how far the estimator finds the target rows (|T|, width) from popular."""
        popular = torch.full((len(rows),), self.levels - 1)
        return cross_entropy(self.estimate(rows), popular)

    def estimate(self, rows: Tensor) -> Tensor:
        """The estimator's popularity logits for item rows (n, width)."""
        w1, b1, w2, b2 = self.estimator
        return torch.relu(rows @ w1.T + b1) @ w2.T + b2

    def fit_estimator(self, items: Tensor, generator: torch.Generator) -> None:
        """``estimator_steps`` Adam steps of the estimator on the known items' rows."""
        width = items.shape[1]
        if not self.estimator:
            self.estimator = [
                _uniform((width, width), width, generator),
                _uniform((width,), width, generator),
                _uniform((self.levels, width), width, generator),
                _uniform((self.levels,), width, generator),
            ]
            self.estimator_optimizer = torch.optim.Adam(self.estimator, lr=self.estimator_lr)
        assert self.estimator_optimizer is not None
        rows, level = items[torch.from_numpy(self.labelled)], torch.from_numpy(self.level)
        for _ in range(self.estimator_steps):
            loss = cross_entropy(self.estimate(rows), level)
            self.estimator_optimizer.zero_grad()
            loss.backward()
            self.estimator_optimizer.step()

    def fit_user(self, params: Tensor, width: int, generator: torch.Generator) -> None:
        """``steps`` gradient steps of the coalition's user vector on ``L_exp``."""
        user = self._user(width, generator)
        for _ in range(self.steps):
            user = user.detach().requires_grad_(True)
            (step,) = torch.autograd.grad(self.explicit_loss(params, user), user)
            user = user - self.lr * step
        self.user = user.detach()

    def _user(self, width: int = 0, generator: torch.Generator | None = None) -> Tensor:
        if self.user is None:
            assert generator is not None
            self.user = self.user_std * torch.randn(width, generator=generator).double()
        return self.user


def popularity_levels(counts: np.ndarray, levels: int) -> np.ndarray:
    """Each item's level, 0 (least bought) to ``levels - 1`` (most bought): the items ranked
    by ``counts`` (ties by id) and cut into ``levels`` groups of equal size."""
    order = np.argsort(counts, kind="stable")
    level = np.empty(len(counts), dtype=np.int64)
    level[order] = np.arange(len(counts)) * levels // max(len(counts), 1)
    return level


def _uniform(shape: tuple[int, ...], fan_in: int, generator: torch.Generator) -> Tensor:
    """``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, torch's default for a linear layer, as a leaf."""
    bound = fan_in**-0.5
    drawn = (2 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1) * bound
    return drawn.requires_grad_(True)
