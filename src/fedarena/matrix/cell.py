"""A matrix cell: one resolved scenario, its keys and the cells its scores are defined against.

Every notion of a cell's identity lives here:

- ``key``: SHA-256 over the canonical JSON of the spec (seed included), the
  package version and the contents of any plugin file the spec names
  (``path/to/file.py:Class``), so a result is reused exactly when the same
  code would compute the same numbers again (the store's primary key);
- ``family``: the same without the seed; the cells of a family differ only in
  their seed, and their spread is the seed-to-seed noise of that configuration;
- its twins (``with_twins``): the clean twin (attack ``none``: the run its
  utility drop is measured against) and the reference (attack ``none``, defense
  ``fedavg``: the run its utility is retained against, which also computes the
  baselines), which the matrix runs beside it;
- ``comparable_key``: what scoring matches records by when they come from
  several sources (matrix folders, exports, entries): the spec without the
  fields that never change a cell's final metrics.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fedarena import __version__
from fedarena.scenario.spec import Scenario

REFERENCE_ATTACK = "none"
REFERENCE_DEFENSE = "fedavg"
# Fields that never change a cell's final metrics: cells differing only in them are comparable.
NEUTRAL_FIELDS = ("baselines", "eval_every")


def plugin_files(scenario: Scenario) -> dict[str, str]:
    """SHA-256 of each ``path/to/file.py`` a component spec names (missing files hash to '')."""
    digests = {}
    for target in scenario.plugin_files:
        path = Path(target)
        digests[target] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    return dict(sorted(digests.items()))


def _digest(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def comparable_key(spec: dict[str, Any], **override: Any) -> str:
    """The identity scoring matches a stored spec by (``override`` replaces fields)."""
    kept = {k: v for k, v in spec.items() if k not in NEUTRAL_FIELDS} | override
    return json.dumps(kept, sort_keys=True)


def is_reference(scenario: Scenario) -> bool:
    """Whether the scenario is a reference cell (no attack, no defense)."""
    return str(scenario.attack) == REFERENCE_ATTACK and str(scenario.defense) == REFERENCE_DEFENSE


def _variant(scenario: Scenario, fixed_baselines: bool) -> Scenario:
    """Unless the baselines are fixed by the file, only a reference computes them."""
    return scenario if fixed_baselines else replace(scenario, baselines=is_reference(scenario))


@dataclass(frozen=True)
class Cell:
    """One scenario of a matrix with its keys (see the module docstring)."""

    scenario: Scenario
    key: str
    family: str
    version: str

    @classmethod
    def of(
        cls, scenario: Scenario, version: str = __version__, fixed_baselines: bool = True
    ) -> Cell:
        """The cell of ``scenario``; unless ``fixed_baselines``, only a reference computes the
        baselines (once per population, not once per cell)."""
        scenario = _variant(scenario, fixed_baselines)
        code = plugin_files(scenario)
        return cls(
            scenario=scenario,
            key=_key(scenario, version, code),
            family=_key(scenario, version, code, seeded=False),
            version=version,
        )

    @property
    def seed(self) -> int:
        return self.scenario.seed

    @property
    def label(self) -> str:
        """A short human name: the components, the malicious fraction and the seed."""
        s = self.scenario
        return (
            f"{s.attack} | {s.defense} | {s.strategy} | f={s.malicious_fraction:g} | seed {s.seed}"
        )


def _key(scenario: Scenario, version: str, code: dict[str, str], seeded: bool = True) -> str:
    spec = scenario.to_dict()
    if not seeded:
        del spec["seed"]
    return _digest({"spec": spec, "version": version, "code": code})


def with_twins(scenario: Scenario, fixed_baselines: bool) -> list[Cell]:
    """The cell of ``scenario``, its clean twin and its reference, each once (a reference is
    its own twin and reference); see ``Cell.of`` for ``fixed_baselines``."""
    clean = replace(scenario, attack=REFERENCE_ATTACK)
    variants = (scenario, clean, replace(clean, defense=REFERENCE_DEFENSE))
    cells = [Cell.of(v, fixed_baselines=fixed_baselines) for v in variants]
    return list({c.key: c for c in cells}.values())
