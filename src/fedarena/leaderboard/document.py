"""The leaderboard as one JSON document (schema ``fedarena.leaderboard/2``).

Every rendering (Markdown, HTML, CSV, PNG) is made from this document alone,
so what a page shows is exactly what ``leaderboard.json`` holds. Per panel:
the ranking (rank labels, the paired test against the row above, the cells'
keys and the ``cells.csv`` filter that finds them, privacy spent and
detection), the defense x attack ``tables`` of utility retained and attack
success (mean over seeds, bootstrap interval, seed range), the convergence and
ER@10 bands, a fixed colour and a display name per defense; across panels the
``summary``, the ``privacy_utility`` points of the DP defenses and the ``notices`` (why
no utility retained is defined, ``fedarena.leaderboard.notices``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from fedarena import __version__
from fedarena.leaderboard.figures import palette, plotted
from fedarena.leaderboard.notices import board_notices
from fedarena.leaderboard.panels import TUNING_METHOD, Panel, varying_fields
from fedarena.leaderboard.scoring import METHOD, TARGETED, UTILITY, CellScore, Estimate
from fedarena.matrix.store import finite

SCHEMA = "fedarena.leaderboard/2"
CELLS_FILE = "cells.csv"
PRIVACY = ("epsilon_shopper", "epsilon_example", "delta")
DETECTION = ("detection_precision", "detection_recall", "detection_auc")
PRIVACY_FIGURE = "privacy-utility.png"
# A plugin's name: ``path/to/file.py:Class`` or ``module:Class``, alone or as a chain's link.
_PLUGIN = re.compile(r"(^|>\s*)[^\s(>]*:(\w+)")


def display_name(text: str) -> str:
    """A component as a reader names it: a plugin by its class, options and chains kept (the
    full spec stays in the json).

    >>> display_name("norm_clip(max_norm=1.0) > plugins/trim.py:NormTrim(k=2)")
    'norm_clip(max_norm=1.0) > NormTrim(k=2)'
    """
    return _PLUGIN.sub(r"\1\2", text)


def figure_names(slug: str, success: bool, targeted: bool, ranked: bool) -> dict[str, str]:
    """A panel's figures: heatmaps, convergence and, where there is something to draw, attack
    success, ER@10 per round and the rank groups."""
    names = {"utility": f"heatmap-{slug}-utility.png"}
    if success:
        names["success"] = f"heatmap-{slug}-attack-success.png"
    names["convergence"] = f"convergence-{slug}.png"
    if targeted:
        names["er"] = f"convergence-{slug}-er10.png"
    if ranked:
        names["rank_groups"] = f"cd-{slug}.png"
    return names


def _tuning_of(panel: Panel, row: str) -> dict[str, Any]:
    """A ranking row's ``tuning`` (the setting chosen and what it was chosen on), if tuned."""
    choice = panel.choice_named(row)
    return {} if choice is None else {"tuning": choice.as_dict()}


def _square(panel: Panel, fraction: float, attack: str, defense: str, value: str) -> dict:
    """One table square: the mean over seeds, its bootstrap interval, the seeds' range."""
    per_seed = panel.per_seed(fraction, attack, defense, value)
    values = list(per_seed.values())
    return {
        **Estimate.of(per_seed).as_dict(),
        "range": [min(values), max(values)] if values else None,
        "status": panel.status(fraction, attack, defense),
    }


def _table(panel: Panel, fraction: float, value: str, attacks: list[str]) -> dict[str, Any]:
    """``cells[i][j]``: defense i (``panel.defenses``) under attack j."""
    cells = [[_square(panel, fraction, a, d, value) for a in attacks] for d in panel.defenses]
    return {"attacks": attacks, "cells": cells}


def panel_tables(panel: Panel) -> list[dict[str, Any]]:
    """Per malicious fraction, the defense x attack tables of utility retained (every attack)
    and attack success (attacks with a goal, targeted first; an attack no cell scores is left
    out: no all-n/a column)."""
    goals = {a: panel.goal(a) for a in panel.attacks}
    attacked = sorted(
        (a for a in panel.attacks if goals[a] in ("targeted", "untargeted")),
        key=lambda a: goals[a] != "targeted",
    )
    tables = []
    for fraction in panel.fractions:
        success = _table(panel, fraction, "success", attacked)
        kept = [
            j
            for j in range(len(attacked))
            if any(row[j]["mean"] is not None for row in success["cells"])
        ]
        tables.append(
            {
                "malicious_fraction": fraction,
                "defenses": panel.defenses,
                "utility_retained": _table(panel, fraction, "retained", panel.attacks),
                "attack_success": {
                    "attacks": [attacked[j] for j in kept],
                    "goals": [goals[attacked[j]] for j in kept],
                    "cells": [[row[j] for j in kept] for row in success["cells"]],
                },
            }
        )
    return tables


def _means(values: list[float]) -> dict[str, Any]:
    return {"mean": float(np.mean(values)) if values else None, "n_cells": len(values)}


def board_metrics(panel: Panel, defense: str) -> dict[str, Any]:
    """Privacy spent (over the defense's done cells) and detection (over its attacked ones):
    means of the cells' final values, ``None`` where no cell defines one."""
    return {
        "privacy": {m: _means(panel.final_values(defense, m)) for m in PRIVACY},
        "detection": {m: _means(panel.final_values(defense, m, attacked=True)) for m in DETECTION},
    }


def _bands(panel: Panel, attacks: list[str], metric: str) -> dict[str, Any]:
    return {
        str(f): {a: {d: panel.band(f, a, d, metric) for d in panel.defenses} for a in attacks}
        for f in panel.fractions
    }


