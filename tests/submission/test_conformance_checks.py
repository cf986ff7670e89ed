"""The conformance checks: every built-in defense passes them, and each defect in
``defects.py`` fails the check it breaks with a sentence that says what is wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from fedarena.defenses import DEFENSES
from fedarena.submission.checks import CHECKS, Round, run_check

DEFECTS = Path(__file__).with_name("defects.py")
BUILT_IN = [name for name, origin in DEFENSES.origins().items() if origin.startswith("fedarena.")]
CHAINS = ["norm_clip(max_norm=1.0) > krum", "bucketing(s=2) > trimmed_mean", "nnm > median"]


def failures(spec: str, budget_s: float = 1.0) -> dict[str, str]:
    verdicts = {name: run_check(name, spec, budget_s) for name in CHECKS}
    return {name: v.detail for name, v in verdicts.items() if not v.passed}


@pytest.mark.parametrize("spec", BUILT_IN + CHAINS)
def test_every_built_in_defense_and_chain_conforms(spec):
    assert failures(spec) == {}


@pytest.mark.parametrize("name", ["Conforming", "RandomSubset", "NeedsOption(scale=2.0)"])
def test_conforming_plugins_pass_every_check(name):
    assert failures(f"{DEFECTS}:{name}") == {}


@pytest.mark.parametrize(
    "name, check, message",
    [
        ("NoAggregate", "interface", "NoAggregate has no method aggregate(updates, weights, ctx)"),
        ("ReturnsTensor", "interface", "aggregate returned Tensor, expected fedarena.defenses"),
        ("Float64", "output shape and dtype", "dtype torch.float64 for n=20, d=1000; expected"),
        ("DropsLastCoordinate", "output shape and dtype", "has shape (999,) and dtype"),
        ("GlobalNoise", "determinism", "draw randomness only from ctx.generator"),
        ("TrustsTheFirst", "permutation invariance", "reordering the clients changed the agg"),
        ("RandomFirstHalf", "permutation invariance", "mean aggregate over 32 generator seeds"),
        ("PlainMean", "NaN input handled", "the aggregate holds NaN or Inf; reject and flag"),
        ("AcceptsAll", "NaN input handled", "accepted a client whose update holds NaN or Inf"),
        ("SlowOnLargeRounds", "runtime", "per call at n=100, d=100000 (one thread), over the"),
    ],
)
def test_each_defect_fails_the_check_it_breaks_in_one_line(name, check, message):
    found = failures(f"{DEFECTS}:{name}", budget_s=0.2)
    assert check in found and message in found[check]
    assert all("\n" not in detail for detail in found.values())


def test_a_spec_that_cannot_be_built_fails_the_interface_with_the_registry_error():
    found = failures(f"{DEFECTS}:NeedsOption(scale=-1)")
    assert found["interface"] == (
        f"cannot build it for n=20, f=4: defense '{DEFECTS}:NeedsOption': scale must be > 0, got -1"
    )


def test_the_interface_check_hashes_the_source_file():
    verdict = run_check("interface", f"{DEFECTS}:Conforming", 1.0)
    assert verdict.passed and verdict.detail == "Conforming"
    (path, digest), *others = verdict.sources.items()
    assert not others and Path(path).resolve() == DEFECTS.resolve()
    assert digest == hashlib.sha256(DEFECTS.read_bytes()).hexdigest()


def test_permuted_round_moves_ids_and_weights_with_the_updates():
    inputs = Round.synthetic(6, 4)
    order = torch.tensor([5, 3, 1, 0, 2, 4])
    shuffled = inputs.permuted(order)
    for new, old in enumerate(order.tolist()):
        assert torch.equal(shuffled.updates[new], inputs.updates[old])
        assert shuffled.weights[new] == inputs.weights[old]
        assert shuffled.ctx.client_ids[new] == inputs.ctx.client_ids[old]
