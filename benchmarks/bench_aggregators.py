"""Speed of fedarena's aggregators beside byzfl's and Flower's on the same inputs.

    .venv/bin/pytest benchmarks/bench_aggregators.py --benchmark-enable
    .venv/bin/pytest benchmarks/bench_aggregators.py --benchmark-enable -k "krum and n50-d100000"

Each rule runs at n in {20, 50, 100} clients, d in {1e4, 1e5} coordinates,
f = n / 5, on one thread. References: byzfl (given torch and NumPy input,
each timed), Flower's ``flwr.server.strategy.aggregate`` functions (given the
list of arrays it takes; building that list is not timed). byzfl's ``Clipping``
clips its input in place, so it gets a fresh copy per call, untimed. At the
end a table gives each rule's best time and its ratio to the fastest
reference (goal <= 1.0). Rules without a reference are timed alone. With
``FEDARENA_SPEED_DOC=docs/defenses.md`` the table also replaces the one
between that file's speed markers. Not part of the default ``pytest`` run
(``testpaths = ["tests"]``).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from flwr.server.strategy import aggregate as flower

from fedarena.defenses import RoundContext, create_defense
from fedarena.oracles import import_byzfl

torch.set_num_threads(1)

SIZES = [(n, d) for n in (20, 50, 100) for d in (10_000, 100_000)]
RULES = [
    "krum",
    "multi_krum",
    "median",
    "trimmed_mean",
    "geometric_median",
    "bulyan",
    "centered_clipping",
    "norm_clip",
    "nnm",
    "bucketing",
    "fedavg",
    "foolsgold",
    "fltrust",
    "flame",
    "central_dp",
]
BEST: dict[tuple[str, int, int], dict[str, float]] = defaultdict(dict)
DOC_VARIABLE = "FEDARENA_SPEED_DOC"  # a Markdown file whose speed table to rewrite
START, END = "<!-- speed:start -->", "<!-- speed:end -->"


BYZFL = import_byzfl()


def _inputs(n: int, d: int):
    g = torch.Generator().manual_seed(n * d)
    x = torch.randn(n, d, generator=g) * (torch.rand(n, 1, generator=g) + 0.5)
    weights = torch.randint(20, 80, (n,), generator=g).float()
    return x, weights


def _ours(rule: str, x: torch.Tensor, weights: torch.Tensor, f: int) -> Callable[[], object]:
    n = len(x)
    bound = float(x.norm(dim=1).median())
    specs = {
        "krum": f"krum(f={f})",
        "multi_krum": f"multi_krum(f={f}, m={n - f - 1})",
        "trimmed_mean": f"trimmed_mean(f={f})",
        "bulyan": f"bulyan(f={f})",
        "centered_clipping": f"centered_clipping(tau={bound})",
        "norm_clip": f"norm_clip(max_norm={bound})",
        "nnm": f"nnm(f={f})",
        "bucketing": "bucketing(s=2)",
    }
    defense = create_defense(specs.get(rule, rule))
    ctx = RoundContext.for_updates(x, n_malicious=f)
    if rule == "fltrust":
        reference = x[: n // 2].mean(dim=0)
        ctx = dataclasses.replace(ctx, server_update=lambda: reference)
    if hasattr(defense, "preaggregate"):
        return lambda: defense.preaggregate(x, weights, ctx)
    return lambda: defense.aggregate(x, weights, ctx)


def _references(rule: str, x: torch.Tensor, weights: torch.Tensor, f: int) -> dict[str, Callable]:
    """Each reference on the same inputs, with the same semantics where they exist.

    byzfl's Krum scores over n - f - 1 neighbours (the paper: n - f - 2), so it
    gets f + 1; its Multi-Krum then keeps n - f - 1, as ours is told to.
    """
    n = len(x)
    bound = float(x.norm(dim=1).median())
    array = x.numpy()
    results = [([row], int(w)) for row, w in zip(array, weights.tolist(), strict=True)]
    out: dict[str, Callable] = {}
    if BYZFL is not None:
        byz = {
            "krum": BYZFL.Krum(f + 1),
            "multi_krum": BYZFL.MultiKrum(f + 1),
            "median": BYZFL.Median(),
            "trimmed_mean": BYZFL.TrMean(f),
            "geometric_median": BYZFL.GeometricMedian(),
            "centered_clipping": BYZFL.CenteredClipping(tau=bound),
            "nnm": BYZFL.NNM(f),
            "bucketing": BYZFL.Bucketing(2),
            "fedavg": BYZFL.Average(),
        }.get(rule)
        if byz is not None:
            out["byzfl (torch)"] = lambda: byz(x)
            out["byzfl (numpy)"] = lambda: byz(array)
        if rule == "norm_clip":
            out["byzfl (torch)"] = BYZFL.Clipping(bound)
            out["byzfl (numpy)"] = BYZFL.Clipping(bound)
    flower_rules = {
        "krum": lambda: flower.aggregate_krum(results, f, 0),
        "multi_krum": lambda: flower.aggregate_krum(results, f, n - f),
        "median": lambda: flower.aggregate_median(results),
        "trimmed_mean": lambda: flower.aggregate_trimmed_avg(results, f / n),
        "bulyan": lambda: flower.aggregate_bulyan(
            list(results), f, flower.aggregate_krum, to_keep=0
        ),
        "fedavg": lambda: flower.aggregate(results),
    }
    if rule in flower_rules:
        out["flower"] = flower_rules[rule]
    return out


def _copy_argument(rule: str, implementation: str, x: torch.Tensor):
    """Fresh input per call for byzfl's in-place clipping (untimed)."""
    if rule == "norm_clip" and implementation.startswith("byzfl"):
        source = x if "torch" in implementation else x.numpy()
        return lambda: ((source.clone() if "torch" in implementation else source.copy(),), {})
    return None


