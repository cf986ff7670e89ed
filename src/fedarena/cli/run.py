"""``fedarena run``: one scenario, its metrics on screen and optionally its result document.

Its flags are generated from the fields of ``fedarena.scenario.spec.Scenario``
(name, type, default, help and choices from the field's metadata): each field
``some_field`` is ``--some-field``, a boolean one ``--some-field`` /
``--no-some-field``, and each component field also takes ``--<field>-opt
KEY=VALUE`` options (a defense chain's go to its last link). They are added
only when ``run`` parses (``LazyParser``): knowing them imports torch.

``--config FILE`` takes a scenario file of single values as the defaults that
flags override; ``--seed`` takes several seeds, each run in turn, with a table
of every seed and their mean ± sd at the end.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedarena.cli.common import (
    RunProgress,
    add_monitoring_flags,
    check_writable,
    start_watch,
)
from fedarena.errors import FedarenaError
from fedarena.registry import parse_option

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from fedarena.scenario.spec import Scenario

_TYPES = {"int": int, "float": float, "str": str, "str | int": str}
# What a new user reads beside each number the attack, the defense and the cost are about.
HEADLINES = {
    "er@5": "benign shoppers with a target item in their top 5",
    "er@10": "benign shoppers with a target item in their top 10 (attack success)",
    "er@20": "benign shoppers with a target item in their top 20",
    "target_rank": "mean rank of the target items among all items (0 = top)",
    "ndcg@10_drop": "NDCG@10 lost to the attack (clean run - attacked run)",
    "hr@10_drop": "HR@10 lost to the attack",
    "auc_drop": "AUC lost to the attack",
    "detection_precision": "flagged clients that were malicious",
    "detection_recall": "sampled malicious clients that were flagged",
    "detection_auc": "AUC of the defense's suspicion score (malicious above benign)",
    "epsilon_shopper": "privacy spent per shopper, at delta",
    "epsilon_example": "privacy spent per purchase, at delta",
    "delta": "the delta of both epsilons",
    "requirement_unmet_rounds": "rounds skipped: too few updates for the rule's f",
    "bytes_per_client_per_round": "bytes a client sends per round",
}


def add_scenario_flags(parser: argparse.ArgumentParser, words: Sequence[str] = ()) -> None:
    """One flag per Scenario field (see the module docstring); ``--seed`` takes several."""
    from fedarena.scenario.spec import COMPONENT_FIELDS, Scenario, range_text

    for f in fields(Scenario):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        meta = f.metadata
        if str(f.type) == "bool":
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=meta["help"]
            )
            continue
        choices = meta["choices"]() if "choices" in meta else None
        if f.name in COMPONENT_FIELDS:
            parser.add_argument(flag, default=str(default), metavar="SPEC", help=meta["help"])
            parser.add_argument(
                f"{flag}-opt",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help=f"{f.name} option (repeatable)"
                + ("; set on the chain's last link" if f.name == "defense" else ""),
            )
            continue
        several = {"nargs": "+", "metavar": "SEED"} if f.name == "seed" else {}
        more = "; several seeds: one run each, then their mean ± sd" if several else ""
        parser.add_argument(
            flag,
            type=_TYPES[str(f.type)],
            default=default,
            choices=choices,
            help=meta["help"] + range_text(f.name) + more,
            **several,
        )


def config_defaults(parser: argparse.ArgumentParser, words: Sequence[str]) -> None:
    """Make the values of ``--config FILE``, if the words give one, the parser's defaults."""
    finder = argparse.ArgumentParser(prog=parser.prog, add_help=False)
    finder.add_argument("--config", type=Path, metavar="FILE")
    path = finder.parse_known_args(list(words))[0].config
    if path is not None:
        parser.set_defaults(**config_values(path))


def config_values(path: Path) -> dict[str, Any]:
    """The scenario fields a ``--config`` file sets, validated as a scenario file is; a file
    that describes several cells (a list, grids, tuning) belongs to ``fedarena matrix``."""
    from fedarena.matrix.file import load_matrix

    matrix = load_matrix(path)
    elsewhere = f"give one value, or run the file with fedarena matrix --scenario {path}"
    if len(matrix.grids) > 1:
        raise FedarenaError(f"--config {path}: [[grid]] tables describe several cells; {elsewhere}")
    grid = matrix.grids[0]
    if grid.tune:
        raise FedarenaError(f"--config {path}: tune = true sweeps several cells; {elsewhere}")
    for key, values in grid.axes.items():
        if len(values) > 1:
            raise FedarenaError(
                f"--config {path}: {key} lists {len(values)} values (several cells); {elsewhere}"
            )
    return {key: values[0] for key, values in grid.axes.items()}