def panel_document(
    panel: Panel, colours: dict[str, str], cells_fields: list[str]
) -> dict[str, Any]:
    """One panel; ``colours`` by defense family (``Panel.family``), ``cells_fields`` the spec
    fields that, with the defense, find a row's cells in ``cells.csv``."""
    rows = panel.row_names()
    text_of = {row: text for text, row in rows.items()}
    ranking = panel.ranking()
    tables = panel_tables(panel)
    targeted = [a for a in panel.attacks if panel.goal(a) == "targeted"]
    filters = {k: panel.fixed[k] for k in cells_fields if k in panel.fixed}
    colour = {d: colours[panel.family(d)] for d in panel.defenses}
    document = {
        "slug": panel.slug,
        "label": panel.label,
        "fixed": panel.fixed,
        "attacks": panel.attacks,
        "defenses": panel.defenses,
        "goals": {a: panel.goal(a) for a in panel.attacks},
        "malicious_fractions": panel.fractions,
        "seeds": panel.seeds,
        "display_names": {t: display_name(t) for t in [*panel.attacks, *panel.defenses, *text_of]},
        "colours": colour,
        "ranking": [
            {
                "position": i,
                **r.as_dict(),
                "display": display_name(r.defense),
                "colour": colour[text_of[r.defense]],
                "cells_filter": {**filters, "defense": text_of[r.defense]},
                **board_metrics(panel, text_of[r.defense]),
                **_tuning_of(panel, r.defense),
            }
            for i, r in enumerate(ranking, start=1)
        ],
        "tables": tables,
        "baselines": {str(f): panel.baselines(f) for f in panel.fractions},
        "curves": _bands(panel, panel.attacks, UTILITY),
        "er_curves": _bands(panel, targeted, TARGETED),
        "figures": figure_names(
            panel.slug,
            success=any(t["attack_success"]["attacks"] for t in tables),
            targeted=bool(targeted),
            ranked=any(r.robust.mean is not None for r in ranking),
        ),
    }
    if panel.selection is not None:
        document["tuning_seeds"] = sorted(panel.selection.seeds)
    return document


def summary(panels: list[dict[str, Any]]) -> dict[str, Any]:
    """Each defense's rank label and robust score in every panel, side by side; rows by their
    mean position over the panels that rank them."""
    rows: dict[str, dict[str, Any]] = {}
    for panel in panels:
        for entry in panel["ranking"]:
            row = rows.setdefault(
                entry["defense"],
                {
                    "defense": entry["defense"],
                    "display": entry["display"],
                    "colour": entry["colour"],
                    "panels": {},
                },
            )
            row["panels"][panel["slug"]] = {
                "rank": entry["rank"],
                "position": entry["position"],
                "robust": entry["robust"]["mean"],
                "ci95": entry["robust"]["ci95"],
            }
    ordered = sorted(
        rows.values(),
        key=lambda r: (np.mean([p["position"] for p in r["panels"].values()]), r["display"]),
    )
    return {
        "panels": [{"slug": p["slug"], "label": p["label"]} for p in panels],
        "rows": ordered,
    }


def privacy_utility(panels: list[Panel], documents: list[dict[str, Any]]) -> list[dict]:
    """Per panel and DP defense (one whose results report ``epsilon_shopper``): the privacy
    spent and the utility retained without attack (per seed the mean over fractions)."""
    points = []
    for panel, document in zip(panels, documents, strict=True):
        for entry in document["ranking"]:
            defense = entry["cells_filter"]["defense"]
            epsilons = panel.final_values(defense, "epsilon_shopper")
            if not epsilons:
                continue
            per_seed: dict[int, list[float]] = {}
            for f in panel.fractions:
                for seed, v in panel.per_seed(f, "none", defense, "retained").items():
                    per_seed.setdefault(seed, []).append(v)
            points.append(
                {
                    "panel": panel.slug,
                    "panel_label": panel.label,
                    "defense": entry["defense"],
                    "display": entry["display"],
                    "colour": entry["colour"],
                    "epsilon_shopper": {
                        **_means(epsilons),
                        "range": [min(epsilons), max(epsilons)],
                    },
                    **{m: entry["privacy"][m] for m in PRIVACY[1:]},
                    "utility_retained": Estimate.of(
                        {s: float(np.mean(v)) for s, v in per_seed.items()}
                    ).as_dict(),
                }
            )
    return points


def cell_row(score: CellScore) -> dict[str, Any]:
    spec = score.spec
    final = score.record.result["final"] if score.record.result else {}
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
        "score": score.score,
        **{m: final.get(m) for m in (*PRIVACY, *DETECTION)},
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
    colours = palette(sorted({p.family(d) for p in panels for d in p.defenses}))
    cells_fields = varying_fields([p.fixed for p in panels]) or ["strategy"]
    documents = [panel_document(p, colours, cells_fields) for p in panels]
    points = privacy_utility(panels, documents)
    return finite(
        {
            "schema": SCHEMA,
            "generated_by": f"fedarena {__version__}",
            "metric": UTILITY,
            "method": METHOD if not tuned else f"{METHOD} {TUNING_METHOD}",
            "sources": sources,
            "notices": board_notices(panels),
            "versions": sorted({s.record.version for s in scores}),
            "counts": {
                status: sum(s.status == status for s in scores)
                for status in ("done", "failed", "skipped")
            },
            "runs": sessions,
            "entries": entries or [],
            "costs": cell_costs(scores),
            "summary": summary(documents),
            "privacy_utility": points,
            "figures": {"privacy_utility": PRIVACY_FIGURE} if plotted(points) else {},
            "cells_file": CELLS_FILE,
            "panels": documents,
            "cells": [cell_row(s) for s in scores],
        }
    )
