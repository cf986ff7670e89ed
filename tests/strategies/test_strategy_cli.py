"""`fedarena run --strategy ... --strategy-opt ...`: runs, and one-line errors (exit 2)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from fedarena.cli import main
from tiny import TINY, flags

SMALL = [*flags(replace(TINY, local_epochs=3)), "--quiet"]


@pytest.mark.parametrize(
    "flags, spec",
    [
        (["--strategy", "fedprox", "--strategy-opt", "mu=0.1"], "fedprox(mu=0.1)"),
        (
            ["--strategy", "fedavg_plus", "--strategy-opt", "server_opt=yogi"],
            "fedavg_plus(server_opt='yogi')",
        ),
        (
            ["--strategy", "fedavg_plus(server_opt=momentum)", "--strategy-opt", "beta1=0.5"],
            "fedavg_plus(beta1=0.5, server_opt='momentum')",
        ),
    ],
)
def test_runs_with_a_strategy_and_records_its_spec(tmp_path, flags, spec):
    out = tmp_path / "r.json"
    assert main(["run", *SMALL, *flags, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["spec"]["strategy"] == spec
    assert not any(r["skipped_step"] for r in result["rounds"])
    assert 0 < result["final"]["ndcg@10"] <= 1


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--strategy", "fedsgd"],
            "unknown strategy 'fedsgd'; known: fedavg, fedavg_plus, fedprox",
        ),
        (
            ["--strategy", "fedavg_plus", "--strategy-opt", "lr=0.1"],
            "strategy 'fedavg_plus' takes no option lr; "
            "its options: server_opt, server_lr, beta1, beta2, tau",
        ),
        (
            ["--strategy", "fedavg_plus", "--strategy-opt", "server_opt=rmsprop"],
            "server_opt must be one of adam, yogi, adagrad, momentum, got 'rmsprop'",
        ),
        (
            ["--strategy", "fedavg_plus(server_opt=momentum)", "--strategy-opt", "tau=0.1"],
            "tau is not used by server_opt=momentum, which takes server_lr, beta1",
        ),
        (["--strategy", "fedprox", "--strategy-opt", "mu=-1"], "mu must be >= 0, got -1"),
    ],
)
def test_bad_strategy_is_one_line_and_exit_2(flags, message, capsys):
    assert main(["run", *SMALL, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