def scenarios_from_args(args: argparse.Namespace) -> list[Scenario]:
    """The Scenario the flags describe, once per seed, ``--<field>-opt`` options merged into
    their specs; a seed given twice is refused."""
    from fedarena.components import parse_spec
    from fedarena.scenario.spec import COMPONENT_FIELDS, Scenario

    seeds = args.seed if isinstance(args.seed, list) else [args.seed]
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise FedarenaError(f"--seed: seed {twice[0]} is given twice")
    values: dict[str, Any] = {f.name: getattr(args, f.name) for f in fields(Scenario)}
    for name in COMPONENT_FIELDS:
        options = dict(parse_option(o) for o in getattr(args, f"{name}_opt"))
        if options:
            values[name] = parse_spec(name, values[name]).with_options(**options)
    scenario = Scenario(**(values | {"seed": seeds[0]}))
    return [replace(scenario, seed=seed) for seed in seeds]


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "run",
        help="run one scenario and print its metrics",
        description="Train a federated recommender on simulated shoppers and report metrics.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.defer(add_scenario_flags)
    parser.defer(add_run_flags)
    parser.defer(config_defaults)
    return parser


def add_run_flags(parser: argparse.ArgumentParser, words: Sequence[str] = ()) -> None:
    """The flags of ``run`` beyond the scenario's: its config file, output and monitoring."""
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="a scenario file of single values (TOML, as for fedarena matrix): its values are "
        "the defaults, flags override them",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="write the JSON result here; with several seeds one file per seed, "
        "r.json -> r.seed0.json, r.seed1.json, ...",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress, no table")
    add_monitoring_flags(parser)


def out_paths(out: Path | None, seeds: list[int]) -> list[Path | None]:
    """Where each seed's result goes: ``out`` itself for one seed, ``<stem>.seed<N><suffix>``
    beside it for several."""
    if out is None or len(seeds) == 1:
        return [out] * len(seeds)
    return [out.with_name(f"{out.stem}.seed{seed}{out.suffix}") for seed in seeds]


