"""The defense contract: ``aggregate(updates, weights, ctx) -> Aggregate``, its two kinds, and
the optional parts a defense may have, each a named Protocol that the engine checks for:

- ``ClientSide``: a part that clients run in local training (DP-SGD);
- ``PrivacyAccounting``: noise that spends privacy, tracked by a
  ``PrivacyAccountant`` the engine steps once per round (Opacus's accountant
  interface: ``step`` as the mechanism runs, ``spent`` when asked);
- ``UsesRootSet``: the server holds ``root_shoppers`` clean shoppers (FLTrust);
- ``HasRequirement``: a precondition on the round's n and f (Krum's n > 2f + 2),
  checked when a scenario is built so that a hopeless one fails at once.

A server-side defense is either an *aggregator* (combines a round's updates
into one) or a *pre-aggregator* (rewrites the updates before an aggregator
sees them: clipping, bucketing, mixing). Pre-aggregators chain in front of any
aggregator (``norm_clip(max_norm=1) > trimmed_mean``, see
``fedarena.defenses.chain``); used alone, a pre-aggregator is followed by the
weighted mean.

Non-finite policy, shared by every built-in defense through the two base
classes: a row of ``updates`` holding NaN or +-Inf is rejected before the rule
sees it and its sender is flagged (``accepted[i] = False``, and
``suspicion[i] = +inf`` where the rule scores clients); each rejected row
counts against the assumed number of malicious clients ``f``. If nothing
finite is left, or the rule's own arithmetic overflows float32, the output is
the zero update (the round leaves the model where it is), so no NaN or Inf
ever leaves a defense.

By hand, as ByzFL's aggregators are called: every built-in defense and chain is
callable, ``Krum()(vectors)``, on n vectors of dimension d given as a torch
tensor, a numpy array or a list of lists, with weights optional (equal) and
``f`` the number of malicious clients it may assume; the aggregate comes back
in the input's kind (``aggregate_by_hand``; ``fedarena.aggregate`` takes a
spec).

Tuning, shared by built-in and plugin defenses: a class may declare
``tuning_grid``, a small grid of its key hyperparameters (option name -> the
values to try, ``{"max_norm": ("median", 2.0, 5.0, 10.0)}``), which a scenario
file with ``tune = true`` sweeps and the leaderboard chooses among
(``docs/matrix.md``); a class that declares none is not tuned
(``tuning_grid_of``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from fedarena.data.shoppers import Population
from fedarena.model import Recommender, SharedLayout
from fedarena.registry import Registry
from fedarena.training.local import LocalTraining, Trainer


@dataclass(frozen=True)
class RoundContext:
    """What the server knows in a round, beside the updates themselves.

    ``n_malicious`` is the number of malicious clients the defense may assume
    among these updates (its ``f``); ``client_ids`` identify the updates' senders
    across rounds (FoolsGold keeps a history per id); ``server_update``, where the
    server holds a small clean root set (FLTrust), trains the current global
    model on it and returns that update.
    """

    round: int
    n_malicious: int
    client_ids: np.ndarray
    global_params: Tensor
    generator: torch.Generator
    server_update: Callable[[], Tensor] | None = None

    @classmethod
    def for_updates(cls, updates: Tensor, n_malicious: int = 0, seed: int = 0) -> RoundContext:
        """A context for calling a defense by hand: round 0, clients 0..n-1, zero model."""
        return cls(
            round=0,
            n_malicious=n_malicious,
            client_ids=np.arange(len(updates)),
            global_params=updates.new_zeros(updates.shape[1]),
            generator=torch.Generator().manual_seed(seed),
        )


@dataclass(frozen=True)
class Aggregate:
    """A defense's output: the aggregated update, whom it accepted, and how suspicious each was.

    ``accepted[i]`` is False for a client the defense rejected or flagged as
    malicious (detection precision and recall are computed from it); ``None``
    means it judged no one. ``suspicion[i]`` is the rule's own continuous score
    of row i (float64, one per input row in input order; higher = more
    suspicious, e.g. Krum's score), from which a detection AUC is computed
    (``fedarena.engine.detection``); +inf for a row rejected as non-finite
    before the rule ran; ``None`` means the rule scores no one (or no finite
    row was left for it to score).
    """

    update: Tensor
    accepted: Tensor | None = None
    diagnostics: dict[str, float] = field(default_factory=dict)
    suspicion: Tensor | None = None


@dataclass(frozen=True)
class Preaggregated:
    """A pre-aggregator's output: ``m`` rows for the next link, and where each client went.

    ``source[i]`` is the output row that carries client ``i``'s update (several
    clients share a row after bucketing), or -1 if client ``i`` was dropped;
    ``None`` means row ``i`` is client ``i``.
    """

    updates: Tensor
    weights: Tensor
    source: Tensor | None = None
    diagnostics: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Defense(Protocol):
    """Server side of a defense (optionally with a client-side part, see DP-SGD)."""

    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate: ...


@runtime_checkable
class ClientSide(Protocol):
    """A defense part that clients run in local training (DP-SGD)."""

    def client_trainer(self, tower: Recommender, layout: SharedLayout, trainer: Trainer) -> Trainer:
        """The local training that replaces ``trainer``."""
        ...


@dataclass(frozen=True)
class AccountingSetting:
    """What an accountant needs to know of the federation: its shoppers (their data sizes),
    the local-training options and how many shoppers a round samples."""

    population: Population
    local: LocalTraining
    clients_per_round: int


class PrivacyAccountant(Protocol):
    """Privacy spent by a run, stepped by the engine after every round."""

    def step(self, clients: np.ndarray) -> None:
        """Record one round in which the shoppers ``clients`` were sampled."""
        ...

    def spent(self) -> dict[str, float]:
        """The privacy spent so far: ``epsilon_shopper`` and ``epsilon_example`` (the largest
        over shoppers, each with its ``_median``) at ``delta``."""
        ...


@runtime_checkable
class PrivacyAccounting(Protocol):
    """A defense whose noise spends privacy."""

    def accountant(self, setting: AccountingSetting) -> PrivacyAccountant:
        """A fresh accountant for one run."""
        ...


@runtime_checkable
class UsesRootSet(Protocol):
    """A defense for which the server holds ``root_shoppers`` clean simulated shoppers (FLTrust);
    ``RoundContext.server_update`` trains the current model on them."""

    root_shoppers: int


@runtime_checkable
class HasRequirement(Protocol):
    """A defense with a precondition on the round's number of updates and assumed f."""

    def check(self, n: int, n_malicious: int) -> None:
        """Raise ``ValueError`` saying what is needed when n updates with f = ``n_malicious``
        cannot be aggregated by this rule."""
        ...


