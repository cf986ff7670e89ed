"""Measure the classic findings of federated-learning security over several seeds (issue 12).

Five findings of the literature, each measured on the default scenario over
``--seeds`` (0 to 4 unless told); every run is a plain ``run_scenario`` with
``compare_clean=False``, and its reference is run explicitly:

(a) FedAvg falls to model replacement while main-task utility stays near
    clean (Bagdasaryan et al., AISTATS 2020): 10 % malicious.
(b) Krum falls to ALIE in the paper's setting (Baruch et al., NeurIPS 2019):
    n = 50 clients per round, 24 % malicious (the paper's m = 12 of 50), Krum
    told the scenario's 99 % bound on f and, separately, the expected 12.
(c) Norm clipping plus weak DP blunts the backdoor at a utility cost (Sun et
    al., 2019): model replacement at 10 % against ``norm_clip(max_norm=M)``
    and ``central_dp(max_norm=M, noise_multiplier=z)``, with z = sigma n / M so
    that the aggregate gets Sun et al.'s sigma = 0.025 per coordinate.
(d) FoolsGold catches identical Sybils (Fung et al., RAID 2020): 5 % Sybils,
    coordination 1.
(e) Coordinated Sybil promoters at 5 % lift ER@10 well above 0 under FedAvg.

A finding is reproduced when the thresholds below (and ``ER_REACHED`` and
``WELL_ABOVE_ZERO`` of ``attack_evidence.py``, which reads issue 3's same
words) hold in every seed.

    python scripts/findings.py                            # print
    python scripts/findings.py --docs docs/findings.md    # and rewrite its tables
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from attack_evidence import ER_REACHED, WELL_ABOVE_ZERO, _spread, rewrite
from fedarena.attacks.alie import alie_z
from fedarena.errors import SpecError
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario

MARKERS = ("<!-- findings:start -->", "<!-- findings:end -->")
# What the findings' words are taken to mean, stated here so the verdicts can be checked.
UTILITY_KEPT = 0.9  # (a) "utility near clean": final NDCG@10 >= 0.9 x the clean run's
CLEAR_DROP = 0.1  # (b) "Krum falls": NDCG@10 under ALIE <= (1 - 0.1) x Krum's without attack
BLUNTED = 0.05  # (c) "blunts the backdoor": highest ER@10 over the rounds <= 0.05
CAUGHT = 0.9  # (d) "catches": detection precision and recall both >= 0.9
# The papers' settings.
REPLACEMENT_FRACTION = 0.1
ALIE_FRACTION = 0.24  # Baruch et al.: m = 12 of n = 50
SYBIL_FRACTION = 0.05
NORM_BOUNDS = (5.0, 20.0)  # 5: defense_evidence.py's S; 20: above the median benign norm (~12)
SUN_SIGMA = 0.025  # Sun et al.'s weak DP: N(0, sigma^2) on each coordinate of the aggregate


@dataclass(frozen=True)
class Cell:
    """One scenario of the findings, less its seed."""

    attack: str
    fraction: float
    defense: str = "fedavg"
    assumed_f: str = "bound"


# A clean model replacement (no malicious shopper) trains as ``attack = none``
# on the very targets the attacked runs promote, so its ER@10 is the no-attack value.
CLEAN = Cell("model_replacement", 0.0)
REPLACED = Cell("model_replacement", REPLACEMENT_FRACTION)
IDENTICAL_SYBILS = "sybil(coordination=1.0)"
SYBILS = Cell("sybil", SYBIL_FRACTION)


def krum(attack: str, assumed_f: str) -> Cell:
    return Cell(attack, ALIE_FRACTION, "krum", assumed_f)


def defenses(clients_per_round: int) -> list[str]:
    """Norm clipping, then clipping plus weak DP (z S / n = sigma), for each bound S."""
    return [
        spec
        for bound in NORM_BOUNDS
        for spec in (
            f"norm_clip(max_norm={bound})",
            f"central_dp(max_norm={bound}, "
            f"noise_multiplier={SUN_SIGMA * clients_per_round / bound:g})",
        )
    ]


def cells(base: Scenario) -> list[Cell]:
    """Every cell a finding reads."""
    return [
        CLEAN,
        REPLACED,
        *(krum(a, f) for f in ("bound", "expected") for a in ("none", "alie")),
        *(
            Cell("model_replacement", fraction, spec)
            for spec in defenses(base.clients_per_round)
            for fraction in (0.0, REPLACEMENT_FRACTION)
        ),
        Cell(IDENTICAL_SYBILS, SYBIL_FRACTION, "foolsgold"),
        Cell(IDENTICAL_SYBILS, SYBIL_FRACTION),
        SYBILS,
    ]


@dataclass(frozen=True)
class Run:
    """The numbers kept from one run, or why it could not run."""

    final: dict[str, float | None] = field(default_factory=dict)
    er: list[float] = field(default_factory=list)
    ndcg: list[float] = field(default_factory=list)
    malicious_sampled: list[int] = field(default_factory=list)
    malicious_flagged: list[int] = field(default_factory=list)
    f: int = 0
    wall_s: float = 0.0
    error: str | None = None


def _run(scenario: Scenario) -> Run:
    try:
        result = run_scenario(scenario, compare_clean=False)
    except SpecError as err:  # a rule whose requirement the scenario's f cannot meet
        return Run(error=str(err))
    rounds = result["rounds"]
    return Run(
        final={k: v for k, v in result["final"].items() if v is None or isinstance(v, float)},
        er=[r.get("er@10", math.nan) for r in rounds],
        ndcg=[r["ndcg@10"] for r in rounds],
        malicious_sampled=[r["n_malicious_sampled"] for r in rounds],
        malicious_flagged=[r["flagged_malicious"] for r in rounds],
        f=result["threat_model"]["assumed_f_at_setup"],
        wall_s=result["timings"]["wall_s"],
    )


def measure(base: Scenario, seeds: list[int], workers: int) -> dict[tuple[Cell, int], Run]:
    """Every run the findings need, each once, keyed by (cell, seed)."""
    keys = list(dict.fromkeys((cell, seed) for cell in cells(base) for seed in seeds))
    scenarios = [
        replace(
            base,
            attack=cell.attack,
            malicious_fraction=cell.fraction,
            defense=cell.defense,
            assumed_f=cell.assumed_f,
            seed=seed,
            baselines=False,
        )
        for cell, seed in keys
    ]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return dict(zip(keys, pool.map(_run, scenarios), strict=True))


# Verdicts, seed by seed (a finding needs every seed); an undefined value (None) fails.
def at_least(values: list[float | None], threshold: float) -> list[bool]:
    return [v is not None and v >= threshold for v in values]


def at_most(values: list[float | None], threshold: float) -> list[bool]:
    return [v is not None and v <= threshold for v in values]


def fell(attacked: list[float], clean: list[float]) -> list[bool]:
    """(b): the attacked NDCG@10 is at least ``CLEAR_DROP`` below the clean one."""
    return [a <= (1 - CLEAR_DROP) * c for a, c in zip(attacked, clean, strict=True)]


@dataclass(frozen=True)
class Row:
    """One measure of a finding, whether its threshold ``holds`` in each seed (None: no
    threshold, or not measured); ``decides`` rows make the finding's verdict."""

    measure: str
    reference: str = ""
    measured: str = ""
    expected: str = ""
    holds: list[bool] | None = None
    decides: bool = False

    @property
    def verdict(self) -> bool | None:
        return None if self.holds is None else all(self.holds)

    @property
    def seeds(self) -> str:
        return "" if self.holds is None else f"{sum(self.holds)}/{len(self.holds)}"


