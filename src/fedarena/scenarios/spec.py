"""A scenario: everything that determines one run's numbers, validated where it is set."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from fedarena.engine.local import OPTIMIZERS, LocalTraining
from fedarena.errors import SpecError

ENGINES = ("vectorised", "sequential", "flower")


@dataclass(frozen=True)
class Scenario:
    """One cell of a matrix: catalog + population + model + attack + defense + strategy + seed.

    ``attack``, ``defense``, ``strategy`` and ``compression`` are component
    specs such as ``trimmed_mean(beta=0.1)`` (a defense may be a chain,
    ``norm_clip(max_norm=1) > krum``); ``catalog`` is ``builtin`` or a path to
    an Amazon CSV file or folder. ``engine``: ``vectorised`` (default) or
    ``sequential`` run in-process; ``flower`` runs the scenario as a Flower
    federation in Flower's simulation runtime (``fedarena.flower``), its
    clients training with the vectorised trainer.
    """

    seed: int = 0
    rounds: int = 30
    clients_per_round: int = 50
    shoppers: int = 500
    alpha: float = 0.3
    catalog: str = "builtin"
    items: int = 2000
    dim: int = 16
    engine: str = "vectorised"
    attack: str = "none"
    malicious_fraction: float = 0.0
    defense: str = "fedavg"
    strategy: str = "fedavg"
    compression: str = "none"
    local_epochs: int = 3
    batch_size: int = 64
    local_lr: float = 0.05
    local_optimizer: str = "adam"
    negatives_per_positive: int = 4
    eval_every: int = 1
    baselines: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            expected = {"int": int, "float": (int, float), "str": str, "bool": bool}[str(f.type)]
            if (isinstance(value, bool) and f.type != "bool") or not isinstance(value, expected):
                raise SpecError(f"{f.name} must be of type {f.type}, got {value!r}")
        positive = ("rounds", "clients_per_round", "shoppers", "items", "dim", "eval_every")
        for name in positive:
            if getattr(self, name) <= 0:
                raise SpecError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.alpha > 0:
            raise SpecError(f"alpha must be > 0, got {self.alpha}")
        if self.clients_per_round > self.shoppers:
            raise SpecError(
                f"clients_per_round ({self.clients_per_round}) exceeds shoppers ({self.shoppers})"
            )
        if not 0 <= self.malicious_fraction < 0.5:
            raise SpecError(
                f"malicious_fraction must be in [0, 0.5), got {self.malicious_fraction}"
            )
        if self.engine not in ENGINES:
            raise SpecError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.local_optimizer not in OPTIMIZERS:
            raise SpecError(
                f"local_optimizer must be one of {', '.join(OPTIMIZERS)}, "
                f"got {self.local_optimizer!r}"
            )
        self.local_training()

    def local_training(self) -> LocalTraining:
        """The local-training options this scenario gives every client."""
        return LocalTraining(
            epochs=self.local_epochs,
            batch_size=self.batch_size,
            lr=self.local_lr,
            optimizer=self.local_optimizer,
            negatives_per_positive=self.negatives_per_positive,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "scenario") -> Scenario:
        """Build from a mapping; an unknown key is an error naming it and the allowed keys."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SpecError(
                f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(known))}"
            )
        return cls(**values)
