"""Leaderboard: score cells, rank defenses by their worst case, render md/json/csv/html/png."""

from fedarena.leaderboard.build import build_leaderboard
from fedarena.leaderboard.scoring import METHOD

__all__ = ["METHOD", "build_leaderboard"]
