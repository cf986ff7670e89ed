"""Scenario specs and single runs; scenario files, cells, the matrix runner, the results store."""
