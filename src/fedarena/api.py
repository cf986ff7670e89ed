"""The Python API, for scripts and notebooks: ``fedarena.run``, ``fedarena.frame``,
``fedarena.run_matrix`` and ``fedarena.aggregate``.

``run`` takes a ``Scenario``, a dict of its fields or the fields as keywords
(keywords override) and returns the result document that ``fedarena run
--out`` writes (docs/results.md); ``frame`` turns result documents into a
pandas DataFrame, one row per run: its spec fields, then its final metrics.
``run_matrix`` runs many cells in limited worker processes into a resumable
store, exactly as ``fedarena matrix`` does, and returns them as a DataFrame
(the rows of ``cells.csv``); ``fedarena.matrix`` is the package that does the work.
``aggregate`` calls one defense by hand on vectors, as ByzFL's aggregators
are called.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd

from fedarena.defenses import create_defense
from fedarena.defenses.base import aggregate_by_hand
from fedarena.errors import FedarenaError, SpecError
from fedarena.matrix import runner
from fedarena.matrix.export import cells_csv
from fedarena.matrix.file import Matrix, check_catalogs, load_matrix, matrix_from_document
from fedarena.matrix.store import ResultStore
from fedarena.sandbox.limits import Limits
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario, complete_spec


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
        {name: complete_spec(result["spec"]).get(name) for name in names} | dict(result["final"])
        for result in results
    ]
    return pd.DataFrame(rows)


Cells = (
    str | os.PathLike[str] | Scenario | Mapping[str, Any] | Sequence[Scenario | Mapping[str, Any]]
)


def matrix_of(cells: Cells) -> Matrix:
    """A validated matrix from a scenario file's path, a dict in a scenario file's shape
    (fields, lists of values, ``grid`` tables) or scenarios (each one cell, with its twins)."""
    if isinstance(cells, str | os.PathLike):
        return load_matrix(Path(cells))
    if isinstance(cells, Mapping):
        return check_catalogs(matrix_from_document(dict(cells), Path("<dict>")))
    scenarios = [cells] if isinstance(cells, Scenario) else cells
    if not isinstance(scenarios, Sequence) or not scenarios:
        raise SpecError(
            "cells must be a scenario file's path, a dict of its fields or a list of scenarios"
        )
    grids = [
        {"name": f"scenario-{number}"} | scenario_of(one).to_dict()
        for number, one in enumerate(scenarios)
    ]
    return check_catalogs(matrix_from_document({"grid": grids}, Path("<scenarios>")))


def run_matrix(
    cells: Cells,
    /,
    *,
    out: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    cell_timeout: float = 900.0,
    cell_memory: int = 4096,
    grids: Sequence[str] | None = None,
    backend: str = "local",
    address: str | None = None,
) -> pd.DataFrame:
    """Run ``cells`` (see ``matrix_of``) as ``fedarena matrix`` does, into ``out`` (default
    ``results/<file name>``, ``results/api`` for dicts and scenarios; a rerun resumes), and
    return their rows of ``cells.csv``: key, status, spec fields, final metrics, wall time;
    ``backend="ray"`` runs them as Ray tasks (``address``: a cluster's, docs/cluster.md)."""
    built = matrix_of(cells)
    folder = (
        Path(out)
        if out is not None
        else Path("results") / (built.path.stem if built.path.suffix else "api")
    )
    try:
        limits = Limits(seconds=cell_timeout, memory_mb=cell_memory)
    except ValueError as err:
        raise FedarenaError(f"cell_timeout / cell_memory: {err}") from None
    runner.run_matrix(
        built, folder, grids=grids, workers=workers, limits=limits, backend=backend, address=address
    )
    keys = {cell.key for cell in built.cells(grids)}
    with ResultStore.in_folder(folder) as store:
        records = [r for r in store.records() if r.key in keys]
    return pd.read_csv(io.StringIO(cells_csv(records)))


def aggregate(defense: str, vectors: Any, weights: Any = None, f: int = 0, seed: int = 0) -> Any:
    """The aggregate of ``vectors`` (n x d: a tensor, an array or a list of lists) by the
    defense ``defense`` (a spec, chains included) told ``f`` malicious, in the input's kind.

    >>> aggregate("median", [[0.0, 1.0], [2.0, 5.0], [100.0, 3.0]])
    [2.0, 3.0]
    """
    built = create_defense(defense, n_malicious=f, n_clients=len(vectors), seed=seed)
    return aggregate_by_hand(built, vectors, weights, f, seed)
