"""A scenario: everything that determines one run's numbers, validated where it is set.

Each field carries its one-line help (and choices where it has them) as
dataclass metadata, from which the CLI builds ``fedarena run``'s flags and the
scenario-file reader its checks: a field added here is a flag and a file key
with no other edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from fedarena.defenses.chain import DefenseSpec
from fedarena.engine.assumed_f import parse_assumed_f
from fedarena.errors import SpecError
from fedarena.model import MODELS
from fedarena.registry import ComponentSpec
from fedarena.strategies.base import CLIENT_SAMPLINGS
from fedarena.training.local import OPTIMIZERS, LocalTraining

IN_PROCESS_ENGINES = ("vectorised", "sequential")
# Fields added after results were published: a spec holds them only where they differ from
# their default, so that every earlier cell keeps its key and its stored spec.
OMITTED_AT_DEFAULT = ("population", "model", "client_sampling")
SHOP_FIELDS = ("catalog", "items", "alpha")  # what only a simulated population uses
COMPONENT_FIELDS = ("attack", "defense", "strategy", "compression")
_SPEC_TYPES: dict[str, type[ComponentSpec] | type[DefenseSpec]] = {
    "ComponentSpec": ComponentSpec,
    "DefenseSpec": DefenseSpec,
}
_PLAIN_TYPES: dict[str, Any] = {
    "int": int,
    "float": (int, float),
    "str": str,
    "bool": bool,
    "str | int": (str, int),
}


@cache
def engine_names() -> tuple[str, ...]:
    """The in-process engines and those installed as ``fedarena.engines`` entry points."""
    installed = sorted(point.name for point in entry_points(group="fedarena.engines"))
    return (*IN_PROCESS_ENGINES, *(n for n in installed if n not in IN_PROCESS_ENGINES))


# The range of every numeric field, inclusive: what a run can compute in bounded memory and
# time (and a seed the result store's int64 column holds). ``fedarena run --help`` shows them.
RANGES: dict[str, tuple[float, float]] = {
    "seed": (0, 2**63 - 1),
    "rounds": (1, 100_000),
    "clients_per_round": (1, 1_000_000),
    "shoppers": (1, 1_000_000),
    "alpha": (1e-6, 1e6),
    "items": (1, 200_000),
    "dim": (1, 1024),
    "local_epochs": (1, 100),
    "batch_size": (1, 65_536),
    "local_lr": (1e-8, 100.0),
    "negatives_per_positive": (0, 100),
    "eval_every": (1, 100_000),
}


def range_text(name: str) -> str:
    """`` [low, high]`` for a field with a range, else ``""`` (for help texts)."""
    if name not in RANGES:
        return ""
    low, high = RANGES[name]
    return f" [{low:g}, {high:g}]" if isinstance(low, float) else f" [{low}, {high}]"


def _help(text: str, **more: Any) -> dict[str, Any]:
    """A field's metadata: its one-line help and, where it has them, its ``choices``."""
    return {"help": text, **more}


