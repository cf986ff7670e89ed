"""The CI regression gate: a matrix rerun compared cell by cell with a committed baseline.

A baseline (schema ``fedarena.baseline/1``) holds, for every cell of a
matrix, its status and its final metrics, and for every *family* (the cells
that differ only in their seed) a tolerance band per metric:

    band(f, m) = max(z * s(f, m),  c * S(m),  1e-4 * max(1, |mean(f, m)|)),   z = 1, c = 1/2

where s(f, m) is the sample standard deviation (n - 1) of metric m over the
family's seeds, and S(m) = sqrt(mean over families of s(f, m)^2) is the
matrix's pooled seed-to-seed deviation of m. On one machine a rerun gives the
same numbers exactly (same spec and seed), so the band only has to absorb
float differences between machines (other CPUs, BLAS builds, library
versions), which perturb a training trajectory far less than a change of
seed does (``scripts/gate_noise.py`` measures it: docs/ci.md). One of the
family's own standard deviations; at least half the pooled one, since three
seeds can agree by chance (or exactly, as ER@10 = 0 when an attack never
succeeds); and a relative 1e-4 where nothing varies.

A rerun cell is outside its band when |now - baseline| > band for a metric,
when its status differs, or when it is missing from either side. Each row says which
way it moved (``BETTER``): a *regression* (utility down; attack success or privacy spent
up; a done cell that fails), an *improvement* (the other way), or another *change* (a
cell missing or new, a status other than failed, a metric that appears or vanishes). All
three fail the gate: a baseline left at the old numbers would let a later change back to
them, a regression, pass unseen.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedarena import __version__
from fedarena.errors import FedarenaError
from fedarena.io import write_json_atomic
from fedarena.leaderboard.entry import read_json
from fedarena.leaderboard.manifest import environment
from fedarena.matrix.cell import Cell
from fedarena.matrix.store import CellRecord, finite
from fedarena.scenario.spec import Scenario

BASELINE_SCHEMA = "fedarena.baseline/1"
METRICS = ("ndcg@10", "hr@10", "auc", "er@10", "epsilon_shopper", "epsilon_example")
Z = 1.0
POOLED_FRACTION = 0.5
RELATIVE_FLOOR = 1e-4
# Which way each metric should move: +1 higher is better (utility), -1 lower is better
# (attack success, privacy spent).
BETTER = {
    "ndcg@10": 1,
    "hr@10": 1,
    "auc": 1,
    "er@10": -1,
    "epsilon_shopper": -1,
    "epsilon_example": -1,
}
REGRESSION, IMPROVEMENT, CHANGE = "regression", "improvement", "change"
# The heading of each kind's table in the report, worst first.
KINDS = {
    REGRESSION: "Regressions (utility down, attack success or privacy spent up, cells failing)",
    IMPROVEMENT: "Improvements (utility up, attack success or privacy spent down)",
    CHANGE: "Other changes (cells missing or new, statuses, metrics appearing or vanishing)",
}
BAND_FORMULA = (
    "band(f, m) = max(z * s(f, m), c * S(m), 1e-4 * max(1, |mean(f, m)|)); s(f, m): sample "
    "standard deviation of metric m over the seeds of family f (cells differing only in seed); "
    "S(m) = sqrt(mean over families of s(f, m)^2)"
)


def seedless(spec: dict[str, Any]) -> str:
    """A family's identity across versions: the resolved spec without its seed, as JSON."""
    return json.dumps({k: v for k, v in spec.items() if k != "seed"}, sort_keys=True)


def cell_label(spec: dict[str, Any]) -> str:
    """``attack | defense | strategy | f=0.2 | seed 1``."""
    return Cell.of(Scenario.from_dict(spec)).label


def _metric(record: CellRecord, metric: str) -> float | None:
    if record.result is None:
        return None
    value = record.result["final"].get(metric)
    return float(value) if value is not None and math.isfinite(value) else None


def _values(cells: list[CellRecord], metric: str) -> list[float]:
    return [v for r in cells if (v := _metric(r, metric)) is not None]


def _cell(record: CellRecord) -> dict[str, Any]:
    metrics = {m: v for m in METRICS if (v := _metric(record, m)) is not None}
    return {"status": record.status, "metrics": metrics}


def _spread(values: list[float]) -> float | None:
    return float(np.std(values, ddof=1)) if len(values) >= 2 else None


