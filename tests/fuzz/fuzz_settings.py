"""One hypothesis budget for the fuzz suite: derandomised (CI sees the same cases on every
run) and sized by ``FEDARENA_FUZZ_EXAMPLES`` (default 100 per test, under a minute in all;
a campaign sets thousands)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("FEDARENA_FUZZ_EXAMPLES", "100"))

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def one_line_error(stderr: str) -> bool:
    """What a refused input prints: exactly one line, ``fedarena: error: ...``."""
    lines = stderr.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("fedarena: error: ")
