"""FedRecAttack (Rong et al., "FedRecAttack: Model Poisoning Attack to Federated
Recommendation", ICDE 2022): fake users poison FedMF's item matrix from public interactions."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from fedarena.attacks.base import ATTACKS
from fedarena.attacks.item_rows import ItemRowAttack, bounded_rows
from fedarena.data.catalog import Catalog
from fedarena.data.shoppers import Population
from fedarena.model import ItemRows, init_user_embeddings
from fedarena.options import integer, real

TOP_K = 10  # the attack pushes each target above a user's K-th item (its ER@K)


@ATTACKS.register("fedrecattack")
class FedRecAttack(ItemRowAttack):
    """Fake users who promote target items through FedMF's item matrix (Rong et al., ICDE 2022).

    *Knowledge* (``public``): the global item matrix ``V`` (every client has it) and a share
    ``xi`` of the benign users' interactions (public ratings, reviews: the paper's
    ``xi = 1 %``), each interaction public independently with probability ``xi``.

    *Approximated users*: each round the attacker fits a vector ``u^`` for every user with
    a public interaction, by one epoch of BPR on those interactions against the current
    ``V`` (negatives uniform among the user's non-public items), Adam with ``approx_lr`` in
    batches of ``approx_batch`` users, its state kept across rounds (the reference's
    defaults: 0.01 and 256).

    *Attack gradient*: with ``n_u`` the user's ``TOP_K``-th highest-scored item that is
    neither public for it nor a target, and ``x = u^ . V[n_u] - u^ . V[t]``::

        L = sum_u sum_{t not public for u}  g(x),   g(x) = x if x >= 0 else exp(x) - 1

    whose gradient ``G = dL/dV`` lifts every target above the users' K-th item (``g`` keeps
    pushing, ever more gently, once it is above).

    *Upload*: each fake user sends rows for at most ``kappa`` items (the paper's item limit,
    60): the targets and ``kappa - |targets|`` other items drawn without replacement with
    probability proportional to ``||G_i||``; each row is ``-row_norm G_i / ||G_i||``, that is
    the reference's clipping of every row at the bound with the bound binding. The bound,
    the fake users' profiles and their reported counts are ``fedarena.attacks.item_rows``'s:
    ``row_norm = "auto"`` (no row larger than an honest one) is the stealth the paper's
    bound stands for. ``n_malicious`` fake users: the paper's 5 % of the real users.

    Departures from the reference code, each forced by fedarena's protocol: a fake user
    draws its item set every round it is sampled (the coalition's state, not a client's),
    and no fake subtracts what it sent from the gradient the next one sends. FedMF only
    (``models``): the rows it crafts are the item matrix's.

    >>> g, x = FedRecAttack.surrogate(torch.tensor([-1.0, 0.5]))
    >>> [round(float(v), 4) for v in g], [round(float(v), 4) for v in x]
    ([-0.6321, 0.5], [0.3679, 1.0])
    """

    knowledge = "public"

    def __init__(
        self,
        xi: float = 0.01,
        kappa: int = 60,
        targets: list[int] | None = None,
        n_targets: int | None = None,
        approx_lr: float = 0.01,
        approx_batch: int = 256,
        row_norm: float | str = "auto",
        seed: int = 0,
        catalog: Catalog | None = None,
        item_rows: ItemRows | None = None,
    ) -> None:
        super().__init__(kappa, targets, n_targets, row_norm, seed, catalog, item_rows)
        self.xi = real("xi", xi)
        if not 0 < self.xi <= 1:
            raise ValueError(f"xi must be in (0, 1], got {xi}")
        self.approx_lr = real("approx_lr", approx_lr)
        if not self.approx_lr > 0:
            raise ValueError(f"approx_lr must be > 0, got {approx_lr}")
        self.approx_batch = integer("approx_batch", approx_batch, 1)
        self.public: list[np.ndarray] = []  # each approximated user's public items
        self.users: Tensor | None = None  # the approximated vectors u^
        self.optimizer: torch.optim.Adam | None = None

    def enrol(
        self, population: Population, catalog: Catalog, n_malicious: int, rng: np.random.Generator
    ) -> tuple[Population, np.ndarray]:
        enrolled, ids = super().enrol(population, catalog, n_malicious, rng)
        public = rng.random(len(population.train_items)) < self.xi
        public &= population.train_labels > 0.5
        owner = np.repeat(np.arange(len(population)), population.n_train)[public]
        _, starts = np.unique(owner, return_index=True)  # owners are in increasing order
        chunks = np.split(population.train_items[public], starts[1:]) if len(owner) else []
        self.public = [np.unique(chunk) for chunk in chunks]
        return enrolled, ids

    @staticmethod
    def surrogate(x: Tensor) -> tuple[Tensor, Tensor]:
        """``g(x)`` and its derivative (see the class docstring)."""
        below = torch.expm1(x.clamp(max=0.0))
        return torch.where(x >= 0, x, below), torch.where(x >= 0, torch.ones_like(x), below + 1)

    def craft_rows(self, items: Tensor, own: Tensor, generator: torch.Generator) -> Tensor | None:
        if not self.public:
            return None
        self.approximate_users(items, generator)
        gradient = self.attack_gradient(items)
        row_norm, norms = self.bound(own), gradient.norm(dim=1)
        return torch.stack([self.upload(gradient, norms, row_norm, generator) for _ in own])

    def approximate_users(self, items: Tensor, generator: torch.Generator) -> None:
        """One epoch of BPR on the public interactions for the approximated vectors u^."""
        dim = items.shape[1]
        if self.users is None:
            start = init_user_embeddings(len(self.public), dim, generator).double()
            self.users = start.requires_grad_(True)
            self.optimizer = torch.optim.Adam([self.users], lr=self.approx_lr)
        assert self.optimizer is not None
        order = torch.randperm(len(self.public), generator=generator).tolist()
        for start in range(0, len(order), self.approx_batch):
            batch = order[start : start + self.approx_batch]
            owner = np.concatenate([np.full(len(self.public[u]), u) for u in batch])
            positive = np.concatenate([self.public[u] for u in batch])
            negative = self._negatives(owner, generator)
            users = self.users[torch.from_numpy(owner)]
            margin = (users * (items[positive] - items[torch.from_numpy(negative)])).sum(-1)
            loss = torch.nn.functional.softplus(-margin).sum()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()

    def _negatives(self, owner: np.ndarray, generator: torch.Generator) -> np.ndarray:
        """One uniform item per entry of ``owner`` that is not public for that user."""
        drawn = torch.randint(0, self.n_items, (len(owner),), generator=generator).numpy()
        for _ in range(100):
            clash = np.array([d in self.public[u] for u, d in zip(owner, drawn, strict=True)])
            if not clash.any():
                break
            redraw = torch.randint(0, self.n_items, (int(clash.sum()),), generator=generator)
            drawn[clash] = redraw.numpy()
        return drawn

    def attack_gradient(self, items: Tensor) -> Tensor:
        """``G = dL/dV`` (see the class docstring), shape (n_items, dim)."""
        assert self.users is not None
        users = self.users.detach()
        targets = torch.from_numpy(self.target_items)
        with torch.no_grad():
            scores = users @ items.T
            scores[:, targets] = -math.inf
            for row, public in enumerate(self.public):
                scores[row, torch.from_numpy(public)] = -math.inf
            kth = scores.topk(TOP_K, dim=1).indices[:, -1]
        gradient = torch.zeros_like(items)
        for t in targets.tolist():
            eligible = torch.tensor([t not in set(p.tolist()) for p in self.public])
            u, n = users[eligible], kth[eligible]
            x = (u * (items[n] - items[t])).sum(-1)
            _, slope = self.surrogate(x)
            gradient.index_add_(0, n, slope[:, None] * u)
            gradient[t] -= (slope[:, None] * u).sum(0)
        return gradient

    def upload(
        self, gradient: Tensor, norms: Tensor, row_norm: float, generator: torch.Generator
    ) -> Tensor:
        """One fake user's update: at most ``kappa`` rows of ``-row_norm G_i / ||G_i||``
        (``norms``: the rows' ``||G_i||``)."""
        targets = torch.from_numpy(self.target_items)
        weights = norms.clone()
        weights[targets] = 0.0
        n_more = min(self.kappa - len(targets), int((weights > 0).sum()))
        chosen = torch.multinomial(weights.float(), n_more, generator=generator) if n_more else None
        rows = targets if chosen is None else torch.cat([targets, chosen])
        return bounded_rows(gradient, rows, row_norm)
