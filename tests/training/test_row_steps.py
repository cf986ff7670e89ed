"""Plain SGD steps that move only the rows a batch gathered give the whole-table steps' floats."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fedarena.training.vectorised as vectorised
from fedarena.model import SharedLayout, build_model, init_user_embeddings
from fedarena.stacked import RowTerms
from fedarena.training.contrastive import ContrastiveTerm
from fedarena.training.local import LocalTraining, build_batches, training_examples
from fedarena.training.vectorised import VectorisedTrainer

CLIENTS = np.array([0, 2, 3, 5, 8, 11, 13])


def _trained(kind, catalog, population, config, term):
    generator = torch.Generator().manual_seed(4)
    model = build_model(kind, catalog, 8)
    model.reset_parameters(generator)
    layout = SharedLayout.of(model)
    users = init_user_embeddings(len(population), 8, generator) * 10
    rngs = [np.random.default_rng([3, int(c)]) for c in CLIENTS]
    data = [
        training_examples(*population.train_log(int(c)), model.n_items, config, r)
        for c, r in zip(CLIENTS, rngs, strict=True)
    ]
    batches = build_batches(data, config, rngs)
    assert batches.steps.unique().numel() > 1, "want an active prefix that shrinks"
    trainer = VectorisedTrainer(model, layout, term)
    return trainer.train_updates(layout.flatten(model), users[CLIENTS], batches, config)


@pytest.mark.parametrize("kind", ["tower", "mf", "ncf"])
@pytest.mark.parametrize("loss", ["bce", "bpr"])
@pytest.mark.parametrize("with_term", [False, True], ids=["plain", "union"])
def test_row_steps_equal_whole_table_steps_bit_for_bit(
    kind, loss, with_term, catalog, population, monkeypatch
):
    config = LocalTraining(epochs=2, batch_size=4, lr=0.5, optimizer="sgd", loss=loss)
    term = ContrastiveTerm(1.0, 3, 0.5, len(catalog)) if with_term else None
    rows = _trained(kind, catalog, population, config, term)
    monkeypatch.setattr(vectorised, "_RowSteps", lambda tables: None)  # whole-table steps
    whole = _trained(kind, catalog, population, config, term)
    assert torch.equal(rows.updates.values, whole.updates.values)
    assert torch.equal(rows.updates.columns, whole.updates.columns)
    assert torch.equal(rows.updates.row_norms, whole.updates.row_norms)
    assert torch.equal(rows.users, whole.users)
    assert torch.equal(rows.loss, whole.loss)
    assert rows.updates.values.isfinite().all() and rows.updates.values.abs().sum() > 0


def test_a_row_two_examples_share_gets_their_summed_gradient_once():
    # p = 1, terms 2 and 3 at row 1 and 5 at row 3: SGD with lr 0.5 gives 1 - 2.5 and 1 - 2.5.
    table = torch.ones(1, 4, 1)
    steps = vectorised._RowSteps([table])
    terms = RowTerms(torch.tensor([1, 3, 1]), torch.tensor([[2.0], [5.0], [3.0]]))
    config = LocalTraining(lr=0.5, optimizer="sgd")
    steps.step([table], [terms], config)
    assert table.flatten().tolist() == [1.0, -1.5, 1.0, -1.5]
    steps.step([table], [RowTerms(torch.tensor([0]), torch.tensor([[4.0]]))], config)
    assert table.flatten().tolist() == [-1.0, -1.5, 1.0, -1.5]  # the sums were zeroed again
