"""Sybil attack: fake shoppers enrolled by one attacker, sending coordinated updates."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Protocol

import numpy as np
from torch import Tensor

from fedarena.attacks.base import ATTACKS, Attack, AttackContext, send
from fedarena.attacks.model_replacement import replacement_boost
from fedarena.attacks.targets import PromotionTargets, purchase_counts
from fedarena.data.catalog import Catalog
from fedarena.data.shoppers import Population
from fedarena.options import is_number, real

Log = tuple[np.ndarray, np.ndarray]
POPULAR_SHARE = 0.1
FILLERS = ("popular", "random", "bandwagon")
BANDWAGON_POPULAR = 0.1  # a bandwagon profile's share of popular ("selected") fillers


class Payload(Protocol):
    """What the fake shoppers' logs are made of."""

    goal: str

    def profiles(
        self, population: Population, catalog: Catalog, n_fake: int, rng: np.random.Generator
    ) -> list[Log]: ...

    @property
    def target_items(self) -> np.ndarray: ...


class Promotion:
    """Fake shoppers who buy the targets plus popular items (fake-user injection).

    The shilling profile of the fake-user attacks on recommenders (Lam & Riedl
    2004; Fang et al. 2018; FedRecAttack, Rong et al. 2022): the targets plus
    ``filler`` items drawn without replacement from the most-bought tenth of
    the catalog with probability proportional to their purchases, all bought.
    Popular fillers make the fake shoppers resemble many real ones, so the
    targets are learnt as "bought by people like you". ``filler`` defaults to
    the median number of training purchases of a real shopper.

    ``fillers`` picks the profile among the FedRec papers' fake-user baselines
    (FedRecAttack, PipAttack): ``popular`` (above, the default), ``random``
    (fillers uniform over the other items) or ``bandwagon`` (Burke et al. 2005:
    ``BANDWAGON_POPULAR`` of the fillers popular as above, the rest uniform).
    """

    goal = "targeted"

    def __init__(self, targets: PromotionTargets, filler: int | None, fillers: str) -> None:
        if fillers not in FILLERS:
            raise ValueError(f"fillers must be one of {', '.join(FILLERS)}, got {fillers!r}")
        self.targets = targets
        self.filler = filler
        self.fillers = fillers

    @property
    def target_items(self) -> np.ndarray:
        return self.targets.items

    def profiles(
        self, population: Population, catalog: Catalog, n_fake: int, rng: np.random.Generator
    ) -> list[Log]:
        targets = self.targets.choose(population, len(catalog))
        counts = purchase_counts(population, len(catalog)).astype(np.float64)
        counts[targets] = 0.0
        pool = np.argsort(-counts, kind="stable")[: math.ceil(POPULAR_SHARE * len(catalog))]
        pool = pool[counts[pool] > 0]
        real_purchases = np.bincount(
            np.repeat(np.arange(len(population)), population.n_train),
            weights=population.train_labels,
            minlength=len(population),
        )
        size = round(float(np.median(real_purchases))) if self.filler is None else self.filler
        shares = {"popular": size, "random": 0, "bandwagon": round(BANDWAGON_POPULAR * size)}
        n_popular = min(shares[self.fillers], len(pool))
        others = np.setdiff1d(np.arange(len(catalog)), targets)
        n_random = min(size, len(others)) - n_popular if self.fillers != "popular" else 0
        logs = []
        for _ in range(n_fake):
            fillers = rng.choice(
                pool, size=n_popular, replace=False, p=counts[pool] / counts[pool].sum()
            )
            if n_random > 0:
                rest = np.setdiff1d(others, fillers, assume_unique=True)
                fillers = np.concatenate([fillers, rng.choice(rest, n_random, replace=False)])
            items = rng.permutation(np.concatenate([targets, fillers]))
            logs.append((items, np.ones(len(items), dtype=np.float32)))
        return logs


