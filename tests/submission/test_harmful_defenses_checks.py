"""Harm that raises nothing fails a check: inputs changed in place, absurd aggregates."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedarena.submission.checks import ABSURD_FACTOR, CHECKS, run_check

HARMFUL = Path(__file__).with_name("harmful_defenses.py")


def failures(spec: str) -> dict[str, str]:
    verdicts = {name: run_check(name, spec, 5.0) for name in CHECKS if name != "runtime"}
    return {name: v.detail for name, v in verdicts.items() if not v.passed}


@pytest.mark.parametrize(
    "name, changed",
    [("PoisonsTheModel", "ctx.global_params"), ("SortsInPlace", "updates")],
)
def test_a_defense_that_changes_its_inputs_fails_the_interface_check(name, changed):
    found = failures(f"{HARMFUL}:{name}")
    assert found["interface"].startswith(f"aggregate changed its input {changed} in place")


def test_an_absurd_aggregate_fails_the_output_check():
    found = failures(f"{HARMFUL}:Huge")
    assert (
        f"over {ABSURD_FACTOR:g} times the largest input update's"
        in found["output shape and dtype"]
    )