DEFENSES: Registry[Defense] = Registry("defense", "fedarena.defenses", "fedarena.defenses")


def name_of(component: object) -> str:
    """The name a component is registered under (its class name if unregistered)."""
    return getattr(type(component), "registered_name", type(component).__name__)


def is_finite(vector: Tensor) -> bool:
    """Whether every entry is finite; the sum decides unless it overflows."""
    return bool(torch.isfinite(vector.sum())) or bool(torch.isfinite(vector).all())


def finite_rows(updates: Tensor) -> Tensor:
    """(n,) mask of the rows without NaN or Inf.

    A row's sum is finite only if every entry is (NaN and Inf propagate), so the
    exact per-entry test runs only on the rows whose sum is not.
    """
    finite = torch.isfinite(updates.sum(dim=1))
    if not finite.all():
        suspect = ~finite
        finite[suspect] = torch.isfinite(updates[suspect]).all(dim=1)
    return finite


# The outlier patterns a rule may declare itself bounded against: f outliers pushing in one
# direction (a coalition) or each in its own (independent faults).
OUTLIER_PATTERNS = frozenset({"coordinated", "scattered"})


class Properties:
    """What a built-in rule declares about itself, checked by the contract tests for every
    registered rule (``tests/defenses/test_contract.py``), so a new rule is tested the moment
    its file exists.

    ``bounded_against``: the outlier patterns (``OUTLIER_PATTERNS``) under which f
    outliers of any size cannot drag the output away, because the rule's
    breakdown point covers f; empty for the means, which one client moves
    anywhere. ``permutation_invariant``: whether reordering the clients gives
    exactly the same output (False for rules that group clients at random,
    equal then only in distribution). ``tuning_grid``: option -> the values a tuned
    matrix tries (2 to 4 per option, 1 or 2 options, centred on the literature's
    default, each valid for the constructor); empty for a rule whose options are
    not hyperparameters to tune (the means; ``f``, which the scenario gives).
    ``columnwise``: column j of the output depends on column j of the inputs alone (the
    same bits whatever the other columns hold) and is 0 where every input is 0, and
    the rule judges no client; the engine then hands it only the columns some client
    changed (``fedarena.updates``).
    """

    bounded_against: ClassVar[frozenset[str]] = frozenset()
    columnwise: ClassVar[bool] = False
    permutation_invariant: ClassVar[bool] = True
    tuning_grid: ClassVar[dict[str, tuple[Any, ...]]] = {}

    def __call__(self, vectors: Any, weights: Any = None, f: int = 0, seed: int = 0) -> Any:
        """The aggregate of ``vectors``, by hand (see ``aggregate_by_hand``)."""
        return aggregate_by_hand(self, vectors, weights, f, seed)  # type: ignore[arg-type]


