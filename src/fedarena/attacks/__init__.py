"""Attacks: data poisoning, crafted updates and Sybil identities."""

from fedarena.attacks.base import ATTACKS, Attack, AttackContext, send

__all__ = ["ATTACKS", "Attack", "AttackContext", "send"]
