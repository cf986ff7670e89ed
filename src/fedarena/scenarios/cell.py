"""A matrix cell: one fully resolved scenario and the content key it is stored under.

The key is a SHA-256 over the canonical JSON of the resolved spec (seed
included), the package version and the contents of any plugin file the spec
names (``path/to/file.py:Class``), so that a result is reused exactly when
the same code would compute the same numbers again. The family key leaves the
seed out: the cells of a family differ only in their seed, and their spread
is the seed-to-seed noise of that configuration.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from fedarena import __version__
from fedarena.registry import parse_component, split_chain
from fedarena.scenarios.spec import Scenario

COMPONENT_FIELDS = ("attack", "defense", "strategy", "compression")


def canonical_component(spec: str) -> str:
    """``name(key=value, ...)`` with sorted options and Python literals, steps joined by ``>``.

    >>> canonical_component("norm_clip( max_norm = 1 )>krum")
    'norm_clip(max_norm=1) > krum'
    """
    return " > ".join(str(parse_component(step)) for step in split_chain(spec))


def canonical_scenario(scenario: Scenario) -> Scenario:
    """The same scenario written one way only: floats as floats, components canonical."""
    values: dict[str, Any] = {}
    for f in fields(Scenario):
        value = getattr(scenario, f.name)
        if f.type == "float":
            value = float(value)
        elif f.name in COMPONENT_FIELDS:
            value = canonical_component(value)
        values[f.name] = value
    return replace(scenario, **values)


def plugin_files(scenario: Scenario) -> dict[str, str]:
    """SHA-256 of each ``path/to/file.py`` a component spec names (missing files hash to '')."""
    digests = {}
    for name in COMPONENT_FIELDS:
        for step in split_chain(getattr(scenario, name)):
            target = parse_component(step).name.rpartition(":")[0]
            if target.endswith(".py"):
                path = Path(target)
                digests[target] = (
                    hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
                )
    return dict(sorted(digests.items()))


def _digest(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Cell:
    """One scenario of a matrix with its store key and family key."""

    scenario: Scenario
    key: str
    family: str
    version: str

    @classmethod
    def of(cls, scenario: Scenario, version: str = __version__) -> Cell:
        scenario = canonical_scenario(scenario)
        spec = scenario.to_dict()
        code = plugin_files(scenario)
        unseeded = {k: v for k, v in spec.items() if k != "seed"}
        return cls(
            scenario=scenario,
            key=_digest({"spec": spec, "version": version, "code": code}),
            family=_digest({"spec": unseeded, "version": version, "code": code}),
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
