"""Round and cell events as a stream: a sink interface, a JSON-lines file sink, observers.

Every event is one JSON object with ``schema`` (``fedarena.event/1``), ``kind``, ``time`` and
the kind's fields (docs/monitoring.md lists them). Non-finite numbers (a malicious client's
NaN norm) become ``null`` so that every line is valid JSON. The JSON-lines sink writes and
flushes one line per event; a Kafka sink would implement the same ``EventSink`` protocol as
an optional extra, where a broker is reachable (none is on the machines this was built on,
so none is shipped).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO, runtime_checkable

from fedarena.errors import FedarenaError, shown_path
from fedarena.monitoring.norms import NormSummary
from fedarena.monitoring.observers import check_status, guarded

SCHEMA = "fedarena.event/1"
KINDS = ("matrix_start", "cell_start", "cell_end", "round")


@runtime_checkable
class EventSink(Protocol):
    """Where events go: ``emit`` one event (a JSON-ready mapping), ``close`` at the end."""

    def emit(self, event: Mapping[str, Any]) -> None:
        """Deliver one event; may raise (the observers log it and go on)."""

    def close(self) -> None:
        """Flush and release whatever the sink holds."""


def event(kind: str, **fields: Any) -> dict[str, Any]:
    """An event of ``kind`` stamped with the schema id and the Unix time in seconds.

    >>> sorted(event("cell_start", cell="a"))
    ['cell', 'kind', 'schema', 'time']
    """
    if kind not in KINDS:
        raise ValueError(f"event kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return {"schema": SCHEMA, "kind": kind, "time": time.time(), **fields}


def _finite(value: Any) -> Any:
    """``value`` with every NaN/Inf float replaced by None, through dicts and lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class JsonLinesSink:
    """Appends one JSON object per line to ``path`` and flushes it, so ``tail -f`` sees it.

    Opened at construction: a path that cannot be written is a ``FedarenaError`` naming it,
    before the run starts. Thread-safe; lines from several processes appending to one file
    do not interleave (each line is one ``write`` of an ``O_APPEND`` file).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._file: TextIO = self.path.open("a", encoding="utf-8", buffering=1)
        except OSError as error:
            raise FedarenaError(
                f"events file {shown_path(self.path)}: cannot open for writing ({error.strerror})"
            ) from None

    def emit(self, event: Mapping[str, Any]) -> None:
        """Write ``event`` as one line and flush."""
        line = json.dumps(_finite(event), allow_nan=False, separators=(",", ":")) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        """Close the file (further ``emit`` calls raise, and observers log that)."""
        with self._lock:
            self._file.close()

    def __enter__(self) -> JsonLinesSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventMatrixObserver:
    """A ``MatrixObserver`` that emits ``matrix_start``, ``cell_start`` and ``cell_end``."""

    def __init__(self, sink: EventSink, matrix: str = "") -> None:
        self.sink = sink
        self.matrix = matrix

    @guarded
    def on_matrix_start(self, total: int, resumed: int) -> None:
        """Emit the plan."""
        self.sink.emit(event("matrix_start", matrix=self.matrix, total=total, resumed=resumed))

    @guarded
    def on_cell_start(self, cell: str = "") -> None:
        """Emit a cell's start."""
        self.sink.emit(event("cell_start", matrix=self.matrix, cell=cell))

    @guarded
    def on_cell_end(self, status: str, seconds: float, cell: str = "") -> None:
        """Emit a cell's end with its status and duration."""
        check_status(status)
        self.sink.emit(
            event("cell_end", matrix=self.matrix, cell=cell, status=status, seconds=seconds)
        )


class EventRoundObserver:
    """A ``RoundObserver`` that emits one ``round`` event per round of the run ``cell``."""

    def __init__(self, sink: EventSink, cell: str = "") -> None:
        self.sink = sink
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
        """Emit the round, with the norms summarised (count, NaN/Inf count, quantiles)."""
        self.sink.emit(
            event(
                "round",
                cell=self.cell,
                round=round,
                seconds=seconds,
                sampled=sampled,
                rejected=rejected,
                flagged=flagged,
                benign_norm=NormSummary.of(benign_norms).as_dict(),
                malicious_norm=NormSummary.of(malicious_norms).as_dict(),
                global_norm=global_norm,
                metrics=dict(metrics),
                epsilon=epsilon,
            )
        )
