"""The observer API the engine and the matrix call, with plain Python numbers.

Two small protocols, one per caller: ``MatrixObserver`` (the matrix runner: cells) and
``RoundObserver`` (an engine: rounds). Implementations must be cheap (a round may take
milliseconds) and must never raise into the caller: a broken dashboard must not kill a
benchmark. ``guarded`` gives an implementation that property; ``FanOut`` calls several.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

log = logging.getLogger("fedarena.monitoring")

#: What ``on_cell_end`` accepts as a cell's status (the matrix's own vocabulary).
CELL_STATUSES = ("done", "failed", "skipped")

F = TypeVar("F", bound=Callable[..., None])


def guarded(method: F) -> F:
    """Log, never raise: a failing observer method is logged once, with its traceback."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception as error:
            seen = self.__dict__.setdefault("_monitoring_failures", set())
            if method.__name__ not in seen:
                seen.add(method.__name__)
                log.warning(
                    "monitoring: %s.%s failed (its later failures are not logged): %s",
                    type(self).__name__,
                    method.__name__,
                    error,
                    exc_info=True,
                )

    return wrapper  # type: ignore[return-value]


def check_status(status: str) -> None:
    """Refuse a cell status outside ``CELL_STATUSES`` (a wiring bug, logged by ``guarded``)."""
    if status not in CELL_STATUSES:
        raise ValueError(f"cell status must be one of {', '.join(CELL_STATUSES)}, got {status!r}")


@runtime_checkable
class MatrixObserver(Protocol):
    """What the matrix runner reports: the plan, and every cell's start and end."""

    def on_matrix_start(self, total: int, resumed: int) -> None:
        """The matrix has ``total`` cells, ``resumed`` of them already done by an earlier run."""

    def on_cell_start(self, cell: str = "") -> None:
        """The cell ``cell`` (its id in the results store, if the caller has one) started."""

    def on_cell_end(self, status: str, seconds: float, cell: str = "") -> None:
        """The cell finished with ``status`` (one of ``CELL_STATUSES``) after ``seconds``."""


@runtime_checkable
class RoundObserver(Protocol):
    """What an engine reports after every round of one run (one matrix cell)."""

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
        """Round ``round`` (1-based) took ``seconds``.

        ``sampled`` clients were asked, ``rejected`` of their updates failed the guard and the
        defense ``flagged`` some; ``benign_norms`` / ``malicious_norms`` are the L2 norms of
        the updates the server received (any float, NaN and Inf included); ``global_norm`` is
        the new global model's norm; ``metrics`` holds the utility metrics when this round was
        evaluated (empty otherwise); ``epsilon`` is the privacy spent so far, or None.
        """


class NullObserver:
    """Observes nothing: the default when monitoring is off, so callers need no ``if``."""

    def on_matrix_start(self, total: int, resumed: int) -> None:
        """Ignore the plan."""

    def on_cell_start(self, cell: str = "") -> None:
        """Ignore a cell's start."""

    def on_cell_end(self, status: str, seconds: float, cell: str = "") -> None:
        """Ignore a cell's end."""

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
        """Ignore a round."""


class FanOut:
    """Calls every observer in turn (e.g. Prometheus and a JSON-lines file); each is guarded."""

    def __init__(self, *observers: Any) -> None:
        self.observers = observers

    def on_matrix_start(self, total: int, resumed: int) -> None:
        """Pass the plan on."""
        for observer in self.observers:
            _call(observer, "on_matrix_start", total, resumed)

    def on_cell_start(self, cell: str = "") -> None:
        """Pass a cell's start on."""
        for observer in self.observers:
            _call(observer, "on_cell_start", cell)

    def on_cell_end(self, status: str, seconds: float, cell: str = "") -> None:
        """Pass a cell's end on."""
        for observer in self.observers:
            _call(observer, "on_cell_end", status, seconds, cell)

    def on_round(self, *args: Any, **kwargs: Any) -> None:
        """Pass a round on (same arguments as ``RoundObserver.on_round``)."""
        for observer in self.observers:
            _call(observer, "on_round", *args, **kwargs)


def _call(observer: Any, name: str, *args: Any, **kwargs: Any) -> None:
    """Call ``observer.name`` if it has one; an exception is logged, not raised."""
    method = getattr(observer, name, None)
    if method is None:
        return
    try:
        method(*args, **kwargs)
    except Exception as error:
        log.warning("monitoring: %s.%s failed: %s", type(observer).__name__, name, error)
