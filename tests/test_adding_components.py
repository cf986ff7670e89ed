"""Adding a defense, attack, strategy or compressor is one new file: the registry finds it, its
contract tests and its docstring examples run, ``fedarena list`` shows it and a scenario runs
it, with nothing else edited.

The new files go into temporary folders added to the component packages' search path (as if
they had been dropped into ``src/fedarena/<kind>/``), in a fresh process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

NEW_FILES = {
    "defenses": (
        "halfway_mean",
        '''
"""A new defense, as a contributor would write it."""

from torch import Tensor

from fedarena.defenses.base import DEFENSES, Aggregate, Aggregator, RoundContext


@DEFENSES.register("halfway_mean")
class HalfwayMean(Aggregator):
    """Half the weighted mean: g = 1/2 sum_i w_i x_i / sum_i w_i.

    >>> import torch
    >>> x = torch.tensor([[2.0], [4.0]])
    >>> HalfwayMean().aggregate(x, torch.ones(2), RoundContext.for_updates(x)).update
    tensor([1.5000])
    """

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        return Aggregate(update=0.5 * (weights / weights.sum()) @ updates)
''',
    ),
    "attacks": (
        "opposite",
        '''
"""A new attack."""

from fedarena.attacks.base import ATTACKS, Attack, send


@ATTACKS.register("opposite")
class Opposite(Attack):
    """Malicious clients send the opposite of their honest update."""

    acts_on = frozenset({"update"})
    knowledge = "own"
    goal = "untargeted"

    def craft(self, updates, malicious, ctx):
        return send(updates, malicious, -updates[malicious])
''',
    ),
    "strategies": (
        "half_step",
        '''
"""A new strategy."""

from fedarena.strategies.base import STRATEGIES
from fedarena.strategies.fedavg import FedAvg


@STRATEGIES.register("half_step")
class HalfStep(FedAvg):
    """FedAvg with server learning rate 1/2."""

    def __init__(self) -> None:
        super().__init__(server_lr=0.5)
''',
    ),
    "compression": (
        "half_precision",
        '''
"""A new compressor."""

import torch

from fedarena.compression.base import COMPRESSORS, encodable


@COMPRESSORS.register("half_precision")
class HalfPrecision:
    """Send float16: 2 d bytes per client."""

    def roundtrip(self, sent, client_ids):
        out, sizes = [], []
        for message in sent:
            vector = encodable(message)
            if vector is None:
                out.append(message)
                sizes.append(0)
            else:
                out.append(vector.half().float())
                sizes.append(2 * vector.numel())
        return out, sizes
''',
    ),
}
CONTRACTS = [
    "tests/test_docstring_examples.py",
    "tests/defenses/test_contract.py",
    "tests/attacks/test_attacks_run.py",
    "tests/strategies/test_strategy_contract.py",
    "tests/compression/test_compression_contract.py",
]
PLUGIN = """
from pathlib import Path

import fedarena.attacks, fedarena.compression, fedarena.defenses, fedarena.strategies

TREE = Path(__file__).parents[1] / "tree" / "fedarena"
for package in (fedarena.attacks, fedarena.compression, fedarena.defenses, fedarena.strategies):
    package.__path__.append(str(TREE / package.__name__.rpartition(".")[2]))
"""


@pytest.fixture(scope="module")
def extended(tmp_path_factory) -> dict[str, str]:
    """A folder with one new module per kind and a module that puts them on the search path;
    the environment of a process that sees them."""
    folder = tmp_path_factory.mktemp("extension")
    tree = folder / "tree" / "fedarena"  # not on the path: `import fedarena` finds the real one
    for kind, (name, code) in NEW_FILES.items():
        (tree / kind).mkdir(parents=True)
        (tree / kind / f"{name}.py").write_text(code)
    (folder / "plugin").mkdir()
    (folder / "plugin" / "extend_fedarena.py").write_text(PLUGIN)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder / "plugin"), *sys.path]))
    return env | {"EXTENSION": str(tree)}


def _pytest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "extend_fedarena",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    return subprocess.run(
        [*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_contract_tests_and_doctests_pick_up_one_new_file_per_kind(extended):
    names = " or ".join(name for name, _ in NEW_FILES.values())
    run = _pytest(extended, "-rA", *CONTRACTS, "-k", names)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    passed = [line for line in run.stdout.splitlines() if "PASSED" in line]
    for name, _ in NEW_FILES.values():
        assert any(f"[{name}" in line for line in passed), f"no contract test ran for {name}"
    assert any("docstring_examples_run[fedarena.defenses.halfway_mean]" in line for line in passed)


def test_a_new_rule_that_breaks_its_declared_properties_fails_its_contract(extended, tmp_path):
    liar = Path(extended["EXTENSION"]) / "defenses" / "claims_robustness.py"
    liar.write_text(
        NEW_FILES["defenses"][1]
        .replace("halfway_mean", "claims_robustness")
        .replace("HalfwayMean", "ClaimsRobustness")
        .replace(
            "    def combine", "    bounded_against = frozenset({'scattered'})\n\n    def combine"
        )
    )
    try:
        run = _pytest(extended, "tests/defenses/test_contract.py", "-k", "claims_robustness")
    finally:
        liar.unlink()
    assert run.returncode == 1
    assert "test_f_outliers_of_norm_1e6_cannot_drag_the_output_away[claims_robustness" in run.stdout


def test_the_cli_lists_and_runs_the_new_components(extended):
    code = (
        "import sys, extend_fedarena; from fedarena.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    listing = subprocess.run(
        [sys.executable, "-c", code, "list", "--json"],
        env=extended,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = {(c["kind"], c["name"]) for c in json.loads(listing.stdout)}
    kinds = {"defenses": "defense", "attacks": "attack", "strategies": "strategy"}
    kinds["compression"] = "compression"
    assert {(kinds[k], name) for k, (name, _) in NEW_FILES.items()} <= found
    run = [
        *("run", "--rounds", "2", "--shoppers", "60", "--clients-per-round", "10"),
        *("--items", "300", "--dim", "8", "--local-epochs", "1", "--no-baselines", "--quiet"),
        *("--defense", "halfway_mean", "--attack", "opposite", "--malicious-fraction", "0.2"),
        *("--strategy", "half_step", "--compression", "half_precision"),
    ]
    done = subprocess.run(
        [sys.executable, "-c", code, *run],
        env=extended,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
