"""Strategies: client sampling, local options (FedProx) and server steps (FedAvg, FedAvg+)."""

from fedarena.strategies.base import STRATEGIES, Strategy

__all__ = ["STRATEGIES", "Strategy"]
