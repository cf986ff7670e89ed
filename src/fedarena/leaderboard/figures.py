"""PNG figures of a panel: heatmaps with their spread, convergence and ER@10 bands, rank
groups, and across panels the privacy-utility plot of the DP defenses.

Drawn from the leaderboard document only (``fedarena.leaderboard.document``),
with matplotlib's object API (no pyplot state, Agg canvas), constrained layout
(titles, colour bars and legends kept apart) and no timestamp in the files, so
the same document always gives the same images. A defense has one colour in
every figure (``palette``), and a plugin is named by its class.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

DPI = 110
STATUS_MARK = {"failed": "fail", "skipped": "skip", "missing": "-"}
COLOURS = colormaps["viridis"].with_extremes(bad="#dddddd")
# Per scale: the heading of its heatmaps and the label of its colour bar.
SCALES = {
    "utility_retained": ("", "utility retained"),
    "targeted": ("Targeted attacks: ER@10 (benign shoppers with a target in top 10)", "ER@10"),
    "untargeted": (
        "Untargeted attacks: share of the utility above popularity destroyed",
        "share destroyed",
    ),
}
MARKERS = "osD^vP*X"


def palette(names: Sequence[str]) -> dict[str, str]:
    """One colour per name, from the sorted names onto a qualitative colormap (tab10, tab20
    beyond ten names, evenly spaced turbo beyond twenty): the same names always get the same
    colours.

    >>> palette(["krum", "fedavg"])
    {'fedavg': '#1f77b4', 'krum': '#ff7f0e'}
    """
    ordered = sorted(set(names))
    if len(ordered) <= 20:
        cmap = colormaps["tab10" if len(ordered) <= 10 else "tab20"]
        return {name: to_hex(cmap(i)) for i, name in enumerate(ordered)}
    cmap = colormaps["turbo"]
    return {name: to_hex(cmap(i / (len(ordered) - 1))) for i, name in enumerate(ordered)}


def _save(figure: Figure, path: Path) -> None:
    figure.savefig(path, dpi=DPI, metadata={"Software": None}, bbox_inches="tight")


def _square_text(square: dict[str, Any]) -> str:
    """``0.62\n[0.55, 0.70]`` (95 % interval over seeds), ``0.62`` for one seed, a line more
    where a seed failed, or the square's status mark."""
    if square["mean"] is None:
        return STATUS_MARK.get(square["status"], "n/a")
    text = f"{square['mean']:.2f}"
    if square["ci95"] is not None:
        low, high = square["ci95"]
        text += f"\n[{low:.2f}, {high:.2f}]"
    return text + ("\n(a seed failed)" if square["status"] == "failed" else "")


def _heatmap_row(
    figure: Any, panel: dict[str, Any], blocks: list[tuple[float, dict]], scale: str, bottom: bool
) -> None:
    """One row of heatmaps (one per malicious fraction) on one colour scale, in its own
    (sub)figure headed by the scale: rows attacks, columns defenses, each square's mean and
    interval over seeds; the defenses named under the ``bottom`` row only."""
    names = panel["display_names"]
    axes = figure.subplots(1, len(blocks), squeeze=False)[0]
    image = None
    for ax, (fraction, block) in zip(axes, blocks, strict=True):
        attacks, defenses = block["attacks"], panel["defenses"]
        if not attacks:  # at this fraction no cell scores an attack of this goal
            ax.set_axis_off()
            continue
        squares = [[row[j] for row in block["cells"]] for j in range(len(attacks))]
        values = np.array(
            [[np.nan if s["mean"] is None else s["mean"] for s in row] for row in squares]
        )
        image = ax.imshow(values, cmap=COLOURS, vmin=0.0, vmax=1.0, aspect="auto")
        for i, row in enumerate(squares):
            for j, square in enumerate(row):
                v = values[i, j]
                # viridis is dark at the bottom: white text there, black on light and grey squares
                light = not np.isfinite(v) or v > 0.6
                ax.text(
                    j,
                    i,
                    _square_text(square),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if light else "white",
                )
        labels = [names[d] for d in defenses] if bottom else []
        ax.set_xticks(range(len(defenses)), labels, rotation=35, ha="right")
        ax.set_yticks(range(len(attacks)), [names[a] for a in attacks])
        ax.tick_params(labelsize=8)
        ax.set_title(f"malicious fraction {fraction:g}", fontsize=8)
    heading, label = SCALES[scale]
    if heading:
        figure.suptitle(heading, fontsize=9)
    figure.colorbar(image, ax=list(axes), fraction=0.05, pad=0.02).set_label(label, fontsize=8)


