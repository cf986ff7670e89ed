"""What a defense is told about ``f``, the number of malicious clients among a round's updates.

A robust rule is only as good as the ``f`` it is given. The sampled clients of a
round hold a random number X of malicious ones: with M malicious among N
shoppers and n sampled uniformly without replacement (every built-in
strategy), X is hypergeometric(N, M, n). Telling the rule the expected value
``round(M n / N)`` hands it fewer attackers than arrive in about 40 % of rounds;
fedarena's default is a bound instead. The scenario field ``assumed_f`` is one of:

- ``bound`` (default): the smallest f with P(X > f) <= 1 % (``BOUND_LEVEL``),
  computed exactly from the hypergeometric law;
- ``expected``: ``round(M n / N)``, the expected count (fedarena before 0.3);
- ``oracle``: the true number of malicious clients of each round, an upper-bound
  study of what the rule could do if it knew;
- an integer f >= 0, the same every round.

A rule given its own ``f`` option (``krum(f=3)``) uses that instead. Rejected
malformed updates count against f in every mode, as inside the defenses.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import comb

from fedarena.errors import SpecError

MODES = ("bound", "expected", "oracle")
BOUND_LEVEL = Fraction(1, 100)


def parse_assumed_f(value: object) -> str | int:
    """``value`` as a mode name or an integer f >= 0; ``SpecError`` naming the field if not."""
    if isinstance(value, str) and value in MODES:
        return value
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
        return value
    raise SpecError(
        f"assumed_f must be one of {', '.join(MODES)} or an integer >= 0, got {value!r}"
    )


def tail_bound(n_shoppers: int, n_malicious: int, per_round: int, level: Fraction) -> int:
    """The smallest f with P(X > f) <= ``level``, X ~ hypergeometric(N, M, n), exactly.

    >>> tail_bound(500, 100, 50, Fraction(1, 100))
    17
    """
    total = comb(n_shoppers, per_round)
    upper = min(n_malicious, per_round)
    tail = Fraction(0)
    for f in range(upper, -1, -1):  # P(X > f) grows as f falls
        tail += Fraction(comb(n_malicious, f) * comb(n_shoppers - n_malicious, per_round - f), 1)
        if tail / total > level:
            return f
    return 0


@dataclass(frozen=True)
class AssumedF:
    """The f a defense is given each round, from the scenario's ``assumed_f`` and its world."""

    mode: str | int
    fixed: int

    @classmethod
    def of(cls, mode: str | int, n_shoppers: int, n_malicious: int, per_round: int) -> AssumedF:
        """The assumption ``mode`` for M = ``n_malicious`` of N shoppers, n per round."""
        if mode == "expected":
            fixed = round(n_malicious * per_round / n_shoppers)
        elif mode in ("bound", "oracle"):  # oracle: the bound stands for it at set-up checks
            fixed = tail_bound(n_shoppers, n_malicious, per_round, BOUND_LEVEL)
        else:
            fixed = int(mode)
        return cls(mode, fixed)

    def for_round(self, n_malicious_sampled: int) -> int:
        """f for a round with ``n_malicious_sampled`` malicious clients among its updates."""
        return n_malicious_sampled if self.mode == "oracle" else self.fixed
