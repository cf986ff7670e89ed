"""How many malicious clients ``f`` a rule assumes, and how many clients it then needs.

``f`` is the rule's own option when given, else the scenario's assumption
(``RoundContext.n_malicious``, from ``round(malicious_fraction *
clients_per_round)``). A rule states its requirement once, as text and as a
predicate; it is checked when a scenario is set up (``create_defense`` knows
the number of clients per round) and again on every call, since screening may
leave fewer updates.
"""

from __future__ import annotations

from fedarena.defenses.base import name_of


class Tolerant:
    """Mixin of the rules that tolerate up to ``f`` malicious clients when ``requirement`` holds."""

    requirement = "n >= 1"
    f: int | None = None

    def tolerates(self, n: int, f: int) -> bool:
        """Whether ``n`` clients with ``f`` malicious ones meet ``requirement``."""
        return n >= 1

    def assumed_f(self, n: int, n_malicious: int) -> int:
        """The ``f`` this rule uses among ``n`` clients."""
        return n_malicious if self.f is None else self.f

    def check(self, n: int, n_malicious: int) -> int:
        """Return ``f``, or raise naming the unmet requirement."""
        f = self.assumed_f(n, n_malicious)
        if not self.tolerates(n, f):
            raise ValueError(f"{name_of(self)} needs {self.requirement}, got n={n}, f={f}")
        return f
