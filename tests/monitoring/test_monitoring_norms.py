"""Update norms summarised: quantiles of the finite ones, NaN/Inf counted apart."""

from __future__ import annotations

import math

import pytest

from fedarena.monitoring.norms import NormSummary


def test_quantiles_interpolate_between_sorted_finite_norms() -> None:
    summary = NormSummary.of([4.0, 1.0, 3.0, 2.0])
    assert summary.quantile(0.0) == 1.0
    assert summary.quantile(1.0) == 4.0
    assert summary.quantile(0.5) == pytest.approx(2.5)
    assert summary.quantile(0.9) == pytest.approx(3.7)


def test_nan_and_inf_are_counted_not_summarised() -> None:
    summary = NormSummary.of([math.nan, 2.0, math.inf, -math.inf])
    assert summary.finite == (2.0,)
    assert summary.nonfinite == 3
    assert summary.as_dict() == {
        "count": 1,
        "nonfinite": 3,
        "min": 2.0,
        "p50": 2.0,
        "p90": 2.0,
        "max": 2.0,
    }


def test_no_finite_norm_has_no_quantile() -> None:
    assert NormSummary.of([]).quantile(0.5) is None
    assert NormSummary.of([math.nan]).as_dict()["max"] is None


def test_a_quantile_outside_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError, match=r"quantile must be in \[0, 1\], got 1.5"):
        NormSummary.of([1.0]).quantile(1.5)
