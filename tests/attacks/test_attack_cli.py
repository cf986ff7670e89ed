"""The CLI's attack flags: unknown names, fractions and options are one-line errors."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from fedarena.attacks import ATTACKS
from fedarena.cli import main
from tiny import TINY, flags

SMALL = [*flags(replace(TINY, local_epochs=3)), "--quiet"]


def _error(capsys, *args) -> str:
    assert main(["run", *SMALL, *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_unknown_attack_lists_the_known_ones(capsys):
    err = _error(capsys, "--attack", "backdoor")
    assert "unknown attack 'backdoor'; known: " in err
    for name in ATTACKS.names():
        assert name in err


@pytest.mark.parametrize("fraction", ["-0.1", "0.5", "0.9"])
def test_malicious_fraction_outside_0_half_is_refused(capsys, fraction):
    err = _error(capsys, "--attack", "label_flip", "--malicious-fraction", fraction)
    assert "malicious_fraction must be in [0, 0.5)" in err


def test_option_the_attack_does_not_take(capsys):
    err = _error(capsys, "--attack", "label_flip", "--attack-opt", "gamma=3")
    assert "attack 'label_flip' takes no option gamma; its options: ratio" in err


def test_bad_option_value(capsys):
    err = _error(capsys, "--attack", "model_replacement", "--attack-opt", "gamma=-1")
    assert "gamma must be 'auto' or a number > 0" in err


def test_attack_options_reach_the_attack(tmp_path):
    out = tmp_path / "run.json"
    args = ["--attack", "model_replacement", "--malicious-fraction", "0.2"]
    args += ["--attack-opt", "targets=[5, 9]", "--attack-opt", "gamma=3", "--out", str(out)]
    assert main(["run", *SMALL, *args]) == 0
    result = json.loads(out.read_text())
    assert result["attack"]["target_items"] == [5, 9]
    assert result["spec"]["attack"] == "model_replacement(gamma=3, targets=[5, 9])"
    assert 0.0 <= result["final"]["er@10"] <= 1.0