def build_baseline(
    records: Iterable[CellRecord], scenario: Path, scenario_text: str, grids: list[str]
) -> dict[str, Any]:
    """The baseline of a finished matrix run: every cell's metrics and every family's bands.

    A run with failed cells cannot be a baseline: the failure is the regression.
    """
    records = list(records)
    failed = [r for r in records if r.status == "failed"]
    if failed:
        raise FedarenaError(
            f"{len(failed)} cell(s) failed, so this run cannot be a baseline; first: "
            f"{cell_label(failed[0].spec)}: {failed[0].reason}"
        )
    families: dict[str, list[CellRecord]] = {}
    for record in sorted(records, key=lambda r: r.seed):
        families.setdefault(record.family, []).append(record)
    spreads = {
        family: {m: _spread(_values(cells, m)) for m in METRICS}
        for family, cells in families.items()
    }
    pooled = {}
    for m in METRICS:
        found = [s[m] for s in spreads.values() if s[m] is not None]
        pooled[m] = math.sqrt(float(np.mean(np.square(found)))) if found else 0.0
    documented = []
    for family, cells in families.items():
        bands = {}
        for m in METRICS:
            if values := _values(cells, m):
                floor = RELATIVE_FLOOR * max(1.0, abs(float(np.mean(values))))
                own = Z * (spreads[family][m] or 0.0)
                bands[m] = max(own, POOLED_FRACTION * pooled[m], floor)
        documented.append(
            {
                "spec": json.loads(seedless(cells[0].spec)),
                "spread": {m: s for m, s in spreads[family].items() if s is not None},
                "band": bands,
                "cells": {str(r.seed): _cell(r) for r in cells},
            }
        )
    documented.sort(key=lambda f: json.dumps(f["spec"], sort_keys=True))
    return finite(
        {
            "schema": BASELINE_SCHEMA,
            "scenario": str(scenario),
            "scenario_sha256": _sha256(scenario_text),
            "grids": grids,
            "fedarena_version": __version__,
            **environment(),
            "metrics": list(METRICS),
            "band_formula": BAND_FORMULA,
            "z": Z,
            "c": POOLED_FRACTION,
            "relative_floor": RELATIVE_FLOOR,
            "pooled_spread": pooled,
            "cells": len(records),
            "families": documented,
        }
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_baseline(path: Path, baseline: dict[str, Any]) -> None:
    try:
        write_json_atomic(path, baseline, indent=1)
    except OSError as err:
        raise FedarenaError(f"--baseline: cannot write {path}: {err.strerror}") from None


def read_baseline(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FedarenaError(f"--baseline: {path} does not exist; create it with --update-baseline")
    baseline = read_json(path)
    if baseline.get("schema") != BASELINE_SCHEMA:
        raise FedarenaError(f"--baseline: {path} is not a baseline (schema {BASELINE_SCHEMA})")
    return baseline


@dataclass(frozen=True)
class Deviation:
    """One row of the gate's report: a cell whose metric or status left its band, which way
    it moved (``REGRESSION``, ``IMPROVEMENT`` or ``CHANGE``) and by how much (``-`` where
    there is no difference to take)."""

    cell: str
    metric: str
    baseline: str
    now: str
    band: str
    kind: str = CHANGE
    moved: str = "-"


@dataclass(frozen=True)
class Comparison:
    """How a rerun compares with the baseline, cell by cell."""

    cells: int
    identical: int
    within: int
    deviations: tuple[Deviation, ...]

    @property
    def passed(self) -> bool:
        return not self.deviations

    @property
    def outside(self) -> int:
        """Cells of the baseline or the rerun with at least one row in the table."""
        return len({d.cell for d in self.deviations})

    def rows(self, kind: str) -> tuple[Deviation, ...]:
        """The rows of one ``kind``: ``REGRESSION``, ``IMPROVEMENT`` or ``CHANGE``."""
        return tuple(d for d in self.deviations if d.kind == kind)

    def cells_by_kind(self) -> dict[str, int]:
        """The cells outside their bands, each counted once: those with a regression, those
        with an improvement and no regression, and the others."""
        kinds: dict[str, set[str]] = {}
        for d in self.deviations:
            kinds.setdefault(d.cell, set()).add(d.kind)
        first = [next(k for k in KINDS if k in found) for found in kinds.values()]
        return {k: first.count(k) for k in KINDS}


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def compare(baseline: dict[str, Any], records: Iterable[CellRecord]) -> Comparison:
    """Every baseline cell against the rerun's cell of the same spec and seed."""
    now = {(seedless(r.spec), r.seed): r for r in records}
    seen = set()
    deviations: list[Deviation] = []
    identical = within = 0
    for family in baseline["families"]:
        family_key = json.dumps(family["spec"], sort_keys=True)
        for seed_text, expected in family["cells"].items():
            seed = int(seed_text)
            key = (family_key, seed)
            seen.add(key)
            label = cell_label({**family["spec"], "seed": seed})
            record = now.get(key)
            if record is None:
                deviations.append(Deviation(label, "cell", expected["status"], "not run", "-"))
                continue
            if record.status != expected["status"]:
                reason = f" ({record.reason})" if record.reason else ""
                kind = _status_kind(expected["status"], record.status)
                deviations.append(
                    Deviation(
                        label, "status", expected["status"], record.status + reason, "-", kind
                    )
                )
                continue
            found = _deviations(label, expected["metrics"], record, family["band"])
            deviations += found
            metrics = {m: _metric(record, m) for m in METRICS if _metric(record, m) is not None}
            if not found:
                same = metrics == expected["metrics"]
                identical, within = identical + same, within + (not same)
    for key, record in sorted(now.items(), key=lambda item: (item[0][0], item[0][1])):
        if key not in seen:
            deviations.append(Deviation(cell_label(record.spec), "cell", "absent", "new", "-"))
    return Comparison(len(seen), identical, within, tuple(deviations))


def _deviations(
    label: str, expected: dict[str, float], record: CellRecord, bands: dict[str, float]
) -> list[Deviation]:
    found = []
    for metric in METRICS:
        before, after = expected.get(metric), _metric(record, metric)
        if before is None and after is None:
            continue
        band = bands.get(metric, 0.0)
        if before is None or after is None:
            found.append(Deviation(label, metric, _shown(before), _shown(after), f"±{band:.3g}"))
        elif abs(after - before) > band:
            better = (after - before) * BETTER[metric] > 0
            found.append(
                Deviation(
                    label,
                    metric,
                    _shown(before),
                    _shown(after),
                    f"±{band:.3g}",
                    IMPROVEMENT if better else REGRESSION,
                    f"{after - before:+.3g}",
                )
            )
    return found


def _status_kind(before: str, after: str) -> str:
    """A done cell that fails regressed, a failed one that is done improved; any other
    change of status (skipped) is neither."""
    if (before, after) == ("done", "failed"):
        return REGRESSION
    if (before, after) == ("failed", "done"):
        return IMPROVEMENT
    return CHANGE
