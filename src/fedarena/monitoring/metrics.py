"""The Prometheus metrics of a run or a matrix, and the observers that update them.

Every name has the ``fedarena_`` prefix and follows Prometheus conventions: counters end in
``_total``, durations are in seconds (``_seconds``), no unit prefixes. The metrics live in a
``CollectorRegistry`` of their own, not the process-wide default one, so two runs in one
process (or two tests) never share a counter. The full list with types and labels is in
docs/monitoring.md; ``METRIC_NAMES`` is the list the dashboard test checks against.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.metrics_core import Metric, SummaryMetricFamily
from prometheus_client.samples import Sample

from fedarena.monitoring.norms import QUANTILES, NormSummary
from fedarena.monitoring.observers import CELL_STATUSES, check_status, guarded

#: Seconds per cell: a smoke cell takes seconds, a standard one minutes, a timeout 15 min.
CELL_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600)
#: Seconds per round: vectorised rounds take milliseconds, Flower deployment rounds seconds.
ROUND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
#: Update norms span orders of magnitude (a scaled model-replacement update is huge).
NORM_BUCKETS = tuple(10.0**e for e in range(-4, 7))
ROLES = ("benign", "malicious")
CLIENT_OUTCOMES = ("sampled", "rejected", "flagged")


class RoundNormSummary:
    """``fedarena_round_update_norm``: a Prometheus summary whose quantiles are the last round's.

    prometheus_client's own ``Summary`` exposes no quantiles, and a histogram's quantiles are
    estimates over time; a dashboard of an attack wants the exact spread of each round's
    benign and malicious norms. ``_count`` and ``_sum`` are cumulative, as in any summary.
    """

    name = "fedarena_round_update_norm"

    def __init__(self, registry: CollectorRegistry) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], tuple[list[tuple[str, float]], int, float]] = {}
        registry.register(self)

    def set(self, cell: str, role: str, summary: NormSummary) -> None:
        """Replace the quantiles of (cell, role) by this round's; add to count and sum."""
        quantiles = []
        for q in QUANTILES:
            value = summary.quantile(q)
            quantiles.append((str(q), math.nan if value is None else value))
        with self._lock:
            _, count, total = self._series.get((cell, role), ([], 0, 0.0))
            self._series[(cell, role)] = (
                quantiles,
                count + len(summary.finite),
                total + math.fsum(summary.finite),
            )

    def collect(self) -> Iterator[Metric]:
        """One summary family with a series per (cell, role)."""
        family = SummaryMetricFamily(
            self.name,
            "Finite update norms by role; the quantiles are those of the last round.",
            labels=["cell", "role"],
        )
        with self._lock:
            series = list(self._series.items())
        for (cell, role), (quantiles, count, total) in series:
            family.add_metric([cell, role], count_value=count, sum_value=total)
            for q, value in quantiles:
                labels = {"cell": cell, "role": role, "quantile": q}
                family.samples.append(Sample(self.name, labels, value))
        yield family

    def describe(self) -> Iterator[Metric]:
        """The family without samples (lets the registry check for name clashes)."""
        yield SummaryMetricFamily(self.name, "", labels=["cell", "role"])


