"""The Prometheus metrics: what the observers set, conventions, and hostile inputs."""

from __future__ import annotations

import math
import shutil
import subprocess

import pytest

pytest.importorskip(
    "prometheus_client", reason="prometheus-client is not installed (extra: monitoring)"
)

from monitoring_helpers import round_args
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fedarena.monitoring.metrics import (
    METRIC_NAMES,
    Metrics,
    PrometheusMatrixObserver,
    PrometheusRoundObserver,
)


def exposed_names(metrics: Metrics) -> set[str]:
    """Every family name as exposed, counters with their ``_total``."""
    text = generate_latest(metrics.registry).decode()
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name + "_total" if family.type == "counter" else family.name)
    return names


def test_matrix_observer_counts_cells_by_status() -> None:
    metrics = Metrics()
    observer = PrometheusMatrixObserver(metrics)
    observer.on_matrix_start(total=5, resumed=1)
    for status in ("done", "done", "failed"):
        observer.on_cell_start()
        observer.on_cell_end(status, 3.0)
    observer.on_cell_start()
    value = metrics.registry.get_sample_value
    assert value("fedarena_matrix_cells") == 5
    assert value("fedarena_matrix_cells_resumed") == 1
    assert value("fedarena_cells_running") == 1
    assert value("fedarena_cells_finished_total", {"status": "done"}) == 2
    assert value("fedarena_cells_finished_total", {"status": "failed"}) == 1
    assert value("fedarena_cells_finished_total", {"status": "skipped"}) == 0
    assert value("fedarena_cell_duration_seconds_count", {"status": "done"}) == 2
    assert value("fedarena_cell_duration_seconds_sum", {"status": "done"}) == 6.0


def test_round_observer_sets_every_round_metric() -> None:
    metrics = Metrics()
    observer = PrometheusRoundObserver(metrics, cell="alie/krum/0")
    observer.on_round(**round_args(1))
    observer.on_round(**round_args(2, metrics={}, epsilon=None, sampled=12))
    value = metrics.registry.get_sample_value
    cell = {"cell": "alie/krum/0"}
    assert value("fedarena_round", cell) == 2
    assert value("fedarena_rounds_total", cell) == 2
    assert value("fedarena_round_duration_seconds_count", cell) == 2
    assert value("fedarena_round_clients", {**cell, "outcome": "sampled"}) == 12
    assert value("fedarena_clients_total", {**cell, "outcome": "sampled"}) == 22
    assert value("fedarena_clients_total", {**cell, "outcome": "flagged"}) == 4
    assert value("fedarena_round_update_norm", {**cell, "role": "benign", "quantile": "1.0"}) == 8
    assert value("fedarena_round_update_norm", {**cell, "role": "benign", "quantile": "0.5"}) == 4.5
    assert value("fedarena_update_norm_count", {**cell, "role": "benign"}) == 16
    assert value("fedarena_global_model_norm", cell) == 12.5
    # utility and epsilon keep their last evaluated value when a round is not evaluated
    assert value("fedarena_utility", {**cell, "metric": "ndcg@10"}) == 0.25
    assert value("fedarena_dp_epsilon", cell) == 1.5


def test_nan_norms_never_reach_the_histogram_sum() -> None:
    metrics = Metrics()
    PrometheusRoundObserver(metrics).on_round(
        **round_args(malicious_norms=[math.nan, math.inf, 1e30, 5.0])
    )
    value = metrics.registry.get_sample_value
    labels = {"cell": "", "role": "malicious"}
    assert value("fedarena_update_norm_count", labels) == 2
    assert value("fedarena_update_norm_sum", labels) == 1e30 + 5.0
    assert value("fedarena_nonfinite_updates_total", labels) == 2


def test_a_wrong_call_is_logged_and_leaves_the_metrics_usable() -> None:
    metrics = Metrics()
    observer = PrometheusMatrixObserver(metrics)
    observer.on_cell_end("exploded", 1.0)  # not a status: logged by the guard
    observer.on_cell_end("done", 1.0)
    value = metrics.registry.get_sample_value
    assert value("fedarena_cells_finished_total", {"status": "done"}) == 1


def test_metric_names_are_the_exposed_ones_with_the_prefix_and_conventions() -> None:
    metrics = Metrics()
    PrometheusMatrixObserver(metrics).on_cell_end("done", 1.0)
    PrometheusRoundObserver(metrics).on_round(**round_args())
    names = exposed_names(metrics)
    assert names == set(METRIC_NAMES)
    assert all(name.startswith("fedarena_") for name in names)
    assert not any(name.endswith(("_ms", "_milliseconds", "_minutes")) for name in names)


def test_metrics_stay_out_of_the_global_registry() -> None:
    Metrics()
    assert REGISTRY.get_sample_value("fedarena_matrix_cells") is None


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is not installed (Debian package prometheus; .ci/run installs it)",
)
def test_promtool_finds_no_naming_problem() -> None:
    metrics = Metrics()
    observer = PrometheusMatrixObserver(metrics)
    observer.on_matrix_start(2, 0)
    observer.on_cell_end("done", 1.0)
    PrometheusRoundObserver(metrics, "c").on_round(**round_args())
    text = generate_latest(metrics.registry)
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert checked.stdout.decode().strip() == ""