@dataclass(frozen=True)
class Finding:
    key: str
    title: str
    paper: str
    rows: list[Row]

    @property
    def reproduced(self) -> bool | None:
        """All deciding rows hold; None when one of them could not be measured."""
        verdicts = [r.verdict for r in self.rows if r.decides]
        return None if None in verdicts else all(verdicts)


Of = Callable[[Cell], list[Run]]


def _show(values: list[float | None]) -> str:
    known = [v for v in values if v is not None and not math.isnan(v)]
    missing = len(values) - len(known)
    text = _spread(known) if known else "-"
    return f"{text}, undefined in {missing} seed(s)" if known and missing else text


def _final(runs: list[Run], key: str) -> list[float | None]:
    return [r.final.get(key) for r in runs]


def _compare(measure: str, key: str, reference: list[Run], measured: list[Run]) -> Row:
    """A row of ``final[key]``: the reference runs' and the measured ones'."""
    return Row(measure, _show(_final(reference, key)), _show(_final(measured, key)))


def replacement(of: Of, base: Scenario) -> Finding:
    clean, attacked = of(CLEAN), of(REPLACED)
    best = [max(r.er) for r in attacked]
    ratio = [a.final["ndcg@10"] / c.final["ndcg@10"] for a, c in zip(attacked, clean, strict=True)]
    peaks = [r.er.index(max(r.er)) for r in attacked]
    at_peak = [a.ndcg[t] / c.ndcg[t] for a, c, t in zip(attacked, clean, peaks, strict=True)]
    first = [next((t + 1 for t, e in enumerate(r.er) if e >= ER_REACHED), None) for r in attacked]
    return Finding(
        "a",
        f"FedAvg falls to model replacement, {REPLACEMENT_FRACTION:.0%} malicious",
        "Bagdasaryan et al., AISTATS 2020",
        [
            Row(
                "highest ER@10 over the rounds (reference: no attack)",
                _show([max(r.er) for r in clean]),
                _show(best),
                f">= {ER_REACHED}",
                at_least(best, ER_REACHED),
                decides=True,
            ),
            Row(
                f"first round with ER@10 >= {ER_REACHED}",
                measured=", ".join("never" if t is None else str(t) for t in first),
            ),
            _compare("ER@10 after the last round", "er@10", clean, attacked),
            _compare("NDCG@10 after the last round", "ndcg@10", clean, attacked),
            Row(
                "NDCG@10 after the last round / no attack's",
                measured=_show(ratio),
                expected=f">= {UTILITY_KEPT}",
                holds=at_least(ratio, UTILITY_KEPT),
                decides=True,
            ),
            Row("NDCG@10 / no attack's, at the round of highest ER@10", measured=_show(at_peak)),
        ],
    )


