"""The leaderboard as one JSON document (schema ``fedarena.leaderboard/1``).

Every rendering (Markdown, HTML, CSV) is made from this document alone, so
what a page shows is exactly what ``leaderboard.json`` holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fedarena import __version__
from fedarena.leaderboard.panels import TUNING_METHOD, Panel
from fedarena.leaderboard.scoring import METHOD, UTILITY, CellScore
from fedarena.matrix.store import finite

SCHEMA = "fedarena.leaderboard/1"


def figure_names(panel: Panel) -> dict[str, str]:
    return {
        "utility": f"heatmap-{panel.slug}-utility.png",
        "success": f"heatmap-{panel.slug}-attack-success.png",
        "convergence": f"convergence-{panel.slug}.png",
    }


def _grid(values: np.ndarray) -> list[list[float | None]]:
    return [[None if np.isnan(v) else float(v) for v in row] for row in values]


def _tuning_of(panel: Panel, row: str) -> dict[str, Any]:
    """A ranking row's ``tuning`` (the setting chosen and what it was chosen on), if tuned."""
    choice = panel.choice_named(row)
    return {} if choice is None else {"tuning": choice.as_dict()}


def panel_document(panel: Panel) -> dict[str, Any]:
    document = {
        "slug": panel.slug,
        "label": panel.label,
        "fixed": panel.fixed,
        "attacks": panel.attacks,
        "defenses": panel.defenses,
        "malicious_fractions": panel.fractions,
        "seeds": panel.seeds,
        "ranking": [
            {"rank": i, **r.as_dict(), **_tuning_of(panel, r.defense)}
            for i, r in enumerate(panel.ranking(), start=1)
        ],
        "heatmaps": [
            {
                "malicious_fraction": f,
                "utility_retained": _grid(panel.heatmap(f, "retained")),
                "attack_success": _grid(panel.heatmap(f, "success")),
                "status": panel.statuses(f),
            }
            for f in panel.fractions
        ],
        "baselines": {str(f): panel.baselines(f) for f in panel.fractions},
        "curves": {
            str(f): {
                a: {
                    d: dict(zip(("rounds", "mean"), panel.curve(f, a, d), strict=True))
                    for d in panel.defenses
                }
                for a in panel.attacks
            }
            for f in panel.fractions
        },
        "figures": figure_names(panel),
    }
    if panel.selection is not None:
        document["tuning_seeds"] = sorted(panel.selection.seeds)
    return document


def cell_row(score: CellScore) -> dict[str, Any]:
    spec = score.spec
    return {
        "key": score.record.key,
        "status": score.status,
        "strategy": spec["strategy"],
        "attack": spec["attack"],
        "defense": spec["defense"],
        "malicious_fraction": spec["malicious_fraction"],
        "seed": spec["seed"],
        "goal": score.goal,
        UTILITY: score.utility,
        "utility_retained": score.retained,
        "attack_success": score.success,
        "wall_s": score.record.wall_s,
        "version": score.record.version,
        "reason": score.record.reason,
    }


def cell_costs(scores: list[CellScore]) -> list[dict[str, Any]]:
    """Wall time of the cells that ran, per defense, the most expensive first."""
    times: dict[str, list[float]] = {}
    for s in scores:
        if s.status != "skipped":
            times.setdefault(s.spec["defense"], []).append(s.record.wall_s)
    costs = [
        {
            "defense": defense,
            "cells": len(values),
            "mean_wall_s": float(np.mean(values)),
            "max_wall_s": float(np.max(values)),
            "total_wall_s": float(np.sum(values)),
        }
        for defense, values in times.items()
    ]
    return sorted(costs, key=lambda c: (-c["total_wall_s"], c["defense"]))


def leaderboard_document(
    panels: list[Panel],
    sessions: list[dict[str, Any]],
    sources: list[str],
    entries: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The whole leaderboard; ``entries`` are the summaries of the submitted entries merged."""
    scores = [s for p in panels for s in p.scores]
    tuned = any(p.selection and p.selection.choices for p in panels)
    return finite(
        {
            "schema": SCHEMA,
            "generated_by": f"fedarena {__version__}",
            "metric": UTILITY,
            "method": METHOD if not tuned else f"{METHOD} {TUNING_METHOD}",
            "sources": sources,
            "versions": sorted({s.record.version for s in scores}),
            "counts": {
                status: sum(s.status == status for s in scores)
                for status in ("done", "failed", "skipped")
            },
            "runs": sessions,
            "entries": entries or [],
            "costs": cell_costs(scores),
            "panels": [panel_document(p) for p in panels],
            "cells": [cell_row(s) for s in scores],
        }
    )
