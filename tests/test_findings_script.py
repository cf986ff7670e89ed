"""scripts/findings.py: one summary row per finding, verdicts read from the stated thresholds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import findings
from findings import (
    BLUNTED,
    CAUGHT,
    CLEAN,
    CLEAR_DROP,
    ER_REACHED,
    REPLACED,
    UTILITY_KEPT,
    Finding,
    Row,
    Run,
    at_least,
    at_most,
    fell,
)
from tiny import TINY


@pytest.fixture(scope="module")
def tiny_findings() -> list[Finding]:
    runs = findings.measure(TINY, seeds=[0], workers=2)
    return findings.findings(runs, TINY, [0])


def test_the_summary_has_one_row_per_finding_with_its_verdict(tiny_findings) -> None:
    rows = findings.summary_table(tiny_findings)[2:]
    assert [row.split(")")[0] for row in rows] == [f"| ({k}" for k in "abcde"]
    for row, finding in zip(rows, tiny_findings, strict=True):
        assert row.endswith(f"| {findings._yes(finding.reproduced)} |")
        deciding = [r.verdict for r in finding.rows if r.decides]
        assert deciding and finding.reproduced == all(deciding)


def test_a_krum_that_cannot_run_at_the_bound_is_reported_not_run(tiny_findings) -> None:
    # 60 shoppers, 10 per round, 24 % malicious: the bound f = 5 breaks Krum's n > 2f + 2.
    alie = tiny_findings[1]
    assert any(r.measured.startswith("not run: defense 'krum'") for r in alie.rows)
    assert any("f = 2 (expected)" in r.measure for r in alie.rows if r.decides)


def test_verdicts_are_read_seed_by_seed_from_the_stated_thresholds() -> None:
    assert at_least([ER_REACHED, 1.0, ER_REACHED - 1e-9], ER_REACHED) == [True, True, False]
    assert at_least([CAUGHT, None], CAUGHT) == [True, False]
    assert at_most([0.0, BLUNTED, BLUNTED + 1e-9], BLUNTED) == [True, True, False]
    assert fell([(1 - CLEAR_DROP) * 0.2, (1 - CLEAR_DROP / 2) * 0.2], [0.2, 0.2]) == [True, False]
    row = Row("m", holds=at_least([1.0, 1.0, 0.0], ER_REACHED))
    assert (row.verdict, row.seeds) == (False, "2/3")


def _replacement(best_er: float, ndcg_ratio: float) -> Finding:
    clean = Run(final={"er@10": 0.0, "ndcg@10": 0.2}, er=[0.0, 0.0], ndcg=[0.2, 0.2])
    attacked = Run(
        final={"er@10": best_er, "ndcg@10": 0.2 * ndcg_ratio},
        er=[0.0, best_er],
        ndcg=[0.2, 0.2 * ndcg_ratio],
    )
    return findings.replacement({CLEAN: [clean], REPLACED: [attacked]}.get, TINY)


def test_model_replacement_is_reproduced_only_with_both_success_and_utility() -> None:
    assert _replacement(ER_REACHED, UTILITY_KEPT).reproduced
    assert not _replacement(ER_REACHED - 0.01, 1.0).reproduced
    assert not _replacement(1.0, UTILITY_KEPT - 0.01).reproduced


def test_an_unmeasured_deciding_row_leaves_the_finding_not_run() -> None:
    finding = Finding("x", "t", "p", [Row("m", decides=True), Row("n", holds=[True])])
    assert finding.reproduced is None
    assert findings._yes(finding.reproduced) == "not run"
