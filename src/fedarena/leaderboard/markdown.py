"""``LEADERBOARD.md``, the leaderboard CSV and the runs table, from the leaderboard document."""

from __future__ import annotations

import csv
import io
from typing import Any

from fedarena.leaderboard.document import DETECTION, PRIVACY, display_name

RANKING_COLUMNS = (
    "rank",
    "defense",
    "robust score",
    "worst utility retained",
    "worst 1 - attack success",
    "p (Holm) vs row above",
    "cells done/failed/skipped of expected",
)
METRIC_COLUMNS = (
    "defense",
    "epsilon per shopper",
    "epsilon per example",
    "delta",
    "detection precision",
    "detection recall",
    "detection AUC",
)
GOAL_SCALES = {"targeted": "ER@10", "untargeted": "share destroyed"}
READING = (
    ("Summary across panels", "each defense's rank label and robust score in every panel."),
    (
        "Privacy and utility (when a DP defense ran)",
        "epsilon per shopper (log scale) against utility retained without attack, per DP "
        "defense and panel.",
    ),
    (
        "Utility retained / attack success tables",
        "per malicious fraction, defense x attack, the mean over seeds [95% bootstrap "
        "interval]; attack success is ER@10 for targeted attacks and the share of the utility "
        "above popularity destroyed for untargeted ones (an attack whose success no cell "
        "defines is left out).",
    ),
    (
        "Ranking",
        "defenses by robust score (worst cell over attacks and fractions, mean over seeds); "
        "`2=` shares a rank group with the row above, p (Holm) is the paired test against it, "
        "and the last column finds the row's cells in `cells.csv`.",
    ),
    (
        "Rank groups (cd-*.png)",
        "each defense at its robust score with its interval; a thick bar joins the defenses of "
        "one rank group.",
    ),
    (
        "Privacy and detection",
        "per defense, the epsilons spent (largest over shoppers) and how well its flags and "
        "suspicion scores found the malicious clients, means over its cells (n/a: undefined).",
    ),
    (
        "Heatmaps",
        "the tables' means and intervals, attack x defense; targeted and untargeted success "
        "each on its own labelled scale.",
    ),
    (
        "Convergence",
        "NDCG@10 (and ER@10 under targeted attacks) per evaluated round, the mean over seeds "
        "and the band from the lowest to the highest seed; one colour per defense throughout.",
    ),
)
RUN_COLUMNS = ("matrix", "grids", "cells", "ran", "workers", "cores", "wall time", "status")
COST_COLUMNS = ("defense", "cells run", "mean wall time", "max", "total (one core)")
UNVERIFIED_NOTE = (
    "An unverified entry's cells have not been rerun: its numbers are as submitted "
    "(`fedarena verify ENTRY` reruns a sample of them and records whether they match)."
)
ENTRY_COLUMNS = (
    "defense",
    "verified",
    "submitted",
    "conformance",
    "cells done/failed/skipped",
    "spec sha256",
    "source sha256",
    "fedarena / torch",
)


def estimate_text(estimate: dict[str, Any]) -> str:
    """``0.812 [0.790, 0.834]`` (95 % CI), ``0.812 (1 seed)`` or ``n/a``."""
    if estimate["mean"] is None:
        return "n/a"
    if estimate["ci95"] is None:
        return f"{estimate['mean']:.3f} (1 seed)"
    low, high = estimate["ci95"]
    return f"{estimate['mean']:.3f} [{low:.3f}, {high:.3f}]"


def number_text(value: float | None) -> str:
    """``0.812``, ``1.2e+03`` or ``n/a``."""
    return "n/a" if value is None else f"{value:.3g}"


def comparison_text(entry: dict[str, Any]) -> str:
    """``0.031 (18 cells)``: the Holm-adjusted p-value against the row above, ``-`` for the
    first row."""
    test = entry["compared_with_above"]
    if test is None:
        return "-"
    return f"{number_text(test['p_holm'])} ({test['n_cells']} cells)"