def aggregate_by_hand(
    defense: Defense, vectors: Any, weights: Any = None, f: int = 0, seed: int = 0
) -> Any:
    """``defense``'s aggregate of ``vectors`` (n x d: a tensor, an array or a list of lists)
    with ``weights`` (n; equal when None), assuming ``f`` malicious, in the input's kind.

    >>> from fedarena.defenses.trimmed_mean import TrimmedMean
    >>> TrimmedMean(beta=0.25)([[0.0], [1.0], [2.0], [100.0]])
    [1.5]
    """
    updates = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
    if updates.ndim != 2 or not len(updates):
        raise ValueError(f"vectors must be n >= 1 vectors of one dimension, got {updates.shape}")
    given = torch.ones(len(updates)) if weights is None else weights
    weights = torch.as_tensor(np.asarray(given, dtype=np.float32))
    if weights.shape != (len(updates),):
        raise ValueError(
            f"weights must hold one number per vector ({len(updates)}), got {weights.shape}"
        )
    ctx = RoundContext.for_updates(updates, n_malicious=f, seed=seed)
    update = defense.aggregate(updates, weights, ctx).update
    if isinstance(vectors, Tensor):
        return update.to(vectors.dtype)
    if isinstance(vectors, np.ndarray):
        return update.numpy().astype(vectors.dtype, copy=False)
    return update.tolist()


def tuning_grid_of(factory: Callable[..., Any]) -> dict[str, tuple[Any, ...]]:
    """The ``tuning_grid`` a defense class declares, ``{}`` for one (or a factory function)
    that declares none.

    >>> tuning_grid_of(Properties)
    {}
    """
    grid = getattr(factory, "tuning_grid", None)
    return {k: tuple(v) for k, v in grid.items()} if isinstance(grid, dict) else {}


def _check_shapes(updates: Tensor, weights: Tensor) -> None:
    if updates.ndim != 2 or weights.shape != (len(updates),):
        raise ValueError(
            f"updates must be (n, d) and weights (n,), got {tuple(updates.shape)} "
            f"and {tuple(weights.shape)}"
        )


def _screen(updates: Tensor, weights: Tensor, ctx: RoundContext):
    """The finite rows, what is left of the inputs, the context for them, how many went."""
    finite = finite_rows(updates)
    rejected = int((~finite).sum())
    if rejected == 0:
        return finite, updates, weights, ctx, rejected
    ctx = replace(
        ctx,
        n_malicious=max(0, ctx.n_malicious - rejected),
        client_ids=np.asarray(ctx.client_ids)[finite.numpy()],
    )
    return finite, updates[finite], weights[finite], ctx, rejected