def _chose_malicious(run: Run) -> float:
    """Krum flags all but the update it chooses: it chose a malicious one when it left one
    malicious client unflagged."""
    rounds = [
        (m, k) for m, k in zip(run.malicious_sampled, run.malicious_flagged, strict=True) if m
    ]
    return sum(k < m for m, k in rounds) / max(1, len(rounds))


def _recall(run: Run, rounds: slice) -> float:
    sampled = sum(run.malicious_sampled[rounds])
    return sum(run.malicious_flagged[rounds]) / max(1, sampled)


def alie_against_krum(of: Of, base: Scenario) -> Finding:
    n, m = base.clients_per_round, round(ALIE_FRACTION * base.clients_per_round)
    rows = [
        Row(
            "FedAvg, no attack: NDCG@10 after the last round",
            measured=_show(_final(of(CLEAN), "ndcg@10")),
        )
    ]
    for assumed_f, decides in (("bound", False), ("expected", True)):
        clean, attacked = of(krum("none", assumed_f)), of(krum("alie", assumed_f))
        failed = next((r.error for r in clean + attacked if r.error), None)
        if failed:
            rows.append(
                Row(f"Krum, f = {assumed_f}", measured=f"not run: {failed}", decides=decides)
            )
            continue
        told = f"Krum told f = {clean[0].f} ({assumed_f})"
        before, after = _final(clean, "ndcg@10"), _final(attacked, "ndcg@10")
        drop = [1 - a / c for a, c in zip(after, before, strict=True)]
        rows += [
            Row(
                f"{told}: NDCG@10 after the last round (reference: Krum, no attack)",
                _show(before),
                _show(after),
                f"<= {1 - CLEAR_DROP:g} x reference",
                fell(after, before),
                decides,
            ),
            Row(f"{told}: relative drop of NDCG@10", measured=_show(drop)),
            Row(
                f"{told}: AUC of Krum's score for the ALIE clients",
                measured=_show(_final(attacked, "detection_auc")),
            ),
            Row(
                f"{told}: share of rounds with ALIE clients in which Krum chose one",
                measured=_show([_chose_malicious(r) for r in attacked]),
            ),
        ]
    return Finding(
        "b",
        f"Krum falls to ALIE, n = {n}, m = {m} ({ALIE_FRACTION:.0%}), z = {alie_z(n, m):.3f}",
        "Baruch et al., NeurIPS 2019",
        rows,
    )


