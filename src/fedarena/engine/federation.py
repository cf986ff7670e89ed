"""The round loop: sample, train locally, attack, screen, defend, step.

One round ``t``::

    clients  = strategy.sample_clients(...)
    data_c   = attack.poison(log_c)            for malicious c, else log_c
    w_c, u_c = local training from w_t          benign: with the client-side defense (DP-SGD);
                                                malicious: plain, with attack.local_training
    sent     = attack.craft(w_c - w_t)          malicious rows replaced
    n_c      = reported sample counts           malicious: attack.reported_examples
    received = compressor.roundtrip(sent)       encoded by clients, decoded by the server
    kept     = guard.screen(received)           malformed updates rejected
    f_t      = assumed_f.for_round(...)         what the defense is told (engine.assumed_f)
    agg      = defense.aggregate(kept, n_c)     robust aggregate + accepted mask; the step is
                                                skipped if kept cannot meet its requirement
    w_{t+1}  = strategy.server_step(w_t, agg)   skipped if agg is not finite

All randomness comes from generators seeded by (seed, purpose, round, client)
(``fedarena.seeds``), so a run is a pure function of its scenario and seed.

Both engines run the same round: ``plan_round`` (sampling, the round's
generator, the local options), ``ClientData`` (what each sampled client trains
on), ``finish_round`` (the server's half, from what was sent to the next model
and the round's record) and ``evaluate_if_due``. The in-process engine runs
them all in ``step``; the Flower engine calls them from its strategy and its
clients (``fedarena.flower``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from fedarena.attacks.base import Attack, AttackContext
from fedarena.compression.base import Compressor, SendsAsIs
from fedarena.data.shoppers import Population
from fedarena.defenses.base import (
    Defense,
    HasRequirement,
    PrivacyAccountant,
    RoundContext,
    is_finite,
)
from fedarena.engine import guard
from fedarena.engine.assumed_f import AssumedF
from fedarena.engine.detection import score_auc
from fedarena.engine.evaluation import Evaluator
from fedarena.errors import RunFailed
from fedarena.model import scores_under
from fedarena.monitoring.observers import RoundObserver
from fedarena.seeds import Stream, stream
from fedarena.strategies.base import Strategy, epoch_batch
from fedarena.training.local import (
    Examples,
    LocalBatches,
    LocalTraining,
    LocalUpdates,
    SparseTrainer,
    Trainer,
    build_batches,
    training_examples,
)
from fedarena.updates import SparseUpdates, merge


@dataclass(frozen=True)
class RoundPlan:
    """What the server decided at the start of a round: its index, the sampled clients (in
    increasing id order), the round's shared generator, the local options, when it began."""

    round: int
    clients: np.ndarray
    generator: torch.Generator
    local: LocalTraining
    start: float


@dataclass(frozen=True)
class ClientData:
    """What a client trains on in a round: its log (poisoned if it is malicious), fresh
    negatives and its batches, drawn from its own (seed, round, client) generator, so that
    the in-process engine and a Flower client produce the same bytes."""

    population: Population
    malicious: np.ndarray
    attack: Attack
    n_items: int
    seed: int

    def examples(
        self, round: int, client: int, local: LocalTraining, scores: Tensor | None = None
    ) -> tuple[Examples, np.random.Generator]:
        """Client ``client``'s examples in round ``round`` and the generator that drew them
        (its batches draw from it next). ``scores``: the client's score of every item under
        the round's model, which a malicious client's ``uses_scores`` attack needs."""
        rng = stream(self.seed, Stream.CLIENT_DATA, round, client)
        items, labels = self.population.train_log(int(client))
        if not self.malicious[client]:
            return training_examples(items, labels, self.n_items, local, rng), rng
        items, labels = self.attack.poison(items, labels, self.n_items, rng)
        examples = self.attack.poison_examples(
            training_examples(items, labels, self.n_items, local, rng), rng
        )
        if self.attack.uses_scores:
            assert scores is not None, "an attack that uses scores is given them"
            examples = self.attack.poison_scored(examples, scores.numpy(), local)
        return examples, rng

    def local_for(self, client: int, local: LocalTraining) -> LocalTraining:
        """The options client ``client`` trains with: the round's, or its attack's if it is
        malicious."""
        return self.attack.local_training(local) if self.malicious[client] else local

    def reported_count(self, client: int) -> int:
        """The sample count client ``client`` reports to the server (an attack may lie)."""
        true_count = int(self.population.n_train[client])
        return self.attack.reported_examples(true_count) if self.malicious[client] else true_count

    def batches(
        self, round: int, clients: np.ndarray, local: LocalTraining, scores: Tensor | None = None
    ) -> LocalBatches:
        """The batches of every client in ``clients`` for round ``round`` (``scores``: one
        row per client, see ``examples``)."""
        drawn = [
            self.examples(round, int(c), local, None if scores is None else scores[i])
            for i, c in enumerate(clients)
        ]
        return build_batches([d for d, _ in drawn], local, [rng for _, rng in drawn])


