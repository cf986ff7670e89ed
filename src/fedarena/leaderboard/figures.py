"""PNG figures of a panel: attack x defense heatmaps and convergence curves.

Drawn from the leaderboard document only (``fedarena.leaderboard.document``),
with matplotlib's object API (no pyplot state, Agg canvas) and no timestamp in
the files, so the same
document always gives the same images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

DPI = 110
STATUS_MARK = {"failed": "fail", "skipped": "skip", "missing": "-"}
COLOURS = colormaps["viridis"].with_extremes(bad="#dddddd")


def _save(figure: Figure, path: Path) -> None:
    figure.savefig(path, dpi=DPI, metadata={"Software": None}, bbox_inches="tight")


def heatmap(panel: dict[str, Any], value: str, title: str, path: Path) -> None:
    """One subplot per malicious fraction: rows attacks, columns defenses, mean over seeds."""
    maps = panel["heatmaps"]
    attacks, defenses = panel["attacks"], panel["defenses"]
    width = 1.5 + 0.9 * len(defenses)
    figure = Figure(figsize=(width * len(maps) + 1.0, 1.4 + 0.5 * len(attacks)))
    axes = figure.subplots(1, len(maps), squeeze=False, gridspec_kw={"wspace": 0.45})[0]
    top = 1.0 if value == "attack_success" else max(1.0, *_finite(maps, value))
    for ax, grid in zip(axes, maps, strict=True):
        values = np.array(grid[value], dtype=float)
        image = ax.imshow(values, cmap=COLOURS, vmin=0.0, vmax=top, aspect="auto")
        for i in range(len(attacks)):
            for j in range(len(defenses)):
                status, v = grid["status"][i][j], values[i, j]
                text = STATUS_MARK.get(status, f"{v:.2f}" if np.isfinite(v) else "n/a")
                # viridis is dark at the bottom: white text there, black on light and grey squares
                light = not np.isfinite(v) or v > 0.6 * top
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="black" if light else "white",
                )
        ax.set_xticks(range(len(defenses)), defenses, rotation=35, ha="right", fontsize=8)
        ax.set_yticks(range(len(attacks)), attacks, fontsize=8)
        ax.set_title(f"malicious fraction {grid['malicious_fraction']:g}", fontsize=9)
    figure.colorbar(image, ax=list(axes), fraction=0.03, pad=0.02)
    figure.suptitle(f"{title} ({panel['label']}), mean over seeds", fontsize=10, y=1.02)
    _save(figure, path)


def _finite(maps: list[dict[str, Any]], value: str) -> list[float]:
    return [v for grid in maps for row in grid[value] for v in row if v is not None]


def convergence(panel: dict[str, Any], path: Path) -> None:
    """Utility per evaluated round: one subplot per (fraction, attack), one line per defense."""
    fractions, attacks = panel["malicious_fractions"], panel["attacks"]
    figure = Figure(figsize=(2.8 * len(attacks), 2.3 * len(fractions)))
    axes = figure.subplots(len(fractions), len(attacks), squeeze=False, sharex=True, sharey=True)
    for row, fraction in enumerate(fractions):
        for col, attack in enumerate(attacks):
            ax = axes[row][col]
            for defense in panel["defenses"]:
                curve = panel["curves"][str(fraction)][attack][defense]
                if curve["rounds"]:
                    ax.plot(curve["rounds"], curve["mean"], marker=".", linewidth=1, label=defense)
            ax.set_title(f"{attack}, f={fraction:g}", fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.tick_params(labelsize=7)
            if row == len(fractions) - 1:
                ax.set_xlabel("round", fontsize=8)
            if col == 0:
                ax.set_ylabel("NDCG@10", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        figure.legend(
            handles,
            labels,
            loc="upper center",
            ncol=min(4, len(labels)),
            fontsize=8,
            bbox_to_anchor=(0.5, 0.0),
        )
    figure.suptitle(f"Convergence ({panel['label']}), mean over seeds", fontsize=10)
    _save(figure, path)
