"""Watching a run or a matrix from outside: Prometheus metrics, an HTTP exporter, event streams.

The engine and the matrix call observers (``observers``) with plain Python numbers; the
Prometheus observers (``metrics``) and the event observers (``events``) turn those calls into
scrapeable metrics and JSON-lines events. Nothing here imports the rest of fedarena except
``fedarena.errors``, so the engine can depend on it without cycles, and a monitoring failure
is logged, never raised into the run (docs/monitoring.md).
"""

from fedarena.monitoring.observers import (
    CELL_STATUSES,
    FanOut,
    MatrixObserver,
    NullObserver,
    RoundObserver,
)

__all__ = ["CELL_STATUSES", "FanOut", "MatrixObserver", "NullObserver", "RoundObserver"]
