"""Builds deploy/grafana/dashboards/fedarena.json with the Grafana Foundation SDK.

    python deploy/grafana/generate_dashboard.py          # rewrite the JSON
    python deploy/grafana/generate_dashboard.py --check  # exit 1 if the JSON is stale

The dashboard reads the metrics of ``fedarena.monitoring.metrics`` from the Prometheus data
source that deploy/grafana/provisioning/datasources/prometheus.yaml provisions (uid
``fedarena-prometheus``). tests/deploy/test_grafana_dashboard.py checks every expression
against a running exporter and the JSON against the SDK's models.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

OUT = Path(__file__).parent / "dashboards" / "fedarena.json"
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="fedarena-prometheus")
CELL = '{cell=~"$cell"}'


def query(expr: str, legend: str = "") -> prometheus.Dataquery:
    """A PromQL target on the fedarena data source (its refId is set by its panel)."""
    target = prometheus.Dataquery().expr(expr).datasource(DATASOURCE)
    return target.legend_format(legend) if legend else target


def with_targets(panel, targets: tuple[prometheus.Dataquery, ...]):
    """``panel`` with ``targets`` as queries A, B, ..."""
    for index, target in enumerate(targets):
        panel = panel.with_target(target.ref_id(chr(ord("A") + index)))
    return panel


def number(title: str, expr: str, description: str) -> stat.Panel:
    """A single-number panel, a quarter of the dashboard wide."""
    panel = (
        stat.Panel().title(title).description(description).datasource(DATASOURCE).span(6).height(4)
    )
    return with_targets(panel, (query(expr),))


def series(title: str, description: str, unit: str, *targets: prometheus.Dataquery):
    """A time-series panel, half the dashboard wide."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(12)
        .height(8)
    )
    return with_targets(panel, targets)


def build() -> model.Dashboard:
    """The fedarena dashboard: a matrix's progress, then every round of the chosen cells."""
    cells = (
        dash.QueryVariable("cell")
        .label("cell")
        .datasource(DATASOURCE)
        .query("label_values(fedarena_round, cell)")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )
    board = (
        dash.Dashboard("fedarena")
        .uid("fedarena-overview")
        .description("Attacks x defenses x strategies: a matrix's cells and every round.")
        .tags(["fedarena", "federated-learning"])
        .refresh("10s")
        .time("now-1h", "now")
        .with_variable(cells)
        .with_row(dash.Row("Matrix"))
        .with_panel(
            number(
                "Cells done",
                'sum(fedarena_cells_finished_total{status="done"})'
                " + sum(fedarena_matrix_cells_resumed)",
                "Cells finished without error, including those done by an earlier run.",
            )
        )
        .with_panel(
            number("Cells in the matrix", "sum(fedarena_matrix_cells)", "The matrix's size.")
        )
        .with_panel(
            number("Cells running", "sum(fedarena_cells_running)", "Cells running right now.")
        )
        .with_panel(
            number(
                "Cells failed or skipped",
                'sum(fedarena_cells_finished_total{status=~"failed|skipped"})',
                "Failed cells keep their reason in the results store; the matrix goes on.",
            )
        )
        .with_panel(
            series(
                "Seconds per cell",
                "Median and 90th percentile of finished cells' wall time.",
                "s",
                query(
                    "histogram_quantile(0.5, sum by (le) "
                    "(rate(fedarena_cell_duration_seconds_bucket[10m])))",
                    "p50",
                ),
                query(
                    "histogram_quantile(0.9, sum by (le) "
                    "(rate(fedarena_cell_duration_seconds_bucket[10m])))",
                    "p90",
                ),
            )
        )
        .with_panel(
            series(
                "Current round",
                "The last round each cell completed.",
                "none",
                query(f"fedarena_round{CELL}", "{{cell}}"),
            )
        )
        .with_row(dash.Row("Rounds"))
        .with_panel(
            series(
                "Seconds per round",
                "Mean wall time per round over the last minute.",
                "s",
                query(
                    f"rate(fedarena_round_duration_seconds_sum{CELL}[1m])"
                    f" / rate(fedarena_round_duration_seconds_count{CELL}[1m])",
                    "{{cell}}",
                ),
            )
        )
        .with_panel(
            series(
                "Clients per round",
                "Sampled, rejected by the guard (malformed updates), flagged by the defense.",
                "none",
                query(f"fedarena_round_clients{CELL}", "{{cell}} {{outcome}}"),
            )
        )
        .with_panel(
            series(
                "Update norms: median and max",
                "The last round's L2 norms of benign and malicious updates.",
                "none",
                query(
                    'fedarena_round_update_norm{cell=~"$cell", quantile="0.5"}',
                    "{{cell}} {{role}} median",
                ),
                query(
                    'fedarena_round_update_norm{cell=~"$cell", quantile="1.0"}',
                    "{{cell}} {{role}} max",
                ),
            )
        )
        .with_panel(
            series(
                "Non-finite updates",
                "Updates with a NaN or Inf norm per minute, by role (the guard rejects them).",
                "none",
                query(
                    f"sum by (cell, role) (rate(fedarena_nonfinite_updates_total{CELL}[1m])) * 60",
                    "{{cell}} {{role}}",
                ),
            )
        )
        .with_panel(
            series(
                "Global model norm",
                "L2 norm of the global model's shared parameters after each round.",
                "none",
                query(f"fedarena_global_model_norm{CELL}", "{{cell}}"),
            )
        )
        .with_panel(
            series(
                "Utility",
                "HR@10, NDCG@10, AUC and the rest, at the last evaluation.",
                "percentunit",
                query(f"fedarena_utility{CELL}", "{{cell}} {{metric}}"),
            )
        )
        .with_panel(
            series(
                "Privacy spent",
                "Differential-privacy epsilon spent so far (DP defenses only).",
                "none",
                query(f"fedarena_dp_epsilon{CELL}", "{{cell}}"),
            )
        )
    )
    built = board.build()
    for panel_id, panel in enumerate(built.panels or [], start=1):
        panel.id_val = panel_id
    return built


def render() -> str:
    """The dashboard as the JSON text checked into the repository."""
    return json.dumps(build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the JSON, or with ``--check`` say whether the checked-in one is current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the JSON is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT}: stale; run python {Path(__file__).as_posix()}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