class Aggregator(Properties, ABC):
    """Base of the built-in aggregators: applies the non-finite policy around ``combine``."""

    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        _check_shapes(updates, weights)
        zero = updates.new_zeros(updates.shape[1])
        quick = self.unscreened(updates, weights, ctx)
        if quick is not None:
            return _without_overflow(quick, zero)
        finite, kept, kept_weights, ctx, rejected = _screen(updates, weights, ctx)
        if len(kept) == 0:
            return Aggregate(zero, finite, {"rejected_nonfinite": float(rejected)})
        result = _without_overflow(self.combine(kept, kept_weights, ctx), zero)
        if not rejected:
            return result
        accepted = finite.clone()
        if result.accepted is not None:
            accepted[finite] = result.accepted
        suspicion = None
        if result.suspicion is not None:
            suspicion = torch.full((len(updates),), float("inf"), dtype=torch.float64)
            suspicion[finite] = result.suspicion.double()
        diagnostics = result.diagnostics | {"rejected_nonfinite": float(rejected)}
        return Aggregate(result.update, accepted, diagnostics, suspicion)

    @abstractmethod
    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        """The rule itself, on finite updates only."""

    def unscreened(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate | None:
        """The result without the screening pass, for a rule whose own work proves every row
        finite (a mean that came out finite, sorted columns with finite ends); None when it
        cannot, and the rows are then screened."""
        return None


def _without_overflow(result: Aggregate, zero: Tensor) -> Aggregate:
    """``result``, with the zero update instead of an aggregate that overflowed float32."""
    if is_finite(result.update):
        return result
    return replace(result, update=zero, diagnostics=result.diagnostics | {"overflow": 1.0})


class PreAggregator(Properties, ABC):
    """Base of the pre-aggregators: non-finite rows are dropped before ``transform``."""

    def preaggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Preaggregated:
        _check_shapes(updates, weights)
        quick = self.unscreened(updates, weights, ctx)
        if quick is not None:
            return quick
        finite, kept, kept_weights, ctx, rejected = _screen(updates, weights, ctx)
        if len(kept) == 0:
            out = Preaggregated(kept, kept_weights, torch.zeros(0, dtype=torch.long))
        else:
            out = self.transform(kept, kept_weights, ctx)
        if not rejected:
            return out
        source = torch.full((len(updates),), -1, dtype=torch.long)
        source[finite] = torch.arange(len(kept)) if out.source is None else out.source
        diagnostics = out.diagnostics | {"rejected_nonfinite": float(rejected)}
        return Preaggregated(out.updates, out.weights, source, diagnostics)

    @abstractmethod
    def transform(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Preaggregated:
        """The rewrite itself, on finite updates only."""

    def unscreened(
        self, updates: Tensor, weights: Tensor, ctx: RoundContext
    ) -> Preaggregated | None:
        """As ``Aggregator.unscreened``: the output when the rule's own work proves every row
        finite, else None."""
        return None

    def rows_out(self, n: int) -> int:
        """How many rows ``transform`` returns for ``n`` inputs (bucketing returns fewer)."""
        return n

    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        """Alone, a pre-aggregator is followed by the weighted mean of what it returns."""
        out = self.preaggregate(updates, weights, ctx)
        update = weighted_mean(out.updates, out.weights, updates.shape[1])
        accepted = None if out.source is None else out.source >= 0
        return _without_overflow(
            Aggregate(update, accepted, out.diagnostics), update.new_zeros(len(update))
        )


def weighted_mean(updates: Tensor, weights: Tensor, dim: int) -> Tensor:
    """sum_i w_i x_i / sum_i w_i; the zero vector when no weight is left."""
    total = weights.sum()
    if len(updates) == 0 or not total > 0:
        return torch.zeros(dim)
    return (weights / total) @ updates


def rows_to_clients(source: Tensor | None, accepted_rows: Tensor | None) -> Tensor | None:
    """Map a verdict on pre-aggregated rows back to the clients whose updates formed them."""
    if source is None:
        return accepted_rows
    kept = source >= 0
    if accepted_rows is None:
        return None if kept.all() else kept
    verdict = torch.zeros(len(source), dtype=torch.bool)
    verdict[kept] = accepted_rows[source[kept]]
    return verdict