def clipping_and_dp(of: Of, base: Scenario) -> Finding:
    fedavg_clean, fedavg_attacked = of(CLEAN), of(REPLACED)
    reference = _final(fedavg_clean, "ndcg@10")
    weak_dp_at_default = defenses(base.clients_per_round)[1]
    rows = []
    for spec in defenses(base.clients_per_round):
        clean = of(Cell("model_replacement", 0.0, spec))
        attacked = of(Cell("model_replacement", REPLACEMENT_FRACTION, spec))
        best = [max(r.er) for r in attacked]
        under_attack = _final(attacked, "ndcg@10")
        cost = [1 - a / c for a, c in zip(under_attack, reference, strict=True)]
        rows += [
            Row(
                f"`{spec}`: highest ER@10 over the rounds (reference: FedAvg, attacked)",
                _show([max(r.er) for r in fedavg_attacked]),
                _show(best),
                f"<= {BLUNTED}",
                at_most(best, BLUNTED),
                decides=spec == weak_dp_at_default,  # the finding's clipping plus weak DP
            ),
            _compare(
                "attacked: NDCG@10 after the last round (reference: FedAvg, no attack)",
                "ndcg@10",
                fedavg_clean,
                attacked,
            ),
            Row("attacked: utility cost, 1 - NDCG@10 / reference", measured=_show(cost)),
            _compare("no attack: NDCG@10 after the last round", "ndcg@10", fedavg_clean, clean),
        ]
        if "epsilon_shopper" in attacked[0].final:
            rows.append(
                Row(
                    "epsilon per shopper (delta = 1/shoppers)",
                    measured=_show(_final(attacked, "epsilon_shopper")),
                )
            )
    return Finding(
        "c",
        f"Norm clipping and weak DP (sigma = {SUN_SIGMA}) blunt model replacement, "
        f"{REPLACEMENT_FRACTION:.0%} malicious",
        "Sun et al., 2019",
        rows,
    )