@dataclass(frozen=True)
class Scenario:
    """One cell of a matrix: catalog + population + model + attack + defense + strategy + seed.

    ``attack``, ``defense``, ``strategy`` and ``compression`` are component
    specs, given as text such as ``trimmed_mean(beta=0.1)`` and parsed here
    once (a defense may be a chain, ``norm_clip(max_norm=1) > krum``);
    ``to_dict`` writes them back as their canonical text. ``catalog`` is
    ``builtin`` or a path to an Amazon CSV file or folder. ``engine``:
    ``vectorised`` (default) or ``sequential`` run in-process; ``flower`` runs
    the scenario as a Flower federation in Flower's simulation runtime
    (``fedarena.flower``), its clients training with the vectorised trainer.
    """

    seed: int = field(default=0, metadata=_help("random seed: same seed, same numbers"))
    rounds: int = field(default=30, metadata=_help("federated rounds"))
    clients_per_round: int = field(default=50, metadata=_help("shoppers sampled per round"))
    client_sampling: str = field(
        default="uniform",
        metadata=_help(
            "uniform (clients_per_round shoppers drawn afresh every round) or epochs (every "
            "shopper once an epoch: a fresh order cut into rounds of clients_per_round, the "
            "last one smaller; the FedRec papers' protocol)",
            choices=lambda: CLIENT_SAMPLINGS,
        ),
    )
    population: str = field(
        default="shop",
        metadata=_help(
            "shop (shoppers simulated over the catalog), movielens (the real ratings of the "
            "movielens extra, one user per client) or a path to an interaction log "
            "(CSV, MovieLens u.data or ratings.dat; docs/interactions.md)"
        ),
    )
    shoppers: int = field(
        default=500,
        metadata=_help("shoppers simulated, or at most this many users sampled from a log"),
    )
    alpha: float = field(
        default=0.3,
        metadata=_help("Dirichlet concentration of category affinities (small = more non-IID)"),
    )
    catalog: str = field(
        default="builtin",
        metadata=_help("'builtin' or a path to an Amazon 2023 CSV file or folder"),
    )
    items: int = field(
        default=2000,
        metadata=_help("catalog size (built-in) or items sampled from an Amazon catalog"),
    )
    model: str = field(
        default="tower",
        metadata=_help(
            "tower (item, category and feature embeddings, logistic loss), mf (FedMF: "
            "matrix factorisation with BPR) or ncf (FedNCF: an MLP on the private user "
            "vector and the item's, BCE), the FedRec papers' models (docs/fedrec.md)",
            choices=lambda: tuple(MODELS),
        ),
    )
    dim: int = field(default=16, metadata=_help("embedding dimension"))
    engine: str = field(
        default="vectorised",
        metadata=_help(
            "vectorised or sequential (in-process), or flower (a Flower federation in Flower's "
            "simulation runtime; FLWR_LOG_LEVEL=INFO shows Flower's own logs)",
            choices=engine_names,
        ),
    )
    attack: ComponentSpec = field(
        default=ComponentSpec("none"), metadata=_help("attack spec, e.g. label_flip")
    )
    malicious_fraction: float = field(
        default=0.0, metadata=_help("share of shoppers that are malicious, in [0, 0.5)")
    )
    assumed_f: str | int = field(
        default="bound",
        metadata=_help(
            "the f a defense is told: bound (smallest f with P(more malicious in a round) "
            "<= 0.01), expected (round(fraction x clients_per_round)), oracle (the round's "
            "true count) or an integer"
        ),
    )
    defense: DefenseSpec = field(
        default=DefenseSpec((ComponentSpec("fedavg"),)),
        metadata=_help("defense spec, e.g. 'norm_clip(max_norm=2) > krum'"),
    )
    strategy: ComponentSpec = field(
        default=ComponentSpec("fedavg"),
        metadata=_help("strategy spec, e.g. 'fedavg_plus(server_opt=adam)'"),
    )
    compression: ComponentSpec = field(
        default=ComponentSpec("none"),
        metadata=_help("update compression spec, e.g. 'topk(ratio=0.1)'"),
    )
    local_epochs: int = field(default=3, metadata=_help("local epochs per round"))
    batch_size: int = field(default=64, metadata=_help("local minibatch size"))
    local_lr: float = field(default=0.05, metadata=_help("local learning rate"))
    local_optimizer: str = field(
        default="adam", metadata=_help("local optimiser", choices=lambda: OPTIMIZERS)
    )
    negatives_per_positive: int = field(
        default=4, metadata=_help("uniformly drawn negative items per purchase in local training")
    )
    eval_every: int = field(
        default=1, metadata=_help("evaluate every N rounds (and after the last)")
    )
    baselines: bool = field(
        default=True,
        metadata=_help("also compute the local and centralised baselines (popularity: always)"),
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kind = str(f.type)
            if kind in _SPEC_TYPES:
                if not isinstance(value, str | _SPEC_TYPES[kind]):
                    raise SpecError(f"{f.name} must be a component spec, got {value!r}")
                object.__setattr__(self, f.name, _SPEC_TYPES[kind].parse(value))
                continue
            expected = _PLAIN_TYPES[kind]
            if (isinstance(value, bool) and kind != "bool") or not isinstance(value, expected):
                raise SpecError(f"{f.name} must be of type {f.type}, got {value!r}")
            if kind == "float":  # one spelling of each value: 0 and 0.0 are the same cell
                object.__setattr__(self, f.name, float(value))
        for name in RANGES:
            value = getattr(self, name)
            if not RANGES[name][0] <= value <= RANGES[name][1]:
                raise SpecError(f"{name} must be in{range_text(name)}, got {value}")
        if self.clients_per_round > self.shoppers:
            raise SpecError(
                f"clients_per_round ({self.clients_per_round}) exceeds shoppers ({self.shoppers})"
            )
        if not self.catalog.strip():  # a path of "" is the current folder: never what was meant
            raise SpecError("catalog must be 'builtin' or a path to an Amazon CSV file or folder")
        if not self.population.strip():
            raise SpecError("population must be 'shop', 'movielens' or a path to a log file")
        if self.population != "shop":
            default = Scenario.__dataclass_fields__
            for name in SHOP_FIELDS:
                if getattr(self, name) != default[name].default:
                    raise SpecError(
                        f"{name} applies to the simulated shop only; population "
                        f"{self.population!r} brings its own users and items"
                    )
        if not 0 <= self.malicious_fraction < 0.5:
            raise SpecError(
                f"malicious_fraction must be in [0, 0.5), got {self.malicious_fraction}"
            )
        object.__setattr__(self, "assumed_f", parse_assumed_f(self.assumed_f))
        if self.engine not in engine_names():
            raise SpecError(
                f"engine must be one of {', '.join(engine_names())}, got {self.engine!r}"
            )
        if self.model not in MODELS:
            raise SpecError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.client_sampling not in CLIENT_SAMPLINGS:
            raise SpecError(
                f"client_sampling must be one of {', '.join(CLIENT_SAMPLINGS)}, "
                f"got {self.client_sampling!r}"
            )
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
            loss=MODELS[self.model].LOSS,
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready values, component specs as their canonical text
        (an ``OMITTED_AT_DEFAULT`` field only where it is not at its default)."""
        return {
            f.name: str(value) if f.name in COMPONENT_FIELDS else value
            for f in fields(self)
            for value in [getattr(self, f.name)]
            if not (f.name in OMITTED_AT_DEFAULT and value == f.default)
        }

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

    @property
    def simulated(self) -> bool:
        """Whether the shoppers are simulated over a catalog (not read from a log)."""
        return self.population == "shop"

    @property
    def plugin_files(self) -> list[str]:
        """The ``path/to/file.py`` files the component specs import, in field order."""
        files = []
        for name in COMPONENT_FIELDS:
            spec = getattr(self, name)
            files += spec.plugin_files if isinstance(spec, DefenseSpec) else [spec.plugin_file]
        return [f for f in files if f]


def complete_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A stored spec with every ``OMITTED_AT_DEFAULT`` field it lacks at its default."""
    default = Scenario.__dataclass_fields__
    return {name: default[name].default for name in OMITTED_AT_DEFAULT} | spec
