"""Reference local training: one client at a time with ``torch.optim``, for testing.

Slow by design (a Python loop over clients and steps) and independent of the
vectorised engine's hand-written optimiser steps, so that the two agreeing is
evidence that both are right.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from fedarena.model import Recommender, SharedLayout
from fedarena.training.contrastive import ContrastiveTerm
from fedarena.training.local import LocalBatches, LocalResult, LocalTraining, proximal_term
from fedarena.training.objective import batch_loss


class SequentialTrainer:
    """Local training of the sampled clients, one after the other, with ``term`` (UNION's
    contrastive loss, differentiated by autograd here) added where one is given."""

    def __init__(
        self, tower: Recommender, layout: SharedLayout, term: ContrastiveTerm | None = None
    ) -> None:
        self.tower = copy.deepcopy(tower)
        self.layout = layout
        self.term = term

    def regularised(self, term: ContrastiveTerm) -> SequentialTrainer:
        """This training with ``term`` added to every step's loss."""
        return SequentialTrainer(self.tower, self.layout, term)

    def train(
        self, global_params: Tensor, users: Tensor, batches: LocalBatches, config: LocalTraining
    ) -> LocalResult:
        shared_out, users_out, losses = [], [], []
        sets = None if self.term is None else self.term.draw(batches)
        embedding = dict(self.tower.named_parameters())["item_embedding"]  # loaded in place
        for c in range(batches.n_clients):
            self.layout.load(self.tower, global_params)
            user = nn.Parameter(users[c].clone())
            params = [*self.tower.parameters(), user]
            optimizer = (
                torch.optim.SGD(params, lr=config.lr)
                if config.optimizer == "sgd"
                else torch.optim.Adam(params, lr=config.lr)
            )
            total, steps = 0.0, 0
            for row in batches.rows(c):
                optimizer.zero_grad()
                scores = self.tower(user, batches.items[row])
                data_loss = batch_loss(
                    scores, batches.labels[row], batches.weight[row], config.loss
                )
                flat = torch.cat([p.reshape(-1) for p in self.tower.parameters()])
                loss = data_loss + proximal_term(flat, global_params, config.prox_mu)
                if self.term is not None and sets is not None:
                    vectors = embedding[sets.items[row]].unsqueeze(0)
                    loss = loss + self.term.loss(vectors, sets.real[row].unsqueeze(0))[0]
                loss.backward()
                optimizer.step()
                total += data_loss.item()
                steps += 1
            shared_out.append(self.layout.flatten(self.tower))
            users_out.append(user.detach().clone())
            losses.append(total / max(steps, 1))
        return LocalResult(
            shared=torch.stack(shared_out), users=torch.stack(users_out), loss=torch.tensor(losses)
        )