def foolsgold(of: Of, base: Scenario) -> Finding:
    defended = of(Cell(IDENTICAL_SYBILS, SYBIL_FRACTION, "foolsgold"))
    undefended = of(Cell(IDENTICAL_SYBILS, SYBIL_FRACTION))
    third = max(1, base.rounds // 3)
    # A Sybil alone in its round has no twin to be similar to.
    alone = [
        sum(m for m in r.malicious_sampled if m == 1) / max(1, sum(r.malicious_sampled))
        for r in defended
    ]
    paired = [
        sum(k for m, k in zip(r.malicious_sampled, r.malicious_flagged, strict=True) if m > 1)
        / max(1, sum(m for m in r.malicious_sampled if m > 1))
        for r in defended
    ]
    return Finding(
        "d",
        f"FoolsGold catches identical Sybils, {SYBIL_FRACTION:.0%}",
        "Fung et al., RAID 2020",
        [
            *(
                Row(
                    f"detection {what}",
                    measured=_show(values),
                    expected=f">= {CAUGHT}",
                    holds=at_least(values, CAUGHT),
                    decides=True,
                )
                for what in ("precision", "recall")
                for values in [_final(defended, f"detection_{what}")]
            ),
            Row(
                "AUC of FoolsGold's suspicion (1 - weight)",
                measured=_show(_final(defended, "detection_auc")),
            ),
            Row("share of Sybil participations alone in their round", measured=_show(alone)),
            Row("recall among Sybils sampled with another", measured=_show(paired)),
            Row(
                f"recall in the first {third} rounds ; in the last {third}",
                measured=" ; ".join(
                    _show([_recall(r, part) for r in defended])
                    for part in (slice(0, third), slice(-third, None))
                ),
            ),
            _compare(
                "ER@10 after the last round (reference: FedAvg, same attack)",
                "er@10",
                undefended,
                defended,
            ),
            _compare(
                "NDCG@10 after the last round (reference: FedAvg, same attack)",
                "ndcg@10",
                undefended,
                defended,
            ),
        ],
    )


def sybil_promoters(of: Of, base: Scenario) -> Finding:
    clean, attacked = of(CLEAN), of(SYBILS)
    finals = _final(attacked, "er@10")
    return Finding(
        "e",
        f"Coordinated Sybil promoters lift ER@10 under FedAvg, {SYBIL_FRACTION:.0%}",
        "fake-user promotion (Fang et al. 2018; Rong et al. 2022)",
        [
            Row(
                "ER@10 after the last round (reference: no attack)",
                _show(_final(clean, "er@10")),
                _show(finals),
                f">= {WELL_ABOVE_ZERO}",
                at_least(finals, WELL_ABOVE_ZERO),
                decides=True,
            ),
            Row(
                "highest ER@10 over the rounds",
                _show([max(r.er) for r in clean]),
                _show([max(r.er) for r in attacked]),
            ),
            _compare(f"mean rank of the target (of {base.items})", "target_rank", clean, attacked),
        ],
    )


FINDINGS = (replacement, alie_against_krum, clipping_and_dp, foolsgold, sybil_promoters)


def findings(runs: dict[tuple[Cell, int], Run], base: Scenario, seeds: list[int]) -> list[Finding]:
    def of(cell: Cell) -> list[Run]:
        return [runs[(cell, seed)] for seed in seeds]

    return [finding(of, base) for finding in FINDINGS]


def _yes(verdict: bool | None) -> str:
    return {True: "yes", False: "no", None: "not run"}[verdict]


def summary_table(results: list[Finding]) -> list[str]:
    """One row per finding: its deciding measures and verdict."""
    lines = ["| finding | paper | measure | measured | expected | seeds holding | reproduced |"]
    lines.append("|---|---|---|---|---|---|---|")
    for f in results:
        deciding = [r for r in f.rows if r.decides]
        cols = [
            " ; ".join(getattr(r, c) for r in deciding)
            for c in ("measure", "measured", "expected", "seeds")
        ]
        lines.append(
            f"| ({f.key}) {f.title} | {f.paper} | {' | '.join(cols)} | {_yes(f.reproduced)} |"
        )
    return lines


def detail_table(finding: Finding) -> list[str]:
    lines = [
        "| measure | reference | measured | expected | seeds holding |",
        "|---|---|---|---|---|",
    ]
    for r in finding.rows:
        lines.append(f"| {r.measure} | {r.reference} | {r.measured} | {r.expected} | {r.seeds} |")
    return lines


def report(base: Scenario, seeds: list[int], workers: int, command: str) -> str:
    start = time.perf_counter()
    runs = measure(base, seeds, workers)
    elapsed = time.perf_counter() - start
    results = findings(runs, base, seeds)
    lines = [
        f"Scenario ({base.items:,} items, {base.shoppers} shoppers, "
        f"{base.clients_per_round} per round, {base.rounds} rounds), seeds "
        f"{', '.join(map(str, seeds))}: mean over seeds, range in brackets. A finding is "
        "reproduced when its thresholds hold in every seed.",
        "",
        *summary_table(results),
    ]
    for finding in results:
        lines += [
            "",
            f"**({finding.key}) {finding.title}** ({finding.paper})",
            "",
            *detail_table(finding),
        ]
    run_s = sum(r.wall_s for r in runs.values())
    lines += [
        "",
        f"{len(runs)} runs ({run_s:.0f} s of run time) in {elapsed:.0f} s wall time with "
        f"{workers} worker processes on {os.cpu_count()} CPUs: `{command}`.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--rounds", type=int, default=Scenario().rounds)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--docs", type=Path, help="rewrite the findings block of this markdown file"
    )
    args = parser.parse_args()
    command = " ".join(["python", "scripts/findings.py", *sys.argv[1:]])
    table = report(replace(Scenario(), rounds=args.rounds), args.seeds, args.workers, command)
    print(table)
    if args.docs is not None:
        rewrite(args.docs, MARKERS, table)


if __name__ == "__main__":
    main()
