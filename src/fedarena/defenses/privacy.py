"""Privacy spent, by Renyi DP (Mironov 2017) of the Gaussian mechanism without amplification.

A Gaussian mechanism adding N(0, (z D)^2 I) to a function of L2 sensitivity k D
has RDP  a k^2 / (2 z^2)  at every order a > 1; RDP adds up over mechanisms,
adaptively chosen ones included, so a record read by mechanisms of
sensitivities k_j D has spent  a (sum_j k_j^2) / (2 z^2), which Opacus's
``get_privacy_spent`` turns into epsilon at delta.

A conservative, valid bound: no amplification by subsampling or shuffling is
claimed. Opacus's subsampled-Gaussian analysis assumes Poisson sampling, while
the engine samples a fixed number of clients without replacement
(``fedarena.strategies.base.sample_uniform``) and cuts each client's shuffled
examples into a partition of batches (``fedarena.training.local.build_batches``).
That randomness, and the data sizes, are treated as public, so a record's
privacy composes only over the mechanisms that read it (a shopper's over the
rounds it took part in). Sensitivities are for the zero-out relation (a record
replaced by one that contributes nothing, the add/remove relation of Opacus);
replacing a record by an arbitrary other one doubles them.

Any set of orders gives a valid bound, a finer one only a slightly tighter
bound; this one keeps the integer orders and a single fractional one (1.5).
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from fedarena.options import is_number

if TYPE_CHECKING:
    from fedarena.defenses.base import AccountingSetting

ORDERS = [1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0, 24.0, 32.0]
ORDERS += [48.0, 64.0, 128.0, 256.0]


def gaussian_rdp(noise_multiplier: float, squared_sensitivity: float) -> np.ndarray:
    """RDP at each of ``ORDERS`` of Gaussian mechanisms of noise multiplier z whose squared
    sensitivities, in units of the noise's reference D, sum to ``squared_sensitivity``:
    a sum_j k_j^2 / (2 z^2).

    >>> float(gaussian_rdp(2.0, 3)[ORDERS.index(4.0)])  # 4 * 3 / (2 * 2^2)
    1.5
    """
    return np.asarray(ORDERS) * squared_sensitivity / (2 * noise_multiplier**2)


def epsilon_from_rdp(rdp: np.ndarray, delta: float) -> float:
    """The smallest epsilon at ``delta`` over the orders (Opacus's conversion)."""
    from opacus.accountants.analysis.rdp import get_privacy_spent

    with warnings.catch_warnings():
        # Opacus warns when the best order is at the end of the range: a looser, valid bound.
        warnings.simplefilter("ignore", UserWarning)
        epsilon, _ = get_privacy_spent(orders=ORDERS, rdp=rdp, delta=delta)
    return float(epsilon)


@lru_cache(maxsize=4096)
def gaussian_epsilon(noise_multiplier: float, squared_sensitivity: float, delta: float) -> float:
    """epsilon at ``delta`` of ``gaussian_rdp(noise_multiplier, squared_sensitivity)``
    (0 when nothing was released); shoppers of the same size and rounds share one call."""
    if squared_sensitivity == 0:
        return 0.0
    return epsilon_from_rdp(gaussian_rdp(noise_multiplier, squared_sensitivity), delta)


def delta_option(value: Any) -> float | str:
    """The ``delta`` option: ``"auto"`` (1 / shoppers, see ``run_delta``) or a number in (0, 1)."""
    if value == "auto" and isinstance(value, str):
        return value
    if not (is_number(value) and 0 < value < 1):
        raise ValueError(f"delta must be 'auto' or a number in (0, 1), got {value!r}")
    return float(value)


def run_delta(delta: float | str, setting: AccountingSetting) -> float:
    """The delta of a run: the option's number, or 1 / N for N shoppers when it is ``"auto"``."""
    if delta != "auto":
        return float(delta)
    shoppers = len(setting.population)
    if shoppers < 2:
        raise ValueError(
            f"delta='auto' is 1 / shoppers and needs 2 shoppers or more, got {shoppers}"
        )
    return 1.0 / shoppers


def privacy_spent(shopper: np.ndarray, example: np.ndarray, delta: float) -> dict[str, float]:
    """What every accountant's ``spent`` returns, from the epsilons of the shoppers who took
    part so far (none: all 0): the largest and the median at each level, and ``delta``."""

    def largest(e: np.ndarray) -> float:
        return float(e.max()) if len(e) else 0.0

    def median(e: np.ndarray) -> float:
        return float(np.median(e)) if len(e) else 0.0

    return {
        "epsilon_shopper": largest(shopper),
        "epsilon_shopper_median": median(shopper),
        "epsilon_example": largest(example),
        "epsilon_example_median": median(example),
        "delta": delta,
    }