def _heatmaps(
    panel: dict[str, Any], rows: list[tuple[str, list[tuple[float, dict]]]], title: str
) -> Figure:
    """One row per scale (``rows``: the scale and its blocks, one per malicious fraction),
    each as tall as its attacks (a single attack's as 1.5, so that its colour bar reads) and
    its titles, the last one also as its defenses' names below it, in units of one attack."""
    heights = [max(1.5, *(len(b["attacks"]) for _, b in blocks)) + 1.2 for _, blocks in rows]
    heights[-1] += 2.0
    figure = Figure(
        figsize=(
            (1.6 + 1.05 * len(panel["defenses"])) * len(panel["tables"]) + 1.4,
            0.4 + 0.55 * sum(heights),
        ),
        layout="constrained",
    )
    parts = figure.subfigures(len(rows), 1, squeeze=False, height_ratios=heights)[:, 0]
    for i, (part, (scale, blocks)) in enumerate(zip(parts, rows, strict=True)):
        _heatmap_row(part, panel, blocks, scale, bottom=i == len(rows) - 1)
    figure.suptitle(f"{title} ({panel['label']}): mean [95% interval] over seeds", fontsize=10)
    return figure


def utility_heatmap(panel: dict[str, Any], path: Path) -> None:
    """Utility retained, attack x defense, one subplot per malicious fraction."""
    blocks = [(t["malicious_fraction"], t["utility_retained"]) for t in panel["tables"]]
    _save(_heatmaps(panel, [("utility_retained", blocks)], "Utility retained"), path)


def _goal_block(block: dict[str, Any], goal: str) -> dict[str, Any]:
    keep = [j for j, g in enumerate(block["goals"]) if g == goal]
    return {
        "attacks": [block["attacks"][j] for j in keep],
        "cells": [[row[j] for j in keep] for row in block["cells"]],
    }


def success_heatmap(panel: dict[str, Any], path: Path) -> None:
    """Attack success, attack x defense: targeted attacks (ER@10) and untargeted ones (share
    destroyed) in separate rows, each with its own labelled colour bar; attacks without a
    goal (none) are not drawn."""
    goals = [
        g
        for g in ("targeted", "untargeted")
        if any(g in t["attack_success"]["goals"] for t in panel["tables"])
    ]
    per_goal = {
        g: [(t["malicious_fraction"], _goal_block(t["attack_success"], g)) for t in panel["tables"]]
        for g in goals
    }
    _save(_heatmaps(panel, [(g, per_goal[g]) for g in goals], "Attack success"), path)


