"""``index.html``: the leaderboard as one static page that needs no network.

Styles are inline; the figures are the PNG files beside the page (relative
links). A few lines of inline script mark each figure once it has loaded
(``data-loaded``) and report one that did not on the console, which is what
the browser test checks.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from fedarena.leaderboard.markdown import (
    COST_COLUMNS,
    ENTRY_COLUMNS,
    FIGURE_CAPTIONS,
    METRIC_COLUMNS,
    RANKING_COLUMNS,
    READING,
    RUN_COLUMNS,
    UNVERIFIED_NOTE,
    cells_pointer,
    cost_rows,
    entry_rows,
    full_names,
    metric_rows,
    number_text,
    panel_tables,
    problem_rows,
    ranking_rows,
    run_rows,
    summary_table,
)

CELL_COLUMNS = ("attack", "fraction", "seed", "status", "U", "S", "score", "key")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 80rem; padding: 0 1rem;
       color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; }
th { background: #f2f2f4; } tr:nth-child(even) td { background: #fafafa; }
td.defense { font-family: ui-monospace, monospace; } td.rank { font-weight: bold; }
details table { font-size: 0.8rem; margin: 0.3rem 0; } .note { font-size: 0.85rem; color: #555; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #555; }
.notice { background: #fff4e5; padding: 0.6rem 1rem; border-left: 4px solid #e08a00; }
.method { background: #f7f7f9; padding: 0.8rem 1rem; border-left: 4px solid #6a5acd; }
"""

SCRIPT = """
window.addEventListener("load", function () {
  document.querySelectorAll("img[data-figure]").forEach(function (img) {
    if (img.complete && img.naturalWidth > 0) {
      img.setAttribute("data-loaded", "true");
    } else {
      console.error("figure not loaded: " + img.getAttribute("src"));
    }
  });
  document.body.setAttribute("data-ready", "true");
});
"""


