"""``LEADERBOARD.md``, the leaderboard CSV and the runs table, from the leaderboard document."""

from __future__ import annotations

import csv
import io
from typing import Any

RANKING_COLUMNS = (
    "rank",
    "defense",
    "robust score",
    "worst utility retained",
    "worst 1 - attack success",
    "cells done/failed/skipped of expected",
)
RUN_COLUMNS = ("matrix", "grids", "cells", "ran", "workers", "cores", "wall time", "status")
COST_COLUMNS = ("defense", "cells run", "mean wall time", "max", "total (one core)")
ENTRY_COLUMNS = (
    "defense",
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


def ranking_rows(panel: dict[str, Any]) -> list[list[str]]:
    rows = []
    for entry in panel["ranking"]:
        cells = entry["cells"]
        rows.append(
            [
                str(entry["rank"]),
                entry["defense"],
                estimate_text(entry["robust"]),
                estimate_text(entry["worst_utility_retained"]),
                estimate_text(entry["worst_safety"]),
                f"{cells['done']}/{cells['failed']}/{cells['skipped']} of {cells['expected']}",
            ]
        )
    return rows


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
            c["defense"],
            str(c["cells"]),
            _duration(c["mean_wall_s"]),
            _duration(c["max_wall_s"]),
            _duration(c["total_wall_s"]),
        ]
        for c in costs
    ]


def entry_rows(entries: list[dict[str, Any]]) -> list[list[str]]:
    """One row per submitted entry: what ran, on which code, with which packages."""
    rows = []
    for entry in entries:
        counts, versions = entry["counts"], entry["versions"]
        sources = ", ".join(f"{path} {digest[:12]}" for path, digest in entry["sources"].items())
        rows.append(
            [
                entry["defense"],
                entry["created_at"],
                "passed" if entry["conformance_passed"] else "FAILED",
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
            key = (cell["status"], cell["defense"], cell["attack"], cell["reason"] or "")
            groups[key] = groups.get(key, 0) + 1
    return [[*key[:3], str(n), key[3]] for key, n in sorted(groups.items())]


def tuning_text(panel: dict[str, Any]) -> str:
    """`` Settings of tuned defenses chosen on seeds 100, 101 (not reported).``, or nothing."""
    if "tuning_seeds" not in panel:
        return ""
    seeds = ", ".join(map(str, panel["tuning_seeds"]))
    return f" Settings of tuned defenses chosen on seeds {seeds} (not reported)."


def render_markdown(document: dict[str, Any]) -> str:
    counts = document["counts"]
    parts = [
        "# fedarena leaderboard",
        "",
        f"Generated by {document['generated_by']} from {', '.join(document['sources'])}: "
        f"{counts['done']} cells done, {counts['failed']} failed, {counts['skipped']} skipped "
        f"(results of fedarena {', '.join(document['versions']) or '-'}). "
        "The same content is in `leaderboard.json`, `index.html` and `leaderboard.csv`.",
        "",
        "## Method",
        "",
        document["method"],
    ]
    for panel in document["panels"]:
        figures = panel["figures"]
        fixed = ", ".join(f"{k}={v}" for k, v in panel["fixed"].items())
        parts += [
            "",
            f"## {panel['label']}",
            "",
            f"Settings: {fixed}. Attacks: {', '.join(panel['attacks'])}. Malicious fractions: "
            f"{', '.join(f'{f:g}' for f in panel['malicious_fractions'])}. "
            f"Seeds: {', '.join(map(str, panel['seeds']))}." + tuning_text(panel),
            "",
            table(RANKING_COLUMNS, ranking_rows(panel)),
        ]
        for fraction, baselines in panel["baselines"].items():
            if baselines:
                listed = ", ".join(f"{name} {value:.4f}" for name, value in baselines.items())
                parts += ["", f"Baselines at malicious fraction {fraction} (NDCG@10): {listed}."]
        parts += [
            "",
            f"![utility retained, {panel['label']}]({figures['utility']})",
            "",
            f"![attack success, {panel['label']}]({figures['success']})",
            "",
            f"![convergence, {panel['label']}]({figures['convergence']})",
        ]
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
    writer.writerow([*header, "done", "failed", "skipped", "expected"])
    for panel in document["panels"]:
        for entry in panel["ranking"]:
            row = [panel["label"], entry["rank"], entry["defense"]]
            for score in scores:
                estimate = entry[score]
                low, high = estimate["ci95"] or ("", "")
                mean = "" if estimate["mean"] is None else estimate["mean"]
                row += [mean, low, high, estimate["n_seeds"]]
            cells = entry["cells"]
            writer.writerow([*row, *(cells[k] for k in ("done", "failed", "skipped", "expected"))])
    return buffer.getvalue()