class FlippedCopies:
    """Fake shoppers who replay a real shopper's log with every label flipped.

    Each fake copies the training log of a real shopper drawn uniformly (an
    attacker can observe or simulate ordinary browsing) and swaps bought and
    browsed-only, as ``label_flip`` does: untargeted.
    """

    goal = "untargeted"
    target_items = np.empty(0, dtype=np.int64)

    def profiles(
        self, population: Population, catalog: Catalog, n_fake: int, rng: np.random.Generator
    ) -> list[Log]:
        sources = rng.choice(len(population), size=n_fake, replace=n_fake > len(population))
        logs = []
        for s in sources:
            items, labels = population.train_log(int(s))
            logs.append((items.copy(), 1 - labels))
        return logs


def with_fake_shoppers(population: Population, catalog: Catalog, logs: list[Log]) -> Population:
    """``population`` with one shopper appended per log; the fakes have no test purchases.

    A fake shopper has no persona (``-1``) and no propensity (``nan``); its
    category affinity is the category mix of its log.
    """
    n_fake = len(logs)
    affinity = np.zeros((n_fake, population.affinity.shape[1]))
    for row, (items, _) in enumerate(logs):
        mix = np.bincount(catalog.main_category[items], minlength=affinity.shape[1])
        affinity[row] = mix / max(mix.sum(), 1)
    lengths = np.array([len(items) for items, _ in logs], dtype=np.int64)
    return replace(
        population,
        persona=np.concatenate([population.persona, np.full(n_fake, -1)]),
        affinity=np.concatenate([population.affinity, affinity]),
        propensity=np.concatenate([population.propensity, np.full(n_fake, np.nan)]),
        train_ptr=np.concatenate(
            [population.train_ptr, population.train_ptr[-1] + np.cumsum(lengths)]
        ),
        train_items=np.concatenate([population.train_items, *(items for items, _ in logs)]),
        train_labels=np.concatenate(
            [population.train_labels, *(labels.astype(np.float32) for _, labels in logs)]
        ),
    )


class TypicalClaim(Attack):
    """Fake shoppers who claim a typical real shopper's sample count: the median over the
    real shoppers (which an attacker can observe or simulate), so that a short fake log
    gets an ordinary weight in the server's mean; ``report_examples`` sets another."""

    typical_examples: int | None = None  # set at enrolment by ``note_typical``

    def note_typical(self, population: Population) -> None:
        """Remember the median real shopper's count (``population``: the real ones)."""
        self.typical_examples = max(1, round(float(np.median(population.n_train))))

    def reported_examples(self, true_count: int) -> int:
        """``report_examples`` if set, else a typical real shopper's count."""
        if self.report_examples is not None:
            return self.report_examples
        return true_count if self.typical_examples is None else self.typical_examples


# As many fake shoppers as a scenario may have real ones (``Scenario.RANGES``).
MAX_IDENTITIES = 1_000_000