@pytest.fixture(scope="module", autouse=True)
def ratio_table(request):
    yield
    if not BEST:
        return
    lines = ["", "best time (ms) and ratio to the fastest of byzfl and Flower (goal <= 1.0)"]
    lines.append(f"{'rule':<18}{'n':>5}{'d':>8}{'fedarena':>11}{'reference':>11}  ratio  fastest")
    for (rule, n, d), times in sorted(BEST.items()):
        ours = times.get("fedarena")
        others = {k: v for k, v in times.items() if k != "fedarena"}
        if ours is None:
            continue
        if others:
            fastest = min(others, key=others.get)
            ratio = f"{ours / others[fastest]:6.2f}"
            reference = f"{others[fastest] * 1e3:11.2f}"
        else:
            fastest, ratio, reference = "-", "     -", f"{'-':>11}"
        lines.append(f"{rule:<18}{n:>5}{d:>8}{ours * 1e3:11.2f}{reference}  {ratio}  {fastest}")
    plugins = request.config.pluginmanager
    with plugins.get_plugin("capturemanager").global_and_fixture_disabled():
        for line in lines:
            plugins.get_plugin("terminalreporter").write_line(line)
    if os.environ.get(DOC_VARIABLE):
        _write_doc(Path(os.environ[DOC_VARIABLE]), lines[2:])


def _write_doc(path: Path, rows: list[str]) -> None:
    """Replace the text between the speed markers of ``path`` by the table."""
    text = path.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{path}: no {START} ... {END} markers to write the speed table between")
    table = ["```", *rows, "```", f"Machine: {platform.machine()}, torch threads: 1."]
    head, rest = text.split(START, 1)
    path.write_text(head + START + "\n" + "\n".join(table) + "\n" + END + rest.split(END, 1)[1])


def _cases() -> list[tuple[str, str]]:
    """(rule, implementation) for every implementation that has the rule."""
    x, weights = _inputs(12, 3)
    return [
        (rule, implementation)
        for rule in RULES
        for implementation in ["fedarena", *_references(rule, x, weights, 2)]
    ]


@pytest.mark.parametrize("n, d", SIZES, ids=[f"n{n}-d{d}" for n, d in SIZES])
@pytest.mark.parametrize("rule, implementation", _cases())
def test_speed(benchmark, rule, implementation, n, d):
    x, weights = _inputs(n, d)
    f = n // 5
    if implementation == "fedarena":
        call = _ours(rule, x, weights, f)
    else:
        call = _references(rule, x, weights, f)[implementation]
    setup = _copy_argument(rule, implementation, x)
    start = time.perf_counter()
    call(*setup()[0]) if setup else call()
    once = time.perf_counter() - start
    rounds = max(1, min(20, int(2.0 / max(once, 1e-6))))
    benchmark.group = f"{rule} n={n} d={d}"
    if setup:
        benchmark.pedantic(call, setup=setup, rounds=rounds)
    else:
        benchmark.pedantic(call, rounds=rounds, warmup_rounds=1 if once < 0.5 else 0)
    if benchmark.stats is not None:
        BEST[(rule, n, d)][implementation] = benchmark.stats.stats.min
