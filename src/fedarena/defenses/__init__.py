"""Defenses: robust aggregators, composable pre-aggregators and differential privacy.

``create_defense("norm_clip(max_norm=1.0) > trimmed_mean(beta=0.1)")`` builds a
chain (``fedarena.defenses.chain``); a single name builds that defense.
"""

from typing import Any

from fedarena.defenses.base import (
    DEFENSES,
    AccountingSetting,
    Aggregate,
    Aggregator,
    ClientSide,
    Defense,
    HasRequirement,
    Preaggregated,
    PreAggregator,
    PrivacyAccountant,
    PrivacyAccounting,
    RoundContext,
    UsesRootSet,
)
from fedarena.defenses.chain import Chain, DefenseSpec, split_chain
from fedarena.errors import SpecError


def create_defense(spec: str | DefenseSpec, **context: Any) -> Defense:
    """Instantiate a defense or a chain of them.

    ``context`` holds scenario values (``n_malicious``, ``n_clients``, ``seed``)
    that a factory receives when its signature names them. With ``n_clients``
    given, each link's requirement (Krum's n > 2f + 2, ...) is checked now,
    against the assumed ``n_malicious``, so that a hopeless scenario fails
    before it runs.
    """
    spec = DefenseSpec.parse(spec)
    links = [DEFENSES.create(link, **context) for link in spec.links]
    defense = links[0] if len(links) == 1 else Chain(links, str(spec))
    if context.get("n_clients") is not None and isinstance(defense, HasRequirement):
        try:
            defense.check(context["n_clients"], context.get("n_malicious") or 0)
        except (ValueError, TypeError) as err:  # TypeError: a plugin's check of another shape
            raise SpecError(f"defense {str(spec)!r}: {err}") from None
    return defense


__all__ = [
    "DEFENSES",
    "AccountingSetting",
    "Aggregate",
    "Aggregator",
    "Chain",
    "ClientSide",
    "Defense",
    "DefenseSpec",
    "HasRequirement",
    "PreAggregator",
    "Preaggregated",
    "PrivacyAccountant",
    "PrivacyAccounting",
    "RoundContext",
    "UsesRootSet",
    "create_defense",
    "split_chain",
]