@ATTACKS.register("sybil")
class Sybil(TypicalClaim):
    """Sybil attack (Douceur 2002; Fung et al., FoolsGold, RAID 2020): fake identities.

    *Budget*: the attacker enrols ``S`` fake shoppers, ``identities`` as a
    count or as a fraction ``f`` of the real shoppers (``S = round(f N)``);
    by default the scenario's malicious fraction. They join the federation as
    ordinary clients, sampled like everyone else; their ids follow the real
    shoppers' and they never enter the benign metrics.

    *Payload*: ``promotion`` (fake shoppers who buy the targets plus popular
    items, or random or bandwagon ones with ``fillers``, see ``Promotion``) or
    ``label_flip`` (copies of real logs with flipped labels, see
    ``FlippedCopies``).

    *Coordination* ``c`` in [0, 1]: the Sybils sampled in a round train on
    their own fake logs, then send ``c * mean_j u_j + (1 - c) * u_i``: ``c = 0``
    is independently trained fake profiles, ``c = 1`` identical updates.

    *Crafting*: the attacker controls the identities' software, so their
    updates need not be honest. ``boost`` scales what they send: ``"auto"``
    (default) is model replacement's ``n / (m g)`` for the ``m`` Sybils of the
    round (``fedarena.attacks.model_replacement``), so that together they move
    the model to their fake shoppers' model as one; a number is a fixed factor
    (1: honest training by fake users). A fake log is short, so a Sybil claims
    the sample count of a typical real shopper (the median over the real
    shoppers, which an attacker can observe or simulate) rather than its own:
    the server's weighted mean then gives it an ordinary weight, as the boost
    assumes. The shared ``report_examples`` option sets another claim.
    """

    knowledge = "own"

    def __init__(
        self,
        identities: int | float | None = None,
        coordination: float = 1.0,
        payload: str = "promotion",
        targets: list[int] | None = None,
        n_targets: int | None = None,
        filler: int | None = None,
        fillers: str = "popular",
        boost: float | str = "auto",
        seed: int = 0,
        catalog: Catalog | None = None,
    ) -> None:
        if boost != "auto" and not (is_number(boost) and boost > 0):
            raise ValueError(f"boost must be 'auto' or a number > 0, got {boost!r}")
        if identities is not None and (
            isinstance(identities, bool)
            or not isinstance(identities, int | float)
            or (isinstance(identities, int) and not 0 <= identities <= MAX_IDENTITIES)
            or (isinstance(identities, float) and not 0 <= identities < 1)
        ):
            raise ValueError(
                f"identities must be a count in [0, {MAX_IDENTITIES}] or a fraction in [0, 1) "
                "of the real shoppers, "
                f"got {identities!r}"
            )
        coordination = real("coordination", coordination)
        if not 0 <= coordination <= 1:
            raise ValueError(f"coordination must be in [0, 1], got {coordination}")
        if filler is not None and (
            isinstance(filler, bool) or not isinstance(filler, int) or filler < 0
        ):
            raise ValueError(f"filler must be a number of items >= 0, got {filler!r}")
        if payload == "promotion":
            self.payload: Payload = Promotion(
                PromotionTargets(
                    targets, n_targets, seed, None if catalog is None else len(catalog)
                ),
                filler,
                fillers,
            )
        elif payload == "label_flip":
            if (
                targets is not None
                or n_targets is not None
                or filler is not None
                or fillers != "popular"
            ):
                raise ValueError(
                    "targets, n_targets, filler and fillers apply to payload=promotion only"
                )
            self.payload = FlippedCopies()
        else:
            raise ValueError(f"payload must be one of promotion, label_flip, got {payload!r}")
        self.identities = identities
        self.coordination = coordination
        self.boost = boost
        self.goal = self.payload.goal
        crafts = coordination > 0 or boost != 1
        self.acts_on = frozenset({"enrolment", "update"} if crafts else {"enrolment"})

    @property
    def target_items(self) -> np.ndarray:
        return self.payload.target_items

    def budget(self, n_real: int, n_malicious: int) -> int:
        """Number of fake shoppers: ``identities`` (count or fraction), else ``n_malicious``."""
        if self.identities is None:
            return n_malicious
        if isinstance(self.identities, float):
            return round(self.identities * n_real)
        return self.identities

    def enrol(
        self, population: Population, catalog: Catalog, n_malicious: int, rng: np.random.Generator
    ) -> tuple[Population, np.ndarray]:
        n_fake = self.budget(len(population), n_malicious)
        logs = self.payload.profiles(population, catalog, n_fake, rng)
        enrolled = with_fake_shoppers(population, catalog, logs)
        self.note_typical(population)
        return enrolled, np.arange(len(population), len(enrolled))

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Tensor]:
        own = updates[malicious]
        if not len(own):
            return list(updates)
        c = self.coordination
        boost = replacement_boost(ctx, len(own)) if self.boost == "auto" else float(self.boost)
        return send(updates, malicious, boost * (c * own.mean(dim=0) + (1 - c) * own))
