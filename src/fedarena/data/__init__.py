"""Catalogs (built-in generator and Amazon loader) and the simulated shoppers."""