def _table(columns: tuple[str, ...], rows: list[list[str]], css: dict[int, str]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{css[i]}">{escape(v)}</td>' if i in css else f"<td>{escape(v)}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(src: str, caption: str) -> str:
    return (
        f'<figure><img src="{escape(src)}" alt="{escape(caption)}" data-figure="{escape(src)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _code(text: str) -> str:
    """``text`` escaped, its Markdown ```code``` spans as ``<code>``."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", escape(text))


def _cells_details(panel: dict[str, Any], i: int, entry: dict, cells: dict[str, dict]) -> str:
    """A row's cells, listed in a collapsible element (anchor ``cells-<panel>-<position>``)."""
    names = panel["display_names"]
    rows = [
        [
            names.get(c["attack"], c["attack"]),
            f"{c['malicious_fraction']:g}",
            str(c["seed"]),
            c["status"],
            number_text(c["utility_retained"]),
            number_text(c["attack_success"]),
            number_text(c["score"]),
            c["key"],
        ]
        for c in sorted(
            (cells[k] for k in entry["cell_keys"] if k in cells),
            key=lambda c: (c["attack"], c["malicious_fraction"], c["seed"]),
        )
    ]
    return (
        f'<details id="cells-{escape(panel["slug"])}-{i}"><summary>{len(rows)} cells '
        f"(cells.csv: {escape(cells_pointer(entry))})</summary>"
        f"{_table(CELL_COLUMNS, rows, {})}</details>"
    )


def _ranking(panel: dict[str, Any], cells: dict[str, dict]) -> str:
    """The ranking: rank labels, the full spec as each defense's tooltip, its cells."""
    head = "".join(f"<th>{escape(c)}</th>" for c in (*RANKING_COLUMNS, "cells"))
    body = []
    for i, (row, entry) in enumerate(
        zip(ranking_rows(panel), panel["ranking"], strict=True), start=1
    ):
        rank, shown, *rest = row
        body.append(
            f'<tr><td class="rank">{escape(rank)}</td>'
            f'<td class="defense" title="{escape(entry["defense"])}">{escape(shown)}</td>'
            + "".join(f"<td>{escape(v)}</td>" for v in rest)
            + f"<td>{_cells_details(panel, i, entry, cells)}</td></tr>"
        )
    rows = "".join(body)
    return f'<table class="ranking"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _panel(panel: dict[str, Any], cells: dict[str, dict]) -> list[str]:
    figures, label = panel["figures"], panel["label"]
    fixed = ", ".join(f"{k}={v}" for k, v in panel["fixed"].items())
    names = panel["display_names"]
    parts = [
        f'<section id="{escape(panel["slug"])}">',
        f"<h2>{escape(label)}</h2>",
        f"<p>Settings: {escape(fixed)}. Attacks: "
        f"{escape(', '.join(names[a] for a in panel['attacks']))}.</p>",
    ]
    for caption, columns, rows in panel_tables(panel):
        parts += [f"<p>{escape(caption)}:</p>", _table(tuple(columns), rows, {0: "defense"})]
    parts += [
        "<p>Ranking (<code>=</code>: not distinguishable from the row above after Holm's "
        "correction):</p>",
        _ranking(panel, cells),
    ]
    shortened = full_names(panel)
    if shortened:
        listed = "; ".join(
            f"{escape(shown)} = <code>{escape(text)}</code>" for shown, text in shortened
        )
        parts.append(f'<p class="note">Full specs: {listed}.</p>')
    if "rank_groups" in figures:
        parts.append(_figure(figures["rank_groups"], f"Rank groups, {label}"))
    parts += [
        "<p>Privacy spent (all cells) and detection (attacked cells), means over cells:</p>",
        _table(METRIC_COLUMNS, metric_rows(panel), {0: "defense"}),
    ]
    parts += [
        _figure(figures[key], f"{caption.capitalize()}, {label}")
        for key, caption in FIGURE_CAPTIONS.items()
        if key in figures
    ]
    return [*parts, "</section>"]


def render_html(document: dict[str, Any]) -> str:
    counts = document["counts"]
    cells = {c["key"]: c for c in document["cells"]}
    reading = "".join(
        f"<li><strong>{escape(what)}</strong>: {_code(line)}</li>" for what, line in READING
    )
    columns, rows = summary_table(document)
    sections = [
        "<h1>fedarena leaderboard</h1>",
        f"<p>Generated by {escape(document['generated_by'])} from "
        f"{escape(', '.join(document['sources']))}: {counts['done']} cells done, "
        f"{counts['failed']} failed, {counts['skipped']} skipped.</p>",
        *(
            f'<p class="notice"><strong>Notice</strong>: {escape(n)}</p>'
            for n in document["notices"]
        ),
        "<h2>Reading the board</h2>",
        f"<ul>{reading}</ul>",
        "<h2>Summary across panels</h2>",
        "<p>Rank label (robust score) of each defense in each panel:</p>",
        _table(tuple(columns), rows, {0: "defense"}),
    ]
    if document["figures"]:
        sections += [
            "<h2>Privacy and utility</h2>",
            _figure(document["figures"]["privacy_utility"], "Privacy and utility"),
        ]
    sections += ["<h2>Method</h2>", f'<p class="method">{escape(document["method"])}</p>']
    for panel in document["panels"]:
        sections += _panel(panel, cells)
    problems = problem_rows(document)
    if problems:
        sections += [
            "<h2>Failed and skipped cells</h2>",
            _table(("status", "defense", "attack", "cells", "reason"), problems, {1: "defense"}),
        ]
    if document["entries"]:
        sections += [
            "<h2>Submitted entries</h2>",
            f"<p>{escape(UNVERIFIED_NOTE.replace('`', ''))}</p>",
            _table(ENTRY_COLUMNS, entry_rows(document["entries"]), {0: "defense"}),
        ]
    sections += [
        "<h2>Runs</h2>",
        _table(RUN_COLUMNS, run_rows(document["runs"]), {}),
        "<p>Wall time of one cell, per defense:</p>",
        _table(COST_COLUMNS, cost_rows(document["costs"]), {0: "defense"}),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>fedarena leaderboard</title>"
        '<link rel="icon" href="data:,">'
        f"<style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(sections)
        + f"\n<script>{SCRIPT}</script>\n</body></html>\n"
    )
