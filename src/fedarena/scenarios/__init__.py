"""Scenario specs and single runs (matrix runner and results store to come)."""