def save_result(path: Path, result: dict[str, Any]) -> None:
    """Write the result; if that fails, keep it in a temporary file and say where."""
    from fedarena.io import json_text, write_json_atomic

    try:
        write_json_atomic(path, result, allow_nan=True)
    except OSError as err:
        fd, fallback = tempfile.mkstemp(prefix="fedarena-run-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            handle.write(json_text(result, allow_nan=True))
        raise FedarenaError(
            f"--out: cannot write {path} ({err.strerror}); the result is saved in {fallback}"
        ) from None


def results_table(result: dict[str, Any]) -> Table:
    from rich.table import Table

    from fedarena.metrics import METRIC_KEYS

    table = Table(title="Final metrics (benign shoppers, held-out purchases vs 99 negatives)")
    table.add_column("model")
    for key in METRIC_KEYS:
        table.add_column(key, justify="right")
    rows = {"federated": result["final"], **result["baselines"]}
    for name, metrics in rows.items():
        table.add_row(name, *(f"{metrics[k]:.4f}" for k in METRIC_KEYS))
    return table


def headline_keys(result: dict[str, Any]) -> list[str]:
    """The keys of ``result["final"]`` that this scenario is about: attack success (ER@5, 10, 20 and
    target rank if targeted, the utility drops if untargeted), detection where attacked,
    privacy for DP, skipped rounds if any, and the bytes a client sends."""
    from fedarena.metrics import EXPOSURE_KEYS  # imports torch, which --help must not

    final, goal = result["final"], result["attack"]["goal"]
    attacked = goal != "none" and result["population"]["malicious"] > 0
    keys = list(EXPOSURE_KEYS) if goal == "targeted" else []
    keys += [k for k in ("ndcg@10_drop", "hr@10_drop", "auc_drop") if k in final]
    if attacked:
        keys += ["detection_precision", "detection_recall", "detection_auc"]
    keys += [k for k in ("epsilon_shopper", "epsilon_example", "delta") if k in final]
    if final.get("requirement_unmet_rounds"):
        keys.append("requirement_unmet_rounds")
    return [*keys, "bytes_per_client_per_round"]


def shown(key: str, value: float | None) -> str:
    """A metric as the tables show it (``-``: undefined, see docs/results.md)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if key in ("bytes_per_client_per_round", "requirement_unmet_rounds"):
        return f"{value:,.0f}"
    if key == "target_rank":
        return f"{value:.1f}"
    if key.startswith(("epsilon", "delta")):
        return f"{value:.3g}"
    return f"{value:.4f}"


def headline_table(result: dict[str, Any]) -> Table:
    """What the attack, the defense and the communication did, each with what it means."""
    from rich.table import Table

    spec = result["spec"]
    table = Table(title=f"attack {spec['attack']}, defense {spec['defense']}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("meaning")
    for key in headline_keys(result):
        table.add_row(key, shown(key, result["final"].get(key)), HEADLINES[key])
    return table


def _mean_sd(values: list[float | None]) -> tuple[float, float] | None:
    known = [v for v in values if v is not None and not math.isnan(v)]
    if not known:
        return None
    return statistics.mean(known), statistics.stdev(known) if len(known) > 1 else 0.0


def seeds_table(results: list[dict[str, Any]]) -> Table:
    """One row per metric, one column per seed and a last column of the mean ± sd (sample
    sd) over the seeds."""
    from rich.table import Table

    from fedarena.metrics import METRIC_KEYS

    table = Table(title=f"{len(results)} seeds: the federated model, mean ± sd over the seeds")
    table.add_column("metric")
    for result in results:
        table.add_column(f"seed {result['spec']['seed']}", justify="right")
    table.add_column("mean ± sd", justify="right", style="bold")
    for key in [*METRIC_KEYS, *headline_keys(results[0])]:
        values = [r["final"].get(key) for r in results]
        found = _mean_sd(values)
        summary = "-" if found is None else f"{shown(key, found[0])} ± {shown(key, found[1])}"
        table.add_row(key, *(shown(key, v) for v in values), summary)
    return table


def timing_line(results: list[dict[str, Any]], wall_s: float, written: list[Path]) -> str:
    """The command's whole wall time, and where one run's time went (the last seed's)."""
    t = results[-1]["timings"]
    parts = [
        f"set-up {t['setup_s']:.1f} s",
        f"federated {t['federated_s']:.1f} s = {t['per_round_s'] * 1000:.0f} ms/round",
        f"baselines {t['baselines_s']:.1f} s",
    ]
    if t.get("accounting_s", 0.0) >= 0.05:
        parts.append(f"privacy accounting {t['accounting_s']:.1f} s")
    if "clean_s" in t:
        parts.append(f"clean comparison run {t['clean_s']:.1f} s")
    seeds = f" for {len(results)} seeds; the last: " if len(results) > 1 else " ("
    line = f"wall {wall_s:.1f} s{seeds}{', '.join(parts)}" + (")" if len(results) == 1 else "")
    if written:
        line += f"; result written to {', '.join(str(p) for p in written)}"
    return line


def main(args: argparse.Namespace, console: Console) -> int:
    from fedarena.allocator import reuse_freed_memory
    from fedarena.scenario.run import run_scenario

    reuse_freed_memory()  # the process is fedarena's: its rounds reuse each other's pages

    started = getattr(args, "started", time.perf_counter())
    scenarios = scenarios_from_args(args)
    outs = out_paths(args.out, [s.seed for s in scenarios])
    for path in outs:
        if path is not None:
            check_writable(path)
    watch = start_watch(args, console)
    results = []
    try:
        for number, (scenario, out) in enumerate(zip(scenarios, outs, strict=True), start=1):
            if len(scenarios) > 1 and not args.quiet:
                console.print(f"seed {scenario.seed} ({number} of {len(scenarios)})", style="bold")
            progress = RunProgress(console, args.quiet, scenario.rounds)
            try:
                result = run_scenario(
                    scenario,
                    progress.on_round,
                    observer=watch.round_observer(),
                    on_phase=progress.on_phase,
                    on_clean_round=progress.on_round,
                )
            finally:
                progress.stop()
            if out is not None:
                save_result(out, result)
            results.append(result)
    finally:
        watch.close()
    if not args.quiet:
        if len(results) == 1:
            console.print(results_table(results[0]))
            console.print(headline_table(results[0]))
        else:
            console.print(seeds_table(results))
        written = [p for p in outs if p is not None]
        console.print(
            timing_line(results, time.perf_counter() - started, written),
            highlight=False,
            soft_wrap=True,
        )
    return 0
