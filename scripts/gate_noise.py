"""How far float-level differences move the smoke matrix's metrics, against the gate's bands.

Cross-machine differences (another CPU, BLAS build or library version) change
the last bits of some operations and, through training, the final metrics.
This script imitates them: it reruns every cell of the baseline's matrix with
the initial global model multiplied by (1 + r e), e ~ N(0, 1) per coordinate,
at r = 2^-23 (about one float32 ulp) and at r = 1e-3 (far more than any
rounding difference), and compares each final metric with the baseline's
value (this machine's unperturbed run): the largest difference at each r, the
pooled seed-to-seed deviation S(m), the smallest and the median band, and
how many cells would fall outside their band. Written to the marked block of
``docs/ci.md``.

    .venv/bin/python scripts/gate_noise.py --doc docs/ci.md    # about a minute on 2 cores
"""

from __future__ import annotations

import argparse
import json
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCALES = {"one ulp": 2.0**-23, "1e-3": 1e-3}
BLOCK = re.compile(r"(<!-- gate-noise:start -->\n).*?(<!-- gate-noise:end -->)", re.DOTALL)


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def perturbed_final(spec: dict[str, Any], scale: float) -> dict[str, Any]:
    """The cell's final metrics with its initial model multiplied by 1 + scale * N(0, 1)."""
    import torch

    from fedarena.scenario.result import Clock, run_document
    from fedarena.scenario.spec import Scenario
    from fedarena.scenario.world import build_world

    scenario = Scenario.from_dict(spec)
    world = build_world(scenario)
    noise = torch.randn(world.init_params.shape, generator=torch.Generator().manual_seed(7))
    world.init_params.mul_(1 + scale * noise)
    federation = world.federation(users=world.init_users.clone())
    start = time.perf_counter()
    federation.run(scenario.rounds, scenario.eval_every)
    end = time.perf_counter()
    return run_document(world, federation, Clock(start, start, end))["final"]


def measure(baseline: dict[str, Any], workers: int) -> list[list[str]]:
    cells = [
        ({**family["spec"], "seed": int(seed)}, cell["metrics"], family["band"])
        for family in baseline["families"]
        for seed, cell in family["cells"].items()
    ]
    specs = [spec for spec, _, _ in cells]
    finals = {}
    with ProcessPoolExecutor(workers, initializer=_init_worker) as pool:
        for name, scale in SCALES.items():
            finals[name] = list(pool.map(perturbed_final, specs, [scale] * len(specs)))
    rows = []
    for metric in baseline["metrics"]:
        bands = [band[metric] for _, before, band in cells if metric in before]
        if not bands:
            continue
        largest, outside = [], []
        for name in SCALES:
            differences = [
                abs(float(final[metric]) - before[metric])
                for (_, before, _), final in zip(cells, finals[name], strict=True)
                if metric in before and final.get(metric) is not None
            ]
            largest.append(f"{max(differences):.2g}")
            outside.append(
                sum(
                    abs(float(final[metric]) - before[metric]) > band[metric]
                    for (_, before, band), final in zip(cells, finals[name], strict=True)
                    if metric in before and final.get(metric) is not None
                )
            )
        rows.append(
            [
                metric,
                str(len(bands)),
                *largest,
                f"{baseline['pooled_spread'][metric]:.2g}",
                f"{min(bands):.2g}",
                f"{float(np.median(bands)):.2g}",
                " / ".join(map(str, outside)),
            ]
        )
    return rows


def as_markdown(rows: list[list[str]], baseline: Path) -> str:
    header = [
        "metric",
        "cells",
        *(f"largest difference, {name}" for name in SCALES),
        "pooled seed spread S(m)",
        "smallest band",
        "median band",
        f"cells outside their band ({' / '.join(SCALES)})",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += [
        "",
        f"Every cell of `{baseline}` rerun with its initial model multiplied by 1 + r N(0, 1), "
        "r = one float32 ulp (2^-23) and r = 1e-3; "
        "`python scripts/gate_noise.py --doc docs/ci.md` regenerates this table.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=Path("leaderboard/baseline.json"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--doc", type=Path, help="rewrite the table between the markers here")
    args = parser.parse_args()
    baseline = json.loads(args.baseline.read_text())
    table = as_markdown(measure(baseline, args.workers), args.baseline)
    print(table)
    if args.doc:
        text = args.doc.read_text()
        if not BLOCK.search(text):
            raise SystemExit(f"{args.doc}: no <!-- gate-noise:start/end --> block to rewrite")
        args.doc.write_text(BLOCK.sub(lambda m: m[1] + table + "\n" + m[2], text))


if __name__ == "__main__":
    main()