class Metrics:
    """The fedarena metrics, registered in their own registry (``self.registry``).

    Creating one turns off prometheus_client's ``_created`` series process-wide: they double
    the number of series and no fedarena panel reads them.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        disable_created_metrics()
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.matrix_cells = Gauge(
            "fedarena_matrix_cells", "Cells in the matrix being run.", registry=r
        )
        self.cells_resumed = Gauge(
            "fedarena_matrix_cells_resumed",
            "Cells already done by an earlier run of this matrix (skipped on resume).",
            registry=r,
        )
        self.cells_running = Gauge("fedarena_cells_running", "Cells running now.", registry=r)
        self.cells_finished = Counter(
            "fedarena_cells_finished",
            "Cells finished by this process, by status (done, failed, skipped).",
            ["status"],
            registry=r,
        )
        self.cell_seconds = Histogram(
            "fedarena_cell_duration_seconds",
            "Wall-clock seconds per finished cell.",
            ["status"],
            buckets=CELL_BUCKETS,
            registry=r,
        )
        self.round = Gauge(
            "fedarena_round", "The last round completed (1-based).", ["cell"], registry=r
        )
        self.rounds = Counter("fedarena_rounds", "Rounds completed.", ["cell"], registry=r)
        self.round_seconds = Histogram(
            "fedarena_round_duration_seconds",
            "Wall-clock seconds per round.",
            ["cell"],
            buckets=ROUND_BUCKETS,
            registry=r,
        )
        self.round_clients = Gauge(
            "fedarena_round_clients",
            "Clients in the last round, by outcome (sampled, rejected by the guard, "
            "flagged by the defense).",
            ["cell", "outcome"],
            registry=r,
        )
        self.clients = Counter(
            "fedarena_clients",
            "Clients over all rounds, by outcome (sampled, rejected, flagged).",
            ["cell", "outcome"],
            registry=r,
        )
        self.update_norm = Histogram(
            "fedarena_update_norm",
            "L2 norm of every finite update received, by the sender's role.",
            ["cell", "role"],
            buckets=NORM_BUCKETS,
            registry=r,
        )
        self.round_update_norm = RoundNormSummary(r)
        self.nonfinite_updates = Counter(
            "fedarena_nonfinite_updates",
            "Updates whose norm was NaN or Inf, by the sender's role.",
            ["cell", "role"],
            registry=r,
        )
        self.global_norm = Gauge(
            "fedarena_global_model_norm",
            "L2 norm of the global model's shared parameters.",
            ["cell"],
            registry=r,
        )
        self.utility = Gauge(
            "fedarena_utility",
            "Utility metrics at the last evaluation (on benign shoppers), by metric.",
            ["cell", "metric"],
            registry=r,
        )
        self.epsilon = Gauge(
            "fedarena_dp_epsilon",
            "Differential-privacy epsilon spent so far, shopper level.",
            ["cell"],
            registry=r,
        )


#: Every metric name as Prometheus exposes it (counters with ``_total``; histograms also as
#: ``_bucket``, ``_count``, ``_sum``).
METRIC_NAMES = (
    "fedarena_matrix_cells",
    "fedarena_matrix_cells_resumed",
    "fedarena_cells_running",
    "fedarena_cells_finished_total",
    "fedarena_cell_duration_seconds",
    "fedarena_round",
    "fedarena_rounds_total",
    "fedarena_round_duration_seconds",
    "fedarena_round_clients",
    "fedarena_clients_total",
    "fedarena_update_norm",
    "fedarena_round_update_norm",
    "fedarena_nonfinite_updates_total",
    "fedarena_global_model_norm",
    "fedarena_utility",
    "fedarena_dp_epsilon",
)


class PrometheusMatrixObserver:
    """A ``MatrixObserver`` that keeps the cell metrics of ``metrics`` up to date."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        for status in CELL_STATUSES:  # every status is exposed from the start, at 0
            metrics.cells_finished.labels(status)

    @guarded
    def on_matrix_start(self, total: int, resumed: int) -> None:
        """Record the plan."""
        self.metrics.matrix_cells.set(total)
        self.metrics.cells_resumed.set(resumed)

    @guarded
    def on_cell_start(self, cell: str = "") -> None:
        """One more cell running."""
        self.metrics.cells_running.inc()

    @guarded
    def on_cell_end(self, status: str, seconds: float, cell: str = "") -> None:
        """One cell fewer running, one more finished with ``status``."""
        check_status(status)
        self.metrics.cells_running.dec()
        self.metrics.cells_finished.labels(status).inc()
        if math.isfinite(seconds) and seconds >= 0:
            self.metrics.cell_seconds.labels(status).observe(seconds)


class PrometheusRoundObserver:
    """A ``RoundObserver`` for one run; ``cell`` labels its series (empty for ``fedarena run``)."""

    def __init__(self, metrics: Metrics, cell: str = "") -> None:
        self.metrics = metrics
        self.cell = cell

    @guarded
    def on_round(
        self,
        round: int,
        seconds: float,
        sampled: int,
        rejected: int,
        flagged: int,
        benign_norms: Sequence[float],
        malicious_norms: Sequence[float],
        global_norm: float,
        metrics: Mapping[str, float],
        epsilon: float | None,
    ) -> None:
        """Update every round metric of this cell."""
        m, cell = self.metrics, self.cell
        m.round.labels(cell).set(round)
        m.rounds.labels(cell).inc()
        if math.isfinite(seconds) and seconds >= 0:
            m.round_seconds.labels(cell).observe(seconds)
        for outcome, count in zip(CLIENT_OUTCOMES, (sampled, rejected, flagged), strict=True):
            m.round_clients.labels(cell, outcome).set(count)
            m.clients.labels(cell, outcome).inc(count)
        for role, norms in zip(ROLES, (benign_norms, malicious_norms), strict=True):
            summary = NormSummary.of(norms)
            histogram = m.update_norm.labels(cell, role)
            for norm in summary.finite:
                histogram.observe(norm)
            m.nonfinite_updates.labels(cell, role).inc(summary.nonfinite)
            m.round_update_norm.set(cell, role, summary)
        m.global_norm.labels(cell).set(global_norm)
        for name, value in metrics.items():
            m.utility.labels(cell, name).set(value)
        if epsilon is not None:
            m.epsilon.labels(cell).set(epsilon)
