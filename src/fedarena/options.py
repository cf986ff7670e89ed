"""Checks of component options (attacks, defenses, strategies, compressors), each raising one
sentence that names the option.

The registry prefixes the component's kind and name: ``defense 'krum': f must be ...``.
Before any component sees its options, the registry refuses every number in
them that is not finite or whose magnitude exceeds ``MAX_MAGNITUDE``
(``out_of_range``), so that no value a user can type overflows the float32
model or sizes a loop for hours, whatever the component checks itself.
"""

from __future__ import annotations

import math
from typing import Any

MAX_MAGNITUDE = 1e12


def is_number(value: Any) -> bool:
    """An int or float, booleans excluded."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def out_of_range(value: Any) -> float | None:
    """The first number in ``value`` (a number or a list of them) that is not finite or
    exceeds ``MAX_MAGNITUDE`` in magnitude, else None."""
    if isinstance(value, list | tuple):
        found = (out_of_range(v) for v in value)
        return next((v for v in found if v is not None), None)
    if is_number(value) and not (math.isfinite(value) and abs(value) <= MAX_MAGNITUDE):
        return value
    return None


def real(option: str, value: Any) -> float:
    """``value`` as a float if it is a number other than NaN (booleans excluded)."""
    if not is_number(value) or math.isnan(value):
        raise ValueError(f"{option} must be a number, got {value!r}")
    return float(value)


def positive(option: str, value: Any) -> float:
    """``value`` as a float > 0."""
    if not (is_number(value) and value > 0):
        raise ValueError(f"{option} must be > 0, got {value!r}")
    return float(value)


def non_negative(option: str, value: Any) -> float:
    """``value`` as a float >= 0."""
    if not (is_number(value) and value >= 0):
        raise ValueError(f"{option} must be >= 0, got {value!r}")
    return float(value)


def integer(option: str, value: Any, low: int) -> int:
    """``value`` as an integer >= low."""
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
        raise ValueError(f"{option} must be an integer >= {low}, got {value!r}")
    return value


def assumed_malicious(value: Any) -> int | None:
    """An explicit ``f``: a non-negative integer, or None to take the scenario's."""
    if value is not None:
        integer("f", value, 0)
    return value


def probability(option: str, value: Any) -> float:
    """``value`` as a float in (0, 1)."""
    if not (is_number(value) and 0 < value < 1):
        raise ValueError(f"{option} must be in (0, 1), got {value!r}")
    return float(value)


def flag(option: str, value: Any) -> bool:
    """``value`` as a boolean."""
    if not isinstance(value, bool):
        raise ValueError(f"{option} must be true or false, got {value!r}")
    return value
