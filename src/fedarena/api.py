"""The Python API, for scripts and notebooks: ``fedarena.run``, ``fedarena.frame`` and
``fedarena.aggregate``.

``run`` takes a ``Scenario``, a dict of its fields or the fields as keywords
(keywords override) and returns the result document that ``fedarena run
--out`` writes (docs/results.md); ``frame`` turns result documents into a
pandas DataFrame, one row per run: its spec fields, then its final metrics.
``aggregate`` calls one defense by hand on vectors, as ByzFL's aggregators
are called.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

import pandas as pd

from fedarena.defenses import create_defense
from fedarena.defenses.base import aggregate_by_hand
from fedarena.errors import SpecError
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario


def scenario_of(scenario: Scenario | Mapping[str, Any] | None = None, **changes: Any) -> Scenario:
    """A validated ``Scenario`` from a scenario, a dict of fields or neither, with ``changes``.

    >>> scenario_of({"rounds": 3}, seed=7).seed
    7
    """
    if isinstance(scenario, Scenario):
        values = scenario.to_dict()
    elif scenario is None or isinstance(scenario, Mapping):
        values = dict(scenario or {})
    else:
        raise SpecError(
            f"a scenario must be a fedarena Scenario or a dict of its fields, got "
            f"{type(scenario).__name__}"
        )
    return Scenario.from_dict(values | changes, where="scenario")


def run(scenario: Scenario | Mapping[str, Any] | None = None, /, **changes: Any) -> dict[str, Any]:
    """Run one scenario in-process, as ``fedarena run`` does, and return its result document."""
    return run_scenario(scenario_of(scenario, **changes))


def frame(results: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Result documents as a DataFrame: one row each, the spec's fields then ``final``'s."""
    names = [f.name for f in fields(Scenario)]
    rows = [
        {name: result["spec"].get(name) for name in names} | dict(result["final"])
        for result in results
    ]
    return pd.DataFrame(rows)


def aggregate(defense: str, vectors: Any, weights: Any = None, f: int = 0, seed: int = 0) -> Any:
    """The aggregate of ``vectors`` (n x d: a tensor, an array or a list of lists) by the
    defense ``defense`` (a spec, chains included) told ``f`` malicious, in the input's kind.

    >>> aggregate("median", [[0.0, 1.0], [2.0, 5.0], [100.0, 3.0]])
    [2.0, 3.0]
    """
    built = create_defense(defense, n_malicious=f, n_clients=len(vectors), seed=seed)
    return aggregate_by_hand(built, vectors, weights, f, seed)
