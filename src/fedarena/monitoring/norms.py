"""Update norms as a few numbers: finite count, quantiles, and how many were not finite.

A malicious client may send NaN or Inf; they must neither poison a Prometheus sum nor
produce invalid JSON, so they are counted apart and left out of the quantiles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

#: The quantiles reported per round, in the order Prometheus and the events report them.
QUANTILES = (0.0, 0.5, 0.9, 1.0)


@dataclass(frozen=True)
class NormSummary:
    """The finite norms of one round and one role, summarised."""

    finite: tuple[float, ...]
    nonfinite: int

    @classmethod
    def of(cls, norms: Iterable[float]) -> NormSummary:
        """Split ``norms`` into finite values (sorted) and a count of NaN/Inf."""
        values = [float(x) for x in norms]
        finite = sorted(x for x in values if math.isfinite(x))
        return cls(tuple(finite), len(values) - len(finite))

    def quantile(self, q: float) -> float | None:
        """Linear-interpolated quantile of the finite norms (None when there are none).

        >>> NormSummary.of([1.0, 2.0, 3.0, float("nan")]).quantile(0.5)
        2.0
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be in [0, 1], got {q}")
        if not self.finite:
            return None
        position = q * (len(self.finite) - 1)
        low = math.floor(position)
        high = min(low + 1, len(self.finite) - 1)
        return self.finite[low] + (self.finite[high] - self.finite[low]) * (position - low)

    def as_dict(self) -> dict[str, float | int | None]:
        """The event form: count, nonfinite, min, p50, p90, max."""
        low, median, p90, high = (self.quantile(q) for q in QUANTILES)
        return {
            "count": len(self.finite),
            "nonfinite": self.nonfinite,
            "min": low,
            "p50": median,
            "p90": p90,
            "max": high,
        }
