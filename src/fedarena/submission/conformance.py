"""Conformance of a submitted defense: every check in its own limited process, one line each.

``check_conformance("norm_trim.py:NormTrim")`` runs the checks of
``fedarena.submission.checks`` in order, each in a child process with a time
and memory limit (``fedarena.sandbox.process``): a defense that raises,
hangs, exhausts memory or kills its process fails the check with that reason
and never takes the caller down. When the interface check fails, the others
are not run: they would all fail the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fedarena.defenses.chain import DefenseSpec
from fedarena.sandbox.limits import Limits
from fedarena.sandbox.process import preload_in_children, run_limited
from fedarena.submission.checks import CHECKS, Verdict, run_check

preload_in_children("fedarena.submission.checks")

RUNTIME_BUDGET_S = 1.0
CHECK_LIMITS = Limits(seconds=120.0, memory_mb=4096)
PASS, FAIL, NOT_RUN = "pass", "FAIL", "not run"


@dataclass(frozen=True)
class CheckResult:
    """One check's status (pass, FAIL, not run), its one-line detail and how long it took."""

    name: str
    status: str
    detail: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "status": self.status,
            "detail": self.detail,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class ConformanceReport:
    """Every check's result for one defense spec, and the source files it was built from."""

    spec: str
    results: tuple[CheckResult, ...]
    sources: dict[str, str] = field(default_factory=dict)
    budget_s: float = RUNTIME_BUDGET_S

    @property
    def passed(self) -> bool:
        return all(r.status == PASS for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == FAIL]

    def as_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "passed": self.passed,
            "runtime_budget_s": self.budget_s,
            "checks": [r.as_dict() for r in self.results],
        }


def check_conformance(
    spec: DefenseSpec | str,
    limits: Limits = CHECK_LIMITS,
    budget_s: float = RUNTIME_BUDGET_S,
    on_result: Callable[[CheckResult], None] | None = None,
) -> ConformanceReport:
    """Run every check on ``spec`` (parsed here once) in its own limited process, in order."""
    spec = DefenseSpec.parse(spec)
    if not budget_s > 0:
        raise ValueError(f"the runtime budget must be > 0 seconds, got {budget_s}")
    results: list[CheckResult] = []
    sources: dict[str, str] = {}
    for name in CHECKS:
        if results and results[0].status != PASS:
            result = CheckResult(name, NOT_RUN, "the interface check failed", 0.0)
        else:
            outcome = run_limited(run_check, (name, spec, budget_s), limits, name="check")
            if outcome.status == "done":
                verdict: Verdict = outcome.result
                status = PASS if verdict.passed else FAIL
                result = CheckResult(name, status, verdict.detail, outcome.wall_s)
                sources |= verdict.sources
            else:
                result = CheckResult(name, FAIL, outcome.reason or "failed", outcome.wall_s)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return ConformanceReport(str(spec), tuple(results), sources, budget_s)