def _curves(
    panel: dict[str, Any], curves: dict[str, Any], attacks: list[str], ylabel: str, title: str
) -> Figure:
    """One subplot per (fraction, attack), one line per defense in its colour: the mean over
    seeds, and the band from the lowest to the highest seed."""
    fractions, names = panel["malicious_fractions"], panel["display_names"]
    figure = Figure(
        figsize=(0.6 + 2.9 * len(attacks), 1.3 + 2.2 * len(fractions)), layout="constrained"
    )
    axes = figure.subplots(len(fractions), len(attacks), squeeze=False, sharex=True, sharey=True)
    for row, fraction in enumerate(fractions):
        for col, attack in enumerate(attacks):
            ax = axes[row][col]
            for defense in panel["defenses"]:
                curve = curves[str(fraction)][attack][defense]
                if not curve["rounds"]:
                    continue
                colour = panel["colours"][defense]
                ax.fill_between(
                    curve["rounds"], curve["min"], curve["max"], color=colour, alpha=0.15, lw=0
                )
                ax.plot(
                    curve["rounds"],
                    curve["mean"],
                    marker=".",
                    linewidth=1,
                    color=colour,
                    label=names[defense],
                )
            ax.set_title(f"{names[attack]}, f={fraction:g}", fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.tick_params(labelsize=7)
            if row == len(fractions) - 1:
                ax.set_xlabel("round", fontsize=8)
            if col == 0:
                ax.set_ylabel(ylabel, fontsize=8)
    labelled = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            labelled.setdefault(label, handle)
    if labelled:
        figure.legend(
            list(labelled.values()),
            list(labelled),
            loc="outside lower center",
            ncol=min(len(labelled), 6),
            fontsize=8,
        )
    figure.suptitle(title, fontsize=10)
    return figure


def convergence(panel: dict[str, Any], path: Path) -> None:
    """NDCG@10 per evaluated round, mean and min-max band over seeds."""
    title = f"Convergence ({panel['label']}): NDCG@10, mean and range over seeds"
    _save(_curves(panel, panel["curves"], panel["attacks"], "NDCG@10", title), path)


def er_curves(panel: dict[str, Any], path: Path) -> None:
    """ER@10 per evaluated round under each targeted attack, mean and min-max band."""
    attacks = [a for a in panel["attacks"] if panel["goals"][a] == "targeted"]
    title = f"Targeted attacks ({panel['label']}): ER@10, mean and range over seeds"
    _save(_curves(panel, panel["er_curves"], attacks, "ER@10", title), path)


def _group(label: str) -> str:
    return label.rstrip("=")


def rank_groups(panel: dict[str, Any], path: Path) -> None:
    """A critical-difference style diagram (Demsar 2006): each ranked defense at its mean
    robust score with its 95 % interval, best at the top, and a thick bar beside the
    defenses of one rank group (not distinguishable after Holm's correction)."""
    ranked = [r for r in panel["ranking"] if r["robust"]["mean"] is not None]
    figure = Figure(figsize=(7.5, 1.3 + 0.38 * len(ranked)), layout="constrained")
    ax = figure.subplots()
    for y, row in enumerate(ranked):
        mean, interval = row["robust"]["mean"], row["robust"]["ci95"]
        if interval is not None:
            ax.plot(interval, [y, y], color=row["colour"], linewidth=2, solid_capstyle="butt")
        ax.plot([mean], [y], "o", color=row["colour"], markersize=7, markeredgecolor="black")
    groups: dict[str, list[int]] = {}
    for y, row in enumerate(ranked):
        groups.setdefault(_group(row["rank"]), []).append(y)
    # The bars stand right of the axis (x in axes units, y in rows): one per tied group.
    transform = ax.get_yaxis_transform()
    for label, rows in groups.items():
        if len(rows) > 1:
            ax.plot(
                [1.03, 1.03],
                [rows[0] - 0.2, rows[-1] + 0.2],
                color="black",
                linewidth=5,
                transform=transform,
                clip_on=False,
            )
            ax.text(
                1.06,
                (rows[0] + rows[-1]) / 2,
                f"{label}=",
                transform=transform,
                va="center",
                fontsize=8,
            )
    ax.set_yticks(range(len(ranked)), [f"{r['rank']}  {r['display']}" for r in ranked], fontsize=8)
    ax.set_ylim(len(ranked) - 0.5, -0.5)
    ax.set_xlim(_score_range(ranked))
    ax.set_xlabel("robust score: mean and 95% interval over seeds", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(
        f"Rank groups ({panel['label']}): a bar joins defenses not distinguishable "
        "after Holm's correction",
        fontsize=9,
        loc="left",
    )
    _save(figure, path)


def _score_range(ranked: list[dict[str, Any]]) -> tuple[float, float]:
    values = [v for r in ranked for v in (r["robust"]["ci95"] or [r["robust"]["mean"]])]
    # Padded, so that a marker at 0 or 1 shows whole and equal scores get a scale.
    pad = max(0.03, 0.1 * (max(values) - min(values)))
    return max(-0.03, min(values) - pad), min(1.03, max(values) + pad)


def plotted(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The privacy-utility points a log scale can show: a positive epsilon and a utility."""
    return [
        p
        for p in points
        if (p["epsilon_shopper"]["mean"] or 0.0) > 0.0 and p["utility_retained"]["mean"] is not None
    ]


def privacy_utility(points: list[dict[str, Any]], path: Path) -> None:
    """Epsilon per shopper (log scale) against utility retained without attack, one point per
    panel and DP defense (its colour; the marker is the panel), whiskers the seeds' range of
    epsilon and the 95 % interval of utility."""
    shown = plotted(points)
    figure = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = figure.subplots()
    panels = sorted({p["panel_label"] for p in shown})
    for point in shown:
        epsilon, utility = point["epsilon_shopper"], point["utility_retained"]
        x, y = epsilon["mean"], utility["mean"]
        low, high = epsilon["range"]
        ylow, yhigh = utility["ci95"] or (y, y)
        ax.errorbar(
            [x],
            [y],
            xerr=[[x - low], [high - x]],
            yerr=[[y - ylow], [yhigh - y]],
            fmt=MARKERS[panels.index(point["panel_label"]) % len(MARKERS)],
            color=point["colour"],
            markeredgecolor="black",
            capsize=2,
        )
        ax.annotate(
            f"{point['display']} ({point['panel_label']})",
            (x, y),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=7,
        )
    ax.set_xscale("log")
    # Plain numbers at 1, 2 and 5 of each decade, over a decade at least: a narrow range of
    # epsilons would otherwise get overlapping minor labels such as 2.5x10^0.
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    if shown:
        low = min(p["epsilon_shopper"]["range"][0] for p in shown)
        high = max(p["epsilon_shopper"]["range"][1] for p in shown)
        ax.set_xlim(low / 2, max(high * 2, low * 10))
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("epsilon per shopper (largest over shoppers; log scale)", fontsize=8)
    ax.set_ylabel("utility retained without attack", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, which="both")
    ax.set_title("Privacy and utility of the DP defenses (marker: panel)", fontsize=9)
    _save(figure, path)