@dataclass
class RoundRecord:
    """What one round did and measured."""

    round: int
    train_loss: float
    n_sampled: int
    n_malicious_sampled: int
    n_rejected: int
    skipped_step: bool
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    true_positives: int = 0
    flagged: int = 0
    bytes_per_client: float = 0.0
    assumed_f: int = 0
    requirement_unmet: bool = False
    suspicion_auc: float | None = None
    # For a round observer only (not in the result document): the L2 norms of the well-formed
    # updates the server received, of benign and of malicious clients.
    update_norms: tuple[list[float], list[float]] = field(
        default_factory=lambda: ([], []), repr=False
    )

    def as_dict(self) -> dict:
        return {
            "round": self.round,
            "train_loss": self.train_loss,
            "n_sampled": self.n_sampled,
            "n_malicious_sampled": self.n_malicious_sampled,
            "n_rejected": self.n_rejected,
            "skipped_step": self.skipped_step,
            "seconds": self.seconds,
            "flagged": self.flagged,
            "flagged_malicious": self.true_positives,
            "suspicion_auc": self.suspicion_auc,
            "assumed_f": self.assumed_f,
            "requirement_unmet": self.requirement_unmet,
            "bytes_per_client": self.bytes_per_client,
            **self.metrics,
        }


@dataclass
class Federation:
    """A federation of shoppers with a fixed malicious set, run round by round."""

    population: Population
    malicious: np.ndarray
    users: Tensor
    global_params: Tensor
    trainer: Trainer
    attacker_trainer: Trainer
    evaluator: Evaluator
    attack: Attack
    defense: Defense
    strategy: Strategy
    local: LocalTraining
    clients_per_round: int
    assumed_f: AssumedF
    server_gain: float
    seed: int
    compressor: Compressor
    root: Population | None = None
    accountant: PrivacyAccountant | None = None
    observer: RoundObserver | None = None
    client_sampling: str = "uniform"  # or "epochs" (``fedarena.strategies.base.epoch_batch``)
    history: list[RoundRecord] = field(default_factory=list)
    participation: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.participation = np.zeros(len(self.population), dtype=np.int64)
        self.client_data = ClientData(
            self.population, self.malicious, self.attack, self.n_items, self.seed
        )

    @property
    def n_items(self) -> int:
        return self.evaluator.tower.n_items

    def plan_round(self, round: int) -> RoundPlan:
        """Who trains in round ``round``, with which options and which shared generator."""
        start = time.perf_counter()
        rng = stream(self.seed, Stream.ROUND, round)
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        n = len(self.population)
        clients = (
            epoch_batch(n, self.clients_per_round, round, self.seed)
            if self.client_sampling == "epochs"
            else self.strategy.sample_clients(n, self.clients_per_round, rng)
        )
        return RoundPlan(
            round, clients, generator, self.strategy.configure_local(self.local), start
        )

    def _server_update(self, round: int, local: LocalTraining) -> Tensor:
        """Train the current global model on the server's clean root set (FLTrust)."""
        assert self.root is not None
        rng = stream(self.seed, Stream.ROOT_UPDATE, round)
        n_items = self.evaluator.tower.n_items
        logs = [self.root.train_log(s) for s in range(len(self.root))]
        items = np.concatenate([items for items, _ in logs])
        labels = np.concatenate([labels for _, labels in logs])
        batches = build_batches(
            [training_examples(items, labels, n_items, local, rng)], local, [rng]
        )
        user = self.users.new_zeros(1, self.users.shape[1])
        result = self.trainer.train(self.global_params, user, batches, local)
        return result.shared[0] - self.global_params

    def train(self, round: int, clients: np.ndarray, local: LocalTraining) -> LocalUpdates:
        """Local training of ``clients`` in round ``round``: the benign ones with ``trainer``
        (client-side defense included), the malicious ones with ``attacker_trainer`` and their
        attack's options; updates in the order of ``clients``. Where the malicious clients
        would train exactly as the benign ones (the same trainer, the round's options, no
        scores: only their data is poisoned), every client trains in one group: a client's
        numbers do not depend on who trains beside it, and one group costs one lock-step
        loop instead of two and no merge."""
        malicious = self.malicious[clients]
        attacker_local, scored = self.attack.local_training(local), self.attack.uses_scores
        if not scored and self.attacker_trainer is self.trainer and attacker_local == local:
            groups = [(np.arange(len(clients)), self.trainer, local, False)]
        else:
            groups = [
                (np.flatnonzero(~malicious), self.trainer, local, False),
                (np.flatnonzero(malicious), self.attacker_trainer, attacker_local, scored),
            ]
        results = []
        for rows, trainer, options, scored in groups:
            if not len(rows):
                continue
            own = self.users[clients[rows]]
            scores = self.scores(own) if scored else None
            batches = self.client_data.batches(round, clients[rows], options, scores)
            results.append((rows, self._updates(trainer, own, batches, options)))
        if len(results) == 1:  # one group holds every client, in order
            return results[0][1]
        users = self.users.new_empty(len(clients), self.users.shape[1])
        loss = torch.empty(len(clients))
        for rows, result in results:
            index = torch.from_numpy(rows)
            users[index], loss[index] = result.users, result.loss
        parts = [(torch.from_numpy(rows), result.updates) for rows, result in results]
        return LocalUpdates(merge(parts, len(clients)), users, loss)

    def _updates(
        self, trainer: Trainer, users: Tensor, batches: LocalBatches, local: LocalTraining
    ) -> LocalUpdates:
        """``trainer``'s updates from the global model, on the columns it changed where it can
        say which."""
        if isinstance(trainer, SparseTrainer):
            return trainer.train_updates(self.global_params, users, batches, local)
        result = trainer.train(self.global_params, users, batches, local)
        updates = result.shared.sub_(self.global_params)  # the trainer's fresh tensor
        return LocalUpdates(SparseUpdates.from_dense(updates), result.users, result.loss)

    def scores(self, users: Tensor) -> Tensor:
        """Every item's score for each of ``users`` under the current global model."""
        evaluator = self.evaluator
        return scores_under(evaluator.tower, evaluator.layout, self.global_params, users)

    def step(self, round: int) -> RoundRecord:
        """Run round ``round`` (0-based) in-process and append its record to ``history``."""
        plan = self.plan_round(round)
        clients = plan.clients
        result = self.train(round, clients, plan.local)
        self.users[clients] = result.users
        weights = [float(self.client_data.reported_count(int(c))) for c in clients]
        if not self.attack.crafts_updates:
            return self.finish_round(plan, result.updates, weights, result.loss)
        updates = result.updates.dense()
        is_malicious = torch.from_numpy(self.malicious[clients])
        omniscient = self.attack.knowledge == "omniscient"
        sent = self.attack.craft(
            updates,
            is_malicious,
            AttackContext(
                round=round,
                global_params=self.global_params,
                n_clients=len(clients),
                server_gain=self.server_gain,
                generator=plan.generator,
                benign_updates=updates[~is_malicious] if omniscient else None,
            ),
        )
        return self.finish_round(plan, sent, weights, result.loss)

    def finish_round(
        self,
        plan: RoundPlan,
        sent: list[Any] | SparseUpdates,
        weights: list[float | None],
        losses: Tensor,
    ) -> RoundRecord:
        """The server's half of a round, from what the clients sent to the next global model.

        ``sent[i]`` and ``weights[i]`` are what client ``plan.clients[i]`` sent and
        its reported number of examples (rejected with its update unless
        ``guard.usable_weight`` accepts it); ``losses[i]`` its training loss. Shared by the
        in-process engine and the Flower strategy (``fedarena.flower``); the in-process
        engine may send the honest updates as ``SparseUpdates``.
        """
        round, clients, generator = plan.round, plan.clients, plan.generator
        self.participation[clients] += 1
        if self.accountant is not None:
            self.accountant.step(clients)
        counts = [guard.usable_weight(w) for w in weights]
        kept, valid, sent_bytes = self._receive(sent, counts, clients)
        weight = torch.tensor([w or 0.0 for w in counts], dtype=torch.float32)
        is_malicious = torch.from_numpy(self.malicious[clients])
        accepted = valid.clone()
        # The guard's rejects count against f, as inside the defenses.
        f = self.assumed_f.for_round(int(is_malicious[valid].sum()))
        f = f if self.assumed_f.mode == "oracle" else max(0, f - int((~valid).sum()))
        unmet = len(kept) > 0 and not self._requirement_met(len(kept), f)
        # Before the defense runs, which may change its input in place.
        norms = kept.values.double().norm(dim=1) if self.observer is not None else None
        skipped, auc = True, None
        if len(kept) and not unmet:
            # A column-wise rule aggregates the columns someone changed; the rest stay 0.
            columnwise = getattr(self.defense, "columnwise", False)
            aggregate = self.defense.aggregate(
                kept.values if columnwise else kept.dense(),
                weight[valid],
                RoundContext(
                    round=round,
                    n_malicious=f,
                    client_ids=clients[valid.numpy()],
                    # a defense cannot harm it
                    global_params=(
                        kept.restrict(self.global_params) if columnwise else self.global_params
                    ).clone(),
                    generator=generator,
                    server_update=(
                        (lambda: self._server_update(round, plan.local))
                        if self.root is not None
                        else None
                    ),
                ),
            )
            if aggregate.accepted is not None:
                accepted[valid] = aggregate.accepted
            if aggregate.suspicion is not None:
                suspicion = torch.full((len(clients),), float("inf"), dtype=torch.float64)
                suspicion[valid] = aggregate.suspicion.double()
                auc = score_auc(suspicion.numpy(), is_malicious.numpy())
            update = kept.expand(aggregate.update) if columnwise else aggregate.update
            new_params = self.strategy.server_step(self.global_params, update, round)
            if is_finite(new_params):
                self.global_params = new_params.detach().float()
                skipped = False
        flagged = ~accepted
        benign_loss = losses[~is_malicious]
        record = RoundRecord(
            round=round,
            train_loss=float(benign_loss.mean()) if len(benign_loss) else float("nan"),
            n_sampled=len(clients),
            n_malicious_sampled=int(is_malicious.sum()),
            n_rejected=int((~valid).sum()),
            skipped_step=skipped,
            seconds=time.perf_counter() - plan.start,
            flagged=int(flagged.sum()),
            true_positives=int((flagged & is_malicious).sum()),
            bytes_per_client=float(np.mean(sent_bytes)),
            assumed_f=f,
            requirement_unmet=unmet,
            suspicion_auc=auc,
        )
        if norms is not None:
            from_malicious = is_malicious[valid]
            record.update_norms = (
                norms[~from_malicious].tolist(),
                norms[from_malicious].tolist(),
            )
        self.history.append(record)
        return record

    def _receive(
        self, sent: list[Any] | SparseUpdates, counts: list[float | None], clients: np.ndarray
    ) -> tuple[SparseUpdates, Tensor, list[int]]:
        """What the server keeps of what ``clients`` sent (with usable ``counts``): the
        well-formed updates, the mask of their senders and the bytes each client sent.
        Uncompressed updates that the engine holds on their changed columns stay there."""
        if isinstance(sent, SparseUpdates) and isinstance(self.compressor, SendsAsIs):
            usable = torch.tensor([c is not None for c in counts], dtype=torch.bool)
            kept, valid = guard.screen_sparse(sent, usable)
            return kept, valid, [4 * sent.dim] * len(sent)  # float32 on the wire
        if isinstance(sent, SparseUpdates):
            sent = list(sent.dense())
        received, sent_bytes = self.compressor.roundtrip(sent, clients)
        usable = [u if w is not None else None for u, w in zip(received, counts, strict=True)]
        dense, valid = guard.screen(usable, len(self.global_params))
        return SparseUpdates.from_dense(dense), valid, sent_bytes

    def _requirement_met(self, n: int, f: int) -> bool:
        """Whether the defense can aggregate ``n`` updates with ``f`` assumed malicious; if not,
        the round's step is skipped and recorded as ``requirement_unmet``."""
        if not isinstance(self.defense, HasRequirement):
            return True
        try:
            self.defense.check(n, f)
        except ValueError:
            return False
        return True

    def evaluate_if_due(self, record: RoundRecord, rounds: int, eval_every: int) -> None:
        """Score the global model into ``record`` every ``eval_every`` rounds and after the last."""
        if (record.round + 1) % eval_every == 0 or record.round == rounds - 1:
            if not bool(torch.isfinite(self.global_params).all()):
                raise RunFailed(
                    f"round {record.round + 1}: the global model holds NaN or Inf, "
                    "so its metrics are undefined"
                )
            record.metrics = self.evaluator(self.global_params, self.attack.target_items)

    def report(self, record: RoundRecord) -> None:
        """Tell the round observer, if any, what round ``record`` did (after its evaluation)."""
        if self.observer is None:
            return
        benign, malicious = record.update_norms
        self.observer.on_round(
            round=record.round + 1,
            seconds=record.seconds,
            sampled=record.n_sampled,
            rejected=record.n_rejected,
            flagged=record.flagged,
            benign_norms=benign,
            malicious_norms=malicious,
            global_norm=float(self.global_params.double().norm()),
            metrics={k: float(v) for k, v in record.metrics.items() if v is not None},
            epsilon=self.accountant.spent()["epsilon_shopper"]
            if self.accountant is not None
            else None,
        )

    def run(
        self, rounds: int, eval_every: int, on_round: Callable[[RoundRecord], None] | None = None
    ) -> list[RoundRecord]:
        """Run all rounds in-process, evaluating every ``eval_every`` rounds and after the last."""
        for t in range(rounds):
            record = self.step(t)
            self.evaluate_if_due(record, rounds, eval_every)
            self.report(record)
            if on_round is not None:
                on_round(record)
        return self.history