def cells_pointer(entry: dict[str, Any]) -> str:
    """Where a ranking row's cells are: ``strategy=fedavg, defense=krum`` in ``cells.csv``."""
    return ", ".join(f"{k}={v}" for k, v in entry["cells_filter"].items())


def ranking_rows(panel: dict[str, Any]) -> list[list[str]]:
    rows = []
    for entry in panel["ranking"]:
        cells = entry["cells"]
        rows.append(
            [
                str(entry["rank"]),
                entry["display"],
                estimate_text(entry["robust"]),
                estimate_text(entry["worst_utility_retained"]),
                estimate_text(entry["worst_safety"]),
                comparison_text(entry),
                f"{cells['done']}/{cells['failed']}/{cells['skipped']} of {cells['expected']}",
            ]
        )
    return rows


def square_text(square: dict[str, Any]) -> str:
    """A table square: its estimate, ``(failed)`` after it if a seed failed, or its status."""
    if square["mean"] is None:
        return {"skipped": "skipped", "missing": "-", "failed": "failed"}.get(
            square["status"], "n/a"
        )
    return estimate_text(square) + (" (failed)" if square["status"] == "failed" else "")


def panel_tables(panel: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """Per malicious fraction, the utility retained and attack success tables: caption,
    columns (attacks, success ones with their scale) and one row per defense."""
    names = panel["display_names"]
    found = []
    for table in panel["tables"]:
        fraction = f"{table['malicious_fraction']:g}"
        success = table["attack_success"]
        blocks = [
            ("Utility retained", table["utility_retained"], [names[a] for a in panel["attacks"]]),
            (
                "Attack success",
                success,
                [
                    f"{names[a]} ({GOAL_SCALES[g]})"
                    for a, g in zip(success["attacks"], success["goals"], strict=True)
                ],
            ),
        ]
        for title, block, columns in blocks:
            if block["attacks"]:
                rows = [
                    [names[d], *(square_text(s) for s in squares)]
                    for d, squares in zip(table["defenses"], block["cells"], strict=True)
                ]
                caption = (
                    f"{title} at malicious fraction {fraction}, mean over seeds [95% interval]"
                )
                found.append((caption, ["defense", *columns], rows))
    return found


def metric_rows(panel: dict[str, Any]) -> list[list[str]]:
    """Per ranking row: privacy spent and detection, means over its cells."""
    return [
        [
            entry["display"],
            *(number_text(entry["privacy"][m]["mean"]) for m in PRIVACY),
            *(number_text(entry["detection"][m]["mean"]) for m in DETECTION),
        ]
        for entry in panel["ranking"]
    ]


def summary_table(document: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Columns (defense, then one per panel) and rows of ``rank score`` per panel."""
    summary = document["summary"]
    columns = ["defense", *(p["label"] for p in summary["panels"])]
    rows = []
    for row in summary["rows"]:
        found = [row["panels"].get(p["slug"]) for p in summary["panels"]]
        rows.append(
            [
                row["display"],
                *("-" if f is None else f"{f['rank']} ({number_text(f['robust'])})" for f in found),
            ]
        )
    return columns, rows


def full_names(panel: dict[str, Any]) -> list[tuple[str, str]]:
    """The components shown by a shorter name, with their full spec."""
    return [(shown, text) for text, shown in panel["display_names"].items() if shown != text]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def run_rows(runs: list[dict[str, Any]]) -> list[list[str]]:
    """One row per matrix invocation; ``ran`` counts the cells it computed (not resumed)."""
    rows = []
    for run in runs:
        finished = run.get("finished_at") is not None
        ran = sum(run.get(k) or 0 for k in ("done", "failed", "skipped"))
        rows.append(
            [
                run["matrix"],
                ", ".join(run["grids"]),
                str(run["cells"]),
                str(ran) if finished else "-",
                str(run["workers"]),
                str(run["cores"]),
                _duration(run.get("wall_s")),
                f"finished {run['finished_at']}" if finished else "interrupted",
            ]
        )
    return rows


def cost_rows(costs: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            display_name(c["defense"]),
            str(c["cells"]),
            _duration(c["mean_wall_s"]),
            _duration(c["max_wall_s"]),
            _duration(c["total_wall_s"]),
        ]
        for c in costs
    ]


def conformance_text(entry: dict[str, Any]) -> str:
    """``passed``, ``FAILED``, with the runtime budget when it was not the default."""
    text = "passed" if entry["conformance_passed"] else "FAILED"
    budget = entry["budget_override_s"]
    return text if budget is None else f"{text} (runtime budget overridden: {budget:g} s)"


def entry_rows(entries: list[dict[str, Any]]) -> list[list[str]]:
    """One row per submitted entry: what ran, on which code, with which packages, and whether
    a rerun of its cells matched (``fedarena verify``)."""
    rows = []
    for entry in entries:
        counts, versions = entry["counts"], entry["versions"]
        sources = ", ".join(f"{path} {digest[:12]}" for path, digest in entry["sources"].items())
        if not entry["source_included"]:
            sources += " (source not included)"
        rows.append(
            [
                entry["defense"],
                entry["verification"],
                entry["created_at"],
                conformance_text(entry),
                f"{counts['done']}/{counts['failed']}/{counts['skipped']}",
                entry["spec_sha256"][:12],
                sources or "-",
                f"{versions.get('fedarena')} / {versions.get('torch')}",
            ]
        )
    return rows


def speed_section(document: dict[str, Any]) -> str:
    """The runs (wall time of each ``fedarena matrix``) and the cost of a cell per defense."""
    return (
        table(RUN_COLUMNS, run_rows(document["runs"]))
        + "\n\nWall time of one cell, per defense (cells that ran, in their worker process):\n\n"
        + table(COST_COLUMNS, cost_rows(document["costs"]))
    )


def table(columns: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def problem_rows(document: dict[str, Any]) -> list[list[str]]:
    """Failed and skipped cells grouped by status, defense, attack and reason."""
    groups: dict[tuple[str, str, str, str], int] = {}
    for cell in document["cells"]:
        if cell["status"] != "done":
            shown = (display_name(cell["defense"]), display_name(cell["attack"]))
            key = (cell["status"], *shown, cell["reason"] or "")
            groups[key] = groups.get(key, 0) + 1
    return [[*key[:3], str(n), key[3]] for key, n in sorted(groups.items())]


def tuning_text(panel: dict[str, Any]) -> str:
    """`` Settings of tuned defenses chosen on seeds 100, 101 (not reported).``, or nothing."""
    if "tuning_seeds" not in panel:
        return ""
    seeds = ", ".join(map(str, panel["tuning_seeds"]))
    return f" Settings of tuned defenses chosen on seeds {seeds} (not reported)."


def _figure(name: str, caption: str) -> list[str]:
    return ["", f"![{caption}]({name})"]


def panel_markdown(panel: dict[str, Any]) -> list[str]:
    """A panel's section: settings, the tables, the ranking and its rank groups, privacy and
    detection, baselines, then the figures."""
    figures, label = panel["figures"], panel["label"]
    fixed = ", ".join(f"{k}={v}" for k, v in panel["fixed"].items())
    names = panel["display_names"]
    parts = [
        "",
        f"## {label}",
        "",
        f"Settings: {fixed}. Attacks: {', '.join(names[a] for a in panel['attacks'])}. "
        f"Malicious fractions: {', '.join(f'{f:g}' for f in panel['malicious_fractions'])}. "
        f"Seeds: {', '.join(map(str, panel['seeds']))}." + tuning_text(panel),
    ]
    for caption, columns, rows in panel_tables(panel):
        parts += ["", f"{caption}:", "", table(columns, rows)]
    ranking = [
        [*row, cells_pointer(entry)]
        for row, entry in zip(ranking_rows(panel), panel["ranking"], strict=True)
    ]
    parts += [
        "",
        "Ranking (`=`: not distinguishable from the row above after Holm's correction):",
        "",
        table([*RANKING_COLUMNS, "cells: cells.csv rows with"], ranking),
    ]
    shortened = full_names(panel)
    if shortened:
        listed = "; ".join(f"{shown} = `{text}`" for shown, text in shortened)
        parts += ["", f"Full specs: {listed}."]
    if "rank_groups" in figures:
        parts += _figure(figures["rank_groups"], f"rank groups, {label}")
    parts += [
        "",
        "Privacy spent (all cells) and detection (attacked cells), means over cells:",
        "",
        table(METRIC_COLUMNS, metric_rows(panel)),
    ]
    for fraction, baselines in panel["baselines"].items():
        if baselines:
            listed = ", ".join(f"{name} {value:.4f}" for name, value in baselines.items())
            parts += ["", f"Baselines at malicious fraction {fraction} (NDCG@10): {listed}."]
    for key, caption in FIGURE_CAPTIONS.items():
        if key in figures:
            parts += _figure(figures[key], f"{caption}, {label}")
    return parts


FIGURE_CAPTIONS = {
    "utility": "utility retained",
    "success": "attack success",
    "convergence": "convergence",
    "er": "ER@10 per round under targeted attacks",
}


def render_markdown(document: dict[str, Any]) -> str:
    counts = document["counts"]
    parts = [
        "# fedarena leaderboard",
        "",
        f"Generated by {document['generated_by']} from {', '.join(document['sources'])}: "
        f"{counts['done']} cells done, {counts['failed']} failed, {counts['skipped']} skipped "
        f"(results of fedarena {', '.join(document['versions']) or '-'}). "
        "The same content is in `leaderboard.json`, `index.html` and `leaderboard.csv`; "
        "every cell is a row of `cells.csv`.",
        "",
        *(f"> **Notice**: {line}\n" for line in document["notices"]),
        "## Reading the board",
        "",
        *(f"- **{what}**: {line}" for what, line in READING),
        "",
        "## Summary across panels",
        "",
        "Rank label (robust score) of each defense in each panel:",
        "",
        table(*summary_table(document)),
    ]
    if document["figures"]:
        parts += ["", "## Privacy and utility"]
        parts += _figure(document["figures"]["privacy_utility"], "privacy and utility")
    parts += ["", "## Method", "", document["method"]]
    for panel in document["panels"]:
        parts += panel_markdown(panel)
    problems = problem_rows(document)
    if problems:
        parts += [
            "",
            "## Failed and skipped cells",
            "",
            table(("status", "defense", "attack", "cells", "reason"), problems),
        ]
    if document["entries"]:
        parts += [
            "",
            "## Submitted entries",
            "",
            UNVERIFIED_NOTE,
            "",
            table(ENTRY_COLUMNS, entry_rows(document["entries"])),
        ]
    parts += ["", "## Runs", "", speed_section(document), ""]
    return "\n".join(parts)


def render_csv(document: dict[str, Any]) -> str:
    """One row per (panel, defense): ranks and estimates with their bounds."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    scores = ("robust", "worst_utility_retained", "worst_safety")
    header = ["panel", "rank", "defense"]
    for score in scores:
        header += [score, f"{score}_ci_low", f"{score}_ci_high", f"{score}_seeds"]
    writer.writerow([*header, "done", "failed", "skipped", "expected", "p_holm_vs_above"])
    for panel in document["panels"]:
        for entry in panel["ranking"]:
            row = [panel["label"], entry["rank"], entry["defense"]]
            for score in scores:
                estimate = entry[score]
                low, high = estimate["ci95"] or ("", "")
                mean = "" if estimate["mean"] is None else estimate["mean"]
                row += [mean, low, high, estimate["n_seeds"]]
            cells, test = entry["cells"], entry["compared_with_above"] or {}
            counts = [cells[k] for k in ("done", "failed", "skipped", "expected")]
            p_holm = test.get("p_holm")
            writer.writerow([*row, *counts, "" if p_holm is None else p_holm])
    return buffer.getvalue()
