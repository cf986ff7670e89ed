"""Defenses: robust aggregators, composable pre-aggregators and differential privacy."""

from typing import Any

from fedarena.defenses.base import DEFENSES, Aggregate, Defense, RoundContext


def create_defense(spec: str, **context: Any) -> Defense:
    """Instantiate a defense spec."""
    return DEFENSES.create(spec, **context)


__all__ = ["DEFENSES", "Aggregate", "Defense", "RoundContext", "create_defense"]
