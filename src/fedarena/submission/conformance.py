"""Conformance of a submitted defense: every check in its own limited process, one line each.

``check_conformance("norm_trim.py:NormTrim")`` runs the checks of
``fedarena.submission.checks`` in order, each in a child process with a time
and memory limit (``fedarena.sandbox.process``): a defense that raises,
hangs, exhausts memory or kills its process fails the check with that reason
and never takes the caller down. When the interface check fails, the others
are not run: they would all fail the same way.

The checks run in one bubblewrap jail (``fedarena.sandbox.bwrap``): one fresh
interpreter, which imports torch and the checks but never the defense, forks
a limited child per check (so each check starts clean, as from the fork
server) and sends each result as it comes. Where bubblewrap is absent, each
check is forked from the fork server instead, after a one-line notice.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from fedarena.defenses.chain import DefenseSpec
from fedarena.sandbox import bwrap
from fedarena.sandbox.launcher import JailedChild
from fedarena.sandbox.limits import Interim, Limits, Outcome
from fedarena.sandbox.messages import allow_message_type
from fedarena.sandbox.process import EXIT_GRACE_S, preload_in_children, run_limited, wait_outcome
from fedarena.submission.budget import CHECK_LIMITS, RUNTIME_BUDGET_S
from fedarena.submission.checks import CHECKS, Verdict, run_check

preload_in_children("fedarena.submission.checks")

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


allow_message_type(CheckResult)
allow_message_type(Verdict)
Report = Callable[[CheckResult, dict[str, str]], None]


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


def _run_checks(run: Callable[[str], Outcome], report: Report) -> None:
    """Every check in order through ``run`` (one limited child each), each result reported
    with the sources it found; after a failed interface check, the others are not run."""
    interface: CheckResult | None = None
    for name in CHECKS:
        if interface is not None and interface.status != PASS:
            report(CheckResult(name, NOT_RUN, "the interface check failed", 0.0), {})
            continue
        outcome = run(name)
        sources: dict[str, str] = {}
        if outcome.status == "done" and isinstance(outcome.result, Verdict):
            verdict = outcome.result
            status = PASS if verdict.passed else FAIL
            result = CheckResult(name, status, verdict.detail, outcome.wall_s)
            sources = verdict.sources
        else:
            result = CheckResult(name, FAIL, outcome.reason or "failed", outcome.wall_s)
        interface = interface or result
        report(result, sources)


def _checks_in_jail(
    connection: Connection, spec: DefenseSpec, limits: Limits, budget_s: float
) -> None:
    """Inside the jail: each check in a child forked from here, each result sent on
    ``connection`` as an ``Interim`` as soon as it is known, then a ``done`` outcome."""
    fork = multiprocessing.get_context("fork")

    def run(name: str) -> Outcome:
        return run_limited(run_check, (name, spec, budget_s), limits, "check", fork)

    def report(result: CheckResult, sources: dict[str, str]) -> None:
        connection.send(Interim({"result": result, "sources": sources}))

    _run_checks(run, report)
    connection.send(Outcome("done", 0.0))


def _jailed(spec: DefenseSpec, limits: Limits, budget_s: float, report: Report) -> None:
    """The checks in one jail; if the jail itself dies or overruns, the check it was running
    fails with that reason and the rest are not run."""
    seen: list[str] = []

    def relay(message: Interim) -> None:
        result, sources = message.values.get("result"), message.values.get("sources")
        if isinstance(result, CheckResult) and result.name == list(CHECKS)[len(seen)]:
            seen.append(result.name)
            report(result, sources if isinstance(sources, dict) else {})

    targets = [link.name.rpartition(":")[0] for link in spec.links if ":" in link.name]
    child = JailedChild(_checks_in_jail, (spec, limits, budget_s), bwrap.code_folders(targets))
    overall = len(CHECKS) * (limits.seconds + 2 * EXIT_GRACE_S)
    outcome = wait_outcome(child, Limits(overall, limits.memory_mb), relay)
    if outcome.status == "done" and len(seen) == len(CHECKS):
        return
    reason = outcome.reason or "the sandbox ended before every check was run"
    for i, name in enumerate(list(CHECKS)[len(seen) :]):
        if i == 0:
            report(CheckResult(name, FAIL, reason, outcome.wall_s), {})
        else:
            report(CheckResult(name, NOT_RUN, "the sandbox of the checks ended", 0.0), {})


def check_conformance(
    spec: DefenseSpec | str,
    limits: Limits = CHECK_LIMITS,
    budget_s: float = RUNTIME_BUDGET_S,
    on_result: Callable[[CheckResult], None] | None = None,
) -> ConformanceReport:
    """Run every check on ``spec`` (parsed here once) in its own limited process, in order:
    jailed when bubblewrap is here, else forked from the fork server."""
    spec = DefenseSpec.parse(spec)
    if not budget_s > 0:
        raise ValueError(f"the runtime budget must be > 0 seconds, got {budget_s}")
    results: list[CheckResult] = []
    sources: dict[str, str] = {}

    def report(result: CheckResult, found: dict[str, str]) -> None:
        results.append(result)
        sources.update(found)
        if on_result is not None:
            on_result(result)

    if bwrap.available():
        _jailed(spec, limits, budget_s, report)
    else:

        def run(name: str) -> Outcome:
            return run_limited(run_check, (name, spec, budget_s), limits, name="check")

        _run_checks(run, report)
    return ConformanceReport(str(spec), tuple(results), sources, budget_s)
