"""Reusing freed memory changes where allocations come from, never what a run computes."""

from __future__ import annotations

import json
import subprocess
import sys

# Rounds of 60 clients x 20,000 items x 17 columns: 80 MB update matrices, above glibc's
# mmap threshold, so with reuse on (glibc must take it: the assert) the second run computes
# in the first one's freed pages.
RUN = """
import json, sys, torch
from fedarena.allocator import reuse_freed_memory
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario
torch.set_num_threads(1)
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
spec = Scenario(rounds=2, shoppers=80, clients_per_round=60, items=20000, dim=16,
                eval_every=1, baselines=False, attack="sign_flip", defense="median")
runs = [run_scenario(spec, compare_clean=False) for _ in range(2)]
print(json.dumps([[{k: v for k, v in r.items() if k != "seconds"} for r in run["rounds"]]
                  for run in runs]))
"""


def _rounds(mode: str) -> list:
    done = subprocess.run(
        [sys.executable, "-c", RUN, mode], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_runs_give_the_same_bits_with_freed_memory_reused():
    plain, reused = _rounds("plain"), _rounds("reuse")
    assert plain[0] == plain[1] == reused[0] == reused[1]
    assert "ndcg@10" in plain[0][-1]
