"""How a round and the set-up grow with the catalog and the shoppers (issue 18's scaling bounds).

    .venv/bin/python benchmarks/scaling.py            # every case, a few minutes
    .venv/bin/python benchmarks/scaling.py --quick    # without the 100,000-shopper case

Each case is the default scenario (FedAvg, no attack, 50 clients per round, one
torch thread) with one size changed, run in a fresh process so that its peak
resident memory is its own: the catalog at 2,000, 50,000 and 200,000 items,
then 10,000 and 100,000 shoppers. It prints the set-up (catalog, shoppers,
components, initial model), the seconds per round (median of 3 rounds after a
warm-up round; evaluation not included), one evaluation and the peak RSS.
The bounds of issue 18 are printed beside them: a round at 200,000 items
within 2x of one at 2,000, and 100,000 shoppers in at most 4 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "2,000 items": {"items": 2000},
    "50,000 items": {"items": 50000},
    "200,000 items": {"items": 200000},
    "10,000 shoppers": {"shoppers": 10000},
    "100,000 shoppers": {"shoppers": 100000},
}
RSS_BOUND_GB = 4.0
CATALOG_BOUND = 2.0

CHILD = """
import json, resource, statistics, sys, time
import torch
from fedarena.allocator import reuse_freed_memory
from fedarena.scenario.spec import Scenario
from fedarena.scenario.world import build_world
torch.set_num_threads(1)
reuse_freed_memory()  # as a matrix cell's worker does
start = time.perf_counter()
world = build_world(Scenario.from_dict({**json.loads(sys.argv[1]), "baselines": False}))
federation = world.federation(users=world.init_users.clone())
setup = time.perf_counter() - start
rounds = []
for t in range(4):
    begin = time.perf_counter()
    federation.step(t)
    rounds.append(time.perf_counter() - begin)
begin = time.perf_counter()
federation.evaluator(federation.global_params)
evaluation = time.perf_counter() - begin
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"setup": setup, "round": statistics.median(rounds[1:]),
                  "evaluation": evaluation, "peak_gb": peak / 1e9}))
"""


def measure(fields: dict[str, int]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(fields)],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PYTHONWARNINGS": "ignore"},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip 100,000 shoppers")
    args = parser.parse_args()
    results = {}
    print("| case | set-up | per round | evaluation | peak RSS |")
    print("|---|---|---|---|---|")
    for name, fields in CASES.items():
        if args.quick and fields.get("shoppers", 0) >= 100000:
            continue
        m = results[name] = measure(fields)
        print(
            f"| {name} | {m['setup']:.1f} s | {m['round'] * 1000:.0f} ms"
            f" | {m['evaluation'] * 1000:.0f} ms | {m['peak_gb']:.2f} GB |",
            flush=True,
        )
    small, large = results["2,000 items"]["round"], results["200,000 items"]["round"]
    print(
        f"\nround at 200,000 items / at 2,000 items: {large / small:.1f}x"
        f" (bound {CATALOG_BOUND:g}x)"
    )
    if "100,000 shoppers" in results:
        peak = results["100,000 shoppers"]["peak_gb"]
        print(f"100,000 shoppers: peak RSS {peak:.2f} GB (bound {RSS_BOUND_GB:g} GB)")


if __name__ == "__main__":
    main()
