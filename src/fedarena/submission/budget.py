"""What a submitted defense's conformance checks are allowed: each check's limits and the
runtime budget of one ``aggregate`` call. Torch-free, so that ``fedarena --help`` can show
them without importing the checks."""

from __future__ import annotations

from fedarena.sandbox.limits import Limits

RUNTIME_BUDGET_S = 1.0  # CPU seconds per aggregate call at n=100, d=1e5 (checks.check_runtime)
CHECK_LIMITS = Limits(seconds=120.0, memory_mb=4096)
