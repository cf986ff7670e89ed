"""Submitting a defense: conformance checks in limited processes, then its matrix cells and a
leaderboard entry (``fedarena submit``; docs/submitting-a-defense.md)."""
